"""Finite-difference reference for derivatives, at random points inside the domain.

Sizes: every symbolic dimension gets a distinct small size (2, 3, 4, …), so a
transposed answer cannot pass by accident.  Points: several sampling strategies are
tried in turn (normal, positive, near-identity and symmetric positive definite
matrices) until the function is finite there and every matrix inverted is well
conditioned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import CheckError, EvaluationError
from .evaluate import evaluate
from .nodes import Node, Var

if TYPE_CHECKING:  # pragma: no cover
    from .api import Derivative

SIZES = (3, 2, 4, 5, 6, 7)
#: further size orders, tried when no point works with the first: XXᵀ of a 3×2 X is
#: singular, so logdet(X@X.T) needs X's rows to be fewer than its columns
OTHER_SIZES = ((2, 3, 4, 5, 6, 7), (4, 3, 2, 5, 6, 7))


def assign_sizes(symbols: list[str], sizes: tuple[int, ...] = SIZES) -> dict[str, int]:
    return {s: sizes[i % len(sizes)] + len(sizes) * (i // len(sizes)) for i, s in enumerate(symbols)}


def symbols_of(variables: Mapping[str, Var], *nodes: Node) -> list[str]:
    from .nodes import walk

    seen: dict[str, None] = {}
    for v in variables.values():
        for s in (*v.shape.rows.syms, *v.shape.cols.syms):
            seen.setdefault(s, None)
    from .nodes import DimValue

    for n in nodes:
        for m in walk(n):
            sh = m.shape
            extra = m.dim.syms if isinstance(m, DimValue) else ()
            for s in (*sh.rows.syms, *sh.cols.syms, *extra):
                seen.setdefault(s, None)
    return list(seen)


def _sample(var: Var, sizes: Mapping[str, int], rng: np.random.Generator, strategy: int) -> np.ndarray:
    r, c = var.shape.evaluate(sizes)
    if strategy == 0:
        a = rng.normal(size=(r, c))
    elif strategy == 1:
        a = rng.uniform(0.5, 1.5, size=(r, c))
    elif strategy == 2:
        a = rng.uniform(-0.3, 0.3, size=(r, c))
        if r == c:
            a += np.eye(r) * 1.5
        else:
            a += 0.8
    else:
        a = rng.normal(size=(r, c)) * 0.3
        if r == c:
            a = a @ a.T + np.eye(r)
        else:
            a = np.abs(a) + 0.5
    if var.symmetric:
        a = (a + a.T) / 2
    return a


def _user(a: np.ndarray, var: Var) -> Any:
    s = var.shape
    if s.is_scalar:
        return float(a[0, 0])
    if s.cols.is_one:
        return a[:, 0].copy()
    return a


def sample_point(
    root: Node, variables: Mapping[str, Var], sizes: Mapping[str, int], rng: np.random.Generator, tries: int = 40, first: int = 0
) -> dict[str, np.ndarray]:
    """Internal 2-D values for every variable at which ``root`` evaluates finite (the
    sampling strategies tried in turn, starting from ``first``)."""
    last: Exception | None = None
    names = list(variables)
    for t in range(tries):
        if t < 8:
            strategies = {name: (t + first) % 4 for name in names}
        else:
            # mixed: each variable its own strategy, and now and then one shrunk towards 0
            # (log(b − Ax) needs b positive and Ax small)
            strategies = {name: int(rng.integers(0, 4)) for name in names}
        point = {name: _sample(variables[name], sizes, rng, strategies[name]) for name in names}
        if t >= 8 and names and t % 2:
            small = names[int(rng.integers(0, len(names)))]
            point[small] = point[small] * 0.05
        try:
            val = evaluate(root, variables, {k: _user(a, variables[k]) for k, a in point.items()}, sizes, warn=False)
        except EvaluationError as e:
            last = e
            continue
        if np.all(np.isfinite(val)) and np.max(np.abs(val), initial=0.0) < 1e8:
            return point
    raise CheckError(f"found no point where the expression is finite ({last or 'overflow or domain error'})")


@dataclass
class NumericResult:
    ok: bool
    max_error: float
    expected: np.ndarray
    got: np.ndarray
    sizes: dict[str, int]
    point: dict[str, np.ndarray]

    def first_mismatch(self) -> str:
        diff = np.abs(self.expected - self.got)
        idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
        return f"entry {tuple(int(i) for i in idx)}: matcalc {self.got[idx]:.6g}, finite differences {self.expected[idx]:.6g}"


def fd_jacobian(fun, x0: np.ndarray, h: float) -> np.ndarray:
    """∂vec(F)/∂vec(X) by central differences (column-major vec)."""
    flat = x0.reshape(-1, order="F")
    cols = []
    for k in range(flat.size):
        e = np.zeros_like(flat)
        e[k] = h
        fp = fun((flat + e).reshape(x0.shape, order="F"))
        fm = fun((flat - e).reshape(x0.shape, order="F"))
        cols.append(((fp - fm) / (2 * h)).reshape(-1, order="F"))
    return np.stack(cols, axis=1)


def numeric_check(d: Derivative, seed: int = 0, rtol: float = 1e-4, atol: float = 1e-6, sizes: Mapping[str, int] | None = None) -> NumericResult:
    """Compare ``d`` with central finite differences at a random point."""
    from .nodes import walk

    for n in (*walk(d.expression), *walk(d.node)):
        r, c = n.shape.rows, n.shape.cols
        if r.coef * c.coef > 1_000_000:
            raise CheckError(f"a {r}×{c} value is too large to check by finite differences (limit 10⁶ entries)")
    if d.assumptions:
        raise CheckError("the result uses assumptions (--assume), which random points do not satisfy; check it without them")
    rng = np.random.default_rng(seed)
    variables = dict(d.checked.variables)
    variables.setdefault(d.wrt.name, d.wrt)
    f = d.expression
    syms = symbols_of(variables, f, d.node)
    orders = [dict(sizes)] if sizes else [assign_sizes(syms, o) for o in (SIZES, *OTHER_SIZES)]
    first: NumericResult | None = None
    for k, sz in enumerate(orders):
        for s in syms:
            sz.setdefault(s, 3)
        try:
            r = _check_with(d, variables, sz, rng, rtol, atol)
        except (CheckError, EvaluationError):
            # no point with these sizes (a Gram matrix XXᵀ of a tall X is singular): the next order
            if k == len(orders) - 1 and first is None:
                raise
            continue
        if r.ok:
            return r
        # a mismatch may come from a function singular at these sizes (logdet of a rank-2
        # 3×3 Gram matrix is finite in rounding): a wrong formula fails at every order
        first = first or r
    assert first is not None
    return first


def _check_with(d: Derivative, variables: dict, sz: dict, rng: np.random.Generator, rtol: float, atol: float) -> NumericResult:
    last: EvaluationError | None = None
    r = None
    for attempt in range(4):
        try:
            r = _check_at(d, variables, sz, sample_point(d.expression, variables, sz, rng, first=attempt), rtol, atol)
        except EvaluationError as e:  # the derivative is undefined there (an inverse singular to rounding)
            last = e
            continue
        # the formula undefined where the function is not (σ(1/relu(x)) at x < 0 is σ(∞) = 1,
        # its derivative formula 0/0), or both undefined (‖v‖ at v = 0): not a test of the
        # formula, so another point is drawn, with the next sampling strategy first
        if r.ok or np.all(np.isfinite(r.got)):
            return r
    if r is None:
        raise last  # type: ignore[misc]
    return r


def _check_at(d: Derivative, variables: dict, sz: dict, point: dict, rtol: float, atol: float) -> NumericResult:
    f = d.expression
    x = d.wrt
    user = {k: _user(a, variables[k]) for k, a in point.items()}

    def value_at(node: Node):
        def fun(xv: np.ndarray) -> np.ndarray:
            vals = dict(user)
            vals[x.name] = _user(xv, x)
            return evaluate(node, variables, vals, sz, warn=False)

        return fun

    got = evaluate(d.node, variables, user, sz, warn=False)
    kind = d.kind
    if d.order == 2:
        from .engine import first_order

        g, _, _ = first_order(f, x)
        h = 1e-5
        expected = fd_jacobian(value_at(g), point[x.name], h)
        if x.shape.is_scalar:  # the second derivative, in F's shape (transposed as the first is)
            expected = expected.reshape(f.shape.evaluate(sz), order="F")
            if d.layout == "denominator" and f.shape.cols.is_one and not f.shape.is_scalar:
                expected = expected.T
    else:
        h = 1e-6
        J = fd_jacobian(value_at(f), point[x.name], h)
        fshape = f.shape.evaluate(sz)
        xshape = x.shape.evaluate(sz)
        if f.shape.is_scalar:
            expected = J.reshape(xshape, order="F")
            if x.symmetric:
                expected = _symmetric_gradient(value_at(f), point[x.name], h)
            if d.layout == "numerator" and not x.shape.is_scalar:
                expected = expected.T
        elif x.shape.is_scalar:
            expected = J.reshape(fshape, order="F")
            if d.layout == "denominator" and f.shape.cols.is_one:
                expected = expected.T
        else:
            expected = J if d.layout != "denominator" else J.T
    if got.shape != expected.shape:
        raise CheckError(f"internal: result shape {got.shape} ≠ reference shape {expected.shape} ({kind})")
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    err = float(np.max(np.abs(got - expected), initial=0.0))
    ok = bool(np.all(np.isfinite(got))) and err <= atol + rtol * scale * 10
    return NumericResult(ok, err, expected, got, sz, point)


def _symmetric_gradient(fun, x0: np.ndarray, h: float) -> np.ndarray:
    """The gradient within symmetric matrices, sym(G), from differences along Eᵢⱼ + Eⱼᵢ."""
    n = x0.shape[0]
    g = np.zeros_like(x0)
    for i in range(n):
        for j in range(i, n):
            e = np.zeros_like(x0)
            e[i, j] = h
            e[j, i] = h
            dd = (fun(x0 + e) - fun(x0 - e)).item() / (2 * h)
            if i == j:
                g[i, i] = dd
            else:
                g[i, j] = g[j, i] = dd / 2
    return g


