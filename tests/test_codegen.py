"""Generated code (matcalc.codegen) against independent references.

Every generated function is executed and compared with central finite differences
(``matcalc.numeric.numeric_check``, which differentiates the *expression*, not the
result) and with ``Derivative.to_function()`` (the structured NumPy evaluator), in the
same calling conventions: scalars as floats, vectors 1-D, matrices 2-D.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import warnings

import numpy as np
import pytest

import matcalc
from matcalc import nodes as N
from matcalc.codegen import (
    JAX_FUNCTIONS,
    TORCH_FUNCTIONS,
    CodegenNameError,
    compile_function,
    generate,
)
from matcalc.errors import MatcalcError
from matcalc.evaluate import evaluate, to_user_shape
from matcalc.nodes import Var, map_bottom_up
from matcalc.numeric import numeric_check
from matcalc.record import replace
from matcalc.registry import ELEMENTWISE

HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None

# ---------------------------------------------------------------- the cases

LOGISTIC = "-sum(y*log(sigmoid(X@w)) + (1-y)*log(1-sigmoid(X@w)))"
NET = "0.5*norm(y - W2@relu(W1@x))^2"

CASES: list[tuple[str, str, dict]] = [
    ("sum(w*x)+b", "w", {}),
    ("sum(w*x)+b", "w", {"layout": "numerator"}),
    ("sum(w*x)+b", "b", {}),
    ("x'@A@x", "x", {}),
    ("x'@A@x", "A", {}),
    ("x'@A@x", "x", {"order": 2}),
    ("x'@S@x", "S", {"shapes": {"S": "n x n symmetric"}}),
    (NET, "W1", {}),
    (NET, "W2", {}),
    (NET, "x", {}),
    (LOGISTIC, "w", {}),
    (LOGISTIC, "w", {"order": 2}),
    (LOGISTIC, "X", {}),
    ("logdet(X)", "X", {}),
    ("det(X)", "X", {}),
    ("tr(A@X@B)", "X", {}),
    ("tr(inv(X)@A)", "X", {}),
    ("b'@inv(X)@c", "X", {"shapes": {"b": "n", "c": "n"}}),
    ("inv(A)@x", "x", {}),
    ("inv(X)", "X", {}),
    ("tr(expm(A@X))", "X", {}),
    ("expm(t*A)", "t", {"shapes": {"t": "scalar"}}),
    ("A@X@B", "X", {}),
    ("A@X@B", "X", {"layout": "denominator"}),
    ("X'", "X", {}),
    ("X@X", "X", {}),
    ("sin(A@X@B)", "X", {}),
    ("sum(sin(A@X@B))", "X", {"order": 2}),
    ("W@vec(A@X@B)", "X", {}),
    ("kron(A, X)", "X", {}),
    ("vec(X)", "X", {}),
    ("sum(unvec(v, m, n) @ x)", "v", {}),
    ("unvec(v, m, n) @ x", "x", {}),
    ("softmax(x)", "x", {}),
    ("softmax(X)", "X", {}),
    ("y'@log(softmax(W@x))", "W", {}),
    ("logsumexp(x)", "x", {}),
    ("logsumexp(x)", "x", {"order": 2}),
    ("logsumexp(X)", "X", {}),
    ("prod(x)", "x", {}),
    ("prod(A@x)^(1/n)", "x", {"order": 2}),
    ("np.prod(X)", "X", {}),
    ("sum(X, 0)", "X", {}),
    ("sum(X, 1)", "X", {}),
    ("mean(x)", "x", {}),
    ("mean(X, 1)", "X", {}),
    ("norm1(x)", "x", {}),
    ("norm(X)", "X", {}),
    ("norm(x)", "x", {"order": 2}),
    ("diag(x)@A", "x", {}),
    ("diag(X)", "X", {}),
    ("diag(A@x)", "x", {}),
    ("x*y", "x", {}),
    ("x*y", "x", {"layout": "denominator"}),
    ("x/y", "y", {}),
    ("x^3", "x", {}),
    ("2^x", "x", {}),
    ("x^y", "y", {}),
    ("sum(x^y)", "y", {"order": 2}),
    ("(x > 0)*x", "x", {}),
    ("x*(x >= y)", "y", {}),
    ("eye(n)@x + x", "x", {}),
    ("sum(exp(W@x + b))", "b", {}),
    ("W@x + b", "W", {"shapes": {"b": "m"}}),
    ("W@x + b", "b", {"shapes": {"b": "m"}}),
    ("alpha*x", "alpha", {}),
    ("alpha*x", "x", {}),
    ("sin(alpha)*x", "alpha", {"layout": "denominator"}),
    ("lambda*norm(w)^2", "w", {}),
    ("lambda*norm(w)^2", "lambda", {}),
    ("outer(x, y)", "x", {}),
    ("x@y'", "y", {}),
    ("sum(x)*x", "x", {}),
    ("(x'@x)*x", "x", {}),
    ("sum(sign(x))", "x", {}),
    ("a*b", "a", {}),
    ("a^2*b", "a", {"order": 2}),
    ("A@x", "x", {"layout": "numerator"}),
    ("A@x", "A", {}),
    ("x'@A", "x", {}),
    ("tr(X'@X)", "X", {"order": 2}),
    ("sum(X*X)", "X", {"layout": "numerator"}),
    ("X*w", "w", {}),
    ("sum(matrix_power(X, 2))", "X", {}),
    ("sum(-x/3 + 2*x/3 + x/(y*z))", "x", {}),
    ("sum(-x/3 + 2*x/3 + x/(y*z))", "z", {"order": 2}),
    ("sum(x^-2 + 1/x^2 + x^(1/3))", "x", {}),
    ("sum((-x)^2 - x^0.5)", "x", {"order": 2}),
    ("sum(2^-x)", "x", {}),
    ("sum(x^-0.5)", "x", {"order": 2}),
    ("sum(exp(2)*x)", "x", {}),
    ("max(0, 1)*x + (2 > 1)*x", "x", {}),
    ("sum(max(0.5, min(x, 1.5)))", "x", {}),
    ("a/b - b/a", "b", {"order": 2}),
    ("x'@ones(n)", "x", {}),
    ("zeros(n)'@x + sum(ones(m, n)@x)", "x", {}),
    # max / min of entries (all, along rows, down columns), and π
    ("max(x) - min(W@x)", "x", {}),
    ("sum(w*max(X, axis=1)) + sum(min(X, axis=0))", "X", {}),
    ("sin(pi*a)*sum(x)", "a", {}),
    # −(comparison) ⊙ …: NumPy has no unary minus of a bool array, so the sign goes outside
    ("-sum((W@x >= y) * exp(W@x))", "W", {}),
]


def _registry_cases() -> list[tuple[str, str, dict]]:
    """Every registered elementwise function, in gradient, Jacobian, Hessian and matrix forms."""
    out: list[tuple[str, str, dict]] = []
    for name, fn in ELEMENTWISE.items():
        if fn.arity == 1:
            out += [
                (f"sum({name}(x))", "x", {}),
                (f"{name}(x)", "x", {}),
                (f"sum({name}(x))", "x", {"order": 2}),
                (f"{name}(X)", "X", {}),
                (f"{name}(a)*x", "a", {}),
            ]
        elif fn.arity == 2:
            out += [
                (f"sum({name}(x, y))", "x", {}),
                (f"{name}(x, 2*x)", "x", {}),
                (f"{name}(x, 0.5)", "x", {}),
                (f"sum({name}(0.5, X))", "X", {}),
            ]
        else:  # pragma: no cover - no such function yet
            args = ", ".join(["x"] * fn.arity)
            out.append((f"sum({name}({args}))", "x", {}))
    return out


ALL_CASES = CASES + _registry_cases()


def _id(case: tuple[str, str, dict]) -> str:
    e, w, kw = case
    extra = ",".join(f"{k}={v}" for k, v in sorted(kw.items()) if k != "shapes")
    return f"{e} by {w}" + (f" [{extra}]" if extra else "")


def _diff(expr: str, wrt: str, kw: dict) -> matcalc.Derivative:
    return matcalc.diff(expr, wrt, **kw)


def _user(a: np.ndarray, var: Var):
    """Internal 2-D value → the user's convention."""
    s = var.shape
    if s.is_scalar:
        return float(a.reshape(()))
    if s.cols.is_one:
        return a[:, 0].copy()
    return a.copy()


