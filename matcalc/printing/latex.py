"""Checked nodes → LaTeX, in textbook notation.

``LatexPrinter`` is the text :class:`~matcalc.printing.text.Printer` with LaTeX
spellings: the same ``_print_<Type>`` dispatch and the same precedence-based
parenthesising, overriding only the methods whose output differs.

Notation: vectors bold (``\\mathbf{x}``, ``\\boldsymbol{\\alpha}``), matrices and
scalars italic (``X``, ``b``, ``\\alpha``); digits and ``_`` in a name become a
subscript (``W1`` → ``W_{1}``, ``x_i`` → ``\\mathbf{x}_{i}``); ``Aᵀ`` → ``A^\\top``,
``X⁻ᵀ`` → ``X^{-\\top}``, ``⊙`` → ``\\odot``, ``⊗`` → ``\\otimes``, ``𝟙`` →
``\\mathbf{1}``, ``sum(x)`` → ``\\mathbf{1}^\\top \\mathbf{x}``, the indicator
``(x > 0)`` → ``[\\,\\mathbf{x} > 0\\,]``, ``a/b`` → ``\\frac{a}{b}``, and the
elementwise square of a matrix ``X^{\\odot 2}`` (so that it is not read as ``XX``).

Every variable name is escaped: whatever a :class:`~matcalc.nodes.Var` is called,
its LaTeX is a closed group that cannot end or open a command (``}`` → ``\\}``,
``\\`` → ``\\backslash``, unknown characters → their code point in ``\\text{}``).

>>> import matcalc
>>> to_latex(matcalc.diff("x'@A@x", "x").node)
'(A + A^\\\\top) \\\\mathbf{x}'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from fractions import Fraction
from typing import TYPE_CHECKING

from ..dims import Dim, Shape
from ..nodes import (
    Apply,
    ArgExtremum,
    Broadcast,
    Compare,
    Const,
    Differential,
    DimValue,
    Expm,
    ExpmFrechet,
    Extremum,
    Identity,
    Inverse,
    LogDet,
    MatMul,
    Mul,
    Node,
    Norm,
    Ones,
    Pi,
    Pow,
    Sum,
    Transpose,
    Unvec,
    Var,
    Zero,
)
from .fold import Statistic
from .text import (
    GREEK_LETTERS,
    P_ATOM,
    P_MUL,
    P_NEG,
    P_POST,
    P_POW,
    Out,
    Printer,
    _is_reciprocal,
    _reciprocal_base,
    _whole,
    decimal,
    runs,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..api import Derivative

__all__ = [
    "LatexPrinter",
    "to_latex",
    "derivative_latex",
    "derivative_lhs",
    "document",
    "latex_name",
    "latex_dim",
    "latex_shape",
    "visible_width",
]

# ---------------------------------------------------------------------- names

#: Greek names as typed (``alpha``) → LaTeX; every key of the text printer's table.
GREEK_COMMANDS: dict[str, str] = {name: ("o" if name == "omicron" else "\\" + name) for name in GREEK_LETTERS}

_GREEK_LOWER = "alpha beta gamma delta varepsilon zeta eta theta iota kappa lambda mu nu xi o pi rho varsigma sigma tau upsilon varphi chi psi omega"
_GREEK_UPPER = "A B Gamma Delta E Z H Theta I K Lambda M N Xi O Pi P - Sigma T Upsilon Phi X Psi Omega"
#: Greek letters typed as such (α, Σ) → LaTeX; capitals without a LaTeX command are Latin letters.
GREEK_CHARS: dict[str, str] = {}
for _start, _names in ((0x03B1, _GREEK_LOWER), (0x0391, _GREEK_UPPER)):
    for _i, _n in enumerate(_names.split()):
        if _n != "-":
            GREEK_CHARS[chr(_start + _i)] = _n if len(_n) == 1 else "\\" + _n
GREEK_CHARS.update({"ϵ": r"\epsilon", "ϑ": r"\vartheta", "ϕ": r"\phi", "ϖ": r"\varpi", "ϱ": r"\varrho"})

#: ASCII characters other than letters and digits, as closed math-mode LaTeX.
_ASCII_ESCAPES = {
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "\\": r"\backslash",
    "$": r"\$",
    "#": r"\#",
    "%": r"\%",
    "&": r"\&",
    "^": r"\wedge",
    "~": r"\sim",
    " ": r"\ ",
}
_ASCII_LITERAL = set("()*+,-./:;<=>?@[]|!")
#: combining accents → math accents (é → \acute{e})
_ACCENTS = {
    "\u0300": r"\grave",
    "\u0301": r"\acute",
    "\u0302": r"\hat",
    "\u0303": r"\tilde",
    "\u0304": r"\bar",
    "\u0306": r"\breve",
    "\u0307": r"\dot",
    "\u0308": r"\ddot",
    "\u030c": r"\check",
}

_NAME = re.compile(r"^([^\W\d_]+?)(\d*)(?:_([^\W_]+(?:_[^\W_]+)*))?$")


def _char(c: str) -> str:
    """One character as a closed piece of math-mode LaTeX that renders it (or names it)."""
    if c.isascii() and c.isalnum():
        return c
    if c in GREEK_CHARS:
        g = GREEK_CHARS[c]
        return "{" + g + "}" if g.startswith("\\") else g
    if c in _ASCII_ESCAPES:
        e = _ASCII_ESCAPES[c]
        return "{" + e + "}" if e[1:].isalpha() else e  # a control word must not run into the next letter
    if c in _ASCII_LITERAL:
        return "{" + c + "}"
    base, *marks = unicodedata.normalize("NFD", c)
    if base.isascii() and base.isalpha() and marks and all(m in _ACCENTS for m in marks):
        out = base
        for m in marks:
            out = _ACCENTS[m] + "{" + out + "}"
        return "{" + out + "}"
    return rf"\text{{[U+{ord(c):04X}]}}"


def _chars(s: str) -> str:
    return "".join(_char(c) for c in s)


def _stem(stem: str, bold: bool) -> str:
    """The letters of a name: x, \\mathbf{x}, \\alpha, \\boldsymbol{\\alpha}, \\mathit{xy}, \\mathbf{xy}."""
    if stem in GREEK_COMMANDS:
        tex = GREEK_COMMANDS[stem]
        if tex == "o":
            return r"\mathbf{o}" if bold else "o"
        return rf"\boldsymbol{{{tex}}}" if bold else tex
    if stem.isascii():
        if bold:
            return rf"\mathbf{{{stem}}}"
        return stem if len(stem) == 1 else rf"\mathit{{{stem}}}"
    tex = _chars(stem)
    if bold:
        return rf"\boldsymbol{{{tex}}}"
    return tex if len(stem) == 1 else rf"\mathit{{{tex}}}"


def _subscript_part(part: str) -> str:
    if part in GREEK_COMMANDS:
        return GREEK_COMMANDS[part]
    if part.isascii() and sum(c.isalpha() for c in part) > 1:
        return rf"\mathrm{{{part}}}"
    return _chars(part)


def latex_name(name: str, bold: bool = False) -> str:
    """A variable name in LaTeX: W1 → W_{1}, x_i → \\mathbf{x}_{i} (bold), alpha → \\alpha, Sigma → \\Sigma.

    The result is always safe to juxtapose and to give a sub/superscript: characters
    outside letters, digits and ``_`` are escaped, and an irregular name is one group.
    """
    m = _NAME.match(name)
    if m is None:
        tex = _chars(name)
        if bold:
            return rf"\boldsymbol{{{tex}}}"
        if len(name) == 1:
            return tex if tex.startswith("{") else "{" + tex + "}"
        return rf"\mathit{{{tex}}}"
    stem, digits, sub = m.groups()
    parts = ([digits] if digits else []) + ([_subscript_part(p) for p in sub.split("_")] if sub else [])
    out = _stem(stem, bold)
    if parts:
        out += "_{" + ",".join(parts) + "}"
    return out


def latex_dim(d: Dim) -> str:
    """A dimension as a factor: n, 2 m n, 12."""
    parts = [str(d.coef)] if d.coef != 1 or not d.syms else []
    parts += [latex_name(s) for s in d.syms]
    return " ".join(parts)


def latex_shape(s: Shape) -> str:
    """The set a value lives in: \\mathbb{R}, \\mathbb{R}^{n}, \\mathbb{R}^{m \\times n}."""
    if s.is_scalar:
        return r"\mathbb{R}"
    if s.cols.is_one:
        return rf"\mathbb{{R}}^{{{latex_dim(s.rows)}}}"
    return rf"\mathbb{{R}}^{{{latex_dim(s.rows)} \times {latex_dim(s.cols)}}}"


def _ends_with_superscript(text: str) -> bool:
    """Whether ``text`` ends in ``^\\top`` or ``^{…}`` (a further ``^`` would be a double superscript)."""
    if text.endswith("^\\top"):
        return True
    if not text.endswith("}") or text.endswith("\\}"):
        return False
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        c = text[i]
        if c in "{}" and i > 0 and text[i - 1] == "\\":
            continue  # an escaped brace
        if c == "}":
            depth += 1
        elif c == "{":
            depth -= 1
            if depth == 0:
                return i > 0 and text[i - 1] == "^"
    return False


def _frac(num: str, den: str) -> str:
    return rf"\frac{{{num}}}{{{den}}}"


#: structural function names the text printer passes to ``call`` → LaTeX
_OPERATORS = {"det": r"\det", "log": r"\log", "exp": r"\exp", "max": r"\max", "min": r"\min"}


class LatexPrinter(Printer):
    """LaTeX math (no delimiters): ``\\mathbf{x}^\\top A \\mathbf{x}``."""

    def size_index(self, *dims: Dim) -> str:
        return "_{" + ",".join(latex_dim(d) for d in dims) + "}"

    times = r" \odot "
    kron = r" \otimes "
    transpose_mark = r"^\top"
    minus = " - "
    neg = "-"

    # ---------------------------------------------------------- parentheses and juxtaposition

    def paren(self, text: str) -> str:
        """(text), sized with \\left( \\right) when it holds a fraction."""
        if r"\frac" in text:
            return rf"\left({text}\right)"
        return f"({text})"

    def wrap(self, n: Node | Out, prec: int) -> str:
        o = self.p(n) if isinstance(n, Node) else n
        return o.text if o.prec >= prec else self.paren(o.text)

    def wrap_out(self, n: Node, prec: int) -> Out:
        o = self.p(n)
        return o if o.prec >= prec else Out(self.paren(o.text), P_ATOM, True)

    def juxtapose(self, pieces: list[Out]) -> str:
        """Factors side by side; a \\cdot before a factor that begins with a number or a fraction (2 \\cdot 3^{x})."""
        out = ""
        for i, o in enumerate(pieces):
            if i == 0:
                out = o.text
            elif o.text[:1].isdigit() or o.text.startswith(r"\frac"):
                out += r" \cdot " + o.text
            else:
                out += " " + o.text
        return out

    def script(self, n: Node, mark: str) -> str:
        """``n`` with a superscript ``mark`` (``^\\top``, ``^{-1}``), parenthesised if it already has one."""
        base = self.wrap(n, P_POST)
        if _ends_with_superscript(base):
            base = self.paren(base)
        return base + mark

    def call(self, name: str, *args: Node) -> Out:
        """f(args): a registry LaTeX command (\\exp, \\sigma) or \\operatorname{name}."""
        if not name.startswith("\\"):
            name = _OPERATORS.get(name, rf"\operatorname{{{name}}}")
        return Out(name + self.paren(", ".join(self.p(a).text for a in args)), P_ATOM)

    # ---------------------------------------------------------- leaves

    def name(self, name: str) -> str:
        return latex_name(name)

    def _print_Var(self, n: Var) -> Out:
        return Out(latex_name(n.name, bold=n.shape.is_vector or n.shape.is_row), P_ATOM)

    def _print_Differential(self, n: Differential) -> Out:
        return Out(r"\mathrm{d}" + self.p(n.var).text, P_ATOM)

    def number(self, v: Fraction) -> str:
        if v.denominator == 1:
            return str(v.numerator)
        return decimal(v) or _frac(str(v.numerator), str(v.denominator))

    def _print_Const(self, n: Const) -> Out:
        v = n.value
        text = self.number(abs(v))
        if v < 0:
            return Out(self.neg + text, P_NEG)
        return Out(text, P_ATOM if _whole(v) else P_POW)

    def _print_Pi(self, n: Pi) -> Out:
        return Out(r"\pi", P_ATOM)

    def _print_DimValue(self, n: DimValue) -> Out:
        d = n.dim
        return Out(latex_dim(d), P_ATOM if len(d.syms) + (d.coef != 1) <= 1 else P_MUL)

    def _print_Zero(self, n: Zero) -> Out:
        s = n.shape
        return Out(r"\mathbf{0}" if s.is_vector or s.is_row else "0", P_ATOM)

    def _print_Ones(self, n: Ones) -> Out:
        if n.shape.is_row:
            return Out(r"\mathbf{1}^\top", P_POST)
        if n.shape.is_matrix:
            return Out(r"\mathbf{1}\mathbf{1}^\top", P_MUL)
        return Out(r"\mathbf{1}", P_ATOM)

    # ---------------------------------------------------------- products

    def _factors(self, factors: list[Node], coef: int) -> str:
        """The numerator or denominator of a fraction: one factor bare, several as a product."""
        if len(factors) == 1 and coef == 1:
            return self.p(factors[0]).text
        return self.product_text(factors, coef)

    def _print_Mul(self, n: Mul) -> Out:
        """c · scalars · (arrays ⊙ …); reciprocals go below a \\frac (½ as a leading \\frac{1}{2})."""
        fs = list(n.factors)
        coef = Fraction(1)
        if isinstance(fs[0], Const):
            coef = fs.pop(0).value
        num = [f for f in fs if not _is_reciprocal(f)]
        den = [_reciprocal_base(f) for f in fs if _is_reciprocal(f)]
        sign, coef = coef < 0, abs(coef)
        whole = _whole(coef)  # an integer, or a long decimal (0.044715) written as one
        if not den and whole:
            out = Out(self.product_text(num, coef), P_MUL)
        elif not den:
            # ½‖r‖², the textbook form, rather than ‖r‖²/2
            lead = Out(_frac(str(coef.numerator), str(coef.denominator)), P_POW)
            out = Out(self.juxtapose([lead, Out(self.product_text(num, 1), P_MUL)]), P_MUL)
        else:
            # (1/n)𝟙 and (1/a)I: a constant array scaled by a scalar fraction stays outside it
            units = [f for f in num if isinstance(f, (Ones, Identity))]
            rest = [f for f in num if not isinstance(f, (Ones, Identity))]
            if len(units) == 1 and all(f.shape.is_scalar for f in rest + den):
                num = rest
            else:
                units = []
            numc, denc = (coef, 1) if whole else (coef.numerator, coef.denominator)
            frac = Out(_frac(self._factors(num, numc), self._factors(den, denc)), P_POW)
            if units:
                out = Out(self.juxtapose([frac, *(self.wrap_out(u, P_MUL + 1) for u in units)]), P_MUL)
            else:
                out = frac
        if sign:
            return Out(self.neg + self.wrap(out, P_MUL), P_NEG)
        return out

    def _print_MatMul(self, n: MatMul) -> Out:
        """A B C side by side (xᵀy stays \\mathbf{x}^\\top \\mathbf{y}); k equal factors as a
        matrix power: X^{3}, (X^{3})^\\top, A^{-2}, (A^{-2})^\\top (a Hadamard power is X^{\\odot 3})."""
        return Out(self.juxtapose([self.power_of(f, k) if k > 1 else self.wrap_out(f, P_MUL + 1) for f, k in runs(n.factors)]), P_MUL)

    def power_of(self, f: Node, k: int) -> Out:
        if isinstance(f, Transpose):
            inner = f.arg
            body = self.script(inner.arg, f"^{{-{k}}}") if isinstance(inner, Inverse) else self.script(inner, f"^{{{k}}}")
            return Out(self.paren(body) + r"^\top", P_POST)
        if isinstance(f, Inverse):
            return Out(self.script(f.arg, f"^{{-{k}}}"), P_POST)
        return Out(self.script(f, f"^{{{k}}}"), P_POST)

    def _print_Pow(self, n: Pow) -> Out:
        """x^{p}; x^{1/2} → \\sqrt{x}; x^{-p} → \\frac{1}{x^{p}}; a matrix's Hadamard power X^{\\odot p}."""
        e = n.exponent
        if isinstance(e, Const):
            v = e.value
            if v < 0:
                return Out(_frac("1", self.p(_reciprocal_base(n)).text), P_POW)
            if v == Fraction(1, 2):
                return Out(rf"\sqrt{{{self.p(n.base).text}}}", P_POW)
            exp = str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
        else:
            exp = self.p(e).text
        if n.base.shape.is_matrix:
            exp = r"\odot " + exp
        return Out(self.script(n.base, "^{" + exp + "}"), P_POW)

    def _print_Broadcast(self, n: Broadcast) -> Out:
        """a𝟙 (a scalar to a vector), a𝟙𝟙ᵀ (to a matrix), x𝟙ᵀ (a column repeated), 𝟙r (a row repeated)."""
        a, t = n.arg, n.target
        if a.shape.is_scalar:
            ones = self.p(Ones(t))
            if isinstance(a, Const) and a.value == 1:
                return ones
            pieces = [self.wrap_out(a, P_MUL + 1), ones]
        elif a.shape.cols.is_one:
            pieces = [self.wrap_out(a, P_MUL + 1), Out(r"\mathbf{1}^\top", P_POST)]
        else:
            pieces = [Out(r"\mathbf{1}", P_ATOM), self.wrap_out(a, P_MUL + 1)]
        return Out(self.juxtapose(pieces), P_MUL)

    # ---------------------------------------------------------- postfix

    def _print_Transpose(self, n: Transpose) -> Out:
        if isinstance(n.arg, Inverse):
            return Out(self.script(n.arg.arg, r"^{-\top}"), P_POST)
        return Out(self.script(n.arg, self.transpose_mark), P_POST)

    def _print_Inverse(self, n: Inverse) -> Out:
        if isinstance(n.arg, Transpose):
            return Out(self.script(n.arg.arg, r"^{-\top}"), P_POST)
        return Out(self.script(n.arg, "^{-1}"), P_POST)

    # ---------------------------------------------------------- functions

    def _print_Statistic(self, n: Statistic) -> Out:
        if n.axis is not None:
            text = rf"\operatorname{{{n.name}}}\left({self.p(n.arg).text},\, \text{{axis}}={n.axis}\right)"
            return Out(text, P_ATOM)
        return self.call(rf"\operatorname{{{n.name}}}", n.arg)

    def _print_Apply(self, n: Apply) -> Out:
        cmd = n.fn.latex
        if cmd == r"\sqrt":
            return Out(rf"\sqrt{{{self.p(n.args[0]).text}}}", P_POW)
        return self.call(cmd, *n.args)

    def _print_Compare(self, n: Compare) -> Out:
        """The Iverson bracket [\\,a > b\\,]: 1 where the comparison holds, 0 elsewhere."""
        op = {">=": r"\geq", "<=": r"\leq"}.get(n.op, n.op)
        return Out(rf"[\,{self.p(n.left).text} {op} {self.p(n.right).text}\,]", P_ATOM)

    def _sum_operand(self, a: Node) -> str:
        # 𝟙ᵀAx needs no parentheses around the matrix product Ax, but 𝟙ᵀ(w ⊙ x) does
        return self.wrap(a, P_MUL if isinstance(a, MatMul) else P_MUL + 1)

    def _print_Sum(self, n: Sum) -> Out:
        """Σ of all entries: 𝟙ᵀx, x𝟙 (a row), 𝟙ᵀX𝟙; down the columns 𝟙ᵀX, along the rows X𝟙."""
        a, s = n.arg, n.arg.shape
        if n.axis is None and s.is_scalar:
            return self.p(a)
        body = self._sum_operand(a)
        if n.axis == 0 or (n.axis is None and s.cols.is_one):
            return Out(r"\mathbf{1}^\top " + body, P_MUL)
        if n.axis == 1 or s.rows.is_one:
            return Out(body + r" \mathbf{1}", P_MUL)
        return Out(r"\mathbf{1}^\top " + body + r" \mathbf{1}", P_MUL)

    def _print_Extremum(self, n: Extremum) -> Out:
        if n.axis is None:
            return self.call(n.op, n.arg)
        return Out(rf"\{n.op}_{{\text{{row}}}}" + self.paren(self.p(n.arg).text), P_ATOM)

    def _print_ArgExtremum(self, n: ArgExtremum) -> Out:
        sub = r"_{\text{row}}" if n.axis is not None else ""
        a = self.p(n.arg).text
        return Out(rf"[\,{a} = \{n.op}{sub}{self.paren(a)}\,]", P_ATOM)

    def _print_Expm(self, n: Expm) -> Out:
        return Out(rf"e^{{{self.p(n.arg).text}}}", P_POST)

    def _print_ExpmFrechet(self, n: ExpmFrechet) -> Out:
        return Out(rf"L_{{\exp}}\left({self.p(n.arg).text},\, {self.p(n.direction).text}\right)", P_ATOM)

    def _print_LogDet(self, n: LogDet) -> Out:
        return Out(r"\log\det" + self.paren(self.p(n.arg).text), P_ATOM)

    def _print_Norm(self, n: Norm) -> Out:
        sub = "_{1}" if n.p == 1 else ""
        return Out(rf"\left\lVert {self.p(n.arg).text} \right\rVert{sub}", P_ATOM)

    def _print_Unvec(self, n: Unvec) -> Out:
        t = n.target
        return Out(
            rf"\operatorname{{unvec}}_{{{latex_dim(t.rows)} \times {latex_dim(t.cols)}}}" + self.paren(self.p(n.arg).text), P_ATOM
        )


