"""Thousands of derivatives nobody wrote by hand, checked against finite differences.

Each case is a random well-shaped expression (``strategies.cases``: every operator,
every registry function, broadcasting, compound vec/kron sizes, depth up to 6) with
a variable, a layout and an order.  For each one:

* ``numeric_check`` compares matcalc's derivative with central finite differences at
  a random point inside the domain (a case where no finite point exists is skipped,
  and counted: the generator keeps that rare);
* the layouts agree up to the documented transposes (the drawn layout against the
  mixed one, all three on every third case): a gradient in numerator layout is the
  transpose of the mixed one, a (vec-)Jacobian in denominator layout is the
  transpose of the mixed one, a derivative of a column by a scalar is a row in
  denominator layout, and Hessians do not depend on the layout (and are symmetric
  when the variable is not declared symmetric);
* ``d.ascii()`` parses back in the same dialect and evaluates to the same numbers;
* on every fourth case, ``d.to_function()`` and the generated NumPy module
  (``d.numpy_source()``) return the same numbers, in the user's shapes.

A bug found this way gets a ``test_regression_*`` test at the end of this file
(``xfail(strict=True)`` while it is open); while open, the random tests step around
it by name and count each time they do in the session summary (conftest), which
also prints how many cases ran, how many were skipped, and the slowest cases.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from strategies import STATS, Case, Timer, cases, record_time, scaled

import matcalc
from matcalc.errors import CheckError, EvaluationError, ShapeError
from matcalc.evaluate import evaluate, to_user_shape
from matcalc.nodes import Apply, ArgExtremum, Compare, Extremum, Norm, walk
from matcalc.numeric import NumericResult, numeric_check

LAYOUTS = ("mixed", "numerator", "denominator")


def derive(case: Case, layout: str) -> Any:
    return matcalc.diff(case.source, case.wrt, shapes=case.shapes, syntax=case.syntax, layout=layout, order=case.order)


def value(d: Any, res: NumericResult) -> np.ndarray:
    """The derivative's value at the point the numeric check used."""
    variables = dict(d.checked.variables)
    variables.setdefault(d.wrt.name, d.wrt)
    return evaluate(d.node, variables, res.point, res.sizes)


def user_arrays(res: NumericResult) -> dict[str, Any]:
    """The point in the user's conventions: scalars as floats, column vectors 1-D, the rest 2-D."""
    return {k: float(a[0, 0]) if a.shape == (1, 1) else a[:, 0].copy() if a.shape[1] == 1 else a for k, a in res.point.items()}


def check_functions(case: Case, d: Any, res: NumericResult) -> None:
    want = to_user_shape(value(d, res), d.node.shape)
    arrays = user_arrays(res)
    try:
        got = d.to_function()(**arrays)
    except EvaluationError:
        return  # a size no input determines (dim(k) of an inferred size): nothing to compare
    assert np.shape(got) == np.shape(want) and close(np.asarray(got, float), np.asarray(want, float)), (
        f"to_function disagrees: {case!r}"
    )
    STATS["to_function and generated NumPy compared"] += 1
    namespace: dict[str, Any] = {}
    exec(d.numpy_source(name="generated"), namespace)  # noqa: S102 - matcalc's generated module
    got = namespace["generated"](**arrays)
    assert np.shape(got) == np.shape(want), f"generated NumPy returns shape {np.shape(got)}, expected {np.shape(want)}: {case!r}"
    assert close(np.asarray(got, float), np.asarray(want, float), 1e-7), (
        f"generated NumPy disagrees: {case!r}\n{d.numpy_source()}"
    )


def norm_at_zero(d: Any, res: NumericResult) -> bool:
    """Whether some norm in the expression has an all-zero argument at the point (‖·‖ has a kink at 0:
    relu(a) with a < 0 inside a norm is zero on a whole half-line, so this is not a measure-zero event)."""
    variables = dict(d.checked.variables)
    variables.setdefault(d.wrt.name, d.wrt)
    for n in walk(d.expression):
        if isinstance(n, Norm) and not np.any(evaluate(n.arg, variables, res.point, res.sizes)):
            return True
    return False


def piecewise(d: Any) -> bool:
    """Whether the expression has a jump or a kink (an indicator, is_max, max, abs, relu, sign)."""
    return any(
        isinstance(n, (Compare, ArgExtremum, Extremum)) or (isinstance(n, Apply) and n.fn.name in ("relu", "abs", "sign", "max", "min"))
        for n in walk(d.expression)
    )


def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-8) -> bool:
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    return bool(np.all(np.abs(a - b) <= rtol * scale))


def layout_relation(d: Any) -> dict[str, bool]:
    """For each layout, whether its value is the mixed-layout value transposed."""
    if d.order == 2:
        return {"numerator": False, "denominator": False}
    f = d.expression.shape
    if d.kind == "gradient":
        return {"numerator": True, "denominator": False}
    if d.kind in ("Jacobian", "vec-Jacobian"):
        return {"numerator": False, "denominator": True}
    # by a scalar: a column becomes a row in denominator layout; anything else keeps its shape
    return {"numerator": False, "denominator": bool(f.cols.is_one and not f.rows.is_one)}


