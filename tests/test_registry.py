"""Registry-driven tests: every function in ``matcalc.registry`` is tested from its entry.

For each elementwise entry, on points drawn by its own ``sample`` (inside its domain):

* matcalc's derivative of ``f(a)`` (scalar), ``f(x)`` (Jacobian, a diagonal),
  ``f(X)`` (vec-Jacobian, a diagonal), ``sum(f(x))`` (gradient) and the second
  derivative of ``f(a)`` and Hessian of ``sum(f(x))`` agree with central finite
  differences of the entry's NumPy form and with SymPy's derivative of its SymPy form;
* the SymPy form and the NumPy form agree numerically;
* functions of two arguments (max, min, …) are differentiated by each argument, by
  both at once, and against a constant.

So a function is tested the moment it is registered.  Structural entries must be
documented and produced by the random-expression generator.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import pytest
import sympy
from strategies import STRUCTURAL

import matcalc
from matcalc import registry
from matcalc.evaluate import numpy_function

ENTRIES = sorted({id(e): e for e in registry.ELEMENTWISE.values()}.values(), key=lambda e: e.name)
UNARY = [e for e in ENTRIES if e.arity == 1]
BINARY = [e for e in ENTRIES if e.arity == 2]
STRUCTURAL_ENTRIES = sorted(
    {id(e): e for e in registry.FUNCTIONS.values() if isinstance(e, registry.Structural)}.values(), key=lambda e: e.name
)

#: SymPy functions NumPy has no counterpart for, for lambdify
_NO_NUMPY = {"erf": np.vectorize(math.erf, otypes=[float])}

H = 1e-6  # central-difference step: error ~ h² f‴ + ε f / h, about 1e-9 here


def ids(entries: list[Any]) -> list[str]:
    return [e.name for e in entries]


def sample(entry: registry.Elementwise, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.asarray(entry.sample(np.random.default_rng(seed), shape), dtype=float)


def fd(f: Any, x: np.ndarray, h: float = H) -> np.ndarray:
    """Elementwise central difference of an elementwise function."""
    return (f(x + h) - f(x - h)) / (2 * h)


@cache
def sympy_derivatives(entry: registry.Elementwise) -> tuple[Any, Any, Any]:
    """f, f′ and f″ of the SymPy form, as NumPy-callable functions of one real argument."""
    t = sympy.Symbol("t", real=True)
    expr = entry.sympy(t)
    d1, d2 = sympy.diff(expr, t), sympy.diff(expr, t, 2)
    return tuple(
        sympy.lambdify(t, e, modules=["numpy", {"DiracDelta": lambda *_: 0.0, "Heaviside": _heaviside, **_NO_NUMPY}]) for e in (expr, d1, d2)
    )


def _heaviside(x: Any, h0: Any = 0.5) -> Any:
    return np.heaviside(x, h0)


def as_array(v: Any, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, dtype=float), (n,))


def assert_close(got: Any, want: Any, what: str, rtol: float = 1e-6, atol: float = 1e-7) -> None:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    assert np.allclose(got, want, rtol=rtol, atol=atol), f"{what}:\n got {got}\n want {want}"


# ---------------------------------------------------------------- registration


@pytest.mark.parametrize("entry", ENTRIES, ids=ids(ENTRIES))
def test_entry_is_registered_under_every_name(entry: registry.Elementwise) -> None:
    for name in (entry.name, *entry.aliases):
        assert registry.FUNCTIONS[name] is entry
        call = f"{name}({', '.join(['x'] * entry.arity)})"
        checked = matcalc.check(call, {"x": "n"})
        assert getattr(checked.expr, "fn", None) is entry, f"{call} does not apply {entry.name}"
    assert entry.unicode and entry.latex and entry.doc
    assert entry.numpy.count("{") >= entry.arity


@pytest.mark.parametrize("entry", ENTRIES, ids=ids(ENTRIES))
def test_sampler_stays_inside_the_domain(entry: registry.Elementwise) -> None:
    pts = [sample(entry, (500,), seed) for seed in range(entry.arity)]
    assert all(np.all(np.isfinite(p)) for p in pts)
    if entry.in_domain is not None:
        assert np.all(entry.in_domain(*pts)), f"{entry.name}: sampled points outside its domain"
    with np.errstate(all="raise"):
        vals = numpy_function(entry)(*pts)
    assert np.all(np.isfinite(vals))


@pytest.mark.parametrize("entry", ENTRIES, ids=ids(ENTRIES))
def test_declared_values_hold_every_value(entry: registry.Elementwise) -> None:
    """``values`` (codegen's sign reasoning trusts it) holds the function's NumPy values,
    at its domain samples and, for a function of all reals, far out to ±50."""
    lo, hi = entry.values
    pts = [sample(entry, (500,), seed) for seed in range(entry.arity)]
    if entry.in_domain is None and entry.arity == 1:
        pts = [np.concatenate([pts[0], np.linspace(-50, 50, 2001), [0.0, -0.0]])]
    with np.errstate(all="ignore"):
        vals = np.asarray(numpy_function(entry)(*pts), dtype=float)
    vals = vals[np.isfinite(vals)]
    assert np.all((vals >= lo) & (vals <= hi)), f"{entry.name}: values outside {entry.values}: {vals[(vals < lo) | (vals > hi)][:5]}"


@pytest.mark.parametrize("entry", ENTRIES, ids=ids(ENTRIES))
def test_sympy_form_agrees_with_numpy_form(entry: registry.Elementwise) -> None:
    pts = [sample(entry, (40,), seed) for seed in range(entry.arity)]
    want = numpy_function(entry)(*pts)
    syms = sympy.symbols(f"t0:{entry.arity}", real=True)
    f = sympy.lambdify(syms, entry.sympy(*syms), modules=["numpy", _NO_NUMPY])
    got = as_array(f(*pts), pts[0].size)
    assert_close(got, want, f"{entry.name}: SymPy vs NumPy", rtol=1e-12, atol=1e-12)


def test_every_structural_function_is_documented_and_generated() -> None:
    for entry in STRUCTURAL_ENTRIES:
        assert entry.signature and entry.doc, entry.name
        for name in (entry.name, *entry.aliases):
            assert registry.FUNCTIONS[name] is entry
    missing = {e.name for e in STRUCTURAL_ENTRIES} - STRUCTURAL
    # "vector" and "matrix" are generated as leaves; everything must appear in the generator
    assert not missing, f"the random-expression generator (tests/strategies.py) does not produce {sorted(missing)}"


# ---------------------------------------------------------------- unary: first derivatives


@pytest.mark.parametrize("entry", UNARY, ids=ids(UNARY))
def test_scalar_derivative(entry: registry.Elementwise) -> None:
    f = numpy_function(entry)
    _, sym_d1, _ = sympy_derivatives(entry)
    d = matcalc.diff(f"{entry.name}(a)", "a", shapes={"a": "scalar"})
    g = d.to_function()
    pts = sample(entry, (25,))
    got = np.array([g(a=float(t)) for t in pts])
    assert_close(got, fd(f, pts), f"{entry.name}′ vs finite differences, at {pts}")
    assert_close(got, as_array(sym_d1(pts), pts.size), f"{entry.name}′ vs SymPy", rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("layout", ["mixed", "numerator", "denominator"])
@pytest.mark.parametrize("entry", UNARY, ids=ids(UNARY))
def test_vector_jacobian_is_diagonal(entry: registry.Elementwise, layout: str) -> None:
    f = numpy_function(entry)
    d = matcalc.diff(f"{entry.name}(x)", "x", shapes={"x": "n"}, layout=layout)
    x = sample(entry, (4,), seed=1)
    assert_close(d.to_function()(x=x), np.diag(fd(f, x)), f"∂{entry.name}(x)/∂x ({layout})")


@pytest.mark.parametrize("entry", UNARY, ids=ids(UNARY))
def test_matrix_vec_jacobian_is_diagonal(entry: registry.Elementwise) -> None:
    f = numpy_function(entry)
    d = matcalc.diff(f"{entry.name}(X)", "X", shapes={"X": "m x n"})
    X = sample(entry, (3, 2), seed=2)
    want = np.diag(fd(f, X).reshape(-1, order="F"))  # column-major vec
    assert_close(d.to_function()(X=X), want, f"∂vec {entry.name}(X)/∂vec X")


@pytest.mark.parametrize("entry", UNARY, ids=ids(UNARY))
def test_gradient_of_sum(entry: registry.Elementwise) -> None:
    f = numpy_function(entry)
    for wrt, shape, spec in (("x", (5,), "n"), ("X", (2, 3), "m x n")):
        d = matcalc.diff(f"sum({entry.name}({wrt}))", wrt, shapes={wrt: spec})
        v = sample(entry, shape, seed=3)
        assert_close(d.to_function()(**{wrt: v}), fd(f, v), f"∇ sum({entry.name}({wrt}))")


# ---------------------------------------------------------------- unary: second derivatives


@pytest.mark.parametrize("entry", UNARY, ids=ids(UNARY))
def test_second_derivative(entry: registry.Elementwise) -> None:
    f = numpy_function(entry)
    _, _, sym_d2 = sympy_derivatives(entry)
    d = matcalc.diff(f"{entry.name}(a)", "a", shapes={"a": "scalar"}, order=2)
    g = d.to_function()
    pts = sample(entry, (20,), seed=4)
    got = np.array([g(a=float(t)) for t in pts])
    h = 1e-4
    second = (f(pts + h) - 2 * f(pts) + f(pts - h)) / h**2
    assert_close(got, second, f"{entry.name}″ vs finite differences", rtol=1e-4, atol=1e-5)
    assert_close(got, as_array(sym_d2(pts), pts.size), f"{entry.name}″ vs SymPy", rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("entry", UNARY, ids=ids(UNARY))
def test_hessian_of_sum_is_diagonal(entry: registry.Elementwise) -> None:
    _, _, sym_d2 = sympy_derivatives(entry)
    d = matcalc.diff(f"sum({entry.name}(x))", "x", shapes={"x": "n"}, order=2)
    x = sample(entry, (4,), seed=5)
    assert_close(d.to_function()(x=x), np.diag(as_array(sym_d2(x), x.size)), f"∇² sum({entry.name}(x))", rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------- functions of two arguments


@pytest.mark.parametrize("entry", BINARY, ids=ids(BINARY))
def test_binary_partials(entry: registry.Elementwise) -> None:
    """∂f(x, y)/∂x and ∂f(x, y)/∂y (one argument varying) against finite differences."""
    f = numpy_function(entry)
    x, y = sample(entry, (5,), seed=6), sample(entry, (5,), seed=7)
    shapes = {"x": "n", "y": "n"}
    dx = matcalc.diff(f"{entry.name}(x, y)", "x", shapes=shapes).to_function()(x=x, y=y)
    dy = matcalc.diff(f"{entry.name}(x, y)", "y", shapes=shapes).to_function()(x=x, y=y)
    assert_close(dx, np.diag(fd(lambda t: f(t, y), x)), f"∂{entry.name}(x, y)/∂x")
    assert_close(dy, np.diag(fd(lambda t: f(x, t), y)), f"∂{entry.name}(x, y)/∂y")


@pytest.mark.parametrize("entry", BINARY, ids=ids(BINARY))
def test_binary_both_arguments_varying(entry: registry.Elementwise) -> None:
    """f(x, g(x)): the partials through both arguments add up (chain rule)."""
    f = numpy_function(entry)
    x = sample(entry, (5,), seed=8)
    for second, g in (("x", lambda t: t), ("x*x", lambda t: t * t), ("2*x", lambda t: 2 * t)):
        if entry.in_domain is not None and not np.all(entry.in_domain(x, g(x))):
            continue
        d = matcalc.diff(f"{entry.name}(x, {second})", "x", shapes={"x": "n"})
        assert_close(d.to_function()(x=x), np.diag(fd(lambda t, g=g: f(t, g(t)), x)), f"∂{entry.name}(x, {second})/∂x")


@pytest.mark.parametrize("entry", BINARY, ids=ids(BINARY))
def test_binary_against_a_constant(entry: registry.Elementwise) -> None:
    """f(c, x) and f(x, c) with a scalar constant c, broadcast against a vector."""
    f = numpy_function(entry)
    c = float(sample(entry, (1,), seed=9)[0])
    x = sample(entry, (6,), seed=10)
    for text, fun in ((f"{entry.name}({c!r}, x)", lambda t: f(c, t)), (f"{entry.name}(x, {c!r})", lambda t: f(t, c))):
        d = matcalc.diff(text, "x", shapes={"x": "n"})
        assert_close(d.to_function()(x=x), np.diag(fd(fun, x)), f"∂{text}/∂x")


# ---------------------------------------------------------------- documented subgradients at kinks


@pytest.mark.parametrize(
    "expr, value",
    [
        ("relu(a)", 0.0),  # relu′(0) = 0, as PyTorch
        ("abs(a)", 0.0),  # |x|′ = sign(x), 0 at 0
        ("max(0, a)", 0.0),  # only a varies: (a > 0)
        ("max(a, 0)", 0.0),
        ("min(0, a)", 0.0),  # (a < 0)
        ("max(a, a)", 1.0),  # both vary: the tie goes to the first, (a ≥ b) + (a < b) = 1
        ("min(a, a)", 1.0),
    ],
)
def test_documented_subgradient_at_the_kink(expr: str, value: float) -> None:
    d = matcalc.diff(expr, "a", shapes={"a": "scalar"})
    assert d.to_function()(a=0.0) == value


def test_numpy_sigmoid_is_exact_and_quiet_far_from_zero() -> None:
    """The generated sigmoid is the plain 1/(1 + e⁻ᶻ) (half the work of a two-branch form):
    where e⁻ᶻ overflows it must give 0 without a warning, and elsewhere it must agree with
    the form that never overflows."""
    import warnings

    z = np.array([-1000.0, -745.0, -709.0, -700.0, -30.0, -1e-9, 0.0, 1e-9, 30.0, 700.0, 1000.0, np.inf, -np.inf])
    e = np.exp(-np.abs(z))
    stable = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = numpy_function(registry.SIGMOID)(z)
    np.testing.assert_allclose(got, stable, rtol=1e-15, atol=1e-307)
    assert got[0] == 0.0 and got[-3] == 1.0 and got[-2] == 1.0 and got[-1] == 0.0
