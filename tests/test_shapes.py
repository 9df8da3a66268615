"""Shape inference: conventions, declarations, unification, broadcasting, dialects."""

from __future__ import annotations

import pytest

import matcalc
from matcalc.errors import DeclarationError, ShapeError
from matcalc.nodes import Broadcast, walk
from matcalc.shapes import check, conventional_kind, parse_declaration


def test_issue_example_W_x_plus_b():
    # matcalc shape "W@x + b" --shape "b: m"  →  W: m×n, x: n, b: m, result: m
    assert matcalc.shape("W@x + b", shapes={"b": "m"}) == {"W": "m×n", "x": "n", "b": "m", "result": "m"}


@pytest.mark.parametrize(
    "name,kind",
    [("a", "scalar"), ("g2", "scalar"), ("h", "vector"), ("x_i", "vector"), ("z", "vector"), ("W1", "matrix"),
     ("A", "matrix"), ("alpha", "scalar"), ("lambda", "scalar"), ("sigma2", "scalar"), ("Sigma", "matrix"), ("α", "scalar"),
     ("lam", "scalar"), ("lmbda", "scalar"), ("lambd", "scalar"), ("lamb_2", "scalar"), ("lamp", "vector"), ("l", "vector")],
)
def test_naming_convention(name, kind):
    assert conventional_kind(name) == kind


def test_seed_neuron_shapes():
    # Parr & Howard: activation(x) = max(0, w·x + b)
    s = matcalc.shape("max(0, dot(w, x) + b)")
    assert s == {"w": "n", "x": "n", "b": "scalar", "result": "scalar"}


def test_seed_three_layer_network_unifies_every_dimension():
    # matrix-differential seed: z1 = W1 x, a1 = σ(z1), z2 = W2 a1, ..., loss = ½‖y − a3‖²
    s = matcalc.shape("0.5*norm(y - sigmoid(W3@sigmoid(W2@sigmoid(W1@x))))^2")
    assert s["result"] == "scalar"
    rows3, cols3 = s["W3"].split("×")
    rows2, cols2 = s["W2"].split("×")
    rows1, cols1 = s["W1"].split("×")
    assert s["y"] == rows3 and cols3 == rows2 and cols2 == rows1 and cols1 == s["x"]
    assert len({rows3, rows2, rows1, cols1}) == 4  # nothing unified that should not be


def test_cs231n_product():
    # cs231n: D = W X, dW = dD Xᵀ
    assert matcalc.shape("W@X") == {"W": "m×n", "X": "n×q", "result": "m×q"}


def test_elementwise_product_unifies_lengths():
    s = matcalc.shape("w*x + y")
    assert s["w"] == s["x"] == s["y"] == s["result"] == "n"


def test_one_by_one_result_is_scalar_in_both_dialects():
    assert matcalc.shape("x'@A@x")["result"] == "scalar"
    assert matcalc.shape("x'*A*x", syntax="matlab")["result"] == "scalar"
    assert matcalc.shape("x'*A*x", syntax="matlab")["A"] == "n×n"


def test_declarations_override_convention_and_numbers():
    s = matcalc.shape("W@x", shapes={"W": "3 x 4"})
    assert s == {"W": "3×4", "x": "4", "result": "3"}
    assert matcalc.shape("a*x", shapes={"a": "n"})["a"] == "n"
    assert matcalc.shape("b + c", shapes={"b": ("m", "n")})["b"] == "m×n"


def test_symmetric_declaration():
    name, decl = parse_declaration("S: n x n symmetric")
    assert name == "S" and decl.symmetric
    c = check("S@x", {"S": "n x n symmetric"})
    assert c.variables["S"].symmetric


@pytest.mark.parametrize("bad", ["W m x n", "W: m x", "W: 0 x 3", "W: n x m symmetric", "1W: n", "W: a x b x c"])
def test_bad_declarations(bad):
    with pytest.raises(DeclarationError):
        parse_declaration(bad)


def test_declared_dimension_names_are_rigid():
    with pytest.raises(ShapeError) as e:
        check("W@y + b", {"W": "m x n", "y": "k"})
    msg = e.value.render()
    assert "W (m×n)" in msg and "y (k)" in msg and "^" in msg


