"""Names the printers fold back: sum(x)/n is mean(x), Σ(x − mean x)²/n is var(x); and
WᵀXᵀ + b𝟙ᵀ − Yᵀ is (XW + 𝟙bᵀ − Y)ᵀ.

The engine builds mean, var and std out of sums (:mod:`matcalc.registry`), so that every
differentiation and simplification rule sees plain sums and dimensions; a reader wants
the names back.  The nodes here exist only while printing: the printers fold a product
into them (a :class:`~matcalc.nodes.Mul` holding sum(X) and 1/N, N the number of X's
entries) and print the result.  Every printer, ASCII included, writes them as calls
that parse back to the very sums they stand for.
"""

from __future__ import annotations

from fractions import Fraction

from ..dims import ONE, SCALAR, Dim, Shape
from ..nodes import (
    Add,
    Apply,
    Broadcast,
    Compare,
    Const,
    Diag,
    DimValue,
    Identity,
    MatMul,
    Mul,
    Node,
    Ones,
    Pow,
    Sum,
    Transpose,
    Var,
    node,
)
from ..registry import SQRT


@node("arg")
class Statistic(Node):
    """mean(X), var(X) or std(X) (``name``) of all entries, or along ``axis`` as Sum's
    (0: of each column, a row; 1: of each row, a column); NumPy's biased variance (display only)."""

    name: str
    arg: Node
    axis: int | None = None

    def _compute_shape(self) -> Shape:
        s = self.arg.shape
        if self.axis is None:
            return SCALAR
        return Shape(ONE, s.cols) if self.axis == 0 else Shape(s.rows, ONE)


def folded(n: Node) -> Node | None:
    """What a printer shows for ``n`` when it is a statistic (or holds one as a factor) or
    a sum of transposes better written as one (:func:`fold_transposes`), else ``None``."""
    if type(n) is Add:
        return fold_transposes(n)
    if type(n) is Transpose:
        return unfold_transpose(n)
    if type(n) is Mul:
        return fold_statistics(n)
    if type(n) is Apply and n.fn is SQRT and type(n.args[0]) is Mul:
        inner = fold_statistics(n.args[0])
        if isinstance(inner, Statistic) and inner.name == "var":
            return Statistic("std", inner.arg, inner.axis)
    return None


def _count(f: Node) -> tuple[Dim, Fraction] | None:
    """(N, k) for a factor 1/Nᵏ (N a dimension, k ≥ 1 whole)."""
    if isinstance(f, Pow) and isinstance(f.base, DimValue) and isinstance(f.exponent, Const):
        k = -f.exponent.value
        if k >= 1 and k.denominator == 1:
            return f.base.dim, k
    if isinstance(f, Const) and f.value.numerator == 1 and f.value.denominator > 1:
        return Dim.of(f.value.denominator), Fraction(1)  # a declared size: X: 4 x 3 counts 4 rows
    return None


def _rebuilt(factors: list[Node], shape: Shape) -> Node:
    """The product of ``factors`` (never empty: the statistic is one), spread to ``shape``."""
    from .. import build as B

    out = B.mul(*factors)
    return out if out.shape == shape else B.broadcast(out, shape)


def fold_statistics(n: Mul) -> Node | None:
    """``n`` with sum(X)·(1/N) → mean(X), Σ(X − mean X)²·(1/N) and (uᵀu)·(1/N) → var(X)
    (u = x − mean(x)𝟙); ``None`` when nothing folds.  Of 1/Nᵏ one power goes into the statistic."""
    from .. import build as B

    fs = list(n.factors)
    for i, f in enumerate(fs):
        count = _count(f)
        if count is None:
            continue
        dim, k = count
        for j, g in enumerate(fs):
            stat = _statistic(g, dim)
            if stat is not None:
                rest = [h for m, h in enumerate(fs) if m not in (i, j)]
                if k > 1:
                    rest.append(B.power(f.base, Const(1 - k)))
                return _rebuilt([stat, *rest], n.shape)
    return None


def _statistic(g: Node, count: Dim) -> Node | None:
    if isinstance(g, Sum) and g.axis is not None and isinstance(g.arg, Transpose) and g.arg.shape.is_matrix:
        # Σ of each row of Aᵀ: the statistic of each column of A, as a column
        inner = _statistic(Sum(g.arg.arg, 1 - g.axis), count)
        return Transpose(inner) if inner is not None else None
    if isinstance(g, Sum) and g.axis is not None and g.arg.shape.is_matrix:
        # of each row (axis 1) or column (axis 0): LayerNorm's and BatchNorm's statistics
        a = g.arg
        if (a.shape.cols if g.axis == 1 else a.shape.rows) != count:
            return None
        if isinstance(a, Pow) and isinstance(a.exponent, Const) and a.exponent.value == 2:
            x = centred_along(a.base, g.axis, count)
            if x is not None:
                return Statistic("var", x, g.axis)
        return Statistic("mean", a, g.axis)
    if isinstance(g, Sum) and g.axis is None and not g.arg.shape.is_scalar and g.arg.shape.size == count:
        a = g.arg
        if isinstance(a, Pow) and isinstance(a.exponent, Const) and a.exponent.value == 2:
            x = centred(a.base)
            if x is not None:
                return Statistic("var", x)
        return Statistic("mean", a)
    if isinstance(g, MatMul) and len(g.factors) == 2 and g.factors[1].shape.cols.is_one:
        u = centred(g.factors[1])
        if u is not None and u.shape.size == count and _transposed(g.factors[0], g.factors[1]):
            return Statistic("var", u)
    return None


