"""``--check``: matcalc proving its own answers against SymPy and finite differences.

The reference is independent of matcalc's rules.  Every symbolic dimension gets a
small distinct size; every variable becomes an explicit SymPy matrix whose entries
are independent real symbols (a symmetric matrix shares S[i,j] = S[j,i]); the
*original* expression is evaluated entry by entry, and each entry is differentiated
with SymPy's ordinary scalar ``diff``.  That reference Jacobian

    J[k, l] = ∂ vec(F)[k] / ∂ vec(X)[l]        (column-major vec, as in the Cookbook)

is arranged in the layout and kind of the derivative (gradient in X's shape, the
numerator layout transposes, the Hessian is the Jacobian of the gradient) and
compared with matcalc's result, evaluated entry by entry on the same matrices:

1. at several random rational points, in exact arithmetic (transcendental values
   are compared to 50 significant digits), inside every function's domain and away
   from kinks — this is what decides pass or fail;
2. symbolically, when the expressions are small: the difference of each entry is
   cancelled or simplified to zero within a time budget (a proof, when it succeeds);
3. by central finite differences in floating point (:func:`matcalc.numeric.numeric_check`).

For a matrix S declared symmetric, the symbol S[i,j] stands for both S[i,j] and
S[j,i]; SymPy's partial by it is the derivative along Eᵢⱼ + Eⱼᵢ.  matcalc's
gradient sym(G) = (G + Gᵀ)/2 gives that derivative as g[i,j] + g[j,i] (i ≠ j), and
its Jacobians (entries treated as independent) as the sum of the two columns, so
those sums are compared (and the gradient must be symmetric).

SymPy is imported only inside the functions of this module.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from .dims import Dim, Shape
from .errors import CheckError, EvaluationError, MatcalcError
from .nodes import (
    Add,
    Apply,
    Broadcast,
    Commutation,
    Compare,
    Const,
    Det,
    Diag,
    DiagPart,
    Differential,
    DimValue,
    Identity,
    Inverse,
    Kron,
    LogDet,
    LogSumExp,
    MatMul,
    Mul,
    Node,
    Norm,
    Ones,
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

#: elementwise functions with a kink: (name, what must not happen at a test point)
_KINK_AT_ZERO = ("relu", "abs", "sign")
_KINK_AT_TIE = ("max", "min")

#: how many rational points must agree, and how many candidates to try for them
POINTS = 3
POINT_TRIES = 12
#: the symbolic proof is attempted only below these sizes
EXACT_MAX_OPS = 400
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
    points: int = 0  # rational points at which SymPy and matcalc agree exactly
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

    def __bool__(self) -> bool:
        return self.passed

    def render(self) -> str:
        """A few lines: what was checked, how, and the verdict."""
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items()) or "no symbolic dimensions"
        lines = [f"check: {self.title}", f"  sizes: {sizes}"]
        lines += [f"  {m}" for m in self.methods]
        lines += [f"  note: {n}" for n in self.notes]
        if self.failed:
            lines.append(f"FAILED: {self.mismatch}")
        elif self.passed:
            how = "identical symbolically" if self.exact else f"agrees exactly at {self.points} rational points"
            lines.append(f"passed: {how} with SymPy" + (", and with finite differences" if self.fd_error is not None else ""))
        else:
            lines.append(f"could not check: {self.reason}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class _CannotCheck(Exception):
    """The SymPy reference cannot be built (unknown function, unsupported node)."""


class _BadPoint(Exception):
    """The point is outside a domain, singular, or at a kink."""


# ====================================================================== entry by entry


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


def _is_bad_number(sp, e: Any) -> bool:
    if not getattr(e, "is_number", False):
        return False
    if e.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return True
    return e.is_extended_real is False


def _numeric_value(e: Any) -> float | None:
    """A float for a number (``None`` for an expression with free symbols)."""
    if not getattr(e, "is_number", False):
        return None
    try:
        return float(e.evalf(30))
    except (TypeError, ValueError):
        return None


class _Componentwise:
    """Evaluate checked nodes to explicit SymPy matrices, entry by entry.

    With ``point=True`` the values are numbers (one symbolic variable at most, for
    the reference): domains, singular matrices and kinks are checked and raise
    :class:`_BadPoint`.
    """

    def __init__(self, sp, values: Mapping[str, Any], sizes: Mapping[str, int], point: bool):
        self.sp = sp
        self.values = values
        self.sizes = sizes
        self.point = point
        self.memo: dict[Node, Any] = {}

    def __call__(self, root: Node):
        for n in walk(root):
            if n not in self.memo:
                v = self.eval(n)
                if self.point:
                    self._check_values(n, v)
                self.memo[n] = v
        return self.memo[root]

    # ------------------------------------------------------------ helpers

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

    def _check_values(self, n: Node, v) -> None:
        for e in v:
            if _is_bad_number(self.sp, e):
                raise _BadPoint(f"{type(n).__name__} is undefined or not real there")

    def _kinks(self, n: Node, args: list) -> None:
        """Refuse points where a nonsmooth function sits exactly on its kink."""
        if not self.point:
            return
        r, c = self.dims(n.shape)
        full = [self.fill(a, r, c) for a in args]
        name = n.fn.name if isinstance(n, Apply) else None
        for i in range(r):
            for j in range(c):
                xs = [_numeric_value(a[i, j]) for a in full]
                if any(x is None for x in xs):
                    continue
                if isinstance(n, Compare) or name in _KINK_AT_TIE:
                    if abs(xs[0] - xs[1]) < 1e-12:
                        raise _BadPoint("a comparison is tied there")
                elif name in _KINK_AT_ZERO and abs(xs[0]) < 1e-12:
                    raise _BadPoint(f"{name} is at its kink there")

    def det(self, m):
        return m.det(method="berkowitz")

    def inverse(self, m):
        d = self.det(m)
        if d == 0:
            raise _BadPoint("a matrix to invert is singular")
        if self.point:
            x = _numeric_value(d)
            if x is not None and abs(x) < 1e-20:
                raise _BadPoint("a matrix to invert is singular")
        if not m.free_symbols and all(e.is_Rational for e in m):
            return m.inv()
        adj = m.adjugate(method="berkowitz")
        return adj.applyfunc(lambda e: e / d)

    # ------------------------------------------------------------ one node

    def eval(self, n: Node):  # noqa: C901 - one branch per node type
        sp = self.sp
        g = self.memo.__getitem__
        if isinstance(n, Var):
            return self.values[n.name]
        if isinstance(n, Const):
            return sp.Matrix([[sp.Rational(n.value.numerator, n.value.denominator)]])
        if isinstance(n, DimValue):
            return sp.Matrix([[sp.Integer(n.dim.evaluate(self.sizes))]])
        if isinstance(n, Zero):
            return sp.zeros(*self.dims(n.shape))
        if isinstance(n, Ones):
            return sp.ones(*self.dims(n.shape))
        if isinstance(n, Identity):
            return sp.eye(self.dims(n.shape)[0])
        if isinstance(n, Commutation):
            r, c = n.r.evaluate(self.sizes), n.c.evaluate(self.sizes)
            k = sp.zeros(r * c, r * c)
            for i in range(r):
                for j in range(c):
                    k[i * c + j, j * r + i] = 1
            return k
        if isinstance(n, Add):
            return self.elementwise(n, [g(t) for t in n.terms], lambda *xs: sp.Add(*xs))
        if isinstance(n, Mul):
            return self.elementwise(n, [g(f) for f in n.factors], lambda *xs: sp.Mul(*xs))
        if isinstance(n, Pow):
            return self.elementwise(n, [g(n.base), g(n.exponent)], lambda a, b: a**b)
        if isinstance(n, Apply):
            args = [g(a) for a in n.args]
            self._kinks(n, args)
            fn = n.fn.sympy
            if fn is None:
                raise _CannotCheck(f"SymPy has no form of the function {n.fn.name}")
            try:
                return self.elementwise(n, args, fn)
            except _CannotCheck:
                raise
            except Exception as e:  # a registry entry whose sympy form does not work
                raise _CannotCheck(f"SymPy cannot evaluate {n.fn.name} ({type(e).__name__}: {e})") from None
        if isinstance(n, Compare):
            args = [g(n.left), g(n.right)]
            self._kinks(n, args)
            rel = {">": sp.StrictGreaterThan, ">=": sp.GreaterThan, "<": sp.StrictLessThan, "<=": sp.LessThan}[n.op]
            return self.elementwise(n, args, lambda a, b: sp.Piecewise((1, rel(a, b)), (0, True)))
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
            return sp.Matrix([[self.det(g(n.arg))]])
        if isinstance(n, LogDet):
            d = self.det(g(n.arg))
            x = _numeric_value(d) if self.point else None
            if x is not None and x <= 0:
                raise _BadPoint("logdet of a matrix whose determinant is not positive")
            return sp.Matrix([[sp.log(d)]])
        if isinstance(n, Inverse):
            return self.inverse(g(n.arg))
        if isinstance(n, Diag):
            v = g(n.arg)
            return sp.diag(*list(v))
        if isinstance(n, DiagPart):
            a = g(n.arg)
            return sp.Matrix(a.rows, 1, lambda i, j: a[i, i])
        if isinstance(n, Norm):
            a = g(n.arg)
            if n.p == 1:
                if self.point and any((x := _numeric_value(e)) is not None and abs(x) < 1e-12 for e in a):
                    raise _BadPoint("norm1 has a zero entry there (a kink)")
                return sp.Matrix([[sp.Add(*[sp.Abs(e) for e in a])]])
            return sp.Matrix([[sp.sqrt(sp.Add(*[e**2 for e in a]))]])
        if isinstance(n, Softmax):
            a = g(n.arg)
            e = a.applyfunc(sp.exp)
            if n.shape.cols.is_one:
                s = sp.Add(*list(e))
                return e.applyfunc(lambda t: t / s)
            rows = [sp.Add(*[e[i, k] for k in range(e.cols)]) for i in range(e.rows)]
            return sp.Matrix(e.rows, e.cols, lambda i, j: e[i, j] / rows[i])
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
        if isinstance(n, Differential):
            raise _CannotCheck("the result still contains a differential")
        raise _CannotCheck(f"no SymPy translation of {type(n).__name__} nodes")


# ====================================================================== arrangement


@dataclass
class _Layout:
    """How the derivative's entries sit in matcalc's result (see :mod:`matcalc.engine`)."""

    f_shape: tuple[int, int]  # the differentiated function (for order 2: the gradient)
    x_shape: tuple[int, int]
    order: int
    layout: str
    f_scalar: bool
    x_scalar: bool
    f_column: bool

    def expected_shape(self) -> tuple[int, int]:
        (r, c), (p, q) = self.f_shape, self.x_shape
        if self.order == 2:
            return (p * q, p * q)
        if self.f_scalar:
            return (q, p) if self.layout == "numerator" and not self.x_scalar else (p, q)
        if self.x_scalar:
            return (c, r) if self.layout == "denominator" and self.f_column else (r, c)
        return (p * q, r * c) if self.layout == "denominator" else (r * c, p * q)

    def arrange(self, sp, jac):
        """The reference Jacobian ∂vec(F)/∂vec(X) (r·c × p·q) laid out as matcalc lays it out."""
        (r, c), (p, q) = self.f_shape, self.x_shape
        if self.order == 2:
            return jac
        if self.f_scalar:
            g = sp.Matrix(p, q, lambda i, j: jac[0, i + j * p])
            return g.T if self.layout == "numerator" and not self.x_scalar else g
        if self.x_scalar:
            m = sp.Matrix(r, c, lambda i, j: jac[i + j * r, 0])
            return m.T if self.layout == "denominator" and self.f_column else m
        return jac.T if self.layout == "denominator" else jac

    def jacobian_of(self, sp, m):
        """The inverse of :meth:`arrange`: matcalc's result read back as ∂vec(F)/∂vec(X)."""
        (r, c), (p, q) = self.f_shape, self.x_shape
        if self.order == 2:
            return m
        if self.f_scalar:
            g = m.T if self.layout == "numerator" and not self.x_scalar else m
            return sp.Matrix(1, p * q, lambda _, k: g[k % p, k // p])
        if self.x_scalar:
            f = m.T if self.layout == "denominator" and self.f_column else m
            return sp.Matrix(r * c, 1, lambda k, _: f[k % r, k // r])
        return m.T if self.layout == "denominator" else m


def _distinct_symbols(xmat) -> tuple[list[Any], list[list[int]]]:
    """The distinct symbols of X and, for each, its positions in column-major vec(X)."""
    p, q = xmat.shape
    syms: list[Any] = []
    where: dict[Any, list[int]] = {}
    for k in range(p * q):
        s = xmat[k % p, k // p]
        if s not in where:
            where[s] = []
            syms.append(s)
        where[s].append(k)
    return syms, [where[s] for s in syms]


def _reference_jacobian(sp, fmat, syms: list[Any], order: int, mult: list[int]):
    """∂vec(F)/∂s for each distinct symbol s (order 2: of the gradient within the constraint)."""
    if order == 2:
        f = fmat[0, 0]
        grads = [sp.diff(f, s) / m for s, m in zip(syms, mult)]
        # the gradient as a vector indexed like vec(X): sym(G) for a symmetric X
        return grads
    r, c = fmat.shape
    vecf = [fmat[k % r, k // r] for k in range(r * c)]
    return sp.Matrix(len(vecf), len(syms), lambda a, b: sp.diff(vecf[a], syms[b]))


# ====================================================================== the check


def _check_sizes(d: Derivative) -> list[dict[str, int]]:
    """Candidate size assignments: distinct small sizes, square matrices under inv/det first.

    Several permutations are offered because some expressions are only defined for
    some sizes (det(XᵀAX) needs X to have at least as many rows as columns).
    """
    from .numeric import assign_sizes, symbols_of

    variables = _variables(d)
    syms = symbols_of(variables, d.expression, d.node)
    first: list[str] = []
    for n in walk(d.expression):
        if isinstance(n, (Inverse, Det, LogDet)):
            for s in n.arg.shape.rows.syms:
                if s not in first:
                    first.append(s)
    rest = [s for s in syms if s not in first]
    out: list[dict[str, int]] = []
    if first and rest:
        # the sides of inverted matrices smallest, the others larger (full rank is then possible)
        sz = assign_sizes(first)
        sz.update(assign_sizes(rest, tuple(range(max(sz.values()) + 1, max(sz.values()) + 1 + len(rest)))))
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


def _variables(d: Derivative) -> dict[str, Var]:
    variables = dict(d.checked.variables)
    variables.setdefault(d.wrt.name, d.wrt)
    return variables


def _rational(sp, a: np.ndarray, symmetric: bool):
    """A float matrix rounded to nearby small rationals (never exactly 0)."""
    r, c = a.shape

    def q(v: float):
        k = round(v * 32)
        if k == 0:
            k = 1 if v >= 0 else -1
        return sp.Rational(k, 32)

    def entry(i: int, j: int):
        if symmetric and i > j:
            i, j = j, i
        return q(float(a[i, j]))

    return sp.Matrix(r, c, entry)


def _same(sp, a, b) -> bool:
    """Exact equality of two numbers (50 significant digits for transcendental ones)."""
    diff = a - b
    if diff == 0:
        return True
    if diff.is_Rational:
        return False
    try:
        dv = abs(complex(diff.evalf(50)))
        scale = 1.0 + abs(complex(b.evalf(50)))
    except (TypeError, ValueError):
        return False
    return dv <= 1e-30 * scale


def _show(sp, v) -> str:
    if getattr(v, "is_Rational", False):
        return str(v)
    try:
        return f"{float(v.evalf(20)):.10g}"
    except (TypeError, ValueError):
        return str(v)


def _entry_name(index: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(i) for i in index) + ")"


class _Mismatch(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class _SympyCheck:
    """The SymPy comparison at one size assignment."""

    def __init__(self, sp, d: Derivative, sizes: dict[str, int]):
        self.sp = sp
        self.d = d
        self.sizes = sizes
        self.variables = _variables(d)
        self.x = d.wrt
        self.symbols = {name: _symbol_matrix(sp, v, sizes) for name, v in self.variables.items()}
        self.xmat = self.symbols[self.x.name]
        self.syms, self.positions = _distinct_symbols(self.xmat)
        self.mult = [len(p) for p in self.positions]
        f = d.expression
        fs = f.shape
        self.layout = _Layout(
            f_shape=fs.evaluate(sizes) if d.order == 1 else self.x.shape.evaluate(sizes),
            x_shape=self.x.shape.evaluate(sizes),
            order=d.order,
            layout=d.layout,
            f_scalar=fs.is_scalar,
            x_scalar=self.x.shape.is_scalar,
            f_column=fs.cols.is_one,
        )
        self.shared = any(m > 1 for m in self.mult)

    # ---------------------------------------------------------------- reference

    def reference(self, values: Mapping[str, Any], point: bool):
        """The reference Jacobian (rows vec(F), one column per distinct symbol of X)."""
        sp = self.sp
        fmat = _Componentwise(sp, values, self.sizes, point)(self.d.expression)
        ref = _reference_jacobian(sp, fmat, self.syms, self.d.order, self.mult)
        if self.d.order == 2:
            # Hessian: the Jacobian of the gradient sym(G), entries at the positions of vec(X)
            p, q = self.layout.x_shape
            at = {}
            for s_idx, pos in enumerate(self.positions):
                for k in pos:
                    at[k] = ref[s_idx]
            return sp.Matrix(p * q, len(self.syms), lambda a, b: sp.diff(at[a], self.syms[b]))
        return ref

    def contract(self, jac):
        """Columns of a Jacobian by vec(X) summed over the positions that share a symbol."""
        sp = self.sp
        return sp.Matrix(jac.rows, len(self.syms), lambda a, b: sp.Add(*[jac[a, k] for k in self.positions[b]]))

    def compare(self, got, ref, where: str, equal) -> None:
        """Raise :class:`_Mismatch` at the first entry where matcalc and the reference differ."""
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
                            f"entry {_entry_name((i, j))} {where}: matcalc {_show(sp, got[i, j])}, SymPy {_show(sp, expected[i, j])}"
                        )
            return
        # symmetric X: compare derivatives along Eᵢⱼ + Eⱼᵢ, i.e. by the shared symbols
        if self.layout.f_scalar and self.d.order == 1:
            for i in range(got.rows):
                for j in range(i + 1, got.cols):
                    if not equal(got[i, j], got[j, i]):
                        raise _Mismatch(
                            f"the gradient by the symmetric {self.x.name} is not symmetric {where}: "
                            f"entry {_entry_name((i, j))} is {_show(sp, got[i, j])}, entry {_entry_name((j, i))} is {_show(sp, got[j, i])}"
                        )
        mine = self.contract(self.layout.jacobian_of(sp, got))
        for a in range(mine.rows):
            for b in range(mine.cols):
                if not equal(mine[a, b], ref[a, b]):
                    raise _Mismatch(
                        f"derivative of vec(F)[{a}] along {self.syms[b]} (both symmetric positions) {where}: "
                        f"matcalc {_show(sp, mine[a, b])}, SymPy {_show(sp, ref[a, b])}"
                    )

    # ---------------------------------------------------------------- at points

    def at_points(self, seed: int, want: int) -> int:
        """Compare at ``want`` rational points; returns how many were compared."""
        from .numeric import sample_point

        sp = self.sp
        rng = np.random.default_rng(seed)
        done = 0
        last = "no point inside the domain"
        for tries in range(POINT_TRIES):
            if done >= want or (done == 0 and tries >= POINT_TRIES // 3):
                break
            try:
                fpoint = sample_point(self.d.expression, self.variables, self.sizes, rng)
            except (CheckError, EvaluationError) as e:
                last = e.message
                break
            values = {k: _rational(sp, a, self.variables[k].symmetric) for k, a in fpoint.items()}
            sub = dict(zip(self.xmat, values[self.x.name]))
            try:
                got = _Componentwise(sp, values, self.sizes, point=True)(self.d.node)
                ref_values = dict(values)
                ref_values[self.x.name] = self.xmat
                ref = self.reference(ref_values, point=True)
                ref = ref.xreplace(sub)
                for e in ref:
                    if _is_bad_number(sp, e) or e.free_symbols:
                        raise _BadPoint("the reference derivative is undefined there")
                # the expression itself must be defined at the rational point too
                _Componentwise(sp, values, self.sizes, point=True)(self.d.expression)
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
        """Prove the entries identical symbolically; ``None`` on success, else why not."""
        sp = self.sp
        start = time.monotonic()
        if any(isinstance(n, (Compare, Norm)) or (isinstance(n, Apply) and n.fn.name in _KINK_AT_ZERO + _KINK_AT_TIE) for n in walk(self.d.expression)):
            return "piecewise functions"
        fmat = _Componentwise(sp, self.symbols, self.sizes, point=False)(self.d.expression)
        if sum(sp.count_ops(e) for e in fmat) > EXACT_MAX_OPS:
            return "expression too large"
        if self.layout.expected_shape()[0] * self.layout.expected_shape()[1] > EXACT_MAX_ENTRIES:
            return "result too large"
        got = _Componentwise(sp, self.symbols, self.sizes, point=False)(self.d.node)
        if time.monotonic() - start > budget:
            return "time limit"
        ref = self.reference(self.symbols, point=False)
        if time.monotonic() - start > budget:
            return "time limit"

        def equal(a, b) -> bool:
            if time.monotonic() - start > budget:
                raise TimeoutError
            diff = a - b
            if diff == 0:
                return True
            if sp.count_ops(diff) > 4 * EXACT_MAX_OPS:
                raise TimeoutError
            diff = sp.cancel(diff)
            if diff == 0:
                return True
            if sp.count_ops(diff) <= 150:
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


class _NotProved(Exception):
    pass


def check_derivative(d: Derivative, *, seed: int = 0, exact_timeout: float = 1.0, points: int = POINTS) -> CheckReport:
    """Verify ``d`` against SymPy on explicit matrices and against finite differences.

    Returns a :class:`CheckReport`: passed (SymPy agrees exactly at ``points``
    rational points, or symbolically), failed (a real mismatch, the first entry
    named), or inconclusive (the check could not be carried out).  The symbolic
    proof is attempted for small expressions within ``exact_timeout`` seconds.
    """
    import sympy as sp

    from .numeric import numeric_check

    what = {1: "∂", 2: "∂²"}[d.order]
    title = f"{what}/∂{d.wrt.name} {d.checked.source}  [{d.kind}, {d.layout} layout]"
    candidates = _check_sizes(d)
    report = CheckReport(title=title, sizes=candidates[0])

    # ---- SymPy at rational points (decides), trying other sizes if no point is valid
    sympy_reason: str | None = None
    checker: _SympyCheck | None = None
    for sizes in candidates:
        try:
            checker = _SympyCheck(sp, d, sizes)
            report.sizes = sizes
            report.points = checker.at_points(seed, points)
            sympy_reason = None
            break
        except _Mismatch as m:
            report.status = "failed"
            report.mismatch = m.text
            report.methods.append("SymPy, exact arithmetic at random rational points: MISMATCH")
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
        report.methods.append(f"SymPy, exact arithmetic at {report.points} random rational points: agree")
        why = checker.exact(exact_timeout) if exact_timeout > 0 else "disabled"
        if why is None:
            report.exact = True
            report.methods.append("SymPy, symbolically: every entry's difference simplifies to 0")
        else:
            report.methods.append(f"SymPy, symbolically: not attempted or not proved ({why})")

    # ---- finite differences in floating point (retried once at another point)
    fd_status = "skipped"
    fd_detail = ""
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
        fd_status = "mismatch"
        fd_detail = res.first_mismatch() + f" (max error {res.max_error:.3g})"
    if fd_status == "agree":
        report.methods.append(f"finite differences (float64): agree, max error {report.fd_error:.2g}")
    elif fd_status == "mismatch":
        report.methods.append(f"finite differences (float64): MISMATCH, {fd_detail}")
    else:
        report.methods.append(f"finite differences: could not run ({fd_detail})")

    # ---- verdict
    if report.status == "failed":
        return report
    if fd_status == "mismatch":
        report.status = "failed"
        report.mismatch = f"finite differences disagree at two points: {fd_detail}"
        if checker is not None:
            report.notes.append("SymPy agreed, so matcalc's NumPy evaluation of the result is suspect")
        return report
    if checker is not None:
        report.status = "passed"
        if fd_status != "agree":
            report.notes.append("finite differences could not run; the SymPy comparison alone decided")
        return report
    report.status = "inconclusive"
    report.reason = sympy_reason or "the SymPy reference could not be built"
    if fd_status == "agree":
        report.reason += " (finite differences agree, but that alone is not a proof)"
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
                return sp.matrices.expressions.applyfunc.ElementwiseApplyFunction(sp.Lambda(t, n.fn.sympy(t)), args[0])
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
                absv = sp.matrices.expressions.applyfunc.ElementwiseApplyFunction(sp.Lambda(t, sp.Abs(t)), v)
                return scalar(sp.MatMul(ones(1, r), absv, ones(c, 1)))
            return sp.sqrt(sp.Trace(sp.MatMul(sp.Transpose(v), v)))
        if isinstance(n, (Softmax, LogSumExp)):
            v = g(n.arg)
            a = n.arg.shape
            r, c = dims(a)
            t = sp.Dummy("t", real=True)
            e = sp.matrices.expressions.applyfunc.ElementwiseApplyFunction(sp.Lambda(t, sp.exp(t)), v)
            if isinstance(n, Softmax):
                if a.cols.is_one:
                    return e / scalar(sp.MatMul(ones(1, r), e))
                return sp.MatMul(sp.Inverse(DiagMatrix(sp.MatMul(e, ones(c, 1)))), e)
            if a.cols.is_one:
                return sp.log(scalar(sp.MatMul(ones(1, r), e)))
            return sp.matrices.expressions.applyfunc.ElementwiseApplyFunction(sp.Lambda(t, sp.log(t)), sp.MatMul(e, ones(c, 1)))
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