def test_broadcasts_are_explicit_nodes():
    c = check("A + x")  # a column against a matrix, as NumPy does with x[:, None]
    assert any(isinstance(n, Broadcast) for n in walk(c.expr))
    assert str(c.expr.shape) == str(c.variables["A"].shape)
    c = check("A + x'")
    assert any(isinstance(n, Broadcast) for n in walk(c.expr))
    c = check("x + a")  # a scalar against a vector
    assert any(isinstance(n, Broadcast) for n in walk(c.expr))


def test_row_and_column_sums_in_both_dialects():
    assert matcalc.shape("sum(X, 0)")["result"] == "n"  # NumPy: a 1-D vector (a column here)
    assert matcalc.shape("sum(X, axis=1)")["result"] == "m"
    assert matcalc.shape("sum(X, 1)", syntax="matlab")["result"] == "1×n"
    assert matcalc.shape("sum(X, 2)", syntax="matlab")["result"] == "m"


def test_matlab_matrix_power_and_elementwise():
    assert matcalc.shape("A^2", syntax="matlab")["result"] == matcalc.shape("A^2", syntax="matlab")["A"]
    assert matcalc.shape("x.^2 + x.*y", syntax="matlab")["result"] == "n"
    assert matcalc.shape("vector(1)'*x", syntax="matlab")["result"] == "scalar"


def test_shape_conflict_names_operands():
    with pytest.raises(ShapeError) as e:
        check("x + y", {"x": "3", "y": "4"})
    msg = e.value.render()
    assert "x (3)" in msg and "y (4)" in msg
    assert msg.splitlines()[-1].index("^") == 2 + 2  # under the '+', after the two-space indent


def test_square_requirements():
    for expr in ("tr(x)", "det(W@x)", "inv(x)"):
        with pytest.raises(ShapeError):
            check(expr)


# ---------------------------------------------------------------- NumPy's 1-D reductions

