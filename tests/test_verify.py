"""``matcalc.verify``: the check against SymPy and finite differences, and ``to_sympy``.

The check must pass correct answers, catch a deliberately broken rule (naming the
first mismatching entry), report what it could not check as inconclusive, respect
symmetric variables and every layout and order, drive the CLI exit code, and leave
SymPy unimported by a plain ``matcalc diff``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import matcalc
from matcalc import build as B
from matcalc import differentiate, registry
from matcalc.engine import Result
from matcalc.nodes import Inverse
from matcalc.record import replace
from matcalc.verify import CheckReport, check_derivative

ROOT = Path(__file__).resolve().parents[1]


def with_result(d: matcalc.Derivative, node) -> matcalc.Derivative:
    """The same derivative object with a different (wrong) result node."""
    res = Result(node, d.result.kind, d.result.differential, d.result.natural)
    return replace(d, result=res, _cache={})


# ------------------------------------------------------------------ broken rules


@pytest.fixture
def broken_inverse_rule():
    """d(X⁻¹) = −X⁻¹ dXᵀ X⁻¹ (transposed dX): a plausible, wrong rule."""
    original = differentiate.rule.registry[Inverse]

    def wrong(n, d):
        return B.neg(B.matmul(n, B.transpose(d(n.arg)), n))

    differentiate.rule.register(Inverse, wrong)
    try:
        yield
    finally:
        differentiate.rule.register(Inverse, original)


@pytest.fixture
def broken_tanh(monkeypatch):
    """tanh′ = 1 + tanh² (the sign flipped)."""
    tanh = registry.FUNCTIONS["tanh"]
    bad = replace(tanh, partials=lambda args, out, varying: (B.add(B.ONE, B.power(out, B.TWO)),))
    monkeypatch.setitem(registry.FUNCTIONS, "tanh", bad)
    monkeypatch.setitem(registry.ELEMENTWISE, "tanh", bad)
    return bad


def replace_function(monkeypatch, name: str, **changes):
    entry = registry.FUNCTIONS[name]
    new = replace(entry, **changes)
    monkeypatch.setitem(registry.FUNCTIONS, name, new)
    monkeypatch.setitem(registry.ELEMENTWISE, name, new)
    return new


# ------------------------------------------------------------------ passing checks


def test_logdet_passes_and_says_so_against_sympy():
    report = matcalc.diff("logdet(X)", "X").check()
    assert isinstance(report, CheckReport)
    assert report.passed and not report.failed and not report.inconclusive
    assert report.points >= 1
    assert report.exact  # small enough for the symbolic proof
    assert report.fd_error is not None and report.fd_error < 1e-6
    text = report.render()
    assert "SymPy" in text and "passed" in text
    assert "finite differences" in text
    assert re.search(r"sizes: m=\d", text)


def test_hyperbolic_results_are_proved_without_trigsimp():
    """check() of the log-cosh loss ran for minutes inside SymPy's trigsimp (tanh(u) against
    sinh(u)/cosh(u)), beyond the reach of its time budget; written with exponentials,
    cancel proves it at once."""
    report = matcalc.diff("mean(log(cosh(y - X@w)))", "w").check()
    assert report.passed and report.exact


def test_max_of_entries_is_checked_at_points():
    """The indicator (x ≥ max x) is tied at the largest entry by construction: no kink there."""
    report = matcalc.diff("max(x) + sum(w*max(X, axis=1))", "X").check()
    assert report.passed and report.points >= 1


def test_sizes_are_distinct_small_numbers():
    report = matcalc.diff("sum(A@X@B)", "X").check(exact_timeout=0)
    assert report.passed, report.render()
    sizes = list(report.sizes.values())
    assert len(sizes) == len(set(sizes)) == 4  # m, n, p, q (distinct: a transposed answer cannot pass)
    assert all(2 <= s <= 8 for s in sizes)


@pytest.mark.parametrize(
    "expr, wrt, shapes",
    [
        ("sum(exp(W@x))", "W", None),
        ("0.5*norm(y - W2@relu(W1@x))^2", "W1", None),
        ("softmax(z)", "z", None),
        ("logsumexp(Z)", "Z", None),
        ("sum(y*log(softmax(W@x)))", "W", {"y": "m"}),
        ("x'@inv(A + X)@x", "X", None),
        ("kron(A, X)", "X", None),
        ("sum(max(x, y))", "x", None),
        ("sum(x ^ y)", "y", None),
        ("mean(X, 0)", "X", None),
        ("unvec(x, m, n)", "x", None),
    ],
)
def test_correct_results_pass(expr, wrt, shapes):
    report = matcalc.diff(expr, wrt, shapes=shapes).check(exact_timeout=0)
    assert report.passed, report.render()


# ------------------------------------------------------------------ failures are caught


def test_broken_inverse_rule_is_caught(broken_inverse_rule):
    d = matcalc.diff("tr(inv(X)@A)", "X")
    report = d.check(exact_timeout=0)
    assert report.failed and not report.passed and not report.inconclusive
    assert re.search(r"entry \(\d+, \d+\) at rational point 1: matcalc -?[\d/.]+, SymPy -?[\d/.]+", report.mismatch)
    assert "FAILED" in report.render()


def test_broken_inverse_rule_restored_afterwards():
    # the fixture above puts the real rule back
    assert matcalc.diff("tr(inv(X)@A)", "X").check(exact_timeout=0).passed


def test_broken_tanh_derivative_is_caught(broken_tanh):
    d = matcalc.diff("sum(tanh(W@x))", "W")
    assert d.text == "(1 + tanh(Wx)²)xᵀ"  # the broken rule is in effect
    report = d.check(exact_timeout=0)
    assert report.failed
    m = re.search(r"entry \((\d+), (\d+)\) at rational point 1: matcalc ([-\d.e]+), SymPy ([-\d.e]+)", report.mismatch)
    assert m, report.mismatch
    got, want = float(m.group(3)), float(m.group(4))
    assert got != pytest.approx(want)
    # 1 + t² against 1 − t² (times x_j): their difference is 2t²x_j, never 0 here
    assert abs(got - want) > 1e-6


@pytest.mark.parametrize(
    "expr, wrt, options, mutate",
    [
        ("x'@A@x", "x", {}, lambda n: B.mul(B.const(2), n)),  # a factor 2
        ("tr(A@X@B)", "X", {}, lambda n: B.neg(n)),  # a sign
        ("a'@X@b", "X", {"shapes": {"a": "n", "b": "n"}}, B.transpose),  # transposed, same shape
        ("W@x", "x", {"layout": "denominator"}, B.transpose),  # the other layout's answer
        ("exp(alpha*x)", "alpha", {"layout": "denominator"}, B.transpose),
        ("logdet(X)", "X", {"order": 2}, lambda n: B.mul(B.const(-1), n)),
        ("inv(X)", "X", {}, lambda n: B.mul(B.const("1/2"), n)),
        ("tr(expm(A@X))", "X", {}, B.transpose),  # (e^{AX}A) instead of its transpose
        ("expm(t*A)", "t", {"shapes": {"t": "scalar"}}, B.transpose),
    ],
)
def test_wrong_results_are_caught(expr, wrt, options, mutate):
    d = matcalc.diff(expr, wrt, **options)
    assert d.check(exact_timeout=0).passed
    report = check_derivative(with_result(d, mutate(d.node)), exact_timeout=0)
    assert report.failed, report.render()
    assert report.mismatch


def test_transposed_gradient_of_rectangular_variable_is_a_shape_mismatch():
    d = matcalc.diff("sum(W@x)", "W")
    report = check_derivative(with_result(d, B.transpose(d.node)), exact_timeout=0)
    assert report.failed
    assert "expected" in report.mismatch and "×" in report.mismatch


# ------------------------------------------------------------------ inconclusive


def test_singular_everywhere_is_inconclusive():
    report = matcalc.diff("logdet(X - X)", "X").check()
    assert report.inconclusive and not report.passed and not report.failed
    assert "could not check" in report.render()
    assert "point" in report.reason


def test_function_without_sympy_form_is_inconclusive(monkeypatch):
    replace_function(monkeypatch, "tanh", sympy=None)
    report = matcalc.diff("sum(tanh(W@x))", "W").check()
    assert report.inconclusive and not report.passed and not report.failed
    assert "tanh" in report.reason and "SymPy" in report.reason
    # finite differences ran and agreed, but that is reported as a note, not as a pass
    assert report.fd_error is not None
    assert "not a proof" in report.render()


def test_function_whose_sympy_form_fails_is_inconclusive(monkeypatch):
    def broken(x):
        raise TypeError("no symbolic form")

    replace_function(monkeypatch, "sinh", sympy=broken)
    report = matcalc.diff("sinh(x)", "x").check()
    assert report.inconclusive
    assert "sinh" in report.reason


# ------------------------------------------------------------------ symmetric variables


def test_symmetric_gradient_passes():
    shapes = {"S": "n x n symmetric"}
    d = matcalc.diff("x'@S@y", "S", shapes=shapes)
    report = d.check()
    assert report.passed, report.render()


def test_symmetric_gradient_must_be_symmetric():
    # the unconstrained gradient xyᵀ is not the gradient within symmetric matrices
    shapes = {"S": "n x n symmetric"}
    d = matcalc.diff("x'@S@y", "S", shapes=shapes)
    x, y = d.variables["x"], d.variables["y"]
    report = check_derivative(with_result(d, B.matmul(x, B.transpose(y))), exact_timeout=0)
    assert report.failed
    assert "not symmetric" in report.mismatch


def test_symmetric_gradient_full_instead_of_sym_is_caught():
    # G + Gᵀ (twice sym(G)) is symmetric but wrong
    shapes = {"S": "n x n symmetric"}
    d = matcalc.diff("x'@S@y", "S", shapes=shapes)
    report = check_derivative(with_result(d, B.mul(B.const(2), d.node)), exact_timeout=0)
    assert report.failed
    assert "S[" in report.mismatch


@pytest.mark.parametrize(
    "expr, order",
    [("logdet(S)", 1), ("tr(S@S@S)", 1), ("logdet(S)", 2), ("x'@S@x", 2)],
)
def test_symmetric_variable_orders(expr, order):
    report = matcalc.diff(expr, "S", shapes={"S": "n x n symmetric"}, order=order).check(exact_timeout=0)
    assert report.passed, report.render()


def test_jacobian_by_symmetric_matrix():
    report = matcalc.diff("inv(S)", "S", shapes={"S": "n x n symmetric"}).check(exact_timeout=0)
    assert report.passed, report.render()


# ------------------------------------------------------------------ layouts and orders


@pytest.mark.parametrize("layout", ["mixed", "numerator", "denominator"])
@pytest.mark.parametrize(
    "expr, wrt",
    [
        ("sum(W@x)", "W"),  # gradient by a matrix
        ("w'@x + b", "w"),  # gradient by a vector
        ("alpha*x", "alpha"),  # vector by a scalar
        ("alpha*X", "alpha"),  # matrix by a scalar
        ("alpha^3", "alpha"),  # scalar by a scalar
        ("W@x", "x"),  # Jacobian
        ("W@x", "W"),  # vec-Jacobian
    ],
)
def test_every_layout(expr, wrt, layout):
    d = matcalc.diff(expr, wrt, layout=layout)
    report = d.check(exact_timeout=0)
    assert report.passed, report.render()


@pytest.mark.parametrize(
    "expr, wrt",
    [("x'@A@x", "x"), ("log(1+exp(-(w'@x)))", "w"), ("logdet(X)", "X"), ("alpha^3", "alpha"), ("sum(exp(W@x))", "W")],
)
def test_order_two(expr, wrt):
    d = matcalc.diff(expr, wrt, order=2)
    report = d.check(exact_timeout=0)
    assert report.passed, report.render()
    assert d.kind in ("Hessian", "vec-Hessian", "second derivative")


# ------------------------------------------------------------------ the command line


def test_cli_check_exit_code_zero_on_pass(capsys):
    from matcalc.cli import main

    assert main(["diff", "logdet(X)", "--wrt", "X", "--check"]) == 0
    out = capsys.readouterr().out
    assert "X⁻ᵀ" in out and "passed" in out and "SymPy" in out


def test_cli_check_exit_code_one_on_failure(capsys, broken_inverse_rule):
    from matcalc.cli import main

    assert main(["diff", "tr(inv(X))", "--wrt", "X", "--check"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "entry (" in out


def test_cli_check_inconclusive_is_neither_a_failure_nor_a_pass(capsys):
    from matcalc.cli import main

    assert main(["diff", "logdet(X - X)", "--wrt", "X", "--check"]) == 3
    assert "could not check" in capsys.readouterr().out
    assert main(["diff", "logdet(X)", "--wrt", "X", "--check"]) == 0
    assert "passed" in capsys.readouterr().out


def test_sizes_too_large_to_check_are_inconclusive_not_an_error(capsys):
    """A declared 30×30 variable is too large for explicit SymPy matrices: exit 3, as for any
    check that cannot be carried out; an intermediate Kronecker product of small declared
    sizes (24×24 for kron(A, B) by a 2×3 A) is checked."""
    from matcalc.cli import main

    assert main(["diff", "sum(X)", "--wrt", "X", "--shape", "X: 30 x 30", "--check"]) == 3
    assert "too large for explicit matrices" in capsys.readouterr().out
    assert matcalc.diff("kron(A, B)", "A", shapes={"A": "2 x 3", "B": "2 x 2"}).check().passed


def test_a_symbolic_proof_that_would_run_for_minutes_is_cut_off():
    """SymPy's cancel of one entry of self-attention's gradient ran past 15 minutes, out of
    reach of the proof's own budget (checked between entries): a timer now stops it, and
    the verdict rests on the rational points and finite differences."""
    d = matcalc.diff("sum(G*(softmax(X@X.T)@X))", "X", shapes={"X": "T x D", "G": "T x D"})
    start = time.monotonic()
    report = d.check(exact_timeout=0.5)
    assert report.passed and not report.exact, report.render()
    assert time.monotonic() - start < 60  # a hang guard (it takes ~2 s), not a speed test


def test_plain_diff_does_not_import_sympy():
    code = (
        "import sys, matcalc\n"
        "d = matcalc.diff('logdet(X)', 'X'); d.text; d.to_function()\n"
        "from matcalc.cli import main\n"
        "assert main(['diff', 'x\\'@A@x', '--wrt', 'x']) == 0\n"
        "assert 'sympy' not in sys.modules, 'sympy was imported'\n"
        "import matcalc.verify\n"
        "assert 'sympy' not in sys.modules, 'importing matcalc.verify imported sympy'\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------ to_sympy


def _explicit(expr) -> np.ndarray:
    import sympy as sp

    if isinstance(expr, sp.MatrixExpr):
        expr = expr.doit()
        if isinstance(expr, sp.MatrixExpr):
            expr = expr.as_explicit()
        return np.array(sp.Matrix(expr).evalf().tolist(), dtype=float)
    return np.array([[float(sp.N(expr))]])


@pytest.mark.parametrize(
    "expr, wrt, sizes, inputs",
    [
        ("logdet(X)", "X", {"m": 3}, {"X": np.array([[2.0, 0.5, 0.1], [0.3, 1.5, -0.2], [0.0, 0.4, 1.8]])}),
        ("x'@A@x", "x", {"n": 2}, {"x": np.array([1.0, -2.0]), "A": np.array([[1.0, 2.0], [3.0, 4.0]])}),
        ("tr(A@X@B)", "X", {"m": 2, "n": 3, "p": 2, "q": 4}, None),
        ("A@X@B", "X", {"m": 2, "n": 2, "p": 3, "q": 2}, None),
        ("sum(exp(W@x))", "W", {"m": 2, "n": 3}, None),
        ("norm(x)", "x", {"n": 3}, None),
        ("relu(x)", "x", {"n": 3}, {"x": np.array([1.0, -1.0, 2.0])}),
        ("alpha^3", "alpha", {}, {"alpha": 0.5}),
    ],
)
def test_to_sympy_matches_the_result(expr, wrt, sizes, inputs):
    import sympy as sp

    d = matcalc.diff(expr, wrt)
    variables = dict(d.variables)
    rng = np.random.default_rng(1)
    if inputs is None:
        inputs = {}
        for name, v in variables.items():
            r, c = v.shape.evaluate(sizes)
            inputs[name] = rng.normal(size=(r, c)) if c > 1 else rng.normal(size=r)
    m = d.to_sympy(sizes)
    sub = {}
    for name, v in variables.items():
        a = np.asarray(inputs[name], dtype=float)
        if v.shape.is_scalar:
            sub[sp.Symbol(name)] = sp.Float(float(a))
        else:
            a2 = a.reshape(-1, 1) if a.ndim == 1 else a
            sub[sp.MatrixSymbol(name, *a2.shape)] = sp.ImmutableMatrix(a2)
    value = _explicit(m.xreplace(sub))
    want = np.asarray(d.to_function()(**inputs), dtype=float)
    np.testing.assert_allclose(value.reshape(want.shape), want, rtol=1e-10, atol=1e-12)


def test_to_sympy_is_a_matrix_expression_with_symbolic_sizes():
    import sympy as sp

    m = matcalc.diff("logdet(X)", "X").to_sympy()
    assert isinstance(m, sp.MatrixExpr)
    X = sp.MatrixSymbol("X", sp.Symbol("m", integer=True, positive=True), sp.Symbol("m", integer=True, positive=True))
    assert m == sp.Transpose(sp.Inverse(X))
    g = matcalc.diff("x'@A@x", "x").to_sympy()
    assert g.shape[1] == 1 and str(g.shape[0]) == "n"
    assert matcalc.diff("A@X@B", "X").to_sympy().func.__name__ == "KroneckerProduct"
    assert matcalc.diff("alpha^3", "alpha").to_sympy() == 3 * sp.Symbol("alpha") ** 2


# ------------------------------------------------------------------ results rewritten with --assume


def test_assumed_result_is_not_passed_off_as_checked():
    # with sum(y) = 1 the gradient is (softmax(Wx) − y)xᵀ, true only where the fact holds
    d = matcalc.diff("-sum(y*log(softmax(W@x)))", "W", shapes={"y": "m"}, assume="sum(y) = 1")
    assert d.text == "(softmax(Wx) − y)xᵀ"
    report = d.check(exact_timeout=0)
    assert report.inconclusive and not report.failed
    assert "assum" in report.reason and "before the rewrite passed" in report.reason
    assert "sum(y) = 1" in report.render()


def test_assumed_result_with_a_wrong_rule_fails(broken_tanh):
    d = matcalc.diff("sum(tanh(W@x))*sum(y)", "W", shapes={"y": "m"}, assume="sum(y) = 1")
    report = d.check(exact_timeout=0)
    assert report.failed
    assert report.mismatch.startswith("before the --assume rewrite")


def test_structurally_tied_comparisons_are_not_kinks():
    # (x > x) is constant and max(x, x) = x: nothing to avoid, the check still decides
    for expr in ["(x > x)*x", "max(x, x)*x"]:
        report = matcalc.diff(expr, "x").check(exact_timeout=0)
        assert report.passed, report.render()


def test_tie_at_every_point_is_inconclusive():
    # max(x, 2x − x) ties everywhere but the two arguments are different expressions
    report = matcalc.diff("sum(max(x, 2*x - x))", "x").check(exact_timeout=0)
    assert report.inconclusive, report.render()
    assert "tied" in report.reason


# ------------------------------------------------------------------ bugs found by the check


def test_bug_trace_of_kron_of_nonsquare_factors():
    # tr(A ⊗ B) = tr(A) tr(B) holds only for square A and B; tr(yᵀ ⊗ w) = yᵀw
    d = matcalc.diff("alpha*tr(kron(y', w))", "alpha")
    y, w = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    assert d.to_function()(y=y, w=w, alpha=2.0) == pytest.approx(y @ w)
    assert matcalc.diff("tr(kron(y', w))", "w").check(exact_timeout=0).passed


def test_malformed_result_is_reported_as_failure():
    # a node whose operands do not fit (here: tr of a vector) is a failure, not a crash
    from matcalc.nodes import Trace

    d = matcalc.diff("alpha*(y'@w)", "alpha")
    bad = B.mul(Trace(d.variables["y"]), Trace(d.variables["w"]))
    report = check_derivative(with_result(d, bad), exact_timeout=0)
    assert report.failed
    assert "malformed" in report.mismatch and "square" in report.mismatch
