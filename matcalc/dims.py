"""Symbolic dimensions and shapes.

A :class:`Dim` is a monomial ``coef · s₁ · s₂ ⋯`` over dimension symbols: ``3``,
``n``, ``m·n`` (the length of ``vec(X)`` for an m×n ``X``).  A :class:`Shape` is
always two-dimensional: scalars are 1×1, vectors are columns (n×1), a row vector is
1×n.  :class:`DimSolver` unifies dimensions during shape inference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from .record import record


@record(order=True)
class Dim:
    """A dimension: a positive integer times a product of symbols (sorted, with repeats)."""

    coef: int = 1
    syms: tuple[str, ...] = ()

    @staticmethod
    def of(value: int | str | Dim) -> Dim:
        if isinstance(value, Dim):
            return value
        if isinstance(value, int):
            if value < 1:
                raise ValueError(f"dimension must be positive, got {value}")
            return Dim(value, ())
        return Dim(1, (value,))

    #: (set at creation: read for every node built, so not recomputed) the dimension is 1
    is_one: ClassVar[bool]
    #: (set at creation) no symbols: a plain integer
    is_int: ClassVar[bool]

    def __post_init__(self) -> None:
        d = self.__dict__
        d["is_int"] = not self.syms
        d["is_one"] = self.coef == 1 and not self.syms
        # hashed for every node built (shapes are part of node keys): computed once
        d["_hash"] = hash((self.coef, self.syms))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple:
        return (Dim, (self.coef, self.syms))  # not the stored hash: str hashes differ between processes

    @property
    def single_symbol(self) -> str | None:
        return self.syms[0] if self.coef == 1 and len(self.syms) == 1 else None

    def __mul__(self, other: Dim) -> Dim:
        return Dim(self.coef * other.coef, tuple(sorted(self.syms + other.syms)))

    def substitute(self, values: Mapping[str, Dim]) -> Dim:
        if not any(s in values for s in self.syms):
            return self
        out = Dim(self.coef, ())
        for s in self.syms:
            out = out * values.get(s, Dim(1, (s,)))
        return out

    def evaluate(self, sizes: Mapping[str, int]) -> int:
        v = self.coef
        for s in self.syms:
            v *= sizes[s]
        return v

    def __str__(self) -> str:
        parts = [str(self.coef)] if self.coef != 1 or not self.syms else []
        parts += list(self.syms)
        return "·".join(parts)


ONE = Dim(1, ())


@record()
class Shape:
    rows: Dim
    cols: Dim

    @staticmethod
    def of(rows: int | str | Dim, cols: int | str | Dim = 1) -> Shape:
        return Shape(Dim.of(rows), Dim.of(cols))

    #: (set at creation) 1×1
    is_scalar: ClassVar[bool]

    def __post_init__(self) -> None:
        d = self.__dict__
        d["is_scalar"] = self.rows.is_one and self.cols.is_one
        d["_hash"] = hash((self.rows._hash, self.cols._hash))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple:
        return (Shape, (self.rows, self.cols))

    @property
    def is_vector(self) -> bool:
        """A column vector (n×1, n ≠ 1)."""
        return self.cols.is_one and not self.rows.is_one

    @property
    def is_row(self) -> bool:
        return self.rows.is_one and not self.cols.is_one

    @property
    def is_matrix(self) -> bool:
        return not self.rows.is_one and not self.cols.is_one

    @property
    def is_square(self) -> bool:
        return self.rows == self.cols

    @property
    def kind(self) -> str:
        if self.is_scalar:
            return "scalar"
        if self.is_vector:
            return "vector"
        if self.is_row:
            return "row vector"
        return "matrix"

    @property
    def size(self) -> Dim:
        return self.rows * self.cols

    @property
    def T(self) -> Shape:
        return Shape(self.cols, self.rows)

    def substitute(self, values: Mapping[str, Dim]) -> Shape:
        return Shape(self.rows.substitute(values), self.cols.substitute(values))

    def evaluate(self, sizes: Mapping[str, int]) -> tuple[int, int]:
        return self.rows.evaluate(sizes), self.cols.evaluate(sizes)

    def symbols(self) -> set[str]:
        return set(self.rows.syms) | set(self.cols.syms)

    def __str__(self) -> str:
        if self.is_scalar:
            return "scalar"
        if self.is_vector:
            return str(self.rows)
        return f"{self.rows}×{self.cols}"


SCALAR = Shape(ONE, ONE)


class DimMismatch(Exception):
    """Raised by :meth:`DimSolver.unify`; the caller turns it into a ShapeError."""


class DimSolver:
    """Union-find style unification of dimensions.

    Symbols in ``rigid`` (declared by the user) only equal themselves; every other
    symbol is a variable that unification may bind to an integer, a rigid symbol, or
    a product.
    """

    def __init__(self, rigid: Iterable[str] = ()):
        self.rigid: set[str] = set(rigid)
        self.binding: dict[str, Dim] = {}
        self._fresh = 0

    def fresh(self) -> Dim:
        self._fresh += 1
        return Dim(1, (f"_{self._fresh}",))

    def resolve(self, d: Dim) -> Dim:
        """``d`` with every bound symbol replaced, to the end of each binding chain (iteratively)."""
        if not any(s in self.binding for s in d.syms):
            return d
        out = Dim(d.coef, ())
        for s in d.syms:
            out = out * self._resolve_symbol(s)
        return out

    def _resolve_symbol(self, s: str) -> Dim:
        chain: list[str] = []
        cur = Dim(1, (s,))
        while True:
            name = cur.single_symbol
            if name is None or name not in self.binding:
                break
            chain.append(name)
            cur = self.binding[name]
        if not cur.is_int and any(x in self.binding for x in cur.syms):
            cur = self.resolve(cur)  # a product whose factors are bound: short, so recursion is shallow
        for name in chain[:-1]:
            self.binding[name] = cur  # path compression
        return cur

    def resolve_shape(self, s: Shape) -> Shape:
        return Shape(self.resolve(s.rows), self.resolve(s.cols))

    def unify(self, a: Dim, b: Dim) -> Dim:
        a, b = self.resolve(a), self.resolve(b)
        if a == b:
            return a
        # cancel common factors: m·n = m·k  ⇒  n = k
        sa, sb = list(a.syms), list(b.syms)
        for s in list(sa):
            if s in sb:
                sa.remove(s)
                sb.remove(s)
        ra, rb = Dim(a.coef, tuple(sa)), Dim(b.coef, tuple(sb))
        for var, other in ((ra, rb), (rb, ra)):
            name = var.single_symbol
            if name is not None and name not in self.rigid and name not in other.syms:
                if other.is_one:
                    break  # a vector's length or a matrix side never becomes 1 by inference
                self.binding[name] = other
                return self.resolve(a)
        # an integer coefficient on a product of variables: 6 = 2·n  ⇒  n = 3
        for var, other in ((ra, rb), (rb, ra)):
            if (
                len(var.syms) == 1
                and var.coef > 1
                and var.syms[0] not in self.rigid
                and other.is_int
                and other.coef % var.coef == 0
                and other.coef // var.coef > 1
            ):
                self.binding[var.syms[0]] = Dim(other.coef // var.coef, ())
                return self.resolve(a)
        raise DimMismatch(f"{a} ≠ {b}")

    def unify_shapes(self, a: Shape, b: Shape) -> Shape:
        return Shape(self.unify(a.rows, b.rows), self.unify(a.cols, b.cols))
