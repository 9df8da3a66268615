"""Fuzzing the whole pipeline: hostile input never crashes, hangs or leaks a raw exception.

Hypothesis feeds four kinds of input to ``parse`` → ``check`` → ``diff`` (by every
variable, in every layout, order 1 and 2) → every printer → the ``matcalc`` command
(in-process, output captured):

* random strings (arbitrary Unicode, and strings over the language's own characters);
* token soups: random sequences of the language's tokens (names, numbers, operators,
  parentheses, commas, registry function names, ``'``, ``.T``, ``axis=`` ...);
* random well-formed expressions (a small grammar-driven generator), which reach
  shape inference and differentiation far more often than random text;
* mutated valid expressions: insert, delete, swap, duplicate or replace characters
  or tokens of valid expressions.

The property, checked by :func:`exercise`:

* the only exceptions that escape are :class:`matcalc.MatcalcError` subclasses, each
  with a non-empty message whose ``render()`` is ``"<kind>: <message>"`` plus at most
  a source line and a caret line; a :class:`matcalc.ParseError` always has the caret;
* no single call takes longer than :data:`TIME_LIMIT` (1 s; 2 s when ``CI`` is set):
  the point is catching hangs and blow-ups, not benchmarking;
* ``unparse`` round-trips: ``parse(unparse(t)) == t`` for every tree that parses;
* ``matcalc diff ... `` exits 0 with output, or 2 with an error message and no traceback.

Printers being written elsewhere (``latex``, ``steps``, ``numpy_source``, ``cse``) are
exercised as soon as they exist: :func:`optional_outputs` probes each once and skips
only those that raise NotImplementedError / ImportError / AttributeError.

The same :func:`exercise` drives the long campaign in ``scripts/fuzz_campaign.py``.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import re
import signal
import string
import tempfile
import time
import traceback
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matcalc
from matcalc import cli
from matcalc.parse import parse as parse_fn
from matcalc.printing.source import unparse
from matcalc.registry import FUNCTIONS

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: Longest any single call may take, in seconds (shared machines: generous in CI).
TIME_LIMIT = float(os.environ.get("MATCALC_FUZZ_TIME_LIMIT", "2.0" if IN_CI else "1.0"))
#: A call still running after this many seconds is interrupted and reported as a hang.
HANG_LIMIT = 30.0
#: Most lines an error's render() may have: the message, the source line, the caret.
MAX_RENDER_LINES = 3

LAYOUTS = ("mixed", "numerator", "denominator")
SYNTAXES = ("numpy", "matlab")


# ---------------------------------------------------------------------------- the harness


@dataclass
class Escape:
    """One violation of the robustness property, with what it takes to reproduce it."""

    stage: str  # "parse", "check", "diff", "text", "cli", ...
    source: str
    syntax: str
    detail: str  # exception type and message, or the timing
    call: str  # a Python line reproducing it

    def __str__(self) -> str:
        return f"[{self.stage}] {self.detail}\n    repro: {self.call}"


@dataclass
class Report:
    """Escapes found while exercising one input, and how far the input got."""

    escapes: list[Escape] = field(default_factory=list)
    parsed: bool = False
    checked: bool = False
    derivatives: int = 0


class Hang(BaseException):
    """Raised by the watchdog in the main thread when a call runs past :data:`HANG_LIMIT`."""


#: Where the hard watchdog writes the call it killed the process on (see :func:`watchdog`).
HARD_HANG_FILE = os.path.join(tempfile.gettempdir(), f"matcalc-fuzz-hang-{os.getpid()}.txt")


@contextlib.contextmanager
def watchdog(seconds: float, note: str = "") -> Iterator[None]:
    """Interrupt the block with :class:`Hang` after ``seconds``; kill the process after ``2·seconds + 5``.

    The soft limit is a SIGALRM in the main thread (matcalc runs deep passes in a
    worker thread and joins it; the join is interruptible).  A hang inside one C call
    that holds the GIL (a huge integer power, say) never lets the handler run, so a
    hard limit backs it up: :func:`faulthandler.dump_traceback_later` exits the process
    from a C thread, after writing ``note`` (the repro) and the stacks to
    :data:`HARD_HANG_FILE`.  ``seconds <= 0`` disables both.
    """
    if seconds <= 0:
        yield
        return
    hard = open(HARD_HANG_FILE, "w", encoding="utf-8")  # noqa: SIM115 - faulthandler needs it open
    hard.write(f"matcalc fuzz: the process was killed after {2 * seconds + 5:g} s in\n    {note}\n\n")
    hard.flush()
    faulthandler.dump_traceback_later(2 * seconds + 5, exit=True, file=hard)
    usable = hasattr(signal, "setitimer") and _in_main_thread() and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
    if usable:

        def fire(signum: int, frame: Any) -> None:
            raise Hang(f"still running after {seconds:g} s")

        signal.signal(signal.SIGALRM, fire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if usable:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
        faulthandler.cancel_dump_traceback_later()
        hard.close()


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def error_problems(e: BaseException) -> list[str]:
    """What is wrong with an exception that escaped matcalc (empty: it is a proper error)."""
    if not isinstance(e, matcalc.MatcalcError):
        return [f"{type(e).__name__} escaped: {_short(e)}"]
    problems = []
    if not str(e.message).strip():
        problems.append(f"{type(e).__name__} with an empty message")
    try:
        shown = e.render()
    except Exception as inner:  # noqa: BLE001 - the render itself must not fail
        return [f"{type(e).__name__}.render() raised {type(inner).__name__}: {_short(inner)}"]
    lines = shown.split("\n")
    if not lines or not lines[0].startswith(f"{e.kind}: "):
        problems.append(f"{type(e).__name__}.render() does not start with {e.kind + ':'!r}: {shown[:200]!r}")
    if len(lines) > MAX_RENDER_LINES:
        problems.append(f"{type(e).__name__}.render() has {len(lines)} lines: {shown[:300]!r}")
    controls = sorted({c for c in shown if c != "\n" and unicodedata.category(c) in ("Cc", "Zl", "Zp")})
    if controls:
        problems.append(f"{type(e).__name__}.render() shows control characters {''.join(controls)!r}: {shown[:300]!r}")
    if isinstance(e, matcalc.ParseError) and e.source is not None:
        if len(lines) != 3 or lines[2].strip() != "^":
            problems.append(f"ParseError without a caret line: {shown[:300]!r}")
        elif len(lines[2]) - 1 > len(lines[1]):
            problems.append(f"ParseError caret beyond the end of the shown line: {shown[:300]!r}")
    return problems


def _short(e: BaseException) -> str:
    text = str(e).replace("\n", " ⏎ ")
    return text if len(text) <= 300 else text[:297] + "..."


class Runner:
    """Runs calls for one input, timing each and recording every escape."""

    def __init__(self, source: str, syntax: str, time_limit: float = TIME_LIMIT, hang_limit: float = HANG_LIMIT):
        self.source = source
        self.syntax = syntax
        self.time_limit = time_limit
        self.hang_limit = hang_limit
        self.report = Report()

    def escape(self, stage: str, detail: str, call: str) -> None:
        self.report.escapes.append(Escape(stage, self.source, self.syntax, detail, call))

    def run(self, stage: str, call: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """``(True, value)`` if ``fn()`` returned; ``(False, error)`` if it raised a proper MatcalcError.

        Escapes (other exceptions, malformed errors, slow or hung calls) are recorded
        and give ``(False, None)``.
        """
        start = time.perf_counter()
        try:
            with watchdog(self.hang_limit, call):
                value = fn()
        except Hang as h:
            self.escape(stage, f"hang: {h}", call)
            return False, None
        except RecursionError as e:
            self.escape(stage, f"RecursionError escaped: {_short(e)}", call)
            return False, None
        except Exception as e:  # noqa: BLE001 - classifying is the point
            elapsed = time.perf_counter() - start
            problems = error_problems(e)
            for p in problems:
                tb = "" if isinstance(e, matcalc.MatcalcError) else " at " + _where(e)
                self.escape(stage, p + tb, call)
            self._timed(stage, call, elapsed)
            return False, (None if problems else e)
        self._timed(stage, call, time.perf_counter() - start)
        return True, value

    def _timed(self, stage: str, call: str, elapsed: float) -> None:
        if elapsed > self.time_limit:
            self.escape(stage, f"slow: {elapsed:.2f} s (limit {self.time_limit:g} s)", call)


def _where(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    ours = [f for f in frames if "matcalc" in f.filename] or frames
    if not ours:
        return "?"
    f = ours[-1]
    return f"{os.path.basename(f.filename)}:{f.lineno} ({f.name})"


# ---------------------------------------------------------------------------- optional printers

_OPTIONAL: dict[str, Callable[[Any], Any]] = {
    "latex": lambda d: d.latex(),
    "steps": lambda d: d.steps(),
    "steps_latex": lambda d: d.steps("latex"),
    "numpy_source": lambda d: d.numpy_source(),
    "cse": lambda d: d.cse(),
}
_OPTIONAL_CALLS = {
    "latex": "d.latex()",
    "steps": "d.steps()",
    "steps_latex": "d.steps('latex')",
    "numpy_source": "d.numpy_source()",
    "cse": "d.cse()",
}


@lru_cache(maxsize=1)
def optional_outputs() -> tuple[str, ...]:
    """The optional printers that exist: each probed once on a simple derivative."""
    probe = matcalc.diff("sum(w*x) + b", "w")
    present = []
    for name, fn in _OPTIONAL.items():
        try:
            fn(probe)
        except (NotImplementedError, ImportError, AttributeError):
            continue
        except Exception:  # noqa: BLE001 - present but broken: exercise it so the fuzz reports it
            pass
        present.append(name)
    return tuple(present)


def cli_formats() -> tuple[str, ...]:
    """``--format`` values the CLI can serve with the printers that exist."""
    have = optional_outputs()
    out = ["text", "ascii"]
    if "latex" in have:
        out.append("latex")
    if "numpy_source" in have:
        out.append("numpy")
    return tuple(out)


def warm_up() -> None:
    """Build both parsers and import the printers once, so first-call costs are not timed."""
    for syntax in SYNTAXES:
        parse_fn("x", syntax)
    d = matcalc.diff("0.5*norm(y - W2@relu(W1@x))^2", "W1")
    _ = d.text, d.ascii()
    optional_outputs()
    run_cli(["diff", "--wrt", "x", "--", "sum(x)"])


# ---------------------------------------------------------------------------- the CLI


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``matcalc.cli.main(argv)`` with stdout and stderr captured: (status, out, err)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as e:  # argparse usage errors exit 2
            status = e.code if isinstance(e.code, int) else 2
    return status, out.getvalue(), err.getvalue()


def _cli_problems(status: int, out: str, err: str, allowed: tuple[int, ...] = (0, 2)) -> list[str]:
    problems = []
    if status not in allowed:
        problems.append(f"exit status {status}")
    if "Traceback" in err or "Traceback" in out:
        problems.append("printed a traceback")
    if status == 2 and not err.strip():
        problems.append("exit 2 without a message on stderr")
    if status == 0 and not out.strip():
        problems.append("exit 0 without output")
    return problems


# ---------------------------------------------------------------------------- one input, everything


def exercise(
    source: str,
    syntax: str = "numpy",
    *,
    shapes: dict[str, str] | None = None,
    max_vars: int = 3,
    layouts: tuple[str, ...] = LAYOUTS,
    outputs_for: int | None = None,
    cli_format: str | None = "text",
    cli_flags: tuple[str, ...] = (),
    cli_shape: bool = True,
    time_limit: float = TIME_LIMIT,
    hang_limit: float = HANG_LIMIT,
) -> Report:
    """Feed ``source`` to every stage and output; return what escaped.

    Every variable (up to ``max_vars``) is differentiated by in each of ``layouts`` at
    order 1 and in the mixed layout at order 2; the optional printers run on the first
    ``outputs_for`` derivatives (all when None), the built-in ones on all.
    """
    r = Runner(source, syntax, time_limit, hang_limit)
    src = repr(source)
    shp = f", shapes={shapes!r}" if shapes else ""
    ok, tree = r.run("parse", f"matcalc.parse.parse({src}, {syntax!r})", lambda: parse_fn(source, syntax))
    if ok:
        r.report.parsed = True
        _round_trip(r, tree)
    check_ok, checked = r.run(
        "check",
        f"matcalc.check({src}{shp}, syntax={syntax!r})",
        lambda: matcalc.check(source, shapes, syntax=syntax),
    )
    names: list[str] = []
    if check_ok:
        r.report.checked = True
        names = list(checked.variables)[:max_vars]
        if not r.run(
            "shape", f"matcalc.shape({src}{shp}, syntax={syntax!r})", lambda: matcalc.shape(source, shapes=shapes, syntax=syntax)
        )[0]:
            r.escape("shape", "matcalc.shape failed where matcalc.check succeeded", f"matcalc.shape({src}{shp})")
    budget = [outputs_for]
    for name in names:
        for layout in layouts:
            _one_derivative(r, source, syntax, shapes, name, layout, 1, budget)
        _one_derivative(r, source, syntax, shapes, name, "mixed", 2, budget)
    if len(names) > 1:
        wrt = ",".join(names)
        r.run(
            "diff",
            f"matcalc.diff({src}, {wrt!r}{shp}, syntax={syntax!r})",
            lambda: matcalc.diff(source, wrt, shapes=shapes, syntax=syntax),
        )
    if check_ok:
        # a name that is nowhere in the expression and not declared: a VariableError, nothing else
        absent = "zz_absent"
        call = f"matcalc.diff({src}, {absent!r}{shp}, syntax={syntax!r})"
        got, value = r.run("diff", call, lambda: matcalc.diff(source, absent, shapes=shapes, syntax=syntax))
        if got or not isinstance(value, matcalc.VariableError):
            r.escape("diff", f"wrt an absent, undeclared name gave {value!r}, not a VariableError", call)
    if cli_format is not None:
        _cli(r, source, syntax, shapes, names[0] if names else "x", cli_format, cli_flags, cli_shape)
    return r.report


def _round_trip(r: Runner, tree: Any) -> None:
    """``parse(unparse(t)) == t`` (positions do not take part in equality)."""
    ok, text = r.run(
        "unparse", f"unparse(matcalc.parse.parse({r.source!r}, {r.syntax!r}), {r.syntax!r})", lambda: unparse(tree, r.syntax)
    )
    if not ok:
        return
    call = f"matcalc.parse.parse({text!r}, {r.syntax!r})"
    ok, again = r.run("unparse", call, lambda: parse_fn(text, r.syntax))
    if ok and again != tree:
        r.escape("unparse", f"unparse does not round-trip: {r.source!r} → {text!r} parses differently", call)
    elif not ok and again is not None:
        r.escape("unparse", f"unparse gave {text!r}, which does not parse: {again.render()!r}", call)


def _one_derivative(
    r: Runner,
    source: str,
    syntax: str,
    shapes: dict[str, str] | None,
    name: str,
    layout: str,
    order: int,
    budget: list[int | None],
) -> None:
    shp = f", shapes={shapes!r}" if shapes else ""
    call = f"d = matcalc.diff({source!r}, {name!r}{shp}, syntax={syntax!r}, layout={layout!r}, order={order})"
    ok, d = r.run("diff", call, lambda: matcalc.diff(source, name, shapes=shapes, syntax=syntax, layout=layout, order=order))
    if not ok:
        return
    r.report.derivatives += 1
    outputs: list[tuple[str, str, Callable[[], Any]]] = [
        ("text", "d.text", lambda: d.text),
        ("ascii", "d.ascii()", lambda: d.ascii()),
        ("ascii", "d.ascii('numpy')", lambda: d.ascii("numpy")),
        ("ascii", "d.ascii('matlab')", lambda: d.ascii("matlab")),
        ("header", "d.header()", lambda: d.header()),
    ]
    if budget[0] is None or budget[0] > 0:
        outputs += [(o, _OPTIONAL_CALLS[o], (lambda fn=_OPTIONAL[o]: fn(d))) for o in optional_outputs()]
        if budget[0] is not None:
            budget[0] -= 1
    for stage, expr, fn in outputs:
        ok, value = r.run(stage, f"{call}; {expr}", fn)
        if ok and not (isinstance(value, str) and value.strip()):
            r.escape(stage, f"{expr} gave {value!r}, not non-empty text", f"{call}; {expr}")
        if ok and isinstance(value, str):
            problem = _output_problem(stage, value)
            if problem:
                r.escape(stage, f"{expr}: {problem}", f"{call}; {expr}")
        if ok and stage == "ascii" and isinstance(value, str):
            # the ASCII form is the input language: it must parse back in its dialect
            dialect = "matlab" if "matlab" in expr else ("numpy" if "numpy" in expr else syntax)
            back, err = r.run(
                "ascii", f"{call}; matcalc.parse.parse({value!r}, {dialect!r})", lambda v=value, s=dialect: parse_fn(v, s)
            )
            if not back and err is not None:
                r.escape("ascii", f"{expr} = {value!r} does not parse: {err.message}", f"{call}; {expr}")


def _output_problem(stage: str, text: str) -> str | None:
    """What is wrong with an optional printer's text: generated code must compile, LaTeX braces must balance."""
    if stage == "numpy_source":
        try:
            compile(text, "<matcalc numpy_source>", "exec")
        except SyntaxError as e:
            return f"generated code does not compile: {e.msg} (line {e.lineno}: {(e.text or '').strip()!r})"
    if stage in ("latex", "steps_latex"):
        depth = 0
        for ch in text.replace("\\{", "").replace("\\}", ""):
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth < 0:
                return "LaTeX has a '}' without its '{'"
        if depth:
            return f"LaTeX has {depth} unclosed '{{'"
    return None