def to_latex(n: Node, avoid: Iterable[str] = ()) -> str:
    """A node as LaTeX math, without delimiters (``avoid``: see ``Printer.taken``)."""
    return LatexPrinter(avoid).doprint(n)


# ---------------------------------------------------------------------- derivatives


def _vec(pr: LatexPrinter, n: Node) -> str:
    """vec F for a matrix or row (vec X, vec(AXB)); a column or scalar as it is."""
    if n.shape.cols.is_one:
        return pr.p(n).text
    if isinstance(n, Var):
        return rf"\operatorname{{vec}} {pr.p(n).text}"
    return r"\operatorname{vec}" + pr.paren(pr.p(n).text)


def _operand(pr: LatexPrinter, n: Node, vec: bool) -> Out:
    if vec and not n.shape.cols.is_one:
        return Out(_vec(pr, n), P_ATOM)
    return pr.p(n)


#: a function wider than this many symbols goes after the operator, ∂/∂x f, not above the bar
_NUMERATOR_MAX = 16
_STYLE = re.compile(r"\\(?:operatorname|mathbf|boldsymbol|mathit|mathrm|left|right)(?![A-Za-z])")
_COMMAND = re.compile(r"\\[A-Za-z]+")


def visible_width(tex: str) -> int:
    """Roughly how many symbols ``tex`` shows: \\operatorname{diag}(\\mathbf{x}) → 7 (diag(x))."""
    tex = _COMMAND.sub("#", _STYLE.sub("", tex))
    return sum(1 for c in tex if c not in "{} _^")