def centred(b: Node) -> Node | None:
    """X for X − mean(X)𝟙𝟙ᵀ (as the engine writes it: X − sum(X)𝟙𝟙ᵀ/N)."""
    if not (isinstance(b, Add) and len(b.terms) == 2):
        return None
    x, m = b.terms
    if not (isinstance(m, Mul) and len(m.factors) == 4):
        x, m = m, x
    if not (isinstance(m, Mul) and len(m.factors) == 4):
        return None
    c, s, r, o = m.factors
    if not (isinstance(c, Const) and c.value == -1 and isinstance(o, Ones) and isinstance(s, Sum) and s.arg is x):
        return None
    return x if s.axis is None and _count(r) == (x.shape.size, 1) else None


def centred_along(b: Node, axis: int, count: Dim) -> Node | None:
    """X for X − mean(X, axis) spread back (or its negation: it is squared), as the engine
    writes it: X − broadcast(sum(X, axis)/N)."""
    if not (isinstance(b, Add) and len(b.terms) == 2):
        return None
    for x, m in (b.terms, b.terms[::-1]):
        neg = isinstance(m, Mul) and len(m.factors) == 2 and isinstance(m.factors[0], Const) and m.factors[0].value == -1
        spread = m.factors[1] if neg else m
        if isinstance(x, Mul) and len(x.factors) == 2 and isinstance(x.factors[0], Const) and x.factors[0].value == -1:
            if neg:
                continue
            x = x.factors[1]  # mean spread − X
        elif not neg:
            continue
        if not (isinstance(spread, Broadcast) and isinstance(spread.arg, Mul) and len(spread.arg.factors) == 2):
            continue
        s, r = spread.arg.factors
        if isinstance(r, Sum):
            s, r = r, s
        if isinstance(s, Sum) and s.axis == axis and s.arg is x and _count(r) == (count, 1):
            return x
    return None


def _transposed(a: Node, b: Node) -> bool:
    from .. import build as B

    if isinstance(a, Transpose):
        return a.arg is b
    def t(n: Node) -> Node:  # (c ⊙ u)ᵀ = cᵀ ⊙ uᵀ, as the simplifier writes it
        return B.mul(*(B.transpose(f) for f in n.factors)) if isinstance(n, Mul) else B.transpose(n)

    return isinstance(a, Add) and isinstance(b, Add) and {t(x) for x in b.terms} == set(a.terms)


# ---------------------------------------------------------------- (A + B)ᵀ


def fold_transposes(n: Add) -> Node | None:
    """(XW + 𝟙bᵀ − Y)ᵀ for WᵀXᵀ + b𝟙ᵀ − Yᵀ: the simplifier pushes every transpose down to
    the leaves (its rules match one form), which a bias gradient pays for with a mark on
    nearly every factor.  Folded when that writes fewer marks, counting the outer one."""
    if n.shape.is_scalar or n.shape.rows.is_one or n.shape.cols.is_one:
        return None  # a vector's sum is no clearer as a transposed row
    flipped = [_flip(t) for t in n.terms]
    if sum(map(_marks, flipped)) + 1 > sum(map(_marks, n.terms)) - 2:
        return None  # (a mark or two saved is not worth the reader's unfolding: Xᵀ𝟙𝟙ᵀ + 𝟙𝟙ᵀXᵀ stays)
    return Transpose(Add(tuple(flipped)))


def unfold_transpose(n: Transpose) -> Node | None:
    """(Σ tᵢ)ᵀ as Σ tᵢᵀ where that writes fewer marks, so a transposed sum that folds is
    never printed ᵀᵀ; ``None`` otherwise."""
    if type(n.arg) is not Add or n.shape.is_scalar:
        return None
    flipped = Add(tuple(_flip(t) for t in n.arg.terms))
    if _marks(flipped) < _marks(n) and fold_transposes(flipped) is None:  # (which would fold it back)
        return flipped
    return None


def _flip(n: Node) -> Node:
    """A node whose transpose is ``n``, written with as few transposes as the rules allow."""
    from .. import build as B

    if n.shape.is_scalar:
        return n
    if isinstance(n, Transpose):
        return n.arg
    if isinstance(n, (Ones, Identity)) or (isinstance(n, Var) and n.symmetric):
        return B.transpose(n)
    if isinstance(n, Diag):
        return n
    if isinstance(n, MatMul):
        return MatMul(tuple(_flip(f) for f in reversed(n.factors)))
    if isinstance(n, Mul):
        return Mul(tuple(_flip(f) for f in n.factors))
    if isinstance(n, Broadcast):
        return Broadcast(_flip(n.arg), n.target.T)
    if isinstance(n, Sum) and n.axis is not None:  # (𝟙ᵀA)ᵀ = Aᵀ𝟙
        return Sum(_flip(n.arg), 1 - n.axis)
    if isinstance(n, Apply):
        return Apply(n.fn, tuple(_flip(a) for a in n.args))
    if isinstance(n, Pow) and n.exponent.shape.is_scalar:
        return Pow(_flip(n.base), n.exponent)
    if isinstance(n, Compare):
        return Compare(n.op, _flip(n.left), _flip(n.right))
    return Transpose(n)


def _marks(n: Node) -> int:
    """Transposes written in ``n``, 𝟙ᵀ included (as a tree: a repeated part counts each time)."""
    own = (
        isinstance(n, Transpose)
        or (isinstance(n, Ones) and n.shape.rows.is_one and not n.shape.cols.is_one)
        or (isinstance(n, Broadcast) and n.arg.shape.cols.is_one and not n.shape.cols.is_one)  # b𝟙ᵀ
        or (isinstance(n, Sum) and n.axis == 0)  # 𝟙ᵀA
    )
    return int(own) + sum(_marks(c) for c in n.children)
