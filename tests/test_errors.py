"""Every error kind, as the user sees it: message, caret, exit status, no traceback.

The command is run in-process (``matcalc.cli.main`` with ``capsys``) and, for a few
cases, as ``python -m matcalc`` in a subprocess to prove that what reaches the
terminal is the rendered error, exit status 2, and never a Python traceback.

An error about a place in the expression renders as three lines::

    syntax error: unexpected '*'; expected '(', a name, a number or a sign
      W@x + * b
            ^

``kind: message``, the source indented by two spaces, and a caret under the column.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import matcalc
from matcalc import cli, errors
from matcalc.evaluate import evaluate
from matcalc.numeric import numeric_check
from matcalc.parse import parse

ROOT = Path(__file__).resolve().parent.parent


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``matcalc ARGV`` in-process: (exit status, stdout, stderr).  argparse errors exit via SystemExit."""
    try:
        status = cli.main(list(argv))
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 2
    out, err = capsys.readouterr()
    return status, out, err


def diff_cli(capsys: pytest.CaptureFixture[str], expr: str, wrt: str = "x", *opts: str) -> tuple[int, str, str]:
    return run(capsys, "diff", "--wrt", wrt, *opts, "--", expr)


def error_lines(status: int, out: str, err: str) -> list[str]:
    """The rendered error's lines, after checking the common contract: status 2, nothing on stdout, no traceback."""
    assert status == 2, (status, out, err)
    assert out == "", out
    assert "Traceback" not in err
    lines = err.rstrip("\n").split("\n")
    assert 1 <= len(lines) <= 3, err
    return lines


def caret_column(lines: list[str]) -> int:
    """The 0-based column the caret points at, relative to the shown source line."""
    assert len(lines) == 3, lines
    assert lines[1].startswith("  ") and lines[2].startswith("  "), lines
    assert lines[2].strip() == "^", lines
    return len(lines[2]) - 3


# ---------------------------------------------------------------------------- the classes


def error_classes() -> list[type]:
    return [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, BaseException) and c.__module__ == errors.__name__
    ]


def test_every_error_class_is_a_matcalc_error() -> None:
    classes = error_classes()
    assert len(classes) >= 10
    for c in classes:
        assert issubclass(c, matcalc.MatcalcError), c
        assert isinstance(c.kind, str) and c.kind.strip(), c
        # exported from the package, the same object
        assert getattr(matcalc, c.__name__) is c, c


# One example per class: how a user meets it, and the start of its message.
EXAMPLES: dict[str, tuple[str, object, str]] = {}


def _example(cls: str, how: str, start: str):
    def deco(fn):
        EXAMPLES[cls] = (how, fn, start)
        return fn

    return deco


@_example("ParseError", 'matcalc diff "W@x + * b" --wrt x', "unexpected '*'; expected")
def _parse_error() -> None:
    matcalc.diff("W@x + * b", "x")


@_example("ShapeError", 'matcalc diff "W@y + b" --wrt W --shape "W: m x n" --shape "y: k"', "cannot multiply W (m×n) by y (k)")
def _shape_error() -> None:
    matcalc.diff("W@y + b", "W", shapes={"W": "m x n", "y": "k"})


@_example("ArgumentError", 'matcalc diff "tr(A, B)" --wrt A', "tr() takes 1 argument, got 2")
def _argument() -> None:
    matcalc.diff("tr(A, B)", "A")


@_example("UnknownFunctionError", 'matcalc diff "sigmod(x)" --wrt x', "unknown function 'sigmod'; did you mean sigmoid?")
def _unknown_function() -> None:
    matcalc.diff("sigmod(x)", "x")


@_example("DomainError", 'matcalc diff "x/0" --wrt x', "division by zero")
def _domain_error() -> None:
    matcalc.diff("x/0", "x")


@_example("DeclarationError", 'matcalc diff "sum(x)" --wrt x --shape "x: 0"', "dimensions must be positive")
def _declaration_error() -> None:
    matcalc.diff("sum(x)", "x", shapes={"x": "0"})


@_example("VariableError", 'matcalc diff "sum(x)" --wrt z', "'z' does not occur in the expression")
def _variable_error() -> None:
    matcalc.diff("sum(x)", "z")


@_example("LimitError", "matcalc diff \"$(printf -- '-%.0s' {1..10001})x\" --wrt x", "too deeply nested")
def _limit_error() -> None:
    matcalc.diff("-" * 10_001 + "x", "x")


@_example("UnsupportedError", 'matcalc diff "exp(x)" --wrt x --order 2', "a Hessian needs a scalar function")
def _unsupported_error() -> None:
    matcalc.diff("exp(x)", "x", order=2)


