"""The checked expression tree: plain frozen data, every node with a known shape.

Operations (differentiate, simplify, print, evaluate) live in their own modules and
dispatch on the node type; nodes only know their children and their shape.

Conventions: every value is two-dimensional (scalars 1×1, vectors n×1).  ``Mul`` is
the elementwise (Hadamard) product; a 1×1 factor in it scales (that is scalar
multiplication, not a broadcast).  Every other broadcast is an explicit
``Broadcast`` node.  Subtraction is ``a + (-1)·b`` and division ``a ⊙ b^(-1)``.
Numbers are exact ``Fraction`` values.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

from .dims import ONE, SCALAR, Dim, Shape
from .record import fields_of, make_init

if TYPE_CHECKING:  # pragma: no cover
    from .registry import Elementwise


class _Interned(type):
    """Hash-consing: building a node equal to a live one returns the live one.

    Equal subexpressions are then one object: at any moment at most one live node has
    a given type and fields, so node equality and hashing are those of the object
    (identity, in C: nodes are dictionary keys everywhere), and a DAG shares every
    repeated subexpression.  The table holds its nodes weakly.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and len(args) == cls._nfields:
            # every field given in order: the arguments are the key, so a node that
            # already exists is found without building a new one
            try:
                ref = _INTERN_DATA.get((cls, args))
            except TypeError:  # an unhashable argument (a list for a tuple field)
                ref = None
            if ref is not None:
                live = ref()
                if live is not None:
                    return live
        obj = super().__call__(*args, **kwargs)
        key = (cls, obj._key())
        ref = _INTERN_DATA.get(key)
        live = ref() if ref is not None else None
        if live is not None:
            return live
        obj.__dict__["shape"] = obj._compute_shape()  # a plain attribute: read for every node visited
        # look up again and insert as one step: two threads building the same node at
        # once must not both insert, or equal nodes would differ by identity
        with _INTERN_LOCK:
            ref = _INTERN_DATA.get(key)
            live = ref() if ref is not None else None
            if live is not None:
                return live
            _INTERN[key] = obj
        return obj


_INTERN: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_INTERN_LOCK = threading.Lock()
#: the weak references behind ``_INTERN``, read directly on the hot path (``get`` costs a
#: Python-level call per node built)
_INTERN_DATA = _INTERN.data


class Node(metaclass=_Interned):
    """Base of all expression nodes; equal nodes are one object (see ``_Interned``)."""

    #: names of the fields holding child nodes (a field may hold a tuple of nodes)
    child_fields: ClassVar[tuple[str, ...]] = ()
    _field_names: ClassVar[tuple[str, ...]] = ()
    _nfields: ClassVar[int] = -1

    def _key(self) -> tuple:
        return tuple(getattr(self, f) for f in self._field_names)

    def __reduce__(self) -> tuple:
        return (type(self), self._key())  # unpickling builds (and interns) it again

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} nodes are immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} nodes are immutable")

    # __eq__ and __hash__ are object's: identity, exact because nodes are interned

    #: the node's shape, computed once when it is built
    shape: ClassVar[Shape]

    def _compute_shape(self) -> Shape:  # pragma: no cover - every node overrides
        raise NotImplementedError

    @property
    def children(self) -> tuple[Node, ...]:
        kids = self.__dict__.get("_kids")
        if kids is None:
            out: list[Node] = []
            for f in self.child_fields:
                v = getattr(self, f)
                if isinstance(v, tuple):
                    out.extend(v)
                else:
                    out.append(v)
            kids = tuple(out)
            object.__setattr__(self, "_kids", kids)
        return kids

    def with_children(self, new: tuple[Node, ...] | list[Node]) -> Node:
        """A copy of this node with its children replaced (same order as ``children``)."""
        it = iter(new)
        kw: dict[str, Any] = {}
        for f in self.child_fields:
            v = getattr(self, f)
            kw[f] = tuple(next(it) for _ in v) if isinstance(v, tuple) else next(it)
        for f in self._field_names:
            if f not in kw:
                kw[f] = getattr(self, f)
        return type(self)(**kw)

    def __repr__(self) -> str:
        from .printing import to_ascii

        try:
            return f"<{type(self).__name__} {to_ascii(self)}>"
        except Exception:  # pragma: no cover - repr must never fail
            return f"<{type(self).__name__}>"


def node(*child_fields: str) -> Callable[[type], type]:
    """Class decorator: an immutable record node with the given child fields.

    The fields are the class's annotated names, in order; a class attribute of the
    same name is the field's default (see :mod:`matcalc.record`).
    """

    def wrap(cls: type) -> type:
        names, defaults = fields_of(cls)
        cls.__init__ = make_init(cls.__name__, names, defaults)  # type: ignore[misc]
        cls.child_fields = child_fields
        cls._field_names = names
        cls._nfields = len(names)
        return cls

    return wrap


# ---------------------------------------------------------------- leaves


@node()
class Var(Node):
    name: str
    var_shape: Shape
    symmetric: bool = False

    def _compute_shape(self) -> Shape:
        return self.var_shape


