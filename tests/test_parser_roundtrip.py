"""``parse(unparse(t, d), d) == t`` for random syntax trees, in both dialects.

Trees are built from the node types of :mod:`matcalc.syntax` (Number, Name, Call with
positional and keyword arguments, BinOp, Neg, Transpose, Compare) with the operations
each dialect can write: ``mdiv`` and ``mpow`` exist only in the matlab dialect (numpy
prints a matrix power as ``matrix_power(A, k)``, a call).  Positions do not take part
in equality.  The random expressions of ``strategies.cases`` are round-tripped too.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from strategies import Case, cases, scaled, syntax_trees

from matcalc import syntax as S
from matcalc.parse import parse
from matcalc.printing.source import unparse


def roundtrip(tree: S.Expr, dialect: str) -> None:
    text = unparse(tree, dialect)
    back = parse(text, dialect)
    assert back == tree, f"{dialect}: {tree!r}\n printed {text!r}\n parsed back as {back!r}"
    assert unparse(back, dialect) == text


@settings(max_examples=scaled(300))
@given(tree=syntax_trees("numpy"))
def test_roundtrip_numpy(tree: S.Expr) -> None:
    roundtrip(tree, "numpy")


@settings(max_examples=scaled(300))
@given(tree=syntax_trees("matlab"))
def test_roundtrip_matlab(tree: S.Expr) -> None:
    roundtrip(tree, "matlab")


@settings(max_examples=scaled(200))
@given(case=cases(max_depth=4))
def test_generated_expressions_roundtrip(case: Case) -> None:
    """The generator's own text: parse, print, parse again gives the same tree."""
    tree = parse(case.source, case.syntax)
    roundtrip(tree, case.syntax)


@pytest.mark.parametrize(
    "tree, numpy, matlab",
    [
        (S.BinOp("matmul", S.Name("A"), S.Name("x")), "A @ x", "A * x"),
        (S.BinOp("mul", S.Name("a"), S.Name("x")), "a * x", "a .* x"),
        (S.BinOp("pow", S.Name("x"), S.Number("2")), "x**2", "x.^2"),
        (S.BinOp("pow", S.Neg(S.Name("x")), S.Number("2")), "(-x)**2", "(-x).^2"),
        (S.Neg(S.BinOp("pow", S.Name("x"), S.Number("2"))), "-x**2", "-x.^2"),
        (S.BinOp("pow", S.Name("x"), S.Neg(S.Number("1"))), "x**-1", "x.^-1"),
        (S.BinOp("sub", S.Name("a"), S.BinOp("sub", S.Name("b"), S.Name("c"))), "a - (b - c)", "a - (b - c)"),
        (S.BinOp("pow", S.BinOp("pow", S.Name("a"), S.Name("b")), S.Name("c")), "(a**b)**c", "(a.^b).^c"),
        (S.Transpose(S.BinOp("add", S.Name("x"), S.Name("y"))), "(x + y)'", "(x + y)'"),
        (S.BinOp("mul", S.Name("x"), S.Compare(">", S.Name("x"), S.Number("0"))), "x * (x > 0)", "x .* (x > 0)"),
    ],
)
def test_known_printings(tree: S.Expr, numpy: str, matlab: str) -> None:
    assert unparse(tree, "numpy") == numpy and parse(numpy, "numpy") == tree
    assert unparse(tree, "matlab") == matlab and parse(matlab, "matlab") == tree


def test_numpy_prints_a_matrix_power_as_a_call() -> None:
    tree = S.BinOp("mpow", S.Name("A"), S.Number("3"))
    assert unparse(tree, "numpy") == "matrix_power(A, 3)"
    assert parse("matrix_power(A, 3)", "numpy") == S.Call("matrix_power", (S.Name("A"), S.Number("3")))
    assert parse(unparse(tree, "matlab"), "matlab") == tree