def _cli(
    r: Runner,
    source: str,
    syntax: str,
    shapes: dict[str, str] | None,
    wrt: str,
    fmt: str,
    flags: tuple[str, ...],
    shape_command: bool,
) -> None:
    decl = [a for k, v in (shapes or {}).items() for a in ("--shape", f"{k}: {v}")]
    argv = ["diff", "--wrt", wrt, "--syntax", syntax, "--format", fmt, *flags, *decl, "--", source]
    call = f"matcalc.cli.main({argv!r})"
    ok, res = r.run("cli", call, lambda: run_cli(argv))
    if ok:
        for p in _cli_problems(*res):
            r.escape("cli", f"{p}; stderr: {res[2][-300:]!r}", call)
    if not shape_command:
        return
    argv2 = ["shape", "--syntax", syntax, *decl, "--", source]
    call2 = f"matcalc.cli.main({argv2!r})"
    ok, res = r.run("cli", call2, lambda: run_cli(argv2))
    if ok:
        for p in _cli_problems(*res):
            r.escape("cli", f"{p}; stderr: {res[2][-300:]!r}", call2)


# ---------------------------------------------------------------------------- input strategies

NAMES = [
    "x",
    "y",
    "z",
    "w",
    "v",
    "b",
    "c",
    "a",
    "A",
    "B",
    "W",
    "W1",
    "W2",
    "X",
    "S",
    "alpha",
    "lambda",
    "Sigma",
    "x_i",
    "n",
    "k",
    "h",
    "fro",
]
#: Names that stress printers and code generators (keywords, Unicode, underscores, the steps' u₁ u₂ ...).
ODD_NAMES = [
    "x_",
    "x__y",
    "A_1_2",
    "_x",
    "x_i_j",
    "λ",
    "σ",
    "Σ",
    "x²",
    "ｘ",
    "lambda_2",
    "alpha1",
    "U",
    "u",
    "u1",
    "None",
    "True",
    "def",
    "np",
    "I",
    "e",
    "pi",
    "T",
    "dx",
]
NUMBERS = [
    "0",
    "1",
    "2",
    "3",
    "0.5",
    ".5",
    "3.",
    "1e-3",
    "2E+2",
    "1e308",
    "1e999",
    "0.0",
    "007",
    "64",
    "65",
    "-1",
    "99999999999999999999",
    "1e5000",
]
OPERATORS = ["+", "-", "*", "/", "@", "^", "**", ".*", "./", ".^", "'", ".T", ">", ">=", "<", "<="]
PUNCT = ["(", ")", ",", "(", ")", "=", "axis=", "ord=", "axis=0", "axis=1", "ord=1", "ord=fro"]
FUNCTION_NAMES = sorted(FUNCTIONS)
ODD = ["", " ", "\t", "\n", "\x00", "€", "σ", "ᵀ", "#", "$", "[", "]", ";", ":", "!", "'", '"', "\\", "..", "..."]
#: code pasted from NumPy / PyTorch: module-qualified names and method calls
PASTED = ["np.exp(", "np.linalg.norm(", "torch.sigmoid(", "scipy.linalg.expm(", "np.", ".sum(", ".dot(", ".mean()", ".trace()", ".T.dot("]
PASTED += ["‖", "²", "³", "⁻¹", "x²"]  # as matcalc prints
TOKENS = NAMES + ODD_NAMES + NUMBERS + OPERATORS + PUNCT + [f + "(" for f in FUNCTION_NAMES] + ODD + PASTED
LANGUAGE_CHARS = string.ascii_letters[:30] + "ATWXS" + string.digits + "+-*/@^'.()<>=, \t_eE"

