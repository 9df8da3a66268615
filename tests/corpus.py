"""A corpus of derivative problems as a user would bring them from textbooks and papers.

Each :class:`Problem` is an expression as typed into matcalc, the variable, options,
and, where the source states one, the closed form it prints, written in the numpy
dialect (``.T`` transpose, ``@`` product, ``*`` elementwise, ``**`` power) so that it
can be both evaluated independently with NumPy and parsed by matcalc for its size.

Closed-form conventions (matcalc's default *mixed* layout):

* scalar by vector / matrix: the gradient, shaped like the variable;
* vector by vector: the m×n Jacobian ∂f/∂xᵀ;
* anything by a matrix (non-scalar f): ∂vec(F)/∂vec(X), column-major vec, so
  ∂vec(AXB)/∂vec(X) = Bᵀ ⊗ A and ∂vec(Xᵀ)/∂vec(X) = K (``commutation(m, n)``);
* order 2: the Hessian, n×n for a vector, mn×mn (vec form) for a matrix;
* a gradient by a matrix declared symmetric is sym(G) = (G + Gᵀ)/2.

Sources: matrixcalculus.org's examples (matlab dialect), the Matrix Cookbook
(Petersen & Pedersen, 2012; equation numbers in the ids where stable), Magnus &
Neudecker (Matrix Differential Calculus, 3rd ed.), Boyd & Vandenberghe (Convex
Optimization, appendix A.4 and chapter 9/11 examples), the deep-learning notes in
/work/shared/seeds (Parr & Howard; cs231n backprop; matrix-differential backprop of a
3-layer net), Goodfellow, Bengio & Courville (Deep Learning, chapters 4–7),
attention, Gaussian processes (Rasmussen & Williams ch. 5), matrix factorisation.

``xfail`` holds the reason a problem currently fails (a matcalc bug or limitation);
the test marks it ``xfail(strict=True)`` so that it turns green, and the mark must
go, when the engine is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One derivative problem: ∂^order expr / ∂wrt, and its textbook closed form."""

    id: str
    source: str
    expr: str
    wrt: str
    closed: str | None = None
    shapes: dict[str, Any] = field(default_factory=dict)
    syntax: str = "numpy"
    order: int = 1
    layout: str = "mixed"
    xfail: str | None = None


def P(id: str, source: str, expr: str, wrt: str, closed: str | None = None, **kw: Any) -> Problem:  # noqa: A002
    return Problem(id, source, expr, wrt, closed, **kw)


MC = "matrixcalculus.org"
CB = "Matrix Cookbook"
MN = "Magnus & Neudecker"
BV = "Boyd & Vandenberghe"
PH = "Parr & Howard (seed 004)"
CS = "cs231n backprop (seeds 000/001)"
BP = "matrix-differential backprop (seed 002)"
JC = "Jacobian notes (seed 003)"
GB = "Goodfellow et al."
AT = "attention"
GP = "Gaussian processes"
MF = "matrix factorisation"
HS = "Hessians"
JA = "Jacobians"
HG = "Hendrycks & Gimpel (GELU)"
ST = "statistics and normalisation"

ML = {"syntax": "matlab"}
SPD = "n x n symmetric"

