"""NumPy's, PyTorch's and TensorFlow's spellings of arithmetic, layers and losses.

Each is a registry entry that rewrites the call into matcalc's own operations; each is
checked here against finite differences (and the random-expression generator draws
them too, rarely).  The reference values are the libraries' documented formulas.
"""

from __future__ import annotations

import numpy as np
import pytest

import matcalc
from matcalc.numeric import numeric_check

ATTENTION = {"Q": "n x p", "K": "m x p", "V": "m x q", "G": "n x q"}

CASES = [
    # (expression, wrt, shapes, the printed derivative or None)
    ("torch.mean(F.relu(1 - y * X.mv(w)))", "w", {}, "−Xᵀ((1 − y ⊙ (Xw) > 0) ⊙ y)/n"),
    ("torch.addmm(b, X, W).relu().sum()", "W", {"X": "n x p", "W": "p x k", "b": "k"}, "Xᵀ(𝟙bᵀ + XW > 0)"),
    ("torch.addmv(b, A, x, beta=2, alpha=3).sum()", "x", {}, "3(Aᵀ𝟙)"),
    ("F.linear(x, W, b).relu().sum()", "W", {"x": "p", "W": "k x p", "b": "k"}, "(Wx + b > 0)xᵀ"),
    ("F.linear(X, W, b).relu().sum()", "W", {"X": "n x p", "W": "k x p", "b": "k"}, "(XWᵀ + 𝟙bᵀ > 0)ᵀX"),
    ("F.linear(x, W).sum()", "x", {}, "Wᵀ𝟙"),
    ("torch.dist(x, y)", "x", {}, "(x − y)/‖x − y‖"),
    ("torch.dist(x, y, p=1)", "x", {}, "sign(x − y)"),
    ("F.pairwise_distance(u, v)", "u", {}, None),
    ("F.pairwise_distance(U, V).sum()", "U", {}, None),
    ("F.cosine_similarity(u, v, dim=0)", "u", {}, "(v/‖u‖ − (u·v)u/‖u‖³)/‖v‖"),
    ("F.cosine_similarity(U, V).sum()", "U", {}, None),
    ("F.margin_ranking_loss(u, v, y, margin=0.5)", "u", {}, "−(1/2 + y ⊙ (v − u) > 0) ⊙ y/n"),
    ("F.poisson_nll_loss(X@w, y)", "w", {}, "Xᵀ(exp(Xw) − y)/m"),
    ("F.gaussian_nll_loss(u, y, s, reduction='sum')", "s", {}, "(1/s − (u − y)²/s²)/2"),
    ("F.kl_div(torch.log(q), p, reduction='sum')", "q", {}, "−p/q"),
    ("F.soft_margin_loss(x, y)", "x", {}, "−σ(−y ⊙ x) ⊙ y/n"),
    ("torch.sub(X @ w, y).square().sum()", "w", {}, "2Xᵀ(Xw − y)"),
    ("torch.add(x, y, alpha=3).sum()", "y", {}, "3𝟙"),
    ("x.exp().div(x.exp().sum())", "x", {}, "diag(softmax(x)) − softmax(x) softmax(x)ᵀ"),
    ("np.subtract(np.multiply(a, x), np.divide(x, c)).sum()", "x", {}, None),
    ("sum(G*F.scaled_dot_product_attention(Q, K, V))", "V", ATTENTION, "softmax(QKᵀ/√p)ᵀ G"),
    ("sum(G*F.scaled_dot_product_attention(Q, K, V))", "Q", ATTENTION, None),
    ("tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=Y, logits=X@W))", "W", {"X": "n x p", "W": "p x k", "Y": "n x k"}, None),
    ("tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=z)", "z", {}, "sum(y) softmax(z) − y"),
    # review finds: a batch against one vector; a per-sample variance beside a square input;
    # an a–g input of mv/linear is the vector; PyTorch's positional order (margin before reduction)
    ("F.cosine_similarity(U, v).sum()", "U", {"U": "n x n"}, None),
    ("F.cosine_similarity(U, v).sum()", "v", {"U": "n x p"}, None),
    ("F.gaussian_nll_loss(U, Y, s, reduction='sum')", "s", {"U": "n x n"}, None),
    ("torch.mv(W, a).sum()", "a", {}, "Wᵀ𝟙"),
    ("F.linear(a, W).sum()", "W", {}, "𝟙aᵀ"),
    ("F.margin_ranking_loss(u, v, y, 0.5)", "u", {}, "−(1/2 + y ⊙ (v − u) > 0) ⊙ y/n"),
    ("sum(G*F.scaled_dot_product_attention(Q, K, V))", "Q", {**ATTENTION, "Q": "n x 4", "K": "m x 4"}, "(softmax(QKᵀ/2) ⊙ (GVᵀ − (((GVᵀ) ⊙ softmax(QKᵀ/2))𝟙)𝟙ᵀ))K/2"),
    ("F.softmin(z, dim=0)@y", "z", {}, None),
    ("sum(F.softmin(Z, dim=1)*Y)", "Z", {}, None),
    ("F.normalize(x, dim=0)@y", "x", {}, "y/‖x‖ − (x·y)x/‖x‖³"),
    ("sum(F.normalize(X)*Y)", "X", {}, None),
    ("sum(F.normalize(X, p=2, dim=0)*Y)", "X", {}, None),
    ("torch.linalg.vector_norm(X)", "X", {}, "X/‖X‖"),
    ("torch.linalg.vector_norm(x, ord=1)", "x", {}, "sign(x)"),
    ("torch.linalg.vector_norm(X, dim=1).sum()", "X", {}, None),
    ("tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=X@w))", "w", {}, "Xᵀ(σ(Xw) − y)/m"),
    ("sum(scipy.special.xlogy(y, softmax(z)))", "z", {}, "y − sum(y) softmax(z)"),
    ("sum(scipy.special.entr(p))", "p", {}, "−1 − log(p)"),
    ("sum(scipy.special.rel_entr(p, q))", "q", {}, "−p/q"),
]