#: Valid expressions in both dialects (the seed corpus for mutation).
CORPUS = {
    "numpy": [
        "sum(w*x)+b",
        "0.5*norm(y - W2@relu(W1@x))^2",
        "logdet(X)",
        "x'@A@x",
        "w'@x + b",
        "W@x + b",
        "tr(A@X@B)",
        "sum(log(sigmoid(y*(X@w))))",
        "-sum(y*log(softmax(W@x)))",
        "logsumexp(x) - x'@y",
        "det(X)^2 + tr(inv(X))",
        "norm1(x - y) + norm(A, ord=fro)",
        "sum(X, axis=0).T@A@w",
        "mean(exp(x)/sum(exp(x)))",
        "sum(kron(A, B)@x) + sum(vec(X))",
        "sum(max(0, 1 - y*(X@w))) + lambda*norm(w)^2",
        "diag(x)@A@diag(y)",
        "sum((x > 0)*x^2) + sqrt(abs(a))",
        "unvec(v, m, n)",
        "outer(x, y) + eye(n)",
        "sum(softplus(X@w)) - dot(y, X@w)",
        "x.T@S@x + alpha*sum(tanh(x)**3)",
        "matrix_power(A, 3)",
        "sum(min(x, y) + maximum(x, 2*y))",
        "np.linalg.norm(A@x - b)**2 + (A@x).sum()",
        "X.T.dot(X).trace() + torch.sigmoid(W@x).sum(dim=0)",
    ],
    "matlab": [
        "x'*A*x",
        "sum(w.*x) + b",
        "norm2(W*x - y)^2",
        "tr(X^3) + logdet(X)",
        "sum(exp(x))./sum(x.^2)",
        "sum(X, 2)'*w",
        "log(det(X)) - tr(A*inv(X))",
        "vector(1)'*x + matrix(2).*A",
        "a/b + sum(A*X*B, 1)*y",
    ],
}