def check_case(case: Case, seed: int) -> None:
    """Derive in every layout, check against finite differences, compare layouts, round-trip the ASCII."""
    STATS["cases generated"] += 1
    with Timer() as t:
        outcome = _check(case, seed)
    STATS[outcome] += 1
    event(outcome)
    record_time(t.seconds, case.call())


def _check(case: Case, seed: int) -> str:
    # the drawn layout and the mixed one always; all three on every third case (to keep the run short)
    layouts = LAYOUTS if seed % 3 == 0 else tuple(dict.fromkeys(("mixed", case.layout)))
    derivs = {layout: derive(case, layout) for layout in layouts}
    d = derivs[case.layout]
    try:
        res = numeric_check(d, seed=seed)
    except CheckError:
        STATS["skipped: no finite point in the domain"] += 1
        assume(False)
    if not res.ok and norm_at_zero(d, res):
        STATS["skipped: a norm of an all-zero argument (its kink)"] += 1
        assume(False)
    if not res.ok and piecewise(d):
        # is_min of a matrix with equal entries, a relu near 0: central differences that
        # straddle a jump measure the jump.  A wrong formula is wrong at other points too
        again = [numeric_check(d, seed=seed + k) for k in (101, 202)]
        if any(r.ok for r in again):
            STATS["rechecked: the first point straddled a jump"] += 1
            res = next(r for r in again if r.ok)
        elif all(r.max_error > 1e3 for r in (res, *again)):
            # differences of the order of 1/(2h) everywhere: an indicator that float rounding
            # flips (is_min of a symmetric matrix: its equal entries differ in the last bit)
            STATS["skipped: an indicator flipped by rounding at every point"] += 1
            assume(False)
    assert res.ok, (
        f"wrong derivative: {case!r}\n  matcalc: {d.text}\n  {res.first_mismatch()} (max error {res.max_error:.3g}, sizes {res.sizes})"
    )

    # the layouts agree up to the documented transposes
    mixed = value(derivs["mixed"], res)
    relation = layout_relation(d)
    for layout in layouts:
        if layout == "mixed":
            continue
        got = value(derivs[layout], res)
        want = mixed.T if relation[layout] else mixed
        assert close(got, want), (
            f"layout {layout} disagrees with mixed: {case.call(layout)}\n  {derivs[layout].text}\n  mixed: {derivs['mixed'].text}"
        )
    if case.order == 2 and not d.wrt.symmetric:
        assert close(mixed, mixed.T, 1e-7), f"Hessian not symmetric: {case!r}\n  {d.text}"

    # the user-facing functions compute the same numbers: to_function() and the generated NumPy module
    if seed % 4 == 1:
        check_functions(case, d, res)

    # the ASCII form (sizes such as m·n written eye(m*n)) parses back and evaluates to the same numbers
    text = d.ascii()
    try:
        again = matcalc.check(text, case.shapes, case.syntax)
    except ShapeError as e:
        raise AssertionError(f"ascii does not parse back: {case!r}\n  ascii: {text}\n  {e}") from None
    back = evaluate(again.expr, again.variables, res.point, res.sizes)
    assert close(back, value(d, res), 1e-7), f"ascii does not evaluate back: {case!r}\n  ascii: {text}"
    return f"checked (order {case.order}); ascii round trip"


@settings(max_examples=scaled(900))
@given(case=cases(order=1), seed=st.integers(0, 2**16))
def test_random_first_order(case: Case, seed: int) -> None:
    """First derivatives of random expressions in both dialects, all layouts."""
    check_case(case, seed)


@settings(max_examples=scaled(250))
@given(case=cases(order=2, max_depth=5), seed=st.integers(0, 2**16))
def test_random_second_order(case: Case, seed: int) -> None:
    """Hessians of random scalar expressions (by scalars, vectors and matrices)."""
    check_case(case, seed)


@settings(max_examples=scaled(350))
@given(case=cases(dialect="matlab"), seed=st.integers(0, 2**16))
def test_random_matlab_dialect(case: Case, seed: int) -> None:
    """The matlab dialect: * is the matrix product, .* ./ .^ elementwise, ^ the matrix power."""
    check_case(case, seed)


@settings(max_examples=scaled(300))
@given(case=cases(max_depth=3), seed=st.integers(0, 2**16))
def test_random_shallow(case: Case, seed: int) -> None:
    """Small expressions: failures here shrink to the smallest reproductions."""
    check_case(case, seed)


@settings(max_examples=scaled(100))
@given(case=cases(max_depth=4), seed=st.integers(0, 2**16))
def test_random_several_variables(case: Case, seed: int) -> None:
    """diff(f, "x,y") gives, for each variable, the derivative diff(f, x) gives alone."""
    names = sorted(case.shapes)
    assume(len(names) >= 2)
    together = matcalc.diff(case.source, names, shapes=case.shapes, syntax=case.syntax, layout=case.layout, order=case.order)
    assert sorted(together) == names
    for name in names:
        alone = matcalc.diff(case.source, name, shapes=case.shapes, syntax=case.syntax, layout=case.layout, order=case.order)
        try:
            res = numeric_check(alone, seed=seed)
        except CheckError:
            assume(False)
        assert close(value(together[name], res), value(alone, res)), f"{name}: {case!r}"


