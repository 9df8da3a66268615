"""The Matrix Cookbook (Petersen & Pedersen, version of November 15, 2012), section 2.

Each test is named after the equation number (or, where the number is not certain,
after the identity) and checks matcalc's derivative twice, independently:

* against the Cookbook's closed form, evaluated with NumPy on random inputs and
  compared with ``d.to_function()``;
* with ``d.check()``, matcalc's own verification against SymPy on explicit
  matrices and finite differences, which must pass.

Where matcalc already prints the textbook form, the printed text is compared too.
Lower-case a–d are scalars by the naming convention, so the Cookbook's vectors are
declared with ``shapes=``.  Sizes: n = 3, m = 4, k = 2 (distinct, so a transposed
answer cannot pass).
"""

from __future__ import annotations

import numpy as np
import pytest

import matcalc

N, M, K = 3, 4, 2
inv = np.linalg.inv
det = np.linalg.det
mpow = np.linalg.matrix_power


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(2012)


def mat(rng: np.random.Generator, r: int, c: int) -> np.ndarray:
    return rng.normal(size=(r, c))


def vec(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(size=n)


def invertible(rng: np.random.Generator, n: int) -> np.ndarray:
    """Well conditioned, with positive determinant (near 2I)."""
    return 2.0 * np.eye(n) + 0.4 * rng.normal(size=(n, n))


def symmetric(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.normal(size=(n, n))
    return a + a.T


def spd(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


def verify(expr: str, wrt: str, inputs: dict, expected, *, shapes=None, text: str | None = None, **options) -> matcalc.Derivative:
    """matcalc's derivative equals the closed form on ``inputs`` and passes its own check."""
    d = matcalc.diff(expr, wrt, shapes=shapes, **options)
    got = d.to_function()(**inputs)
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), rtol=1e-9, atol=1e-9)
    if text is not None:
        assert d.text == text
    report = d.check(exact_timeout=0)
    assert report.passed, report.render()
    return d


# ============================================================ 2.1 determinants


def test_cookbook_eq46_det_general_form(rng):
    # ∂det(Y)/∂x = det(Y) Tr[Y⁻¹ ∂Y/∂x], here Y = A + xB
    A, B, x = invertible(rng, N), mat(rng, N, N), 0.3
    Y = A + x * B
    verify(
        "det(A + alpha*B)",
        "alpha",
        {"A": A, "B": B, "alpha": x},
        det(Y) * np.trace(inv(Y) @ B),
        text="det(A + αB) tr((A + αB)⁻¹B)",
    )


def test_cookbook_eq48_det_second_derivative(rng):
    # ∂²det(Y)/∂x² = det(Y)[Tr(Y⁻¹ ∂²Y/∂x²) + Tr(Y⁻¹ ∂Y/∂x)² − Tr((Y⁻¹ ∂Y/∂x)(Y⁻¹ ∂Y/∂x))], Y = A + xB
    A, B, x = invertible(rng, N), mat(rng, N, N), -0.2
    Y = A + x * B
    Z = inv(Y) @ B
    verify(
        "det(A + alpha*B)",
        "alpha",
        {"A": A, "B": B, "alpha": x},
        det(Y) * (np.trace(Z) ** 2 - np.trace(Z @ Z)),
        order=2,
        text="det(A + αB) (tr((A + αB)⁻¹B)² − tr((A + αB)⁻¹B(A + αB)⁻¹B))",
    )


def test_cookbook_eq49_det(rng):
    # ∂det(X)/∂X = det(X)(X⁻¹)ᵀ
    X = invertible(rng, N)
    verify("det(X)", "X", {"X": X}, det(X) * inv(X).T, text="det(X) X⁻ᵀ")


def test_cookbook_eq51_det_AXB(rng):
    # ∂det(AXB)/∂X = det(AXB)(X⁻¹)ᵀ   (A, X, B square)
    A, X, B = invertible(rng, N), invertible(rng, N), invertible(rng, N)
    shapes = {"A": "n x n", "X": "n x n", "B": "n x n"}
    verify("det(A@X@B)", "X", {"A": A, "X": X, "B": B}, det(A @ X @ B) * inv(X).T, shapes=shapes)


def test_cookbook_eq52_det_XtAX_square(rng):
    # X square and invertible: ∂det(XᵀAX)/∂X = 2 det(XᵀAX) X⁻ᵀ
    A, X = invertible(rng, N), invertible(rng, N)
    shapes = {"X": "n x n"}
    verify("det(X'@A@X)", "X", {"A": A, "X": X}, 2 * det(X.T @ A @ X) * inv(X).T, shapes=shapes)


def test_cookbook_eq53_det_XtAX_symmetric_A(rng):
    # X not square, A symmetric: ∂det(XᵀAX)/∂X = 2 det(XᵀAX) AX(XᵀAX)⁻¹
    A, X = spd(rng, M), mat(rng, M, N)
    shapes = {"A": "m x m symmetric", "X": "m x n"}
    G = X.T @ A @ X
    verify("det(X'@A@X)", "X", {"A": A, "X": X}, 2 * det(G) * A @ X @ inv(G), shapes=shapes, text="2 det(XᵀAX) AX(XᵀAX)⁻¹")


def test_cookbook_eq54_det_XtAX_general(rng):
    # X not square, A not symmetric: ∂det(XᵀAX)/∂X = det(XᵀAX)(AX(XᵀAX)⁻¹ + AᵀX(XᵀAᵀX)⁻¹)
    A, X = spd(rng, M) + 0.5 * mat(rng, M, M), mat(rng, M, N)
    shapes = {"X": "m x n"}
    G = X.T @ A @ X
    expected = det(G) * (A @ X @ inv(G) + A.T @ X @ inv(X.T @ A.T @ X))
    verify("det(X'@A@X)", "X", {"A": A, "X": X}, expected, shapes=shapes)


def test_cookbook_eq55_logdet_XtX(rng):
    # ∂ ln det(XᵀX)/∂X = 2(X⁺)ᵀ
    X = mat(rng, M, N)
    verify("logdet(X'@X)", "X", {"X": X}, 2 * np.linalg.pinv(X).T, shapes={"X": "m x n"}, text="2X(XᵀX)⁻¹")


def test_cookbook_eq57_log_abs_det(rng):
    # ∂ ln|det(X)|/∂X = (X⁻¹)ᵀ = (Xᵀ)⁻¹
    X = invertible(rng, N)
    X[0] *= -1  # a negative determinant: |·| matters
    assert det(X) < 0
    verify("log(abs(det(X)))", "X", {"X": X}, inv(X).T)


def test_cookbook_eq57_logdet(rng):
    # ∂ ln det(X)/∂X = X⁻ᵀ  (det X > 0)
    X = invertible(rng, N)
    verify("logdet(X)", "X", {"X": X}, inv(X).T, text="X⁻ᵀ")


def test_cookbook_eq58_det_power(rng):
    # ∂det(Xᵏ)/∂X = k det(Xᵏ) X⁻ᵀ   (k = 3)
    X = invertible(rng, N)
    verify("det(matrix_power(X, 3))", "X", {"X": X}, 3 * det(mpow(X, 3)) * inv(X).T)


# ============================================================ 2.2 inverses


def test_cookbook_eq59_inverse_by_scalar(rng):
    # ∂Y⁻¹/∂x = −Y⁻¹ (∂Y/∂x) Y⁻¹, here Y = A + xB
    A, B, x = invertible(rng, N), mat(rng, N, N), 0.1
    Yi = inv(A + x * B)
    verify("inv(A + alpha*B)", "alpha", {"A": A, "B": B, "alpha": x}, -Yi @ B @ Yi, text="−(A + αB)⁻¹B(A + αB)⁻¹")


def test_cookbook_eq60_inverse_entries(rng):
    # ∂(X⁻¹)ₖₗ/∂Xᵢⱼ = −(X⁻¹)ₖᵢ (X⁻¹)ⱼₗ, as the Jacobian of vec(X⁻¹) by vec(X) (column-major)
    X = invertible(rng, N)
    Xi = inv(X)
    J = np.zeros((N * N, N * N))
    for k in range(N):
        for l in range(N):  # noqa: E741 - the Cookbook's index names
            for i in range(N):
                for j in range(N):
                    J[k + l * N, i + j * N] = -Xi[k, i] * Xi[j, l]
    verify("inv(X)", "X", {"X": X}, J, text="−(X⁻ᵀ ⊗ X⁻¹)")


def test_cookbook_eq61_aT_Xinv_b(rng):
    # ∂aᵀX⁻¹b/∂X = −X⁻ᵀabᵀX⁻ᵀ
    X, a, b = invertible(rng, N), vec(rng, N), vec(rng, N)
    expected = -inv(X).T @ np.outer(a, b) @ inv(X).T
    verify("a'@inv(X)@b", "X", {"X": X, "a": a, "b": b}, expected, shapes={"a": "n", "b": "n"}, text="−X⁻ᵀabᵀX⁻ᵀ")


def test_cookbook_eq62_det_inverse(rng):
    # ∂det(X⁻¹)/∂X = −det(X⁻¹)(X⁻¹)ᵀ
    X = invertible(rng, N)
    verify("det(inv(X))", "X", {"X": X}, -det(inv(X)) * inv(X).T)


def test_cookbook_eq63_trace_A_Xinv_B(rng):
    # ∂Tr(AX⁻¹B)/∂X = −(X⁻¹BAX⁻¹)ᵀ
    X, A, B = invertible(rng, N), mat(rng, M, N), mat(rng, N, M)
    Xi = inv(X)
    verify("tr(A@inv(X)@B)", "X", {"X": X, "A": A, "B": B}, -(Xi @ B @ A @ Xi).T)


def test_cookbook_eq64_trace_inverse_sum(rng):
    # ∂Tr((X + A)⁻¹)/∂X = −((X + A)⁻¹(X + A)⁻¹)ᵀ
    X, A = invertible(rng, N), 0.3 * mat(rng, N, N)
    Yi = inv(X + A)
    verify("tr(inv(X + A))", "X", {"X": X, "A": A}, -(Yi @ Yi).T)


# ============================================================ 2.4 scalar forms: first order


def test_cookbook_eq69_linear_form_vector(rng):
    # ∂xᵀa/∂x = ∂aᵀx/∂x = a
    x, a = vec(rng, N), vec(rng, N)
    verify("x'@a", "x", {"x": x, "a": a}, a, shapes={"a": "n"}, text="a")
    verify("a'@x", "x", {"x": x, "a": a}, a, shapes={"a": "n"}, text="a")


def test_cookbook_eq70_aT_X_b(rng):
    # ∂aᵀXb/∂X = abᵀ
    X, a, b = mat(rng, M, N), vec(rng, M), vec(rng, N)
    verify("a'@X@b", "X", {"X": X, "a": a, "b": b}, np.outer(a, b), shapes={"a": "m", "b": "n"}, text="abᵀ")


def test_cookbook_eq71_aT_Xt_b(rng):
    # ∂aᵀXᵀb/∂X = baᵀ
    X, a, b = mat(rng, M, N), vec(rng, N), vec(rng, M)
    verify("a'@X'@b", "X", {"X": X, "a": a, "b": b}, np.outer(b, a), shapes={"a": "n", "b": "m"}, text="baᵀ")


def test_cookbook_eq72_aT_X_a(rng):
    # ∂aᵀXa/∂X = ∂aᵀXᵀa/∂X = aaᵀ
    X, a = mat(rng, N, N), vec(rng, N)
    verify("a'@X@a", "X", {"X": X, "a": a}, np.outer(a, a), shapes={"a": "n"}, text="aaᵀ")
    verify("a'@X'@a", "X", {"X": X, "a": a}, np.outer(a, a), shapes={"a": "n"}, text="aaᵀ")


# ============================================================ 2.4 scalar forms: second order


def test_cookbook_eq77_bT_XtX_c(rng):
    # ∂bᵀXᵀXc/∂X = X(bcᵀ + cbᵀ)
    X, b, c = mat(rng, M, N), vec(rng, N), vec(rng, N)
    expected = X @ (np.outer(b, c) + np.outer(c, b))
    verify("b'@X'@X@c", "X", {"X": X, "b": b, "c": c}, expected, shapes={"b": "n", "c": "n"})


def test_cookbook_eq78_affine_bilinear(rng):
    # ∂(Bx + b)ᵀC(Dx + d)/∂x = BᵀC(Dx + d) + DᵀCᵀ(Bx + b)
    B, C, D = mat(rng, M, N), mat(rng, M, K), mat(rng, K, N)
    x, b, d = vec(rng, N), vec(rng, M), vec(rng, K)
    expected = B.T @ C @ (D @ x + d) + D.T @ C.T @ (B @ x + b)
    inputs = {"B": B, "C": C, "D": D, "x": x, "b": b, "d": d}
    verify("(B@x + b)'@C@(D@x + d)", "x", inputs, expected, shapes={"b": "m", "d": "k"})


def test_cookbook_eq81_quadratic_form(rng):
    # ∂xᵀBx/∂x = (B + Bᵀ)x
    B, x = mat(rng, N, N), vec(rng, N)
    verify("x'@B@x", "x", {"B": B, "x": x}, (B + B.T) @ x, text="(B + Bᵀ)x")


def test_cookbook_eq82_bT_XtDX_c(rng):
    # ∂bᵀXᵀDXc/∂X = DᵀXbcᵀ + DXcbᵀ
    X, D, b, c = mat(rng, M, N), mat(rng, M, M), vec(rng, N), vec(rng, N)
    expected = D.T @ X @ np.outer(b, c) + D @ X @ np.outer(c, b)
    verify("b'@X'@D@X@c", "X", {"X": X, "D": D, "b": b, "c": c}, expected, shapes={"b": "n", "c": "n"}, text="DᵀXbcᵀ + DXcbᵀ")


def test_cookbook_eq83_affine_quadratic(rng):
    # ∂(Xb + c)ᵀD(Xb + c)/∂X = (D + Dᵀ)(Xb + c)bᵀ
    X, D, b, c = mat(rng, M, N), mat(rng, M, M), vec(rng, N), vec(rng, M)
    expected = (D + D.T) @ np.outer(X @ b + c, b)
    inputs = {"X": X, "D": D, "b": b, "c": c}
    verify("(X@b + c)'@D@(X@b + c)", "X", inputs, expected, shapes={"b": "n", "c": "m"}, text="(D + Dᵀ)(Xb + c)bᵀ")


def test_cookbook_eq84_weighted_least_squares_by_s(rng):
    # W symmetric: ∂(x − As)ᵀW(x − As)/∂s = −2AᵀW(x − As)
    W, A, x, s = spd(rng, M), mat(rng, M, N), vec(rng, M), vec(rng, N)
    inputs = {"W": W, "A": A, "x": x, "s": s}
    verify("(x - A@s)'@W@(x - A@s)", "s", inputs, -2 * A.T @ W @ (x - A @ s), shapes={"W": "m x m symmetric"})


def test_cookbook_eq85_weighted_distance_by_x(rng):
    # W symmetric: ∂(x − s)ᵀW(x − s)/∂x = 2W(x − s)
    W, x, s = spd(rng, N), vec(rng, N), vec(rng, N)
    verify(
        "(x - s)'@W@(x - s)", "x", {"W": W, "x": x, "s": s}, 2 * W @ (x - s), shapes={"W": "n x n symmetric"}, text="2W(x − s)"
    )


def test_cookbook_eq86_weighted_distance_by_s(rng):
    # W symmetric: ∂(x − s)ᵀW(x − s)/∂s = −2W(x − s)
    W, x, s = spd(rng, N), vec(rng, N), vec(rng, N)
    verify("(x - s)'@W@(x - s)", "s", {"W": W, "x": x, "s": s}, -2 * W @ (x - s), shapes={"W": "n x n symmetric"})


def test_cookbook_eq87_weighted_least_squares_by_x(rng):
    # W symmetric: ∂(x − As)ᵀW(x − As)/∂x = 2W(x − As)
    W, A, x, s = spd(rng, M), mat(rng, M, N), vec(rng, M), vec(rng, N)
    inputs = {"W": W, "A": A, "x": x, "s": s}
    verify("(x - A@s)'@W@(x - A@s)", "x", inputs, 2 * W @ (x - A @ s), shapes={"W": "m x m symmetric"}, text="2W(x − As)")


def test_cookbook_eq88_weighted_least_squares_by_A(rng):
    # W symmetric: ∂(x − As)ᵀW(x − As)/∂A = −2W(x − As)sᵀ
    W, A, x, s = spd(rng, M), mat(rng, M, N), vec(rng, M), vec(rng, N)
    inputs = {"W": W, "A": A, "x": x, "s": s}
    verify("(x - A@s)'@W@(x - A@s)", "A", inputs, -2 * W @ np.outer(x - A @ s, s), shapes={"W": "m x m symmetric"})


# ============================================================ 2.4 higher order, cubic forms, gradient and Hessian


def test_cookbook_aT_Xpow_b(rng):
    # ∂aᵀXⁿb/∂X = Σᵣ₌₀ⁿ⁻¹ (Xʳ)ᵀabᵀ(Xⁿ⁻¹⁻ʳ)ᵀ   (n = 3)
    X, a, b = mat(rng, N, N), vec(rng, N), vec(rng, N)
    expected = sum(mpow(X, r).T @ np.outer(a, b) @ mpow(X, 2 - r).T for r in range(3))
    verify("a'@matrix_power(X, 3)@b", "X", {"X": X, "a": a, "b": b}, expected, shapes={"a": "n", "b": "n"})


def test_cookbook_aT_XpowT_Xpow_b(rng):
    # ∂aᵀ(Xⁿ)ᵀXⁿb/∂X = Σᵣ (Xʳ)ᵀXⁿ(abᵀ + baᵀ)(Xⁿ⁻¹⁻ʳ)ᵀ   (n = 2)
    # The Cookbook prints the first term as Xⁿ⁻¹⁻ʳabᵀ(Xⁿ)ᵀXʳ, the transpose of the right
    # one: for n = 1 that gives abᵀXᵀ + Xabᵀ, contradicting its own eq. 77 (X(abᵀ + baᵀ)).
    X, a, b = mat(rng, N, N), vec(rng, N), vec(rng, N)
    n = 2
    Xn = mpow(X, n)
    right = sum(mpow(X, r).T @ Xn @ (np.outer(a, b) + np.outer(b, a)) @ mpow(X, n - 1 - r).T for r in range(n))
    printed = sum(
        mpow(X, n - 1 - r) @ np.outer(a, b) @ Xn.T @ mpow(X, r) + mpow(X, r).T @ Xn @ np.outer(a, b) @ mpow(X, n - 1 - r).T
        for r in range(n)
    )
    d = verify("a'@matrix_power(X, 2)'@matrix_power(X, 2)@b", "X", {"X": X, "a": a, "b": b}, right, shapes={"a": "n", "b": "n"})
    assert not np.allclose(d.to_function()(X=X, a=a, b=b), printed)


def test_cookbook_cubic_form_x_xTx(rng):
    # ∂(x xᵀx)/∂x = (xᵀx)I + 2xxᵀ   (a cubic vector form; its Jacobian)
    x = vec(rng, N)
    verify("x*(x'@x)", "x", {"x": x}, (x @ x) * np.eye(N) + 2 * np.outer(x, x))


def test_cookbook_gradient_and_hessian_of_quadratic(rng):
    # f = xᵀAx + bᵀx:  ∇f = (A + Aᵀ)x + b,  ∂²f/∂x∂xᵀ = A + Aᵀ
    A, x, b = mat(rng, N, N), vec(rng, N), vec(rng, N)
    inputs = {"A": A, "x": x, "b": b}
    verify("x'@A@x + b'@x", "x", inputs, (A + A.T) @ x + b, shapes={"b": "n"})
    verify("x'@A@x + b'@x", "x", inputs, A + A.T, shapes={"b": "n"}, order=2, text="A + Aᵀ")


def test_cookbook_hessian_of_quadratic_form_by_matrix(rng):
    # ∂bᵀXᵀXc/∂X = X(bcᵀ + cbᵀ) is linear in X: its vec-Hessian is (bcᵀ + cbᵀ)ᵀ ⊗ I = (cbᵀ + bcᵀ) ⊗ I
    X, b, c = mat(rng, M, N), vec(rng, N), vec(rng, N)
    expected = np.kron(np.outer(c, b) + np.outer(b, c), np.eye(M))
    verify("b'@X'@X@c", "X", {"X": X, "b": b, "c": c}, expected, shapes={"b": "n", "c": "n"}, order=2)


# ============================================================ 2.5 traces: first order


def test_cookbook_eq99_trace(rng):
    # ∂Tr(X)/∂X = I
    verify("tr(X)", "X", {"X": mat(rng, N, N)}, np.eye(N), text="I")


def test_cookbook_eq100_trace_XA(rng):
    # ∂Tr(XA)/∂X = Aᵀ
    X, A = mat(rng, M, N), mat(rng, N, M)
    verify("tr(X@A)", "X", {"X": X, "A": A}, A.T, text="Aᵀ")


def test_cookbook_eq101_trace_AXB(rng):
    # ∂Tr(AXB)/∂X = AᵀBᵀ
    A, X, B = mat(rng, K, M), mat(rng, M, N), mat(rng, N, K)
    verify("tr(A@X@B)", "X", {"A": A, "X": X, "B": B}, A.T @ B.T, text="AᵀBᵀ")


def test_cookbook_eq102_trace_AXtB(rng):
    # ∂Tr(AXᵀB)/∂X = BA
    A, X, B = mat(rng, K, N), mat(rng, M, N), mat(rng, M, K)
    verify("tr(A@X'@B)", "X", {"A": A, "X": X, "B": B}, B @ A, text="BA")


def test_cookbook_eq103_trace_XtA(rng):
    # ∂Tr(XᵀA)/∂X = A
    X, A = mat(rng, M, N), mat(rng, M, N)
    verify("tr(X'@A)", "X", {"X": X, "A": A}, A, text="A")


def test_cookbook_eq104_trace_AXt(rng):
    # ∂Tr(AXᵀ)/∂X = A
    X, A = mat(rng, M, N), mat(rng, M, N)
    verify("tr(A@X')", "X", {"X": X, "A": A}, A, text="A")


def test_cookbook_eq105_trace_kron_AX(rng):
    # ∂Tr(A ⊗ X)/∂X = Tr(A)I
    A, X = mat(rng, K, K), mat(rng, N, N)
    verify("tr(kron(A, X))", "X", {"A": A, "X": X}, np.trace(A) * np.eye(N), shapes={"A": "k x k", "X": "n x n"})


# ============================================================ 2.5 traces: second order


def test_cookbook_eq106_trace_X2(rng):
    # ∂Tr(X²)/∂X = 2Xᵀ
    X = mat(rng, N, N)
    verify("tr(X@X)", "X", {"X": X}, 2 * X.T, text="2Xᵀ")


def test_cookbook_eq107_trace_X2B(rng):
    # ∂Tr(X²B)/∂X = (XB + BX)ᵀ
    X, B = mat(rng, N, N), mat(rng, N, N)
    verify("tr(X@X@B)", "X", {"X": X, "B": B}, (X @ B + B @ X).T)


@pytest.mark.parametrize("expr", ["tr(X'@B@X)", "tr(B@X@X')", "tr(X@X'@B)"], ids=["eq108", "eq109", "eq110"])
def test_cookbook_eq108_to_110_trace_BXXt(rng, expr):
    # ∂Tr(XᵀBX)/∂X = ∂Tr(BXXᵀ)/∂X = ∂Tr(XXᵀB)/∂X = BX + BᵀX
    X, B = mat(rng, M, N), mat(rng, M, M)
    verify(expr, "X", {"X": X, "B": B}, B @ X + B.T @ X)


@pytest.mark.parametrize("expr", ["tr(X@B@X')", "tr(B@X'@X)", "tr(X'@X@B)"], ids=["eq111", "eq112", "eq113"])
def test_cookbook_eq111_to_113_trace_XBXt(rng, expr):
    # ∂Tr(XBXᵀ)/∂X = ∂Tr(BXᵀX)/∂X = ∂Tr(XᵀXB)/∂X = XBᵀ + XB
    X, B = mat(rng, M, N), mat(rng, N, N)
    verify(expr, "X", {"X": X, "B": B}, X @ B.T + X @ B)


def test_cookbook_eq114_trace_AXBX(rng):
    # ∂Tr(AXBX)/∂X = AᵀXᵀBᵀ + BᵀXᵀAᵀ
    A, X, B = mat(rng, N, M), mat(rng, M, N), mat(rng, N, M)
    verify("tr(A@X@B@X)", "X", {"A": A, "X": X, "B": B}, A.T @ X.T @ B.T + B.T @ X.T @ A.T)


def test_cookbook_eq115_trace_XtX(rng):
    # ∂Tr(XᵀX)/∂X = ∂Tr(XXᵀ)/∂X = 2X
    X = mat(rng, M, N)
    verify("tr(X'@X)", "X", {"X": X}, 2 * X, text="2X")
    verify("tr(X@X')", "X", {"X": X}, 2 * X, text="2X")


def test_cookbook_eq116_trace_BtXtCXB(rng):
    # ∂Tr(BᵀXᵀCXB)/∂X = CᵀXBBᵀ + CXBBᵀ
    B, X, C = mat(rng, N, K), mat(rng, M, N), mat(rng, M, M)
    verify("tr(B'@X'@C@X@B)", "X", {"B": B, "X": X, "C": C}, C.T @ X @ B @ B.T + C @ X @ B @ B.T)


def test_cookbook_eq117_trace_XtBXC(rng):
    # ∂Tr[XᵀBXC]/∂X = BXC + BᵀXCᵀ
    X, B, C = mat(rng, M, N), mat(rng, M, M), mat(rng, N, N)
    verify("tr(X'@B@X@C)", "X", {"X": X, "B": B, "C": C}, B @ X @ C + B.T @ X @ C.T)


def test_cookbook_eq118_trace_AXBXtC(rng):
    # ∂Tr(AXBXᵀC)/∂X = AᵀCᵀXBᵀ + CAXB
    A, X, B, C = mat(rng, K, M), mat(rng, M, N), mat(rng, N, N), mat(rng, M, K)
    verify("tr(A@X@B@X'@C)", "X", {"A": A, "X": X, "B": B, "C": C}, A.T @ C.T @ X @ B.T + C @ A @ X @ B)


def test_cookbook_eq119_trace_squared_residual(rng):
    # ∂Tr[(AXB + C)(AXB + C)ᵀ]/∂X = 2Aᵀ(AXB + C)Bᵀ
    A, X, B, C = mat(rng, K, M), mat(rng, M, N), mat(rng, N, N), mat(rng, K, N)
    R = A @ X @ B + C
    verify("tr((A@X@B + C)@(A@X@B + C)')", "X", {"A": A, "X": X, "B": B, "C": C}, 2 * A.T @ R @ B.T, text="2Aᵀ(AXB + C)Bᵀ")


def test_cookbook_eq120_trace_kron_XX(rng):
    # ∂Tr(X ⊗ X)/∂X = ∂Tr(X)Tr(X)/∂X = 2Tr(X)I
    X = mat(rng, N, N)
    verify("tr(kron(X, X))", "X", {"X": X}, 2 * np.trace(X) * np.eye(N), shapes={"X": "n x n"})


# ============================================================ 2.5 traces: higher order and other


def test_cookbook_eq121_trace_power(rng):
    # ∂Tr(Xᵏ)/∂X = k(Xᵏ⁻¹)ᵀ   (k = 3 and 4)
    X = mat(rng, N, N)
    verify("tr(matrix_power(X, 3))", "X", {"X": X}, 3 * mpow(X, 2).T)
    verify("tr(matrix_power(X, 4))", "X", {"X": X}, 4 * mpow(X, 3).T)


def test_cookbook_eq122_trace_A_power(rng):
    # ∂Tr(AXᵏ)/∂X = Σᵣ₌₀ᵏ⁻¹ (XʳAXᵏ⁻ʳ⁻¹)ᵀ   (k = 3)
    A, X = mat(rng, N, N), mat(rng, N, N)
    expected = sum((mpow(X, r) @ A @ mpow(X, 2 - r)).T for r in range(3))
    verify("tr(A@matrix_power(X, 3))", "X", {"A": A, "X": X}, expected)


def test_cookbook_eq123_trace_quartic(rng):
    # ∂Tr[BᵀXᵀCXXᵀCXB]/∂X = CXXᵀCXBBᵀ + CᵀXBBᵀXᵀCᵀX + CXBBᵀXᵀCX + CᵀXXᵀCᵀXBBᵀ
    B, X, C = mat(rng, N, K), mat(rng, M, N), mat(rng, M, M)
    BB = B @ B.T
    expected = C @ X @ X.T @ C @ X @ BB + C.T @ X @ BB @ X.T @ C.T @ X + C @ X @ BB @ X.T @ C @ X + C.T @ X @ X.T @ C.T @ X @ BB
    verify("tr(B'@X'@C@X@X'@C@X@B)", "X", {"B": B, "X": X, "C": C}, expected)


def test_cookbook_eq124_trace_A_Xinv_B(rng):
    # ∂Tr(AX⁻¹B)/∂X = −(X⁻¹BAX⁻¹)ᵀ = −X⁻ᵀAᵀBᵀX⁻ᵀ
    X, A, B = invertible(rng, N), mat(rng, N, N), mat(rng, N, N)
    Xi = inv(X)
    verify("tr(A@inv(X)@B)", "X", {"X": X, "A": A, "B": B}, -(Xi @ B @ A @ Xi).T, text="−X⁻ᵀAᵀBᵀX⁻ᵀ")


def test_cookbook_eq125_trace_inv_XtCX_A(rng):
    # C symmetric: ∂Tr[(XᵀCX)⁻¹A]/∂X = −(CX(XᵀCX)⁻¹)(A + Aᵀ)(XᵀCX)⁻¹
    C, X, A = spd(rng, M), mat(rng, M, N), mat(rng, N, N)
    Gi = inv(X.T @ C @ X)
    expected = -(C @ X @ Gi) @ (A + A.T) @ Gi
    verify("tr(inv(X'@C@X)@A)", "X", {"C": C, "X": X, "A": A}, expected, shapes={"C": "m x m symmetric", "X": "m x n"})


def test_cookbook_eq126_trace_generalized_rayleigh(rng):
    # B, C symmetric: ∂Tr[(XᵀCX)⁻¹(XᵀBX)]/∂X = −2CX(XᵀCX)⁻¹XᵀBX(XᵀCX)⁻¹ + 2BX(XᵀCX)⁻¹
    C, B, X = spd(rng, M), symmetric(rng, M), mat(rng, M, N)
    Gi = inv(X.T @ C @ X)
    expected = -2 * C @ X @ Gi @ X.T @ B @ X @ Gi + 2 * B @ X @ Gi
    shapes = {"C": "m x m symmetric", "B": "m x m symmetric", "X": "m x n"}
    verify("tr(inv(X'@C@X)@(X'@B@X))", "X", {"C": C, "B": B, "X": X}, expected, shapes=shapes)


def test_cookbook_eq127_trace_regularized_rayleigh(rng):
    # B, C (and here A) symmetric: ∂Tr[(A + XᵀCX)⁻¹(XᵀBX)]/∂X
    #     = −2CX(A + XᵀCX)⁻¹XᵀBX(A + XᵀCX)⁻¹ + 2BX(A + XᵀCX)⁻¹
    C, B, A, X = spd(rng, M), symmetric(rng, M), spd(rng, N), mat(rng, M, N)
    Gi = inv(A + X.T @ C @ X)
    expected = -2 * C @ X @ Gi @ X.T @ B @ X @ Gi + 2 * B @ X @ Gi
    shapes = {"C": "m x m symmetric", "B": "m x m symmetric", "A": "n x n symmetric", "X": "m x n"}
    verify("tr(inv(A + X'@C@X)@(X'@B@X))", "X", {"C": C, "B": B, "A": A, "X": X}, expected, shapes=shapes)


# ============================================================ 2.6, 2.7 norms


def test_cookbook_eq129_norm(rng):
    # ∂‖x − a‖₂/∂x = (x − a)/‖x − a‖₂
    x, a = vec(rng, N), vec(rng, N)
    r = x - a
    verify("norm(x - a)", "x", {"x": x, "a": a}, r / np.linalg.norm(r), shapes={"a": "n"}, text="(x − a)/‖x − a‖")


def test_cookbook_eq130_normalized_vector(rng):
    # ∂/∂x (x − a)/‖x − a‖₂ = I/‖x − a‖₂ − (x − a)(x − a)ᵀ/‖x − a‖₂³
    x, a = vec(rng, N), vec(rng, N)
    r = x - a
    nr = np.linalg.norm(r)
    verify("(x - a)/norm(x - a)", "x", {"x": x, "a": a}, np.eye(N) / nr - np.outer(r, r) / nr**3, shapes={"a": "n"})


def test_cookbook_eq131_squared_norm(rng):
    # ∂‖x‖₂²/∂x = ∂‖xᵀx‖₂/∂x = 2x
    x = vec(rng, N)
    verify("norm(x)^2", "x", {"x": x}, 2 * x, text="2x")
    verify("norm(x'@x)", "x", {"x": x}, 2 * x)


def test_cookbook_eq132_frobenius(rng):
    # ∂‖X‖_F²/∂X = ∂Tr(XXᴴ)/∂X = 2X
    X = mat(rng, M, N)
    verify("norm(X)^2", "X", {"X": X}, 2 * X, text="2X")
