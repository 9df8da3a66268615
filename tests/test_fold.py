"""mean, var and std keep their names in printed results (matcalc.printing.fold).

The engine builds them from sums; the printers fold sum(X)/N, Σ(X − mean X)²/N and
√var back.  Each printed form must parse back to the same value, in both dialects.
"""

from __future__ import annotations

import numpy as np
import pytest

import matcalc
from matcalc.evaluate import evaluate
from matcalc.numeric import numeric_check

CASES = [
    # (expression, wrt, text)
    ("mean(x)*a", "a", "mean(x)"),
    ("a*var(X)", "a", "var(X)"),
    ("a*std(x)", "a", "std(x)"),
    ("var(x)", "x", "2(x − mean(x) 𝟙)/n"),
    ("std(X)", "X", "(X − mean(X) 𝟙𝟙ᵀ)/(std(X) mn)"),
    ("mean(X)^2", "X", "(2 mean(X)/mn)𝟙𝟙ᵀ"),
    ("sum(y*(x - mean(x))/sqrt(var(x) + c))", "x",
     "(y·(mean(x) 𝟙 − x))(x − mean(x) 𝟙)/(n(√(var(x) + c))³) + y/√(var(x) + c) − (mean(y)/√(var(x) + c))𝟙"),
    # along an axis: LayerNorm's row statistics and BatchNorm's column statistics
    ("sum(G*mean(Z, axis=1, keepdims=True))", "G", "mean(Z, axis=1) 𝟙ᵀ"),
    ("a*sum(std(X, axis=0))", "a", "sum(√(var(X, axis=0)ᵀ))"),
    ("sum(G*(Z - mean(Z, axis=1, keepdims=True))/sqrt(var(Z, axis=1, keepdims=True) + c))", "Z",
     "((mean(G ⊙ (mean(Z, axis=1) 𝟙ᵀ − Z)/(√(var(Z, axis=1) + c𝟙) 𝟙ᵀ)², axis=1)/√(var(Z, axis=1) + c𝟙))𝟙ᵀ) ⊙ (Z − mean(Z, axis=1) 𝟙ᵀ)"
     " + G/(√(var(Z, axis=1) + c𝟙) 𝟙ᵀ) − mean(G/(√(var(Z, axis=1) + c𝟙) 𝟙ᵀ), axis=1) 𝟙ᵀ"),
    ("sum(G*(X - mean(X, axis=0))/std(X, axis=0))", "X", None),
]


@pytest.mark.parametrize("expr,wrt,text", CASES, ids=[c[0] for c in CASES])
def test_statistics_print_by_name(expr, wrt, text):
    d = matcalc.diff(expr, wrt)
    assert d.text == text or text is None
    assert any(f"{name}(" in d.text for name in ("mean", "var", "std"))


@pytest.mark.parametrize("expr,wrt,text", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("syntax", ["numpy", "matlab"])
def test_named_statistics_parse_back_to_the_same_value(expr, wrt, text, syntax):
    """MATLAB's var and std divide by N − 1 unless told w = 1: the matlab printer says so."""
    d = matcalc.diff(expr, wrt)
    ascii_text = d.ascii(syntax)
    if syntax == "matlab" and ("var(" in ascii_text or "std(" in ascii_text):
        assert ", 1)" in ascii_text or ", 1, " in ascii_text  # var(X, 1) or var(X, 1, dim)
    variables = {**d.checked.variables, d.wrt.name: d.wrt}
    shapes = {k: (str(v.shape.rows), str(v.shape.cols)) for k, v in variables.items()}
    again = matcalc.check(ascii_text, shapes, syntax)
    res = numeric_check(d)
    want = evaluate(d.node, variables, res.point, res.sizes)
    got = evaluate(again.expr, again.variables, res.point, res.sizes)
    assert np.allclose(got.reshape(want.shape), want), (ascii_text, got, want)


def test_latex_names_the_statistics():
    d = matcalc.diff("sum(y*(x - mean(x))/std(x))", "x")
    tex = d.latex(header=False)
    assert r"\operatorname{mean}(\mathbf{x})" in tex and r"\operatorname{std}(\mathbf{x})" in tex


def test_cse_definitions_use_the_names():
    d = matcalc.diff("sum(y*(x - mean(x))/std(x))", "x")
    assert "= std(x)" in d.cse()


def test_a_sum_over_another_count_is_not_a_mean():
    """sum(x)/m for x of length n stays a sum: only N = the number of entries folds."""
    d = matcalc.diff("a*sum(x)/dim(m)", "a", shapes={"x": "n"})
    assert "mean" not in d.text


TRANSPOSED_SUMS = [
    # a layer's bias gradient: the simplifier's WᵀXᵀ + b𝟙ᵀ − Yᵀ is printed as one transpose
    ("np.sum((X @ W + b - Y)**2)", "b", "2((XW + 𝟙bᵀ − Y)ᵀ𝟙)"),
    ("-(Y * F.log_softmax(X @ W + b, dim=1)).sum()", "b", "(((Y𝟙)𝟙ᵀ) ⊙ softmax(XW + 𝟙bᵀ) − Y)ᵀ𝟙"),
    ("0.5*np.sum((np.tanh(X @ W1 + b1) @ W2 + b2 - Y)**2)", "b1", None),
    # a transposed sum inside a folded one: the two marks cancel, never (…)ᵀᵀ (QA find)
    ("tr(P@H'@inv(H@P@H')@H@P)", "P", "(PHᵀ(HPHᵀ)⁻¹H + Hᵀ(HPHᵀ)⁻¹HP(I − PHᵀ(HPHᵀ)⁻¹H))ᵀ"),
    ("tr(P - P@H'@inv(H@P@H' + R)@H@P)", "P", None),
    # nothing gained: left as the simplifier wrote it
    ("tr(X'@A@X)", "X", "(A + Aᵀ)X"),
    ("sum((A@X + X'@B) * C)", "X", None),
]


@pytest.mark.parametrize("expr,wrt,text", TRANSPOSED_SUMS, ids=[c[0] for c in TRANSPOSED_SUMS])
@pytest.mark.parametrize("syntax", ["numpy", "matlab"])
def test_a_sum_of_transposes_prints_as_one_and_parses_back_to_the_same_value(expr, wrt, text, syntax):
    d = matcalc.diff(expr, wrt)
    if text is not None:
        assert d.text == text
    variables = {**d.checked.variables, d.wrt.name: d.wrt}
    shapes = {k: (str(v.shape.rows), str(v.shape.cols)) for k, v in variables.items()}
    again = matcalc.check(d.ascii(syntax), shapes, syntax)
    res = numeric_check(d)
    assert res.ok, res.first_mismatch()
    want = evaluate(d.node, variables, res.point, res.sizes)
    got = evaluate(again.expr, again.variables, res.point, res.sizes)
    assert np.allclose(got.reshape(want.shape), want), (d.ascii(syntax), got, want)
    assert "ᵀᵀ" not in d.text and ".T.T" not in d.ascii() and r"^\top^\top" not in d.latex()


def test_numeric_sizes_fold_too():
    # QA find: with X: 4 x 3 the count is the number 1/12, not 1/mn, and mean(X) printed its sum
    assert matcalc.diff("a*mean(X)", "a", shapes={"X": "4 x 3"}).text == "mean(X)"
    assert matcalc.diff("a*mean(X, axis=1, keepdims=True)", "a", shapes={"X": "4 x 3"}).text == "mean(X, axis=1)"
    assert matcalc.diff("sum(x)/4", "x", shapes={"x": "3"}).text == "(1/4)𝟙"  # 4 is not x's length
