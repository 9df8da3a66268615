"""The derivative of a checked expression: differentiate → extract → simplify → layout."""

from __future__ import annotations

from . import build as B
from .differentiate import differential
from .errors import LimitError, MatcalcError, UnsupportedError
from .extract import derivative_by_scalar, gradient, vec_jacobian
from .nodes import Apply, ExpmFrechet, Extremum, Node, Sum, Var, dag_edges, walk
from .record import record
from .registry import EXP
from .simplify import numerically_symmetric, prefer_sums, simplify

LAYOUTS = ("mixed", "numerator", "denominator")


@record()
class Options:
    layout: str = "mixed"
    order: int = 1

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise MatcalcError(f"unknown layout {self.layout!r}; choose one of {', '.join(LAYOUTS)}")
        if self.order not in (1, 2):
            raise MatcalcError(f"order must be 1 or 2, not {self.order!r}")


@record()
class Result:
    node: Node  # the derivative, simplified, in the requested layout
    kind: str  # "derivative", "gradient", "Jacobian", "vec-Jacobian", "Hessian", "vec-Hessian"
    differential: Node | None  # dF, simplified (linear in dX)
    natural: Node  # before the layout transpose (mixed layout)


#: Largest differential (distinct nodes and their child references) matcalc simplifies;
#: beyond it the answer would be unreadable anyway (the derivative of A@A@…@A with
#: 1,000 factors has 10⁶: a thousand products of a thousand factors).
MAX_DIFFERENTIAL = 50_000


def first_order(f: Node, x: Var) -> tuple[Node, str, Node | None]:
    """The derivative in mixed layout, its kind, and the differential it came from."""
    d = differential(f, x)
    if d is not None:
        size = dag_edges(d)
        if size > MAX_DIFFERENTIAL:
            raise LimitError(f"the derivative is too large: {size:,} terms and factors (limit {MAX_DIFFERENTIAL:,})")
    d = simplify(d) if d is not None else None
    if d is not None and any(isinstance(n, ExpmFrechet) for n in walk(d)):
        err = UnsupportedError(
            "the derivative of expm has no closed form here: d e^A = ∫₀¹ e^{sA} dA e^{(1−s)A} ds is "
            "a matrix only inside a trace (tr e^A → (e^A)ᵀ) or when dA commutes with A (e^{tA} by t)"
        )
        err.function = "expm"  # the caller, which has the syntax, puts the caret under the call
        raise err
    fs, xs = f.shape, x.shape
    if fs.is_scalar:
        g = gradient(d, x)
        if x.symmetric:
            # the gradient within symmetric matrices: sym(G) = (G + Gᵀ)/2, which is G
            # itself when G is symmetric wherever X is (S⁻¹(I − ddᵀS⁻¹), factored as the
            # simplifier left it, is: its two halves would print expanded)
            g = simplify(g)
            if not numerically_symmetric(g):
                g = B.mul(B.HALF, B.add(g, B.transpose(g)))
        return simplify(g), ("derivative" if xs.is_scalar else "gradient"), d
    if xs.is_scalar:
        return simplify(derivative_by_scalar(d, x, fs)), "derivative", d
    kind = "Jacobian" if fs.cols.is_one and xs.cols.is_one else "vec-Jacobian"
    return simplify(vec_jacobian(d, x, fs)), kind, d


def _written_out(n: Node) -> bool:
    return isinstance(n, Extremum) or (isinstance(n, Sum) and isinstance(n.arg, Apply) and n.arg.fn is EXP)


def derivative(f: Node, x: Var, opts: Options) -> Result:
    prefer_sums(f)
    if any(_written_out(n) for n in walk(f)) and (f.shape.is_scalar or not x.symmetric):
        # (not for a Jacobian by a symmetric X, whose entries count as independent: the
        # simplifier's Xᵀ → X would change it)
        # a softmax or logsumexp written out (exp(z)/sum(exp(z)), NumPy's
        # exp(Z)/exp(Z).sum(axis=1, keepdims=True)), or a max shift that changes nothing
        # (softmax(z − max z) = softmax z): simplified first, so that the derivative is
        # that of softmax, and the indicator of the largest entry does not clutter it
        f = simplify(f)
    if opts.order == 2:
        if not f.shape.is_scalar and not x.shape.is_scalar:
            # (a second derivative of a vector or matrix is taken by a scalar only)
            raise UnsupportedError(f"a Hessian needs a scalar function; this one is a {f.shape.kind} ({f.shape})")
        g, _, _ = first_order(f, x)
        h, kind, d = first_order(g, x)
        if x.shape.is_scalar:
            # by a scalar: laid out as the first derivative is (a column F transposed in
            # denominator layout)
            out = simplify(B.transpose(h)) if opts.layout == "denominator" and h.shape.cols.is_one else h
            return Result(out, "second derivative", d, h)
        return Result(h, "Hessian" if x.shape.cols.is_one else "vec-Hessian", d, h)
    node, kind, d = first_order(f, x)
    out = node
    if kind == "gradient" and opts.layout == "numerator":
        out = simplify(B.transpose(node))
    elif kind == "derivative" and opts.layout == "denominator" and node.shape.cols.is_one:
        out = simplify(B.transpose(node))
    elif kind in ("Jacobian", "vec-Jacobian") and opts.layout == "denominator":
        out = simplify(B.transpose(node))
    return Result(out, kind, d, node)
