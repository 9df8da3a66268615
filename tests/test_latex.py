"""The LaTeX printer: textbook strings, escaping of names, and real rendering.

Every LaTeX string produced for a broad list of expressions (every node type, every
registry function, every derivative kind, hostile variable names) is rendered by
KaTeX with ``throwOnError`` and ``strict: "error"`` in one Node process
(tests/katex/render.js, all strings in one batch), and so are random well-shaped
expressions from tests/strategies.py and their derivatives (through one long-lived
``render.js --lines`` process); the standalone documents are compiled with pdflatex
when it is installed.  Without node/KaTeX the rendering tests skip locally and fail in
CI (``CI`` or ``MATCALC_REQUIRE_KATEX`` set): run ``npm ci --prefix tests/katex``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from strategies import cases, scaled

import matcalc
from matcalc import nodes as N
from matcalc.dims import Dim, Shape
from matcalc.errors import MatcalcError
from matcalc.printing import to_latex
from matcalc.printing.latex import LatexPrinter, derivative_latex, document, latex_name, visible_width
from matcalc.registry import ELEMENTWISE

KATEX_DIR = Path(__file__).parent / "katex"

# ---------------------------------------------------------------------- building blocks

S = Shape.of(1, 1)
V = Shape.of("n")
R = Shape.of(1, "n")
M = Shape.of("n", "n")
MN = Shape.of("m", "n")

a, b = N.Var("a", S), N.Var("b", S)
x, y = N.Var("x", V), N.Var("y", V)
r = N.Var("r", R)
A, B, X = N.Var("A", M), N.Var("B", M), N.Var("X", M)
W = N.Var("W", MN)


def c(v: int | str) -> N.Const:
    return N.Const(Fraction(v))


def latex_of(expr: str, wrt: str | None = None, **opts) -> str:
    """The expression's LaTeX, or with ``wrt`` the derivative's (with its ∂ header)."""
    if wrt is None:
        return to_latex(_checked(expr))
    return derivative_latex(matcalc.diff(expr, wrt, **opts))


def _checked(expr: str) -> N.Node:
    from matcalc.shapes import check

    return check(expr).expr


# ---------------------------------------------------------------------- textbook strings

# (expression, wrt, options, the result's LaTeX) — the textbook examples of tests/test_engine.py
TEXTBOOK = [
    ("sum(w*x)+b", "w", {}, r"\mathbf{x}"),
    ("sum(w*x)+b", "w", {"layout": "numerator"}, r"\mathbf{x}^\top"),
    ("x'@A@x", "x", {}, r"(A + A^\top) \mathbf{x}"),
    ("x'@S@x", "x", {"shapes": {"S": "n x n symmetric"}}, r"2 S \mathbf{x}"),
    ("x'@A@x", "x", {"order": 2}, r"A + A^\top"),
    ("tr(A@X)", "X", {}, r"A^\top"),
    ("det(X)", "X", {}, r"\det(X) X^{-\top}"),
    ("logdet(X)", "X", {}, r"X^{-\top}"),
    ("tr(inv(X)@A)", "X", {}, r"-X^{-\top} A^\top X^{-\top}"),
    ("norm(A@x - b)^2", "x", {"shapes": {"b": "m"}}, r"2 A^\top (A \mathbf{x} - \mathbf{b})"),
    ("max(0, dot(w, x) + b)", "w", {}, r"[\,\mathbf{w}^\top \mathbf{x} + b > 0\,] \mathbf{x}"),
    (
        "0.5*norm(y - W2@relu(W1@x))^2",
        "W1",
        {},
        r"([\,W_{1} \mathbf{x} > 0\,] \odot (W_{2}^\top (W_{2} \operatorname{relu}(W_{1} \mathbf{x}) - \mathbf{y}))) \mathbf{x}^\top",
    ),
    ("-sum(y*log(softmax(z)))", "z", {"assume": "sum(y) = 1"}, r"\operatorname{softmax}(\mathbf{z}) - \mathbf{y}"),
    ("-sum(y*log(sigmoid(X@w)) + (1-y)*log(1-sigmoid(X@w)))", "w", {}, r"X^\top (\sigma(X \mathbf{w}) - \mathbf{y})"),
    ("A@X@B", "X", {}, r"B^\top \otimes A"),
    ("W@x", "W", {}, r"\mathbf{x}^\top \otimes I"),
    ("log(sum(exp(x)))", "x", {}, r"\operatorname{softmax}(\mathbf{x})"),
    ("log(sum(exp(x)) + 1)", "x", {}, r"\frac{\exp(\mathbf{x})}{1 + \mathbf{1}^\top \exp(\mathbf{x})}"),
    ("sum(sqrt(x))", "x", {}, r"\frac{1}{2 \sqrt{\mathbf{x}}}"),
    ("sum(1/x)", "x", {}, r"-\frac{1}{\mathbf{x}^{2}}"),
    ("mean(x)", "x", {}, r"\frac{1}{n} \mathbf{1}"),
    ("inv(X)", "X", {}, r"-(X^{-\top} \otimes X^{-1})"),
    ("x_i'@W1@x_i", "W1", {}, r"\mathbf{x}_{i} \mathbf{x}_{i}^\top"),
    ("alpha*Sigma@x", "x", {}, r"\alpha \Sigma"),
]


@pytest.mark.parametrize("expr,wrt,opts,tex", TEXTBOOK, ids=[f"{t[0]}|{t[1]}|{t[2]}" for t in TEXTBOOK])
def test_textbook_results(expr, wrt, opts, tex):
    d = matcalc.diff(expr, wrt, **opts)
    assert d.latex(header=False) == tex
    assert derivative_latex(d).endswith(" = " + tex)


# (expression, wrt, options, the whole equation)
HEADERS = [
    # ∂f/∂w with a short f above the bar
    ("x'@A@x", "x", {}, r"\frac{\partial \mathbf{x}^\top A \mathbf{x}}{\partial \mathbf{x}} = (A + A^\top) \mathbf{x}"),
    ("logdet(X)", "X", {}, r"\frac{\partial \log\det(X)}{\partial X} = X^{-\top}"),
    # a sum goes after the operator, in parentheses
    (
        "sum(w*x)+b",
        "w",
        {},
        r"\frac{\partial}{\partial \mathbf{w}} \left(\mathbf{1}^\top (\mathbf{w} \odot \mathbf{x}) + b\right) = \mathbf{x}",
    ),
    # so does a function with a fraction in it: ½‖r‖²
    (
        "0.5*norm(y - W2@relu(W1@x))^2",
        "W2",
        {},
        r"\frac{\partial}{\partial W_{2}} \frac{1}{2} \left\lVert \mathbf{y} - W_{2} \operatorname{relu}(W_{1} \mathbf{x}) \right\rVert^{2}"
        r" = (W_{2} \operatorname{relu}(W_{1} \mathbf{x}) - \mathbf{y}) \operatorname{relu}(W_{1} \mathbf{x})^\top",
    ),
    # Hessians: ∂²f/∂x∂xᵀ, of a matrix variable in vec form, of a scalar ∂²f/∂a²
    (
        "x'@A@x",
        "x",
        {"order": 2},
        r"\frac{\partial^2 \mathbf{x}^\top A \mathbf{x}}{\partial \mathbf{x}\,\partial \mathbf{x}^\top} = A + A^\top",
    ),
    (
        "tr(X@X)",
        "X",
        {"order": 2},
        r"\frac{\partial^2 \operatorname{tr}(X^{2})}{\partial \operatorname{vec} X\,\partial (\operatorname{vec} X)^\top} = 2 K",
    ),
    ("a^3", "a", {"order": 2}, r"\frac{\partial^2 a^{3}}{\partial a^{2}} = 6 a"),
    # vec-Jacobians: ∂vec F/∂vec X
    ("A@X@B", "X", {}, r"\frac{\partial \operatorname{vec}(A X B)}{\partial \operatorname{vec} X} = B^\top \otimes A"),
    ("W@x", "W", {}, r"\frac{\partial W \mathbf{x}}{\partial \operatorname{vec} W} = \mathbf{x}^\top \otimes I"),
    # a Jacobian of vectors
    ("W@x", "x", {}, r"\frac{\partial W \mathbf{x}}{\partial \mathbf{x}} = W"),
]


@pytest.mark.parametrize("expr,wrt,opts,tex", HEADERS, ids=[f"{t[0]}|{t[1]}|{t[2]}" for t in HEADERS])
def test_derivative_equations(expr, wrt, opts, tex):
    d = matcalc.diff(expr, wrt, **opts)
    assert derivative_latex(d) == tex
    assert d.latex() == tex
    assert d._repr_latex_() == f"$${tex}$$"


# ---------------------------------------------------------------------- nodes

NODE_STRINGS = [
    # transposes, inverses and powers never stack two superscripts
    (N.Transpose(N.Pow(X, c(2))), r"(X^{\odot 2})^\top"),
    (N.Pow(N.Transpose(x), c(2)), r"(\mathbf{x}^\top)^{2}"),
    (N.Inverse(N.Transpose(X)), r"X^{-\top}"),
    (N.Transpose(N.Inverse(X)), r"X^{-\top}"),
    (N.Transpose(N.Transpose(X)), r"(X^\top)^\top"),
    (N.Inverse(N.Inverse(X)), r"(X^{-1})^{-1}"),
    (N.Pow(N.Pow(x, c(2)), c(3)), r"(\mathbf{x}^{2})^{3}"),
    (N.Transpose(N.Ones(R)), r"(\mathbf{1}^\top)^\top"),
    (N.Transpose(N.Add((X, A))), r"(X + A)^\top"),
    (N.Transpose(N.MatMul((A, X))), r"(A X)^\top"),
    # the matrix exponential as e^{…}, and its Fréchet derivative (seen in a derivation's steps)
    (N.Expm(N.MatMul((A, X))), r"e^{A X}"),
    (N.Transpose(N.Expm(X)), r"(e^{X})^\top"),
    (N.ExpmFrechet(X, A), r"L_{\exp}\left(X,\, A\right)"),
    # powers: √, reciprocals as fractions, a matrix's elementwise power marked ⊙
    (N.Pow(x, c("1/2")), r"\sqrt{\mathbf{x}}"),
    (N.Pow(a, c(-1)), r"\frac{1}{a}"),
    (N.Pow(N.Add((a, b)), c(-2)), r"\frac{1}{(a + b)^{2}}"),
    (N.Pow(x, c("-1/2")), r"\frac{1}{\sqrt{\mathbf{x}}}"),
    (N.Pow(X, c(3)), r"X^{\odot 3}"),
    (N.Pow(x, c("2/3")), r"\mathbf{x}^{2/3}"),
    (N.Pow(x, y), r"\mathbf{x}^{\mathbf{y}}"),
    (N.Pow(c(2), x), r"2^{\mathbf{x}}"),
    # products: a number before a number gets \cdot; a fraction's numerator and denominator
    (N.Mul((c(3), N.Pow(c(2), x))), r"3 \cdot 2^{\mathbf{x}}"),
    (N.Mul((c(-2), a, x)), r"-2 a \mathbf{x}"),
    (N.Mul((c("1/2"), N.Pow(N.Norm(x), c(2)))), r"\frac{1}{2} \left\lVert \mathbf{x} \right\rVert^{2}"),
    (N.Mul((c("-3/4"), x)), r"-\frac{3}{4} \mathbf{x}"),
    (N.Mul((x, N.Pow(y, c(-1)))), r"\frac{\mathbf{x}}{\mathbf{y}}"),
    (N.Mul((c(2), x, N.Pow(N.Add((a, b)), c(-1)))), r"\frac{2 \mathbf{x}}{a + b}"),
    (N.Mul((N.Pow(N.DimValue(Dim.of("n")), c(-1)), N.Ones(V))), r"\frac{1}{n} \mathbf{1}"),
    (N.Mul((x, y)), r"\mathbf{x} \odot \mathbf{y}"),
    (N.Mul((N.Pow(a, c(-1)), N.Identity(Dim.of("n")))), r"\frac{1}{a} I"),
    (N.Mul((x, N.Ones(V), N.Pow(y, c(-1)))), r"\frac{\mathbf{x} \odot \mathbf{1}}{\mathbf{y}}"),
    (N.Pow(c(2), X), r"2^{X}"),
    (N.Mul((a, x, y)), r"a (\mathbf{x} \odot \mathbf{y})"),
    (N.Mul((N.Add((x, y)), x)), r"(\mathbf{x} + \mathbf{y}) \odot \mathbf{x}"),
    (N.Mul((a, N.MatMul((W, x)))), r"a W \mathbf{x}"),
    (N.Mul((c(2), N.Pow(N.Add((x, y)), c(-1)))), r"\frac{2}{\mathbf{x} + \mathbf{y}}"),
    (N.Mul((N.Add((a, b)), N.Pow(N.Add((x, y)), c(-1)))), r"\frac{a + b}{\mathbf{x} + \mathbf{y}}"),
    (N.Pow(N.Mul((x, N.Pow(y, c(-1)))), c(2)), r"\left(\frac{\mathbf{x}}{\mathbf{y}}\right)^{2}"),
    # sums and differences
    (N.Add((x, N.Mul((c(-1), y)))), r"\mathbf{x} - \mathbf{y}"),
    (N.Add((N.Mul((c(-1), x)), y)), r"\mathbf{y} - \mathbf{x}"),
    (N.Add((c(1), N.Mul((c(-1), N.Apply(ELEMENTWISE["sigmoid"], (x,)))))), r"1 - \sigma(\mathbf{x})"),
    (N.Add((N.Ones(V), N.Mul((c(-1), x)))), r"1 - \mathbf{x}"),
    (N.Add((N.Broadcast(c(2), V), x)), r"2 + \mathbf{x}"),
    (N.Add((a, c("1/2"))), r"a + \frac{1}{2}"),
    (N.Add((a, c("-1/2"))), r"a - \frac{1}{2}"),
    (N.Mul((c(-1), N.Add((x, y)))), r"-(\mathbf{x} + \mathbf{y})"),
    # matrix products, Kronecker products, the inner product
    (N.MatMul((N.Transpose(x), y)), r"\mathbf{x}^\top \mathbf{y}"),
    (N.MatMul((N.Transpose(x), A, x)), r"\mathbf{x}^\top A \mathbf{x}"),
    (N.MatMul((N.Add((A, X)), x)), r"(A + X) \mathbf{x}"),
    (N.MatMul((N.Mul((a, A)), x)), r"(a A) \mathbf{x}"),
    (N.Kron(N.Transpose(B), A), r"B^\top \otimes A"),
    (N.Kron(N.Kron(A, X), B), r"(A \otimes X) \otimes B"),
    (N.MatMul((N.Kron(A, B), N.Vec(X))), r"(A \otimes B) \operatorname{vec}(X)"),
    # leaves
    (N.Zero(V), r"\mathbf{0}"),
    (N.Zero(M), "0"),
    (N.Zero(R), r"\mathbf{0}"),
    (N.Ones(V), r"\mathbf{1}"),
    (N.Ones(R), r"\mathbf{1}^\top"),
    (N.Ones(M), r"\mathbf{1}\mathbf{1}^\top"),
    (N.Identity(Dim.of("n")), "I"),
    (N.Commutation(Dim.of("m"), Dim.of("n")), "K"),
    (N.DimValue(Dim(2, ("m", "n"))), "2 m n"),
    (N.Mul((a, N.DimValue(Dim(2, ("n",))))), r"a (2 n)"),
    (N.Differential(W), r"\mathrm{d}W"),
    (N.Differential(x), r"\mathrm{d}\mathbf{x}"),
    (c("3/2"), r"\frac{3}{2}"),
    (c(-5), "-5"),
    # broadcasts
    (N.Broadcast(a, V), r"a \mathbf{1}"),
    (N.Broadcast(a, M), r"a \mathbf{1}\mathbf{1}^\top"),
    (N.Broadcast(c(1), V), r"\mathbf{1}"),
    (N.Broadcast(x, Shape.of("n", "k")), r"\mathbf{x} \mathbf{1}^\top"),
    (N.Broadcast(r, Shape.of("m", "n")), r"\mathbf{1} \mathbf{r}"),
    (N.Broadcast(N.Add((a, b)), V), r"(a + b) \mathbf{1}"),
    # sums: 𝟙ᵀx, x𝟙 for a row, 𝟙ᵀX𝟙, and along one axis
    (N.Sum(x), r"\mathbf{1}^\top \mathbf{x}"),
    (N.Sum(r), r"\mathbf{r} \mathbf{1}"),
    (N.Sum(X), r"\mathbf{1}^\top X \mathbf{1}"),
    (N.Sum(X, 0), r"\mathbf{1}^\top X"),
    (N.Sum(X, 1), r"X \mathbf{1}"),
    (N.Sum(N.Mul((x, y))), r"\mathbf{1}^\top (\mathbf{x} \odot \mathbf{y})"),
    (N.Sum(N.MatMul((W, x))), r"\mathbf{1}^\top W \mathbf{x}"),
    (N.Sum(a), "a"),
    # indicators
    (N.Compare(">", x, c(0)), r"[\,\mathbf{x} > 0\,]"),
    (N.Compare(">=", x, y), r"[\,\mathbf{x} \geq \mathbf{y}\,]"),
    (N.Compare("<=", a, b), r"[\,a \leq b\,]"),
    (N.Compare("<", x, c(0)), r"[\,\mathbf{x} < 0\,]"),
    # structural functions
    (N.Trace(N.MatMul((A, X))), r"\operatorname{tr}(A X)"),
    (N.Det(X), r"\det(X)"),
    (N.LogDet(X), r"\log\det(X)"),
    (N.Diag(x), r"\operatorname{diag}(\mathbf{x})"),
    (N.DiagPart(X), r"\operatorname{diag}(X)"),
    (N.Norm(N.Add((x, N.Mul((c(-1), y))))), r"\left\lVert \mathbf{x} - \mathbf{y} \right\rVert"),
    (N.Norm(x, 1), r"\left\lVert \mathbf{x} \right\rVert_{1}"),
    (N.Pow(N.Norm(x, 1), c(2)), r"\left\lVert \mathbf{x} \right\rVert_{1}^{2}"),
    (N.Softmax(x), r"\operatorname{softmax}(\mathbf{x})"),
    (N.LogSumExp(W), r"\operatorname{logsumexp}(W)"),
    (N.Prod(x), r"\operatorname{prod}(\mathbf{x})"),
    (N.Vec(W), r"\operatorname{vec}(W)"),
    (N.Unvec(x, MN), r"\operatorname{unvec}_{m \times n}(\mathbf{x})"),
    (N.Apply(ELEMENTWISE["relu"], (N.MatMul((W, x)),)), r"\operatorname{relu}(W \mathbf{x})"),
    (N.Apply(ELEMENTWISE["exp"], (N.Mul((c(-1), a, x)),)), r"\exp(-a \mathbf{x})"),
    (N.Apply(ELEMENTWISE["sqrt"], (x,)), r"\sqrt{\mathbf{x}}"),
    (N.Apply(ELEMENTWISE["max"], (x, c(0))), r"\max(\mathbf{x}, 0)"),
    (N.Apply(ELEMENTWISE["log"], (N.Mul((x, N.Pow(y, c(-1)))),)), r"\log\left(\frac{\mathbf{x}}{\mathbf{y}}\right)"),
]


@pytest.mark.parametrize("node,tex", NODE_STRINGS, ids=[t[1] for t in NODE_STRINGS])
def test_node_latex(node, tex):
    assert to_latex(node) == tex


# ---------------------------------------------------------------------- names

NAMES = [
    ("x", False, "x"),
    ("x", True, r"\mathbf{x}"),
    ("W1", False, "W_{1}"),
    ("W12", False, "W_{12}"),
    ("x_i", True, r"\mathbf{x}_{i}"),
    ("x_i_j", False, "x_{i,j}"),
    ("W1_a", False, "W_{1,a}"),
    ("x_12", False, "x_{12}"),
    ("theta_hat", False, r"\theta_{\mathrm{hat}}"),
    ("x_alpha", True, r"\mathbf{x}_{\alpha}"),
    ("alpha", False, r"\alpha"),
    ("alpha", True, r"\boldsymbol{\alpha}"),
    ("lambda2", False, r"\lambda_{2}"),
    ("Sigma", False, r"\Sigma"),
    ("Sigma_1", False, r"\Sigma_{1}"),
    ("epsilon", False, r"\epsilon"),
    ("varepsilon", False, r"\varepsilon"),
    ("omicron", False, "o"),
    ("loss", False, r"\mathit{loss}"),
    ("xy", True, r"\mathbf{xy}"),
    ("Alpha", False, r"\mathit{Alpha}"),
    # Greek typed as Greek
    ("α", False, r"{\alpha}"),
    ("δ1", False, r"{\delta}_{1}"),
    ("Σ", False, r"{\Sigma}"),
    ("ε", False, r"{\varepsilon}"),
    ("Α", False, "A"),
    ("αβ", False, r"\mathit{{\alpha}{\beta}}"),
    ("θ", True, r"\boldsymbol{{\theta}}"),
    # other letters, and names the parser accepts but that have no subscript reading
    ("é", False, r"{\acute{e}}"),
    ("ñ_2", False, r"{\tilde{n}}_{2}"),
    ("中", False, r"\text{[U+4E2D]}"),
    ("_x", False, r"\mathit{\_x}"),
    ("x__1", False, r"\mathit{x\_\_1}"),
    ("x_", False, r"\mathit{x\_}"),
]


@pytest.mark.parametrize("name,bold,tex", NAMES, ids=[f"{n}|{b}" for n, b, _ in NAMES])
def test_names(name, bold, tex):
    assert latex_name(name, bold) == tex


def test_variables_are_bold_by_shape():
    # vectors (columns or rows) bold, scalars and matrices italic, whatever the letter's case
    assert to_latex(N.Var("X", V)) == r"\mathbf{X}"
    assert to_latex(N.Var("w", M)) == "w"
    assert to_latex(N.Var("w", R)) == r"\mathbf{w}"
    assert to_latex(N.Var("Sigma", V)) == r"\boldsymbol{\Sigma}"


# names built through the API can hold anything; none may escape its group
HOSTILE = [
    "}",
    "{",
    "\\",
    "x}\\input{/etc/passwd}{",
    "\\end{document}",
    "a$b",
    "100%",
    "#1",
    "a&b",
    "x^2",
    "x~y",
    "a b",
    "x'",
    '"',
    "`",
    "x\ny",
    "\\\\",
    "}}}}",
    "\\mathbf{",
    "\u200b",
    "x\\",
]


def _unescaped(tex: str, chars: str) -> list[str]:
    """Characters of ``chars`` in ``tex`` that are not escaped by a backslash."""
    return [m.group(0) for m in re.finditer(rf"(?<!\\)[{re.escape(chars)}]", tex)]


def _braces_balanced(tex: str) -> bool:
    depth = 0
    for m in re.finditer(r"\\.|[{}]", tex, flags=re.S):
        t = m.group(0)
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _hostile_strings(name: str) -> list[str]:
    out = []
    for shape in (S, V, M):
        v = N.Var(name, shape)
        out += [to_latex(v), to_latex(N.Transpose(v)), to_latex(N.Pow(v, c(2))), to_latex(N.Differential(v))]
        out.append(to_latex(N.MatMul((N.Transpose(N.Var(name, V)), N.Var(name, V)))))
    return out


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(h) for h in HOSTILE])
def test_hostile_names_are_escaped(name):
    for tex in _hostile_strings(name):
        assert _braces_balanced(tex), tex
        assert not _unescaped(tex, "%#&$~\n"), tex
        # no command other than the printer's own: user text never reaches a backslash unescaped
        commands = set(re.findall(r"\\([A-Za-z]+)", tex))
        assert commands <= {"mathbf", "mathit", "boldsymbol", "backslash", "text", "top", "mathrm", "wedge", "sim", "odot"}, tex
        assert "input" not in commands and "end" not in commands


# ---------------------------------------------------------------------- KaTeX


def _katex_required() -> bool:
    """In CI (``CI`` or ``MATCALC_REQUIRE_KATEX`` set, as .ci/run does) KaTeX must be there."""
    return bool(os.environ.get("CI") or os.environ.get("MATCALC_REQUIRE_KATEX"))


def _katex_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (KATEX_DIR / "node_modules" / "katex").is_dir():
        return "KaTeX is not installed: run `npm ci --prefix tests/katex`"
    return None


DERIVATIVE_CASES: list[tuple[str, str, dict]] = [
    *[(t[0], t[1], t[2]) for t in TEXTBOOK],
    *[(t[0], t[1], t[2]) for t in HEADERS],
    ("sum(sigmoid(X@w))", "w", {"order": 2}),
    ("softmax(x)", "x", {}),
    ("logsumexp(X)", "X", {}),
    ("prod(x)^(1/n)", "x", {}),
    ("kron(A, B)", "A", {}),
    ("vec(X)", "X", {}),
    ("X'@X", "X", {}),
    ("sum(X, 0)", "X", {}),
    ("sum(X, 1)", "X", {}),
    ("X + x", "x", {}),
    ("diag(x)@y", "x", {}),
    ("sum(diag(X))", "X", {}),
    ("unvec(v, m, n)", "v", {}),
    ("sum(x)/dim(n)", "x", {}),
    ("x - 2/3*y", "x", {}),
    ("sum(tanh(X)/(1+a))", "X", {}),
    ("sum(x**y)", "y", {}),
    ("norm1(x) + norm1(W)", "x", {}),
    ("x'@inv(A)@x", "A", {}),
    ("t*X", "t", {}),
    ("t*x", "t", {"layout": "denominator"}),
    ("W@x", "x", {"layout": "denominator"}),
    ("sum(w*x)+b", "w", {"layout": "denominator"}),
    ("matrix_power(X, 3)", "X", {}),
    ("matrix_power(X, -2)", "X", {}),
    ("exp(-alpha*x)", "x", {}),
    ("x_i'@W1@x_i", "x_i", {}),
    ("sum(sqrt(x)/(x + 1))", "x", {"order": 2}),
    ("tr(X@X)", "X", {}),
    ("det(X)", "X", {"order": 2}),
    # mean, var and std printed by name (matcalc.printing.fold)
    ("sum(y*(x - mean(x))/std(x))", "x", {}),
    ("std(X)", "X", {}),
    ("a*var(X) + mean(X)^2", "a", {}),
]

EXPRESSIONS = [
    "A@X@B + C",
    "x'@S@x",
    "0.5*norm(y - W2@relu(W1@x))^2",
    "-sum(y*log(softmax(z)))",
    "sum(X, 0) + sum(X, 1)'",
    "1/(1 + exp(-x))",
    "mean(x) - max(a, b)",
    "outer(x, y) - eye(n)",
    "ones(n) - zeros(n)",
    "(x > 0) + (x >= y) + (x < 0) + (x <= y)",
    "x.T@y / (a*b)",
    "(A@B)^3 - matrix_power(A, 3)",
    "sin(pi*t)/sqrt(2*pi) + 0.044715*gelu(x)",
    "max(x) - min(X) + sum(max(X, axis=1)) + max(a, b)",
    "sum(is_max(x)*x) + sum(is_min(X, axis=1))",
]


def _registry_cases() -> dict[str, Callable[[], str]]:
    """Every registry function, applied to a scalar, a vector and a matrix, and differentiated."""
    out: dict[str, Callable[[], str]] = {}
    for name, fn in sorted(ELEMENTWISE.items()):
        if fn.arity == 1:
            for v in (a, x, W, N.Transpose(x), N.Add((x, y)), N.Mul((x, N.Pow(y, c(-1))))):
                out[f"registry:{name}({to_latex(v)})"] = functools.partial(to_latex, N.Apply(fn, (v,)))
            out[f"registry:{name}:T"] = functools.partial(to_latex, N.Transpose(N.Apply(fn, (W,))))
            out[f"registry:{name}:pow"] = functools.partial(to_latex, N.Pow(N.Apply(fn, (x,)), c(2)))
            out[f"registry:d sum({name}(x))"] = functools.partial(latex_of, f"sum({name}(x))", "x")
            out[f"registry:d {name}(X)"] = functools.partial(latex_of, f"{name}(X)", "X")
            out[f"registry:d {name}(a)"] = functools.partial(latex_of, f"{name}(a)", "a", order=2)
        else:
            args = ", ".join("xyz"[: fn.arity])
            node = N.Apply(fn, tuple(N.Var(v, V) for v in "xyz"[: fn.arity]))
            out[f"registry:{name}({args})"] = functools.partial(to_latex, node)
            out[f"registry:d sum({name}({args}))"] = functools.partial(latex_of, f"sum({name}({args}))", "x")
            zero_args = ", ".join(["x", *["0"] * (fn.arity - 1)])
            out[f"registry:d sum({name}({zero_args}))"] = functools.partial(latex_of, f"sum({name}({zero_args}))", "x")
    return out


def _all_cases() -> dict[str, Callable[[], str]]:
    cases: dict[str, Callable[[], str]] = {}
    for expr, wrt, opts in DERIVATIVE_CASES:
        cases[f"d:{expr}|{wrt}|{opts}"] = functools.partial(latex_of, expr, wrt, **opts)
    for expr in EXPRESSIONS:
        cases[f"f:{expr}"] = functools.partial(latex_of, expr)
    for node, tex in NODE_STRINGS:
        cases[f"node:{tex}"] = functools.partial(to_latex, node)
    for name, bold, _tex in NAMES:
        cases[f"name:{name}|{bold}"] = functools.partial(_name_in_context, name, bold)
    for name in HOSTILE:
        cases[f"hostile:{name!r}"] = functools.partial(lambda n: " + ".join(_hostile_strings(n)), name)
    cases.update(_registry_cases())
    return cases


def _name_in_context(name: str, bold: bool) -> str:
    t = latex_name(name, bold)
    return f"{t} + {t}^\\top + {t}^{{2}} + \\mathrm{{d}}{t} + \\frac{{1}}{{{t}}}"


CASES = _all_cases()


@functools.cache
def _case_latex() -> dict[str, str]:
    return {k: f() for k, f in CASES.items()}


@pytest.fixture(scope="module")
def katex() -> dict[str, dict]:
    """Every case's LaTeX rendered once, in one node process: LaTeX → {"ok": …, "error"/"html": …}."""
    missing = _katex_missing()
    if missing:
        if _katex_required():
            pytest.fail(f"KaTeX rendering is required in CI: {missing}")
        pytest.skip(missing)
    strings = sorted(set(_case_latex().values()) | {t for t in _steps_latex().values() if isinstance(t, str)})
    proc = subprocess.run(
        ["node", str(KATEX_DIR / "render.js")],
        input=json.dumps(strings),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=KATEX_DIR,
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert len(answer["results"]) == len(strings)
    return dict(zip(strings, answer["results"]))


class KatexProcess:
    """One long-lived ``render.js --lines`` process: a LaTeX string in, its result out."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", str(KATEX_DIR / "render.js"), "--lines"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=KATEX_DIR,
        )

    def render(self, tex: str) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(tex) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def katex_process():
    missing = _katex_missing()
    if missing:
        if _katex_required():
            pytest.fail(f"KaTeX rendering is required in CI: {missing}")
        pytest.skip(missing)
    proc = KatexProcess()
    yield proc
    proc.close()


@settings(max_examples=scaled(50))
@given(case=cases())
def test_random_expressions_render(case, katex_process):
    """Any well-shaped expression (tests/strategies.py): it and its derivative render, in ASCII."""
    try:
        d = matcalc.diff(case.source, case.wrt, shapes=case.shapes, syntax=case.syntax, layout=case.layout, order=case.order)
    except MatcalcError:
        assume(False)
    for tex in (to_latex(d.expression), derivative_latex(d)):
        assert tex.isascii(), tex
        result = katex_process.render(tex)
        assert result["ok"], f"{case!r}\n{tex}\n{result.get('error')}"


# derivations (matcalc/steps.py, printed with this printer): an align* environment each
STEPS = {
    "neuron": ("sum(w*x)+b", "w"),
    "quadratic form": ("x'@A@x", "x"),
    "logdet": ("logdet(X)", "X"),
    "AXB": ("A@X@B", "X"),
    "mlp": ("0.5*norm(y - W2@relu(W1@x))^2", "W1"),
}


@functools.cache
def _steps_latex() -> dict[str, str | BaseException]:
    """Each derivation's LaTeX, or the exception that making it raised (reported by the steps tests only)."""
    out: dict[str, str | BaseException] = {}
    for key, (expr, wrt) in STEPS.items():
        try:
            out[key] = matcalc.diff(expr, wrt).steps("latex")
        except Exception as e:  # noqa: BLE001 - a broken derivation must not stop the other rendering tests
            out[key] = e
    return out


def _steps_or_skip(key: str) -> str:
    tex = _steps_latex()[key]
    if isinstance(tex, (NotImplementedError, ImportError)):
        pytest.skip(f"steps in LaTeX are not available: {tex}")
    if isinstance(tex, BaseException):
        pytest.fail(f"d.steps('latex') raised {tex!r}")
    return tex


@pytest.mark.parametrize("key", [k for k in STEPS if k != "mlp"])
def test_katex_renders_steps(key, katex):
    tex = _steps_or_skip(key)
    assert katex[tex]["ok"], f"{tex}\n{katex[tex].get('error')}"


def test_katex_renders_steps_of_the_mlp(katex):
    tex = _steps_or_skip("mlp")
    assert katex[tex]["ok"], katex[tex].get("error")


def test_steps_latex_is_ascii():
    for key in STEPS:
        tex = _steps_or_skip(key)
        assert tex.isascii(), sorted({ch for ch in tex if not ch.isascii()})


def test_steps_latex_last_label_is_not_the_input_text():
    tex = _steps_or_skip("mlp")
    assert "@" not in tex and "norm(" not in tex


def test_output_is_ascii():
    """Every LaTeX string the printer makes is ASCII (pdflatex needs no Unicode set-up)."""
    for key, tex in _case_latex().items():
        assert tex.isascii(), (key, tex)


@pytest.mark.parametrize("case", list(CASES))
def test_katex_renders(case, katex):
    tex = _case_latex()[case]
    result = katex[tex]
    assert result["ok"], f"{tex}\n{result.get('error')}"
    assert 'class="katex-error"' not in result["html"]


def test_katex_rejects_broken_latex():
    """The renderer is a real check: an undefined command, an unbalanced brace and a double superscript fail."""
    missing = _katex_missing()
    if missing:
        if _katex_required():
            pytest.fail(missing)
        pytest.skip(missing)
    bad = [r"\mathbf{x", r"\foo{x}", r"x^\top^{2}", "é"]
    proc = subprocess.run(
        ["node", str(KATEX_DIR / "render.js")], input=json.dumps(bad), capture_output=True, text=True, timeout=60
    )
    results = json.loads(proc.stdout)["results"]
    assert [r["ok"] for r in results] == [False] * len(bad)


def test_cases_cover_every_node_type_and_function():
    """The rendered cases use every node class of matcalc.nodes and every registry function."""
    node_types = {
        t
        for t in vars(N).values()
        if isinstance(t, type) and issubclass(t, N.Node) and t is not N.Node and t.__module__ == N.__name__
    }
    seen: set[type] = set()
    fns: set[str] = set()
    roots = [node for node, _ in NODE_STRINGS]
    for expr in EXPRESSIONS:
        roots.append(_checked(expr))
    for expr, wrt, opts in DERIVATIVE_CASES:
        d = matcalc.diff(expr, wrt, **opts)
        roots += [d.node, d.expression]
    for root in roots:
        for n in N.walk(root):
            seen.add(type(n))
            if isinstance(n, N.Apply):
                fns.add(n.fn.name)
    assert node_types - seen == set()
    for t in node_types:
        assert hasattr(LatexPrinter, f"_print_{t.__name__}"), t
    registry = _case_latex()
    for name in ELEMENTWISE:
        assert any(k.startswith(f"registry:{name}") for k in registry), name


# ---------------------------------------------------------------------- widths and documents


def test_visible_width():
    assert visible_width(r"\operatorname{diag}(\mathbf{x}) \mathbf{y}") == len("diag(x)y")
    assert visible_width(r"\mathbf{x}^\top A \mathbf{x}") == len("x#Ax")


def _document_derivatives():
    return [
        matcalc.diff("0.5*norm(y - W2@relu(W1@x))^2", "W1"),
        matcalc.diff("x'@S@x", "x", shapes={"S": "n x n symmetric"}),
        matcalc.diff("A@X@B", "X", shapes={"A": "3 x m"}),
        matcalc.diff("θ_1*sum(é*x) + 100 - a^2", "x"),  # non-ASCII input text
    ]


def test_document_structure():
    d = matcalc.diff("x'@A@x", "x")
    doc = document(d)
    assert doc.startswith("\\documentclass{article}\n")
    for pkg in ("amsmath", "amssymb", "bm"):
        assert f"\\usepackage{{{pkg}}}" in doc
    assert doc.rstrip().endswith(r"\end{document}")
    assert derivative_latex(d) in doc
    assert r"\texttt{x'@A@x}" in doc
    assert r"$\mathbf{x} \in \mathbb{R}^{n}$" in doc and r"$A \in \mathbb{R}^{n \times n}$" in doc
    assert r"\subsection*{Derivation}" not in doc


def test_document_splits_a_wide_equation():
    d = matcalc.diff("-sum(y*log(sigmoid(X@w)) + (1-y)*log(1-sigmoid(X@w)))", "w", order=2)
    doc = document(d)
    lhs, rhs = derivative_latex(d).split(" = ", 1)
    assert f"\\begin{{multline*}}\n{lhs} \\\\\n= {rhs}\n\\end{{multline*}}" in doc


def test_document_with_steps():
    d = matcalc.diff("sum(w*x)+b", "w")
    steps = _steps_or_skip("neuron")
    doc = document(d, steps=True)
    assert doc.index(derivative_latex(d)) < doc.index(r"\subsection*{Derivation}") < doc.index(steps)


def test_document_steps_missing(monkeypatch):
    d = matcalc.diff("x'@A@x", "x")

    def missing(fmt: str = "text") -> str:
        raise NotImplementedError("steps in LaTeX")

    monkeypatch.setattr(d, "steps", missing)
    with pytest.raises(MatcalcError, match="step-by-step derivation is not available in LaTeX"):
        document(d, steps=True)


def test_document_input_is_escaped():
    d = matcalc.diff("sum(x_1) + 100", "x_1")
    doc = document(d)
    assert r"\texttt{sum(x\_1) + 100}" in doc


def _pdflatex(tex: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "doc.tex").write_text(tex, encoding="utf-8")
    return subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_documents_compile_with_pdflatex(tmp_path):
    """Every standalone document compiles without an error or an undefined control sequence."""
    docs = [document(d) for d in _document_derivatives()]
    # every case's LaTeX in one document, one display each, hostile names included
    body = "\n".join(f"\\[ {t} \\]" for t in sorted(set(_case_latex().values())))
    docs.append(document(matcalc.diff("x'@A@x", "x")).replace(r"\end{document}", body + "\n\\end{document}"))
    for i, tex in enumerate(docs):
        sub = tmp_path / str(i)
        sub.mkdir()
        proc = _pdflatex(tex, sub)
        assert proc.returncode == 0 and (sub / "doc.pdf").exists(), proc.stdout[-3000:]
        log = (sub / "doc.log").read_text(errors="replace")
        assert "Undefined control sequence" not in log and "Missing character" not in log, log[-3000:]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_document_with_steps_compiles(tmp_path):
    d = matcalc.diff("sum(w*x)+b", "w")
    tex = document(d, steps=True)
    assert r"\subsection*{Derivation}" in tex and r"\begin{align*}" in tex
    proc = _pdflatex(tex, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