def _np_softmax(z, axis=-1):
    import numpy as np

    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _np_logsumexp(z, axis=None, keepdims=False):
    import numpy as np

    m = np.max(z, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


ONE_D_CASES = [
    # (expression, shapes): evaluated by matcalc and by NumPy on the same arrays (vectors 1-D)
    ("X - mean(X, axis=0)", {"X": "4 x 3"}),
    ("X - mean(X, 0)", {"X": "3 x 3"}),  # square: the mean is still a row
    ("X - mean(X, axis=1)", {"X": "3 x 3"}),  # square: NumPy lines the row means up with the columns
    ("X - mean(X, axis=1, keepdims=True)", {"X": "4 x 3"}),
    ("X - sum(X, axis=-2)", {"X": "4 x 3"}),
    ("(X - mean(X, axis=0))/sqrt(mean((X - mean(X, axis=0))**2, axis=0) + 0.1)", {"X": "4 x 3"}),
    ("X*exp(-mean(X, axis=0))", {"X": "4 x 3"}),
    ("(mean(X, axis=0) > 0)*X", {"X": "4 x 3"}),
    ("mean(X, axis=0)*v", {"X": "4 x 3", "v": "3"}),
    ("mean(X, axis=0)@v", {"X": "4 x 3", "v": "3"}),
    ("mean(X, axis=0)@W", {"X": "4 x 3", "W": "3 x 2"}),
    ("W@mean(X, axis=0)", {"X": "4 x 3", "W": "2 x 3"}),
    ("sum(X, axis=0)@W - v", {"X": "4 x 3", "W": "3 x 2", "v": "2"}),
    ("X@W - logsumexp(X@W, axis=1, keepdims=True)", {"X": "4 x 3", "W": "3 x 2"}),
    ("X - logsumexp(X, axis=0)", {"X": "4 x 3"}),
    ("softmax(X, axis=0)", {"X": "4 x 3"}),
    ("softmax(X, axis=1)", {"X": "4 x 3"}),
    ("softmax(X, axis=-1)*Y", {"X": "4 x 3", "Y": "4 x 3"}),
    ("sum(X, axis=0, keepdims=True)*Y", {"X": "4 x 3", "Y": "4 x 3"}),
]


@pytest.mark.parametrize("expr,shapes", ONE_D_CASES, ids=[e for e, _ in ONE_D_CASES])
def test_axis_reductions_broadcast_as_numpy_does(expr, shapes):
    """A reduction along an axis is 1-D in NumPy: against a matrix it is a row, on the
    left of @ a row, beside a vector elementwise.  matcalc must compute what NumPy does."""
    import numpy as np

    from matcalc.evaluate import evaluate

    rng = np.random.default_rng(7)
    arrays = {}
    for name, spec in shapes.items():
        dims = [int(p) for p in spec.split(" x ")]
        arrays[name] = rng.normal(size=dims)
    ns = {"np": np, "sum": np.sum, "mean": np.mean, "sqrt": np.sqrt, "exp": np.exp,
          "softmax": _np_softmax, "logsumexp": _np_logsumexp, **arrays}
    want = np.asarray(eval(expr, {"__builtins__": {"True": True}}, ns), dtype=float)  # noqa: S307 - our own cases
    c = check(expr, shapes)
    got = evaluate(c.expr, c.variables, {k: v for k, v in arrays.items() if k in c.variables})
    if want.ndim == 2:
        assert got.shape == want.shape
    np.testing.assert_allclose(got.reshape(-1), want.reshape(-1), rtol=1e-12)


@pytest.mark.parametrize(
    "expr,shapes",
    [
        ("X - mean(X, axis=1)", {"X": "m x n"}),
        ("X - mean(X, axis=1)", {}),  # undeclared: X must not be made square to fit
        ("X@W - sum(Y*(X@W), 1) + 1", {}),  # the cs231n SVM margin without keepdims
    ],
)
def test_a_1d_result_against_the_rows_is_refused_with_a_hint(expr, shapes):
    with pytest.raises(ShapeError) as info:
        check(expr, shapes)
    text = info.value.render()
    assert "keepdims=True" in text and "1-D" in text and "^" in text


def test_a_convention_scalar_added_to_a_vector_comes_with_a_note(capsys):
    """norm(A@x - b)^2 with b undeclared: b is a scalar (a–g), added to each entry, which a
    user may not have meant; the header says so and how to declare a vector."""
    from matcalc.cli import main

    d = matcalc.diff("norm(A@x - b)^2", "x")
    assert d.notes == ('b is a scalar (a–g and Greek names are), added to each entry; for a vector: --shape "b: m"',)
    assert main(["diff", "norm(A@x - b)^2", "--wrt", "x"]) == 0
    assert '# note: b is a scalar' in capsys.readouterr().out
    assert matcalc.diff("norm(A@x - b)^2", "x", shapes={"b": "m"}).notes == ()
    assert matcalc.diff("sigmoid(w.T@x + b)", "w").notes == ()  # added to a scalar: nothing to say


@pytest.mark.parametrize(
    "expr,wrt,words",
    [
        ("tr(X^3)", "X", "X^3 is an elementwise power in the numpy dialect"),
        ("x'*x", "x", "the row broadcasts against the column"),
        ("x'*A*x", "x", "the row broadcasts against the matrix"),
    ],
)
def test_numpy_operators_a_mathematician_may_misread_get_a_note(expr, wrt, words):
    """In the numpy dialect ^ and * are elementwise: tr(X^3) and x'*A*x are not what a
    textbook (or MATLAB) means by them, and the header says so."""
    notes = matcalc.diff(expr, wrt).notes
    assert any(words in n for n in notes), notes
    assert matcalc.diff(expr, wrt, syntax="matlab").notes == ()


@pytest.mark.parametrize("expr,wrt", [("sum(X^2)", "X"), ("tr(X**3)", "X"), ("x*y'", "x"), ("X*y'", "X"), ("x.T*y.T", "x"), ("sum(w*x)+b", "w")])
def test_elementwise_operators_used_as_numpy_means_them_get_no_note(expr, wrt):
    assert matcalc.diff(expr, wrt).notes == ()


def test_a_declared_size_used_in_the_expression_is_that_size():
    """F: m x n declared, then /n in the expression: n is F's column count, not a vector
    named n (the h–z convention), and the header says so."""
    d = matcalc.diff("norm(F@F.T/n - G)**2", "F", shapes={"F": "m x n", "G": "m x m"})
    assert d.text == "2(2FFᵀ/n − Gᵀ − G)F/n"
    assert any(note.startswith("n is the size n of the shapes") for note in d.notes)
    with pytest.raises(matcalc.MatcalcError, match="'n' is a size of the shapes"):
        matcalc.diff("n*sum(x)", "n", shapes={"x": "n"})
    # declared as a variable, it is one
    assert matcalc.diff("n*sum(x)", "n", shapes={"x": "n", "n": "scalar"}).text == "sum(x)"


def test_an_h_to_z_name_with_no_vector_reading_is_a_scalar():
    """MATLAB's det(A + t*B): t is a vector by the h–z convention, and then t*B has no
    shape; read as the scalar the textbook means, with a note."""
    d = matcalc.diff("det(A + t*B)", "t", syntax="matlab")
    assert d.text == "det(A + tB) tr((A + tB)⁻¹B)"
    assert any(n.startswith("t is read as a scalar") for n in d.notes), d.notes
    # a shape error that no scalar reading mends is still the shape error
    with pytest.raises(matcalc.MatcalcError, match="cannot add"):
        matcalc.diff("W@x + y", "x", shapes={"W": "m x n", "y": "k"})


def test_an_h_to_z_name_scaling_a_matrix_gets_a_note():
    """numpy's inv(A + t*B): t is a vector scaling B's rows, which the header says; where
    that reading has no closed form (expm), the error says it too."""
    d = matcalc.diff("inv(A + t*B)", "t")
    assert any(n.startswith("t is a vector (h–z names are), so t*… scales the matrix's rows") for n in d.notes), d.notes
    with pytest.raises(matcalc.MatcalcError, match='for a scalar: --shape "t: scalar"'):
        matcalc.diff("expm(t*A)", "t")
    assert matcalc.diff("expm(t*A)", "t", shapes={"t": "scalar"}).text == "A expm(tA)"


@pytest.mark.parametrize(
    "expr,wrt,shapes,text",
    [
        # a keepdims reduction and x[:, None] are 2-D columns in NumPy: never rows, even beside a square matrix
        ("sum(G*(Z - mean(Z, axis=1, keepdims=True)))", "Z", {"Z": "n x n"}, "G − mean(G, axis=1) 𝟙ᵀ"),
        ("np.sum(G*(np.exp(S) / np.exp(S).sum(axis=-1, keepdims=True)))", "S", {"S": "n x n"}, "softmax(S) ⊙ (G − ((G ⊙ softmax(S))𝟙)𝟙ᵀ)"),
        ("np.sum(G*(u[:, None]*Z))", "u", {"Z": "n x n"}, "(G ⊙ Z)𝟙"),
        ("sum(G*(X - X.mean(-1, keepdim=True)))", "X", {"X": "n x n"}, "G − mean(G, axis=1) 𝟙ᵀ"),
        # a 1-D vector in NumPy code beside a square matrix is a row; written as mathematics, a column
        ("np.sum(G*(X @ W + b))", "b", {"W": "n x n", "b": "n"}, "Gᵀ𝟙"),
        ("sum(G*(W1@X + b1))", "b1", {"W1": "n x n", "b1": "n", "X": "n x n"}, "G𝟙"),
    ],
)
def test_columns_beside_square_matrices(expr, wrt, shapes, text):
    """Found by QA: beside an n×n matrix every column was turned into NumPy's 1-D row,
    so self-attention's written-out row softmax summed down the columns (wrong values,
    since check() verifies matcalc's own reading)."""
    from matcalc.numeric import numeric_check

    d = matcalc.diff(expr, wrt, shapes=shapes)
    assert d.text == text
    assert numeric_check(d).ok


def test_a_column_marked_in_numpy_code_keeps_its_length():
    assert matcalc.shape("np.exp(Z) * u[:, None]") == {"Z": "m×n", "u": "m", "result": "m×n"}


def test_a_declared_dimension_name_used_as_a_vector_stays_a_vector():
    """W: h x h declares the size h; W@h still multiplies by a vector h (review find)."""
    d = matcalc.diff("sum(tanh(W@h + U@x))", "W", shapes={"W": "h x h"})
    assert d.text == "(1 − tanh(Wh + Ux)²)hᵀ"


def test_python_words_are_not_missing_products():
    with pytest.raises(matcalc.MatcalcError, match="unexpected name 'if'"):
        matcalc.diff("x if x > 0 else 0", "x")


def test_numpy_inverse_power_gets_the_elementwise_note():
    assert any("X^-1 is an elementwise power" in n for n in matcalc.diff("trace(X^-1)", "X").notes)


def test_a_numpy_vector_scaling_columns_says_columns():
    d = matcalc.diff("np.sum(t*B)", "t", shapes={"B": "m x n"})
    assert any("scales the matrix's columns" in n for n in d.notes), d.notes


def test_structures_after_a_shape():
    """positive definite is symmetric; invertible changes nothing; diagonal is refused by name."""
    assert matcalc.diff("x'@S@x", "x", shapes={"S": "n x n positive definite"}).text == "2Sx"
    assert matcalc.diff("tr(inv(X))", "X", shapes={"X": "n x n invertible"}).text == "−(X⁻²)ᵀ"
    with pytest.raises(matcalc.MatcalcError, match="unknown structure 'diagonal'"):
        matcalc.diff("tr(X)", "X", shapes={"X": "n x n diagonal"})


def test_a_negative_power_of_a_non_square_matrix_gets_a_note():
    d = matcalc.diff("tr(A@X^-1@B)", "X")
    assert any("for the inverse write inv" in n for n in d.notes), d.notes


def test_latex_steps_keep_delta():
    """steps() in LaTeX: the d of \\delta is not a differential (QA find: \\mathrm{d}elta)."""
    tex = matcalc.diff("x'@A@x", "x").steps("latex")
    assert r"\delta" in tex and r"\mathrm{d}elta" not in tex


@pytest.mark.parametrize("syntax, expr", [("numpy", "x'@diag(a)@x"), ("matlab", "x'*diag(a)*x")])
def test_diag_of_an_a_to_g_name_makes_it_a_vector(syntax, expr):
    # QA find: diag(a) of the scalar a was a itself, which the row-times-a rule then made a
    # vector: x'@diag(a)@x read as (x·a)x, a vector, and its derivative by a was xxᵀ
    assert matcalc.shape(expr, syntax=syntax) == {"x": "n", "a": "n", "result": "scalar"}
    assert matcalc.diff(expr, "a", syntax=syntax).text == "x²"


def test_a_call_that_returns_its_scalar_argument_does_not_turn_it_into_a_vector():
    # x'@sum(a): sum of the scalar a is a; the once-used name is not made a vector behind sum's back
    assert matcalc.shape("x'*sum(a)", syntax="matlab")["a"] == "scalar"


def test_matlab_name_right_of_a_matrix_is_the_vector_it_multiplies():
    # QA find: MML's least squares (y - X*theta)'*(y - X*theta): θ, a scalar by the Greek
    # convention, made the objective an m×m matrix
    d = matcalc.diff("(y - X*theta)'*(y - X*theta)", "theta", syntax="matlab")
    assert d.text == "2Xᵀ(Xθ − y)"
    assert matcalc.shape("A*b + c", syntax="matlab") == {"A": "m×n", "b": "n", "c": "scalar", "result": "m"}
    # a scalar written on the left stays one; where the vector reading has no shape, a scales X
    assert matcalc.shape("alpha*X", syntax="matlab")["alpha"] == "scalar"
    assert matcalc.diff("trace(X*a)", "a", syntax="matlab").text == "tr(X)"


def test_matlab_right_of_matrix_hint_yields_to_the_scalar_objective_and_says_which_reading():
    import numpy as np

    # review find: λ in x'*(A*lambda)*x (A scaled by λ) became a vector, so the objective
    # was a vector and its derivative a Jacobian, without a word
    d = matcalc.diff("x'*(A*lambda)*x", "x", syntax="matlab")
    assert d.kind == "gradient" and d.variables["lambda"].shape.is_scalar
    assert any(n.startswith("lambda is read as a scalar") for n in d.notes)
    rng = np.random.default_rng(3)
    A, x, lam = rng.standard_normal((4, 4)), rng.standard_normal(4), 0.7
    np.testing.assert_allclose(d.to_function()(x=x, A=A, **{"lambda": lam}), lam * (A + A.T) @ x)
    assert d.check().passed
    # the hint is turned off only for the name whose vector reading has no shape (trace(A*c)),
    # not for theta as well: it stays the vector X multiplies
    d = matcalc.diff("sum(X*theta) + trace(A*c)", "theta", syntax="matlab")
    assert d.variables["theta"].shape.cols.is_one and not d.variables["theta"].shape.rows.is_one
    assert d.variables["c"].shape.is_scalar
    assert d.check().passed
    # where both readings have a shape of the same kind, a note says which was taken
    assert any(n.startswith("theta is read as a vector") for n in d.notes)
    d = matcalc.diff("sigmoid(X*theta)", "theta", syntax="matlab")
    assert any(n.startswith("theta is read as a vector") for n in d.notes)
    # nothing to say where only one reading has a shape or another rule decides (a'*X*b)
    assert matcalc.diff("(y - X*theta)'*(y - X*theta)", "theta", syntax="matlab").notes == ()
    assert matcalc.diff("a'*X*b", "X", syntax="matlab").notes == ()
    # an h–z name mended to a scalar keeps the hint turned off where it has no shape
    d = matcalc.diff("trace(X*a)/n", "X", syntax="matlab")
    assert d.text == "aI/n" and d.variables["n"].shape.is_scalar


def test_matlab_reductions_of_a_matrix_say_they_take_all_entries():
    import numpy as np

    from matcalc.evaluate import evaluate

    # QA find: MATLAB's mean(X) is each column's mean; matcalc's (matrixcalculus.org's)
    # takes all entries, and nothing said so
    d = matcalc.diff("sum(sum((X - mean(X)).^2))", "X", syntax="matlab")
    assert any(n.startswith("mean(…) of a matrix takes all its entries") and "mean(X, 1)" in n for n in d.notes)
    for expr in ("sum(var(X))", "sum(std(X))", "prod(X)", "max(X)"):
        name = expr.split("(")[1] if expr.startswith("sum(") else expr.split("(")[0]
        assert any(n.startswith(f"{name}(…) of a matrix") for n in matcalc.diff(expr, "X", syntax="matlab").notes), expr
    # no note where MATLAB agrees (a vector, sum's documented reading, an explicit axis or 'all')
    for expr in ("mean(x)", "sum(sum(X))", "sum(mean(X, 1))", "mean(X, 'all')", "sum(var(X, 0, 1))", "var(X, 1, 'all')"):
        assert not any("takes all its entries" in n for n in matcalc.diff(expr, "X" if "X" in expr else "x", syntax="matlab").notes), expr
    # MATLAB's 'all' is all entries, for every reduction
    X = np.arange(6.0).reshape(2, 3) ** 1.5
    for expr, value in (("sum(X, 'all')", X.sum()), ("mean(X, 'all')", X.mean()), ("max(X, 'all')", X.max()),
                        ("var(X, 'all')", X.var(ddof=1)), ("var(X, 1, 'all')", X.var()), ("std(X, 'all')", X.std(ddof=1))):
        d = matcalc.diff(expr, "X", syntax="matlab")
        assert d.check().passed, expr
        v = evaluate(d.checked.expr, d.checked.variables, {"X": X}, {})
        assert np.isclose(float(np.asarray(v).ravel()[0]), value), (expr, v, value)


def test_latex_written_powers_of_a_matrix_are_matrix_powers_in_the_numpy_dialect():
    # QA find: Σ^{-1} beside log|Σ| and x^T was an elementwise reciprocal (with a note),
    # so a Gaussian written as in a paper was a mix of two readings
    expr = "-0.5*log|Sigma| - 0.5*(x-m)^T@Sigma^{-1}@(x-m)"
    d = matcalc.diff(expr, "m")
    assert d.text == "(Σ⁻¹ + Σ⁻ᵀ)(x − m)/2" and d.check().passed
    import numpy as np

    rng = np.random.default_rng(4)
    S, x, m = rng.normal(size=(3, 3)) + 3 * np.eye(3), rng.normal(size=3), rng.normal(size=3)
    Si = np.linalg.inv(S)  # the paper's Σ⁻¹, by NumPy
    np.testing.assert_allclose(d.to_function()(Sigma=S, x=x, m=m), 0.5 * (Si + Si.T) @ (x - m))
    assert any("read as a matrix power" in n for n in d.notes)
    assert matcalc.diff("tr(X^{2})", "X").text == "2Xᵀ"
    # ^T says LaTeX as well, for a matrix known to be square (an undeclared one is not made
    # square by ^ without braces: sum((Y - W^T@X)^2) keeps Y m×n)
    assert matcalc.diff("x^T@A^-1@x", "A", shapes={"A": "n x n"}).text == "−A⁻ᵀxxᵀA⁻ᵀ"
    assert matcalc.shape("sum((Y - W^T@X)^2)")["Y"] == "m×n"
    # otherwise ^ stays NumPy's elementwise power (with its note), as do vectors and non-square matrices
    assert matcalc.diff("A^-1", "A").text == "−diag(vec(1/A²))"
    assert matcalc.diff("x^{2}", "x").text == "2 diag(x)"
    assert matcalc.diff("sum(X^{2})", "X", shapes={"X": "m x n"}).text == "2X"


def test_capitalised_greek_names_are_matrices_lambda_too():
    # QA find: Lambda alone was a scalar, so x'@Lambda@x (Bishop's precision matrix) was a
    # Jacobian and 0.5*logdet(Lambda) was refused
    assert matcalc.diff("x'@Lambda@x", "x").text == "(Λ + Λᵀ)x"
    d = matcalc.diff("1/2*log(det(Lambda)) - 1/2*(x - m)'*Lambda*(x - m)", "Lambda", syntax="matlab")
    assert d.text == "(Λ⁻ᵀ − (x − m)(xᵀ − mᵀ))/2" and d.check().passed
    assert matcalc.shape("lambda*x")["lambda"] == "scalar"


def test_pasted_numpy_code_adds_a_bias_vector_to_a_layers_matrix_product():
    import numpy as np

    # X @ W + b in NumPy or PyTorch code is a layer: b is one entry per column, broadcast over
    # the rows; it was the a–g scalar, so ∂/∂b summed every entry and no note said so
    d = matcalc.diff("np.sum((X @ W + b - Y)**2)", "b")
    assert {k: str(v.shape) for k, v in d.variables.items()} == {"X": "m×n", "W": "n×q", "b": "q", "Y": "m×q"}
    assert any(n.startswith("b is the bias added to each row") for n in d.notes)
    rng = np.random.default_rng(2)
    X, W, b, Y = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(5, 4))
    np.testing.assert_allclose(d.to_function()(X=X, W=W, b=b, Y=Y), 2 * (X @ W + b - Y).sum(axis=0))
    assert d.check().passed
    d = matcalc.diff("torch.sum(F.relu(X @ W.T + b))", "b")
    assert d.variables["b"].shape.cols.is_one and not d.variables["b"].shape.is_scalar
    # one column (X @ w + b): logistic regression's intercept stays a scalar, with its note
    d = matcalc.diff("np.sum(np.log(1 + np.exp(-y * (X @ w + b))))", "b")
    assert d.variables["b"].shape.is_scalar
    # mathematics (no NumPy code) keeps the convention; a declaration decides either way
    assert matcalc.diff("sum((X @ W + b - Y)**2)", "b").variables["b"].shape.is_scalar
    assert matcalc.diff("np.sum((X @ W + b - Y)**2)", "b", shapes={"b": "scalar"}).text == "2 sum(XW + b𝟙𝟙ᵀ − Y)"