@node()
class Differential(Node):
    """The differential dX of a variable: the placeholder of a linear form."""

    var: Var

    def _compute_shape(self) -> Shape:
        return self.var.shape


@node()
class Const(Node):
    value: Fraction

    def _compute_shape(self) -> Shape:
        return SCALAR


@node()
class DimValue(Node):
    """A dimension used as a number (``n`` in ``mean(x) = sum(x)/n``)."""

    dim: Dim

    def _compute_shape(self) -> Shape:
        return SCALAR


@node()
class Pi(Node):
    """The number π (``pi``, ``np.pi``): a constant, but not a rational one."""

    def _compute_shape(self) -> Shape:
        return SCALAR


@node()
class Zero(Node):
    zero_shape: Shape

    def _compute_shape(self) -> Shape:
        return self.zero_shape


@node()
class Ones(Node):
    """𝟙: the all-ones vector or matrix."""

    ones_shape: Shape

    def _compute_shape(self) -> Shape:
        return self.ones_shape


@node()
class Identity(Node):
    n: Dim

    def _compute_shape(self) -> Shape:
        return Shape(self.n, self.n)


@node()
class Commutation(Node):
    """K₍r,c₎: the permutation with K vec(A) = vec(Aᵀ) for an r×c matrix A."""

    r: Dim
    c: Dim

    def _compute_shape(self) -> Shape:
        n = self.r * self.c
        return Shape(n, n)


# ---------------------------------------------------------------- elementwise


@node("terms")
class Add(Node):
    terms: tuple[Node, ...]

    def _compute_shape(self) -> Shape:
        return self.terms[0].shape


@node("factors")
class Mul(Node):
    """Elementwise product; 1×1 factors scale."""

    factors: tuple[Node, ...]

    def _compute_shape(self) -> Shape:
        for f in self.factors:
            if not f.shape.is_scalar:
                return f.shape
        return SCALAR


@node("base", "exponent")
class Pow(Node):
    """Elementwise power; a 1×1 base or exponent applies to every entry."""

    base: Node
    exponent: Node

    def _compute_shape(self) -> Shape:
        return self.exponent.shape if self.base.shape.is_scalar else self.base.shape


@node("args")
class Apply(Node):
    """An elementwise registry function; 1×1 arguments apply to every entry."""

    fn: Elementwise
    args: tuple[Node, ...]

    def _compute_shape(self) -> Shape:
        for a in self.args:
            if not a.shape.is_scalar:
                return a.shape
        return SCALAR


@node("left", "right")
class Compare(Node):
    """The 0/1 indicator (left op right), elementwise; op is one of > >= < <=."""

    op: str
    left: Node
    right: Node

    def _compute_shape(self) -> Shape:
        return self.right.shape if self.left.shape.is_scalar else self.left.shape


# ---------------------------------------------------------------- linear algebra


@node("factors")
class MatMul(Node):
    factors: tuple[Node, ...]

    def _compute_shape(self) -> Shape:
        return Shape(self.factors[0].shape.rows, self.factors[-1].shape.cols)


@node("arg")
class Transpose(Node):
    arg: Node

    def _compute_shape(self) -> Shape:
        return self.arg.shape.T


@node("arg")
class Sum(Node):
    """Sum of all entries (axis None), down the rows (axis 0: 1×c) or along the columns (axis 1: r×1)."""

    arg: Node
    axis: int | None = None

    def _compute_shape(self) -> Shape:
        s = self.arg.shape
        if self.axis is None:
            return SCALAR
        if self.axis == 0:
            return Shape(ONE, s.cols)
        return Shape(s.rows, ONE)


@node("arg")
class Extremum(Node):
    """max or min (``op``) of all entries (axis None) or of each row (axis 1: r×1)."""

    arg: Node
    op: str
    axis: int | None = None

    def _compute_shape(self) -> Shape:
        return SCALAR if self.axis is None else Shape(self.arg.shape.rows, ONE)


@node("arg")
class ArgExtremum(Node):
    """1 where an entry of ``arg`` is its max (``op``), over all entries or each row
    (axis 1), else 0: one node, so that the mask and the extremum are computed from the
    same numbers (two formulas for one value may differ in the last bit)."""

    arg: Node
    op: str
    axis: int | None = None

    def _compute_shape(self) -> Shape:
        return self.arg.shape


@node("arg")
class Broadcast(Node):
    """Repeat a scalar, a column (r×1) or a row (1×c) to fill ``target``."""

    arg: Node
    target: Shape

    def _compute_shape(self) -> Shape:
        return self.target


@node("arg")
class Trace(Node):
    arg: Node

    def _compute_shape(self) -> Shape:
        return SCALAR


@node("arg")
class Det(Node):
    arg: Node

    def _compute_shape(self) -> Shape:
        return SCALAR


@node("arg")
class LogDet(Node):
    """log det X (of a matrix with positive determinant)."""

    arg: Node

    def _compute_shape(self) -> Shape:
        return SCALAR


@node("arg")
class Inverse(Node):
    arg: Node

    def _compute_shape(self) -> Shape:
        return self.arg.shape


@node("arg")
class Expm(Node):
    """The matrix exponential e^A = Σ Aᵏ/k! of a square matrix."""

    arg: Node

    def _compute_shape(self) -> Shape:
        return self.arg.shape