@_example("CheckError", 'numeric_check(matcalc.diff("sum(log(-exp(x)))", "x"))', "found no point where the expression is finite")
def _check_error() -> None:
    numeric_check(matcalc.diff("sum(log(-exp(x)))", "x"))


@_example("EvaluationError", 'matcalc.diff("tr(inv(X))", "X").to_function()(X=np.zeros((3, 3)))', "inverse of a singular")
def _evaluation_error() -> None:
    matcalc.diff("tr(inv(X))", "X").to_function()(X=np.zeros((3, 3)))


@_example("MatcalcError", 'matcalc.diff("sum(x)", "x", layout="sideways")', "unknown layout 'sideways'")
def _base_error() -> None:
    matcalc.diff("sum(x)", "x", layout="sideways")


def test_every_error_class_has_an_example() -> None:
    assert set(EXAMPLES) == {c.__name__ for c in error_classes()}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_error_examples(name: str) -> None:
    """Each example raises exactly its class, with a one-line message and a well-formed render."""
    _, fn, start = EXAMPLES[name]
    with pytest.raises(matcalc.MatcalcError) as info:
        fn()
    e = info.value
    assert type(e).__name__ == name
    assert e.message.startswith(start), e.message
    assert "\n" not in e.message
    lines = e.render().split("\n")
    assert lines[0] == f"{e.kind}: {e.message}"
    assert len(lines) in (1, 3)


def error_table() -> str:
    """The README table: class, kind, how a user meets it, the rendered message (first line)."""
    rows = ["| class | prefix | example | message |", "|---|---|---|---|"]
    for name in sorted(EXAMPLES, key=lambda n: (n != "MatcalcError", n)):
        how, fn, _ = EXAMPLES[name]
        try:
            fn()
        except matcalc.MatcalcError as e:
            first = e.render().split("\n")[0].replace("|", "\\|")
            rows.append(f"| `{name}` | `{e.kind}:` | `{how.replace('|', chr(92) + '|')}` | {first} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------- syntax errors

SYNTAX_CASES = [
    # expression, caret column, words that must appear in the message
    ("W@x + * b", 6, ["unexpected '*'", "expected", "a name", "a number"]),
    ("sum(x", 5, ["unexpected end of expression", "expected", "')'"]),
    ("(x + y", 6, ["unexpected end of expression", "')'"]),
    ("x + )", 4, ["unexpected ')'", "expected"]),
    ("x $ y", 2, ["unexpected character '$'"]),
    ("W@@x", 2, ["unexpected '@'"]),
    ("x +", 3, ["unexpected end of expression", "a name"]),
    ("sum(axis=0, x)", 12, ["a positional argument cannot follow a keyword argument"]),
    # juxtaposition is not a product: the message says how to write one
    ("exp(x) log(x)", 7, ["missing operator before name 'log'", "'@' for the matrix product", "'*' elementwise"]),
    ("2 3", 2, ["missing operator before number '3'"]),
    ("x^T A x", 4, ["missing operator before name 'A'"]),
    ("   ", 0, ["empty expression"]),
    ("|x - |y||", 7, ["unexpected '||'", "expected '|'"]),  # closing bars together read as a norm bar
    ("{x + y", 6, ["unexpected end of expression", "'}'"]),
    ("np.linalg.slogdet(K)[0]", 21, ["[0] is the sign"]),
    ("x\n+ * y", 2, ["unexpected '*'"]),  # second line: the caret is on the line that holds the error
]


@pytest.mark.parametrize("expr, column, words", SYNTAX_CASES, ids=[c[0] for c in SYNTAX_CASES])
def test_syntax_error_shows_line_and_caret(capsys: pytest.CaptureFixture[str], expr: str, column: int, words: list[str]) -> None:
    lines = error_lines(*diff_cli(capsys, expr))
    assert lines[0].startswith("syntax error: "), lines
    for w in words:
        assert w in lines[0], (w, lines[0])
    shown = expr.split("\n")[-1] if "\n" in expr else expr
    assert lines[1] == "  " + shown, lines
    assert caret_column(lines) == column, lines


def test_juxtaposition_in_the_matlab_dialect_names_its_operators(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "x'A*x", "x", "--syntax", "matlab"))
    assert "missing operator before name 'A'" in lines[0] and "'*' for the matrix product, '.*' elementwise" in lines[0], lines
    assert caret_column(lines) == 2, lines


def test_syntax_error_in_the_matlab_dialect(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "x'*A*", "x", "--syntax", "matlab"))
    assert lines[0].startswith("syntax error: unexpected end of expression")
    assert caret_column(lines) == 5