def test_a_size_given_to_eye_or_ones_is_that_size_where_it_is_a_number_too():
    # QA find (Bishop's evidence, 3.86): M in eye(M) and in M/2*log(alpha) was a matrix
    # variable, so the objective was a matrix and its "gradient" a Jacobian
    expr = "M/2*log(alpha) + N/2*log(beta) - beta/2*norm(t - Phi@m)^2 - alpha/2*m'@m - 0.5*logdet(alpha*eye(M) + beta*Phi'@Phi)"
    d = matcalc.diff(expr, "m", shapes={"Phi": "N x M"})
    assert d.kind == "gradient" and d.text == "βΦᵀ(t − Φm) − αm"
    # undeclared: N in ones(N) and in N*logdet(S) is one size
    d = matcalc.diff("-0.5*N*logdet(S) - 0.5*tr(inv(S)@(X - m@ones(N)')@(X - m@ones(N)')')", "S")
    assert "N" not in d.variables and any(n.startswith("N is the size N") for n in d.notes)
    assert d.variables["X"].shape.cols.single_symbol == "N"


def test_the_only_size_of_an_expression_with_a_vector_is_the_size_name():
    # Boyd's geometric mean: n is the length of x, not a free scalar
    d = matcalc.diff("exp(sum(log(x))/n)", "x")
    assert "n" not in d.variables and d.variables["x"].shape.rows.single_symbol == "n"
    assert any(note.startswith("n is the length of x") for note in d.notes)
    f = d.to_function()
    x = [1.0, 2.0, 4.0]
    assert abs(f(x=x)[0] - 2.0 / 3.0) < 1e-12  # (x₁x₂x₃)^(1/3)/(3x₁) = 2/3
    # by n itself: a variable
    assert "n" in matcalc.diff("exp(sum(log(x))/n)", "n").variables
    # matrices only: N counts samples in −N/2 logdet S, and stays a scalar
    assert "N" in matcalc.diff("-N/2*logdet(S) - tr(inv(S)@C)/2", "S").variables
    # two sizes: either could be meant
    assert "n" in matcalc.diff("n/2*log(beta) - beta/2*norm(y - X@w)^2", "beta").variables
    # an exponent is a power, not a length (the Cookbook's ∂‖x‖ⁿ/∂x)
    assert "n" in matcalc.diff("norm(x)^n", "x").variables