def _join(parts: list[str], seps: list[str]) -> str:
    out = []
    for i, p in enumerate(parts):
        out.append(p)
        if i < len(parts) - 1:
            out.append(seps[i % len(seps)] if seps else "")
    return "".join(out)


@st.composite
def token_soups(draw: st.DrawFn) -> str:
    """A random sequence of the language's tokens, with or without spaces between."""
    parts = draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=24))
    seps = draw(st.lists(st.sampled_from(["", " ", "", "  "]), min_size=1, max_size=4))
    return _join(parts, seps)


def _expressions(syntax: str) -> st.SearchStrategy[str]:
    """Well-formed expressions, grown from atoms by operators and registry calls."""
    mul = ["*", "/", "@", ".*", "./"] if syntax == "numpy" else [".*", "./", "*", "/"]
    powers = ["^", "**", ".^"]
    atoms = st.sampled_from(NAMES[:17] + NAMES[:17] + ODD_NAMES + NUMBERS[:9] + ["eye(n)", "ones(n)", "zeros(m, n)", "dim(n)"])

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", *mul, *powers, ">", "<="]), inner).map(
            lambda t: f"{t[0]} {t[1]} {t[2]}"
        )
        unary = st.tuples(st.sampled_from(["-", "+"]), inner).map(lambda t: f"{t[0]}{t[1]}")
        post = st.tuples(inner, st.sampled_from(["'", ".T"] if syntax == "numpy" else ["'"])).map(lambda t: f"({t[0]}){t[1]}")
        paren = inner.map(lambda s: f"({s})")
        call1 = st.tuples(st.sampled_from(FUNCTION_NAMES), inner).map(lambda t: f"{t[0]}({t[1]})")
        call2 = st.tuples(st.sampled_from(FUNCTION_NAMES), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})")
        axis = st.tuples(
            st.sampled_from(["sum", "mean", "norm", "softmax"]),
            inner,
            st.sampled_from(["axis=0", "axis=1", "ord=1", "ord=fro", "1", "2", "-1"]),
        ).map(lambda t: f"{t[0]}({t[1]}, {t[2]})")
        # NumPy spellings: np.f(…) and (…).f(…)
        qualified = st.tuples(st.sampled_from(["np.", "numpy.", "torch.", "np.linalg."]), st.sampled_from(FUNCTION_NAMES), inner).map(
            lambda t: f"{t[0]}{t[1]}({t[2]})"
        )
        method = st.tuples(inner, st.sampled_from(["sum()", "mean()", "sum(axis=0)", "dot(x)", "trace()", "T.sum()"])).map(
            lambda t: f"({t[0]}).{t[1]}"
        )
        pasted = [qualified, method] if syntax == "numpy" else []
        return st.one_of(binary, unary, post, paren, call1, call2, axis, *pasted)

    return st.recursive(atoms, grow, max_leaves=10)


