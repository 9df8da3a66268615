"""Checked nodes → text: Unicode math (the default), ASCII in either input dialect.

One ``Printer`` walks the tree; each node type has a ``_print_<Type>`` method and
parenthesising is done once, by precedence (as SymPy's printers do).  The ASCII
printers emit text that matcalc parses back to an equal expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fractions import Fraction

from ..dims import Dim
from ..nodes import (
    Add,
    Apply,
    ArgExtremum,
    Broadcast,
    Commutation,
    Compare,
    Const,
    Det,
    Diag,
    DiagPart,
    Differential,
    DimValue,
    Expm,
    ExpmFrechet,
    Extremum,
    Identity,
    Inverse,
    Kron,
    LogDet,
    LogSumExp,
    Prod,
    MatMul,
    Mul,
    Node,
    Norm,
    Ones,
    Pi,
    Pow,
    Softmax,
    Sum,
    Trace,
    Transpose,
    Unvec,
    Var,
    Vec,
    Zero,
    walk,
)
from .fold import Statistic
from .fold import folded as _folded

# precedence: higher binds tighter
P_CMP, P_ADD, P_MUL, P_NEG, P_POW, P_POST, P_ATOM = 5, 10, 20, 15, 30, 40, 50

GREEK_LETTERS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν",
    "xi": "ξ", "omicron": "ο", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ",
    "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ",
    "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
#: letters and digits Unicode has as subscripts (for sizes: Iₙ, Kₘ,ₙ)
_SIZE_LETTERS = "0123456789aehijklmnoprstuvx"
_SIZE_SUB = str.maketrans(_SIZE_LETTERS, "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")
_NAME = re.compile(r"^([^\W\d_]+?)(\d*)(?:_(\w+))?$")


def decimal(v: Fraction) -> str | None:
    """A long fraction with a denominator of 2s and 5s as the decimal it was typed as:
    0.044715 rather than 8943/200000 (short ones stay fractions: 1/2, 3/100)."""
    d = v.denominator
    if d < 1000:
        return None
    twos = fives = 0
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    while d % 5 == 0:
        d, fives = d // 5, fives + 1
    if d != 1:
        return None
    places = max(twos, fives)
    digits = str(abs(v.numerator) * 10**places // v.denominator).rjust(places + 1, "0")
    text = f"{digits[:-places]}.{digits[-places:]}"
    return ("-" if v < 0 else "") + text


def _whole(v: Fraction) -> bool:
    """Printed as one number, with no fraction bar."""
    return v.denominator == 1 or decimal(v) is not None


def _is_pi_power(n: Node) -> bool:
    return isinstance(n, Pi) or (isinstance(n, Pow) and isinstance(n.base, Pi) and isinstance(n.exponent, Const))


class Out:
    """A printed piece: its text, its precedence, and whether it may be juxtaposed tightly."""

    __slots__ = ("text", "prec", "tight")

    def __init__(self, text: str, prec: int, tight: bool = False):
        self.text, self.prec, self.tight = text, prec, tight


class Printer:
    """Unicode math."""

    times = " ⊙ "
    kron = " ⊗ "
    transpose_mark = "ᵀ"
    minus = " − "
    neg = "−"

    def __init__(self, avoid: Iterable[str] = ()) -> None:
        self.memo: dict[Node, Out] = {}
        #: names of user variables: a built-in symbol (I, K) that one of them would
        #: shadow is written with its dimensions instead (I_n)
        self.taken: frozenset[str] = frozenset(avoid)

    def avoid(self, names: Iterable[str]) -> None:
        new = self.taken | frozenset(names)
        if new != self.taken:
            self.taken = new
            self.memo.clear()  # built-in symbols printed so far may now be ambiguous

    def doprint(self, n: Node) -> str:
        from ..deep import call_deep

        self.avoid(v.name for v in walk(n) if isinstance(v, Var))
        return call_deep(lambda: self.p(n).text)

    def p(self, n: Node) -> Out:
        o = self.memo.get(n)
        if o is None:
            shown = _folded(n)
            o = self.p(shown) if shown is not None else getattr(self, "_print_" + type(n).__name__)(n)
            self.memo[n] = o
        return o

    def _print_Statistic(self, n: Statistic) -> Out:
        """mean(x), var(x), std(x): the names of the sums the registry builds them from (see .fold)."""
        if n.axis is not None:
            return Out(f"{n.name}({self.p(n.arg).text}, {self.statistic_axis(n.axis)})", P_ATOM)
        return self.call(n.name, n.arg)

    def statistic_axis(self, axis: int) -> str:
        return f"axis={axis}"

    def wrap(self, n: Node | Out, prec: int) -> str:
        o = self.p(n) if isinstance(n, Node) else n
        return o.text if o.prec >= prec else f"({o.text})"

    def wrap_out(self, n: Node, prec: int) -> Out:
        o = self.p(n)
        if o.prec >= prec:
            return o
        return Out(f"({o.text})", P_ATOM, True)

    # ---------------------------------------------------------- leaves

    def name(self, name: str) -> str:
        m = _NAME.match(name)
        if not m:
            return name
        stem, digits, sub = m.groups()
        stem = GREEK_LETTERS.get(stem, stem)
        return stem + digits.translate(_SUB) + (f"_{sub}" if sub else "")

    def _print_Var(self, n: Var) -> Out:
        text = self.name(n.name)
        return Out(text, P_ATOM, tight=len(text.rstrip("₀₁₂₃₄₅₆₇₈₉")) == 1)

    def _print_Differential(self, n: Differential) -> Out:
        return Out("d" + self.p(n.var).text, P_ATOM, True)

    def number(self, v: Fraction) -> str:
        if v.denominator == 1:
            return str(v.numerator)
        return decimal(v) or f"{v.numerator}/{v.denominator}"

    def _print_Const(self, n: Const) -> Out:
        v = n.value
        text = self.number(abs(v))
        prec = P_ATOM if _whole(v) else P_MUL
        if v < 0:
            return Out(self.neg + text, P_NEG)
        return Out(text, prec, _whole(v))

    def _print_DimValue(self, n: DimValue) -> Out:
        return Out(str(n.dim).replace("·", ""), P_ATOM, True)

    def _print_Pi(self, n: Pi) -> Out:
        return Out("π", P_ATOM, True)

    def _print_Zero(self, n: Zero) -> Out:
        return Out("0", P_ATOM, True)

    def _print_Ones(self, n: Ones) -> Out:
        if n.shape.is_row:
            return Out("𝟙" + self.transpose_mark, P_POST, True)
        if n.shape.is_matrix:
            return Out("𝟙𝟙" + self.transpose_mark, P_POST, True)  # a matrix of ones
        return Out("𝟙", P_ATOM, True)

    def _print_Identity(self, n: Identity) -> Out:
        if "I" in self.taken:  # a variable is called I: the identity shows its size
            return Out("I" + self.size_index(n.n), P_ATOM, True)
        return Out("I", P_ATOM, True)

    def _print_Commutation(self, n: Commutation) -> Out:
        if "K" in self.taken:
            return Out("K" + self.size_index(n.r, n.c), P_ATOM, True)
        return Out("K", P_ATOM, True)

    def size_index(self, *dims: Dim) -> str:
        """A subscript naming sizes: ₙ, ₘ,ₙ when Unicode has the letters, else _(…)."""
        text = ",".join(str(d) for d in dims)
        if set(text) <= set(_SIZE_LETTERS + ","):
            return text.translate(_SIZE_SUB)
        return f"_({text})"

    # ---------------------------------------------------------- sums and products

    def _print_Add(self, n: Add) -> Out:
        pos, negs = [], []
        for t in n.terms:
            (negs if _is_negative(t) else pos).append(t)
        # Xᵀ after X: (A + Aᵀ)x rather than (Aᵀ + A)x
        pos.sort(key=lambda t: isinstance(t, Transpose) and t.arg in n.terms)
        parts: list[str] = []
        for t in pos + negs:
            if _is_negative(t):
                body = self.term(_negated(t), P_ADD + 1)
                parts.append((self.minus if parts else self.neg) + body)
            else:
                body = self.term(t, P_ADD)
                parts.append((" + " if parts else "") + body)
        return Out("".join(parts), P_ADD)

    def term(self, t: Node, prec: int) -> str:
        """A term of a sum; a broadcast constant prints as the number (1 − σ(x), not 𝟙 − σ(x))."""
        if isinstance(t, Ones):
            return "1"
        if isinstance(t, Broadcast) and isinstance(t.arg, Const):
            return self.wrap(t.arg, prec)
        return self.wrap(t, prec)

    def _print_Mul(self, n: Mul) -> Out:
        fs = list(n.factors)
        coef = Fraction(1)
        if isinstance(fs[0], Const):
            coef = fs.pop(0).value
        num = [f for f in fs if not _is_reciprocal(f)]
        den = [_reciprocal_base(f) for f in fs if _is_reciprocal(f)]
        sign = coef < 0
        coef = abs(coef)
        # ½ x → x/2 reads better than (1/2) x; a long decimal stays one number in front
        split = not _whole(coef)
        numc, denc = (coef.numerator, coef.denominator) if split else (coef, 1)
        text = self.product_text(num, numc)
        if den or split:
            dtext = self.product_text(den, denc)
            if split and not den and coef.numerator == 1 and num:
                text = self.product_text(num, Fraction(1))
            text = f"{text}/{self.group(dtext, den, denc)}"
            out = Out(text, P_MUL)
        else:
            out = Out(text, P_MUL)
        if sign:
            return Out(self.neg + self.wrap(out, P_MUL), P_NEG)
        return out

    def group(self, text: str, factors: list[Node], coef: int) -> str:
        """The denominator of a fraction, parenthesised unless it is one tight piece."""
        if not factors:
            return text
        if len(factors) == 1 and coef == 1:
            return self.wrap(factors[0], P_POW)
        return f"({text})"

    def product_text(self, factors: list[Node], coef) -> str:
        """coef · scalars · (arrays joined by ⊙)."""
        # π is part of the coefficient: 2π cos(πt), not 2 cos(πt) π
        scalars = sorted((f for f in factors if f.shape.is_scalar), key=lambda f: not _is_pi_power(f))
        # indicators first: (W₁x > 0) ⊙ W₂ᵀδ
        arrays = sorted((f for f in factors if not f.shape.is_scalar), key=lambda f: not isinstance(f, Compare))
        pieces: list[Out] = []
        if coef != 1 or not factors:
            pieces.append(Out(self.number(Fraction(coef)), P_ATOM, True))
        for s in scalars:
            pieces.append(self.wrap_out(s, P_MUL + 1))
        if arrays:
            if len(arrays) == 1 and isinstance(arrays[0], MatMul):
                o = self.p(arrays[0])
                pieces.append(Out(o.text, P_MUL, _starts_tight(arrays[0], self)))
            elif len(arrays) == 1:
                pieces.append(self.wrap_out(arrays[0], P_MUL + 1))
            else:
                body = self.times.join(self.wrap(a, P_MUL + 1) for a in arrays)
                pieces.append(Out(body if not pieces else f"({body})", P_MUL if not pieces else P_ATOM, bool(pieces)))
        return self.juxtapose(pieces)

    def juxtapose(self, pieces: list[Out]) -> str:
        out = ""
        prev: Out | None = None
        for o in pieces:
            if prev is None:
                out = o.text
            elif prev.tight and (o.tight or o.text.startswith("(")) and not ("0" <= o.text[:1] <= "9"):
                out += o.text
            else:
                out += " " + o.text
            prev = o
        return out

    def _print_MatMul(self, n: MatMul) -> Out:
        fs = n.factors
        if len(fs) == 2 and isinstance(fs[0], Transpose) and fs[0].arg.shape.is_vector and fs[1].shape.is_vector:
            return Out(f"{self.wrap(fs[0].arg, P_POST)}·{self.wrap(fs[1], P_POST)}", P_MUL)
        pieces = [self.power_of(f, k) if k > 1 else self.wrap_out(f, P_MUL + 1) for f, k in runs(fs)]
        return Out(self.juxtapose(pieces), P_MUL, False)

    def power_of(self, f: Node, k: int) -> Out:
        """k equal factors: (A + B)⁻³ and (X⁻²)ᵀ for inverses; other factors written out
        (X² would read as the elementwise square)."""
        if isinstance(f, Inverse):
            inner = self.p(f.arg)
            return Out(self.wrap(f.arg, P_POST) + "⁻" + self.sup(Fraction(k)), P_POST, inner.tight or inner.prec < P_POST)
        if isinstance(f, Transpose) and isinstance(f.arg, Inverse):
            return Out(f"({self.wrap(f.arg.arg, P_POST)}⁻{self.sup(Fraction(k))}){self.transpose_mark}", P_POST, True)
        o = self.wrap_out(f, P_MUL + 1)
        return Out(self.juxtapose([o] * k), P_MUL, o.tight)  # AAB, not AA B

    def _print_Kron(self, n: Kron) -> Out:
        return Out(f"{self.wrap(n.left, P_MUL + 1)}{self.kron}{self.wrap(n.right, P_MUL + 1)}", P_MUL)

    def _print_Pow(self, n: Pow) -> Out:
        e = n.exponent
        if isinstance(e, Const):
            v = e.value
            if v == Fraction(1, 2):
                return Out("√" + self.wrap(n.base, P_POST), P_POW)
            if v < 0:
                inner = Out(self.p(n.base).text, self.p(n.base).prec)
                if v == -1:
                    return Out(f"1/{self.wrap(inner, P_POW)}", P_MUL)
                if v == Fraction(-1, 2):
                    return Out(f"1/√{self.wrap(n.base, P_POST)}", P_MUL)
                return Out(f"1/{self.wrap(n.base, P_POST)}{self.sup(-v)}", P_MUL)
            return Out(f"{self.wrap(n.base, P_POST)}{self.sup(v)}", P_POW, self.p(n.base).tight)
        return Out(f"{self.wrap(n.base, P_POST)}^{self.wrap(e, P_POST)}", P_POW)

    def sup(self, v: Fraction) -> str:
        if v.denominator == 1:
            return str(v.numerator).translate(_SUP)
        return f"^({v.numerator}/{v.denominator})"

    # ---------------------------------------------------------- postfix

    def _print_Transpose(self, n: Transpose) -> Out:
        if isinstance(n.arg, Inverse):
            inner = self.p(n.arg.arg)
            return Out(self.wrap(n.arg.arg, P_POST) + "⁻ᵀ", P_POST, inner.tight or inner.prec < P_POST)
        return Out(self.wrap(n.arg, P_POST) + self.transpose_mark, P_POST, self.p(n.arg).tight or self.p(n.arg).prec < P_POST)

    def _print_Inverse(self, n: Inverse) -> Out:
        return Out(self.wrap(n.arg, P_POST) + "⁻¹", P_POST, self.p(n.arg).tight or self.p(n.arg).prec < P_POST)

    # ---------------------------------------------------------- functions

    def call(self, name: str, *args: Node) -> Out:
        texts = [self.p(a).text for a in args]
        if len(args) == 1 and isinstance(args[0], Compare):
            return Out(f"{name}{texts[0]}", P_ATOM)  # diag(x > y), not diag((x > y))
        return Out(f"{name}({', '.join(texts)})", P_ATOM)

    def _print_Apply(self, n: Apply) -> Out:
        fn = n.fn
        if fn.unicode == "√":
            return Out("√" + self.wrap(n.args[0], P_ATOM), P_POW)
        return self.call(fn.unicode, *n.args)

    def _print_Compare(self, n: Compare) -> Out:
        op = {">=": "≥", "<=": "≤"}.get(n.op, n.op)
        return Out(f"({self.p(n.left).text} {op} {self.p(n.right).text})", P_ATOM, True)

    def _print_Sum(self, n: Sum) -> Out:
        if n.axis is None:
            return self.call("sum", n.arg)
        if n.axis == 0:
            return Out("𝟙ᵀ" + self.wrap(n.arg, P_POST), P_MUL)
        return Out(self.wrap(n.arg, P_MUL + 1) + "𝟙", P_MUL)

    def _print_Broadcast(self, n: Broadcast) -> Out:
        a = n.arg
        if a.shape.is_scalar:
            t = n.target
            ones = "𝟙" if t.cols.is_one else "𝟙ᵀ" if t.rows.is_one else "𝟙𝟙ᵀ"
            if _is_reciprocal(a):  # 𝟙/n, not (1/n)𝟙
                return Out(f"{ones}/{self.wrap(_reciprocal_base(a), P_POW)}", P_MUL)
            return Out(self.juxtapose([self.wrap_out(a, P_MUL + 1), Out(ones, P_ATOM, True)]), P_MUL)
        if a.shape.cols.is_one:
            return Out(self.juxtapose([self.wrap_out(a, P_MUL + 1), Out("𝟙ᵀ", P_ATOM, True)]), P_MUL)
        return Out(self.juxtapose([Out("𝟙", P_ATOM, True), self.wrap_out(a, P_MUL + 1)]), P_MUL)

    def _print_Trace(self, n: Trace) -> Out:
        return self.call("tr", n.arg)

    def _print_Det(self, n: Det) -> Out:
        return self.call("det", n.arg)

    def _print_Prod(self, n: Prod) -> Out:
        return self.call("prod", n.arg)

    def _print_Expm(self, n: Expm) -> Out:
        return self.call("expm", n.arg)

    def _print_ExpmFrechet(self, n: ExpmFrechet) -> Out:
        return self.call("expm_frechet", n.arg, n.direction)

    def _print_LogDet(self, n: LogDet) -> Out:
        return Out(f"log det({self.p(n.arg).text})", P_ATOM)

    def _print_Diag(self, n: Diag) -> Out:
        return self.call("diag", n.arg)

    def _print_DiagPart(self, n: DiagPart) -> Out:
        return self.call("diag", n.arg)

    def _print_Norm(self, n: Norm) -> Out:
        return Out(f"‖{self.p(n.arg).text}‖" + ("₁" if n.p == 1 else ""), P_ATOM, True)

    def _print_Softmax(self, n: Softmax) -> Out:
        return self.call("softmax", n.arg)

    def _print_LogSumExp(self, n: LogSumExp) -> Out:
        return self.call("logsumexp", n.arg)

    #: how max along the rows is written (NumPy code must keep the column: keepdims)
    row_extremum = ", axis=1"

    def _print_Extremum(self, n: Extremum) -> Out:
        if n.axis is None:
            return self.call(n.op, n.arg)
        return Out(f"{n.op}({self.p(n.arg).text}{self.row_extremum})", P_ATOM)

    def _print_ArgExtremum(self, n: ArgExtremum) -> Out:
        return Out(f"is_{n.op}({self.p(n.arg).text}{'' if n.axis is None else ', axis=1'})", P_ATOM)

    def _print_Vec(self, n: Vec) -> Out:
        return self.call("vec", n.arg)

    def _print_Unvec(self, n: Unvec) -> Out:
        return Out(f"unvec({self.p(n.arg).text}, {n.target.rows}, {n.target.cols})", P_ATOM)


def _starts_tight(n: MatMul, pr: Printer) -> bool:
    first = pr.p(n.factors[0])
    return first.tight or first.text.startswith("(")


def _is_negative(t: Node) -> bool:
    if isinstance(t, Const):
        return t.value < 0
    if isinstance(t, Broadcast):  # (−c)𝟙 prints as − c𝟙 after the positive terms
        return _is_negative(t.arg)
    return isinstance(t, Mul) and isinstance(t.factors[0], Const) and t.factors[0].value < 0


def _negated(t: Node) -> Node:
    from .. import build as B

    if isinstance(t, Broadcast):
        return B.broadcast(_negated(t.arg), t.shape)
    return B.neg(t)


def _is_reciprocal(f: Node) -> bool:
    return isinstance(f, Pow) and isinstance(f.exponent, Const) and f.exponent.value < 0


def _reciprocal_base(f: Node) -> Node:
    from .. import build as B

    return B.power(f.base, Const(-f.exponent.value))


# ====================================================================== ASCII


def runs(factors: tuple[Node, ...]) -> list[tuple[Node, int]]:
    """Consecutive equal factors, counted: X X X Y → [(X, 3), (Y, 1)]."""
    out: list[tuple[Node, int]] = []
    for f in factors:
        if out and out[-1][0] is f:
            out[-1] = (f, out[-1][1] + 1)
        else:
            out.append((f, 1))
    return out


class AsciiPrinter(Printer):
    """Text in the numpy dialect that parses back to the same expression."""

    syntax = "numpy"
    times = " * "
    minus = " - "
    neg = "-"
    mul_op = " * "
    div_op = " / "
    matmul_op = " @ "
    pow_op = "**"
    transpose_mark = ".T"

    def name(self, name: str) -> str:
        return name

    def _print_Var(self, n: Var) -> Out:
        return Out(n.name, P_ATOM)

    def _print_Differential(self, n: Differential) -> Out:
        return Out("d" + n.var.name, P_ATOM)

    def dim(self, d) -> str:
        if d.is_int:
            return str(d.coef)
        if d.single_symbol:
            return d.single_symbol
        return "*".join(([str(d.coef)] if d.coef != 1 else []) + list(d.syms))  # eye(m*n)

    def shape_args(self, s) -> str:
        return self.dim(s.rows) if s.cols.is_one else f"{self.dim(s.rows)}, {self.dim(s.cols)}"

    def _print_DimValue(self, n: DimValue) -> Out:
        return Out(f"dim({self.dim(n.dim)})", P_ATOM)

    def _print_Pi(self, n: Pi) -> Out:
        return Out("pi", P_ATOM)

    def _print_Zero(self, n: Zero) -> Out:
        return Out(f"zeros({self.shape_args(n.shape)})", P_ATOM)

    def _print_Ones(self, n: Ones) -> Out:
        if n.shape.is_row:
            return Out(f"ones({self.dim(n.shape.cols)}){self.transpose_mark}", P_POST)
        return Out(f"ones({self.shape_args(n.shape)})", P_ATOM)

    def _print_Identity(self, n: Identity) -> Out:
        return Out(f"eye({self.dim(n.n)})", P_ATOM)

    def _print_Commutation(self, n: Commutation) -> Out:
        return Out(f"commutation({self.dim(n.r)}, {self.dim(n.c)})", P_ATOM)

    def _print_Const(self, n: Const) -> Out:
        v = n.value
        if v.denominator == 1:
            text = str(abs(v.numerator))
            prec = P_ATOM
        else:
            text = f"{abs(v.numerator)}/{v.denominator}"
            prec = P_MUL
        if v < 0:
            return Out("-" + (text if prec == P_ATOM else f"({text})"), P_NEG)
        return Out(text, prec)

    def _print_Mul(self, n: Mul) -> Out:
        fs = list(n.factors)
        num = [f for f in fs if not _is_reciprocal(f)]
        den = [_reciprocal_base(f) for f in fs if _is_reciprocal(f)]
        sign = ""
        if num and isinstance(num[0], Const) and num[0].value < 0:
            sign = "-"

            num[0] = Const(-num[0].value)
            if num[0].value == 1 and len(num) > 1:
                num.pop(0)
        text = self.mul_op.join(self.wrap(f, P_MUL + (0 if i == 0 else 1)) for i, f in enumerate(num)) if num else "1"
        if den:
            dtext = self.mul_op.join(self.wrap(f, P_MUL + 1) for f in den)
            text = f"{text}{self.div_op}{dtext if len(den) == 1 and self.p(den[0]).prec > P_MUL else '(' + dtext + ')'}"
        if sign:
            return Out("-" + (text if len(num) <= 1 and not den and self.p(num[0]).prec > P_MUL else f"({text})"), P_NEG)
        return Out(text, P_MUL)

    def _print_MatMul(self, n: MatMul) -> Out:
        return Out(self.matmul_op.join(self.wrap(f, P_MUL + (0 if i == 0 else 1)) for i, f in enumerate(n.factors)), P_MUL)

    def _print_Kron(self, n: Kron) -> Out:
        return self.call("kron", n.left, n.right)

    def _print_Pow(self, n: Pow) -> Out:
        # (MATLAB groups .^ to the left: a power as the exponent keeps its parentheses there)
        inner = P_POW + 1 if self.syntax == "matlab" else P_POW
        return Out(f"{self.wrap(n.base, P_POST)}{self.pow_op}{self.wrap(n.exponent, inner)}", P_POW)

    def _print_Transpose(self, n: Transpose) -> Out:
        return Out(self.wrap(n.arg, P_POST) + self.transpose_mark, P_POST)

    def _print_Inverse(self, n: Inverse) -> Out:
        return self.call("inv", n.arg)

    def _print_Apply(self, n: Apply) -> Out:
        return self.call(n.fn.name, *n.args)

    def _print_Compare(self, n: Compare) -> Out:
        return Out(f"({self.p(n.left).text} {n.op} {self.p(n.right).text})", P_ATOM)

    def _print_Sum(self, n: Sum) -> Out:
        if n.axis is None:
            return self.call("sum", n.arg)
        # keepdims: NumPy's plain sum(X, axis) is 1-D, which broadcasts as a row
        return Out(f"sum({self.p(n.arg).text}, axis={n.axis}, keepdims=True)", P_ATOM)

    def statistic_axis(self, axis: int) -> str:
        return f"axis={axis}, keepdims=True"

    row_extremum = ", axis=1, keepdims=True"

    def _print_Broadcast(self, n: Broadcast) -> Out:
        a, t = n.arg, n.target
        if a.shape.is_scalar:
            return Out(f"{self.wrap(a, P_MUL)}{self.mul_op}ones({self.shape_args(t)})", P_MUL)
        if a.shape.cols.is_one:
            return Out(f"{self.wrap(a, P_MUL)}{self.matmul_op}ones({self.dim(t.cols)}){self.transpose_mark}", P_MUL)
        return Out(f"ones({self.dim(t.rows)}){self.matmul_op}{self.wrap(a, P_MUL + 1)}", P_MUL)

    def _print_LogDet(self, n: LogDet) -> Out:
        return self.call("logdet", n.arg)

    def _print_Norm(self, n: Norm) -> Out:
        return self.call("norm1" if n.p == 1 else "norm", n.arg)

    def _print_Unvec(self, n: Unvec) -> Out:
        return Out(f"unvec({self.p(n.arg).text}, {self.dim(n.target.rows)}, {self.dim(n.target.cols)})", P_ATOM)


class MatlabPrinter(AsciiPrinter):
    """Text in the matlab (matrixcalculus.org) dialect."""

    def _print_Statistic(self, n: Statistic) -> Out:
        """MATLAB's var and std normalise by N − 1 unless w = 1; dimension 2 is along the rows."""
        dim = "" if n.axis is None else f", {n.axis + 1}"
        if n.name == "mean":
            return Out(f"mean({self.p(n.arg).text}{dim})", P_ATOM)
        return Out(f"{n.name}({self.p(n.arg).text}, 1{dim})", P_ATOM)

    syntax = "matlab"
    mul_op = " .* "
    div_op = " ./ "
    matmul_op = " * "
    pow_op = ".^"
    transpose_mark = "'"

    def _print_Sum(self, n: Sum) -> Out:
        if n.axis is None:
            return self.call("sum", n.arg)
        return Out(f"sum({self.p(n.arg).text}, {n.axis + 1})", P_ATOM)

    def _print_Extremum(self, n: Extremum) -> Out:
        if n.axis is None:
            return self.call(n.op, n.arg)
        from ..errors import UnsupportedError

        raise UnsupportedError(f"the {n.op} of each row cannot be written in the matlab dialect")

    def _print_ArgExtremum(self, n: ArgExtremum) -> Out:
        if n.axis is None:
            return self.call(f"is_{n.op}", n.arg)
        from ..errors import UnsupportedError

        raise UnsupportedError(f"the {n.op} of each row cannot be written in the matlab dialect")

    def _print_Broadcast(self, n: Broadcast) -> Out:
        a, t = n.arg, n.target
        if a.shape.is_scalar:
            return Out(f"{self.wrap(a, P_MUL)} * ones({self.shape_args(t)})", P_MUL)
        return super()._print_Broadcast(n)

    def _print_Norm(self, n: Norm) -> Out:
        if n.p == 2 and n.arg.shape.is_matrix:
            return Out(f"norm({self.p(n.arg).text}, 'fro')", P_ATOM)  # MATLAB's norm(X) is the spectral norm
        return super()._print_Norm(n)


def to_text(n: Node, avoid: Iterable[str] = ()) -> str:
    """Unicode math; ``avoid``: names of variables shown elsewhere beside it (see ``Printer.taken``)."""
    return Printer(avoid).doprint(n)


def to_ascii(n: Node, syntax: str = "numpy") -> str:
    return (MatlabPrinter() if syntax == "matlab" else AsciiPrinter()).doprint(n)
