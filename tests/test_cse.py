"""Common-subexpression printing (matcalc.printing.cse) against the plain printer."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import matcalc
from matcalc.printing.cse import cse_text
from matcalc.printing.text import Printer, to_text

sys.path.insert(0, str(Path(__file__).parent))
from test_codegen import ALL_CASES  # noqa: E402  (the broad list of derivatives)

LOGISTIC = "-sum(y*log(sigmoid(X@w)) + (1-y)*log(1-sigmoid(X@w)))"
NAME = re.compile(r"(?<!\w)t[₀-₉]+(?![0-9A-Za-z_₀-₉])")


def _split(text: str) -> tuple[str, list[tuple[str, str]]]:
    if "  where " not in text:
        return text, []
    main, _, rest = text.partition("  where ")
    defs = []
    # definitions are "tₖ = …" separated by ", " before the next "tₖ = "
    parts = re.split(r", (?=t[₀-₉]+ = )", rest)
    for p in parts:
        name, _, body = p.partition(" = ")
        defs.append((name, body))
    return main, defs


def _expand(text: str) -> str:
    """Substitute every definition back, in parentheses."""
    main, defs = _split(text)
    for name, body in reversed(defs):
        pat = re.compile(rf"(?<!\w){re.escape(name)}(?![0-9A-Za-z_₀-₉])")
        main = pat.sub(lambda m, b=body: f"({b})", main)  # later names first: bodies use only earlier ones
    return main


def _normal(text: str) -> str:
    """Text without spaces or parentheses: equal for the same tree however it is grouped."""
    return re.sub(r"[\s()]", "", text)


def test_logistic_hessian_names_the_sigmoid_once():
    d = matcalc.diff(LOGISTIC, "w", order=2)
    out = d.cse()
    assert out == "Xᵀ diag(t₁ ⊙ (1 − t₁)) X  where t₁ = σ(Xw)"
    assert out.count("σ(Xw)") == 1


def test_two_layer_net_names_the_preactivation():
    d = matcalc.diff("0.5*norm(y - W2@relu(W1@x))^2", "W1")
    main, defs = _split(d.cse())
    assert defs == [("t₁", "W₁x")]
    assert main.count("t₁") == 2 and "W₁x" not in main


def test_nested_names_are_defined_before_use():
    d = matcalc.diff("sum(sigmoid(W2@tanh(W1@x)))", "x", order=2)
    main, defs = _split(d.cse())
    assert [n for n, _ in defs] == [f"t{s}" for s in "₁₂₃₄"][: len(defs)]
    for i, (name, body) in enumerate(defs):
        used = set(NAME.findall(body))
        assert used <= {n for n, _ in defs[:i]}, (name, body)
    assert "tanh(W₁x)" in dict(defs).values()


def test_nothing_repeated_gives_the_plain_text():
    for expr, wrt in [("x'@A@x", "x"), ("sum(w*x)+b", "w"), ("logdet(X)", "X"), ("A@X@B", "X")]:
        d = matcalc.diff(expr, wrt)
        assert d.cse() == d.text  # (A + Aᵀ)x: A repeats but is a leaf


def test_names_skip_variables_that_print_like_them():
    d = matcalc.diff("-sum(y*log(sigmoid(X@t1)) + (1-y)*log(1-sigmoid(X@t1)))", "t1", order=2)
    out = d.cse()
    assert out == "Xᵀ diag(t₂ ⊙ (1 − t₂)) X  where t₂ = σ(Xt₁)"


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: f"{c[0]} by {c[1]} {c[2]}")
def test_expanding_the_names_gives_the_plain_text(case):
    expr, wrt, kw = case
    d = matcalc.diff(expr, wrt, **kw)
    out = cse_text(d.node)
    plain = to_text(d.node)
    assert _normal(_expand(out)) == _normal(plain)
    main, defs = _split(out)
    names = [n for n, _ in defs]
    assert len(set(names)) == len(names)
    bodies = [main] + [b for _, b in defs]
    for name, body in defs:
        uses = sum(len(re.findall(rf"(?<!\w){name}(?![0-9A-Za-z_₀-₉])", b)) for b in bodies)
        assert uses >= 2, (name, out)  # every name is used at least twice
        leaves = {Printer().name(v) for v in d.variables} | {"I", "K", "𝟙", "0"}
        assert body not in leaves and not re.fullmatch(r"[\d/]+", body), body  # bigger than a leaf
        assert _normal(_expand(f"{body}  where " + ", ".join(f"{n} = {b}" for n, b in defs))) in _normal(plain)


def test_output_is_deterministic():
    texts = {matcalc.diff("sum(sigmoid(W2@tanh(W1@x)))", "x", order=2).cse() for _ in range(3)}
    assert len(texts) == 1


def test_repeated_subexpressions_appear_once():
    d = matcalc.diff("sum(sigmoid(W2@tanh(W1@x)))", "x", order=2)
    out = d.cse()
    for piece in ("σ(W₂", "tanh(W₁x)"):
        assert d.text.count(piece) >= 2 and out.count(piece) == 1, piece