PROBLEMS: list[Problem] = [
    # ------------------------------------------------------------------ matrixcalculus.org (matlab dialect)
    P("mc_quad", MC, "x'*A*x", "x", "(A + A.T)@x", **ML),
    P("mc_bilinear_declared", MC, "a'*X*b", "X", "a@b.T", shapes={"a": "vector", "b": "vector"}, **ML),
    P("mc_bilinear_convention", MC, "u'*X*v", "X", "u@v.T", **ML),
    P("mc_bilinear_convention_ab", MC, "a'*X*b", "X", "a@b.T", **ML),
    P("mc_inner_convention_a", MC, "a'*x", "x", "a", **ML),
    P("mc_trace_quad", MC, "tr(X'*A*X)", "X", "(A + A.T)@X", **ML),
    P("mc_least_squares", MC, "norm2(X*w - y)^2", "w", "2*X.T@(X@w - y)", **ML),
    P("mc_logdet", MC, "log(det(X))", "X", "inv(X).T", **ML),
    P("mc_exp_quad", MC, "exp(x)'*A*exp(x)", "x", "exp(x)*((A + A.T)@exp(x))", **ML),
    P("mc_logistic_loss", MC, "sum(log(1 + exp(-y.*(X*w))))", "w", "-X.T@(y*sigmoid(-y*(X@w)))", **ML),
    P(
        "mc_logistic_hessian", MC, "sum(log(1 + exp(-y.*(X*w))))", "w",
        "X.T@diag(y**2*sigmoid(-y*(X@w))*(1 - sigmoid(-y*(X@w))))@X", order=2, **ML,
    ),
    P("mc_default_example_x", MC, "x'*A*x + c*sin(y)'*x", "x", "(A + A.T)@x + c*sin(y)", **ML),
    P("mc_default_example_y", MC, "x'*A*x + c*sin(y)'*x", "y", "c*cos(y)*x", **ML),
    P("mc_default_example_c", MC, "x'*A*x + c*sin(y)'*x", "c", "sin(y).T@x", **ML),
    P("mc_quad_hessian", MC, "x'*A*x", "x", "A + A.T", order=2, **ML),
    P("mc_norm_residual", MC, "norm2(A*x - b)", "x", "A.T@(A@x - b)/norm(A@x - b)", shapes={"b": "vector"}, **ML),
    P("mc_trace_AXB", MC, "tr(A*X*B)", "X", "A.T@B.T", **ML),
    P("mc_det", MC, "det(X)", "X", "det(X)*inv(X).T", **ML),
    P("mc_inverse_jacobian", MC, "inv(X)", "X", "-kron(inv(X).T, inv(X))", **ML),
    P("mc_square_jacobian", MC, "X*X", "X", "kron(eye(n), X) + kron(X.T, eye(n))", shapes={"X": "n x n"}, **ML),
    P("mc_quad_inverse_by_A", MC, "x'*inv(A)*x", "A", "-inv(A).T@x@x.T@inv(A).T", **ML),
    P("mc_log_quad", MC, "log(x'*A*x)", "x", "(A + A.T)@x/(x.T@A@x)", **ML),
    P("mc_quad_squared", MC, "(x'*A*x)^2", "x", "2*(x.T@A@x)*((A + A.T)@x)", **ML),
    P("mc_sum_exp_affine", MC, "sum(exp(A*x))", "x", "A.T@exp(A@x)", **ML),
    P("mc_hadamard_jacobian", MC, "x.*y", "x", "diag(y)", **ML),
    P("mc_affine_jacobian", MC, "A*x", "x", "A", **ML),
    P("mc_exp_affine_jacobian", MC, "exp(A*x)", "x", "diag(exp(A@x))@A", **ML),
    P("mc_log_sum_exp", MC, "log(sum(exp(x)))", "x", "exp(x)/sum(exp(x))", **ML),
    P("mc_trace_inverse", MC, "tr(inv(X))", "X", "-(inv(X)@inv(X)).T", **ML),
    P("mc_sum_squares", MC, "sum(x.^2)", "x", "2*x", **ML),
    P("mc_dot_self", MC, "x'*x", "x", "2*x", **ML),
    P("mc_sum_log", MC, "sum(log(x))", "x", "1/x", **ML),
    P("mc_residual_quad", MC, "(A*x - b)'*(A*x - b)", "x", "2*A.T@(A@x - b)", shapes={"b": "vector"}, **ML),
    P("mc_vector_ones", MC, "vector(1)'*x", "x", "ones(n)", shapes={"x": "n"}, **ML),
    P("mc_trace_inverse_sandwich", MC, "tr(A*inv(X)*B)", "X", "-(inv(X)@B@A@inv(X)).T", **ML),
    P("mc_elementwise_div", MC, "sum(x./y)", "y", "-x/y**2", **ML),
    P("mc_least_squares_convention_b", MC, "norm2(A*x - b)^2", "x", "2*A.T@(A@x - b)", **ML),
    P("mc_matrix_norm_sq", MC, "norm2(X)^2", "X", "2*X", **ML),
    P("mc_row_sums", MC, "sum(X, 2)'*y", "X", "y@ones(n).T", shapes={"X": "m x n"}, **ML),
    # ------------------------------------------------------------------ Matrix Cookbook
    P("cb_100_tr_XtA", CB, "tr(X.T@A)", "X", "A"),
    P("cb_101_tr_AXB", CB, "tr(A@X@B)", "X", "A.T@B.T"),
    P("cb_106_tr_X2", CB, "tr(X@X)", "X", "2*X.T"),
    P("cb_107_tr_XtX", CB, "tr(X.T@X)", "X", "2*X"),
    P("cb_116_tr_XBXt", CB, "tr(X@B@X.T)", "X", "X@B.T + X@B"),
    P("cb_117_tr_XtBX", CB, "tr(X.T@B@X)", "X", "B@X + B.T@X"),
    P("cb_118_tr_AXBX", CB, "tr(A@X@B@X)", "X", "A.T@X.T@B.T + B.T@X.T@A.T"),
    P("cb_119_tr_XtBXC", CB, "tr(X.T@B@X@C)", "X", "B@X@C + B.T@X@C.T"),
    P("cb_120_tr_AXBXtC", CB, "tr(A@X@B@X.T@C)", "X", "A.T@C.T@X@B.T + C@A@X@B"),
    P("cb_121_tr_affine_sq", CB, "tr((A@X@B + C)@(A@X@B + C).T)", "X", "2*A.T@(A@X@B + C)@B.T"),
    P("cb_124_tr_AXinvB", CB, "tr(A@inv(X)@B)", "X", "-(inv(X)@B@A@inv(X)).T"),
    P("cb_tr_X3", CB, "tr(matrix_power(X, 3))", "X", "3*(X@X).T"),
    P("cb_70_atXtb", CB, "a.T@X.T@b", "X", "b@a.T", shapes={"a": "vector", "b": "vector"}),
    P("cb_77_btXtXc", CB, "b.T@X.T@X@c", "X", "X@(b@c.T + c@b.T)", shapes={"b": "vector", "c": "vector"}),
    P(
        "cb_82_affine_bilinear", CB, "(B@x + b).T@C@(D@x + d)", "x", "B.T@C@(D@x + d) + D.T@C.T@(B@x + b)",
        shapes={"b": "vector", "d": "vector"},
    ),
    P("cb_129_norm", CB, "norm(x)", "x", "x/norm(x)"),
    P("cb_130_norm_diff", CB, "norm(x - a)", "x", "(x - a)/norm(x - a)", shapes={"a": "vector"}),
    P("cb_frobenius_sq", CB, "norm(X)^2", "X", "2*X"),
    P("cb_frobenius", CB, "norm(X)", "X", "X/norm(X)"),
    P("cb_49_det_AXB", CB, "det(A@X@B)", "X", "det(A@X@B)*inv(X).T", shapes={"A": "n x n", "X": "n x n", "B": "n x n"}),
    P("cb_51_logdet_XtX", CB, "logdet(X.T@X)", "X", "2*X@inv(X.T@X)"),
    P(
        "cb_53_det_XtAX", CB, "det(X.T@A@X)", "X",
        "det(X.T@A@X)*(A@X@inv(X.T@A@X) + A.T@X@inv(X.T@A.T@X))",
    ),
    P("cb_57_logdet_symmetric", CB, "logdet(S)", "S", "inv(S)", shapes={"S": SPD}),
    P("cb_61_atXinvb", CB, "a.T@inv(X)@b", "X", "-inv(X).T@a@b.T@inv(X).T", shapes={"a": "vector", "b": "vector"}),
    P(
        "cb_gauss_loglik_mu", CB, "-0.5*logdet(Sigma) - 0.5*(x - mu).T@inv(Sigma)@(x - mu)", "mu",
        "inv(Sigma)@(x - mu)", shapes={"mu": "n", "x": "n", "Sigma": SPD},
    ),
    P(
        "cb_gauss_loglik_Sigma_sym", CB, "-0.5*logdet(Sigma) - 0.5*(x - mu).T@inv(Sigma)@(x - mu)", "Sigma",
        "-0.5*inv(Sigma) + 0.5*inv(Sigma)@(x - mu)@(x - mu).T@inv(Sigma)", shapes={"mu": "n", "x": "n", "Sigma": SPD},
    ),
    P(
        "cb_gauss_loglik_Sigma_general", CB, "-0.5*logdet(Sigma) - 0.5*(x - mu).T@inv(Sigma)@(x - mu)", "Sigma",
        "-0.5*inv(Sigma).T + 0.5*inv(Sigma).T@(x - mu)@(x - mu).T@inv(Sigma).T", shapes={"mu": "n", "x": "n"},
    ),
    P(
        "cb_gauss_mahalanobis_x", CB, "(x - mu).T@inv(Sigma)@(x - mu)", "x", "2*inv(Sigma)@(x - mu)",
        shapes={"mu": "n", "x": "n", "Sigma": SPD},
    ),
    P("cb_least_squares", CB, "norm(A@x - b)^2", "x", "2*A.T@(A@x - b)", shapes={"b": "vector"}),
    P(
        "cb_ridge", CB, "norm(A@x - b)^2 + lambda*norm(x)^2", "x", "2*A.T@(A@x - b) + 2*lambda*x",
        shapes={"b": "vector"},
    ),
    P("cb_quad_sym", CB, "x.T@S@x", "x", "2*S@x", shapes={"S": SPD}),
    P("cb_jac_transpose", CB, "X.T", "X", "commutation(m, n)", shapes={"X": "m x n"}),
    P(
        "cb_jac_XtX", CB, "X.T@X", "X", "kron(X.T, eye(n))@commutation(m, n) + kron(eye(n), X.T)",
        shapes={"X": "m x n"},
    ),
    P("cb_jac_hadamard_self", CB, "X*X", "X", "2*diag(vec(X))"),
    P("cb_jac_AXB", CB, "A@X@B", "X", "kron(B.T, A)"),
    P(
        "cb_jac_kron_right", CB, "kron(A, X)", "X",
        "kron(kron(eye(n), commutation(q, m)), eye(p))@kron(vec(A), kron(eye(q), eye(p)))",
        shapes={"A": "m x n", "X": "p x q"},
    ),
    P("cb_tr_kron", CB, "tr(kron(A, X))", "X", "tr(A)*eye(n)", shapes={"X": "n x n"}),
    P("cb_rbf_kernel_x", CB, "exp(-norm(x - y)^2/(2*sigma^2))", "x", "-(x - y)/sigma**2*exp(-norm(x - y)**2/(2*sigma**2))"),
    P(
        "cb_rbf_kernel_sigma", CB, "exp(-norm(x - y)^2/(2*sigma^2))", "sigma",
        "norm(x - y)**2/sigma**3*exp(-norm(x - y)**2/(2*sigma**2))",
    ),
    # ------------------------------------------------------------------ Magnus & Neudecker
    P("mn_tr_AXtBX", MN, "tr(A@X.T@B@X)", "X", "B@X@A + B.T@X@A.T"),
    P("mn_logdet_XtAX", MN, "logdet(X.T@A@X)", "X", "2*A@X@inv(X.T@A@X)", shapes={"A": "m x m symmetric", "X": "m x n"}),
    P(
        "mn_jac_XAXt", MN, "X@A@X.T", "X", "kron(X@A.T, eye(m)) + kron(eye(m), X@A)@commutation(m, n)",
        shapes={"X": "m x n"},
    ),
    P("mn_jac_normalise", MN, "x/norm(x)", "x", "(eye(n) - x@x.T/(x.T@x))/norm(x)", shapes={"x": "n"}),
    P("mn_hessian_logdet", MN, "logdet(X)", "X", "-kron(inv(X), inv(X).T)@commutation(n, n)", shapes={"X": "n x n"}, order=2),
    P("mn_hessian_tr_XtAX", MN, "tr(X.T@A@X)", "X", "kron(eye(n), A + A.T)", shapes={"X": "m x n"}, order=2),
    P("mn_jac_matrix_power", MN, "matrix_power(X, 2)", "X", "kron(eye(n), X) + kron(X.T, eye(n))", shapes={"X": "n x n"}),
    P("mn_jac_XXt", MN, "X@X.T", "X", "kron(X, eye(m)) + kron(eye(m), X)@commutation(m, n)", shapes={"X": "m x n"}),
    P("mn_jac_vec", MN, "vec(X)", "X", "kron(eye(n), eye(m))", shapes={"X": "m x n"}),
    P("mn_det_inverse", MN, "det(inv(X))", "X", "-det(inv(X))*inv(X).T"),
    # ------------------------------------------------------------------ Boyd & Vandenberghe
    P("bv_log_barrier", BV, "-sum(log(b - A@x))", "x", "A.T@(1/(b - A@x))", shapes={"b": "vector"}),
    P("bv_log_barrier_hessian", BV, "-sum(log(b - A@x))", "x", "A.T@diag(1/(b - A@x)**2)@A", shapes={"b": "vector"}, order=2),
    P("bv_logsumexp", BV, "logsumexp(x)", "x", "softmax(x)"),
    P("bv_logsumexp_hessian", BV, "logsumexp(x)", "x", "diag(softmax(x)) - softmax(x)@softmax(x).T", order=2),
    P("bv_log_sum_exp_hessian", BV, "log(sum(exp(x)))", "x", "diag(exp(x))/sum(exp(x)) - exp(x)@exp(x).T/sum(exp(x))**2", order=2),
    P("bv_logsumexp_affine", BV, "logsumexp(A@x + b)", "x", "A.T@softmax(A@x + b)", shapes={"b": "vector"}),
    P("bv_quad_over_lin_x", BV, "x.T@x/t", "x", "2*x/t", shapes={"t": "scalar"}),
    P("bv_quad_over_lin_t", BV, "x.T@x/t", "t", "-(x.T@x)/t**2", shapes={"t": "scalar"}),
    P("bv_quad_over_lin_hessian", BV, "x.T@x/t", "x", "2*eye(n)/t", shapes={"t": "scalar", "x": "n"}, order=2),
    P("bv_logdet_barrier", BV, "-logdet(X)", "X", "-inv(X)", shapes={"X": SPD}),
    P(
        "bv_logdet_barrier_hessian", BV, "-logdet(X)", "X", "kron(inv(X), inv(X).T)@commutation(n, n)",
        shapes={"X": "n x n"}, order=2,
    ),
    P("bv_qp", BV, "x.T@P@x + q.T@x + r", "x", "2*P@x + q", shapes={"P": SPD, "r": "scalar"}),
    P("bv_qp_hessian", BV, "x.T@P@x + q.T@x + r", "x", "2*P", shapes={"P": SPD, "r": "scalar"}, order=2),
    P("bv_analytic_center", BV, "-sum(log(x))", "x", "-1/x"),
    P("bv_analytic_center_hessian", BV, "-sum(log(x))", "x", "diag(1/x**2)", order=2),
    P("bv_neg_entropy", BV, "sum(x*log(x))", "x", "log(x) + 1"),
    P("bv_neg_entropy_hessian", BV, "sum(x*log(x))", "x", "diag(1/x)", order=2),
    P("bv_logdet_pencil", BV, "logdet(A + t*B)", "t", "tr(inv(A + t*B)@B)", shapes={"t": "scalar"}),
    P("bv_l1_residual", BV, "norm1(A@x - b)", "x", "A.T@sign(A@x - b)", shapes={"b": "vector"}),
    P("bv_smooth_norm", BV, "sqrt(1 + norm(x)^2)", "x", "x/sqrt(1 + norm(x)**2)"),
    P("bv_geometric_mean_log", BV, "sum(log(x))/dim(n)", "x", "1/(dim(n)*x)", shapes={"x": "n"}),
    # ------------------------------------------------------------------ Parr & Howard (seed 004)
    P("ph_neuron_w", PH, "max(0, dot(w, x) + b)", "w", "(dot(w, x) + b > 0)*x"),
    P("ph_neuron_b", PH, "max(0, dot(w, x) + b)", "b", "(dot(w, x) + b > 0)"),
    P("ph_neuron_numerator", PH, "max(0, dot(w, x) + b)", "w", "(dot(w, x) + b > 0)*x.T", layout="numerator"),
    P("ph_dot_numerator", PH, "w.T@x", "w", "x.T", layout="numerator"),
    P("ph_sum_hadamard", PH, "sum(w*x)", "w", "x"),
    P("ph_hadamard_jacobian", PH, "w*x", "w", "diag(x)"),
    P("ph_sum_jacobian", PH, "sum(x)", "x", "ones(n)", shapes={"x": "n"}),
    P("ph_sin_sq_jacobian", PH, "sin(x^2)", "x", "diag(2*x*cos(x**2))"),
    P(
        "ph_loss_w", PH, "mean((y - relu(X@w + b))^2)", "w", "-2*X.T@((y - relu(X@w + b))*(X@w + b > 0))/dim(N)",
        shapes={"X": "N x d"},
    ),
    P(
        "ph_loss_b", PH, "mean((y - relu(X@w + b))^2)", "b", "-2*sum((y - relu(X@w + b))*(X@w + b > 0))/dim(N)",
        shapes={"X": "N x d"},
    ),
    P("ph_affine_jacobian_denominator", PH, "W@x", "x", "W.T", layout="denominator"),
    # ------------------------------------------------------------------ cs231n (seeds 000/001)
    P("cs_mul_gate", CS, "a*b", "a", "b"),
    P("cs_max_gate", CS, "max(c, d)", "c", "(c >= d)"),
    P(
        "cs_compound_scalar", CS, "(a + sigmoid(b))/(sigmoid(a) + (a + b)^2)", "a",
        "1/(sigmoid(a) + (a + b)**2) - (a + sigmoid(b))*(sigmoid(a)*(1 - sigmoid(a)) + 2*(a + b))"
        "/(sigmoid(a) + (a + b)**2)**2",
    ),
    P("cs_sigmoid_neuron", CS, "sigmoid(w.T@x + b)", "w", "sigmoid(w.T@x + b)*(1 - sigmoid(w.T@x + b))*x"),
    P("cs_matmul_dW", CS, "sum(G*(W@X))", "W", "G@X.T"),
    P("cs_matmul_dX", CS, "sum(G*(W@X))", "X", "W.T@G"),
    P("cs_matmul_trace_form", CS, "tr(G.T@W@X)", "W", "G@X.T"),
    P(
        "cs_two_layer_W1", CS, "0.5*norm(W2@relu(W1@X) - Y)^2", "W1",
        "((W2.T@(W2@relu(W1@X) - Y))*(W1@X > 0))@X.T",
    ),
    P("cs_two_layer_W2", CS, "0.5*norm(W2@relu(W1@X) - Y)^2", "W2", "(W2@relu(W1@X) - Y)@relu(W1@X).T"),
    P(
        "cs_two_layer_bias", CS, "0.5*norm(W2@relu(W1@X + b1) - Y)^2", "b1",
        "sum((W2.T@(W2@relu(W1@X + b1) - Y))*(W1@X + b1 > 0), 1)", shapes={"b1": "vector"},
    ),
    P("cs_softmax_loss_batch", CS, "-sum(Y*log(softmax(X@W)))", "W", "X.T@(softmax(X@W)*sum(Y, 1, keepdims=True) - Y)"),
    P(
        "cs_svm_loss", CS, "sum(relu(X@W - sum(Y*(X@W), 1, keepdims=True) + 1))", "W",
        "X.T@((X@W - sum(Y*(X@W), 1, keepdims=True) + 1 > 0) - Y*sum(X@W - sum(Y*(X@W), 1, keepdims=True) + 1 > 0, 1, keepdims=True))",
    ),
    # ------------------------------------------------------------------ 3-layer backprop (seed 002)
    P(
        "bp_sigmoid_W1", BP, "0.5*norm(y - W2@sigmoid(W1@x))^2", "W1",
        "((W2.T@(W2@sigmoid(W1@x) - y))*sigmoid(W1@x)*(1 - sigmoid(W1@x)))@x.T",
    ),
    P("bp_sigmoid_W2", BP, "0.5*norm(y - W2@sigmoid(W1@x))^2", "W2", "(W2@sigmoid(W1@x) - y)@sigmoid(W1@x).T"),
    P(
        "bp_softmax_ce_W2", BP, "-sum(y*log(softmax(W2@relu(W1@x))))", "W2",
        "(softmax(W2@relu(W1@x))*sum(y) - y)@relu(W1@x).T",
    ),
    P(
        "bp_softmax_ce_W1", BP, "-sum(y*log(softmax(W2@relu(W1@x))))", "W1",
        "((W2.T@(softmax(W2@relu(W1@x))*sum(y) - y))*(W1@x > 0))@x.T",
    ),
    P(
        "bp_unsquared_norm_W2", BP, "0.5*norm(y - W2@tanh(W1@x))", "W2",
        "0.5*(W2@tanh(W1@x) - y)@tanh(W1@x).T/norm(y - W2@tanh(W1@x))",
    ),
    P("bp_delta_jacobian", BP, "W2@sigmoid(W1@x)", "x", "W2@diag(sigmoid(W1@x)*(1 - sigmoid(W1@x)))@W1"),
    # ------------------------------------------------------------------ Jacobian notes (seed 003)
    P("jc_affine_by_x", JC, "W@x", "x", "W"),
    P("jc_affine_by_W", JC, "W@x", "W", "kron(x.T, eye(m))", shapes={"W": "m x n"}),
    P("jc_chain", JC, "tanh(W@x)", "x", "diag(1 - tanh(W@x)**2)@W"),
    # ------------------------------------------------------------------ Goodfellow et al.
    P("gb_mse", GB, "norm(X@w - y)^2/dim(m)", "w", "2*X.T@(X@w - y)/dim(m)", shapes={"X": "m x n"}),
    P("gb_mse_mean", GB, "mean((X@w - y)^2)", "w", "2*X.T@(X@w - y)/dim(m)", shapes={"X": "m x n"}),
    P("gb_normal_eq_hessian", GB, "norm(X@w - y)^2", "w", "2*X.T@X", order=2),
    P("gb_weight_decay", GB, "norm(X@w - y)^2 + lambda*w.T@w", "w", "2*X.T@(X@w - y) + 2*lambda*w"),
    P("gb_pca_trace", GB, "tr(W.T@X.T@X@W)", "W", "2*X.T@X@W"),
    P(
        "gb_pca_reconstruction", GB, "norm(X - X@W@W.T)^2", "W",
        "-2*(X.T@(X - X@W@W.T)@W + (X - X@W@W.T).T@X@W)",
    ),
    P("gb_logistic", GB, "-sum(y*log(sigmoid(X@w)) + (1 - y)*log(1 - sigmoid(X@w)))", "w", "X.T@(sigmoid(X@w) - y)"),
    P("gb_logistic_bias", GB, "-sum(y*log(sigmoid(X@w + b)) + (1 - y)*log(1 - sigmoid(X@w + b)))", "b", "sum(sigmoid(X@w + b) - y)"),
    P(
        "gb_logistic_hessian", GB, "-sum(y*log(sigmoid(X@w)) + (1 - y)*log(1 - sigmoid(X@w)))", "w",
        "X.T@diag(sigmoid(X@w)*(1 - sigmoid(X@w)))@X", order=2,
    ),
    P(
        "gb_softmax_regression_W", GB, "-y.T@log(softmax(W@x + b))", "W", "(softmax(W@x + b)*sum(y) - y)@x.T",
        shapes={"b": "vector"},
    ),
    P("gb_softmax_regression_b", GB, "-y.T@log(softmax(W@x + b))", "b", "softmax(W@x + b)*sum(y) - y", shapes={"b": "vector"}),
    P(
        "gb_mlp_tanh_W1", GB, "0.5*norm(W2@tanh(W1@x + b1) + b2 - y)^2", "W1",
        "((W2.T@(W2@tanh(W1@x + b1) + b2 - y))*(1 - tanh(W1@x + b1)**2))@x.T", shapes={"b1": "vector", "b2": "vector"},
    ),
    P(
        "gb_mlp_tanh_b1", GB, "0.5*norm(W2@tanh(W1@x + b1) + b2 - y)^2", "b1",
        "(W2.T@(W2@tanh(W1@x + b1) + b2 - y))*(1 - tanh(W1@x + b1)**2)", shapes={"b1": "vector", "b2": "vector"},
    ),
    P(
        "gb_mlp_tanh_b2", GB, "0.5*norm(W2@tanh(W1@x + b1) + b2 - y)^2", "b2",
        "W2@tanh(W1@x + b1) + b2 - y", shapes={"b1": "vector", "b2": "vector"},
    ),
    P(
        "gb_mlp_sigmoid_output", GB, "-sum(y*log(sigmoid(W2@relu(W1@x))) + (1 - y)*log(1 - sigmoid(W2@relu(W1@x))))",
        "W2", "(sigmoid(W2@relu(W1@x)) - y)@relu(W1@x).T",
    ),
    P("gb_l1", GB, "alpha*norm1(w) + 0.5*norm(X@w - y)^2", "w", "alpha*sign(w) + X.T@(X@w - y)"),
    P("gb_l2_hessian", GB, "0.5*alpha*w.T@w", "w", "alpha*eye(n)", shapes={"w": "n"}, order=2),
    P("gb_newton_quadratic", GB, "0.5*x.T@A@x - b.T@x", "x", "A@x - b", shapes={"A": SPD, "b": "vector"}),
    P("gb_softmax_jacobian", GB, "softmax(z)", "z", "diag(softmax(z)) - softmax(z)@softmax(z).T"),
    P("gb_log_softmax_jacobian", GB, "log(softmax(z))", "z", "eye(n) - ones(n)@softmax(z).T", shapes={"z": "n"}),
    P("gb_softmax_ce", GB, "-sum(y*log(softmax(z)))", "z", "softmax(z)*sum(y) - y"),
    P("gb_softplus_ce", GB, "sum(softplus((1 - 2*y)*z))", "z", "(1 - 2*y)*sigmoid((1 - 2*y)*z)"),
    P(
        "gb_batch_linear_bias", GB, "0.5*norm(W@X + b - Y)^2", "b", "sum(W@X + b - Y, 1)",
        shapes={"b": "vector"},
    ),
    # ------------------------------------------------------------------ attention
    P("at_by_V_jacobian", AT, "softmax(Q@K.T)@V", "V", "kron(eye(p), softmax(Q@K.T))", shapes={"V": "s x p"}),
    P(
        "at_loss_by_Q", AT, "sum(G*(softmax(Q@K.T)@V))", "Q",
        "(softmax(Q@K.T)*(G@V.T - sum(G@V.T*softmax(Q@K.T), 1, keepdims=True)))@K",
    ),
    P(
        "at_loss_by_K", AT, "sum(G*(softmax(Q@K.T)@V))", "K",
        "(softmax(Q@K.T)*(G@V.T - sum(G@V.T*softmax(Q@K.T), 1, keepdims=True))).T@Q",
    ),
    P("at_loss_by_V", AT, "sum(G*(softmax(Q@K.T)@V))", "V", "softmax(Q@K.T).T@G"),
    P("at_scaled_by_Q_jacobian", AT, "softmax(c*Q@K.T)@V", "Q"),
    P(
        "at_rowwise_softmax_jacobian", AT, "softmax(X)", "X",
        "diag(vec(softmax(X)))@(kron(eye(n), eye(m)) - kron(ones(n)@ones(n).T, eye(m))@diag(vec(softmax(X))))",
        shapes={"X": "m x n"},
    ),
    P("at_sum_logsumexp_rows", AT, "sum(logsumexp(X))", "X", "softmax(X)"),
    P(
        "at_single_query", AT, "V.T@softmax(K@q)", "q",
        "V.T@(diag(softmax(K@q)) - softmax(K@q)@softmax(K@q).T)@K",
    ),
    # ------------------------------------------------------------------ Gaussian processes
    P("gp_nll_K_sym", GP, "y.T@inv(K)@y + logdet(K)", "K", "-inv(K)@y@y.T@inv(K) + inv(K)", shapes={"K": SPD}),
    P("gp_nll_K_general", GP, "y.T@inv(K)@y + logdet(K)", "K", "-inv(K).T@y@y.T@inv(K).T + inv(K).T"),
    P(
        "gp_nll_noise", GP, "0.5*y.T@inv(K + s*eye(n))@y + 0.5*logdet(K + s*eye(n))", "s",
        "-0.5*y.T@inv(K + s*eye(n))@inv(K + s*eye(n))@y + 0.5*tr(inv(K + s*eye(n)))",
        shapes={"K": SPD, "y": "n", "s": "scalar"},
    ),
    P("gp_trace_inv_K", GP, "tr(inv(K)@A)", "K", "-inv(K).T@A.T@inv(K).T"),
    P("gp_logdet_scaled", GP, "logdet(c*K + eye(n))", "c", "tr(inv(c*K + eye(n))@K)", shapes={"K": SPD}),
    P("gp_alpha_jacobian", GP, "inv(K)@y", "y", "inv(K)"),
    # ------------------------------------------------------------------ matrix factorisation
    P("mf_U", MF, "norm(X - U@V.T)^2", "U", "-2*(X - U@V.T)@V"),
    P("mf_V", MF, "norm(X - U@V.T)^2", "V", "-2*(X - U@V.T).T@U"),
    P(
        "mf_regularised", MF, "norm(X - U@V.T)^2 + lambda*(norm(U)^2 + norm(V)^2)", "U",
        "-2*(X - U@V.T)@V + 2*lambda*U",
    ),
    P("mf_masked", MF, "norm(M*(X - U@V.T))^2", "U", "-2*(M*M*(X - U@V.T))@V"),
    P("mf_nmf_kl", MF, "sum(X*log(X/(W@H)) - X + W@H)", "W", "(1 - X/(W@H))@H.T"),
    P("mf_sylvester", MF, "norm(A@X - X@B)^2", "X", "2*(A.T@(A@X - X@B) - (A@X - X@B)@B.T)"),
    P("mf_frobenius_reg", MF, "0.5*lambda*norm(W)^2", "W", "lambda*W"),
    # ------------------------------------------------------------------ more Hessians
    P("hs_quadratic_linear", HS, "0.5*x.T@A@x - b.T@x", "x", "0.5*(A + A.T)", shapes={"b": "vector"}, order=2),
    P("hs_norm", HS, "norm(x)", "x", "(eye(n) - x@x.T/(x.T@x))/norm(x)", shapes={"x": "n"}, order=2),
    P("hs_least_squares", HS, "norm(A@x - b)^2", "x", "2*A.T@A", shapes={"b": "vector"}, order=2),
    P("hs_sum_exp", HS, "sum(exp(x))", "x", "diag(exp(x))", order=2),
    P("hs_softmax_ce", HS, "-sum(y*log(softmax(z)))", "z", "sum(y)*(diag(softmax(z)) - softmax(z)@softmax(z).T)", order=2),
    P("hs_regression_by_W", HS, "0.5*norm(W@x - y)^2", "W", "kron(x@x.T, eye(m))", shapes={"W": "m x n"}, order=2),
    P("hs_scalar", HS, "exp(a*b)", "a", "b**2*exp(a*b)", order=2),
    P("hs_logistic_ridge", HS, "sum(softplus(-y*(X@w))) + 0.5*lambda*w.T@w", "w",
      "X.T@diag(y**2*sigmoid(-y*(X@w))*(1 - sigmoid(-y*(X@w))))@X + lambda*eye(n)", shapes={"w": "n"}, order=2),
    P("hs_frobenius_by_matrix", HS, "norm(X)^2", "X", "2*kron(eye(n), eye(m))", shapes={"X": "m x n"}, order=2),
    P("hs_cubic", HS, "sum(x^3)", "x", "diag(6*x)", order=2),
    # ------------------------------------------------------------------ more Jacobians
    P("ja_tanh", JA, "tanh(x)", "x", "diag(1 - tanh(x)**2)"),
    P("ja_sigmoid", JA, "sigmoid(x)", "x", "diag(sigmoid(x)*(1 - sigmoid(x)))"),
    P("ja_relu", JA, "relu(x)", "x", "diag(x > 0)"),
    P("ja_affine_bias", JA, "A@x + b", "x", "A", shapes={"b": "vector"}),
    P("ja_normalise_by_sum", JA, "x/sum(x)", "x", "(eye(n) - x@ones(n).T/sum(x))/sum(x)", shapes={"x": "n"}),
    P("ja_softmax_explicit", JA, "exp(x)/sum(exp(x))", "x", "diag(exp(x))/sum(exp(x)) - exp(x)@exp(x).T/sum(exp(x))**2"),
    P("ja_sigmoid_layer_x", JA, "sigmoid(W@x + b)", "x", "diag(sigmoid(W@x + b)*(1 - sigmoid(W@x + b)))@W", shapes={"b": "vector"}),
    P("ja_sigmoid_layer_W", JA, "sigmoid(W@x + b)", "W", "kron(x.T, diag(sigmoid(W@x + b)*(1 - sigmoid(W@x + b))))", shapes={"b": "vector"}),
    P("ja_outer_by_x", JA, "outer(x, y)", "x", "kron(y, eye(n))", shapes={"x": "n"}),
    P("ja_outer_by_y", JA, "outer(x, y)", "y", "kron(eye(k), x)", shapes={"y": "k"}),
    P("ja_scalar_times_vector", JA, "x*a", "a", "x"),
    P("ja_row_sums", JA, "sum(X, 1)", "X", "kron(ones(n).T, eye(m))", shapes={"X": "m x n"}),
    P("ja_diag_part", JA, "diag(X)", "X"),
    P(
        "ja_layer_norm", JA, "(x - mean(x))/sqrt(mean((x - mean(x))^2) + c)", "x",
        "(eye(n) - ones(n)@ones(n).T/dim(n))/sqrt(mean((x - mean(x))**2) + c)"
        " - (x - mean(x))@(x - mean(x)).T/(dim(n)*sqrt(mean((x - mean(x))**2) + c)**3)",
        shapes={"x": "n"},
    ),
    P("ja_centering", JA, "x - mean(x)", "x", "eye(n) - ones(n)@ones(n).T/dim(n)", shapes={"x": "n"}),
    P("ja_vector_by_scalar", JA, "exp(a*x)", "a", "x*exp(a*x)"),
    P("ja_matrix_by_scalar", JA, "inv(A + t*B)", "t", "-inv(A + t*B)@B@inv(A + t*B)", shapes={"t": "scalar"}),
    P("ja_quad_form_vector", JA, "X.T@A@X@y", "y", "X.T@A@X"),
    # ------------------------------------------------------------------ more textbook staples
    P("ex_weighted_ls_diag", GB, "(y - X@w).T@diag(v)@(y - X@w)", "w", "-2*X.T@diag(v)@(y - X@w)"),
    P("ex_weighted_ls_sym", CB, "(y - X@w).T@W@(y - X@w)", "w", "-2*X.T@W@(y - X@w)", shapes={"W": "m x m symmetric"}),
    P("ex_logdet_I_plus_XXt", CB, "logdet(eye(n) + X@X.T)", "X", "2*inv(eye(n) + X@X.T)@X", shapes={"X": "n x k"}),
    P("ex_tr_inv_gram", CB, "tr(inv(X.T@X))", "X", "-2*X@inv(X.T@X)@inv(X.T@X)"),
    P("ex_orthogonality_penalty", GB, "norm(X.T@X - eye(n))^2", "X", "4*X@(X.T@X - eye(n))", shapes={"X": "m x n"}),
    P(
        "ex_relu_3_layer_W1", BP, "0.5*norm(W3@relu(W2@relu(W1@x)) - y)^2", "W1",
        "((W2.T@((W3.T@(W3@relu(W2@relu(W1@x)) - y))*(W2@relu(W1@x) > 0)))*(W1@x > 0))@x.T",
    ),
    P(
        "ex_logsumexp_affine_hessian", BV, "logsumexp(X@w)", "w",
        "X.T@(diag(softmax(X@w)) - softmax(X@w)@softmax(X@w).T)@X", order=2,
    ),
    P("ex_softmax_regression_lse_form", GB, "sum(logsumexp(X@W)) - sum(Y*(X@W))", "W", "X.T@(softmax(X@W) - Y)"),
    P("ex_gaussian_kernel_hessian", HS, "exp(-0.5*x.T@x)", "x", "exp(-0.5*x.T@x)*(x@x.T - eye(n))", shapes={"x": "n"}, order=2),
    P("ex_log_sigmoid_margin", GB, "sum(log(sigmoid(y*(X@w))))", "w", "X.T@(y*sigmoid(-y*(X@w)))"),
    P("ex_tanh_second", HS, "tanh(a)", "a", "-2*tanh(a)*(1 - tanh(a)**2)", order=2),
    P(
        "ex_gaussian_cov_mle", CB, "-0.5*c*logdet(S) - 0.5*tr(inv(S)@C)", "S", "-0.5*c*inv(S) + 0.5*inv(S)@C@inv(S)",
        shapes={"S": SPD, "C": SPD},
    ),
    P("ex_symmetric_trace", CB, "tr(A@S)", "S", "(A + A.T)/2", shapes={"S": SPD}),
    P("ex_quad_by_matrix", MC, "x'*A*x", "A", "x@x.T", **ML),
    P("ex_matlab_trace_ABAt", MC, "trace(A*B*A')", "A", "A@(B + B.T)", **ML),
    P("ex_matlab_sqrt_dot", MC, "sqrt(x'*x)", "x", "x/sqrt(x.T@x)", **ML),
    P("ex_matlab_gauss", MC, "exp(-x'*x)", "x", "-2*exp(-x.T@x)*x", **ML),
    P("ex_matlab_elementwise_pow", MC, "sum(x.^(1/2))", "x", "0.5/sqrt(x)", **ML),
    P("ex_matlab_matrix_inverse_power", MC, "tr(X^-1)", "X", "-(inv(X)@inv(X)).T", **ML),
    P("ex_matlab_matrix_cube", MC, "tr(X^3)", "X", "3*(X@X).T", **ML),
    P("ex_bias_and_weight_dict_W", GB, "0.5*norm(W@x + b - y)^2", "W", "(W@x + b - y)@x.T", shapes={"b": "vector"}),
    P("ex_greek_unicode", GB, "λ*norm(w)^2 + norm(X@w - y)^2", "w", "2*λ*w + 2*X.T@(X@w - y)"),
    # ------------------------------------------------------------------ currently failing: ugly or oversized results
    P(
        "ex_rayleigh_quotient", CB, "x.T@A@x/(x.T@x)", "x", "2*(A@x - (x.T@A@x)/(x.T@x)*x)/(x.T@x)",
        shapes={"A": SPD},
    ),
    P("ug_dot_commutes", CB, "x.T@a@a.T@x", "x", "2*(a.T@x)*a", shapes={"a": "vector"}),
    P("ug_variance", GB, "sum((x - mean(x))^2)", "x", "2*(x - mean(x))"),
    P("ug_softmax_expectation", AT, "softmax(z).T@y", "z", "softmax(z)*(y - softmax(z).T@y)"),
    P(
        "ug_softmax_mse", GB, "0.5*norm(softmax(z) - y)^2", "z",
        "softmax(z)*(softmax(z) - y - softmax(z).T@(softmax(z) - y))",
    ),
    P("ug_sigmoid_second", HS, "sigmoid(a)", "a", "sigmoid(a)*(1 - sigmoid(a))*(1 - 2*sigmoid(a))", order=2),
    # the logistic function written out, as a textbook first defines it
    P("ug_logistic_written_out", GB, "1/(1 + exp(-w'@x))", "w", "sigmoid(w.T@x)*(1 - sigmoid(w.T@x))*x"),
    P("ug_logistic_exp_ratio", GB, "exp(z)/(1 + exp(z))", "z", "diag(sigmoid(z)*(1 - sigmoid(z)))"),
    # quotients that have a name: the log-cosh loss, log Σ exp written out
    P("ug_log_cosh", GB, "sum(log(cosh(x - y)))", "x", "tanh(x - y)"),
    P("ug_log_cos", CB, "sum(log(cos(x)))", "x", "-tan(x)"),
    P("ug_logsumexp_written_out", GB, "log(sum(exp(z)))", "z", "softmax(z)"),
    # the same factoring inside a layer, where 1 − σ and σ − 1 must be recognised as one factor
    P(
        "ug_sigmoid_layer_hessian", HS, "sum(sigmoid(W@x))", "x",
        "W.T@diag(sigmoid(W@x)*(1 - sigmoid(W@x))*(1 - 2*sigmoid(W@x)))@W", order=2,
    ),
    P(
        "ug_log_quad_hessian", HS, "log(x.T@A@x)", "x",
        "(A + A.T)/(x.T@A@x) - (A + A.T)@x@x.T@(A + A.T)/(x.T@A@x)**2", order=2,
    ),
    P("ug_tr_kron_self", CB, "tr(kron(X, X))", "X", "2*tr(X)*eye(n)", shapes={"X": "n x n"}),
    P("ug_diag_sandwich_sum", CB, "sum(diag(x)@A@diag(x))", "x", "(A + A.T)@x"),
    # the diagonal of a matrix, diag(X), as a vector
    P("dg_sum_diagonal", CB, "sum(diag(X))", "X", "eye(n)", shapes={"X": "n x n"}),
    P("dg_diagonal_norm", CB, "diag(X)'@diag(X)", "X", "2*diag(diag(X))", shapes={"X": "n x n"}),
    P("dg_log_diagonal", CB, "sum(log(diag(X)))", "X", "diag(1/diag(X))", shapes={"X": "n x n"}),
    P("dg_gram_diagonal", CB, "sum(diag(X@X'))", "X", "2*X", shapes={"X": "n x n"}),
    P("dg_outer_diagonal", MC, "diag(x@y')", "x", "diag(y)"),
    # vec(X)ᵀvec(X) = ‖X‖²_F: the gradient comes back through unvec, which must not stay
    P("vc_vec_inner", CB, "vec(X)'@vec(X)", "X", "2*X"),
    P("vc_vec_inner_sum", CB, "vec(X)'@vec(X) + vec(A)'@vec(X)", "X", "A + 2*X", shapes={"A": "m x n", "X": "m x n"}),
    P("vc_vec_inner_scaled", CB, "a*vec(X)'@vec(X) + vec(X)'@vec(Y)", "X", "2*a*X + Y", shapes={"X": "m x n", "Y": "m x n"}),
    P("cb_logdet_AXB", CB, "logdet(A@X@B)", "X", "inv(X).T", shapes={"A": "n x n", "X": "n x n", "B": "n x n"}),
    P("cb_logdet_XX", CB, "logdet(X@X)", "X", "2*inv(X).T", shapes={"X": "n x n"}),
    P("dg_trace_of_inverse_as_diagonal", CB, "sum(diag(inv(X)))", "X", "-inv(X).T@inv(X).T", shapes={"X": "n x n"}),
    P("dg_scaled_diagonal", CB, "sum(diag(3*x))", "x", "3*ones(n)"),
    P("dg_weighted_diagonal", CB, "v'@diag(A@X@B)", "X", "A.T@diag(v)@B.T", shapes={"A": "n x n", "X": "n x n", "B": "n x n"}),
    # |a|: its derivative sign(a) must meet a, |a| or |a|⁻¹ again and cancel (d log|det X| = tr(X⁻¹dX))
    P("ab_log_abs_det", CB, "log(abs(det(X)))", "X", "inv(X).T", shapes={"X": "n x n"}),
    P("ab_log_abs", GB, "sum(log(abs(x)))", "x", "1/x"),
    P("ab_abs_square", CB, "sum(abs(x)^2)", "x", "2*x"),
    P("ab_abs_fourth", CB, "sum(abs(x)^4)", "x", "4*x**3"),
    P("ab_abs_cube", CB, "sum(abs(x)^3)", "x", "3*x*abs(x)"),
    # the Lagrangian of an orthogonality constraint: the multiplier's sign comes out of the sum
    P(
        "ug_orthogonality_lagrangian", BV, "tr(W'@S@W) - tr(L@(W'@W - eye(k)))", "W", "(S + S.T)@W - W@(L + L.T)",
        shapes={"W": "n x k", "S": "n x n", "L": "k x k"},
    ),
    # a square root of a sum of squares is a norm
    P("nm_sqrt_sum_squares", CB, "sqrt(sum(x^2))", "x", "x/norm(x)"),
    P("nm_sqrt_trace_gram", CB, "sqrt(tr(X.T@X))", "X", "X/norm(X)"),
    # activations written with other functions, and log1p / expm1
    P("act_silu", GB, "sum(silu(x))", "x", "sigmoid(x)*(1 + x*(1 - sigmoid(x)))"),
    P("act_leaky_relu_layer", GB, "sum(leaky_relu(W@x))", "W", "((W@x > 0) + 0.01*(W@x < 0))@x.T"),
    P("act_elu", GB, "sum(elu(x, 0.5))", "x", "(x > 0) + 0.5*(x <= 0)*exp(x)"),
    P("act_log_sigmoid", GB, "sum(log_sigmoid(x))", "x", "sigmoid(-x)"),
    P("act_log_softmax_ce", CS, "-y'@log_softmax(W@x)", "W", "(sum(y)*softmax(W@x) - y)@x.T"),
    P("act_log1p_exp", GB, "sum(log1p(exp(x)))", "x", "sigmoid(x)"),
    P("act_expm1", GB, "sum(expm1(2*x))", "x", "2*exp(2*x)"),
    P("act_log2", GB, "sum(log2(x))", "x", "1/(x*log(2))"),
    # NumPy's 1-D reductions: X - mean(X, axis=0) centres the columns (the mean is a row), an
    # axis argument picks softmax's and logsumexp's direction, keepdims=True keeps a column
    P("np_centre_columns", GB, "sum((X - mean(X, axis=0))^2)", "X", "2*(X - mean(X, 0))", shapes={"X": "m x n"}),
    P("np_centre_rows_keepdims", GB, "sum((X - mean(X, axis=1, keepdims=True))^2)", "X", "2*(X - mean(X, 1, keepdims=True))", shapes={"X": "m x n"}),
    P("np_1d_on_the_left", GB, "mean(X, axis=0)@w", "X", "ones(m)@w.T/m", shapes={"X": "m x n"}),
    P(
        "np_softmax_rows_axis", CS, "-sum(Y*log(softmax(X@W, axis=1)))", "W",
        "X.T@(softmax(X@W)*sum(Y, 1, keepdims=True) - Y)", shapes={"X": "m x d", "W": "d x k", "Y": "m x k"},
    ),
    P("np_logsumexp_columns", GB, "sum(logsumexp(X, axis=0))", "X", "softmax(X.T).T", shapes={"X": "m x n"}),
    P("np_logsumexp_rows_keepdims", GB, "sum(Y*(X - logsumexp(X, axis=1, keepdims=True)))", "X", "Y - softmax(X)*sum(Y, 1, keepdims=True)", shapes={"X": "m x n"}),
    # ------------------------------------------------------------------ currently failing: input a textbook user types
    P("ug_kron_vectors_by_x", MN, "kron(x, y)", "x", "kron(eye(n), y)", shapes={"x": "n"}),
    P("ug_kron_vectors_by_y", MN, "kron(x, y)", "y", "kron(x, eye(m))", shapes={"y": "m"}),
    P("in_latex_transpose", MC, "x^T@A@x", "x", "(A + A.T)@x"),
    P("in_unicode_transpose", MC, "xᵀ@A@x", "x", "(A + A.T)@x"),
    P("in_norm_fro_string", CB, "norm(X, 'fro')^2", "X", "2*X"),
    P("in_trace_expm", CB, "tr(expm(X))", "X", "expm(X).T"),
    # the matrix exponential: closed forms exist in a trace and along a fixed direction
    P("ex_trace_expm_AX", CB, "tr(expm(A@X))", "X", "A.T@expm(A@X).T", shapes={"A": "n x n", "X": "n x n"}),
    P("ex_expm_tA_by_t", CB, "expm(t*A)", "t", "A@expm(t*A)", shapes={"t": "scalar", "A": "n x n"}),
    P("ex_trace_expm_gram", CB, "tr(expm(X.T@X))", "X", "2*X@expm(X.T@X)", shapes={"X": "m x n"}),
    P("ex_logdet_expm", CB, "logdet(expm(X))", "X", "eye(n)", shapes={"X": "n x n"}),
    P("ex_det_expm", CB, "det(expm(X))", "X", "exp(tr(X))*eye(n)", shapes={"X": "n x n"}),
    P("ex_trace_inv_expm", CB, "tr(inv(X)@expm(X))", "X", "expm(X).T@inv(X).T - inv(X).T@expm(X).T@inv(X).T", shapes={"X": "n x n"}),
    P("ex_trace_expm_second_by_t", CB, "tr(expm(t*A))", "t", "tr(A@A@expm(t*A))", shapes={"t": "scalar", "A": "n x n"}, order=2),
    # GELU, erf and π: Φ(x) = (1 + erf(x/√2))/2, φ(x) = exp(−x²/2)/√(2π)
    P("gelu_exact", HG, "sum(gelu(x))", "x", "(1 + erf(x/sqrt(2)))/2 + x*exp(-x**2/2)/sqrt(2*pi)"),
    P("gelu_layer", HG, "sum(gelu(W@x))", "W", "((1 + erf(W@x/sqrt(2)))/2 + (W@x)*exp(-(W@x)**2/2)/sqrt(2*pi))@x.T"),
    P("gelu_written_out", HG, "0.5*x'@(1 + erf(x/sqrt(2)))", "x", "(1 + erf(x/sqrt(2)))/2 + x*exp(-x**2/2)/sqrt(2*pi)"),
    P("gelu_torch_functional", HG, "F.gelu(z).sum()", "z", "(1 + erf(z/sqrt(2)))/2 + z*exp(-z**2/2)/sqrt(2*pi)"),
    P(
        "gelu_tanh", HG, "sum(gelu(x, approximate='tanh'))", "x",
        "(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))/2"
        " + x*(1 - tanh(sqrt(2/pi)*(x + 0.044715*x**3))**2)*sqrt(2/pi)*(1 + 3*0.044715*x**2)/2",
    ),
    P("erf_layer", GB, "sum(erf(W@x))", "W", "(2/sqrt(pi))*exp(-(W@x)**2)@x.T"),
    P("erf_hessian", GB, "sum(erf(x))", "x", "diag(-4*x*exp(-x**2)/sqrt(pi))", order=2),
    P("pi_constant", GP, "sin(np.pi*t)*x'@x", "t", "pi*cos(pi*t)*(x.T@x)", shapes={"t": "scalar"}),
    P(
        "gaussian_density_by_mean", GP, "exp(-0.5*(x - m)'@inv(S)@(x - m))/sqrt((2*pi)^k*det(S))", "m",
        "exp(-0.5*(x - m).T@inv(S)@(x - m))/sqrt((2*pi)**k*det(S))*(inv(S)@(x - m))",
        shapes={"S": "n x n symmetric", "k": "scalar"},
    ),
    # variance and standard deviation: NumPy's ddof=0 by default, torch.var's 1
    P("var_vector", ST, "var(x)", "x", "2*(x - mean(x))/n", shapes={"x": "n"}),
    P("var_sample", ST, "var(x, ddof=1)", "x", "2*(x - mean(x))/(n - 1)", shapes={"x": "n"}),
    P("var_torch_unbiased", ST, "torch.var(x)", "x", "2*(x - mean(x))/(n - 1)", shapes={"x": "n"}),
    P("std_vector", ST, "std(x)", "x", "(x - mean(x))/(n*std(x))", shapes={"x": "n"}),
    P("var_rows", ST, "sum(var(X, axis=1))", "X", "2*(X - mean(X, 1, keepdims=True))/n", shapes={"X": "m x n"}),
    P("layer_norm", ST, "sum(g*(x - mean(x))/sqrt(var(x) + 1e-5))", "g", "(x - mean(x))/sqrt(var(x) + 1e-5)", shapes={"g": "n"}),
    # NumPy's 1-D vectors on the left of @: x @ A @ x is the quadratic form, w @ x the inner product
    P("np_1d_quadratic_form", CB, "x @ A @ x", "x", "(A + A.T)@x"),
    P("np_1d_inner_bias", PH, "w @ x + b", "w", "x"),
    P("np_1d_dot_chain", CB, "x.dot(A).dot(x)", "A", "x@x.T"),
    P("np_1d_ridge", BV, "(X @ w - y) @ (X @ w - y) + lam * w @ w", "w", "2*X.T@(X@w - y) + 2*lam*w", shapes={"lam": "scalar"}),
    # max and min of the entries: the derivative is dX at the largest entry (shared by ties);
    # the max-shift of a stable softmax or logsumexp changes nothing and leaves no trace
    P("max_vector", GB, "max(x)", "x", "(x >= max(x))/sum(x >= max(x))"),
    P("min_of_linear", GB, "min(W@x)", "W", "((W@x <= min(W@x))/sum(W@x <= min(W@x)))@x.T"),
    P("max_norm_infinity", CB, "max(abs(x))", "x", "sign(x)*(abs(x) >= max(abs(x)))/sum(abs(x) >= max(abs(x)))"),
    P("max_pool_rows", CS, "sum(w*max(X, axis=1))", "X", shapes={"X": "m x n", "w": "m"}),
    P("stable_softmax_numpy", CS, "np.exp(z - z.max()) / np.exp(z - z.max()).sum()", "z", "diag(softmax(z)) - softmax(z)@softmax(z).T"),
    P("stable_logsumexp", GB, "max(x) + log(sum(exp(x - max(x))))", "x", "softmax(x)"),
    P(
        "stable_softmax_rows_ce", CS, "-sum(Y*log(softmax(X@W - max(X@W, axis=1, keepdims=True), axis=1)))", "W",
        "X.T@(softmax(X@W)*sum(Y, 1, keepdims=True) - Y)", shapes={"X": "m x d", "W": "d x k", "Y": "m x k"},
    ),
    P("stable_lse_rows", GB, "sum(logsumexp(X - max(X, axis=1, keepdims=True), axis=1) + max(X, axis=1))", "X", "softmax(X)", shapes={"X": "m x n"}),
    # the log-sum-exp of a linear map, a diagonal weighting, the log-cosh loss, a Gaussian's covariance
    P("lse_linear_by_W", GB, "log(sum(exp(W@x)))", "W", "softmax(W@x)@x.T"),
    P("diag_weighted_sum", CB, "sum(X@diag(w)@Y)", "w", "(X.T@ones(m))*(Y@ones(n))", shapes={"X": "m x k", "Y": "k x n", "w": "k"}),
    P("logcosh_regression", GB, "mean(log(cosh(y - X@w)))", "w", "-X.T@tanh(y - X@w)/m", shapes={"X": "m x n"}),
    P(
        "gaussian_quadratic_by_cov", CB, "(x - m)'@inv(S)@(x - m)", "S", "-inv(S)@(x - m)@(x - m).T@inv(S)",
        shapes={"S": "n x n symmetric"},
    ),
    # softmax written out (as NumPy code does) is differentiated as softmax
    P("softmax_written_out", CS, "exp(x)/sum(exp(x))", "x", "diag(softmax(x)) - softmax(x)@softmax(x).T"),
    P(
        "np_softmax_rows_written_out", CS, "-np.sum(Y * np.log(np.exp(X @ W) / np.exp(X @ W).sum(axis=1, keepdims=True)))", "W",
        "X.T@(softmax(X@W)*sum(Y, 1, keepdims=True) - Y)", shapes={"X": "m x d", "W": "d x k", "Y": "m x k"},
    ),
    P("np_solve", BV, "x @ np.linalg.solve(A, b)", "b", "inv(A).T@x", shapes={"b": "n"}),
    P("torch_matmul", GB, "torch.matmul(W, x).sum()", "W", "ones(m)@x.T", shapes={"W": "m x n"}),
    P("torch_mm_method", GB, "A.mm(B).trace()", "A", "B.T", shapes={"A": "n x k", "B": "k x n"}),
    P("np_inner", PH, "np.inner(w, x) + b", "w", "x"),
    # more NumPy / PyTorch spellings
    P("np_clip", GB, "sum(clip(W@x, -1, 1))", "W", "((W@x > -1)*(W@x < 1))@x.T"),
    P("torch_clamp_below", GB, "sum(torch.clamp(x, 0, 6))", "x", "(x > 0)*(x < 6)"),
    P("np_where_leaky", GB, "sum(np.where(W@x > 0, W@x, 0.2*(W@x)))", "W", "((W@x > 0) + 0.2*(W@x <= 0))@x.T"),
    P("np_reciprocal", GB, "sum(np.reciprocal(x))", "x", "-1/x**2"),
    P("np_cbrt", GB, "sum(np.cbrt(x))", "x", "1/(3*abs(x)**(2/3))"),
    # N, n, k as sizes: scalars where the naming convention would make the objective a matrix
    P("wishart_sample_size", MN, "-N/2*logdet(S) - 0.5*tr(inv(S)@C)", "S", "(inv(S).T@C.T@inv(S).T - N*inv(S).T)/2"),
    P("mse_over_batch_size", GB, "sum((X@w - y)^2)/N", "w", "2*X.T@(X@w - y)/N"),
    P("kl_gaussians_dimension", MN, "0.5*(tr(inv(S2)@S1) + (m2-m1)'*inv(S2)*(m2-m1) - n + log(det(S2)) - log(det(S1)))", "S1",
      "(inv(S2).T - inv(S1).T)/2", syntax="matlab", shapes={"m1": "vector", "m2": "vector"}),
    # σ(−z) = 1 − σ(z); a trace or diagonal of a log-softmax (contrastive losses): I𝟙 = 𝟙
    P("bce_log_sigmoid", GB, "-sum(y*log_sigmoid(z) + (1 - y)*log_sigmoid(-z))", "z", "sigmoid(z) - y"),
    P("infonce_trace", AT, "-np.trace(log_softmax(A @ B.T / tau, axis=1))", "A", "(softmax(A@B.T/tau) - eye(m))@B/tau",
      shapes={"A": "m x d", "B": "m x d"}),
    P("infonce_diag_mean", AT, "-mean(diag(log_softmax(A@B.T/tau)))", "A", "(softmax(A@B.T/tau) - eye(m))@B/(m*tau)",
      shapes={"A": "m x d", "B": "m x d"}),
    # symmetric matrices written two ways: the gradient by a symmetric matrix is G itself when G is symmetric
    P("gplvm_linear_kernel", GP, "0.5*y.T@inv(X@X.T + b*eye(n))@y + 0.5*logdet(X@X.T + b*eye(n))", "X",
      "(inv(X@X.T + b*eye(n)) - inv(X@X.T + b*eye(n))@y@y.T@inv(X@X.T + b*eye(n)))@X", shapes={"X": "n x d"}),
    P("kl_gaussians_by_covariance", MN, "0.5*(tr(inv(S2)@S1) + (m2 - m1).T@inv(S2)@(m2 - m1) - dim(n) + logdet(S2) - logdet(S1))", "S2",
      "(inv(S2) - inv(S2)@(S1 + (m2 - m1)@(m2 - m1).T)@inv(S2))/2", shapes={"S1": SPD, "S2": SPD, "m1": "n", "m2": "n"}),
    P("kalman_innovation_by_noise", GB, "logdet(H@P@H.T + R) + r.T@inv(H@P@H.T + R)@r", "R",
      "inv(H@P@H.T + R) - inv(H@P@H.T + R)@r@r.T@inv(H@P@H.T + R)", shapes={"P": SPD, "R": "m x m symmetric", "H": "m x n"}),
    P("ppca_by_loadings", GP, "-0.5*c*(logdet(W@W.T + s*eye(d)) + tr(inv(W@W.T + s*eye(d))@S))", "W",
      "c*(inv(W@W.T + s*eye(d))@S@inv(W@W.T + s*eye(d)) - inv(W@W.T + s*eye(d)))@W", shapes={"S": "d x d symmetric", "s": "scalar", "W": "d x k"}),
    # Hessians free of vec and ⊗ where the textbook needs neither; Kronecker Hessians factored
    P("rayleigh_quotient_hessian", BV, "x.T@A@x/(x.T@x)", "x",
      "2*(A/(x.T@x) - (x.T@A@x)*eye(n)/(x.T@x)**2 - 2*(A@x@x.T + x@x.T@A)/(x.T@x)**2 + 4*(x.T@A@x)*x@x.T/(x.T@x)**3)",
      shapes={"A": SPD}, order=2),
    P("product_of_quadratics_hessian", HS, "(x.T@A@x)*(x.T@B@x)", "x", "2*((x.T@B@x)*A + (x.T@A@x)*B) + 4*(A@x@x.T@B + B@x@x.T@A)",
      shapes={"A": SPD, "B": SPD}, order=2),
    P("softmax_ce_hessian_by_weights", GB, "-y.T@log_softmax(W@x)", "W",
      "sum(y)*kron(x@x.T, diag(softmax(W@x)) - softmax(W@x)@softmax(W@x).T)", order=2),
    P("softplus_layer_hessian", HS, "sum(softplus(W@x))", "W", "kron(x@x.T, diag(sigmoid(W@x)*(1 - sigmoid(W@x))))", order=2),
    P("jacobian_through_diag", JA, "diag(x)@A@x", "x", "diag(A@x) + diag(x)@A"),
    P("sqrt_det", CB, "sqrt(det(S))", "S", "sqrt(det(S))*inv(S)/2", shapes={"S": SPD}),
    P("logdet_scaled", CB, "0.5*logdet(2*pi*S)", "S", "inv(S)/2", shapes={"S": SPD}),
    P("sum_of_inverse", CB, "sum(inv(X))", "X", "-inv(X).T@ones(n)@ones(n).T@inv(X).T", shapes={"X": "n x n"}),
    # NumPy's e, logaddexp and new axes
    P("np_e_power", GB, "np.e**(x.T@A@x)", "x", "exp(x.T@A@x)*(A + A.T)@x"),
    P("np_logaddexp_logistic", BV, "np.sum(np.logaddexp(0, -y*(X@w)))", "w", "-X.T@(sigmoid(-y*(X@w))*y)"),
    P("log_of_exp", GB, "sum(log(exp(W@x)))", "W", "ones(m)@x.T", shapes={"W": "m x n"}),
    P("np_new_axis_row", ST, "sum(G*(X - X.mean(axis=0)[None, :]))", "X", "G - ones(m)@ones(m).T@G/m", shapes={"X": "m x n"}),
    P("np_new_axis_column", GB, "sum(w[:, None]*X)", "w", "X@ones(n)", shapes={"X": "m x n"}),
    P("torch_cross_entropy_one_sample", CS, "F.cross_entropy(W@x, y)", "W", "(sum(y)*softmax(W@x) - y)@x.T"),
    P("torch_cross_entropy_batch", CS, "F.cross_entropy(X@W, Y, reduction='sum')", "W", "X.T@(softmax(X@W)*sum(Y, 1, keepdims=True) - Y)"),
    P("det_of_power", CB, "det(matrix_power(X, 3))", "X", "3*det(X)**3*inv(X).T"),
    P("logdet_of_power", CB, "logdet(matrix_power(X, 3))", "X", "3*inv(X).T"),
    # library spellings read as the library means them
    P("np_clip_open_bound", GB, "np.clip(x, 0, None).sum()", "x", "(x > 0)*1.0"),
    P("torch_clamp_min", GB, "torch.clamp(W@x, min=0).sum()", "W", "(W@x > 0)@x.T"),
    P("np_clip_inf_bound", GB, "np.clip(W@x, -1, np.inf).sum()", "W", "(W@x > -1)@x.T"),
    P("torch_mse_loss", GB, "F.mse_loss(W@x, y)", "W", "2*(W@x - y)@x.T/m", shapes={"W": "m x n"}),
    P("torch_bce_with_logits", GB, "F.binary_cross_entropy_with_logits(X@w, y)", "w", "X.T@(sigmoid(X@w) - y)/m", shapes={"X": "m x n"}),
    P("torch_bce_probabilities", GB, "F.binary_cross_entropy(torch.sigmoid(X@w), y, reduction='sum')", "w", "X.T@(sigmoid(X@w) - y)"),
    P("scipy_logsumexp_every_entry", GB, "scipy.special.logsumexp(X)", "X", None),  # the softmax of all entries
    P("jax_gelu_is_tanh_approximation", HG, "jax.nn.gelu(z).sum()", "z", None),
    P("torch_tensor_var_unbiased", ST, "x.var(dim=0)", "x", "2*(x - mean(x))/(n - 1)"),
    P("unicode_half", GB, "½*norm(W@x - y)^2", "W", "(W@x - y)@x.T"),
    P("unicode_pasted_back", GB, "‖W@x − y‖² + λ*(w·w)", "W", "2*(W@x - y)@x.T"),
    P("vec_inner_product", MN, "vec(A@X@B).T@vec(C)", "X", "A.T@C@B.T"),
    P("kron_trace", MN, "tr(A ⊗ X)", "X", None),
    P("max_norm", BV, "np.linalg.norm(x, np.inf)", "x", None),
    P("row_norms", GB, "np.linalg.norm(A, axis=1).sum()", "A", None),
    P("attention_transpose_spelling", AT, "sum(G*(Q@K.transpose(-2, -1)))", "K", "G.T@Q"),
    P("torch_mT", AT, "sum(G*(Q@K.mT))", "Q", "G@K"),
    # MATLAB's divisions: A\b = A⁻¹b (the solution of Ax = b), B/A = BA⁻¹
    P("ml_backslash_by_b", BV, "A\\b", "b", "inv(A)", **ML),
    P("ml_backslash_by_A", MN, "A\\b", "A", "-kron((inv(A)@b).T, inv(A))", **ML),
    P("ml_backslash_quadratic", MN, "x'*(A\\b)", "A", "-inv(A).T@x@(inv(A)@b).T", **ML),
    P("ml_backslash_lsq", BV, "norm2(y - X*((X'*X)\\(X'*y)))^2", "y", None, **ML),
    # the hat matrix H = X(XᵀX)⁻¹Xᵀ is idempotent: ∂‖Hy‖²/∂y = 2HᵀHy = 2Hy
    P("hat_matrix_fitted_norm", GB, "norm(X@inv(X.T@X)@X.T@y)**2", "y", "2*X@inv(X.T@X)@X.T@y", shapes={"X": "m x n"}),
    # Gram matrices of a wide X: the finite-difference check needs X's rows fewer than its columns
    P("gram_logdet", CB, "logdet(X@X.T)", "X", "2*inv(X@X.T)@X"),
    P("gram_tr_inv", CB, "tr(inv(X@X.T))", "X", "-2*inv(X@X.T)@inv(X@X.T)@X"),
    P("gram_det_weighted", CB, "det(X@A@X.T)", "X", "det(X@A@X.T)*(inv(X@A@X.T)@X@A + inv(X@A@X.T).T@X@A.T)"),
    # X^-T as written in papers: the inverse transpose (T names nothing else)
    P("caret_inverse_transpose", CB, "a.T@X^-T@b", "X", "-inv(X).T@b@a.T@inv(X).T"),
    P("ml_caret_inverse_transpose", CB, "a'*X^(-T)*b", "X", "-inv(X).T@b@a.T@inv(X).T", **ML),
    # second derivatives of a matrix or vector by a scalar (Magnus & Neudecker ch. 8; the exponential's ODE)
    P("inv_pencil_second", MN, "inv(A + t*B)", "t", "2*inv(A + t*B)@B@inv(A + t*B)@B@inv(A + t*B)", shapes={"t": "scalar"}, order=2),
    P("expm_second", MN, "expm(t*A)", "t", "A@A@expm(t*A)", shapes={"t": "scalar"}, order=2),
    P("exp_vector_second", GB, "exp(t*x)", "t", "exp(t*x)*x**2", shapes={"t": "scalar"}, order=2),
    P("ml_right_division", MN, "tr(B/A)", "A", "-(inv(A)@B@inv(A)).T", **ML),
    P("ml_right_division_scalar", MC, "x'*X/c", "c", "-(x.T@X)/c**2", **ML),
    # logarithmic differentiation: d log(u/v) = du/u − dv/v, not the chain rule through the quotient
    P("gb_logit_sum", GB, "sum(log(p/(1 - p)))", "p", "1/p + 1/(1 - p)"),
    P("bv_log_ratio_poly", BV, "sum(log(x**3/(1 + x**2)))", "x", "3/x - 2*x/(1 + x**2)"),
    P("mn_log_normalised", MN, "sum(y*log(x/sum(x)))", "x", "y/x - sum(y)/sum(x)"),
    P("mn_log_scaled_quad", MN, "log(x.T@A@x/(x.T@x))", "x", "(A + A.T)@x/(x.T@A@x) - 2*x/(x.T@x)"),
    # the numerically stable log-softmax of cs231n's assignments: the row maxima cancel
    P(
        "cs_stable_log_softmax_rows", CS,
        "-sum(Y*(Z - max(Z, axis=1, keepdims=True) - log(sum(exp(Z - max(Z, axis=1, keepdims=True)), axis=1, keepdims=True))))",
        "Z", "sum(Y, 1, keepdims=True)*softmax(Z) - Y",
    ),
    P(
        "cs_stable_softmax_ce_rows", CS,
        "-np.sum(Y*np.log(np.exp(Z - Z.max(axis=1, keepdims=True))/np.exp(Z - Z.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)))",
        "Z", "sum(Y, 1, keepdims=True)*softmax(Z) - Y",
    ),
    # a squared norm beside the norm: (x·x)/‖x‖ is ‖x‖
    P("cb_square_over_norm", CB, "(x.T@x)/norm(x) + 2*norm(x)", "x", "3*x/norm(x)"),
    P("cb_frobenius_square_times_norm", CB, "tr(X.T@X)*norm(X, 'fro')", "X", "3*norm(X)*X"),
    P("gb_log_bernoulli_variance", GB, "sum(log(sigmoid(z)*(1 - sigmoid(z))))", "z", "1 - 2*sigmoid(z)"),
    # session 2026-12-04, third round: QA finds and textbook spellings
    P("bv_logsumexp_affine_written_out", BV, "log(sum(exp(A@x + b)))", "x", "A.T@softmax(A@x + b)", shapes={"b": "m"}),
    P("mml_least_squares_matlab", "Deisenroth et al.", "(y - X*theta)'*(y - X*theta)", "theta", "2*X.T@(X@theta - y)", **ML),
    P("cb_diag_quadratic", CB, "x'@diag(a)@x", "a", "x**2"),
    P("cb_norm_bars_ascii", CB, "||A@x - y||^2 + lam*||x||^2", "x", "2*A.T@(A@x - y) + 2*lam*x"),
    P("bv_geometric_mean", BV, "prod(x)^(1/n)", "x", "prod(x)**(1/n)/(n*x)", shapes={"x": "n"}),
    P("cb_product_of_entries", CB, "np.prod(A@x)", "x", "prod(A@x)*A.T@(1/(A@x))"),
    # centred data times anything sums to zero (PCA's centring, written as NumPy code)
    P("np_centred_product_sum", "PCA", "np.sum((X - X.mean(0)) @ W)", "X", "0*X"),
    # a Gaussian's log-scale a = log σ: (xᵀ − mᵀ)(m − x) is −‖x − m‖²
    P("gp_log_scale_second_derivative", GP, "-0.5*norm(exp(-a)*(x-m))^2 - n*a", "a", "-2*exp(-2*a)*norm(x - m)**2", order=2),
    P("cb_inverse_braces", CB, "a'*X^{-1}*b", "X", "-inv(X).T@a@b.T@inv(X).T", **ML),
]