def test_caret_stays_under_the_error_in_a_long_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A 300-character line is cut to a window around the error; the caret still points at the bad token."""
    expr = " + ".join(f"x{i}" for i in range(40)) + " + * " + " + ".join(f"y{i}" for i in range(40))
    lines = error_lines(*diff_cli(capsys, expr))
    col = caret_column(lines)
    assert len(lines[1]) <= 2 + 80
    assert lines[1][2 + col] == "*", lines


# ---------------------------------------------------------------------------- shape errors


def test_shape_conflict_names_both_operands_shapes_and_place(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "W@y + b", "W", "--shape", "W: m x n", "--shape", "y: k"))
    assert lines[0] == "shape error: cannot multiply W (m×n) by y (k): n columns ≠ k rows"
    assert lines[1] == "  W@y + b"
    assert caret_column(lines) == 1  # under the @ where they meet


def test_shape_conflict_with_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "sum(A@B)", "A", "--shape", "A: 3 x 4", "--shape", "B: 5 x 2"))
    assert "A (3×4)" in lines[0] and "B (5×2)" in lines[0] and "4 columns ≠ 5 rows" in lines[0], lines
    assert caret_column(lines) == 5


def test_elementwise_conflict_names_both_operands(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "sum(w*x) + b", "w", "--shape", "w: n", "--shape", "x: k"))
    assert lines[0].startswith("shape error: cannot multiply w (n) and x (k)"), lines
    assert caret_column(lines) == 5


def test_broadcast_conflict_between_matrix_and_vector(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "sum(A + x)", "x", "--shape", "A: 3 x 4", "--shape", "x: 5"))
    assert lines[0].startswith("shape error: cannot add A (3×4) and x (5)"), lines
    assert caret_column(lines) == 6


def test_matrix_power_needs_a_square_matrix(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "tr(matrix_power(A, 2))", "A", "--shape", "A: 3 x 4"))
    assert "square" in lines[0] and "A" in lines[0], lines


# ---------------------------------------------------------------------------- unknown functions


@pytest.mark.parametrize(
    "expr, suggestion",
    [("sigmod(x)", "sigmoid"), ("softmx(x)", "softmax"), ("tarce(A)", "trace"), ("Sigmoid(x)", "sigmoid"), ("lgo(x)", "log")],
)
def test_unknown_function_suggests_the_nearest_name(capsys: pytest.CaptureFixture[str], expr: str, suggestion: str) -> None:
    lines = error_lines(*diff_cli(capsys, expr))
    name = expr.split("(")[0]
    assert lines[0] == f"error: unknown function {name!r}; did you mean {suggestion}?", lines
    assert caret_column(lines) == 0
    with pytest.raises(matcalc.UnknownFunctionError):
        matcalc.check(expr)


def test_unknown_function_without_a_near_name(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "1 + frobnicate(x)"))
    assert lines[0] == "error: unknown function 'frobnicate'", lines
    assert caret_column(lines) == 4


def test_wrong_number_of_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "tr(A, B)", "A"))
    assert lines[0] == "argument error: tr() takes 1 argument, got 2", lines
    assert caret_column(lines) == 0


def test_unknown_keyword_argument(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "sum(x, foo=1)"))
    assert lines[0] == "argument error: sum() has no argument named 'foo'", lines


def test_a_shape_declared_twice_on_the_command_line_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    from matcalc.cli import main

    assert main(["diff", "sum(w*x)", "--wrt", "w", "--shape", "w:n", "--shape", "w: m"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the shape of 'w' is declared twice"), err


def test_repeated_keyword_argument_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Was accepted with the last value winning; now an error, as in Python."""
    lines = error_lines(*diff_cli(capsys, "sum(x, axis=0, axis=1)"))
    assert "sum() got the argument 'axis' twice" in lines[0], lines
    assert caret_column(lines) == 0


# ---------------------------------------------------------------------------- --wrt


def test_wrt_an_absent_undeclared_name_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "sum(x)", "z"))
    assert lines == ["error: 'z' does not occur in the expression (its variables: x); declare its shape to get a zero derivative"]
    with pytest.raises(matcalc.VariableError):
        matcalc.diff("sum(x)", "z")


def test_wrt_a_letter_juxtaposed_into_a_name_says_to_write_the_product(capsys: pytest.CaptureFixture[str]) -> None:
    # ‖Ax − b‖² typed from a textbook: Ax is one name, and x does not occur
    lines = error_lines(*diff_cli(capsys, "norm(Ax - b)^2", "x"))
    assert lines == ["error: 'x' does not occur in the expression (its variables: Ax, b); 'Ax' is one name: write the product out (A@x)"]
    with pytest.raises(matcalc.VariableError, match=r"'AXB' is one name: write the product out \(A\*X\*B\)"):
        matcalc.diff("trace(AXB)", "X", syntax="matlab")
    # a Greek name is a name (theta holds no t)
    with pytest.raises(matcalc.VariableError, match="declare its shape"):
        matcalc.diff("theta", "t")