# ---------------------------------------------------------------- regressions found by the random tests


def test_regression_inner_product_order_with_an_unwritable_size() -> None:
    # the canonical order of aᵀb compared ASCII forms, and ones(m·n) has none: diff raised
    d = matcalc.diff("tanh(dot(vec(Amn).T, vec(Amn) - a))", ["Amn", "a"], shapes={"Amn": ("m", "n"), "a": ()}, order=2)
    for name in ("Amn", "a"):
        assert numeric_check(d[name], seed=0).ok


def test_regression_ascii_fraction_exponent() -> None:
    # d/da a^1.5 = (3/2) a^(1/2); the ASCII form said a**1/2, i.e. (a**1)/2
    d = matcalc.diff("a**1.5", "a", shapes={"a": "scalar"})
    again = matcalc.check(d.ascii(), {"a": "scalar"})
    a = 0.7
    assert evaluate(again.expr, again.variables, {"a": a})[0, 0] == pytest.approx(1.5 * a**0.5)


def test_regression_dim_of_unbound_size() -> None:
    # a*dim(m): m is the size of no variable; numeric_check raised KeyError instead of picking a size
    d = matcalc.diff("a * dim(m)", "a", shapes={"a": "scalar"})
    res = numeric_check(d, seed=0)
    assert res.ok


def test_regression_matlab_ascii_elementwise_division() -> None:
    # ∂ sum(x ./ y)/∂y = −x ./ y.^2; was printed as -(x / y.^2), which the matlab dialect rejects
    d = matcalc.diff("sum(x ./ y)", "y", shapes={"x": "n", "y": "n"}, syntax="matlab")
    again = matcalc.check(d.ascii(), {"x": "n", "y": "n"}, "matlab")
    x, y = np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.5, 2.5])
    assert np.allclose(evaluate(again.expr, again.variables, {"x": x, "y": y})[:, 0], -x / y**2)


def test_regression_sum_of_row_vector_loops() -> None:
    # ∂ sum(r)/∂r for a row r is a row of ones (simplify looped: sum(r) → sum(rᵀ) → sum(r) …)
    d = matcalc.diff("sum(r)", "r", shapes={"r": "1 x n"})
    assert np.allclose(d.to_function()(r=np.array([1.0, 2.0, 3.0])), np.ones((1, 3)))


def test_regression_unparse_number_with_trailing_dot() -> None:
    # "3. '" parses to Transpose(Number("3.")); unparse gave "3.'" (a lex error) and "3.**x" (a syntax error)
    from matcalc.parse import parse
    from matcalc.printing.source import unparse

    for text in ("3. '", "3. ** x"):
        tree = parse(text, "numpy")
        assert parse(unparse(tree, "numpy"), "numpy") == tree


def test_regression_ones_plus_constant_printed_as_scalar() -> None:
    # ∂/∂a a·(r (𝟙ₘₓₙ + ½)) = r (𝟙 + ½), a 1×n row; printed "r @ (1 + 1/2)", which parses back as a 1×m row
    shapes = {"r": "1 x m", "a": "scalar"}
    d = matcalc.diff("a * (r @ (ones(m, n) + 0.5))", "a", shapes=shapes)
    again = matcalc.check(d.ascii(), shapes)
    assert again.expr.shape == d.node.shape
    r = np.array([[1.0, 2.0, 3.0]])
    sizes = {"m": 3, "n": 2}
    want = 1.5 * r.sum() * np.ones((1, 2))
    assert np.allclose(evaluate(d.node, {"r": d.checked.variables["r"]}, {"r": r}, sizes), want)
    assert np.allclose(evaluate(again.expr, again.variables, {"r": r}, sizes), want)


def test_regression_generated_numpy_negated_comparison() -> None:
    # ∂/∂a −relu(a·b) = −(ab > 0)·b; the generated module computes -(a * b > 0) * b
    d = matcalc.diff("-relu(a*b)", "a", shapes={"a": "scalar", "b": "scalar"})
    namespace: dict[str, Any] = {}
    exec(d.numpy_source(name="generated"), namespace)  # noqa: S102 - matcalc's generated module
    assert namespace["generated"](a=1.0, b=0.5) == pytest.approx(-0.5)


def test_regression_vec_sum_of_differently_shaped_matrices() -> None:
    # ∂/∂a a·(vec(B) + vec(W)) = vec(B) + vec(W); matcalc gives vec(B + W), an ill-shaped sum (ValueError in NumPy)
    d = matcalc.diff("a*(vec(B) + vec(W))", "a", shapes={"B": "n x m", "W": "m x n", "a": "scalar"})
    B, W = np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(3, 2) + 10
    got = d.to_function()(a=1.0, B=B, W=W)
    assert np.allclose(got, B.reshape(-1, order="F") + W.reshape(-1, order="F"))