def _leibniz(order_mark: str, f: Out, wrt: str) -> str:
    """∂f/∂x with a short f above the bar; ∂/∂x (f) for a sum, a fraction or a wide f."""
    short = f.prec >= P_MUL and r"\frac" not in f.text and visible_width(f.text) <= _NUMERATOR_MAX
    if short:
        return _frac(rf"\partial{order_mark} {f.text}", wrt)
    body = f.text if f.prec >= P_MUL else rf"\left({f.text}\right)"
    return _frac(rf"\partial{order_mark}", wrt) + " " + body


def derivative_lhs(d: Derivative, pr: LatexPrinter | None = None) -> str:
    """The left side: \\frac{\\partial f}{\\partial \\mathbf{w}}, \\frac{\\partial \\operatorname{vec} F}{\\partial \\operatorname{vec} X},
    \\frac{\\partial^2 f}{\\partial \\mathbf{x}\\,\\partial \\mathbf{x}^\\top}."""
    pr = pr or LatexPrinter(d.checked.variables)
    f, x = d.expression, d.wrt
    if d.order == 2:
        if x.shape.is_scalar:
            den = rf"\partial {pr.script(x, '^{2}')}"
        elif x.shape.cols.is_one:
            xt = pr.p(x).text
            den = rf"\partial {xt}\,\partial {pr.script(x, pr.transpose_mark)}"
        else:
            v = _vec(pr, x)
            den = rf"\partial {v}\,\partial ({v})^\top"
        return _leibniz("^2", pr.p(f), den)
    vec = d.kind == "vec-Jacobian"
    return _leibniz("", _operand(pr, f, vec), rf"\partial {_operand(pr, x, vec).text}")