@pytest.mark.parametrize(
    "pasted, plain",
    [
        ("np.exp(x)", "exp(x)"),
        ("np.linalg.norm(A@x - b)**2", "norm(A@x - b)**2"),
        ("numpy.trace(X.T@X)", "trace(X.T@X)"),
        ("torch.nn.functional.softmax(x, dim=0)", "softmax(x, dim=0)"),
        ("scipy.special.expit(x)", "expit(x)"),
        ("(A@x).sum()", "sum(A@x)"),
        ("X.sum(axis=0)", "sum(X, axis=0)"),
        ("X.T.dot(X).trace()", "trace(dot(X.T, X))"),
        ("x.dot(y) + W.mean(1)", "dot(x, y) + mean(W, 1)"),
        # as matcalc prints: norm bars and superscript powers (x² is not a name)
        ("0.5*‖y - W2@relu(W1@x)‖²", "0.5*norm(y - W2@relu(W1@x))^2"),
        ("sum(x²) + ‖X‖³", "sum(x^2) + norm(X)^3"),
        ("tr(X⁻¹@A) + a'@X⁻ᵀ@b", "tr(inv(X)@A) + a'@inv(X)'@b"),
        # as texts write them: ASCII norm bars and LaTeX's braces
        ("||y - W@x||^2 + ||x||", "norm(y - W@x)^2 + norm(x)"),
        ("X^{-1} + x^{T}@y", "X^(-1) + x^(T)@y"),
        ("np.linalg.slogdet(K)[1] + jnp.linalg.slogdet(S)[1]", "logdet(K) + logdet(S)"),
    ],
)
def test_code_pasted_from_numpy_reads_as_the_plain_call(pasted: str, plain: str) -> None:
    """Module-qualified names (np.exp) and method calls (X.sum(axis=0)) are the registry's calls."""
    assert parse(pasted) == parse(plain)


def test_torch_keywords_dim_and_keepdim_are_axis_and_keepdims() -> None:
    import matcalc

    a = matcalc.diff("X.sum(dim=1, keepdim=True).sum()", "X")
    b = matcalc.diff("sum(sum(X, axis=1, keepdims=True))", "X")
    assert a.text == b.text == "𝟙𝟙ᵀ"


def test_bars_are_a_scalars_absolute_value_and_a_matrixs_determinant() -> None:
    import matcalc
    from matcalc.errors import ShapeError

    assert matcalc.diff("|a - b|^3", "a").text == matcalc.diff("abs(a - b)^3", "a").text
    assert matcalc.diff("X^{-1}", "X", syntax="matlab").text == matcalc.diff("inv(X)", "X").text
    # |Σ| is det(Σ) in Bishop, Murphy and Magnus, and log|Σ| their log-determinant; a note says so
    for expr, plain in (("|X|", "det(X)"), ("log|S|", "log(det(S))"), ("ln |S| + 1", "log(det(S)) + 1"), ("log(|A@S|)", "log(det(A@S))")):
        d = matcalc.diff(expr, "S" if "S" in expr else "X")
        assert d.text == matcalc.diff(plain, "S" if "S" in expr else "X").text, expr
        assert any("is read as det(" in n for n in d.notes), expr
        assert d.check().passed
    assert matcalc.diff("-0.5*log|Sigma| - 0.5*x'@inv(Sigma)@x", "Sigma").text == "(Σ⁻ᵀxxᵀ − I)Σ⁻ᵀ/2"
    # |x| is a norm in some texts, the entries' absolute values in others: not guessed
    with pytest.raises(ShapeError, match=r"means different things.*" + re.escape("norm(x)")):
        matcalc.diff("sum(|x|)", "x")
    with pytest.raises(ShapeError, match="square"):
        matcalc.diff("|X|", "X", shapes={"X": "m x n"})


def test_a_norms_subscript_says_which_norm_as_papers_write_it() -> None:
    import matcalc
    from matcalc.errors import UnsupportedError

    # QA find: ‖x‖_2, ‖X‖_F, ‖w‖_1 were syntax errors ('_2' a name after the bars)
    same = [
        ("||y - X@w||_2^2", "norm(y - X@w)^2", "w"),
        ("‖A@x − b‖₂²", "norm(A@x - b)^2", "x"),
        ("||x||_{2}", "norm(x)", "x"),
        ("||W||_F^2", "norm(W, 'fro')^2", "W"),
        ("0.5*||Y - W@H||_F^2 + lam*||H||_1", "0.5*norm(Y - W@H)^2 + lam*norm1(H)", "H"),  # a matrix's ‖·‖₁: Σ|entries|
        ("||w||_1", "norm1(w)", "w"),
        ("||x||_\\infty", "norm(x, inf)", "x"),
        ("||x||_∞", "norm(x, inf)", "x"),
    ]
    for paper, plain, wrt in same:
        d = matcalc.diff(paper, wrt)
        assert d.text == matcalc.diff(plain, wrt).text, paper
        assert d.check().passed, paper
    with pytest.raises(UnsupportedError, match="operator norm"):
        matcalc.diff("||X||_2", "X")  # the spectral norm, refused as norm(X, 2) is