NUMPY_EXPRESSIONS = _expressions("numpy")
MATLAB_EXPRESSIONS = _expressions("matlab")


@st.composite
def valid_inputs(draw: st.DrawFn) -> tuple[str, str]:
    """(expression, dialect): from the corpus or the generator."""
    syntax = draw(st.sampled_from(SYNTAXES))
    gen = NUMPY_EXPRESSIONS if syntax == "numpy" else MATLAB_EXPRESSIONS
    source = draw(st.one_of(st.sampled_from(CORPUS[syntax]), gen))
    return source, syntax


def _tokenize(source: str) -> list[str]:
    """A rough split into tokens (good enough to mutate by token)."""
    return re.findall(r"\.\*|\./|\.\^|\*\*|>=|<=|\.T\b|[A-Za-z_]\w*|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+|\S", source)


EDITS = ("insert", "delete", "swap", "duplicate", "replace")


def apply_edit(units: list[str], op: str, i: int, j: int, piece: str) -> None:
    """One edit of a list of characters or tokens, in place (also scripts/fuzz_campaign.py's)."""
    if op == "insert" or not units:
        units.insert(i, piece)
    elif op == "delete":
        lo, hi = sorted((i, j))
        del units[lo : min(hi + 1, lo + 3)]
    elif op == "swap":
        units[i], units[j] = units[j], units[i]
    elif op == "duplicate":
        lo, hi = sorted((i, j))
        units[lo:lo] = units[lo : hi + 1]
    else:
        units[i] = piece