def test_wrt_an_absent_declared_name_is_a_zero_of_its_shape(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = diff_cli(capsys, "sum(x)", "z", "--shape", "z: k")
    assert status == 0 and err == "", err
    header, value = out.rstrip("\n").split("\n")
    assert header.startswith("# ∂/∂z sum(x)  [gradient, k,"), header
    assert value == "0"
    d = matcalc.diff("sum(x)", "z", shapes={"z": "k"})
    assert d.shape == "k" and d.kind == "gradient"
    # and numerically: a vector of k zeros
    g = d.to_function()(x=np.arange(3.0), z=np.ones(5))
    assert np.array_equal(g, np.zeros(5))


def test_wrt_an_absent_declared_matrix_in_a_vector_expression() -> None:
    d = matcalc.diff("W@x", "V", shapes={"V": "2 x 3", "W": "4 x 5"})
    assert d.text == "0"
    assert d.kind == "vec-Jacobian"
    j = d.to_function()(W=np.ones((4, 5)), x=np.ones(5), V=np.ones((2, 3)))
    assert j.shape == (4, 6) and not j.any()


@pytest.mark.parametrize("wrt", ["", ",", "x,,y", " "])
def test_wrt_empty_names(capsys: pytest.CaptureFixture[str], wrt: str) -> None:
    lines = error_lines(*run(capsys, "diff", "sum(x)", "--wrt", wrt))
    assert lines[0].startswith("error: name the variable(s) to differentiate by"), lines


# ---------------------------------------------------------------------------- declarations

DECLARATION_CASES = [
    # declaration, message start, caret column in the declaration
    ("x m n", "cannot read 'x m n': write NAME: SHAPE", 0),
    ("2x: n", "'2x' is not a variable name", 0),
    (": n", "'' is not a variable name", 0),
    ("x: 0", "dimensions must be positive, got 0 for x", None),
    ("x: -3", "bad dimension '-3' for x", None),
    ("x: 1.5", "bad dimension '1.5' for x", None),
    ("x: m x n x p", "cannot read shape ' m x n x p' for x", None),
    ("x: n x", "cannot read shape ' n x' for x", None),
    ("x: ", "empty shape for x", None),
    ("S: 3 x 4 symmetric", "a symmetric matrix must be square, not 3×4 for S", None),
]


@pytest.mark.parametrize("decl, start, column", DECLARATION_CASES, ids=[c[0] for c in DECLARATION_CASES])
def test_bad_declarations(capsys: pytest.CaptureFixture[str], decl: str, start: str, column: int | None) -> None:
    lines = error_lines(*diff_cli(capsys, "sum(x)", "x", "--shape", decl))
    assert lines[0].startswith("error: " + start), lines
    assert lines[1] == "  " + decl
    col = caret_column(lines)
    if column is not None:
        assert col == column
    else:
        # the caret points into the shape part, after the colon
        assert col >= decl.index(":"), lines


def test_bad_dimension_caret_is_under_the_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "sum(x)", "x", "--shape", "x: -3"))
    assert caret_column(lines) == 3


def test_declaration_errors_from_the_api() -> None:
    with pytest.raises(matcalc.DeclarationError, match="at most two dimensions"):
        matcalc.diff("sum(x)", "x", shapes={"x": (2, 3, 4)})
    with pytest.raises(matcalc.DeclarationError, match="cannot read a shape"):
        matcalc.diff("sum(x)", "x", shapes={"x": 2.5})
    with pytest.raises(matcalc.DeclarationError, match="bad dimension True"):
        matcalc.diff("sum(x)", "x", shapes={"x": (True,)})


def test_declared_shape_conflicting_with_use(capsys: pytest.CaptureFixture[str]) -> None:
    """Two different declared dimension names never unify: W: m x n, x: k in W@x is an error, not m x k."""
    lines = error_lines(*diff_cli(capsys, "W@x", "x", "--shape", "W: m x n", "--shape", "x: k"))
    assert "n columns ≠ k rows" in lines[0], lines


# ---------------------------------------------------------------------------- order, layout, options


def test_order_two_of_a_non_scalar(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "exp(x)", "x", "--order", "2"))
    assert lines == ["unsupported: a Hessian needs a scalar function; this one is a vector (n)"]
    lines = error_lines(*diff_cli(capsys, "W@x", "W", "--order", "2"))
    assert lines == ["unsupported: a Hessian needs a scalar function; this one is a vector (m)"]
    with pytest.raises(matcalc.UnsupportedError):
        matcalc.diff("A@B", "A", order=2)