def test_log_det_written_as_two_words_is_logdet() -> None:
    import matcalc

    # QA find: log det(Σ), as papers write it, was "missing operator before name 'det'"
    for paper in ("log det(S)", "ln det (S)", "-0.5*log det(S) + 1"):
        assert matcalc.diff(paper, "S").text == matcalc.diff(paper.replace("log det", "logdet").replace("ln det ", "logdet"), "S").text
    assert matcalc.diff("log det(S)", "S").check().passed


def test_a_method_name_cannot_start_with_a_superscript() -> None:
    # fuzz find: x.²sum() lexed as the method "²sum", whose printing (²sum(x)) did not parse
    from matcalc.errors import ParseError

    with pytest.raises(ParseError):
        parse("(x).²sum()")


def test_a_superscript_is_the_dialects_power() -> None:
    assert parse("X²", "matlab") == parse("X^2", "matlab")  # a matrix power there
    assert parse("X²") == parse("X**2")  # elementwise in numpy


def test_matlab_powers_group_to_the_left() -> None:
    import matcalc
    from matcalc.parse import parse
    from matcalc.printing.source import unparse

    # QA find: c^2^3 was c^(2^3) = c⁸ in the matlab dialect; MATLAB computes (c^2)^3 = c⁶
    import numpy as np

    from matcalc.evaluate import evaluate

    assert matcalc.diff("c^2^3", "c", syntax="matlab").text == "6c⁵"
    for text, want in (("c^2^3", (1.1**2) ** 3), ("c^2^3^2", ((1.1**2) ** 3) ** 2), ("c^(2^3)", 1.1**8)):
        checked = matcalc.check(text, syntax="matlab")  # MATLAB's own value, by hand
        assert np.isclose(float(np.asarray(evaluate(checked.expr, checked.variables, {"c": 1.1}, {})).ravel()[0]), want), text
    assert matcalc.diff("c**2**3", "c").text == "8c⁷"  # Python's ** groups to the right
    assert matcalc.diff("c^(2^3)", "c", syntax="matlab").text == "8c⁷"
    assert matcalc.diff("sum(x.^2.^3)", "x", syntax="matlab").text == matcalc.diff("sum(x.^6)", "x", syntax="matlab").text
    for text in ("c^2^3", "c^(2^3)", "x.^2.^3^2", "x.^(a.^b)"):
        tree = parse(text, "matlab")
        assert parse(unparse(tree, "matlab"), "matlab") == tree, text
    d = matcalc.diff("sum(x.^(a.^b))", "x", syntax="matlab")
    assert matcalc.check(d.ascii("matlab"), {k: (str(v.shape.rows), str(v.shape.cols)) for k, v in d.variables.items()}, "matlab")


def test_a_printed_vector_of_ones_typed_back_is_refused_not_the_number_one() -> None:
    import matcalc
    from matcalc.errors import ParseError

    # QA find: 𝟙 lexed as the digit 1, so 𝟙ᵀ@X@𝟙 was X itself
    with pytest.raises(ParseError, match="vector of ones: write ones"):
        matcalc.diff("𝟙ᵀ@X@𝟙", "X")
    assert matcalc.diff("½*x@x", "x").text == "x"


def test_a_superscript_power_of_a_matrix_in_the_numpy_dialect_says_it_is_elementwise() -> None:
    import matcalc

    # QA find: tr(X²) read X² elementwise, as documented, but without the note tr(X^2) gets
    d = matcalc.diff("tr(X²)", "X")
    assert d.text == "2(I ⊙ X)" and any("elementwise power in the numpy dialect" in n for n in d.notes)
    assert matcalc.diff("tr(X²)", "X", syntax="matlab").text == "2Xᵀ"


def test_root_sign_and_a_squared_subscripted_norm_parse() -> None:
    import matcalc

    # QA finds: √ was refused though matcalc prints it; ‖X‖_F² was a syntax error (² read as a word)
    assert matcalc.diff("sum(√(x + 1))", "x").text == matcalc.diff("sum(sqrt(x + 1))", "x").text
    assert matcalc.diff("x/√(x@x)", "x").text == matcalc.diff("x/sqrt(x@x)", "x").text
    assert matcalc.diff("‖X‖_F²", "X").text == "2X"
    d = matcalc.diff("sum(sqrt(X))", "X")
    assert matcalc.diff(f"sum({d.text.replace('/(2 ', '/(2*')})", "X").check().passed  # 1/(2 √X) typed back
