"""The function registry: every name a call can use, in one table.

Elementwise functions are :class:`Elementwise` entries: each carries its partial
derivatives, its domain (a predicate and a sampler for tests), its NumPy and SymPy
forms and its names in text and LaTeX.  Adding an elementwise function means adding
one entry here; differentiation, printing, evaluation, verification and the
registry-driven tests all read it from this table.

Structural functions (sum, tr, det, softmax, …) are :class:`Structural` entries
whose ``build`` turns the call into checked nodes; their derivative rules live in
:mod:`matcalc.differentiate`, one per node type.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from . import build as B
from .dims import ONE as DIM_ONE
from .dims import Dim, Shape
from .errors import UnknownFunctionError
from .nodes import (
    Apply,
    ArgExtremum,
    Commutation,
    Compare,
    Const,
    Det,
    Diag,
    DiagPart,
    DimValue,
    Expm,
    Extremum,
    Kron,
    LogDet,
    LogSumExp,
    Prod,
    Node,
    Norm,
    Pi,
    Softmax,
    Sum,
    Trace,
    Unvec,
    Vec,
)
from .record import record

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from . import syntax as S
    from .shapes import Checker

Partials = Callable[[tuple[Node, ...], Node, tuple[bool, ...]], tuple[Node, ...]]


@record(eq=False)
class Elementwise:
    """An elementwise function f(a₁, …) with its calculus and its printed forms.

    ``partials(args, out, varying)`` returns, for each argument, the node c with
    ∂f/∂aᵢ = c (elementwise); ``out`` is f(args) itself, so σ′ = σ(1 − σ) can reuse
    it; ``varying`` says which arguments depend on the variable (used by max/min to
    pick their subgradient at ties).
    """

    name: str
    partials: Partials
    numpy: str  # a template over the argument sources: "np.exp({0})"
    sympy: Callable[..., Any]
    unicode: str
    latex: str
    sample: Callable[[Any, tuple[int, ...]], np.ndarray]  # (rng, shape) → a point inside the domain
    in_domain: Callable[..., Any] | None = None  # numpy arrays → boolean array
    arity: int = 1
    aliases: tuple[str, ...] = ()
    numpy_helper: str = ""  # Python source defining helpers the template uses
    doc: str = ""
    domain_text: str = "all reals"
    #: the structural function a call with one argument means: max(x) is amax(x)
    alone: str = ""
    #: an interval holding every value it takes (closed, for sign reasoning: codegen
    #: writes Xᵀ diag(d) X as BᵀB, B = √d ⊙ X, only where d ≥ 0 is certain)
    values: tuple[float, float] = (-math.inf, math.inf)

    def __repr__(self) -> str:
        return f"<function {self.name}>"


@record(eq=False)
class Structural:
    """A function that builds checked nodes of its own kinds (sum, tr, softmax, …)."""

    name: str
    build: Callable[[Checker, S.Call], Node]
    signature: str
    doc: str
    aliases: tuple[str, ...] = ()


Entry = Elementwise | Structural

FUNCTIONS: dict[str, Entry] = {}
ELEMENTWISE: dict[str, Elementwise] = {}


def register(entry: Entry) -> Entry:
    printed = getattr(entry, "unicode", entry.name)
    # σ(z) as matcalc prints it reads back as sigmoid(z)
    names = (entry.name, *entry.aliases, *((printed,) if printed.isidentifier() and printed != entry.name else ()))
    for name in names:
        if name in FUNCTIONS:
            raise ValueError(f"function {name} registered twice")
        FUNCTIONS[name] = entry
    if isinstance(entry, Elementwise):
        ELEMENTWISE[entry.name] = entry
    return entry


def lookup(name: str, column: int | None = None) -> Entry:
    try:
        return FUNCTIONS[name]
    except KeyError:
        close = difflib.get_close_matches(name, FUNCTIONS, n=1, cutoff=0.5)
        if not close:
            close = difflib.get_close_matches(name.lower(), FUNCTIONS, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]}?" if close else ""
        shown = name if len(name) <= 40 else name[:39] + "…"
        raise UnknownFunctionError(f"unknown function {shown!r}{hint}", column=column) from None


# ------------------------------------------------------------------ elementwise


def _sp():
    import sympy

    return sympy


def _uniform(lo: float, hi: float):
    return lambda rng, shape: rng.uniform(lo, hi, size=shape)


def _away_from_zero(lo: float, hi: float):
    def sample(rng, shape):
        mag = rng.uniform(lo, hi, size=shape)
        return mag * rng.choice([-1.0, 1.0], size=shape)

    return sample


#: the default sampling interval of a function defined on all reals
_REALS = _uniform(-2.0, 2.0)


def _unary(
    name: str,
    deriv: Callable[[Node, Node], Node],
    numpy: str,
    sympy: Callable[[Any], Any],
    unicode: str | None = None,
    latex: str | None = None,
    sample=_REALS,
    in_domain=None,
    aliases: tuple[str, ...] = (),
    numpy_helper: str = "",
    doc: str = "",
    domain_text: str = "all reals",
    values: tuple[float, float] = (-math.inf, math.inf),
) -> Elementwise:
    return Elementwise(
        name=name,
        partials=lambda args, out, varying: (deriv(args[0], out),),
        numpy=numpy,
        sympy=sympy,
        unicode=unicode or name,
        latex=latex or rf"\operatorname{{{name}}}",
        sample=sample,
        in_domain=in_domain,
        aliases=aliases,
        numpy_helper=numpy_helper,
        doc=doc,
        domain_text=domain_text,
        values=values,
    )


def _ap(fn: Elementwise, *args: Node) -> Node:
    return Apply(fn, tuple(args))


def _gt(a: Node, b: Node) -> Node:
    return Compare(">", a, b)


EXP = register(
    _unary(
        "exp",
        lambda x, out: out,
        "np.exp({0})",
        lambda x: _sp().exp(x),
        latex=r"\exp",
        sample=_uniform(-2.0, 2.0),
        values=(0.0, math.inf),
        doc="exp′(x) = exp(x)",
    )
)
LOG = register(
    _unary(
        "log",
        lambda x, out: B.reciprocal(x),
        "np.log({0})",
        lambda x: _sp().log(x),
        latex=r"\log",
        sample=_uniform(0.5, 2.5),
        in_domain=lambda x: x > 0,
        aliases=("ln",),
        doc="log′(x) = 1/x",
        domain_text="x > 0",
    )
)
SIN = register(
    _unary(
        "sin", lambda x, out: _ap(COS, x), "np.sin({0})", lambda x: _sp().sin(x), latex=r"\sin", values=(-1.0, 1.0), doc="sin′ = cos"
    )
)
COS = register(
    _unary(
        "cos",
        lambda x, out: B.neg(_ap(SIN, x)),
        "np.cos({0})",
        lambda x: _sp().cos(x),
        latex=r"\cos",
        values=(-1.0, 1.0),
        doc="cos′ = −sin",
    )
)
TAN = register(
    _unary(
        "tan",
        lambda x, out: B.add(B.ONE, B.power(out, B.TWO)),
        "np.tan({0})",
        lambda x: _sp().tan(x),
        latex=r"\tan",
        sample=_uniform(-1.2, 1.2),
        in_domain=lambda x: abs(x) < 1.5,
        doc="tan′(x) = 1 + tan²(x)",
        domain_text="|x| < π/2",
    )
)
TANH = register(
    _unary(
        "tanh",
        lambda x, out: B.sub(B.ONE, B.power(out, B.TWO)),
        "np.tanh({0})",
        lambda x: _sp().tanh(x),
        latex=r"\tanh",
        values=(-1.0, 1.0),
        doc="tanh′(x) = 1 − tanh²(x)",
    )
)
SINH = register(
    _unary("sinh", lambda x, out: _ap(COSH, x), "np.sinh({0})", lambda x: _sp().sinh(x), latex=r"\sinh", doc="sinh′ = cosh")
)
COSH = register(
    _unary(
        "cosh",
        lambda x, out: _ap(SINH, x),
        "np.cosh({0})",
        lambda x: _sp().cosh(x),
        latex=r"\cosh",
        values=(1.0, math.inf),
        doc="cosh′ = sinh",
    )
)
ARCTAN = register(
    _unary(
        "arctan",
        lambda x, out: B.reciprocal(B.add(B.ONE, B.power(x, B.TWO))),
        "np.arctan({0})",
        lambda x: _sp().atan(x),
        latex=r"\arctan",
        aliases=("atan",),
        values=(-math.pi / 2, math.pi / 2),
        doc="arctan′(x) = 1/(1 + x²)",
    )
)
def _inv_sqrt_one_minus_square(x: Node) -> Node:
    """1/√(1 − x²): ±the derivative of arcsin and arccos."""
    return B.power(B.sub(B.ones(x.shape), B.power(x, B.TWO)), B.const(Fraction(-1, 2)))


ARCSIN = register(
    _unary(
        "arcsin",
        lambda x, out: _inv_sqrt_one_minus_square(x),
        "np.arcsin({0})",
        lambda x: _sp().asin(x),
        latex=r"\arcsin",
        sample=_uniform(-0.8, 0.8),
        in_domain=lambda x: abs(x) < 1,
        aliases=("asin",),
        doc="arcsin′(x) = 1/√(1 − x²)",
        domain_text="|x| < 1",
    )
)
ARCCOS = register(
    _unary(
        "arccos",
        lambda x, out: B.neg(_inv_sqrt_one_minus_square(x)),
        "np.arccos({0})",
        lambda x: _sp().acos(x),
        latex=r"\arccos",
        sample=_uniform(-0.8, 0.8),
        in_domain=lambda x: abs(x) < 1,
        aliases=("acos",),
        doc="arccos′(x) = −1/√(1 − x²)",
        domain_text="|x| < 1",
    )
)
SIGMOID = register(
    _unary(
        "sigmoid",
        lambda x, out: B.mul(out, B.sub(B.ONE, out)),
        "sigmoid({0})",
        lambda x: 1 / (1 + _sp().exp(-x)),
        unicode="σ",
        latex=r"\sigma",
        aliases=("logistic", "expit", "logsig"),
        numpy_helper=(
            "def sigmoid(z):\n"
            '    """1/(1 + exp(-z)); for z < -709 exp(-z) overflows to inf and gives 0 (exactly: < 1e-308)."""\n'
            '    with np.errstate(over="ignore"):\n'
            "        return 1.0 / (1.0 + np.exp(-z))\n"
        ),
        values=(0.0, 1.0),
        doc="σ(x) = 1/(1 + e⁻ˣ); σ′ = σ(1 − σ)",
    )
)
RELU = register(
    _unary(
        "relu",
        lambda x, out: _gt(x, B.ZERO),
        "np.maximum({0}, 0.0)",
        lambda x: _sp().Max(0, x),
        sample=_away_from_zero(0.1, 2.0),
        values=(0.0, math.inf),
        doc="relu(x) = max(0, x); relu′(x) = (x > 0), taking 0 at the kink x = 0 as PyTorch does",
    )
)
SOFTPLUS = register(
    _unary(
        "softplus",
        lambda x, out: _ap(SIGMOID, x),
        "softplus({0})",
        lambda x: _sp().log(1 + _sp().exp(x)),
        numpy_helper="def softplus(z):\n    return np.logaddexp(0.0, z)\n",
        values=(0.0, math.inf),
        doc="softplus(x) = log(1 + eˣ); softplus′ = σ",
    )
)
LOG1P = register(
    _unary(
        "log1p",
        lambda x, out: B.reciprocal(B.add(B.ones(x.shape), x)),
        "np.log1p({0})",
        lambda x: _sp().log(1 + x),
        latex=r"\operatorname{log1p}",
        sample=_uniform(-0.5, 2.0),
        in_domain=lambda x: x > -1,
        doc="log1p(x) = log(1 + x), accurate near 0; log1p′(x) = 1/(1 + x)",
        domain_text="x > −1",
    )
)
EXPM1 = register(
    _unary(
        "expm1",
        lambda x, out: _ap(EXP, x),
        "np.expm1({0})",
        lambda x: _sp().exp(x) - 1,
        latex=r"\operatorname{expm1}",
        values=(-1.0, math.inf),
        doc="expm1(x) = eˣ − 1, accurate near 0; expm1′ = exp",
    )
)
ERF = register(
    _unary(
        "erf",
        lambda x, out: B.mul(B.TWO, B.power(Pi(), B.const(Fraction(-1, 2))), _ap(EXP, B.neg(B.power(x, B.TWO)))),
        "erf({0})",
        lambda x: _sp().erf(x),
        latex=r"\operatorname{erf}",
        numpy_helper=(
            "import math\n"
            "\n\n"
            "def erf(z):\n"
            '    """The error function, entry by entry (NumPy has none; math.erf is the C library\'s)."""\n'
            "    return np.vectorize(math.erf, otypes=[float])(z)\n"
        ),
        values=(-1.0, 1.0),
        doc="erf(x) = (2/√π) ∫₀ˣ e^(−t²) dt; erf′(x) = 2e^(−x²)/√π",
    )
)
SQRT = register(
    _unary(
        "sqrt",
        lambda x, out: B.mul(B.HALF, B.reciprocal(out)),
        "np.sqrt({0})",
        lambda x: _sp().sqrt(x),
        unicode="√",
        latex=r"\sqrt",
        sample=_uniform(0.5, 2.5),
        in_domain=lambda x: x > 0,
        values=(0.0, math.inf),
        doc="sqrt′(x) = 1/(2√x)",
        domain_text="x > 0",
    )
)
SIGN = register(
    _unary(
        "sign",
        lambda x, out: B.zero(x.shape),
        "np.sign({0})",
        lambda x: _sp().sign(x),
        latex=r"\operatorname{sign}",
        sample=_away_from_zero(0.1, 2.0),
        values=(-1.0, 1.0),
        doc="sign′ = 0 (away from 0)",
    )
)
ABS = register(
    _unary(
        "abs",
        lambda x, out: _ap(SIGN, x),
        "np.abs({0})",
        lambda x: _sp().Abs(x),
        latex=r"\operatorname{abs}",
        sample=_away_from_zero(0.1, 2.0),
        values=(0.0, math.inf),
        doc="|x|′ = sign(x), taking 0 at x = 0",
    )
)
SQUARE = register(
    _unary(
        "square",
        lambda x, out: B.mul(B.TWO, x),
        "np.square({0})",
        lambda x: x**2,
        values=(0.0, math.inf),
        doc="square′(x) = 2x",
    )
)