@node("arg", "direction")
class ExpmFrechet(Node):
    """L(A, E) = ∫₀¹ e^{sA} E e^{(1−s)A} ds, the Fréchet derivative of e^A in the direction E
    (d e^A = L(A, dA)).  It lives only in differentials: the simplifier removes it where a
    closed form exists (inside a trace, or when E commutes with A), and a derivative that
    still holds one is refused."""

    arg: Node
    direction: Node

    def _compute_shape(self) -> Shape:
        return self.arg.shape


@node("arg")
class Diag(Node):
    """diag(v): the diagonal matrix with the vector v on its diagonal."""

    arg: Node

    def _compute_shape(self) -> Shape:
        return Shape(self.arg.shape.rows, self.arg.shape.rows)


@node("arg")
class DiagPart(Node):
    """diag(X): the diagonal of a square matrix, as a vector."""

    arg: Node

    def _compute_shape(self) -> Shape:
        return Shape(self.arg.shape.rows, ONE)


@node("arg")
class Norm(Node):
    """‖X‖ (p = 2: Euclidean / Frobenius) or ‖X‖₁ (p = 1: sum of absolute values)."""

    arg: Node
    p: int = 2

    def _compute_shape(self) -> Shape:
        return SCALAR


@node("arg")
class Softmax(Node):
    """softmax over a column vector, or over each row of a matrix."""

    arg: Node

    def _compute_shape(self) -> Shape:
        return self.arg.shape


@node("arg")
class LogSumExp(Node):
    """log Σ exp over a column vector (a scalar), or over each row of a matrix (r×1)."""

    arg: Node

    def _compute_shape(self) -> Shape:
        s = self.arg.shape
        return SCALAR if s.cols.is_one else Shape(s.rows, ONE)


@node("arg")
class Prod(Node):
    """The product of all entries (a scalar)."""

    arg: Node

    def _compute_shape(self) -> Shape:
        return SCALAR


@node("left", "right")
class Kron(Node):
    left: Node
    right: Node

    def _compute_shape(self) -> Shape:
        a, b = self.left.shape, self.right.shape
        return Shape(a.rows * b.rows, a.cols * b.cols)


@node("arg")
class Vec(Node):
    """vec(X): the columns of X stacked (column-major)."""

    arg: Node

    def _compute_shape(self) -> Shape:
        return Shape(self.arg.shape.size, ONE)


@node("arg")
class Unvec(Node):
    """The inverse of vec: a column of length r·c read back as an r×c matrix."""

    arg: Node
    target: Shape

    def _compute_shape(self) -> Shape:
        return self.target


# ---------------------------------------------------------------- helpers

LEAVES = (Var, Differential, Const, DimValue, Pi, Zero, Ones, Identity, Commutation)


def is_const_number(e: Node, value: Fraction | int | None = None) -> bool:
    return isinstance(e, Const) and (value is None or e.value == value)


def walk(root: Node):
    """Every distinct node once, children before parents (iterative post-order)."""
    seen: set[int] = set()
    out: list[Node] = []
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        n, done = stack.pop()
        if done:
            out.append(n)
            continue
        if id(n) in seen:
            continue
        seen.add(id(n))
        stack.append((n, True))
        for c in reversed(n.children):
            if id(c) not in seen:
                stack.append((c, False))
    return out


def dag_size(root: Node) -> int:
    """Number of distinct nodes (a subexpression used twice counts once)."""
    return len({n for n in walk(root)})


def dag_edges(root: Node) -> int:
    """Distinct nodes plus their child references: the memory a DAG really takes."""
    return sum(1 + len(n.children) for n in walk(root))


def tree_size(root: Node) -> int:
    """Number of nodes of the tree as printed (shared subexpressions count each time); cached per node."""
    cached = root.__dict__.get("_tsize")
    if cached is not None:
        return cached
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        n, ready = stack.pop()
        if "_tsize" in n.__dict__:
            continue
        kids = n.children
        if ready or not kids:
            object.__setattr__(n, "_tsize", 1 + sum(c.__dict__["_tsize"] for c in kids))
            continue
        stack.append((n, True))
        stack.extend((c, False) for c in kids if "_tsize" not in c.__dict__)
    return root.__dict__["_tsize"]


def variables(root: Node) -> dict[str, Var]:
    return {n.name: n for n in walk(root) if isinstance(n, Var)}


def depends_on(root: Node, names: set[str]) -> bool:
    return any(isinstance(n, Var) and n.name in names for n in walk(root))


def map_bottom_up(root: Node, fn: Callable[[Node], Node]) -> Node:
    """Rebuild ``root`` with ``fn`` applied to every node after its children (memoized)."""
    memo: dict[Node, Node] = {}
    for n in walk(root):
        if n in memo:
            continue
        kids = n.children
        if kids:
            new = tuple(memo[c] for c in kids)
            if any(a is not b for a, b in zip(new, kids)):
                n2 = n.with_children(new)
            else:
                n2 = n
        else:
            n2 = n
        memo[n] = fn(n2)
    return memo[root]