# Why each failing problem fails today, by cause.  The test marks these
# xfail(strict=True); fix the engine, and the mark must be removed here.
KNOWN_FAILURES: dict[str, str] = {
    # -- crash / check failure: the finite-difference reference cannot run
    # -- ugly or oversized results (values are right)
    # -- the a–g scalar convention against what the user typed
    # -- input a textbook user types that is parsed wrongly or not at all
    # -- unsupported constructs
}

_ids = {p.id for p in PROBLEMS}
assert set(KNOWN_FAILURES) <= _ids, set(KNOWN_FAILURES) - _ids
PROBLEMS = [replace(p, xfail=KNOWN_FAILURES.get(p.id, p.xfail)) for p in PROBLEMS]

# Problems that are genuinely invalid: diff must raise a MatcalcError (with a rendered
# message), never another exception.  (expression, wrt, keyword options)
INVALID: list[tuple[str, str, dict[str, Any]]] = [
    ("A@x", "x", {"order": 2}),  # a Hessian of a vector function
    ("x'x", "x", {"syntax": "matlab"}),  # implicit product
    ("2x", "x", {}),
    ("tr(X)", "X", {"shapes": {"X": "m x n"}}),  # trace of a declared non-square matrix
    ("x*y", "x", {"syntax": "matlab"}),  # two columns (in the numpy dialect x@y is NumPy's inner product)
    ("x@A", "x", {"shapes": {"x": "3", "A": "4 x 4"}}),  # neither a column nor NumPy's 1-D x fits A
    ("det(x)", "x", {}),
    ("foo(x)", "x", {}),
    ("sum(x", "x", {}),
    ("sum(x)", "y", {}),  # y does not occur
    ("x'*A*x", "x", {"shapes": {"A": "m x n"}, "syntax": "matlab"}),  # declared rectangular A in a quadratic form
    ("x.T@A@x", "x", {"shapes": {"A": "m x n"}}),
    ("logdet(X)", "X", {"shapes": {"X": "3 x 4"}}),
    ("A\\b", "b", {"syntax": "matlab", "shapes": {"b": "scalar"}}),  # a declared scalar right-hand side
    ("A/B", "B", {"syntax": "matlab", "shapes": {"B": "m x n"}}),  # right division by a declared non-square matrix
    ("tr(A@expm(X))", "X", {}),  # no closed form: A does not commute with X
    ("sum(expm(X))", "X", {}),
    ("tr(expm(X))", "X", {"order": 2}),  # the Hessian needs d e^X outside a trace
]