def _max_partials(args, out, varying):
    a, b = args
    if varying[0] and varying[1]:
        return Compare(">=", a, b), Compare("<", a, b)
    return Compare(">", a, b), Compare(">", b, a)


def _min_partials(args, out, varying):
    a, b = args
    if varying[0] and varying[1]:
        return Compare("<=", a, b), Compare(">", a, b)
    return Compare("<", a, b), Compare("<", b, a)


def _sample_pair(rng, shape):
    return rng.uniform(-2.0, 2.0, size=shape)


MAX = register(
    Elementwise(
        name="max",
        partials=_max_partials,
        numpy="np.maximum({0}, {1})",
        sympy=lambda a, b: _sp().Max(a, b),
        unicode="max",
        latex=r"\max",
        sample=_sample_pair,
        arity=2,
        aliases=("maximum",),
        alone="amax",
        doc=(
            "elementwise max(a, b); ∂/∂a = (a > b) when only a varies (so max(0, z)′ = (z > 0), 0 at the kink), "
            "and (a ≥ b), (a < b) when both vary (the tie goes to a)"
        ),
    )
)
MIN = register(
    Elementwise(
        name="min",
        partials=_min_partials,
        numpy="np.minimum({0}, {1})",
        sympy=lambda a, b: _sp().Min(a, b),
        unicode="min",
        latex=r"\min",
        sample=_sample_pair,
        arity=2,
        aliases=("minimum",),
        alone="amin",
        doc="elementwise min(a, b); subgradients as for max",
    )
)


# ------------------------------------------------------------------ structural


def _structural(name: str, signature: str, doc: str, aliases: tuple[str, ...] = ()):
    def deco(fn: Callable[[Checker, S.Call], Node]) -> Callable[[Checker, S.Call], Node]:
        register(Structural(name, fn, signature, doc, aliases))
        return fn

    return deco


def _keepdims(ck: Checker, ast: S.Expr | None) -> bool:
    """numpy's keepdims=True / False (1 / 0); matlab always keeps the orientation."""
    if ck.syntax == "matlab":
        return True
    if ast is None:
        return False
    from .syntax import Name, Number

    if isinstance(ast, Name) and ast.id in ("True", "False"):
        return ast.id == "True"
    if isinstance(ast, Number) and ast.text in ("0", "1"):
        return ast.text == "1"
    raise ck.arg_error("keepdims is True or False", ast)


def _whole(ck: Checker, call: S.Call, shape: Shape, axis: S.Expr | None) -> S.Expr | None:
    """The axis argument of a reduction, None for all entries (MATLAB's 'all' too).  In the
    matlab dialect a reduction of a matrix without one takes all entries, as
    matrixcalculus.org reads it, where MATLAB takes each column's: a note says so."""
    from .syntax import String

    if isinstance(axis, String) and axis.value == "all":
        return None
    name = call.func
    if axis is None and ck.syntax == "matlab" and shape.is_matrix and name != "sum" and ck.source[call.pos : call.pos + len(name)] == name:
        # (sum's reading is the documented one; var's own mean(X) is not the user's)
        columns = {"mean": "mean(X, 1)", "var": "var(X, 0, 1)", "std": "std(X, 0, 1)"}.get(name)
        ck.note(f"{name}(…) of a matrix takes all its entries here, as {name}(X, 'all'); MATLAB's takes each column's" + (f": write {columns} for those" if columns else ""))
    return axis


def _reduced(ck: Checker, call: S.Call, out: Node, keep: bool) -> Node:
    """A reduction's result: NumPy's 1-D array (a column, marked so that broadcasting
    treats it as NumPy does) unless keepdims holds the orientation."""
    return ck.mark_column(call, out) if keep else ck.mark_flat(call, out)


@_structural(
    "sum",
    "sum(X), sum(X, axis, keepdims)",
    "sum of all entries; numpy axis 0/1 (matlab 1/2) sums down columns / along rows",
)
def _build_sum(ck: Checker, call: S.Call) -> Node:
    x, axis, keepdims = ck.args(call, 1, optional=("axis", "keepdims"))
    node = ck.node(x)
    axis = _whole(ck, call, node.shape, axis)
    if axis is None:
        if keepdims is not None:
            raise ck.arg_error("keepdims needs an axis here (the sum of all entries is a scalar)", keepdims)
        return Sum(node)
    keep = _keepdims(ck, keepdims)
    return _reduced(ck, call, _sum_axis(node, ck.axis(axis, call), keep), keep)


def _sum_axis(node: Node, axis: int, keep: bool) -> Node:
    """axis 0 sums down the columns (a row, or NumPy's 1-D vector: a column here), axis 1
    along the rows (a column)."""
    s = node.shape
    if s.is_scalar:
        return node
    if axis == 0:
        if s.rows.is_one:
            return node if keep else B.transpose(node)
        if s.cols.is_one:
            return Sum(node)
        r = Sum(node, 0)
        return r if keep else B.transpose(r)
    if s.cols.is_one:
        return node
    if s.rows.is_one:
        return Sum(node)
    return Sum(node, 1)


def _along(node: Node, axis: int, make: Callable[[Node, int | None], Node], single: Node) -> Node:
    """An operation over each row (axis 1) or each column (axis 0: the rows of Xᵀ, transposed
    back) of ``node``; ``single`` when every row (column) has one entry, ``make(node, None)``
    when there is only one row (column)."""
    s = node.shape
    if (s.cols if axis == 1 else s.rows).is_one:
        return single
    if (s.rows if axis == 1 else s.cols).is_one:
        return make(node, None)
    if axis == 1:
        return make(node, 1)
    return B.transpose(make(B.transpose(node), 1))


def _extremum(op: str):
    def build(ck: Checker, call: S.Call) -> Node:
        x, axis, keepdims = ck.args(call, 1, optional=("axis", "keepdims"))
        node = ck.node(x)
        s = node.shape
        axis = _whole(ck, call, s, axis)
        if axis is None:
            if keepdims is not None:
                raise ck.arg_error(f"keepdims needs an axis here (the {op} of all entries is a scalar)", keepdims)
            return node if s.is_scalar else Extremum(node, op)
        keep = _keepdims(ck, keepdims)
        a = ck.axis(axis, call)
        out = _along(node, a, lambda v, ax: Extremum(v, op, ax), node)
        if a == 0 and not keep and out.shape.rows.is_one:
            out = B.transpose(out)  # NumPy's 1-D result, kept as a column
        return _reduced(ck, call, out, keep)

    return build


