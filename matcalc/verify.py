"""``--check``: matcalc proving its own answers against SymPy and finite differences.

The reference is independent of matcalc's rules.  Every symbolic dimension gets a
small distinct size; every variable becomes an explicit matrix whose entries are
independent real numbers or symbols (a symmetric matrix shares S[i,j] = S[j,i]); the
*original* expression is evaluated entry by entry, scalar operation by scalar
operation (determinants by elimination, inverses by Gauss–Jordan: no matrix-calculus
identity is used), and differentiated as a scalar function of each entry of X:

    J[k, l] = ∂ vec(F)[k] / ∂ vec(X)[l]        (column-major vec, as in the Cookbook)

That reference is laid out as matcalc lays out the derivative (gradient in X's
shape, numerator layout transposed, denominator layout transposed for Jacobians,
the Hessian as the Jacobian of the gradient) and compared entry by entry with
matcalc's result, evaluated by the same entry-by-entry translator:

1. at several random rational points (the decisive comparison), inside every
   function's domain and away from kinks.  The partial derivatives there are taken
   along each entry of X with truncated Taylor arithmetic in t (X = X₀ + t·Eₗ): sums,
   products and quotients of series are exact, and each elementwise function's own
   derivatives f′, f″ come from SymPy's scalar ``diff`` of its registry ``sympy``
   form.  Rational numbers stay exact; transcendental values (exp(1/3), …) are
   carried to 60 significant digits and compared to 30;
2. symbolically, for small expressions: all entries are SymPy symbols, the reference
   is SymPy's ``diff`` of each entry, and each difference must cancel (or simplify)
   to 0 within a time budget — a proof when it succeeds, no verdict when it does not;
3. by central finite differences in float64 (:func:`matcalc.numeric.numeric_check`).

For a matrix S declared symmetric, the entry S[i,j] = S[j,i] is one variable; the
partial by it is the derivative along Eᵢⱼ + Eⱼᵢ.  matcalc's gradient sym(G) =
(G + Gᵀ)/2 gives that as g[i,j] + g[j,i] (i ≠ j) and its Jacobians (entries treated as
independent) as the sum of the two columns, so those sums are compared (and the
gradient must be symmetric).

SymPy is imported only inside the functions of this module.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .dims import Dim, Shape
from .errors import CheckError, EvaluationError, MatcalcError
from .nodes import (
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

if TYPE_CHECKING:  # pragma: no cover
    from .api import Derivative

#: elementwise functions with a kink at 0, and with a kink where the arguments tie
_KINK_AT_ZERO = ("relu", "abs", "sign")
_KINK_AT_TIE = ("max", "min")

#: how many rational points should agree, and how many candidates to try for them
POINTS = 3
POINT_TRIES = 12
#: significant digits carried for transcendental numbers, and the relative tolerance
DIGITS = 60
TOLERANCE = 1e-30
#: the symbolic proof is attempted only below these sizes
EXACT_MAX_OPS = 400
EXACT_MAX_SYMBOLS = 12
EXACT_MAX_ENTRIES = 144


# ====================================================================== the report


@dataclass
class CheckReport:
    """The outcome of :func:`check_derivative`.

    ``status`` is ``"passed"``, ``"failed"`` (a real mismatch: ``mismatch`` names the
    first differing entry) or ``"inconclusive"`` (the check could not be carried
    out; ``reason`` says why).  ``methods`` lists what was done, one line each.
    """

    title: str
    sizes: dict[str, int]
    status: str = "inconclusive"
    methods: list[str] = field(default_factory=list)
    mismatch: str | None = None
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    exact: bool = False  # proved identical symbolically
    points: int = 0  # rational points at which SymPy and matcalc agree
    fd_error: float | None = None  # max abs error against finite differences

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def inconclusive(self) -> bool:
        return self.status == "inconclusive"

    def render(self) -> str:
        """A few lines: what was checked, at which sizes, how, and the verdict."""
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items()) or "none (all sizes fixed)"
        lines = [f"check: {self.title}", f"  sizes: {sizes}"]
        lines += [f"  {m}" for m in self.methods]
        lines += [f"  note: {n}" for n in self.notes]
        if self.failed:
            lines.append(f"FAILED: {self.mismatch}")
        elif self.passed:
            how = (
                "identical symbolically"
                if self.exact
                else f"agrees at {self.points} random rational point{'s' * (self.points != 1)}"
            )
            also = " and with finite differences" if self.fd_error is not None else ""
            lines.append(f"passed: {how} with SymPy{also}")
        else:
            lines.append(f"could not check: {self.reason}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class _CannotCheck(Exception):
    """The SymPy reference cannot be built (a function SymPy does not know, an unsupported node)."""


class _BadPoint(Exception):
    """The point is outside a domain, at a singular matrix, or at a kink."""


class _Mismatch(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class _NotProved(Exception):
    pass


class _Malformed(Exception):
    """A node whose operands do not fit together (an internal error of whoever built it)."""

    def __init__(self, node: Node, problem: str):
        from .printing import to_text

        try:
            shown = to_text(node)
        except Exception:  # pragma: no cover - printing a malformed node may fail too
            shown = type(node).__name__
        super().__init__(f"{shown} {problem}")


# ====================================================================== numbers


def _number(sp, x: Any):
    """A point value: exact if rational, else a real Float of DIGITS digits (domain errors raise _BadPoint)."""
    if x.is_Rational:
        return x
    if x.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise _BadPoint("a value is infinite or undefined there")
    v = x.evalf(DIGITS)
    if not v.is_Float:
        if v.is_extended_real is False or v.has(sp.I):
            raise _BadPoint("a value is not real there (outside a function's domain)")
        raise _CannotCheck(f"SymPy cannot evaluate {x} to a number")
    if v in (sp.zoo, sp.nan) or not v.is_finite:
        raise _BadPoint("a value is infinite there")
    return v


def _magnitude(x: Any) -> float:
    return abs(float(x))


def _same(sp, a: Any, b: Any) -> bool:
    """Equal exactly (rationals) or to TOLERANCE relative (transcendental values)."""
    diff = a - b
    if diff == 0:
        return True
    if diff.is_Rational:
        return False
    try:
        return abs(float(diff)) <= TOLERANCE * (1.0 + abs(float(b)))
    except (TypeError, ValueError):
        return False


def _show(v: Any) -> str:
    if getattr(v, "is_Rational", False):
        return str(v)
    try:
        return f"{float(v):.10g}"
    except (TypeError, ValueError):
        return str(v)


# ====================================================================== Taylor arithmetic
#
# A scalar series is a list [c0, c1, …, cK] (value, first and second Taylor
# coefficients in t); a matrix value is a list of K+1 coefficient matrices, each a
# list of rows.


class _Series:
    """Truncated power series in t with exact (or 60-digit) coefficients."""

    def __init__(self, sp, order: int):
        self.sp = sp
        self.K = order
        self.zero = sp.Integer(0)
        self._fn_cache: dict[Any, tuple] = {}

    def const(self, c: Any) -> list:
        return [c] + [self.zero] * self.K

    def add(self, *xs: list) -> list:
        return [self.sp.Add(*[x[k] for x in xs]) for k in range(self.K + 1)]

    def mul(self, a: list, b: list) -> list:
        return [self.sp.Add(*[a[i] * b[k - i] for i in range(k + 1)]) for k in range(self.K + 1)]

    def mul_all(self, xs: list[list]) -> list:
        acc = self.const(self.sp.Integer(1))
        for x in xs:
            acc = self.mul(acc, x)
        return acc

    def scale(self, c: Any, a: list) -> list:
        return [c * x for x in a]

    def varies(self, a: list) -> bool:
        return any(c != 0 for c in a[1:])

    def recip(self, a: list) -> list:
        """1/a: b₀ = 1/a₀, b_k = −(Σ_{i=1..k} a_i b_{k−i})/a₀."""
        if a[0] == 0 or _magnitude(a[0]) < 1e-40:
            raise _BadPoint("a division by zero there")
        b = [_number(self.sp, 1 / a[0])]
        for k in range(1, self.K + 1):
            b.append(-self.sp.Add(*[a[i] * b[k - i] for i in range(1, k + 1)]) * b[0])
        return b

    def _derivatives(self, key: Any, fn: Callable[..., Any], arity: int) -> tuple:
        """f, its gradient and Hessian as SymPy expressions in real dummies (SymPy's diff)."""
        hit = self._fn_cache.get(key)
        if hit is not None:
            return hit
        sp = self.sp
        u = [sp.Dummy(f"u{i}", real=True) for i in range(arity)]
        try:
            f = sp.sympify(fn(*u))
        except Exception as e:
            raise _CannotCheck(f"SymPy cannot build {key} ({type(e).__name__}: {e})") from None
        grads = [sp.diff(f, v) for v in u] if self.K >= 1 else []
        hess = [[sp.diff(g, v) for v in u] for g in grads] if self.K >= 2 else []
        out = (u, f, grads, hess)
        self._fn_cache[key] = out
        return out

    def apply(self, key: Any, fn: Callable[..., Any], args: list[list]) -> list:
        """f(a₁(t), …) to order K by the chain rule, with f's partials from SymPy's diff."""
        sp = self.sp
        u, f, grads, hess = self._derivatives(key, fn, len(args))
        at = dict(zip(u, [a[0] for a in args]))
        out = [_number(sp, f.xreplace(at))]
        if self.K == 0:
            return out
        moving = [i for i, a in enumerate(args) if self.varies(a)]
        g = {i: _number(sp, grads[i].xreplace(at)) for i in moving}
        out.append(sp.Add(*[g[i] * args[i][1] for i in moving]))
        if self.K >= 2:
            second = [g[i] * args[i][2] for i in moving]
            for i in moving:
                for j in moving:
                    h = _number(sp, hess[i][j].xreplace(at))
                    second.append(h * args[i][1] * args[j][1] / 2)
            out.append(sp.Add(*second))
        return out

    # ------------------------------------------------------------ square matrices of series

    def _pivot(self, m: list[list[list]], col: int, rows: range) -> int:
        best, where = 0.0, -1
        for r in rows:
            c0 = m[r][col][0]
            if c0 != 0:
                size = _magnitude(c0)
                if size > best:
                    best, where = size, r
        if where < 0 or best < 1e-30:
            raise _BadPoint("a matrix is singular there")
        return where

    def det(self, m: list[list[list]]) -> list:
        """det M by Gaussian elimination over the series ring (pivots with nonzero value)."""
        n = len(m)
        m = [row[:] for row in m]
        out = self.const(self.sp.Integer(1))
        for c in range(n):
            try:
                p = self._pivot(m, c, range(c, n))
            except _BadPoint:
                if self.K == 0:
                    return self.const(self.zero)  # a singular matrix: det 0
                raise  # its derivative would need more than elimination: not a point to test at
            if p != c:
                m[c], m[p] = m[p], m[c]
                out = self.scale(-1, out)
            out = self.mul(out, m[c][c])
            inv = self.recip(m[c][c])
            for r in range(c + 1, n):
                factor = self.mul(m[r][c], inv)
                m[r] = [self.add(m[r][k], self.scale(-1, self.mul(factor, m[c][k]))) for k in range(n)]
        return out

    def inverse(self, m: list[list[list]]) -> list[list[list]]:
        """M⁻¹ by Gauss–Jordan elimination over the series ring."""
        n = len(m)
        one, zero = self.const(self.sp.Integer(1)), self.const(self.zero)
        a = [row[:] + [one if i == j else zero for j in range(n)] for i, row in enumerate(m)]
        for c in range(n):
            p = self._pivot(a, c, range(c, n))
            a[c], a[p] = a[p], a[c]
            inv = self.recip(a[c][c])
            a[c] = [self.mul(inv, e) for e in a[c]]
            for r in range(n):
                if r != c and any(x != 0 for x in a[r][c]):
                    factor = a[r][c]
                    a[r] = [self.add(a[r][k], self.scale(-1, self.mul(factor, a[c][k]))) for k in range(2 * n)]
        return [row[n:] for row in a]


class _Pointwise:
    """Evaluate checked nodes entry by entry at a numeric point, as Taylor series in t.

    ``values`` maps each variable to its coefficient matrices (K+1 of them: X₀, the
    direction E, 0).  With K = 0 it is plain exact evaluation.  Points outside a
    domain, singular matrices and kinks raise :class:`_BadPoint`.
    """

    def __init__(self, sp, series: _Series, values: Mapping[str, list], sizes: Mapping[str, int]):
        self.sp = sp
        self.s = series
        self.K = series.K
        self.values = values
        self.sizes = sizes
        self.memo: dict[Node, list] = {}

    def __call__(self, root: Node) -> list:
        for n in walk(root):
            if n not in self.memo:
                self._well_formed(n)
                v = self.eval(n)
                if self.shape_of(v) != self.dims(n.shape):
                    raise _Malformed(n, f"is {self.shape_of(v)} entry by entry but declares {n.shape}")
                self.memo[n] = v
        return self.memo[root]

    def _well_formed(self, n: Node) -> None:
        """The operands of ``n`` fit together (a node built with the wrong shapes raises :class:`_Malformed`)."""
        shapes = [self.dims(c.shape) for c in n.children]
        if isinstance(n, (Trace, Det, LogDet, Inverse, DiagPart)) and shapes[0][0] != shapes[0][1]:
            raise _Malformed(n, f"needs a square matrix, but its argument is {shapes[0][0]}×{shapes[0][1]}")
        if isinstance(n, MatMul):
            for (_, c1), (r2, _) in zip(shapes, shapes[1:]):
                if c1 != r2:
                    raise _Malformed(n, f"multiplies a matrix with {c1} columns by one with {r2} rows")
        if isinstance(n, (Add, Mul, Pow, Apply, Compare)):
            r, c = self.dims(n.shape)
            for a, b in shapes:
                if (a, b) != (r, c) and not (a in (1, r) and b in (1, c) and (a == 1 or b == 1)):
                    raise _Malformed(n, f"combines a {a}×{b} operand elementwise into a {r}×{c} result")
        if isinstance(n, Diag) and shapes[0][1] != 1:
            raise _Malformed(n, f"needs a vector, but its argument is {shapes[0][0]}×{shapes[0][1]}")

    # ------------------------------------------------------------ helpers

    def dims(self, s: Shape) -> tuple[int, int]:
        return s.evaluate(self.sizes)

    def matrix(self, r: int, c: int, entry: Callable[[int, int], Any]) -> list:
        """A constant value (no t-dependence) with the given entries."""
        z = self.s.zero
        rows = [[entry(i, j) for j in range(c)] for i in range(r)]
        return [rows] + [[[z] * c for _ in range(r)] for _ in range(self.K)]

    def shape_of(self, v: list) -> tuple[int, int]:
        return len(v[0]), len(v[0][0]) if v[0] else 0

    def series_at(self, v: list, i: int, j: int) -> list:
        return [v[k][i][j] for k in range(self.K + 1)]

    def from_series(self, r: int, c: int, entry: Callable[[int, int], list]) -> list:
        grid = [[entry(i, j) for j in range(c)] for i in range(r)]
        return [[[grid[i][j][k] for j in range(c)] for i in range(r)] for k in range(self.K + 1)]

    def broadcast_series(self, v: list, r: int, c: int) -> Callable[[int, int], list]:
        vr, vc = self.shape_of(v)

        def at(i: int, j: int) -> list:
            return self.series_at(v, i if vr > 1 else 0, j if vc > 1 else 0)

        return at

    def elementwise(self, n: Node, args: list[list], fn: Callable[..., list]) -> list:
        r, c = self.dims(n.shape)
        ats = [self.broadcast_series(a, r, c) for a in args]
        return self.from_series(r, c, lambda i, j: fn(*[at(i, j) for at in ats]))

    def linear(self, v: list, fn: Callable[[list[list[Any]]], list[list[Any]]]) -> list:
        """Apply a linear map to every coefficient matrix."""
        return [fn(m) for m in v]

    def bilinear(self, a: list, b: list, op: Callable[[Any, Any], Any]) -> list:
        """Σ_{i+j=k} op(aᵢ, bⱼ): the series of a bilinear product."""
        out = []
        for k in range(self.K + 1):
            terms = [op(a[i], b[k - i]) for i in range(k + 1)]
            acc = terms[0]
            for t in terms[1:]:
                acc = [[x + y for x, y in zip(ra, rb)] for ra, rb in zip(acc, t)]
            out.append(acc)
        return out

    def square(self, v: list) -> list[list[list]]:
        r, _ = self.shape_of(v)
        return [[self.series_at(v, i, j) for j in range(r)] for i in range(r)]

    def scalar(self, s: list) -> list:
        return [[[c]] for c in s]

    def _kink_zero(self, name: str, x: Any) -> None:
        if x == 0 or _magnitude(x) < 1e-12:
            raise _BadPoint(f"{name} is at its kink there")

    def _extreme(self, a: list, cells: list[tuple[int, int]], op: str) -> list:
        """The series of the largest (smallest) of the entries ``cells`` of ``a``; a tie
        between entries that move apart is a kink."""
        series = [self.series_at(a, i, j) for i, j in cells]
        best = max(series, key=lambda s: s[0]) if op == "max" else min(series, key=lambda s: s[0])
        for s in series:
            if s is not best and s != best:
                self._kink_tie(s[0], best[0])
        return best

    def _kink_tie(self, a: Any, b: Any) -> None:
        if a == b or _magnitude(a - b) < 1e-12:
            raise _BadPoint("a comparison is tied there")

    # ------------------------------------------------------------ one node

    def eval(self, n: Node) -> list:  # noqa: C901 - one branch per node type
        sp, S = self.sp, self.s
        g = self.memo.__getitem__
        if isinstance(n, Var):
            return self.values[n.name]
        if isinstance(n, Const):
            v = sp.Rational(n.value.numerator, n.value.denominator)
            return self.matrix(1, 1, lambda i, j: v)
        if isinstance(n, DimValue):
            v = sp.Integer(n.dim.evaluate(self.sizes))
            return self.matrix(1, 1, lambda i, j: v)
        if isinstance(n, Pi):
            v = _number(sp, sp.pi)
            return self.matrix(1, 1, lambda i, j: v)
        if isinstance(n, Zero):
            return self.matrix(*self.dims(n.shape), lambda i, j: S.zero)
        if isinstance(n, Ones):
            return self.matrix(*self.dims(n.shape), lambda i, j: sp.Integer(1))
        if isinstance(n, Identity):
            return self.matrix(*self.dims(n.shape), lambda i, j: sp.Integer(int(i == j)))
        if isinstance(n, Commutation):
            r, c = n.r.evaluate(self.sizes), n.c.evaluate(self.sizes)
            # K[i·c + j, j·r + i] = 1: K vec(A) = vec(Aᵀ) for an r×c matrix A
            return self.matrix(r * c, r * c, lambda a, b: sp.Integer(int(b == (a % c) * r + a // c)))
        if isinstance(n, Add):
            return self.elementwise(n, [g(t) for t in n.terms], lambda *xs: S.add(*xs))
        if isinstance(n, Mul):

            def product(*xs: list) -> list:
                acc = xs[0]
                for x in xs[1:]:
                    acc = S.mul(acc, x)
                return acc

            return self.elementwise(n, [g(f) for f in n.factors], product)
        if isinstance(n, Pow):
            return self.elementwise(n, [g(n.base), g(n.exponent)], self._power)
        if isinstance(n, Apply):
            fn = n.fn
            if fn.sympy is None:
                raise _CannotCheck(f"SymPy has no form of the function {fn.name}")

            same = len(n.args) == 2 and n.args[0] == n.args[1]  # max(a, a) = a: no kink

            def apply(*xs: list) -> list:
                if fn.name in _KINK_AT_ZERO:
                    self._kink_zero(fn.name, xs[0][0])
                elif fn.name in _KINK_AT_TIE and not same:
                    self._kink_tie(xs[0][0], xs[1][0])
                return S.apply(("fn", fn.name), fn.sympy, xs)

            return self.elementwise(n, [g(a) for a in n.args], apply)
        if isinstance(n, Compare):
            test = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}[n.op]

            same = n.left == n.right  # (a > a) is constant: no jump

            def indicator(a: list, b: list) -> list:
                if not same:
                    self._kink_tie(a[0], b[0])
                return S.const(sp.Integer(1 if bool(test(a[0], b[0])) else 0))

            return self.elementwise(n, [g(n.left), g(n.right)], indicator)
        if isinstance(n, MatMul):
            acc = g(n.factors[0])
            for f in n.factors[1:]:
                acc = self.bilinear(acc, g(f), _matmul)
            return acc
        if isinstance(n, Transpose):
            return self.linear(g(n.arg), lambda m: [list(col) for col in zip(*m)])
        if isinstance(n, Sum):
            a = g(n.arg)
            if n.axis is None:
                return self.linear(a, lambda m: [[sp.Add(*[x for row in m for x in row])]])
            if n.axis == 0:
                return self.linear(a, lambda m: [[sp.Add(*col) for col in zip(*m)]])
            return self.linear(a, lambda m: [[sp.Add(*row)] for row in m])
        if isinstance(n, Broadcast):
            r, c = self.dims(n.target)
            a = g(n.arg)
            ar, ac = self.shape_of(a)
            return self.linear(a, lambda m: [[m[i if ar > 1 else 0][j if ac > 1 else 0] for j in range(c)] for i in range(r)])
        if isinstance(n, Trace):
            return self.linear(g(n.arg), lambda m: [[sp.Add(*[m[i][i] for i in range(len(m))])]])
        if isinstance(n, Det):
            return self.scalar(S.det(self.square(g(n.arg))))
        if isinstance(n, LogDet):
            d = S.det(self.square(g(n.arg)))
            if d[0] == 0 or float(d[0]) <= 0:
                raise _BadPoint("logdet of a matrix whose determinant is not positive")
            return self.scalar(S.apply("log", sp.log, [d]))
        if isinstance(n, Expm):
            return self._expm(g(n.arg))
        if isinstance(n, Inverse):
            inv = S.inverse(self.square(g(n.arg)))
            r = len(inv)
            return self.from_series(r, r, lambda i, j: inv[i][j])
        if isinstance(n, Diag):
            v = g(n.arg)
            return self.linear(v, lambda m: [[m[i][0] if i == j else S.zero for j in range(len(m))] for i in range(len(m))])
        if isinstance(n, DiagPart):
            return self.linear(g(n.arg), lambda m: [[m[i][i]] for i in range(len(m))])
        if isinstance(n, Norm):
            a = g(n.arg)
            r, c = self.shape_of(a)
            entries = [self.series_at(a, i, j) for i in range(r) for j in range(c)]
            if n.p == 1:
                for e in entries:
                    self._kink_zero("norm1", e[0])
                return self.scalar(S.add(*[S.apply("abs", sp.Abs, [e]) for e in entries]))
            total = S.add(*[S.mul(e, e) for e in entries])
            if total[0] == 0:
                raise _BadPoint("the norm is 0 there (a kink)")
            return self.scalar(S.apply("sqrt", sp.sqrt, [total]))
        if isinstance(n, ArgExtremum):
            a = g(n.arg)
            r, c = self.shape_of(a)
            groups = [[(i, j) for i in range(r) for j in range(c)]] if n.axis is None else [[(i, j) for j in range(c)] for i in range(r)]
            mask = [[0] * c for _ in range(r)]
            for group in groups:
                best = self._extreme(a, group, n.op)
                for i, j in group:
                    mask[i][j] = int(self.series_at(a, i, j) == best)
            return self.matrix(r, c, lambda i, j: sp.Integer(mask[i][j]))
        if isinstance(n, Extremum):
            a = g(n.arg)
            r, c = self.shape_of(a)
            cells = [[(i, j) for i in range(r) for j in range(c)]] if n.axis is None else [[(i, j) for j in range(c)] for i in range(r)]
            tops = [self._extreme(a, group, n.op) for group in cells]
            return self.from_series(len(tops), 1, lambda i, j: tops[i])
        if isinstance(n, Prod):
            a = g(n.arg)
            r, c = self.shape_of(a)
            return self.scalar(S.mul_all([self.series_at(a, i, j) for i in range(r) for j in range(c)]))
        if isinstance(n, (Softmax, LogSumExp)):
            a = g(n.arg)
            r, c = self.shape_of(a)
            exps = [[S.apply("exp", sp.exp, [self.series_at(a, i, j)]) for j in range(c)] for i in range(r)]
            if n.arg.shape.cols.is_one:  # one vector: sums over the column
                groups = [[exps[i][0] for i in range(r)]]
            else:  # a matrix: row by row
                groups = [exps[i] for i in range(r)]
            totals = [S.add(*grp) for grp in groups]
            if isinstance(n, LogSumExp):
                logs = [S.apply("log", sp.log, [t]) for t in totals]
                return self.from_series(len(logs), 1, lambda i, j: logs[i])
            recips = [S.recip(t) for t in totals]
            if n.arg.shape.cols.is_one:
                return self.from_series(r, 1, lambda i, j: S.mul(exps[i][0], recips[0]))
            return self.from_series(r, c, lambda i, j: S.mul(exps[i][j], recips[i]))
        if isinstance(n, Kron):
            return self.bilinear(g(n.left), g(n.right), _kron)
        if isinstance(n, Vec):
            return self.linear(g(n.arg), lambda m: [[m[k % len(m)][k // len(m)]] for k in range(len(m) * len(m[0]))])
        if isinstance(n, Unvec):
            r, c = self.dims(n.target)
            return self.linear(g(n.arg), lambda m: [[m[i + j * r][0] for j in range(c)] for i in range(r)])
        if isinstance(n, Differential):
            raise _CannotCheck("the result still contains a differential")
        raise _CannotCheck(f"no SymPy translation of {type(n).__name__} nodes")

    def _expm(self, a: list) -> list:
        """e^{A(t)} to order K, in DIGITS-digit arithmetic (mpmath's expm, not matcalc's Padé code).

        The block matrix with A₀ on its diagonal and Aₖ on its k-th block superdiagonal
        represents A(t) = Σ Aₖ tᵏ (mod t^{K+1}) faithfully, so its exponential holds the
        Taylor coefficients of e^{A(t)} in its first block row."""
        import mpmath

        sp, K = self.sp, self.K
        r = len(a[0])
        with mpmath.workdps(DIGITS + 20):
            t = mpmath.zeros((K + 1) * r, (K + 1) * r)
            for bi in range(K + 1):
                for bj in range(bi, K + 1):
                    m = a[bj - bi]
                    for i in range(r):
                        for j in range(r):
                            t[bi * r + i, bj * r + j] = mpmath.mpf(sp.Float(m[i][j], DIGITS + 20))
            e = mpmath.expm(t)
            return [[[sp.Float(e[i, k * r + j], DIGITS) for j in range(r)] for i in range(r)] for k in range(K + 1)]

    def _power(self, base: list, ex: list) -> list:
        """a^b entrywise: a function of the base, of the exponent, or of both."""
        sp, S = self.sp, self.s
        if not S.varies(ex):
            e0 = ex[0]
            if not S.varies(base):
                return S.const(_number(sp, base[0] ** e0))
            return S.apply(("pow", e0), lambda u: u**e0, [base])
        if not S.varies(base):
            b0 = base[0]
            return S.apply(("exp-base", b0), lambda v: b0**v, [ex])
        return S.apply("pow2", lambda u, v: u**v, [base, ex])


def _matmul(a: list[list[Any]], b: list[list[Any]]) -> list[list[Any]]:
    import sympy as sp

    cols = list(zip(*b))
    return [[sp.Add(*[x * y for x, y in zip(row, col)]) for col in cols] for row in a]


def _kron(a: list[list[Any]], b: list[list[Any]]) -> list[list[Any]]:
    br, bc = len(b), len(b[0])
    return [[a[i // br][j // bc] * b[i % br][j % bc] for j in range(len(a[0]) * bc)] for i in range(len(a) * br)]


# ====================================================================== symbolic, entry by entry


def _symbol_matrix(sp, var: Var, sizes: Mapping[str, int]):
    """Independent real symbols for each entry; a symmetric matrix shares S[i,j] = S[j,i]."""
    r, c = var.shape.evaluate(sizes)
    name = var.name

    def sym(i: int, j: int):
        if var.symmetric and i > j:
            i, j = j, i
        if r == 1 and c == 1:
            return sp.Symbol(name, real=True)
        if c == 1:
            return sp.Symbol(f"{name}[{i}]", real=True)
        if r == 1:
            return sp.Symbol(f"{name}[0,{j}]", real=True)
        return sp.Symbol(f"{name}[{i},{j}]", real=True)

    return sp.Matrix(r, c, lambda i, j: sym(i, j))


def _leibniz_det(sp, m):
    """det X as the Leibniz sum (no expansion of the entries); Berkowitz beyond 4×4."""
    n = m.rows
    if n > 4:
        return m.det(method="berkowitz")
    terms = []
    for perm in itertools.permutations(range(n)):
        inversions = sum(1 for a in range(n) for b in range(a + 1, n) if perm[a] > perm[b])
        prod = sp.Mul(*[m[i, perm[i]] for i in range(n)])
        terms.append(-prod if inversions % 2 else prod)
    return sp.Add(*terms)


class _Symbolic:
    """Evaluate checked nodes to explicit SymPy matrices of symbolic expressions."""

    def __init__(self, sp, values: Mapping[str, Any], sizes: Mapping[str, int]):
        self.sp = sp
        self.values = values
        self.sizes = sizes
        self.memo: dict[Node, Any] = {}

    def __call__(self, root: Node):
        for n in walk(root):
            if n not in self.memo:
                self.memo[n] = self.eval(n)
        return self.memo[root]

    def dims(self, s: Shape) -> tuple[int, int]:
        return s.evaluate(self.sizes)

    def fill(self, m, r: int, c: int):
        """Broadcast a 1×1, r×1 or 1×c matrix to r×c."""
        if m.shape == (r, c):
            return m
        return self.sp.Matrix(r, c, lambda i, j: m[i if m.rows > 1 else 0, j if m.cols > 1 else 0])

    def elementwise(self, n: Node, args: list, fn):
        r, c = self.dims(n.shape)
        full = [self.fill(a, r, c) for a in args]
        return self.sp.Matrix(r, c, lambda i, j: fn(*[a[i, j] for a in full]))

    def inverse(self, m):
        """X⁻¹ = adj(X)/det X, adj(X)[j, i] = (−1)^(i+j) det(X without row i and column j)."""
        sp = self.sp
        d = _leibniz_det(sp, m)
        if d == 0:
            raise _CannotCheck("a matrix to invert is singular")
        n = m.rows
        cof = [[(-1) ** (i + j) * _leibniz_det(sp, m.minor_submatrix(i, j)) for j in range(n)] for i in range(n)]
        return sp.Matrix(n, n, lambda i, j: cof[j][i] / d)

    def eval(self, n: Node):  # noqa: C901 - one branch per node type
        sp = self.sp
        g = self.memo.__getitem__
        if isinstance(n, Var):
            return self.values[n.name]
        if isinstance(n, Const):
            return sp.Matrix([[sp.Rational(n.value.numerator, n.value.denominator)]])
        if isinstance(n, DimValue):
            return sp.Matrix([[sp.Integer(n.dim.evaluate(self.sizes))]])
        if isinstance(n, Pi):
            return sp.Matrix([[sp.pi]])
        if isinstance(n, Zero):
            return sp.zeros(*self.dims(n.shape))
        if isinstance(n, Ones):
            return sp.ones(*self.dims(n.shape))
        if isinstance(n, Identity):
            return sp.eye(self.dims(n.shape)[0])
        if isinstance(n, Commutation):
            r, c = n.r.evaluate(self.sizes), n.c.evaluate(self.sizes)
            return sp.Matrix(r * c, r * c, lambda a, b: int(b == (a % c) * r + a // c))
        if isinstance(n, Add):
            return self.elementwise(n, [g(t) for t in n.terms], lambda *xs: sp.Add(*xs))
        if isinstance(n, Mul):
            return self.elementwise(n, [g(f) for f in n.factors], lambda *xs: sp.Mul(*xs))
        if isinstance(n, Pow):
            return self.elementwise(n, [g(n.base), g(n.exponent)], lambda a, b: a**b)
        if isinstance(n, Apply):
            if n.fn.sympy is None:
                raise _CannotCheck(f"SymPy has no form of the function {n.fn.name}")
            try:
                return self.elementwise(n, [g(a) for a in n.args], n.fn.sympy)
            except Exception as e:
                raise _CannotCheck(f"SymPy cannot evaluate {n.fn.name} ({type(e).__name__}: {e})") from None
        if isinstance(n, Compare):
            rel = {">": sp.StrictGreaterThan, ">=": sp.GreaterThan, "<": sp.StrictLessThan, "<=": sp.LessThan}[n.op]
            return self.elementwise(n, [g(n.left), g(n.right)], lambda a, b: sp.Piecewise((1, rel(a, b)), (0, True)))
        if isinstance(n, MatMul):
            out = g(n.factors[0])
            for f in n.factors[1:]:
                out = out * g(f)
            return out
        if isinstance(n, Transpose):
            return g(n.arg).T
        if isinstance(n, Sum):
            a = g(n.arg)
            if n.axis is None:
                return sp.Matrix([[sp.Add(*list(a))]])
            if n.axis == 0:
                return sp.Matrix(1, a.cols, lambda i, j: sp.Add(*[a[k, j] for k in range(a.rows)]))
            return sp.Matrix(a.rows, 1, lambda i, j: sp.Add(*[a[i, k] for k in range(a.cols)]))
        if isinstance(n, Broadcast):
            return self.fill(g(n.arg), *self.dims(n.target))
        if isinstance(n, Trace):
            return sp.Matrix([[g(n.arg).trace()]])
        if isinstance(n, Det):
            return sp.Matrix([[_leibniz_det(sp, g(n.arg))]])
        if isinstance(n, LogDet):
            return sp.Matrix([[sp.log(_leibniz_det(sp, g(n.arg)))]])
        if isinstance(n, Inverse):
            return self.inverse(g(n.arg))
        if isinstance(n, Diag):
            return sp.diag(*list(g(n.arg)))
        if isinstance(n, DiagPart):
            a = g(n.arg)
            return sp.Matrix(a.rows, 1, lambda i, j: a[i, i])
        if isinstance(n, Norm):
            a = g(n.arg)
            if n.p == 1:
                return sp.Matrix([[sp.Add(*[sp.Abs(e) for e in a])]])
            return sp.Matrix([[sp.sqrt(sp.Add(*[e**2 for e in a]))]])
        if isinstance(n, (Extremum, ArgExtremum)):
            # SymPy's Max of the entries, with the indicators of its derivative as Piecewise,
            # takes minutes to simplify: the pointwise check covers it
            raise _CannotCheck("the max of entries is checked at points only")
        if isinstance(n, Softmax):
            e = g(n.arg).applyfunc(sp.exp)
            if n.shape.cols.is_one:
                s = sp.Add(*list(e))
                return e.applyfunc(lambda t: t / s)
            rows = [sp.Add(*[e[i, k] for k in range(e.cols)]) for i in range(e.rows)]
            return sp.Matrix(e.rows, e.cols, lambda i, j: e[i, j] / rows[i])
        if isinstance(n, Prod):
            return sp.Matrix([[sp.Mul(*list(g(n.arg)))]])
        if isinstance(n, LogSumExp):
            a = g(n.arg)
            if n.arg.shape.cols.is_one:
                return sp.Matrix([[sp.log(sp.Add(*[sp.exp(t) for t in a]))]])
            return sp.Matrix(a.rows, 1, lambda i, j: sp.log(sp.Add(*[sp.exp(a[i, k]) for k in range(a.cols)])))
        if isinstance(n, Kron):
            a, b = g(n.left), g(n.right)
            return sp.Matrix(
                a.rows * b.rows, a.cols * b.cols, lambda i, j: a[i // b.rows, j // b.cols] * b[i % b.rows, j % b.cols]
            )
        if isinstance(n, Vec):
            a = g(n.arg)
            return sp.Matrix(a.rows * a.cols, 1, lambda k, _: a[k % a.rows, k // a.rows])
        if isinstance(n, Unvec):
            v = g(n.arg)
            r, c = self.dims(n.target)
            return sp.Matrix(r, c, lambda i, j: v[i + j * r, 0])
        if isinstance(n, (Expm, ExpmFrechet)):
            raise _CannotCheck("the matrix exponential has no closed form entry by entry")
        if isinstance(n, Differential):
            raise _CannotCheck("the result still contains a differential")
        raise _CannotCheck(f"no SymPy translation of {type(n).__name__} nodes")


def _too_big(exprs: list[Any], limit: int) -> bool:
    """More than ``limit`` distinct subexpressions (each counted once; stops early)."""
    seen: set[Any] = set()
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        if len(seen) > limit:
            return True
        stack.extend(e.args)
    return False


# ====================================================================== arrangement


@dataclass
class _Layout:
    """Where each partial derivative sits in matcalc's result (the conventions of :mod:`matcalc.engine`)."""

    f_shape: tuple[int, int]  # the differentiated function (for a Hessian: the gradient, X's shape)
    x_shape: tuple[int, int]
    order: int
    layout: str
    f_scalar: bool
    x_scalar: bool
    f_column: bool

    @property
    def hessian(self) -> bool:
        """Order 2 by a vector or matrix (by a scalar, the second derivative is laid out as the first)."""
        return self.order == 2 and not self.x_scalar

    def expected_shape(self) -> tuple[int, int]:
        (r, c), (p, q) = self.f_shape, self.x_shape
        if self.hessian:
            return (p * q, p * q)
        if self.f_scalar:
            return (q, p) if self.layout == "numerator" and not self.x_scalar else (p, q)
        if self.x_scalar:
            return (c, r) if self.layout == "denominator" and self.f_column else (r, c)
        return (p * q, r * c) if self.layout == "denominator" else (r * c, p * q)

    def arrange(self, sp, jac):
        """The Jacobian ∂vec(F)/∂vec(X) (r·c × p·q) laid out as matcalc lays out this derivative."""
        (r, c), (p, q) = self.f_shape, self.x_shape
        if self.hessian:
            return jac
        if self.f_scalar:  # the gradient, in X's shape (its transpose in numerator layout)
            g = sp.Matrix(p, q, lambda i, j: jac[0, i + j * p])
            return g.T if self.layout == "numerator" and not self.x_scalar else g
        if self.x_scalar:  # by a scalar: F's shape (a column F transposed in denominator layout)
            m = sp.Matrix(r, c, lambda i, j: jac[i + j * r, 0])
            return m.T if self.layout == "denominator" and self.f_column else m
        return jac.T if self.layout == "denominator" else jac

    def jacobian_of(self, sp, m):
        """The inverse of :meth:`arrange`: matcalc's result read back as ∂vec(F)/∂vec(X)."""
        (r, c), (p, q) = self.f_shape, self.x_shape
        if self.hessian:
            return m
        if self.f_scalar:
            g = m.T if self.layout == "numerator" and not self.x_scalar else m
            return sp.Matrix(1, p * q, lambda _, k: g[k % p, k // p])
        if self.x_scalar:
            f = m.T if self.layout == "denominator" and self.f_column else m
            return sp.Matrix(r * c, 1, lambda k, _: f[k % r, k // r])
        return m.T if self.layout == "denominator" else m


# ====================================================================== the check


def _variables(d: Derivative) -> dict[str, Var]:
    variables = dict(d.checked.variables)
    variables.setdefault(d.wrt.name, d.wrt)
    return variables


def _check_sizes(d: Derivative) -> list[dict[str, int]]:
    """Candidate size assignments: distinct small sizes, at most four candidates.

    The first gives the sides of matrices under inv/det/logdet the small sizes (3, 2)
    and every other dimension a larger one, so products such as XᵀAX can have full
    rank; the others permute the sizes (some expressions are defined only for some).
    """
    from .numeric import assign_sizes, symbols_of

    syms = symbols_of(_variables(d), d.expression, d.node)
    first: list[str] = []
    for n in walk(d.expression):
        if isinstance(n, (Inverse, Det, LogDet)):
            for s in n.arg.shape.rows.syms:
                if s not in first:
                    first.append(s)
    rest = [s for s in syms if s not in first]
    out: list[dict[str, int]] = []
    if first and rest:
        sz = assign_sizes(first)
        top = max(sz.values())
        sz.update(assign_sizes(rest, tuple(range(top + 1, top + 1 + len(rest)))))
        out.append(sz)
    ordered = first + rest
    perms = itertools.permutations(ordered) if len(ordered) <= 3 else iter([tuple(ordered), tuple(reversed(ordered))])
    for perm in perms:
        sz = assign_sizes(list(perm))
        if sz not in out:
            out.append(sz)
        if len(out) >= 4:
            break
    return out or [{}]


def _rational_entries(sp, a: np.ndarray, symmetric: bool) -> list[list[Any]]:
    """A float matrix rounded to nearby multiples of 1/32 (never exactly 0)."""
    r, c = a.shape

    def q(v: float):
        k = round(v * 32)
        if k == 0:
            k = 1 if v >= 0 else -1
        return sp.Rational(k, 32)

    return [[q(float(a[min(i, j), max(i, j)] if symmetric else a[i, j])) for j in range(c)] for i in range(r)]


def _entry_name(i: int, j: int) -> str:
    return f"({i}, {j})"


class _SympyCheck:
    """The comparison with SymPy at one size assignment."""

    def __init__(self, sp, d: Derivative, sizes: dict[str, int]):
        self.sp = sp
        self.d = d
        self.sizes = sizes
        self.variables = _variables(d)
        self.x = d.wrt
        p, q = self.x.shape.evaluate(sizes)
        # the distinct scalar variables of X and their positions in column-major vec(X)
        where: dict[tuple[int, int], list[int]] = {}
        for k in range(p * q):
            i, j = k % p, k // p
            key = (min(i, j), max(i, j)) if self.x.symmetric else (i, j)
            where.setdefault(key, []).append(k)
        self.keys = list(where)
        self.positions = [where[key] for key in self.keys]
        self.mult = [len(pos) for pos in self.positions]
        self.shared = any(m > 1 for m in self.mult)
        fs = d.expression.shape
        self.layout = _Layout(
            f_shape=fs.evaluate(sizes) if d.order == 1 or self.x.shape.is_scalar else (p, q),
            x_shape=(p, q),
            order=d.order,
            layout=d.layout,
            f_scalar=fs.is_scalar,
            x_scalar=self.x.shape.is_scalar,
            f_column=fs.cols.is_one,
        )

    def entry_label(self, b: int) -> str:
        i, j = self.keys[b]
        return f"{self.x.name}[{i},{j}]" + (f" = {self.x.name}[{j},{i}]" if i != j else "")

    # ---------------------------------------------------------------- comparison

    def contract(self, jac):
        """Columns of a Jacobian by vec(X) summed over the positions of each distinct entry."""
        sp = self.sp
        return sp.Matrix(jac.rows, len(self.keys), lambda a, b: sp.Add(*[jac[a, k] for k in self.positions[b]]))

    def compare(self, got, ref, where: str, equal: Callable[[Any, Any], bool]) -> None:
        """Raise :class:`_Mismatch` at the first entry where matcalc and the reference differ.

        ``ref`` has one row per entry of vec(F) and one column per distinct entry of X.
        """
        sp = self.sp
        want = self.layout.expected_shape()
        if got.shape != want:
            raise _Mismatch(f"matcalc's result is {got.shape[0]}×{got.shape[1]}, expected {want[0]}×{want[1]} ({where})")
        if not self.shared:
            expected = self.layout.arrange(sp, ref)
            for i in range(got.rows):
                for j in range(got.cols):
                    if not equal(got[i, j], expected[i, j]):
                        raise _Mismatch(
                            f"entry {_entry_name(i, j)} {where}: matcalc {_show(got[i, j])}, SymPy {_show(expected[i, j])}"
                        )
            return
        # symmetric X: derivatives along Eᵢⱼ + Eⱼᵢ, by the shared entry
        if self.layout.f_scalar and self.d.order == 1:
            for i in range(got.rows):
                for j in range(i + 1, got.cols):
                    if not equal(got[i, j], got[j, i]):
                        raise _Mismatch(
                            f"the gradient by the symmetric {self.x.name} is not symmetric {where}: entry "
                            f"{_entry_name(i, j)} is {_show(got[i, j])}, entry {_entry_name(j, i)} is {_show(got[j, i])}"
                        )
        mine = self.contract(self.layout.jacobian_of(sp, got))
        for a in range(mine.rows):
            for b in range(mine.cols):
                if not equal(mine[a, b], ref[a, b]):
                    raise _Mismatch(
                        f"∂vec(F)[{a}]/∂{self.entry_label(b)} {where}: matcalc {_show(mine[a, b])}, SymPy {_show(ref[a, b])}"
                    )

    # ---------------------------------------------------------------- at points

    def _value(self, series: _Series, values: Mapping[str, list[list[Any]]], node: Node, direction: list[int] = ()) -> list:
        """``node`` at the point, as a series in t along X₀ + t·E (E: ones at ``direction``)."""
        sp = self.sp
        vals: dict[str, list] = {}
        for name, m in values.items():
            r, c = len(m), len(m[0])
            coefs = [m] + [[[series.zero] * c for _ in range(r)] for _ in range(series.K)]
            if name == self.x.name and series.K >= 1:
                e = [[series.zero] * c for _ in range(r)]
                for k in direction:
                    e[k % r][k // r] = sp.Integer(1)
                coefs[1] = e
            vals[name] = coefs
        return _Pointwise(sp, series, vals, self.sizes)(node)

    def reference_at(self, values: Mapping[str, list[list[Any]]]):
        """The partials at the point: one row per entry of vec(F), one column per entry of X.

        Column b is the t-coefficient of vec(F(X₀ + t·E_b)).  For order 2 the
        Hessian of f comes from second coefficients: f(X₀ + t(E_a + E_b)) has
        t²-coefficient (H_aa + 2H_ab + H_bb)/2; its rows are laid out like vec(X)
        with ∂f/∂s divided by the number of positions of s (the gradient sym(G)).
        """
        sp = self.sp
        n = len(self.keys)
        if self.d.order == 1 or self.layout.x_scalar:
            # column b: the t-coefficient of vec(F(X₀ + t·E_b)); by a scalar at order 2,
            # twice the t²-coefficient of vec(F(x₀ + t))
            k_th = self.d.order
            series = _Series(sp, k_th)
            cols = []
            for b in range(n):
                v = self._value(series, values, self.d.expression, self.positions[b])[k_th]
                r = len(v)
                cols.append([v[k % r][k // r] * k_th for k in range(r * len(v[0]))])
            return sp.Matrix(len(cols[0]) if cols else 0, n, lambda a, b: cols[b][a])
        series = _Series(sp, 2)

        def second(direction: list[int]):
            return 2 * self._value(series, values, self.d.expression, direction)[2][0][0]

        hess = [[sp.Integer(0)] * n for _ in range(n)]
        for a in range(n):
            hess[a][a] = second(self.positions[a])
        for a in range(n):
            for b in range(a + 1, n):
                both = second(self.positions[a] + self.positions[b])
                hess[a][b] = hess[b][a] = (both - hess[a][a] - hess[b][b]) / 2
        owner = {k: a for a, pos in enumerate(self.positions) for k in pos}
        p, q = self.layout.x_shape
        return sp.Matrix(p * q, n, lambda k, b: hess[owner[k]][b] / self.mult[owner[k]])

    def at_points(self, seed: int, want: int, budget: float) -> int:
        """Compare at ``want`` random rational points (fewer, at least one, after ``budget`` seconds)."""
        from .numeric import sample_point

        sp = self.sp
        rng = np.random.default_rng(seed)
        done = 0
        last = "no point inside the domain"
        start = time.monotonic()
        plain = _Series(sp, 0)
        for tries in range(POINT_TRIES):
            if done >= want or (done == 0 and tries >= POINT_TRIES // 3):
                break
            if done >= 1 and time.monotonic() - start > budget:
                break
            try:
                fpoint = sample_point(self.d.expression, self.variables, self.sizes, rng)
            except (CheckError, EvaluationError) as e:
                last = e.message
                break
            values = {k: _rational_entries(sp, a, self.variables[k].symmetric) for k, a in fpoint.items()}
            try:
                try:
                    self._value(plain, values, self.d.expression)  # the function is defined there
                except _Malformed as e:
                    raise _CannotCheck(f"the checked expression is malformed: {e}") from None
                try:
                    got = sp.Matrix(self._value(plain, values, self.d.node)[0])
                except _Malformed as e:
                    raise _Mismatch(f"matcalc's result is malformed: {e}") from None
                ref = self.reference_at(values)
            except _BadPoint as e:
                last = str(e)
                continue
            self.compare(got, ref, f"at rational point {done + 1}", lambda a, b: _same(sp, a, b))
            done += 1
        if done == 0:
            raise _CannotCheck(f"found no valid rational point ({last})")
        return done

    # ---------------------------------------------------------------- symbolic

    def exact(self, budget: float) -> str | None:
        """Prove every entry identical symbolically; ``None`` on success, else why not."""
        sp = self.sp
        start = time.monotonic()
        nonsmooth = (Compare, Norm)
        if any(
            isinstance(n, nonsmooth) or (isinstance(n, Apply) and n.fn.name in _KINK_AT_ZERO + _KINK_AT_TIE)
            for n in walk(self.d.expression)
        ):
            return "piecewise functions"
        shape = self.layout.expected_shape()
        if shape[0] * shape[1] > EXACT_MAX_ENTRIES:
            return "result too large"
        symbols = {name: _symbol_matrix(sp, v, self.sizes) for name, v in self.variables.items()}
        try:
            fmat = _Symbolic(sp, symbols, self.sizes)(self.d.expression)
            if len(fmat.free_symbols) > EXACT_MAX_SYMBOLS or _too_big(list(fmat), EXACT_MAX_OPS):
                return "expression too large"
            got = _Symbolic(sp, symbols, self.sizes)(self.d.node)
        except _CannotCheck as e:
            return str(e)
        if time.monotonic() - start > budget:
            return "time limit"
        xmat = symbols[self.x.name]
        syms = [xmat[self.positions[b][0] % xmat.rows, self.positions[b][0] // xmat.rows] for b in range(len(self.keys))]
        r, c = fmat.shape
        if self.d.order == 1 or self.layout.x_scalar:
            vecf = [fmat[k % r, k // r] for k in range(r * c)]
            ref = sp.Matrix(len(vecf), len(syms), lambda a, b: sp.diff(vecf[a], syms[b], self.d.order))
        else:
            grad = [sp.diff(fmat[0, 0], s) / m for s, m in zip(syms, self.mult)]
            owner = {k: a for a, pos in enumerate(self.positions) for k in pos}
            ref = sp.Matrix(len(owner), len(syms), lambda k, b: sp.diff(grad[owner[k]], syms[b]))
        if time.monotonic() - start > budget:
            return "time limit"

        from sympy.functions.elementary.hyperbolic import HyperbolicFunction
        from sympy.functions.elementary.trigonometric import TrigonometricFunction

        def equal(a: Any, b: Any) -> bool:
            if time.monotonic() - start > budget:
                raise TimeoutError
            diff = a - b
            if diff == 0:
                return True
            if _too_big([diff], 4 * EXACT_MAX_OPS):
                raise TimeoutError
            diff = sp.cancel(diff)
            if diff == 0:
                return True
            if diff.has(HyperbolicFunction, TrigonometricFunction):
                # simplify's trigsimp can run for minutes on tanh(u) − sinh(u)/cosh(u), out
                # of the time budget's reach: written with exponentials, cancel decides it
                diff = diff.rewrite(sp.exp)
                if _too_big([diff], 4 * EXACT_MAX_OPS):
                    raise TimeoutError
                if sp.cancel(diff) == 0:
                    return True
                raise _NotProved
            if not _too_big([diff], 150):
                diff = sp.simplify(diff)
            if diff == 0:
                return True
            raise _NotProved

        try:
            self.compare(got, ref, "symbolically", equal)
        except TimeoutError:
            return "time limit"
        except _NotProved:
            return "SymPy could not simplify every difference to 0"
        return None


def _within(seconds: float, proof: Callable[[], str | None]) -> str | None:
    """``proof()``, cut off after ``seconds`` (its own budget is checked only between entries,
    and SymPy's cancel of one entry of a softmax Jacobian can run for minutes).  SymPy is
    pure Python, so a timer signal interrupts it; outside the main thread (no signals)
    the proof runs on its own budget."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return proof()

    def expire(signum: int, frame: Any) -> None:
        raise _Expired

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds + 0.5)
    try:
        return proof()
    except _Expired:
        return "time limit"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class _Expired(BaseException):
    """The timer of :func:`_within` (a BaseException, so no ``except Exception`` in SymPy swallows it)."""


def check_derivative(
    d: Derivative, *, seed: int = 0, exact_timeout: float = 1.0, points: int = POINTS, point_budget: float = 2.0
) -> CheckReport:
    """Verify ``d`` against SymPy on explicit matrices and against finite differences.

    Returns a :class:`CheckReport`: passed (SymPy agrees at ``points`` random
    rational points — fewer, but at least one, once ``point_budget`` seconds are
    spent — and finite differences do not disagree), failed (a real mismatch, the
    first entry named), or inconclusive (the check could not be carried out).  The
    symbolic proof is attempted for small expressions within ``exact_timeout``
    seconds (0 turns it off).
    """
    too_large = _too_large(d)
    if too_large:
        return CheckReport(f"∂/∂{d.wrt.name} {d.checked.source}", {}, reason=too_large)
    import sympy as sp
    from sympy.matrices.utilities import dotprodsimp

    with dotprodsimp(False):
        if not d.assumptions:
            return _check(sp, d, seed, exact_timeout, points, point_budget)
        return _check_assumed(sp, d, seed, exact_timeout, points, point_budget)


def _check_assumed(sp, d: Derivative, seed: int, exact_timeout: float, points: int, point_budget: float) -> CheckReport:
    """A result rewritten with ``--assume`` facts: random points do not satisfy them.

    The derivative before the rewrite is checked instead; the verdict is a failure
    if that is wrong, and otherwise inconclusive (the rewrite itself is not checked).
    """
    from .api import Derivative
    from .engine import derivative
    from .printing import to_text

    raw = Derivative(d.checked, d.wrt, derivative(d.checked.expr, d.wrt, d.options), d.options)
    report = _check(sp, raw, seed, exact_timeout, points, point_budget)
    facts = "; ".join(f"{to_text(a)} = {to_text(b)}" for a, b in d.assumptions)
    report.title += f"  assuming {facts}"
    report.methods.insert(0, f"checked: the derivative before the rewrite with the assumptions ({to_text(raw.node)})")
    if report.failed:
        report.mismatch = f"before the --assume rewrite: {report.mismatch}"
        return report
    verdict = "passed" if report.passed else f"could not be checked either ({report.reason})"
    report.status = "inconclusive"
    report.exact = False
    report.reason = (
        "the result was rewritten with assumptions that random points do not satisfy, so it was not checked itself; "
        f"the derivative before the rewrite {verdict}"
    )
    return report


def _check(sp, d: Derivative, seed: int, exact_timeout: float, points: int, point_budget: float) -> CheckReport:
    from .numeric import numeric_check

    what = {1: "∂", 2: "∂²"}[d.order]
    title = f"{what}/∂{d.wrt.name} {d.checked.source}  [{d.kind}, {d.layout} layout]"
    candidates = _check_sizes(d)
    report = CheckReport(title=title, sizes=candidates[0])

    # ---- SymPy at rational points decides; other sizes are tried when no point is valid
    sympy_reason: str | None = None
    checker: _SympyCheck | None = None
    for sizes in candidates:
        report.sizes = sizes
        try:
            checker = _SympyCheck(sp, d, sizes)
            report.points = checker.at_points(seed, points, point_budget)
            sympy_reason = None
            break
        except _Mismatch as m:
            report.status = "failed"
            report.mismatch = m.text
            report.methods.append("SymPy at random rational points: MISMATCH")
            checker = None
            break
        except _CannotCheck as e:
            sympy_reason = str(e)
            checker = None
            if "no valid rational point" not in sympy_reason:
                break
        except MatcalcError as e:
            sympy_reason = e.message
            checker = None
            break
    if checker is not None:
        report.methods.append(f"SymPy at {report.points} random rational point{'s' * (report.points != 1)}: agree")
        why = _within(exact_timeout, lambda: checker.exact(exact_timeout)) if exact_timeout > 0 else "turned off"
        if why is None:
            report.exact = True
            report.methods.append("SymPy symbolically: every entry's difference simplifies to 0")
        else:
            report.methods.append(f"SymPy symbolically: no proof ({why})")

    # ---- finite differences in float64 (a disagreement is retried once at another point)
    fd_status, fd_detail = "skipped", ""
    for attempt in range(2):
        try:
            res = numeric_check(d, seed=seed + 101 * attempt, sizes=report.sizes)
        except (MatcalcError, np.linalg.LinAlgError, ValueError) as e:
            fd_detail = getattr(e, "message", str(e))
            break
        if res.ok:
            fd_status = "agree"
            report.fd_error = res.max_error
            break
        if not np.all(np.isfinite(res.got)):
            # the formula is 0/0 where the function is finite only through a limit (σ(1/0) = 1):
            # no random point inside its domain was found, which is not a mismatch
            fd_detail = "the formula is undefined (NaN) at every point drawn, where the function is defined"
            fd_status = "skipped"
            break
        fd_status = "mismatch"
        fd_detail = f"{res.first_mismatch()} (max error {res.max_error:.3g})"
    if fd_status == "agree":
        report.methods.append(f"finite differences (float64): agree, max error {report.fd_error:.2g}")
    elif fd_status == "mismatch":
        report.methods.append(f"finite differences (float64): MISMATCH, {fd_detail}")
    else:
        report.methods.append(f"finite differences: could not run ({fd_detail})")

    # ---- verdict
    if report.failed:
        return report
    if fd_status == "mismatch":
        report.status = "failed"
        report.mismatch = f"finite differences disagree at two points: {fd_detail}"
        if checker is not None:
            report.notes.append("SymPy agreed, so matcalc's NumPy evaluation (evaluate.py) is suspect")
        return report
    if checker is not None:
        report.status = "passed"
        if fd_status != "agree":
            report.notes.append("finite differences could not run; the SymPy comparison alone decided")
        return report
    report.status = "inconclusive"
    report.reason = sympy_reason or "the SymPy reference could not be built"
    if fd_status == "agree":
        report.notes.append("finite differences agree, but that alone is not a proof")
    return report


# ====================================================================== matrix expressions


def _dim_expr(sp, d: Dim, sizes: Mapping[str, int] | None):
    out = sp.Integer(d.coef)
    for s in d.syms:
        out *= sp.Integer(sizes[s]) if sizes and s in sizes else sp.Symbol(s, integer=True, positive=True)
    return out


def to_sympy_matrix_expr(node: Node, sizes: Mapping[str, int] | None = None):
    """``node`` as a SymPy matrix expression.

    Matrices and vectors become ``MatrixSymbol``s, scalars ``Symbol``s; the
    operations map to ``Transpose``, ``Inverse``, ``MatMul``, ``HadamardProduct``,
    ``HadamardPower``, ``KroneckerProduct``, ``Trace``, ``Determinant``,
    ``DiagMatrix``, ``DiagonalOf``, elementwise functions to
    ``ElementwiseApplyFunction`` and the rest (vec, comparisons, two-argument
    functions) to ``FunctionMatrix``.  Every 1×1 value is a SymPy scalar.  ``sizes``
    maps dimension symbols to integers (default: positive integer Symbols).
    """
    import sympy as sp
    from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
    from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf
    from sympy.matrices.expressions.hadamard import HadamardPower, HadamardProduct
    from sympy.matrices.expressions.kronecker import KroneckerProduct

    memo: dict[Node, Any] = {}

    def dims(s: Shape):
        return _dim_expr(sp, s.rows, sizes), _dim_expr(sp, s.cols, sizes)

    def scalar(e):
        """A 1×1 matrix expression as a scalar."""
        return e[0, 0] if isinstance(e, sp.MatrixExpr) or isinstance(e, sp.MatrixBase) else e

    def as_matrix(e, s: Shape):
        """A value of shape ``s`` as a matrix expression (broadcasting scalars)."""
        if isinstance(e, (sp.MatrixExpr, sp.MatrixBase)):
            return e
        r, c = dims(s)
        return e * sp.OneMatrix(r, c)

    def entrywise(s: Shape, args: list, fn):
        r, c = dims(s)
        i, j = sp.symbols("i j", integer=True, nonnegative=True)

        def at(a):
            return a[i, j] if isinstance(a, (sp.MatrixExpr, sp.MatrixBase)) else a

        return sp.FunctionMatrix(r, c, sp.Lambda((i, j), fn(*[at(a) for a in args])))

    def ones(r, c):
        return sp.OneMatrix(r, c)

    def go(n: Node):  # noqa: C901 - one branch per node type
        g = memo.__getitem__
        s = n.shape
        if isinstance(n, Var):
            if s.is_scalar:
                return sp.Symbol(n.name)
            return sp.MatrixSymbol(n.name, *dims(s))
        if isinstance(n, Const):
            return sp.Rational(n.value.numerator, n.value.denominator)
        if isinstance(n, DimValue):
            return _dim_expr(sp, n.dim, sizes)
        if isinstance(n, Pi):
            return sp.pi
        if isinstance(n, Zero):
            return sp.Integer(0) if s.is_scalar else sp.ZeroMatrix(*dims(s))
        if isinstance(n, Ones):
            return sp.Integer(1) if s.is_scalar else sp.OneMatrix(*dims(s))
        if isinstance(n, Identity):
            return sp.Identity(dims(s)[0])
        if isinstance(n, Commutation):
            r, c = _dim_expr(sp, n.r, sizes), _dim_expr(sp, n.c, sizes)
            a, b = sp.symbols("a b", integer=True, nonnegative=True)
            # K[i·c + j, j·r + i] = 1
            return sp.FunctionMatrix(r * c, r * c, sp.Lambda((a, b), sp.KroneckerDelta(b, sp.Mod(a, c) * r + sp.floor(a / c))))
        if isinstance(n, Add):
            terms = [g(t) for t in n.terms]
            if s.is_scalar:
                return sp.Add(*[scalar(t) for t in terms])
            return sp.MatAdd(*[as_matrix(t, s) for t in terms]).doit(deep=False)
        if isinstance(n, Mul):
            factors = [g(f) for f in n.factors]
            scal = [scalar(f) for f, m in zip(factors, n.factors) if m.shape.is_scalar]
            mats = [f for f, m in zip(factors, n.factors) if not m.shape.is_scalar]
            coef = sp.Mul(*scal)
            if not mats:
                return coef
            body = mats[0] if len(mats) == 1 else HadamardProduct(*mats)
            return coef * body
        if isinstance(n, Pow):
            base, ex = g(n.base), g(n.exponent)
            if s.is_scalar:
                return scalar(base) ** scalar(ex)
            if not n.base.shape.is_scalar:
                return HadamardPower(base, scalar(ex) if n.exponent.shape.is_scalar else ex)
            return entrywise(s, [scalar(base), ex], lambda a, b: a**b)
        if isinstance(n, Apply):
            args = [g(a) for a in n.args]
            if s.is_scalar:
                return n.fn.sympy(*[scalar(a) for a in args])
            if n.fn.arity == 1:
                t = sp.Dummy("t", real=True)
                return ElementwiseApplyFunction(sp.Lambda(t, n.fn.sympy(t)), args[0])
            return entrywise(s, args, n.fn.sympy)
        if isinstance(n, Compare):
            rel = {">": sp.StrictGreaterThan, ">=": sp.GreaterThan, "<": sp.StrictLessThan, "<=": sp.LessThan}[n.op]
            args = [g(n.left), g(n.right)]
            if s.is_scalar:
                return sp.Piecewise((1, rel(scalar(args[0]), scalar(args[1]))), (0, True))
            return entrywise(s, args, lambda a, b: sp.Piecewise((1, rel(a, b)), (0, True)))
        if isinstance(n, MatMul):
            coef = sp.Integer(1)
            mats = []
            for f in n.factors:
                v = g(f)
                if f.shape.is_scalar:
                    coef *= scalar(v)
                else:
                    mats.append(v)
            if not mats:
                return coef
            prod = mats[0] if len(mats) == 1 else sp.MatMul(*mats)
            return coef * scalar(prod) if s.is_scalar else coef * prod
        if isinstance(n, Transpose):
            v = g(n.arg)
            return v if n.arg.shape.is_scalar else sp.Transpose(v)
        if isinstance(n, Sum):
            v = g(n.arg)
            a = n.arg.shape
            if a.is_scalar:
                return v
            r, c = dims(a)
            if n.axis is None:
                return scalar(sp.MatMul(ones(1, r), v, ones(c, 1)))
            if n.axis == 0:
                return sp.MatMul(ones(1, r), v) if not a.rows.is_one else v
            return sp.MatMul(v, ones(c, 1)) if not a.cols.is_one else v
        if isinstance(n, Broadcast):
            v = g(n.arg)
            a = n.arg.shape
            r, c = dims(s)
            if a.is_scalar:
                return scalar(v) * ones(r, c)
            if a.cols.is_one:
                return sp.MatMul(v, ones(1, c))
            return sp.MatMul(ones(r, 1), v)
        if isinstance(n, Trace):
            return sp.Trace(g(n.arg))
        if isinstance(n, Det):
            return sp.Determinant(g(n.arg))
        if isinstance(n, LogDet):
            return sp.log(sp.Determinant(g(n.arg)))
        if isinstance(n, Inverse):
            return sp.Inverse(g(n.arg))
        if isinstance(n, Diag):
            return DiagMatrix(g(n.arg))
        if isinstance(n, DiagPart):
            return DiagonalOf(g(n.arg))
        if isinstance(n, Norm):
            v = g(n.arg)
            a = n.arg.shape
            if a.is_scalar:
                return sp.Abs(v)
            r, c = dims(a)
            if n.p == 1:
                t = sp.Dummy("t", real=True)
                absv = ElementwiseApplyFunction(sp.Lambda(t, sp.Abs(t)), v)
                return scalar(sp.MatMul(ones(1, r), absv, ones(c, 1)))
            return sp.sqrt(sp.Trace(sp.MatMul(sp.Transpose(v), v)))
        if isinstance(n, (Softmax, LogSumExp)):
            v = g(n.arg)
            a = n.arg.shape
            r, c = dims(a)
            t = sp.Dummy("t", real=True)
            e = ElementwiseApplyFunction(sp.Lambda(t, sp.exp(t)), v)
            if isinstance(n, Softmax):
                if a.cols.is_one:
                    return e / scalar(sp.MatMul(ones(1, r), e))
                return sp.MatMul(sp.Inverse(DiagMatrix(sp.MatMul(e, ones(c, 1)))), e)
            if a.cols.is_one:
                return sp.log(scalar(sp.MatMul(ones(1, r), e)))
            return ElementwiseApplyFunction(sp.Lambda(t, sp.log(t)), sp.MatMul(e, ones(c, 1)))
        if isinstance(n, Prod):
            v = g(n.arg)
            if n.arg.shape.is_scalar:
                return v
            r, c = dims(n.arg.shape)
            i, j = sp.symbols("i j", integer=True, nonnegative=True)
            return sp.Product(v[i, j], (i, 0, r - 1), (j, 0, c - 1))
        if isinstance(n, Kron):
            return KroneckerProduct(g(n.left), g(n.right))
        if isinstance(n, Vec):
            v = g(n.arg)
            r, c = dims(n.arg.shape)
            k, z = sp.symbols("k z", integer=True, nonnegative=True)
            return sp.FunctionMatrix(r * c, 1, sp.Lambda((k, z), v[sp.Mod(k, r), sp.floor(k / r)]))
        if isinstance(n, Unvec):
            v = g(n.arg)
            r, c = dims(n.target)
            i, j = sp.symbols("i j", integer=True, nonnegative=True)
            return sp.FunctionMatrix(r, c, sp.Lambda((i, j), v[i + j * r, 0]))
        if isinstance(n, Differential):
            d = sp.MatrixSymbol("d" + n.var.name, *dims(s)) if not s.is_scalar else sp.Symbol("d" + n.var.name)
            return d
        raise CheckError(f"no SymPy matrix expression for {type(n).__name__} nodes")

    for n in walk(node):
        if n not in memo:
            memo[n] = go(n)
    return memo[node]


#: Largest number of entries of any variable a check will instantiate (explicit SymPy matrices).
MAX_CHECK_ENTRIES = 400
#: Largest intermediate value (a Kronecker product of declared sizes) a check evaluates.
MAX_CHECK_VALUE = 4096


def _too_large(d: Derivative) -> str | None:
    """Why declared numeric sizes are too large for explicit matrices, or None."""
    from .nodes import walk

    hint = "declare symbolic sizes (n x n) to check the formula"
    big = [n for n in (*walk(d.expression), *walk(d.node)) if n.shape.rows.coef * n.shape.cols.coef > MAX_CHECK_VALUE]
    if big:
        r, c = big[0].shape.rows, big[0].shape.cols
        return f"a {r}×{c} value is too large for explicit matrices (limit {MAX_CHECK_VALUE} entries); {hint}"
    variables = dict(d.checked.variables)
    variables.setdefault(d.wrt.name, d.wrt)
    for v in variables.values():
        r, c = v.shape.rows, v.shape.cols
        if r.is_int and c.is_int and r.coef * c.coef > MAX_CHECK_ENTRIES:
            return f"{v.name} is declared {r.coef}×{c.coef}, too large for explicit matrices (limit {MAX_CHECK_ENTRIES} entries); {hint}"
    return None