def _params(d: matcalc.Derivative) -> list[Var]:
    variables = dict(d.checked.variables)
    variables.setdefault(d.wrt.name, d.wrt)
    return list(variables.values())


def _user_shape(a: np.ndarray, shape) -> object:
    if shape.is_scalar:
        return float(a.reshape(()))
    if shape.cols.is_one:
        return a[:, 0]
    return a


def _assert_convention(got, shape) -> None:
    if shape.is_scalar:
        assert isinstance(got, float), type(got)
    elif shape.cols.is_one:
        assert isinstance(got, np.ndarray) and got.ndim == 1, getattr(got, "shape", got)
    else:
        assert isinstance(got, np.ndarray) and got.ndim == 2, getattr(got, "shape", got)


def _compare(d: matcalc.Derivative, seed: int = 0, with_value: bool = False):
    """Run the generated code at the finite-difference reference's point and compare."""
    ref = numeric_check(d, seed=seed)
    assert ref.ok, f"matcalc's own result disagrees with finite differences (not a codegen bug): {ref.first_mismatch()}"
    params = _params(d)
    args = [_user(ref.point[v.name], v) for v in params]
    fn = compile_function(d, with_value=with_value)
    # sizes no input determines are keyword-only parameters
    sizes = {
        p.name: ref.sizes[p.name.rstrip("_")]
        for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    out = fn(*args, **sizes)
    value, got = out if with_value else (None, out)
    _assert_convention(got, d.node.shape)
    expected_fd = _user_shape(ref.expected, d.node.shape)
    scale = max(1.0, float(np.max(np.abs(ref.expected), initial=0.0)))
    assert np.allclose(got, expected_fd, rtol=0, atol=1e-6 + 1e-3 * scale), (got, expected_fd)
    # the structured evaluator behind Derivative.to_function(), given the sizes (a size no
    # input determines, as in ones(m, n) @ x, cannot be passed to to_function)
    variables = {v.name: v for v in params}
    evaluated = to_user_shape(evaluate(d.node, variables, {v.name: a for v, a in zip(params, args)}, ref.sizes), d.node.shape)
    np.testing.assert_allclose(got, evaluated, rtol=1e-9, atol=1e-11)
    if with_value:
        _assert_convention(value, d.expression.shape)
        expected_value = evaluate(d.expression, variables, {v.name: a for v, a in zip(params, args)}, ref.sizes)
        np.testing.assert_allclose(value, _user_shape(expected_value, d.expression.shape), rtol=1e-9, atol=1e-11)
    return fn, args, sizes, got


@pytest.mark.parametrize("case", ALL_CASES, ids=_id)
def test_generated_numpy_matches_finite_differences_and_evaluator(case):
    d = _diff(*case)
    _compare(d, seed=1)


@pytest.mark.parametrize("case", [c for c in ALL_CASES[::3]], ids=_id)
def test_with_value_shares_and_matches(case):
    d = _diff(*case)
    _compare(d, seed=2, with_value=True)


@pytest.mark.parametrize("case", ALL_CASES[:40:4], ids=_id)
def test_to_function_and_generated_code_agree(case):
    d = _diff(*case)
    ref = numeric_check(d, seed=3)
    params = _params(d)
    args = [_user(ref.point[v.name], v) for v in params]
    np.testing.assert_allclose(compile_function(d)(*args), d.to_function()(**{v.name: a for v, a in zip(params, args)}), rtol=1e-9, atol=1e-11)


def test_bug_to_function_size_inference_needs_a_fixpoint():
    d = matcalc.diff("sum(unvec(v, m, n) @ x)", "v")
    got = d.to_function()(v=np.ones(6), x=np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(got, compile_function(d)(np.ones(6), np.array([1.0, 2.0, 3.0])))


def test_bug_evaluate_warns_despite_errstate():
    # numpy's own RuntimeWarnings are silenced in the worker; matcalc says once, in its own words
    from matcalc.evaluate import NonFiniteWarning

    d = matcalc.diff("sum(log(x))", "x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = evaluate(d.expression, d.checked.variables, {"x": np.array([-1.0, 2.0])})
    assert np.isnan(value).all()
    assert [w.category for w in caught] == [NonFiniteWarning]


def test_cases_cover_every_node_type():
    """The case list exercises every node type the generator must handle."""
    seen: set[type] = set()
    for case in ALL_CASES:
        d = _diff(*case)
        for root in (d.node, d.expression):
            seen |= {type(n) for n in N.walk(root)}
    wanted = {
        c
        for c in vars(N).values()
        # differentials only: dX, and e^X's Fréchet derivative (refused if it survives)
        if isinstance(c, type) and issubclass(c, N.Node) and c not in (N.Node, N.Differential, N.ExpmFrechet)
    }
    assert wanted - seen == set()


def test_every_registry_function_is_translated_for_every_backend():
    """A newly registered elementwise function must get a JAX and a PyTorch translation."""
    missing = {
        backend: sorted(set(ELEMENTWISE) - set(table)) for backend, table in (("jax", JAX_FUNCTIONS), ("torch", TORCH_FUNCTIONS))
    }
    assert missing == {"jax": [], "torch": []}, f"add translations in matcalc/codegen.py: {missing}"
    for table in (JAX_FUNCTIONS, TORCH_FUNCTIONS):
        for name, (template, _) in table.items():
            assert set(re.findall(r"\{(\d+)\}", template)) == {str(i) for i in range(ELEMENTWISE[name].arity)}, name


# ---------------------------------------------------------------- logistic regression, 2-layer net


def _logistic_reference(X, w, y):
    z = X @ w
    s = 1 / (1 + np.exp(-z))
    loss = -np.sum(y * np.log(s) + (1 - y) * np.log(1 - s))
    grad = X.T @ (s - y)
    hess = X.T @ np.diag(s * (1 - s)) @ X
    return loss, grad, hess


def test_logistic_regression_value_gradient_hessian_by_hand():
    rng = np.random.default_rng(7)
    X, w = rng.normal(size=(6, 3)), rng.normal(size=3)
    y = (rng.uniform(size=6) > 0.5).astype(float)
    loss, grad, hess = _logistic_reference(X, w, y)
    g = compile_function(_diff(LOGISTIC, "w", {}), with_value=True)
    h = compile_function(_diff(LOGISTIC, "w", {"order": 2}), with_value=True)
    v1, g1 = g(y, X, w)
    v2, h2 = h(y=y, X=X, w=w)
    assert isinstance(v1, float) and v1 == pytest.approx(loss, rel=1e-12)
    assert v2 == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(g1, grad, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h2, hess, rtol=1e-12, atol=1e-13)


def test_logistic_hessian_source_is_structured_and_shares_the_sigmoid():
    src = generate(_diff(LOGISTIC, "w", {"order": 2}), with_value=True)
    assert "np.diag(" not in src and "np.diagflat(" not in src
    assert src.count("sigmoid(X @ w)") == 1  # computed once, shared by value and Hessian
    assert re.search(r"^    t1 = sigmoid\(X @ w\)$", src, re.M)
    assert "hess = gram(X, t1 * t2)" in src  # Xᵀ diag(σ(1 − σ)) X as BᵀB (see the gram tests)


def test_value_interval_knows_the_signs_the_registry_gives():
    from matcalc.codegen import value_interval

    def lo(expr: str) -> float:
        return value_interval(matcalc.check(expr, {"x": "n", "y": "n"}).expr)[0]

    assert value_interval(matcalc.check("1 - sigmoid(x)", {"x": "n"}).expr) == (0.0, 1.0)
    assert lo("y**2 * sigmoid(x) * (1 - sigmoid(x))") == 0.0  # the logistic Hessian's weights
    assert lo("1 - tanh(x)**2") == 0.0  # log cosh's
    assert lo("exp(-x) / (1 + x**2)") == 0.0
    assert lo("sqrt(x) * relu(y) + 2") == 2.0
    assert lo("(x > 0) * 2") == 0.0
    # nothing known: a variable, an odd power, a difference, a function of unknown sign
    for expr in ("x", "x**3", "1 - sigmoid(x) - sigmoid(y)", "sigmoid(x) - 0.5", "log(sigmoid(x))", "y * exp(x)", "1 - x**2"):
        assert lo(expr) < 0, expr


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
def test_weighted_gram_products_use_the_symmetric_form_only_for_certain_signs(backend):
    """Xᵀ diag(d) X is written gram(X, d) = BᵀB, B = √d ⊙ X (BLAS's syrk: half the work) only
    where d ≥ 0 is certain; the value is the plain product's either way."""
    if backend != "numpy":
        pytest.importorskip(backend)
    if backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(11)
    X, w, y = rng.normal(size=(7, 4)), rng.normal(size=4), rng.choice([-1.0, 1.0], size=7)
    cases = [
        ("sum(log(1 + exp(-y*(X@w))))", True),  # y² σ(1 − σ)
        ("sum(log(cosh(X@w)))", True),  # 1 − tanh²
        ("sum(relu(X@w)**2)", True),  # 2 (Xw > 0), a comparison
        ("sum(exp(X@w)) + 0.5*norm(w)**2", True),
        ("sum((X@w)**3)", False),  # 6 Xw: either sign
        ("norm(tanh(X@w) - y)**2", False),  # (1 − tanh²)(1 + 2y tanh − 3 tanh²): either sign
    ]
    for expr, symmetric in cases:
        d = matcalc.diff(expr, "w", shapes={"X": "m x n", "w": "n", "y": "m"}, order=2)
        src = generate(d, backend=backend)
        assert ("gram(X, " in src) == symmetric, (expr, src)
        args = {k: v for k, v in {"X": X, "w": w, "y": y}.items() if k in d.variables}
        want = d.to_function()(**args)  # matcalc's own evaluator: the plain product
        fn = compile_function(d, backend=backend)
        if backend == "torch":
            import torch

            got = fn(**{k: torch.as_tensor(v) for k, v in args.items()}).detach().numpy()
        else:
            got = np.asarray(fn(**args))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=expr)
        if symmetric:
            assert np.array_equal(got, got.T)


def test_two_layer_net_by_hand():
    rng = np.random.default_rng(3)
    W1, W2 = rng.normal(size=(4, 3)), rng.normal(size=(2, 4))
    x, y = rng.normal(size=3), rng.normal(size=2)
    h = W1 @ x
    r = W2 @ np.maximum(h, 0) - y
    grad = np.outer((W2.T @ r) * (h > 0), x)
    d = _diff(NET, "W1", {})
    names = [v.name for v in _params(d)]
    kw = {"W1": W1, "W2": W2, "x": x, "y": y}
    value, g = compile_function(d, with_value=True)(*[kw[n] for n in names])
    assert value == pytest.approx(0.5 * r @ r, rel=1e-12)
    np.testing.assert_allclose(g, grad, rtol=1e-12, atol=1e-13)
    src = generate(d)
    assert src.count("W1 @ x") == 1  # the pre-activation is computed once
    assert "np.diag" not in src


# ---------------------------------------------------------------- structure


def _call_lines(src: str) -> str:
    """The body of the generated function (not the helpers)."""
    return src[src.rindex("\ndef ") :]


def test_diag_times_matrix_is_a_broadcast_not_a_dense_diag():
    for expr, wrt, kw in [
        ("sum(sigmoid(X@w))", "w", {"order": 2}),
        ("sin(A@x)", "x", {}),
        ("diag(x)@A", "x", {}),
        ("A@diag(x)@B", "B", {}),
        ("sum(exp(X@w))", "w", {"order": 2}),
    ]:
        d = _diff(expr, wrt, kw)
        src = generate(d)
        assert "np.diag(" not in src, src
        _compare(d)


def test_kronecker_factors_use_the_vec_trick():
    """(Bᵀ ⊗ A) times something dense is applied as vec(A V B), never formed with np.kron."""
    d = _diff("W@vec(A@X@B)", "X", {})
    assert "⊗" in d.text
    body = _call_lines(generate(d))
    assert "np.kron" not in body and "kron_apply(" in body
    _compare(d)
    # a Kronecker-valued *result* is formed: it is the answer
    d = _diff("A@X@B", "X", {})
    assert "np.kron(B.T, A)" in generate(d)


def test_kron_apply_helper_is_the_vec_trick():
    src = generate(_diff("W@vec(A@X@B)", "X", {}))
    ns: dict = {}
    exec(src, ns)
    rng = np.random.default_rng(0)
    for k in (1, 3):
        A, B, M = rng.normal(size=(2, 3)), rng.normal(size=(4, 5)), rng.normal(size=(15, k))
        np.testing.assert_allclose(ns["kron_apply"](A, B, M), np.kron(A, B) @ M, rtol=1e-12, atol=1e-12)
        C = rng.normal(size=(5, 3))  # (A ⊗ B) vec(C) = vec(B C Aᵀ)
        np.testing.assert_allclose(
            ns["kron_apply"](A, B, C.reshape(-1, 1, order="F"))[:, 0], (B @ C @ A.T).reshape(-1, order="F"), rtol=1e-12
        )


def test_chain_ending_in_a_vector_is_multiplied_right_to_left():
    src = generate(_diff("sum(A@B@C@x)", "B", {}))
    assert "C @ x" in src and "(C @ x)" in src or "C @ x.T" not in src
    d = _diff("A@B@C@x", "x", {"order": 1})
    src = generate(_diff("y'@A@B@C@x", "y", {}))
    assert "A @ (B @ (C @ x))" in src, src
    _compare(d)


def test_inverse_times_a_vector_is_a_solve():
    for wrt, want in (("y", "np.linalg.solve(A, x)"), ("x", "np.linalg.solve(A.T, y)")):
        d = _diff("y'@inv(A)@x", wrt, {})
        src = generate(d)
        assert want in src and "np.linalg.inv" not in src, src
        _compare(d)


def test_identities_are_dropped_and_sums_replace_ones_products():
    d = _diff("eye(n)@x + x", "x", {})
    src = generate(d)
    assert "@ np.eye" not in src and "np.eye(n) @" not in src
    d = _diff("sum(X, 1)", "X", {})
    _compare(d)


def test_dimension_sizes_come_from_the_inputs():
    d = _diff("sum(x) * x", "x", {})
    src = generate(d)
    assert re.search(r"^    n = x\.shape\[0\]$", src, re.M)
    d = _diff("unvec(v, m, n) @ x", "x", {})
    src = generate(d)
    assert "m = v.shape[0] // n" in src
    _compare(d)


def test_undetermined_size_becomes_a_keyword_parameter():
    d = _diff("eye(k)", "x", {"shapes": {"x": "n"}}) if False else None
    # sum(x) * dim(k): k is no input's size
    d = matcalc.diff("sum(x) * dim(k) * x", "x")
    src = generate(d)
    assert re.search(r"def d_dx\(x, \*, k\):", src), src
    f = compile_function(d)
    x = np.array([1.0, 2.0, 3.0])
    # d/dx (k·sum(x)·x) = k (sum(x) I + x 𝟙ᵀ)
    np.testing.assert_allclose(f(x, k=4), 4 * (x.sum() * np.eye(3) + np.outer(x, np.ones(3))))


def test_result_conventions_and_no_aliasing_of_inputs():
    d = _diff("sum(w*x)+b", "w", {})
    f = compile_function(d)
    x = np.array([1.0, 2.0, 3.0])
    out = f(np.zeros(3), x, 0.0)
    assert out.ndim == 1
    out[0] = 99.0
    assert x[0] == 1.0  # the result is not a view of the input
    d = _diff("sum(A*X)", "X", {})
    A = np.arange(6.0).reshape(2, 3)
    out = compile_function(d)(A, np.ones((2, 3)))
    out[0, 0] = 99.0
    assert A[0, 0] == 0.0
    v = np.arange(6.0)
    out = compile_function(_diff("unvec(v, m, n) @ x", "x", {}))(v, np.ones(3))
    np.testing.assert_array_equal(out, v.reshape(3, 2).T)
    out[0, 0] = 99.0
    assert v[0] == 0.0
    assert isinstance(compile_function(_diff("a*b", "a", {}))(2.0, 3.0), float)


def test_accepts_lists_and_column_vectors():
    d = _diff("x'@A@x", "x", {})
    f = compile_function(d)
    A = [[1.0, 2.0], [3.0, 4.0]]
    got = f([1.0, 1.0], A)
    np.testing.assert_allclose(got, (np.array(A) + np.array(A).T) @ np.ones(2))
    np.testing.assert_allclose(f(np.ones((2, 1)), A), got)


def test_readable_two_layer_net_source():
    src = generate(_diff(NET, "W1", {}))
    body = _call_lines(src)
    assert "t1 = W1 @ x" in body
    assert "np.maximum(t1, 0.0)" in body
    assert "(t1 > 0)" in body
    assert "* x.T" in body and "outer product" in body  # the outer product, by broadcasting
    assert max(len(line) for line in src.splitlines()) < 120


# ---------------------------------------------------------------- names


def _renamed(d: matcalc.Derivative, mapping: dict[str, str]) -> matcalc.Derivative:
    """The same derivative with variables renamed (to names the parser would not produce)."""
    new_vars = {name: Var(mapping.get(name, name), v.shape, v.symmetric) for name, v in d.checked.variables.items()}

    def ren(n):
        if isinstance(n, Var) and n.name in mapping:
            return Var(mapping[n.name], n.shape, n.symmetric)
        return n

    checked = replace(
        d.checked, expr=map_bottom_up(d.checked.expr, ren), variables={new_vars[k].name: new_vars[k] for k in new_vars}
    )
    result = replace(d.result, node=map_bottom_up(d.node, ren))
    wrt = new_vars.get(d.wrt.name, Var(mapping.get(d.wrt.name, d.wrt.name), d.wrt.shape, d.wrt.symmetric))
    return replace(d, checked=checked, wrt=wrt, result=result, _cache={})


@pytest.mark.parametrize(
    "bad",
    ["lambda", "np", "sum", "t1", "t2", "__import__", "float", "sigmoid", "kron_apply", "softmax", "d_dx", "None", "print", "__builtins__", "n"],
)
def test_dangerous_but_valid_names_are_renamed_consistently(bad):
    d = _diff(LOGISTIC, "w", {"order": 1})
    ref_fn = compile_function(d, with_value=True)
    r = _renamed(d, {"X": bad})
    src = generate(r, with_value=True)
    compile(src, "<test>", "exec")
    m = re.search(r"^def (\w+)\((.*)\):", src, re.M)
    assert m is not None
    params = [p.strip() for p in m.group(2).split(",")]
    assert bad not in params or bad in ("d_dx", "n")
    fn = compile_function(r, with_value=True)
    rng = np.random.default_rng(0)
    X, w = rng.normal(size=(5, 3)), rng.normal(size=3)
    y = (rng.uniform(size=5) > 0.5).astype(float)
    v1, g1 = ref_fn(y, X, w)
    v2, g2 = fn(y, X, w)
    assert v1 == v2
    np.testing.assert_array_equal(g1, g2)


def test_python_keyword_from_the_parser():
    d = _diff("lambda*norm(w)^2", "lambda", {})
    src = generate(d)
    assert "def d_dlambda(lambda_, w):" in src
    assert compile_function(d)(2.0, np.array([1.0, 2.0])) == pytest.approx(5.0)


@pytest.mark.parametrize("bad", ["x); import os; (", "a b", "1x", "x-1", "x.y", "", "ﬁ", "x\n", "os.system('x')", "x²"])
def test_names_that_are_not_identifiers_raise(bad):
    d = _renamed(_diff("sum(w*x)", "w", {}), {"x": bad})
    with pytest.raises(CodegenNameError) as e:
        generate(d)
    assert isinstance(e.value, MatcalcError)
    with pytest.raises(MatcalcError):
        compile_function(d)


@pytest.mark.parametrize("bad", ["np", "sum", "class", "a b", "sigmoid", "t1"])
def test_bad_function_names_raise(bad):
    with pytest.raises(CodegenNameError):
        generate(_diff("sum(sigmoid(x))", "x", {}), name=bad)


def test_custom_function_name():
    fn = compile_function(_diff("sum(x^2)", "x", {}), name="grad_f")
    assert fn.__name__ == "grad_f"
    np.testing.assert_allclose(fn(np.array([1.0, -2.0])), [2.0, -4.0])


def test_dimension_name_colliding_with_a_variable():
    d = matcalc.diff("n*sum(x)", "x", shapes={"x": "n", "n": "scalar"})
    fn = compile_function(d)
    np.testing.assert_allclose(fn(3.0, np.zeros(4)), np.full(4, 3.0))


def test_unknown_backend_raises():
    with pytest.raises(MatcalcError):
        generate(_diff("sum(x)", "x", {}), backend="tensorflow")


def test_generation_is_deterministic():
    d1, d2 = _diff(LOGISTIC, "w", {"order": 2}), _diff(LOGISTIC, "w", {"order": 2})
    assert generate(d1, with_value=True) == generate(d2, with_value=True)


# ---------------------------------------------------------------- other backends (when installed)

BACKEND_CASES = [c for c in CASES if c[2].get("layout") is None][::3]


def _template_function(template: str, helper: str, module, alias: str, arity: int):
    ns: dict = {alias: module}
    if helper:
        exec(helper, ns)
    args = ", ".join(f"a{i}" for i in range(arity))
    return eval(f"lambda {args}: " + template.format(*[f"a{i}" for i in range(arity)]), ns)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_translation_computes_the_registry_function(backend):
    """Each JAX / PyTorch template against the registry's NumPy template, inside each function's domain."""
    pytest.importorskip(backend)
    from matcalc.evaluate import numpy_function

    rng = np.random.default_rng(5)
    table = JAX_FUNCTIONS if backend == "jax" else TORCH_FUNCTIONS
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        module, alias, to = jnp, "jnp", jnp.asarray
    else:
        import torch

        module, alias, to = torch, "torch", lambda a: torch.as_tensor(a, dtype=torch.float64)
    for name, fn in ELEMENTWISE.items():
        template, helper = table[name]
        f = _template_function(template, helper, module, alias, fn.arity)
        args = [fn.sample(rng, (4, 3)) for _ in range(fn.arity)]
        got = np.asarray(f(*[to(a) for a in args]))
        np.testing.assert_allclose(got, numpy_function(fn)(*args), rtol=1e-12, atol=1e-14, err_msg=name)


def _backend_run(d, backend, args, sizes):
    fn = compile_function(d, backend=backend)
    if backend == "torch":
        import torch

        out = fn(*[torch.as_tensor(a, dtype=torch.float64) if not isinstance(a, float) else a for a in args], **sizes)
        return out.detach().numpy()
    import jax

    jax.config.update("jax_enable_x64", True)
    return np.asarray(fn(*args, **sizes))


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
@pytest.mark.parametrize("case", BACKEND_CASES, ids=_id)
def test_jax_backend_matches_numpy(case):
    d = _diff(*case)
    _, args, sizes, got = _compare(d)
    np.testing.assert_allclose(_backend_run(d, "jax", args, sizes), got, rtol=1e-7, atol=1e-9)


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_jax_gradient_of_generated_value_agrees():
    import jax

    jax.config.update("jax_enable_x64", True)
    d = _diff(LOGISTIC, "w", {})
    fn = compile_function(d, backend="jax", with_value=True)
    rng = np.random.default_rng(0)
    X, w = rng.normal(size=(5, 3)), rng.normal(size=3)
    y = (rng.uniform(size=5) > 0.5).astype(float)
    auto = jax.grad(lambda w_: fn(y, X, w_)[0])(w)
    np.testing.assert_allclose(np.asarray(auto), np.asarray(fn(y, X, w)[1]), rtol=1e-9)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("case", BACKEND_CASES, ids=_id)
def test_torch_backend_matches_numpy(case):
    d = _diff(*case)
    _, args, sizes, got = _compare(d)
    np.testing.assert_allclose(_backend_run(d, "torch", args, sizes), got, rtol=1e-7, atol=1e-9)


def test_backend_sources_import_their_library_only():
    d = _diff(LOGISTIC, "w", {"order": 2})
    jsrc, tsrc = generate(d, backend="jax"), generate(d, backend="torch")
    assert "import jax.numpy as jnp" in jsrc and "np." not in jsrc.replace("jnp.", "")
    assert "import torch" in tsrc and "np." not in tsrc
    compile(jsrc, "<jax>", "exec")
    compile(tsrc, "<torch>", "exec")


def test_docstring_text_cannot_break_out():
    d = _diff("sum(w*x)", "w", {})
    evil = replace(d, checked=replace(d.checked, source='x"""\nimport os\n"""\\'), _cache={})
    src = generate(evil)
    tree = ast.parse(src)
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [a.name for n in imports for a in n.names] == ["numpy"]
    np.testing.assert_allclose(compile_function(evil)(np.zeros(2), np.array([1.0, 2.0])), [1.0, 2.0])


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
def test_generated_modules_only_define_functions_and_call_known_names(backend):
    """Whatever the input, the module imports its array library (and at most the standard
    library's math or the backend's submodules), defines functions and nothing else."""
    module = {"numpy": "np", "jax": "jnp", "torch": "torch"}[backend]
    for case in ALL_CASES[::3]:
        d = _diff(*case)
        tree = ast.parse(generate(d, with_value=True, backend=backend))
        kinds = {type(n).__name__ for n in tree.body}
        assert kinds <= {"Import", "FunctionDef"}, kinds
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        imported = {a.asname or a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
        assert module in imported
        assert imported <= {module, "math"} | ({"jax"} if backend == "jax" else set()), imported
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            local = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
            local |= {t.id for n in ast.walk(fn) if isinstance(n, ast.Assign) for t in ast.walk(n) if isinstance(t, ast.Name)}
            for n in ast.walk(fn):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                    assert n.id in local | defined | imported | {"float"}, (n.id, case)
                if isinstance(n, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.Lambda)):
                    raise AssertionError(f"unexpected {type(n).__name__} in {case}")