_structural(
    "amax",
    "max(X), amax(X), max(X, axis, keepdims)",
    "largest entry (of each column: axis 0; of each row: axis 1); its derivative is dX at the largest entry, "
    "shared equally by tied entries as in JAX and PyTorch",
)(_extremum("max"))
_structural("amin", "min(X), amin(X), min(X, axis, keepdims)", "smallest entry, as amax")(_extremum("min"))


def _arg_extremum(op: str):
    def build(ck: Checker, call: S.Call) -> Node:
        x, axis = ck.args(call, 1, optional=("axis",))
        node = ck.node(x)
        if node.shape.is_scalar:
            return B.ones(node.shape)
        if axis is None:
            return ArgExtremum(node, op)
        return _along(node, ck.axis(axis, call), lambda v, ax: ArgExtremum(v, op, ax), B.ones(node.shape))

    return build


_structural("is_max", "is_max(X), is_max(X, axis)", "1 where an entry is the largest (of all, or of its row: axis 1), else 0")(
    _arg_extremum("max")
)
_structural("is_min", "is_min(X), is_min(X, axis)", "1 where an entry is the smallest, else 0")(_arg_extremum("min"))


@_structural("mean", "mean(X), mean(X, axis, keepdims)", "mean of the entries (or along an axis)")
def _build_mean(ck: Checker, call: S.Call) -> Node:
    x, axis, keepdims = ck.args(call, 1, optional=("axis", "keepdims"))
    node = ck.node(x)
    s = node.shape
    keep = True
    axis = _whole(ck, call, s, axis)
    if axis is None:
        if keepdims is not None:
            raise ck.arg_error("keepdims needs an axis here (the mean of all entries is a scalar)", keepdims)
        total: Node = Sum(node) if not s.is_scalar else node
        count = s.size
    else:
        a = ck.axis(axis, call)
        keep = _keepdims(ck, keepdims)
        total = _sum_axis(node, a, keep)
        count = s.rows if a == 0 else s.cols
    out = total if count.is_one else B.mul(total, B.reciprocal(DimValue(count)))
    return _reduced(ck, call, out, keep)


def _deviation_sum(ck: Checker, call: S.Call) -> tuple[Node, bool]:
    """Σ (x − mean)² / (N − ddof) for var and std, over all entries or along an axis, and
    whether the result keeps its dimensions (else it is NumPy's 1-D array)."""
    from .syntax import Call, Name, Number, String

    if ck.syntax == "matlab":
        # MATLAB's var(A, w, dim): w = 0 (the default) normalises by N − 1, w = 1 by N
        x, w, axis = ck.args(call, 1, optional=("w", "dim"))
        if isinstance(w, String) and w.value == "all":  # var(X, 'all')
            w, axis = None, w
        ddof_ast = keepdims = unbiased = None
        ddof = 1 - (ck.int_arg(w, (0, 1)) if w is not None else 0)
    else:
        if len(call.args) > 2:
            raise ck.arg_error(f"{call.func}() takes the array and an axis by position; pass ddof and keepdims by name", call.args[2])
        x, axis, ddof_ast, unbiased, keepdims = ck.args(call, 1, optional=("axis", "ddof", "unbiased", "keepdims"))
        ddof = 0
    if ddof_ast is not None and unbiased is not None:
        raise ck.arg_error(f"{call.func}() takes ddof (correction) or unbiased, not both", unbiased)
    if ddof_ast is not None:
        value = ddof_ast.value if isinstance(ddof_ast, Number) else None
        if value is None or value.denominator != 1 or value > 16:
            raise ck.arg_error(f"{call.func}()'s ddof is a whole number such as 0 or 1", ddof_ast)
        ddof = int(value)
    elif unbiased is not None:
        if not (isinstance(unbiased, Name) and unbiased.id in ("True", "False")):
            raise ck.arg_error("unbiased is True or False", unbiased)
        ddof = int(unbiased.id == "True")
    axis = _whole(ck, call, ck.node(x).shape, axis)
    at = _At(call)
    kw: tuple = () if axis is None else (("axis", axis),)
    centre = Call("mean", (x,), (*kw, ("keepdims", Name("True", call.pos))) if kw else (), call.pos)
    squares = at.op("pow", at.op("sub", x, centre), at.num("2"))
    keep = axis is None or _keepdims(ck, keepdims)
    if axis is None and keepdims is not None:
        raise ck.arg_error("keepdims needs an axis here (the variance of all entries is a scalar)", keepdims)
    total = ck.node(Call("sum", (squares,), (*kw, ("keepdims", Number("1" if keep else "0", call.pos))) if kw else (), call.pos))
    shape = ck.node(x).shape
    count = shape.size if axis is None else shape.rows if ck.axis(axis, call) == 0 else shape.cols
    n = B.const(count.coef) if count.is_int else DimValue(count)
    if ddof and count.is_int and count.coef <= ddof:
        raise ck.arg_error(f"{call.func}() with ddof={ddof} needs more than {ddof} entries", call)
    return B.mul(total, B.reciprocal(B.add(n, B.const(-ddof)) if ddof else n)), keep


@_structural(
    "var",
    "var(X), var(X, axis, ddof=0, keepdims)",
    "Σ(X − mean X)²/(N − ddof), of all entries or along an axis; ddof (PyTorch: correction, unbiased) "
    "is 0 as in NumPy, and 1 as in PyTorch when called as torch.var; matlab dialect: var(A, w, dim), N − 1 unless w = 1",
)
def _build_var(ck: Checker, call: S.Call) -> Node:
    out, keep = _deviation_sum(ck, call)
    return _reduced(ck, call, out, keep)


@_structural("std", "std(X), std(X, axis, ddof=0, keepdims)", "√var(X): the standard deviation, as var")
def _build_std(ck: Checker, call: S.Call) -> Node:
    out, keep = _deviation_sum(ck, call)
    return _reduced(ck, call, Apply(SQRT, (out,)), keep)


@_structural("dot", "dot(a, b)", "inner product aᵀb of two vectors (a matrix product for matrices)")
def _build_dot(ck: Checker, call: S.Call) -> Node:
    a_ast, b_ast = ck.args(call, 2)
    a, b = ck.node(a_ast), ck.node(b_ast)
    if a.shape.is_scalar or b.shape.is_scalar:
        return B.mul(a, b)
    if a.shape.is_matrix or b.shape.is_matrix:
        return ck.matmul(a, b, call, a_ast, b_ast)
    a = a if a.shape.is_vector else B.transpose(a)
    b = b if b.shape.is_vector else B.transpose(b)
    ck.unify(a.shape.rows, b.shape.rows, call, lambda: f"dot: {ck.describe(a_ast, a)} and {ck.describe(b_ast, b)} differ in length")
    return B.matmul(B.transpose(a), b)


@_structural("outer", "outer(a, b)", "outer product abᵀ of two vectors")
def _build_outer(ck: Checker, call: S.Call) -> Node:
    a_ast, b_ast = ck.args(call, 2)
    a, b = ck.node(a_ast), ck.node(b_ast)
    for n, ast in ((a, a_ast), (b, b_ast)):
        if n.shape.is_matrix:
            raise ck.error(f"outer takes vectors, but {ck.describe(ast, n)} is a matrix", ast)
    a = a if not a.shape.is_row else B.transpose(a)
    b = b if not b.shape.is_row else B.transpose(b)
    return B.matmul(a, B.transpose(b))


def _square(ck: Checker, call: S.Call, what: str) -> Node:
    (x_ast,) = ck.args(call, 1)
    x = ck.node(x_ast)
    if x.shape.is_scalar:
        return x
    ck.unify(x.shape.rows, x.shape.cols, call, lambda: f"{what} needs a square matrix, but {ck.describe(x_ast, x)} is not square")
    return ck.resolve_node(x)


@_structural("prod", "prod(X)", "the product of all entries (its derivative prod(X)/X holds where no entry is 0)")
def _build_prod(ck: Checker, call: S.Call) -> Node:
    x_ast, axis = ck.args(call, 1, optional=("axis",))
    x = ck.node(x_ast)
    axis = _whole(ck, call, x.shape, axis)
    if axis is not None:
        raise ck.unsupported("prod along an axis is not part of the language; prod(X) multiplies all entries", axis)
    return x if x.shape.is_scalar else Prod(x)


@_structural("tr", "tr(X)", "trace of a square matrix", aliases=("trace",))
def _build_tr(ck: Checker, call: S.Call) -> Node:
    x = _square(ck, call, "tr")
    return x if x.shape.is_scalar else Trace(x)


@_structural("det", "det(X)", "determinant of a square matrix")
def _build_det(ck: Checker, call: S.Call) -> Node:
    x = _square(ck, call, "det")
    return x if x.shape.is_scalar else Det(x)


@_structural("logdet", "logdet(X)", "log det X, for det X > 0")
def _build_logdet(ck: Checker, call: S.Call) -> Node:
    x = _square(ck, call, "logdet")
    return Apply(LOG, (x,)) if x.shape.is_scalar else LogDet(x)


@_structural("inv", "inv(X)", "matrix inverse", aliases=("inverse",))
def _build_inv(ck: Checker, call: S.Call) -> Node:
    (x_ast,) = ck.args(call, 1)
    return ck.inverse(ck.node(x_ast), x_ast, call)


@_structural(
    "expm",
    "expm(X)",
    "matrix exponential e^X (differentiable inside a trace, tr(e^X), and along a fixed direction, e^{tA} by t)",
)
def _build_expm(ck: Checker, call: S.Call) -> Node:
    x = _square(ck, call, "expm")
    if x.shape.is_scalar:
        return Apply(EXP, (x,))
    if B.is_zero(x):
        return B.identity(x.shape.rows)
    return Expm(x)


@_structural("diag", "diag(v), diag(X)", "vector → diagonal matrix; square matrix → its diagonal")
def _build_diag(ck: Checker, call: S.Call) -> Node:
    (x_ast,) = ck.args(call, 1)
    x = ck.node(x_ast)
    s = x.shape
    if s.is_scalar:
        return x
    if s.is_vector:
        return Diag(x)
    if s.is_row:
        return Diag(B.transpose(x))
    x = _square(ck, call, "diag of a matrix")
    return DiagPart(x)