def test_shapes_written_without_spaces():
    # QA find: "NxM" was one dimension named NxM, so Φ was a vector
    from matcalc.shapes import parse_shape_spec

    assert parse_shape_spec("NxM").dims == parse_shape_spec("N x M").dims
    assert parse_shape_spec("3x4").dims == parse_shape_spec("3 x 4").dims
    assert parse_shape_spec("nxn symmetric").symmetric
    assert len(parse_shape_spec("nx").dims) == 1  # a dimension named nx


def test_a_convention_scalar_inside_a_power_added_to_a_vector_comes_with_a_note():
    # the VAE's KL term: mu**2 beside exp(logvar)
    d = matcalc.diff("0.5*sum(exp(logvar) + mu**2 - 1 - logvar)", "mu")
    assert any(n.startswith("mu is a scalar") for n in d.notes)


def test_matlab_sizes_multiplied_with_star_are_numbers():
    # QA find: MATLAB's n*log(b) kept n a vector (the size rule looked only at elementwise *)
    d = matcalc.diff("n*log(b) - b*(x'*x)", "b", syntax="matlab")
    assert d.kind == "derivative" and d.text == "n/b − x·x"


def test_matlab_sizes_divided_are_numbers():
    # n/2 is MATLAB's right division by a number
    assert matcalc.diff("n/2*log(b) - b*(x'*x)", "b", syntax="matlab").text == "n/(2b) − x·x"


def test_a_size_name_as_a_weight_stays_a_variable():
    # review find: k in k*x'x is a weight; only a divisor (sum(x)/n, x^(1/n)) reads as the length
    assert "k" in matcalc.diff("x.T@A@x + k*x.T@x", "x").variables
    assert matcalc.diff("a*ones(n).T@ones(n)", "a").text == "n"