@pytest.mark.parametrize("argv", [["--layout", "sideways"], ["--order", "3"], ["--format", "pdf"], ["--syntax", "fortran"]])
def test_bad_option_values_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    status, out, err = run(capsys, "diff", "sum(x)", "--wrt", "x", *argv)
    assert status == 2 and out == ""
    assert "invalid choice" in err and "usage:" in err and "Traceback" not in err


def test_api_option_errors() -> None:
    with pytest.raises(matcalc.MatcalcError, match="unknown layout 'sideways'; choose one of mixed, numerator, denominator"):
        matcalc.diff("sum(x)", "x", layout="sideways")
    with pytest.raises(matcalc.MatcalcError, match="order must be 1 or 2, not 3"):
        matcalc.diff("sum(x)", "x", order=3)
    with pytest.raises(matcalc.ParseError, match="unknown syntax 'fortran'"):
        matcalc.diff("sum(x)", "x", syntax="fortran")
    with pytest.raises(matcalc.ParseError, match="must be a string, not int"):
        parse(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("expr", [None, 123, b"x"], ids=["None", "int", "bytes"])
def test_non_string_expression_is_a_parse_error(expr: object) -> None:
    for call in (lambda: matcalc.diff(expr, "x"), lambda: matcalc.check(expr), lambda: matcalc.shape(expr)):
        with pytest.raises(matcalc.ParseError, match="must be a string"):
            call()


def test_assumption_errors(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "sum(y)", "y", "--assume", "sum(y)"))
    assert lines == ["error: an assumption is an equation such as 'sum(y) = 1', not 'sum(y)'"]
    lines = error_lines(*diff_cli(capsys, "sum(y)", "y", "--assume", "y = A"))
    assert lines[0].startswith("error: the two sides of 'y = A' differ in shape"), lines


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys)
    assert status == 2 and "usage:" in out


def test_matrix_power_limit(capsys: pytest.CaptureFixture[str]) -> None:
    lines = error_lines(*diff_cli(capsys, "tr(matrix_power(A, 100))", "A"))
    assert "matrix power 100 is too large (limit 64)" in lines[0], lines
    assert caret_column(lines) == 19


# ---------------------------------------------------------------------------- numbers that are too big


@pytest.mark.parametrize("expr, column", [("1e5000*x", 0), ("x*1e-5000", 2), ("x + 2*1e999999", 6)])
def test_huge_literal_is_an_answer_or_a_clean_error(capsys: pytest.CaptureFixture[str], expr: str, column: int) -> None:
    """Was a ValueError (int → str past 4,300 digits) with a traceback; now a LimitError under the literal."""
    lines = error_lines(*diff_cli(capsys, expr))
    assert lines[0].startswith("limit: the number ") and "out of range" in lines[0], lines
    assert caret_column(lines) == column


@pytest.mark.parametrize(
    "expr, message, column",
    [("x/0", "division by zero", 1), ("1/(1-1)*x", "division by zero", 1), ("0^-1*x", "zero raised to a negative power", 1)],
)
def test_division_by_literal_zero_is_an_error(capsys: pytest.CaptureFixture[str], expr: str, message: str, column: int) -> None:
    """Was accepted (∂(x/0)/∂x printed as I/0); now a DomainError at the operator."""
    lines = error_lines(*diff_cli(capsys, expr))
    assert lines[0] == f"error: {message}", lines
    assert caret_column(lines) == column
    with pytest.raises(matcalc.DomainError):
        matcalc.diff(expr, "x")


@pytest.mark.parametrize("expr", ["log(0)*x", "sqrt(-1)*x", "inv(zeros(n, n))@x"])
def test_constant_outside_its_domain_is_a_domain_error(expr: str) -> None:
    with pytest.raises(matcalc.DomainError):
        matcalc.diff(expr, "x")


# ---------------------------------------------------------------------------- numeric evaluation


def test_inverse_of_a_singular_matrix_is_an_evaluation_error() -> None:
    f = matcalc.diff("tr(inv(X))", "X").to_function()
    for singular in (np.zeros((3, 3)), np.ones((3, 3)), np.diag([1.0, 1e-20, 1.0])):
        with pytest.raises(matcalc.EvaluationError, match="singular"):
            f(X=singular)
    # and a regular one works: ∇ tr(X⁻¹) = −X⁻ᵀX⁻ᵀ
    x = np.array([[2.0, 1.0], [0.5, 3.0]])
    inv = np.linalg.inv(x)
    assert np.allclose(f(X=x), -(inv.T @ inv.T))