@_structural(
    "norm",
    "norm(X), norm(X, p)",
    "Euclidean / Frobenius norm (p = 2, 'fro'); p = 1: sum of |entries|; of a vector any p > 1, (Σ|xᵢ|^p)^(1/p), and inf (a matrix's operator norms are refused)",
    aliases=("norm2",),
)
def _build_norm(ck: Checker, call: S.Call) -> Node:
    from .syntax import Name, Neg, Number, String

    x_ast, p_ast, axis, keepdims = ck.args(call, 1, optional=("ord", "axis", "keepdims"))
    if axis is not None:
        # the norms of the rows (axis 1) or columns (axis 0): NumPy's norm(X, axis=1)
        at = _At(call)
        if p_ast is None or (isinstance(p_ast, Number) and p_ast.value == 2):
            body = at.fn("sqrt", at.S.Call("sum", (at.op("pow", x_ast, at.num("2")), axis), (("keepdims", keepdims),) if keepdims else (), call.pos))
        elif isinstance(p_ast, Number) and p_ast.value == 1:
            body = at.S.Call("sum", (at.fn("abs", x_ast), axis), (("keepdims", keepdims),) if keepdims else (), call.pos)
        else:
            raise ck.unsupported("norm along an axis supports ord=2 (Euclidean) and ord=1", p_ast)
        return ck.node(body)
    if keepdims is not None:
        raise ck.arg_error("keepdims needs an axis here", keepdims)
    x = ck.node(x_ast)
    where = p_ast if p_ast is not None else call
    if p_ast is None:
        p: int | str = 2
    elif isinstance(p_ast, (Name, String)) and (p_ast.id if isinstance(p_ast, Name) else p_ast.value) == "fro":
        p = "fro"
    elif _no_bound(p_ast) and p_ast is not None and not isinstance(p_ast, String) and x.shape.cols.is_one:
        # the max norm of a vector, max |xᵢ| (−inf: the smallest |xᵢ|)
        at = _At(call)
        return ck.node(at.fn("amin" if isinstance(p_ast, Neg) else "amax", at.fn("abs", x_ast)))
    elif isinstance(p_ast, Number) and p_ast.value in (1, 2):
        p = int(p_ast.value)
    elif isinstance(p_ast, Number) and p_ast.value > 1 and x.shape.cols.is_one:
        # the p-norm of a vector, (Σ|xᵢ|^p)^(1/p)
        return ck.node(_p_norm(_At(call), x_ast, p_ast))
    else:
        raise ck.unsupported(
            "norm supports ord=2 (Euclidean; for a matrix 'fro', the Frobenius norm), ord=1 (sum of |entries|) "
            "and, of a vector, any ord > 1 and inf",
            where,
        )
    # NumPy's norm(X, 2) and norm(X, 1) of a matrix, and MATLAB's norm(X), are operator
    # norms (largest singular value, largest column sum), not the entrywise norms
    # matcalc differentiates: refuse rather than answer a different question.
    # (norm2(X) is matrixcalculus.org's: the Frobenius norm.)
    if x.shape.is_matrix and (p in (1, 2) if p_ast is not None else ck.syntax == "matlab" and call.func == "norm"):
        what = "largest singular value" if p == 2 else "largest absolute column sum"
        raise ck.unsupported(
            f"{'norm(X)' if p_ast is None else f'norm(X, {p})'} of a matrix is its operator norm ({what}), "
            "which matcalc cannot differentiate; norm(X, 'fro') is the Frobenius norm, norm1(X) the sum of |entries|",
            where,
        )
    return Norm(x, 1 if p == 1 else 2)


def _p_norm(at: _At, x: S.Expr, p: S.Number, axis: S.Expr | None = None) -> S.Expr:
    """(Σ|xᵢ|^p)^(1/p) over every entry (or along axis); an even p needs no |·|."""
    v = p.value
    entries = at.op("pow", x if v.denominator == 1 and v % 2 == 0 else at.fn("abs", x), p)
    total = at.fn("sum", entries) if axis is None else at.fn("sum", entries, axis)
    return at.op("pow", total, at.op("div", at.num("1"), p))


@_structural("norm1", "norm1(X)", "sum of absolute values of the entries")
def _build_norm1(ck: Checker, call: S.Call) -> Node:
    (x_ast,) = ck.args(call, 1)
    return Norm(ck.node(x_ast), 1)


def _all_entries(axis: S.Expr | None) -> bool:
    """axis=None, written out: over every entry (SciPy's and JAX's default)."""
    from .syntax import Name

    return isinstance(axis, Name) and axis.id == "None"


def _over(s: Shape, axis: int | None) -> str:
    """What softmax / logsumexp along ``axis`` run over, for a value of shape ``s``:
    "single" (every group is one entry), "columns" (each column of a matrix), or
    "natural" (their own rule: a whole vector, or each row of a matrix)."""
    if (axis == 0 and s.rows.is_one) or (axis == 1 and s.cols.is_one):
        return "single"
    if axis == 0 and not s.cols.is_one:
        return "columns"
    return "natural"


@_structural(
    "softmax",
    "softmax(z), softmax(Z, axis)",
    "softmax of a vector; of each row of a matrix (axis 1, the default for a matrix) or each column (axis 0)",
)
def _build_softmax(ck: Checker, call: S.Call) -> Node:
    x_ast, axis = ck.args(call, 1, optional=("axis",))
    x = ck.node(x_ast)
    s = x.shape
    if s.is_scalar:
        return B.ONE
    if _all_entries(axis) and s.is_matrix:  # over every entry: unvec(softmax(vec X))
        return Unvec(Softmax(Vec(x)), s)
    over = _over(s, None if axis is None or _all_entries(axis) else ck.axis(axis, call))
    if over == "single":
        return B.ones(s)
    return B.transpose(Softmax(B.transpose(x))) if over == "columns" else Softmax(x)


@_structural(
    "logsumexp",
    "logsumexp(z), logsumexp(Z, axis, keepdims)",
    "log Σ exp of a vector (a scalar); of each row of a matrix (a vector; axis 1, the default) or each column (axis 0)",
)
def _build_logsumexp(ck: Checker, call: S.Call) -> Node:
    x_ast, axis, keepdims = ck.args(call, 1, optional=("axis", "keepdims"))
    x = ck.node(x_ast)
    s = x.shape
    if s.is_scalar:
        return x
    if axis is None or _all_entries(axis):
        if keepdims is not None and axis is None:
            raise ck.arg_error("keepdims needs an axis here", keepdims)
        # of a matrix: log Σ exp over its rows, or over every entry with axis=None
        return LogSumExp(Vec(x) if axis is not None and s.is_matrix else x)
    a = ck.axis(axis, call)
    keep = _keepdims(ck, keepdims)
    over = _over(s, a)
    # along the rows the result is a column; down the columns a row (or NumPy's 1-D
    # vector, a column here); over single entries it is the entries themselves
    out: Node = x if over == "single" else LogSumExp(B.transpose(x) if over == "columns" else x)
    if a == 0 and not out.shape.is_scalar and out.shape.rows.is_one != keep:
        out = B.transpose(out)
    return _reduced(ck, call, out, keep)


# ------------------------------------------------------------------ functions written with others
#
# Each is rewritten, as syntax at the call's position, into functions above, so shapes,
# broadcasting, derivatives, printing and code generation are theirs.


def _rewrite(ck: Checker, call: S.Call, build: Callable[..., S.Expr], n: int, optional: Sequence[tuple[str, str]] = ()) -> Node:
    """Check ``build(arg asts…)``: ``n`` required arguments, then optional (name, default) ones."""
    from .syntax import Number

    got = ck.args(call, n, optional=tuple(name for name, _ in optional))
    defaults = [Number(text, call.pos) for _, text in optional]
    asts = got[:n] + [a if a is not None else d for a, d in zip(got[n:], defaults)]
    return ck.node(build(*asts))


class _At:
    """Syntax nodes placed at a call's position (what a rewritten call is made of)."""

    def __init__(self, call: S.Call):
        from . import syntax

        self.S, self.pos = syntax, call.pos

    def fn(self, name: str, *args: S.Expr, **keywords: S.Expr) -> S.Expr:
        return self.S.Call(name, tuple(args), tuple(keywords.items()), self.pos)

    def rows(self, name: str, x: S.Expr) -> S.Expr:
        """name(x, axis=1): a reduction of each row (norm, sum)."""
        return self.fn(name, x, axis=self.num("1"))

    def op(self, o: str, a: S.Expr, b: S.Expr) -> S.Expr:
        return self.S.BinOp(o, a, b, self.pos)

    def num(self, text: str) -> S.Expr:
        return self.S.Number(text, self.pos)

    def neg(self, a: S.Expr) -> S.Expr:
        return self.S.Neg(a, self.pos)

    def cmp(self, o: str, a: S.Expr, b: S.Expr) -> S.Expr:
        return self.S.Compare(o, a, b, self.pos)


@_structural("silu", "silu(x)", "x ⊙ σ(x) (the swish activation)", aliases=("swish",))
def _build_silu(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.op("mul", x, at.fn("sigmoid", x)), 1)


@_structural("log_sigmoid", "log_sigmoid(x)", "log σ(x) = −softplus(−x)", aliases=("logsigmoid",))
def _build_log_sigmoid(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.neg(at.fn("softplus", at.neg(x))), 1)


@_structural(
    "leaky_relu",
    "leaky_relu(x, negative_slope)",
    "relu(x) − a relu(−x): slope a (default 0.01) below 0",
)
def _build_leaky_relu(ck: Checker, call: S.Call) -> Node:
    at = _At(call)

    def build(x: S.Expr, a: S.Expr) -> S.Expr:
        return at.op("sub", at.fn("relu", x), at.op("mul", a, at.fn("relu", at.neg(x))))

    return _rewrite(ck, call, build, 1, (("negative_slope", "0.01"),))


@_structural("elu", "elu(x, alpha)", "x for x > 0, α(eˣ − 1) below (α = 1 by default)")
def _build_elu(ck: Checker, call: S.Call) -> Node:
    at = _At(call)

    def build(x: S.Expr, a: S.Expr) -> S.Expr:
        above = at.op("mul", at.cmp(">", x, at.num("0")), x)
        below = at.op("mul", at.op("mul", a, at.cmp("<=", x, at.num("0"))), at.fn("expm1", x))
        return at.op("add", above, below)

    return _rewrite(ck, call, build, 1, (("alpha", "1"),))


def _log_base(base: str):
    def build(ck: Checker, call: S.Call) -> Node:
        at = _At(call)
        return _rewrite(ck, call, lambda x: at.op("div", at.fn("log", x), at.fn("log", at.num(base))), 1)

    return build


_structural("log2", "log2(x)", "log(x)/log(2)")(_log_base("2"))
_structural("log10", "log10(x)", "log(x)/log(10)")(_log_base("10"))