@pytest.mark.parametrize(
    "expr, shapes, reference",
    [
        ("F.softmin(Z, dim=1)", {}, lambda Z: np.exp(-Z) / np.exp(-Z).sum(axis=1, keepdims=True)),
        ("F.softmin(Z, dim=0)", {}, lambda Z: np.exp(-Z) / np.exp(-Z).sum(axis=0, keepdims=True)),
        ("F.normalize(Z)", {}, lambda Z: Z / np.linalg.norm(Z, axis=1, keepdims=True)),
        ("F.normalize(Z, dim=0)", {}, lambda Z: Z / np.linalg.norm(Z, axis=0, keepdims=True)),
        ("F.normalize(z, dim=0)", {"z": "n"}, lambda z: z / np.linalg.norm(z)),
        ("torch.linalg.vector_norm(Z)", {}, lambda Z: np.linalg.norm(Z)),
        ("torch.linalg.vector_norm(Z, ord=1)", {}, lambda Z: np.abs(Z).sum()),
        ("torch.linalg.vector_norm(Z, dim=0)", {}, lambda Z: np.linalg.norm(Z, axis=0)),
        ("tf.nn.sigmoid_cross_entropy_with_logits(labels=0.25, logits=Z)", {}, lambda Z: np.logaddexp(0, Z) - 0.25 * Z),
        ("norm(z, 3)", {"z": "n"}, lambda z: np.linalg.norm(z.ravel(), 3)),
        ("np.linalg.norm(z, ord=1.5)", {"z": "n"}, lambda z: np.linalg.norm(z.ravel(), 1.5)),
        ("norm(z, 4)", {"z": "n"}, lambda z: np.linalg.norm(z.ravel(), 4)),
        ("torch.linalg.vector_norm(Z, ord=3)", {}, lambda Z: np.linalg.norm(Z.ravel(), 3)),
        ("scipy.special.entr(exp(Z))", {}, lambda Z: -np.exp(Z) * Z),
        ("scipy.special.xlogy(Z, exp(Z))", {}, lambda Z: Z * Z),
        ("scipy.special.rel_entr(exp(Z), exp(2*Z))", {}, lambda Z: -np.exp(Z) * Z),
    ],
)
def test_new_spellings_compute_the_library_values(expr, shapes, reference):
    """PyTorch's documented formulas, evaluated on a 3×4 (or length-3) input."""
    from matcalc.evaluate import evaluate

    c = matcalc.check(expr, {"Z": "3 x 4", **shapes})
    rng = np.random.default_rng(3)
    name = next(iter(c.variables))
    value = rng.normal(size=(3, 4) if name == "Z" else (3, 1))
    got = evaluate(c.expr, c.variables, {name: value}, {"n": 3})
    want = reference(value)
    assert np.allclose(np.asarray(got).reshape(np.shape(want)), want)