def derivative_latex(d: Derivative, header: bool = True) -> str:
    """The derivative as LaTeX math: ``\\frac{\\partial f}{\\partial \\mathbf{w}} = …`` (header) or the result alone."""
    from ..deep import call_deep

    def run() -> str:
        pr = LatexPrinter(d.checked.variables)
        body = pr.p(d.node).text
        if not header:
            return body
        return f"{derivative_lhs(d, pr)} = {body}"

    return call_deep(run)


# ---------------------------------------------------------------------- documents

_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "^": r"\^{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "~": r"\~{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def latex_text(s: str) -> str:
    """Any string as LaTeX text (for \\texttt{…}): specials escaped, other non-ASCII characters as math."""
    out = []
    for c in s:
        if c in _TEXT_ESCAPES:
            out.append(_TEXT_ESCAPES[c])
        elif c.isascii() and c.isprintable():
            out.append(c)
        else:
            out.append(f"${_char(c)}$")
    return "".join(out)


#: an equation showing more symbols than this is split after its left side
_DISPLAY_WIDTH = 60

_PREAMBLE = r"""\documentclass{article}
\usepackage{amsmath}
\usepackage{amssymb}
\usepackage{bm}
\allowdisplaybreaks
\begin{document}
"""


def _where(d: Derivative, pr: LatexPrinter) -> str:
    """x ∈ ℝⁿ, W₁ ∈ ℝ^{m×n} (S symmetric), for every variable."""
    parts = []
    variables = dict(d.variables)
    variables.setdefault(d.wrt.name, d.wrt)
    for v in variables.values():
        sym = r"\ \text{(symmetric)}" if v.symmetric else ""
        parts.append(f"${pr.p(v).text} \\in {latex_shape(v.shape)}{sym}$")
    return ", ".join(parts)


def document(d: Derivative, steps: bool = False) -> str:
    """A complete standalone LaTeX document (article, amsmath, amssymb, bm) with the derivative,
    the input, every variable's shape, and with ``steps`` the step-by-step derivation."""
    from ..deep import call_deep
    from ..errors import MatcalcError

    derivation = ""
    if steps:
        try:
            derivation = d.steps("latex")
        except (NotImplementedError, ImportError) as e:
            raise MatcalcError(f"the step-by-step derivation is not available in LaTeX: {e}") from e

    def run() -> str:
        pr = LatexPrinter(d.checked.variables)
        source = getattr(d.checked, "source", None) or ""
        kind = d.kind[:1].upper() + d.kind[1:]
        lines = [_PREAMBLE + r"\section*{" + latex_text(kind) + "}", ""]
        intro = r"\noindent"
        if source:
            intro += r" Input: \texttt{" + latex_text(source) + "},"
        intro += f" by ${pr.p(d.wrt).text}$ ({latex_text(d.layout)} layout), where {_where(d, pr)}."
        lhs, rhs = derivative_lhs(d, pr), pr.p(d.node).text
        if visible_width(lhs) + visible_width(rhs) > _DISPLAY_WIDTH:
            # too wide for one line: ∂f/∂x on the first, = result on the second
            lines += [intro, r"\begin{multline*}", lhs + r" \\", "= " + rhs, r"\end{multline*}"]
        else:
            lines += [intro, r"\begin{equation*}", f"{lhs} = {rhs}", r"\end{equation*}"]
        if derivation:
            lines += ["", r"\subsection*{Derivation}", derivation]
        lines += [r"\end{document}", ""]
        return "\n".join(lines)

    return call_deep(run)