@_structural("reciprocal", "reciprocal(x)", "1/x, entry by entry")
def _build_reciprocal(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.op("div", at.num("1"), x), 1)


@_structural("cbrt", "cbrt(x)", "the real cube root sign(x)|x|^(1/3)")
def _build_cbrt(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.op("mul", at.fn("sign", x), at.op("pow", at.fn("abs", x), at.op("div", at.num("1"), at.num("3")))), 1)


@_structural("rsqrt", "rsqrt(x)", "1/√x, entry by entry (PyTorch's rsqrt)")
def _build_rsqrt(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.op("div", at.num("1"), at.fn("sqrt", x)), 1)


@_structural("logit", "logit(p)", "log(p/(1 − p)) = log p − log(1 − p), the inverse of σ")
def _build_logit(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda p: at.op("sub", at.fn("log", p), at.fn("log", at.op("sub", at.num("1"), p))), 1)


@_structural("softsign", "softsign(x)", "x/(1 + |x|)")
def _build_softsign(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.op("div", x, at.op("add", at.num("1"), at.fn("abs", x))), 1)


@_structural("mish", "mish(x)", "x tanh(softplus(x))")
def _build_mish(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.op("mul", x, at.fn("tanh", at.fn("softplus", x))), 1)


@_structural("relu6", "relu6(x)", "clip(x, 0, 6)")
def _build_relu6(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.fn("clip", x, at.num("0"), at.num("6")), 1)


@_structural("hardtanh", "hardtanh(x, min_val, max_val)", "clip(x, −1, 1) (bounds min_val, max_val)")
def _build_hardtanh(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x, lo, hi: at.fn("clip", x, lo, hi), 1, (("min_val", "-1"), ("max_val", "1")))


@_structural("hardsigmoid", "hardsigmoid(x)", "clip(x + 3, 0, 6)/6")
def _build_hardsigmoid(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.op("div", at.fn("clip", at.op("add", x, at.num("3")), at.num("0"), at.num("6")), at.num("6")), 1)