def test_logdet_of_a_matrix_with_negative_determinant_is_an_evaluation_error() -> None:
    c = matcalc.check("logdet(X)")
    with pytest.raises(matcalc.EvaluationError, match="determinant is not positive"):
        evaluate(c.expr, c.variables, {"X": -np.eye(3)})


def test_log_of_negatives_raises_or_warns() -> None:
    c = matcalc.check("sum(log(x))")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = evaluate(c.expr, c.variables, {"x": np.array([-1.0, 2.0])})
        except matcalc.EvaluationError:
            return
    # was a silent NaN; now a warning that names the cause, and the NaN is not dressed up as a number
    assert caught, f"no error and no warning; value {value!r}"
    assert any("domain" in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert np.isnan(value).all()


def test_derivative_outside_the_domain_raises_or_warns() -> None:
    f = matcalc.diff("sum(sqrt(x))", "x").to_function()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = f(x=np.array([-1.0, 4.0]))
        except matcalc.EvaluationError:
            return
    assert caught, f"no error and no warning; value {value!r}"
    # 1/(2√x): NaN at −1, and still right at 4
    assert np.isnan(value[0]) and value[1] == pytest.approx(0.25)


def test_domain_errors_never_pass_a_check() -> None:
    """An expression finite nowhere cannot be verified: CheckError from numeric_check, and check() says so (never 'passed')."""
    for expr in ("sum(log(-exp(x)))", "sum(sqrt(-x*x - 1))"):
        d = matcalc.diff(expr, "x")
        with pytest.raises(matcalc.CheckError, match="found no point where the expression is finite"):
            numeric_check(d)
        report = d.check()
        shown = report.render()
        assert "could not" in shown
        assert "passed" not in shown.split("\n")[-1]


def test_evaluation_input_errors() -> None:
    f = matcalc.diff("sum(log(x))", "x").to_function()
    with pytest.raises(matcalc.EvaluationError, match="missing value for x"):
        f()
    with pytest.raises(matcalc.EvaluationError, match="x is a vector, got an array of shape"):
        f(x=np.ones((2, 2)))
    g = matcalc.diff("W@x", "x").to_function()
    with pytest.raises(matcalc.EvaluationError, match="dimension"):
        g(W=np.ones((2, 3)), x=np.ones(4))


def test_non_numeric_input_is_an_evaluation_error() -> None:
    """Was a raw ValueError from np.asarray."""
    f = matcalc.diff("sum(log(x))", "x").to_function()
    with pytest.raises(matcalc.EvaluationError, match="x: expected numbers, got str"):
        f(x="abc")


@pytest.mark.parametrize(
    "expr", ["1" * 5000 + "*x", "x" * 5000 + "(x)", "sum(x, f" + "o" * 5000 + "=1)"], ids=["number", "function", "keyword"]
)
def test_error_messages_quote_long_user_text_briefly(capsys: pytest.CaptureFixture[str], expr: str) -> None:
    lines = error_lines(*diff_cli(capsys, expr))
    assert len(lines[0]) <= 200, len(lines[0])


# Sizes no machine can allocate (petabytes, beyond the address space), so these never touch real memory.
HUGE = 100_000_000


def test_evaluation_too_large_is_an_evaluation_error() -> None:
    f = matcalc.diff(f"sum(exp(a*eye({HUGE})))", "a").to_function()  # sum(exp(aI) ⊙ I): n² entries
    with pytest.raises(matcalc.EvaluationError):
        f(a=1.0)


def test_check_on_huge_sizes_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        status, out, err = run(capsys, "diff", "--wrt", "a", "--check", "--", f"sum(ones({HUGE}, {HUGE})*a)")
    except MemoryError as e:  # in-process, the escape surfaces here
        pytest.fail(f"MemoryError escaped: {e}")
    assert "Traceback" not in err
    assert status in (1, 2, 3), (status, err)  # 3: could not check (too large for explicit matrices)


def test_check_on_large_declared_sizes_finishes() -> None:
    """sum(A) by A with A: 3000 x 3000: verify (or decline to, with a message) within 10 s."""
    try:
        p = _subprocess("diff", "sum(A)", "--wrt", "A", "--shape", "A: 3000 x 3000", "--check", timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("--check still running after 10 s")
    assert "Traceback" not in p.stderr
    assert p.returncode in (0, 1, 2, 3)
    if p.returncode == 3:
        assert "could not check" in p.stdout


# ---------------------------------------------------------------------------- as a real process


def _subprocess(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "matcalc", *argv], capture_output=True, text=True, timeout=timeout, env=env)


def test_python_m_matcalc_syntax_error_has_no_traceback() -> None:
    p = _subprocess("diff", "W@x + * b", "--wrt", "x")
    assert p.returncode == 2
    assert p.stdout == ""
    assert "Traceback" not in p.stderr
    assert p.stderr.split("\n")[:3] == [
        "syntax error: unexpected '*'; expected '(', a name, a number or a sign",
        "  W@x + * b",
        "        ^",
    ]


def test_python_m_matcalc_shape_error_has_no_traceback() -> None:
    p = _subprocess("diff", "W@y + b", "--wrt", "W", "--shape", "W: m x n", "--shape", "y: k")
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert p.stderr.startswith("shape error: cannot multiply W (m×n) by y (k): n columns ≠ k rows\n  W@y + b\n   ^")


@pytest.mark.parametrize(
    "expr, syntax, column",
    [
        ("norm(X, 2)", "numpy", 8),
        ("norm(X, ord=1)", "numpy", 12),
        ("norm(X, 'nuc')", "numpy", 8),
        ("norm(X, 3)", "numpy", 8),
        ("norm(x, 0.5)", "numpy", 8),  # not a norm (p < 1)
        ("norm(X)", "matlab", 0),
        ("1 + norm(X, 2)^2", "numpy", 12),
    ],
)
def test_operator_norms_of_matrices_are_refused_not_misread(expr: str, syntax: str, column: int) -> None:
    """NumPy's norm(X, 2) is the spectral norm and MATLAB's norm(X) too: differentiating
    the Frobenius norm instead would be a wrong answer to the question asked."""
    with pytest.raises(errors.UnsupportedError) as info:
        matcalc.diff(expr, "X" if "X" in expr else "x", syntax=syntax)
    assert info.value.column == column, info.value.render()
    assert len(info.value.render().splitlines()) == 3


@pytest.mark.parametrize(
    "expr, syntax, wrt, text",
    [
        ("norm(X)", "numpy", "X", "X/‖X‖"),
        ("norm(X, 'fro')", "matlab", "X", "X/‖X‖"),
        ("norm2(X)", "matlab", "X", "X/‖X‖"),
        ("norm(x, 2.0)", "numpy", "x", "x/‖x‖"),
        ("norm(x, 1)", "numpy", "x", "sign(x)"),
        ("norm(x)", "matlab", "x", "x/‖x‖"),
        ("norm(W@x, 2)", "numpy", "W", "Wxxᵀ/‖Wx‖"),
    ],
)
def test_entrywise_norms_are_accepted(expr: str, syntax: str, wrt: str, text: str) -> None:
    d = matcalc.diff(expr, wrt, syntax=syntax)
    assert d.text == text
    if syntax == "matlab" and wrt == "X":  # the Frobenius norm prints as norm(X, 'fro') there, and parses back
        assert d.ascii() == "X ./ norm(X, 'fro')"
        from matcalc.printing import to_ascii

        assert to_ascii(matcalc.check(d.ascii(), syntax="matlab").expr, "matlab") == d.ascii()


def test_cli_reads_an_expression_that_starts_with_a_minus(capsys) -> None:
    """argparse took "-y'@log(p)" for an unknown option and said the expression was missing."""
    from matcalc.cli import main

    assert main(["diff", "-y'@log_softmax(W@x)", "--wrt", "W"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "(sum(y) softmax(Wx) − y)xᵀ"
    assert main(["diff", "--wrt", "x", "-x"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "−I"
    with pytest.raises(SystemExit):
        main(["diff", "x", "-y", "--wrt", "x"])
    assert "unrecognized arguments: -y" in capsys.readouterr().err


def test_a_bias_added_to_every_row() -> None:
    """X@W + b with a declared k-vector b: NumPy adds a 1-D b to every row, and so does
    matcalc when b is as long as the rows are wide (b.T says the same); where b's length
    fits neither side, the message says how a row is written."""
    shapes = {"X": "m x d", "W": "d x k", "b": "k"}
    d = matcalc.diff("sum(relu(X@W + b))", "b", shapes=shapes)
    assert d.node is matcalc.diff("sum(relu(X@W + b.T))", "b", shapes=shapes).node
    assert d.check(exact_timeout=0).passed
    with pytest.raises(matcalc.MatcalcError) as info:
        matcalc.diff("sum(relu(X@W + b))", "W", shapes={"X": "m x d", "W": "d x k", "b": "j"})
    assert "shapes do not match or broadcast" in info.value.render()


def test_a_vector_beside_a_matrix_in_numpy_code_is_a_row() -> None:
    """In code pasted from NumPy (np.sum, X.sum()) an undeclared-length vector beside a matrix
    is NumPy's 1-D array, added to every row; written as mathematics (W₁X + b₁) it is a
    column, added to every column."""
    vector = {"b": "vector"}
    for code in ("np.sum(X @ W + b)", "(X @ W + b).sum()", "torch.relu(X @ W + b).sum()"):
        got = matcalc.shape(code, shapes=vector)
        assert got["b"] == got["W"].split("×")[1], (code, got)
    got = matcalc.shape("sum(W1 @ X + b1)", shapes={"b1": "vector"})
    assert got["b1"] == got["W1"].split("×")[0], got
    d = matcalc.diff("np.sum(np.tanh(X @ W + v))", "v")
    assert d.text == "(1 − tanh(XW + 𝟙vᵀ)²)ᵀ𝟙" or d.check(exact_timeout=0).passed, d.text


def test_expm_without_a_closed_form_points_at_the_call() -> None:
    with pytest.raises(matcalc.MatcalcError) as info:
        matcalc.diff("tr(expm(X)) + tr(A@expm(X))", "X")
    lines = info.value.render().splitlines()
    assert lines[0].startswith("unsupported: the derivative of expm has no closed form here")
    assert lines[2].index("^") == lines[1].rindex("expm")  # the call outside a trace, not the first one


NEW_FUNCTION_ERRORS = [
    # (expression, message start, the caret's column)
    ("gelu(x, approximate='foo')", "argument error: gelu's approximate is 'none'", 20),
    ("sum(where(x, 1, 2))", "unsupported: where() needs a comparison", 10),
    ("var(x, ddof=1, unbiased=True)", "argument error: var() takes ddof (correction) or unbiased", 24),
    ("var(x, 1, 2)", "argument error: var() takes the array and an axis by position", 10),
    ("var(x, ddof=0.5)", "argument error: var()'s ddof is a whole number", 12),
    ("max(x, keepdims=True)", "argument error: keepdims needs an axis here", 16),
    ("clip(x)", "argument error: clip() needs a lower or an upper bound", 0),
    ("clip(x, None, None)", "argument error: clip() needs a lower or an upper bound", 0),
    ("x*None", "unsupported: None is not a value matcalc can differentiate", 2),
    ("transpose(x, 0, 3)", "argument error: transpose() of a matrix takes the axes 0 and 1", 0),
    ("mse_loss(x, 2*x, reduction='avg')", "argument error: mse_loss's reduction is 'mean', 'sum' or 'none'", 27),
]


@pytest.mark.parametrize("expr,start,column", NEW_FUNCTION_ERRORS)
def test_errors_of_rewritten_functions_point_at_the_argument(expr: str, start: str, column: int) -> None:
    with pytest.raises(matcalc.MatcalcError) as info:
        matcalc.diff(expr, "x")
    lines = str(info.value).split("\n")
    assert lines[0].startswith(start), lines[0]
    assert lines[1] == "  " + expr
    assert lines[2] == " " * (2 + column) + "^"


def test_a_commutation_size_no_input_fixes_is_an_evaluation_error() -> None:
    """kron(S, eye(n)) by S holds K with the size n, which no argument of to_function() fixes:
    that was a bare KeyError (found by CI's random run)."""
    import numpy as np

    d = matcalc.diff("kron(Sm, eye(n))", "Sm", shapes={"Sm": ("m", "m")})
    with pytest.raises(errors.EvaluationError, match="the size n is not determined"):
        d.to_function()(Sm=np.eye(3))


def test_an_internal_error_is_one_line_that_says_it_is_a_bug(monkeypatch, capsys):
    """A bug in matcalc (here a rule that raises) reaches the user as one line, not a traceback."""
    import matcalc.engine
    from matcalc.cli import main

    def broken(*args, **kwargs):
        raise NameError("name 'ONE' is not defined")

    monkeypatch.delenv("MATCALC_DEBUG", raising=False)
    monkeypatch.setattr(matcalc.engine, "derivative", broken)
    monkeypatch.setattr("matcalc.api.derivative", broken, raising=False)
    assert main(["diff", "x'@x", "--wrt", "x"]) == 70
    err = capsys.readouterr().err
    assert err.startswith("internal error: NameError: name 'ONE' is not defined\n") and "Traceback" not in err
    monkeypatch.setenv("MATCALC_DEBUG", "1")
    with pytest.raises(NameError):
        main(["diff", "x'@x", "--wrt", "x"])


def test_a_matrix_power_too_large_to_print_is_a_one_line_error(capsys):
    # fuzz find: 1e50003 as an exponent raised Python's int-to-str limit inside the message
    lines = error_lines(*diff_cli(capsys, "matrix_power(A,1e50003)", "A"))
    assert lines[0] == "shape error: matrix power 1e50003 is too large (limit 64)", lines