@st.composite
def mutate(draw: st.DrawFn, source: str) -> str:
    """One to four random edits of ``source``, by character or by token."""
    text = source
    for _ in range(draw(st.integers(1, 4))):
        by_token = draw(st.booleans())
        units = _tokenize(text) if by_token else list(text)
        sep = " " if by_token else ""
        op = draw(st.sampled_from(EDITS))
        i = draw(st.integers(0, max(0, len(units) - 1))) if units else 0
        j = draw(st.integers(0, max(0, len(units) - 1))) if units else 0
        piece = draw(st.sampled_from(TOKENS)) if by_token or draw(st.booleans()) else draw(st.sampled_from(LANGUAGE_CHARS))
        apply_edit(units, op, i, j, piece)
        text = sep.join(units)
    return text


@st.composite
def mutated_inputs(draw: st.DrawFn) -> tuple[str, str]:
    source, syntax = draw(valid_inputs())
    return draw(mutate(source)), syntax


RANDOM_TEXT = st.one_of(st.text(max_size=40), st.text(alphabet=LANGUAGE_CHARS, max_size=40))

DECLARATIONS = [
    "n",
    "m x n",
    "3",
    "3 x 4",
    "4 x 4",
    "scalar",
    "vector",
    "matrix",
    "n x n symmetric",
    "symmetric",
    "k",
    "1",
    "1 x 1",
    "m*n",
    "0",
    "x",
    "m x n x p",
    "",
    "n x m",
]