@_structural("hardswish", "hardswish(x)", "x clip(x + 3, 0, 6)/6")
def _build_hardswish(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(
        ck, call, lambda x: at.op("div", at.op("mul", x, at.fn("clip", at.op("add", x, at.num("3")), at.num("0"), at.num("6"))), at.num("6")), 1
    )


@_structural("celu", "celu(x, alpha)", "max(0, x) + min(0, α(e^{x/α} − 1)) (α = 1 by default)")
def _build_celu(ck: Checker, call: S.Call) -> Node:
    at = _At(call)

    def build(x: S.Expr, a: S.Expr) -> S.Expr:
        return at.op("add", at.fn("relu", x), at.fn("min", at.num("0"), at.op("mul", a, at.fn("expm1", at.op("div", x, a)))))

    return _rewrite(ck, call, build, 1, (("alpha", "1"),))


#: SELU's constants (Klambauer et al., 2017), as PyTorch and JAX use them
_SELU_ALPHA, _SELU_SCALE = "1.6732632423543772", "1.0507009873554805"


@_structural("selu", "selu(x)", "λ elu(x, α), λ ≈ 1.0507, α ≈ 1.6733")
def _build_selu(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.op("mul", at.num(_SELU_SCALE), at.S.Call("elu", (x, at.num(_SELU_ALPHA)), (), call.pos)), 1)


def _loss(name: str, describe: str, pointwise: Callable[[_At, S.Expr, S.Expr, S.Expr | None], S.Expr], extra: tuple[tuple[str, str], ...] = ()):
    """PyTorch's F.<name>(input, target, reduction='mean'): the pointwise loss, averaged,
    summed ('sum') or kept ('none')."""
    from .syntax import String

    def build(ck: Checker, call: S.Call) -> Node:
        names = ("reduction", *(k for k, _ in extra))
        a, b, reduction, *rest = ck.args(call, 2, optional=names)
        mode = "mean" if reduction is None else reduction.value if isinstance(reduction, String) else ""
        if mode not in ("mean", "sum", "none"):
            raise ck.arg_error(f"{call.func}'s reduction is 'mean', 'sum' or 'none'", reduction)
        at = _At(call)
        args = [r if r is not None else at.num(default) for r, (_, default) in zip(rest, extra)]
        body = pointwise(at, a, b, *args)
        return ck.node(body if mode == "none" else at.fn(mode, body))

    _structural(name, f"{name}(input, target, reduction='mean')", describe)(build)


_loss("mse_loss", "mean((input − target)²) (PyTorch's F.mse_loss)", lambda at, a, b: at.op("pow", at.op("sub", a, b), at.num("2")))
_loss("l1_loss", "mean(|input − target|) (PyTorch's F.l1_loss)", lambda at, a, b: at.fn("abs", at.op("sub", a, b)))
_loss(
    "binary_cross_entropy",
    "mean(−(t log p + (1 − t) log(1 − p))) (PyTorch's F.binary_cross_entropy)",
    lambda at, p, t: at.neg(
        at.op("add", at.op("mul", t, at.fn("log", p)), at.op("mul", at.op("sub", at.num("1"), t), at.fn("log", at.op("sub", at.num("1"), p))))
    ),
)
_loss(
    "binary_cross_entropy_with_logits",
    "mean(softplus(z) − t z) = mean(−(t log σ(z) + (1 − t) log(1 − σ(z)))) (PyTorch's F.binary_cross_entropy_with_logits)",
    lambda at, z, t: at.op("sub", at.fn("softplus", z), at.op("mul", t, z)),
)
_loss(
    "huber_loss",
    "mean of ½d² where |d| < δ, else δ(|d| − ½δ); d = input − target, δ = delta (1 by default)",
    lambda at, a, b, delta: at.fn(
        "where",
        at.cmp("<", at.fn("abs", at.op("sub", a, b)), delta),
        at.op("div", at.op("pow", at.op("sub", a, b), at.num("2")), at.num("2")),
        at.op("mul", delta, at.op("sub", at.fn("abs", at.op("sub", a, b)), at.op("div", delta, at.num("2")))),
    ),
    (("delta", "1"),),
)
_loss(
    "smooth_l1_loss",
    "mean of ½d²/β where |d| < β, else |d| − ½β: the Huber loss with δ = β, divided by β (beta 1 by default)",
    lambda at, a, b, beta: at.op(
        "div", at.S.Call("huber_loss", (a, b), (("reduction", at.S.String("none", at.pos)), ("delta", beta)), at.pos), beta
    ),
    (("beta", "1"),),
)


@_structural(
    "cross_entropy",
    "cross_entropy(Z, Y, reduction='mean')",
    "−Σ Y ⊙ log_softmax(Z) over each row (PyTorch's F.cross_entropy with class probabilities; a vector z: one sample)",
)
def _build_cross_entropy(ck: Checker, call: S.Call) -> Node:
    from .syntax import String

    z_ast, y_ast, reduction = ck.args(call, 2, optional=("reduction",))
    z, y = ck.node(z_ast), ck.node(y_ast)
    mode = "mean" if reduction is None else reduction.value if isinstance(reduction, String) else ""
    if mode not in ("mean", "sum", "none"):
        raise ck.arg_error("cross_entropy's reduction is 'mean', 'sum' or 'none'", reduction)
    at = _At(call)
    if not z.shape.is_matrix:  # one sample: logits z, class probabilities y
        return ck.node(at.neg(at.fn("sum", at.op("mul", y_ast, at.fn("log_softmax", z_ast)))))
    if not y.shape.is_matrix:
        raise ck.unsupported(
            "cross_entropy with class indices needs them one-hot: a matrix Y of class probabilities, one row per sample", y_ast
        )
    rows = at.neg(at.S.Call("sum", (at.op("mul", y_ast, at.S.Call("log_softmax", (z_ast, at.num("1")), (), call.pos)), at.num("1")), (), call.pos))
    return ck.node(rows if mode == "none" else at.fn(mode, rows))


# ---- NumPy's and PyTorch's spellings of arithmetic and of common layers and losses


def _arithmetic(name: str, op: str, symbol: str, aliases: tuple[str, ...], scaled: bool = False) -> None:
    def build(ck: Checker, call: S.Call) -> Node:
        at = _At(call)
        a, b, *alpha = ck.args(call, 2, optional=("alpha",) if scaled else ())
        return ck.node(at.op(op, a, b if not alpha or alpha[0] is None else at.op("mul", alpha[0], b)))

    extra = ", alpha" if scaled else ""
    _structural(name, f"{name}(a, b{extra})", f"a {symbol} b{' (PyTorch: a ' + symbol + ' alpha·b)' if scaled else ''}, entry by entry with broadcasting", aliases)(build)


_arithmetic("add", "add", "+", (), scaled=True)
_arithmetic("subtract", "sub", "−", ("sub",), scaled=True)
_arithmetic("multiply", "mul", "⊙", ("mul",))
_arithmetic("divide", "div", "/", ("div", "true_divide"))


@_structural("addmm", "addmm(b, X, W)", "b + X W (PyTorch's addmm and addmv; beta and alpha scale the two)", aliases=("addmv",))
def _build_addmm(ck: Checker, call: S.Call) -> Node:
    b, x, w, beta, alpha = ck.args(call, 3, optional=("beta", "alpha"))
    _vector_operand(ck, w)
    at = _At(call)
    prod = at.op("matmul", x, w)
    return ck.node(at.op("add", b if beta is None else at.op("mul", beta, b), prod if alpha is None else at.op("mul", alpha, prod)))


@_structural("linear", "linear(x, W, b)", "x Wᵀ + b (PyTorch's F.linear: one sample x gives W x + b, a batch X one row each)")
def _build_linear(ck: Checker, call: S.Call) -> Node:
    x, w, b = ck.args(call, 2, optional=("bias",))
    _vector_operand(ck, x)
    at = _At(call)
    # one sample: W x (what NumPy's 1-D x @ W.T is, in either dialect); a batch: X Wᵀ
    out = at.op("matmul", w, x) if ck.node(x).shape.cols.is_one else at.op("matmul", x, at.S.Transpose(w, call.pos))
    return ck.node(out if b is None or (isinstance(b, at.S.Name) and b.id == "None") else at.op("add", out, b))


@_structural(
    "|·|", "|a|, |X|", "the absolute value of a scalar; of a square matrix its determinant, as statistics texts write log|Σ| (a vector's is refused)"
)
def _build_bars(ck: Checker, call: S.Call) -> Node:
    (a,) = ck.args(call, 1)
    s = ck.node(a).shape
    if s.is_scalar:
        return ck.node(_At(call).fn("abs", a))
    if s.is_matrix:
        # Bishop's and Murphy's log|Σ|: a matrix's entries in bars are rarer than its determinant
        from .printing.source import unparse

        what = unparse(a, ck.syntax)
        ck.note(f"|{what}| is read as det({what}), as statistics texts write it; for the entries' absolute values write abs({what})")
        return ck.node(_At(call).fn("det", a))
    raise ck.error("|…| of a vector means different things in different texts: write norm(x) for the length, abs(x) for the entries' absolute values", call)


@_structural("softmin", "softmin(z), softmin(Z, axis)", "softmax(−z): of a vector, or of each row (or, axis 0, column) of a matrix (PyTorch's F.softmin)")
def _build_softmin(ck: Checker, call: S.Call) -> Node:
    z, axis = ck.args(call, 1, optional=("axis",))
    at = _At(call)
    return ck.node(at.fn("softmax", at.neg(z)) if axis is None else at.fn("softmax", at.neg(z), axis))


@_structural(
    "normalize",
    "normalize(x, p=2, dim=1)",
    "x/‖x‖; of a matrix, each row over its norm (dim 1, the default) or each column (dim 0) (PyTorch's F.normalize, "
    "whose eps guard, max(‖x‖, 1e-12), is left out)",
)
def _build_normalize(ck: Checker, call: S.Call) -> Node:
    x, p, axis, _eps = ck.args(call, 1, optional=("ord", "axis", "eps"))  # PyTorch's p= is ord=
    at = _At(call)
    if p is not None and ck.int_arg(p, (2,)) != 2:
        raise ck.arg_error("normalize divides by the Euclidean norm here (p=2)", p)
    if not ck.node(x).shape.is_matrix:
        return ck.node(at.op("div", x, at.fn("norm", x)))
    a = 1 if axis is None else ck.axis(axis, call)
    keep = at.S.Name("True", call.pos)
    return ck.node(at.op("div", x, at.fn("norm", x, axis=at.num(str(a)), keepdims=keep)))


@_structural(
    "vector_norm",
    "vector_norm(X, ord=2, dim=None)",
    "the norm of all entries taken as one vector (ord 2: Euclidean, 1: sum of |entries|), or along dim (PyTorch's torch.linalg.vector_norm)",
)
def _build_vector_norm(ck: Checker, call: S.Call) -> Node:
    from .syntax import Number

    x, order, axis, keepdims = ck.args(call, 1, optional=("ord", "axis", "keepdims"))
    at = _At(call)
    if order is not None and not (isinstance(order, Number) and order.value >= 1):
        raise ck.arg_error("vector_norm takes a number ord ≥ 1 here", order)
    p = 2 if order is None else order.value
    if axis is not None:
        if p != 2:
            raise ck.arg_error("along an axis, vector_norm is Euclidean here (ord=2)", order)
        return ck.node(at.fn("norm", x, axis=axis, **({} if keepdims is None else {"keepdims": keepdims})))
    if keepdims is not None:
        raise ck.arg_error("keepdims needs dim here", keepdims)
    # every entry as one vector, in either dialect (MATLAB's norm(X) would be the operator norm)
    return Norm(ck.node(x), int(p)) if p in (1, 2) else ck.node(_p_norm(at, x, order))


@_structural("dist", "dist(x, y, p=2)", "‖x − y‖ (PyTorch's torch.dist; p = 1 for the sum of absolute differences)")
def _build_dist(ck: Checker, call: S.Call) -> Node:
    x, y, p = ck.args(call, 2, optional=("p",))
    at = _At(call)
    order = 2 if p is None else ck.int_arg(p, (1, 2))
    return ck.node(at.fn("norm" if order == 2 else "norm1", at.op("sub", x, y)))


@_structural(
    "pairwise_distance",
    "pairwise_distance(u, v, p=2, eps=1e-6)",
    "‖u − v + eps‖ (PyTorch's F.pairwise_distance; for matrices, of each row)",
)
def _build_pairwise_distance(ck: Checker, call: S.Call) -> Node:
    u, v, p, eps = ck.args(call, 2, optional=("p", "eps"))
    at = _At(call)
    if p is not None and not (isinstance(p, at.S.Number) and p.value == 2):
        raise ck.arg_error("pairwise_distance is the Euclidean distance here (p=2)", p)
    diff = at.op("add", at.op("sub", u, v), eps if eps is not None else at.num("1e-6"))
    return ck.node(at.rows("norm", diff) if ck.node(u).shape.is_matrix else at.fn("norm", diff))


@_structural(
    "cosine_similarity",
    "cosine_similarity(u, v, dim=1)",
    "uᵀv/(‖u‖‖v‖) (PyTorch's F.cosine_similarity: of two vectors, or of each pair of rows; its eps clamp is left out)",
)
def _build_cosine_similarity(ck: Checker, call: S.Call) -> Node:
    u, v, axis, _eps = ck.args(call, 2, optional=("axis", "eps"))
    at = _At(call)
    mu, mv = ck.node(u).shape.is_matrix, ck.node(v).shape.is_matrix
    if mu != mv:  # a batch against one vector: each row against it
        batch, vec = (u, v) if mu else (v, u)
        return ck.node(at.op("div", at.op("matmul", batch, vec), at.op("mul", at.rows("norm", batch), at.fn("norm", vec))))
    if mu:
        if axis is not None and ck.axis(axis, call) != 1:
            raise ck.arg_error("cosine_similarity of matrices compares rows here (dim=1)", axis)
        return ck.node(at.op("div", at.rows("sum", at.op("mul", u, v)), at.op("mul", at.rows("norm", u), at.rows("norm", v))))
    return ck.node(at.op("div", at.fn("dot", u, v), at.op("mul", at.fn("norm", u), at.fn("norm", v))))


@_structural(
    "scaled_dot_product_attention",
    "scaled_dot_product_attention(Q, K, V)",
    "softmax(Q Kᵀ/√d) V, the softmax along each row, d = the columns of K (PyTorch's F.scaled_dot_product_attention)",
)
def _build_attention(ck: Checker, call: S.Call) -> Node:
    q_ast, k_ast, v_ast = ck.args(call, 3)
    at = _At(call)
    scores = ck.node(at.op("matmul", q_ast, at.S.Transpose(k_ast, call.pos)))
    d = ck.shape(ck.node(k_ast)).cols
    root = math.isqrt(d.coef) if d.is_int else 0
    scale = B.const(Fraction(1, root)) if root and root * root == d.coef else B.power(B.const(d.coef) if d.is_int else DimValue(d), Const(Fraction(-1, 2)))
    scaled = B.mul(scores, scale)
    weights = Softmax(scaled) if not scaled.shape.is_scalar else B.ONE
    return ck.matmul(weights, ck.node(v_ast), call, call, v_ast)


@_structural(
    "softmax_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits(labels=Y, logits=Z)",
    "−Σ Y ⊙ log_softmax(Z) of each row (TensorFlow's tf.nn.softmax_cross_entropy_with_logits; a vector: one sample)",
)
def _build_tf_softmax_ce(ck: Checker, call: S.Call) -> Node:
    labels, logits = _labels_and_logits(ck, call)
    at = _At(call)
    if not ck.node(logits).shape.is_matrix:
        return ck.node(at.neg(at.fn("sum", at.op("mul", labels, at.fn("log_softmax", logits)))))
    return ck.node(at.neg(at.rows("sum", at.op("mul", labels, at.rows("log_softmax", logits)))))


@_structural(
    "sigmoid_cross_entropy_with_logits",
    "sigmoid_cross_entropy_with_logits(labels=t, logits=z)",
    "softplus(z) − t ⊙ z, entry by entry (TensorFlow's tf.nn.sigmoid_cross_entropy_with_logits)",
)
def _build_tf_sigmoid_ce(ck: Checker, call: S.Call) -> Node:
    labels, logits = _labels_and_logits(ck, call)
    at = _At(call)
    return ck.node(at.fn("binary_cross_entropy_with_logits", logits, labels, reduction=at.S.String("none", call.pos)))


def _labels_and_logits(ck: Checker, call: S.Call) -> tuple[S.Expr, S.Expr]:
    """TensorFlow's keyword-only labels= and logits=."""
    labels, logits = ck.args(call, 0, optional=("labels", "logits"))
    if labels is None or logits is None:
        raise ck.arg_error(f"{call.func}() takes labels= and logits=", call)
    return labels, logits


@_structural("xlogy", "xlogy(x, y)", "x ⊙ log y, entry by entry (SciPy's and PyTorch's xlogy; its 0 at x = 0, y = 0 is left out)")
def _build_xlogy(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x, y: at.op("mul", x, at.fn("log", y)), 2)


@_structural("entr", "entr(x)", "−x ⊙ log x, entry by entry (SciPy's special.entr, for x > 0)")
def _build_entr(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.neg(at.fn("xlogy", x, x)), 1)


@_structural("rel_entr", "rel_entr(x, y)", "x ⊙ log(x/y), entry by entry (SciPy's special.rel_entr, for x, y > 0)")
def _build_rel_entr(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x, y: at.fn("xlogy", x, at.op("div", x, y)), 2)


_loss(
    "kl_div",
    "mean(target ⊙ (log target − input)): input holds log-probabilities (PyTorch's F.kl_div)",
    lambda at, a, t: at.op("mul", t, at.op("sub", at.fn("log", t), a)),
)
_loss("soft_margin_loss", "mean(log(1 + exp(−y ⊙ x))) (PyTorch's F.soft_margin_loss)", lambda at, x, y: at.fn("softplus", at.neg(at.op("mul", y, x))))
_loss(
    "poisson_nll_loss",
    "mean(exp(input) − target ⊙ input): input is the log-rate (PyTorch's F.poisson_nll_loss, log_input=True)",
    lambda at, a, t: at.op("sub", at.fn("exp", a), at.op("mul", t, a)),
)


def _three_input_loss(name: str, signature: str, describe: str, pointwise: Callable[..., S.Expr], defaults: tuple[tuple[str, str], ...]):
    from .syntax import String

    def build(ck: Checker, call: S.Call) -> Node:
        # PyTorch's order: the options, then reduction
        a, b, c, *rest, reduction = ck.args(call, 3, optional=(*(k for k, _ in defaults), "reduction"))
        mode = "mean" if reduction is None else reduction.value if isinstance(reduction, String) else ""
        if mode not in ("mean", "sum", "none"):
            raise ck.arg_error(f"{call.func}'s reduction is 'mean', 'sum' or 'none'", reduction)
        at = _At(call)
        args = [r if r is not None else at.num(v) for r, (_, v) in zip(rest, defaults)]
        if name == "gaussian_nll_loss" and ck.node(a).shape.is_matrix and ck.node(c).shape.cols.is_one:
            c = at.fn("column", c)  # one variance per sample (row), as PyTorch unsqueezes it
        body = pointwise(at, a, b, c, *args)
        return ck.node(body if mode == "none" else at.fn(mode, body))

    _structural(name, signature, describe)(build)


_three_input_loss(
    "margin_ranking_loss",
    "margin_ranking_loss(a, b, y, margin=0, reduction='mean')",
    "mean(max(0, −y ⊙ (a − b) + margin)) (PyTorch's F.margin_ranking_loss)",
    lambda at, a, b, y, margin: at.fn("max", at.num("0"), at.op("add", at.neg(at.op("mul", y, at.op("sub", a, b))), margin)),
    (("margin", "0"),),
)
_three_input_loss(
    "gaussian_nll_loss",
    "gaussian_nll_loss(input, target, var, reduction='mean')",
    "mean(½(log var + (input − target)²/var)) (PyTorch's F.gaussian_nll_loss, full=False; its eps clamp of var is left out)",
    lambda at, a, t, v: at.op(
        "mul", at.num("0.5"), at.op("add", at.fn("log", v), at.op("div", at.op("pow", at.op("sub", a, t), at.num("2")), v))
    ),
    (),
)


@_structural("sumsqr", "sumsqr(X)", "the sum of squared entries (MATLAB's sumsqr)")
def _build_sumsqr(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.fn("sum", at.op("pow", x, at.num("2"))), 1)


def _no_bound(b: S.Expr | None) -> bool:
    """A clip bound that bounds nothing: omitted, None, inf or −inf."""
    from .syntax import Name, Neg

    if isinstance(b, Neg):
        b = b.operand
    return b is None or (isinstance(b, Name) and b.id in ("None", "inf"))


@_structural(
    "clip",
    "clip(x, lo, hi), clamp(x, min=lo)",
    "min(max(x, lo), hi), entry by entry (NumPy's clip, PyTorch's clamp); a bound None (or inf) bounds nothing",
    aliases=("clamp",),
)
def _build_clip(ck: Checker, call: S.Call) -> Node:
    x, lo, hi = ck.args(call, 1, optional=("min", "max"))
    if _no_bound(lo) and _no_bound(hi):
        raise ck.arg_error(f"{call.func}() needs a lower or an upper bound (None bounds nothing)", call)
    at = _At(call)
    out = x if _no_bound(lo) else at.fn("max", x, lo)
    return ck.node(out if _no_bound(hi) else at.fn("min", out, hi))


_NEGATED = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}