def test_cosine_similarity_of_a_batch_and_a_vector_is_pytorchs():
    """Each row of U against v: Uv/(‖Uᵢ‖‖v‖) (the review found |vᵢ| in the denominator)."""
    import numpy as np

    from matcalc.evaluate import evaluate

    c = matcalc.check("F.cosine_similarity(U, v)", {"U": "n x n", "v": "n"})
    rng = np.random.default_rng(1)
    U, v = rng.normal(size=(3, 3)), rng.normal(size=(3, 1))
    got = evaluate(c.expr, c.variables, {"U": U, "v": v}, {"n": 3}).ravel()
    want = (U @ v).ravel() / (np.linalg.norm(U, axis=1) * np.linalg.norm(v))
    assert np.allclose(got, want)


def test_gaussian_nll_variance_is_one_per_sample():
    """PyTorch unsqueezes a var of shape (n,) beside an n×p input: one variance per row."""
    import numpy as np

    from matcalc.evaluate import evaluate

    c = matcalc.check("F.gaussian_nll_loss(U, Y, s, reduction='none')", {"U": "n x n", "Y": "n x n", "s": "n"})
    rng = np.random.default_rng(2)
    U, Y, s = rng.normal(size=(3, 3)), rng.normal(size=(3, 3)), rng.uniform(0.5, 2, size=(3, 1))
    got = evaluate(c.expr, c.variables, {"U": U, "Y": Y, "s": s}, {"n": 3})
    assert np.allclose(got, 0.5 * (np.log(s) + (U - Y) ** 2 / s))


@pytest.mark.parametrize("expr,wrt,shapes,text", CASES, ids=[f"{c[0]}|{c[1]}" for c in CASES])
def test_library_spelling_differentiates_right(expr, wrt, shapes, text):
    d = matcalc.diff(expr, wrt, shapes=shapes or None)
    r = numeric_check(d)
    assert r.ok, (d.text, r.first_mismatch())
    if text is not None:
        assert d.text == text


@pytest.mark.parametrize(
    "expr,words",
    [
        ("tf.nn.softmax_cross_entropy_with_logits(z)", "takes labels= and logits="),
        ("F.pairwise_distance(u, v, p=1)", "Euclidean"),
        ("F.margin_ranking_loss(u, v, y, reduction='avg')", "reduction is 'mean', 'sum' or 'none'"),
    ],
)
def test_library_spelling_misuse_is_one_line(expr, words):
    with pytest.raises(matcalc.MatcalcError) as info:
        matcalc.diff(expr, "u" if "u" in expr else "z")
    assert words in str(info.value)