@st.composite
def declarations(draw: st.DrawFn, source: str) -> dict[str, str] | None:
    """Sometimes declare shapes (good or bad) for names that occur in ``source``."""
    names = sorted({t for t in _tokenize(source) if t[:1].isalpha() and t not in FUNCTIONS})
    if not names or draw(st.integers(0, 2)) > 0:
        return None
    chosen = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
    return {n: draw(st.sampled_from(DECLARATIONS)) for n in chosen} or None


# ---------------------------------------------------------------------------- known bugs


@dataclass(frozen=True)
class KnownBug:
    """An escape already reported, with its own strict-xfail test; the fuzz tests skip it so they keep finding new ones."""

    name: str  # the xfail test that reproduces it
    matches: Callable[[Escape], bool]


KNOWN_BUGS: tuple[KnownBug, ...] = ()


def known_bug(e: Escape) -> str | None:
    """The name of the known bug ``e`` is an instance of, if any."""
    return next((k.name for k in KNOWN_BUGS if k.matches(e)), None)


# ---------------------------------------------------------------------------- the tests

_SCALE = float(os.environ.get("MATCALC_FUZZ_SCALE", "1"))


def fuzz_settings(examples: int) -> settings:
    """``examples`` Hypothesis examples (times ``MATCALC_FUZZ_SCALE``), derandomized in CI."""
    return settings(
        max_examples=max(1, int(examples * _SCALE)),
        deadline=None,
        derandomize=IN_CI,
        database=None if IN_CI else settings.default.database,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()


def _assert_clean(report: Report) -> None:
    new = [e for e in report.escapes if known_bug(e) is None]
    assert not new, "\n".join(str(e) for e in new)


@fuzz_settings(200)
@given(source=RANDOM_TEXT, syntax=st.sampled_from(SYNTAXES))
def test_random_strings(source: str, syntax: str) -> None:
    _assert_clean(exercise(source, syntax, cli_format="text", cli_shape=False))


@fuzz_settings(200)
@given(source=token_soups(), syntax=st.sampled_from(SYNTAXES), data=st.data())
def test_token_soups(source: str, syntax: str, data: st.DataObject) -> None:
    fmt = data.draw(st.sampled_from(cli_formats()))
    _assert_clean(exercise(source, syntax, cli_format=fmt))


@fuzz_settings(40)
@given(pair=valid_inputs(), data=st.data())
def test_generated_expressions(pair: tuple[str, str], data: st.DataObject) -> None:
    source, syntax = pair
    shapes = data.draw(declarations(source))
    fmt = data.draw(st.sampled_from(cli_formats()))
    _assert_clean(exercise(source, syntax, shapes=shapes, cli_format=fmt))


@fuzz_settings(150)
@given(pair=mutated_inputs(), data=st.data())
def test_mutated_expressions(pair: tuple[str, str], data: st.DataObject) -> None:
    source, syntax = pair
    shapes = data.draw(declarations(source))
    fmt = data.draw(st.sampled_from(cli_formats()))
    flags = data.draw(st.sampled_from([(), ("--layout", "numerator"), ("--order", "2"), ("--cse",), ("--steps",)]))
    flags = tuple(f for f in flags if f.lstrip("-") not in ("cse", "steps") or f.lstrip("-") in optional_outputs())
    _assert_clean(exercise(source, syntax, shapes=shapes, cli_format=fmt, cli_flags=flags))


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_corpus_is_valid_and_clean(syntax: str) -> None:
    """Every seed expression differentiates cleanly by each of its variables (so mutations start from valid input)."""
    for source in CORPUS[syntax]:
        report = exercise(source, syntax, max_vars=1, layouts=("mixed",), cli_format=None)
        _assert_clean(report)
        assert report.checked and report.derivatives > 0, source


def test_harness_flags_raw_exceptions() -> None:
    """The property is not vacuous: a raw exception, an empty message and a caret-less ParseError are all caught."""
    r = Runner("x", "numpy")
    r.run("t", "boom", lambda: {}["missing"])
    r.run("t", "empty", lambda: (_ for _ in ()).throw(matcalc.ShapeError("  ")))
    r.run("t", "nocaret", lambda: (_ for _ in ()).throw(matcalc.ParseError("bad", source="x +", column=None)))
    r.run("t", "fine", lambda: (_ for _ in ()).throw(matcalc.ParseError("bad", source="x +", column=3)))
    details = [e.detail for e in r.report.escapes]
    assert len(details) == 3, details
    assert details[0].startswith("KeyError escaped")
    assert "empty message" in details[1]
    assert "without a caret" in details[2]


def test_harness_flags_slow_calls() -> None:
    r = Runner("x", "numpy", time_limit=0.01)
    r.run("t", "sleep", lambda: time.sleep(0.05))
    assert [e.detail.split(":")[0] for e in r.report.escapes] == ["slow"]


def test_watchdog_interrupts_a_hang() -> None:
    r = Runner("x", "numpy", hang_limit=0.2)
    start = time.perf_counter()
    r.run("t", "spin", lambda: time.sleep(5))
    assert time.perf_counter() - start < 2
    assert r.report.escapes and r.report.escapes[0].detail.startswith("hang")


def test_matcalc_parse_attribute_stays_the_function() -> None:
    import importlib

    importlib.import_module("matcalc.parse")
    tree = matcalc.parse("W@x + b")
    assert tree == parse_fn("W@x + b")


def test_known_steps_of_constant_first_derivative() -> None:
    d = matcalc.diff("sum(w*x) + b", "w", order=2)
    assert d.text == "0"
    assert "0" in d.steps()


def test_known_render_shows_control_characters() -> None:
    with pytest.raises(matcalc.ParseError) as info:
        parse_fn("a +\r b +")
    shown = info.value.render()
    assert "\r" not in shown
    lines = shown.split("\n")
    assert lines[2].index("^") <= len(lines[1])


@pytest.mark.parametrize("expr, wrt", [("u'@A@x", "u"), ("sum(up*x)", "up"), ("sum(u_i*x)", "u_i")])
def test_known_steps_with_a_variable_named_u(expr: str, wrt: str) -> None:
    d = matcalc.diff(expr, wrt)
    assert d.text in d.steps()


def test_known_internal_dimension_names_cannot_be_injected() -> None:
    """sum(eye(_2)@x) + sum(y): x has the length _2, y is independent of it (the plain version gives n and m)."""
    assert matcalc.shape("sum(x) + sum(y)") == {"x": "n", "y": "m", "result": "scalar"}
    try:
        shapes = matcalc.shape("sum(eye(_2)@x) + sum(y)")
    except matcalc.MatcalcError:
        return  # rejecting the name is a fine fix too
    assert shapes["x"] != shapes["y"], shapes