@_structural("where", "where(a > b, x, y)", "x where the comparison holds, else y: (a > b) ⊙ x + (a ≤ b) ⊙ y")
def _build_where(ck: Checker, call: S.Call) -> Node:
    from .syntax import Compare as Cmp

    cond, x, y = ck.args(call, 3)
    if not isinstance(cond, Cmp):
        raise ck.unsupported("where() needs a comparison as its condition (where(z > 0, z, 0.1*z))", cond)
    at = _At(call)
    other = at.cmp(_NEGATED[cond.op], cond.left, cond.right)
    return ck.node(at.op("add", at.op("mul", cond, x), at.op("mul", other, y)))


@_structural("erfc", "erfc(x)", "1 − erf(x)")
def _build_erfc(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    return _rewrite(ck, call, lambda x: at.op("sub", at.num("1"), at.fn("erf", x)), 1)


@_structural(
    "gelu",
    "gelu(x), gelu(x, approximate='tanh')",
    "x Φ(x) = x(1 + erf(x/√2))/2; approximate='tanh': x(1 + tanh(√(2/π)(x + 0.044715x³)))/2, as in PyTorch",
)
def _build_gelu(ck: Checker, call: S.Call) -> Node:
    from .syntax import Name, String

    x_ast, mode_ast = ck.args(call, 1, optional=("approximate",))
    mode = "none"
    if mode_ast is not None:
        mode = mode_ast.value if isinstance(mode_ast, String) else mode_ast.id if isinstance(mode_ast, Name) else ""
        mode = {"True": "tanh", "False": "none"}.get(mode, mode)  # JAX's approximate=True/False
        if mode not in ("none", "tanh"):
            raise ck.arg_error("gelu's approximate is 'none' (the exact x Φ(x)) or 'tanh' (JAX: False or True)", mode_ast)
    at = _At(call)
    half_x = at.op("div", x_ast, at.num("2"))
    if mode == "none":
        inner = at.fn("erf", at.op("div", x_ast, at.fn("sqrt", at.num("2"))))
    else:
        cubic = at.op("add", x_ast, at.op("mul", at.num("0.044715"), at.op("pow", x_ast, at.num("3"))))
        scale = at.fn("sqrt", at.op("div", at.num("2"), at.S.Name("π", call.pos)))
        inner = at.fn("tanh", at.op("mul", scale, cubic))
    return ck.node(at.op("mul", half_x, at.op("add", at.num("1"), inner)))


@_structural(
    "log_softmax",
    "log_softmax(z), log_softmax(Z, axis)",
    "z − logsumexp(z): of a vector; of each row of a matrix (axis 1, the default) or each column (axis 0)",
)
def _build_log_softmax(ck: Checker, call: S.Call) -> Node:
    z_ast, axis = ck.args(call, 1, optional=("axis",))
    z = ck.node(z_ast)
    s = z.shape
    if s.is_scalar:
        return B.ZERO
    if _all_entries(axis) and s.is_matrix:  # over every entry
        return B.add(z, B.neg(B.broadcast(LogSumExp(Vec(z)), s)))
    over = _over(s, None if axis is None or _all_entries(axis) else ck.axis(axis, call))
    if over == "single":
        return B.zero(s)
    # log Σ exp of the vector, of each row (a column) or of each column (a row)
    lse = B.transpose(LogSumExp(B.transpose(z))) if over == "columns" else LogSumExp(z)
    return B.add(z, B.neg(B.broadcast(lse, s)))


@_structural("eye", "eye(n), eye()", "the n×n identity (its size inferred when omitted)")
def _build_eye(ck: Checker, call: S.Call) -> Node:
    if not call.args:
        ck.args(call, 0)
        return B.identity(ck.fresh())
    (n_ast,) = ck.args(call, 1)
    return B.identity(ck.dim(n_ast))


def _filled(ck: Checker, call: S.Call, fill: Node) -> Node:
    if len(call.args) > 2 or call.keywords:
        raise ck.error(f"{call.func} takes one or two sizes", call)
    dims = [ck.dim(a) for a in call.args] or [ck.fresh()]
    shape = Shape(dims[0], dims[1] if len(dims) > 1 else DIM_ONE)
    return B.zero(shape) if B.is_zero(fill) else B.broadcast(fill, shape)


@_structural("ones", "ones(n), ones(m, n)", "a vector or matrix of ones")
def _build_ones(ck: Checker, call: S.Call) -> Node:
    return _filled(ck, call, B.ONE)


@_structural("zeros", "zeros(n), zeros(m, n)", "a vector or matrix of zeros")
def _build_zeros(ck: Checker, call: S.Call) -> Node:
    return _filled(ck, call, B.ZERO)


def _like(fill: Node):
    def build(ck: Checker, call: S.Call) -> Node:
        (x_ast,) = ck.args(call, 1)
        shape = ck.node(x_ast).shape
        return B.zero(shape) if B.is_zero(fill) else B.ones(shape)

    return build


_structural("ones_like", "ones_like(X)", "ones of X's shape")(_like(B.ONE))
_structural("zeros_like", "zeros_like(X)", "zeros of X's shape")(_like(B.ZERO))


@_structural("solve", "solve(A, b)", "A⁻¹b (NumPy's linalg.solve)")
def _build_solve(ck: Checker, call: S.Call) -> Node:
    a_ast, b_ast = ck.args(call, 2)
    return ck.left_divide(ck.node(a_ast), ck.node(b_ast), call, a_ast, b_ast)


def _vector_operand(ck: Checker, ast: S.Expr | None) -> None:
    """An undeclared a–g name used once as the vector of a matrix product (mv(W, a),
    linear(a, W)) is a vector, as it is in W@a (see Checker.scan)."""
    from .nodes import Var
    from .syntax import Name

    if isinstance(ast, Name):
        n = ck.node(ast)
        if isinstance(n, Var) and ck._soft_scalar(n):
            ck._as_vector(n)


@_structural("matmul", "matmul(A, B)", "A @ B (NumPy's and PyTorch's matmul, PyTorch's mm and mv)", aliases=("mm", "mv"))
def _build_matmul(ck: Checker, call: S.Call) -> Node:
    at = _At(call)
    if len(call.args) == 2:
        _vector_operand(ck, call.args[1])
    return _rewrite(ck, call, lambda a, b: at.op("matmul", a, b), 2)


@_structural("vdot", "vdot(A, B)", "Σ Aᵢⱼ Bᵢⱼ, the entries' inner product (NumPy's vdot, real case; equal shapes or two vectors)")
def _build_vdot(ck: Checker, call: S.Call) -> Node:
    a_ast, b_ast = ck.args(call, 2)
    at = _At(call)
    if ck.node(a_ast).shape.is_matrix or ck.node(b_ast).shape.is_matrix:
        return ck.node(at.fn("sum", at.op("mul", a_ast, b_ast)))  # the same shape, entry by entry
    return ck.node(at.fn("sum", at.op("mul", at.fn("vec", a_ast), at.fn("vec", b_ast))))  # a row and a column alike


@_structural("inner", "inner(a, b)", "aᵀb for vectors (rows or columns); A Bᵀ for matrices (NumPy's inner)")
def _build_inner(ck: Checker, call: S.Call) -> Node:
    a_ast, b_ast = ck.args(call, 2)
    a, b = ck.node(a_ast), ck.node(b_ast)
    if a.shape.is_scalar or b.shape.is_scalar:
        return B.mul(a, b)
    if not a.shape.is_matrix and not b.shape.is_matrix:  # NumPy's 1-D inner product
        a, b = (x if x.shape.cols.is_one else B.transpose(x) for x in (a, b))
        return ck.matmul(B.transpose(a), b, call, a_ast, b_ast)
    return ck.matmul(a, B.transpose(b), call, a_ast, b_ast)


@_structural("vector", "vector(c)", "a vector with every entry c, its length inferred (matrixcalculus.org)")
def _build_vector(ck: Checker, call: S.Call) -> Node:
    (c_ast,) = ck.args(call, 1)
    c = ck.node(c_ast)
    if not c.shape.is_scalar:
        raise ck.error(f"vector(c) takes a scalar, but {ck.describe(c_ast, c)} is a {c.shape.kind}", c_ast)
    return B.broadcast(c, Shape(ck.fresh(), DIM_ONE))


@_structural("matrix", "matrix(c)", "a matrix with every entry c, its size inferred (matrixcalculus.org)")
def _build_matrix(ck: Checker, call: S.Call) -> Node:
    (c_ast,) = ck.args(call, 1)
    c = ck.node(c_ast)
    if not c.shape.is_scalar:
        raise ck.error(f"matrix(c) takes a scalar, but {ck.describe(c_ast, c)} is a {c.shape.kind}", c_ast)
    return B.broadcast(c, Shape(ck.fresh(), ck.fresh()))


@_structural("kron", "kron(A, B)", "Kronecker product A ⊗ B")
def _build_kron(ck: Checker, call: S.Call) -> Node:
    a_ast, b_ast = ck.args(call, 2)
    a, b = ck.node(a_ast), ck.node(b_ast)
    if a.shape.is_scalar or b.shape.is_scalar:
        return B.mul(a, b)
    out = Kron(a, b)
    ck.note_product(out.shape.rows, a.shape.rows, b.shape.rows)
    ck.note_product(out.shape.cols, a.shape.cols, b.shape.cols)
    return out


@_structural("vec", "vec(X)", "the columns of X stacked into one vector")
def _build_vec(ck: Checker, call: S.Call) -> Node:
    (x_ast,) = ck.args(call, 1)
    x = ck.node(x_ast)
    if x.shape.is_vector or x.shape.is_scalar:
        return x
    if x.shape.is_row:
        return B.transpose(x)
    out = Vec(x)
    ck.note_product(out.shape.rows, x.shape.rows, x.shape.cols)
    return out


@_structural(
    "transpose",
    "transpose(X), X.transpose(0, 1), X.permute(1, 0)",
    "Xᵀ (with axes: PyTorch's transpose(-2, -1) and permute(1, 0), NumPy's swapaxes(0, 1))",
    aliases=("swapaxes", "permute"),
)
def _build_transpose(ck: Checker, call: S.Call) -> Node:
    from .syntax import Neg, Number

    if len(call.args) != 3 or call.keywords:  # transpose(X); permute(X, 1, 0) has three too
        (x_ast,) = ck.args(call, 1)
        x = ck.node(x_ast)
        return x if ck.one_dimensional(x_ast, x) else B.transpose(x)
    x_ast, a_ast, b_ast = call.args

    def axis(e: S.Expr) -> int | None:  # 0 and 1, or −2 and −1, of a 2-D array
        neg = isinstance(e, Neg)
        e = e.operand if neg else e
        if not isinstance(e, Number) or e.text not in ("0", "1", "2"):
            return None
        k = int(e.text)
        return (2 - k) if neg and k in (1, 2) else None if neg else k if k < 2 else None

    a, b = axis(a_ast), axis(b_ast)
    if a is None or b is None:
        raise ck.arg_error(f"{call.func}() of a matrix takes the axes 0 and 1 (or −2 and −1)", call)
    x = ck.node(x_ast)
    if call.func == "permute":  # the new order of the axes: (1, 0) swaps them, (0, 1) keeps them
        if a == b:
            raise ck.arg_error("permute() needs each axis once: permute(1, 0)", call)
        return x if a == 0 else B.transpose(x)
    return x if a == b else B.transpose(x)


def _vector_as(column: bool):
    def build(ck: Checker, call: S.Call) -> Node:
        (x_ast,) = ck.args(call, 1)
        x = ck.node(x_ast)
        if x.shape.is_matrix:
            raise ck.error(f"{ck.describe(x_ast, x)} is a matrix; [:, None] and [None, :] make a vector a column or a row", x_ast)
        col = x if not x.shape.is_row else B.transpose(x)
        return ck.mark_column(call, col) if column else B.transpose(col)

    return build


_structural("column", "column(x), x[:, None]", "a vector as a column (NumPy's x[:, None])")(_vector_as(True))
_structural("row", "row(x), x[None, :]", "a vector as a row (NumPy's x[None, :])")(_vector_as(False))


def _small_int(ast: S.Expr | None) -> int | None:
    """-1, 0, 1, 2 … written as a number (None for anything else)."""
    from .syntax import Neg, Number

    sign = 1
    if isinstance(ast, Neg):
        ast, sign = ast.operand, -1
    if isinstance(ast, Number) and ast.value.denominator == 1:
        return sign * int(ast.value)
    return None


@_structural("unsqueeze", "unsqueeze(x, dim)", "a vector as a row (dim 0) or a column (dim 1 or −1) (PyTorch's x.unsqueeze)")
def _build_unsqueeze(ck: Checker, call: S.Call) -> Node:
    x, axis = ck.args(call, 2)
    where = {0: "row", -2: "row", 1: "column", -1: "column"}.get(_small_int(axis))
    if where is None:
        raise ck.arg_error("unsqueeze takes dim 0 (a row) or 1 (a column)", axis)
    return ck.node(_At(call).fn(where, x))


@_structural(
    "reshape",
    "reshape(x, -1, 1), reshape(x, 1, -1)",
    "a vector as a column (−1, 1) or a row (1, −1), or as itself (−1) (NumPy's and PyTorch's reshape and view)",
    aliases=("view",),
)
def _build_reshape(ck: Checker, call: S.Call) -> Node:
    x, first, second = ck.args(call, 2, optional=("b",))
    if ck.node(x).shape.is_matrix:
        raise ck.unsupported(
            "reshaping a matrix is not part of the language (NumPy's order is by rows); vec(X) stacks the columns", call
        )
    dims = (_small_int(first),) if second is None else (_small_int(first), _small_int(second))
    at = _At(call)
    if dims == (-1,):  # a 1-D array, whatever it was (a column x[:, None] too)
        return ck.mark_flat(call, ck.node(x))
    if len(dims) == 2 and dims[1] == 1 and dims[0] != 1:
        return ck.node(at.fn("column", x))
    if len(dims) == 2 and dims[0] == 1 and dims[1] != 1:
        return ck.node(at.fn("row", x))
    raise ck.arg_error("a vector reshapes to (-1, 1), a column, or (1, -1), a row", first)


@_structural("logaddexp", "logaddexp(a, b)", "log(eᵃ + eᵇ), entry by entry (NumPy's logaddexp)")
def _build_logaddexp(ck: Checker, call: S.Call) -> Node:
    from .syntax import Number

    at = _At(call)

    def build(a: S.Expr, b: S.Expr) -> S.Expr:
        for x, y in ((a, b), (b, a)):
            if isinstance(x, Number) and x.value == 0:  # logaddexp(0, z) = softplus(z)
                return at.fn("softplus", y)
        return at.fn("log", at.op("add", at.fn("exp", a), at.fn("exp", b)))

    return _rewrite(ck, call, build, 2)


def _size(ck: Checker, d: Dim) -> Node:
    return B.const(d.coef) if d.is_int else DimValue(d)


@_structural("numel", "numel(X)", "the number of entries (PyTorch's x.numel(), MATLAB's numel)")
def _build_numel(ck: Checker, call: S.Call) -> Node:
    (x_ast,) = ck.args(call, 1)
    x = ck.node(x_ast)
    return _size(ck, x.shape.rows * x.shape.cols)


@_structural("len", "len(x)", "the length of a vector, the number of rows of a matrix (Python's len)")
def _build_len(ck: Checker, call: S.Call) -> Node:
    (x_ast,) = ck.args(call, 1)
    x = ck.node(x_ast)
    return _size(ck, x.shape.cols if x.shape.is_row else x.shape.rows)


@_structural("pow", "pow(x, p)", "elementwise power x^p", aliases=("power",))
def _build_pow(ck: Checker, call: S.Call) -> Node:
    a, b = ck.args(call, 2)
    return ck.elementwise_power(ck.node(a), ck.node(b), call)


@_structural("matrix_power", "matrix_power(A, k)", "A multiplied by itself k times (k an integer; negative: inv(A)^|k|)")
def _build_matrix_power(ck: Checker, call: S.Call) -> Node:
    a, k = ck.args(call, 2)
    return ck.matrix_power(ck.node(a), k, call)


@_structural("dim", "dim(n)", "a dimension used as a number (as in mean(x) = sum(x)/dim(n))")
def _build_dim(ck: Checker, call: S.Call) -> Node:
    (n_ast,) = ck.args(call, 1)
    d = ck.dim(n_ast)
    return B.const(d.coef) if d.is_int else DimValue(d)


@_structural("unvec", "unvec(v, m, n)", "the m×n matrix whose columns, stacked, are v (the inverse of vec)")
def _build_unvec(ck: Checker, call: S.Call) -> Node:
    v_ast, m_ast, n_ast = ck.args(call, 3)
    v = ck.node(v_ast)
    m, n = ck.dim(m_ast), ck.dim(n_ast)
    s = ck.shape(v)
    if not s.cols.is_one:
        raise ck.error(f"unvec takes a vector, but {ck.describe(v_ast, v)} is a {s.kind}", v_ast)
    ck.unify(s.rows, m * n, call, lambda: f"unvec: {ck.describe(v_ast, v)} does not have {m}·{n} entries")
    return Unvec(v, Shape(m, n))


@_structural("commutation", "commutation(m, n)", "the commutation matrix K with K vec(A) = vec(Aᵀ) for m×n A")
def _build_commutation(ck: Checker, call: S.Call) -> Node:
    m_ast, n_ast = ck.args(call, 2)
    return Commutation(ck.dim(m_ast), ck.dim(n_ast))


def names() -> list[str]:
    return sorted(FUNCTIONS)


def describe_functions() -> str:
    """A table of every function for ``--help`` and the README."""
    rows: list[str] = []
    seen: set[int] = set()
    for name in sorted(FUNCTIONS):
        e = FUNCTIONS[name]
        if id(e) in seen:
            continue
        seen.add(id(e))
        alias = f" (alias {', '.join(e.aliases)})" if e.aliases else ""
        if isinstance(e, Elementwise):
            sig = f"{e.name}({', '.join('ab'[: e.arity]) if e.arity > 1 else 'x'})"
            rows.append(f"  {sig:<24} elementwise; {e.doc}{alias}")
        else:
            rows.append(f"  {e.signature:<24} {e.doc}{alias}")
    return "\n".join(rows)