@pytest.mark.parametrize(
    "expr, reference",
    [
        ("S - x.unsqueeze(1)", lambda S, x: S - x[:, None]),
        ("S - x.unsqueeze(0)", lambda S, x: S - x[None, :]),
        ("S - x.reshape(-1, 1)", lambda S, x: S - x.reshape(-1, 1)),
        ("S - x.view(1, -1)", lambda S, x: S - x.reshape(1, -1)),
        ("S - x[:, np.newaxis]", lambda S, x: S - x[:, np.newaxis]),
        ("S - x[None]", lambda S, x: S - x[None]),
        ("S - x.reshape(-1)", lambda S, x: S - x),
        # a rewritten call keeps its reduction's orientation beside a square matrix
        ("S - torch.linalg.vector_norm(S, dim=0)", lambda S, x: S - np.linalg.norm(S, axis=0)),
        ("S - torch.linalg.vector_norm(S, dim=1, keepdim=True)", lambda S, x: S - np.linalg.norm(S, axis=1, keepdims=True)),
        ("S - F.pairwise_distance(S, S.T)", lambda S, x: S - np.linalg.norm(S - S.T + 1e-6, axis=1)),
    ],
)
def test_vectors_made_rows_or_columns_beside_a_square_matrix(expr, reference):
    """NumPy's broadcasting of each spelling, on a 3×3 matrix and a length-3 vector."""
    from matcalc.evaluate import evaluate

    c = matcalc.check(expr, {"S": "n x n", "x": "n"})
    rng = np.random.default_rng(4)
    S, x = rng.normal(size=(3, 3)), rng.normal(size=3)
    values = {k: v for k, v in {"S": S, "x": x.reshape(3, 1)}.items() if k in c.variables}
    got = evaluate(c.expr, c.variables, values, {"n": 3})
    assert np.allclose(got, reference(S, x))


def test_reshaping_a_matrix_is_refused():
    from matcalc.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="vec"):
        matcalc.diff("X.reshape(-1, 1)", "X")


@pytest.mark.parametrize(
    "expr, wrt, reference",
    [
        # QA find: .T of a 1-D array is the array itself, so these are inner products
        ("np.sum(x @ x.T)", "x", lambda x, X, w, y: 2 * x),
        ("torch.sum(x @ x.t())", "x", lambda x, X, w, y: 2 * x),
        ("np.sum(x @ x.transpose())", "x", lambda x, X, w, y: 2 * x),
        ("np.sum(w * w.T)", "w", lambda x, X, w, y: 2 * w),
        ("np.sum((X@w - y) @ (X@w - y).T)", "w", lambda x, X, w, y: 2 * X.T @ (X @ w - y)),
        # a 2-D column transposes as NumPy does: the outer product
        ("np.sum(x[:, None] @ x[:, None].T)", "x", lambda x, X, w, y: 2 * x.sum() * np.ones(3)),
    ],
)
def test_transposing_a_1d_array_in_pasted_code_changes_nothing(expr, wrt, reference):
    d = matcalc.diff(expr, wrt, shapes={"x": "3", "X": "4 x 3", "w": "3", "y": "4"})
    rng = np.random.default_rng(5)
    values = {"x": rng.normal(size=3), "X": rng.normal(size=(4, 3)), "w": rng.normal(size=3), "y": rng.normal(size=4)}
    f = d.to_function()
    got = f(**{k: values[k] for k in d.variables})
    assert np.allclose(np.ravel(got), reference(**values))


def test_transposing_a_vector_written_as_mathematics_is_the_outer_product():
    # without NumPy's names the expression is mathematics: vectors are columns
    assert matcalc.diff("sum(x @ x.T)", "x").text == "2 sum(x) 𝟙"


def test_a_matrix_named_F_is_not_pytorchs_functional_module():
    # QA regression: F.T made the expression "pasted PyTorch code", so x @ y.T became an inner product
    assert matcalc.diff("tr(F@P@F.T - (x - F@m)@(x - F@m).T)", "m").text == "2Fᵀ(x − Fm)"
    assert matcalc.diff("sum(F.T * (x @ y.T))", "x").text == "Fᵀy"


def test_review_finds_on_1d_arrays():
    # reshape(-1) of a 2-D column is 1-D again; a name declared n×1 is 2-D in expressions built from it
    assert matcalc.diff("np.sum(x[:, None].reshape(-1) * y[None, :])", "x").text == "y"
    assert matcalc.diff("np.sum((X @ w) @ (X @ w).T)", "w", shapes={"w": "n x 1"}).text == "2Xᵀ𝟙𝟙ᵀXw"
