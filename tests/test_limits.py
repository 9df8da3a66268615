"""Depth and size limits: huge or deeply nested input gives an answer or a clean LimitError.

Never a RecursionError, a segfault, a hang or unbounded memory.  The deep cases run in
a child process (``python -c``, the expression on stdin) so that a crash of the
interpreter shows up as a signal instead of killing the test run; the child reports
what happened at each stage, and its peak resident memory (``ru_maxrss``), as JSON.

Limits (as observed when this file was written):

* ``parse.MAX_LENGTH`` = 1,000,000 characters, checked before parsing;
* ``parse.MAX_DEPTH`` = 10,000 levels of syntax tree (parentheses add none);
* ``shapes.MAX_EXPONENT`` = 300: number literals outside 1e±300 are a LimitError;
* ``shapes.MAX_MATRIX_POWER`` = 64, and at most 256 factors once nested powers are
  written out;
* ``engine.MAX_DIFFERENTIAL`` = 50,000 terms and factors in a derivative (beyond it,
  "the derivative is too large");
* recursive passes run in a thread with a 512 MB stack and a recursion limit of
  200,000 (``deep.call_deep``).

Each case must finish within :data:`CASE_TIMEOUT` seconds (all stages: parse, check,
diff, text, ascii), with peak RSS below :data:`MAX_RSS_MB`.  Cases the library does
not meet yet are marked ``xfail(strict=True)`` with the bug; they turn into failures
(XPASS) when fixed, so the mark can be dropped.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import matcalc
from matcalc.parse import parse

# the module, not the function (``matcalc.parse`` is the function, see test_fuzz)
parse_module = importlib.import_module("matcalc.parse")

ROOT = Path(__file__).resolve().parent.parent
#: Seconds a case may take in the child, every stage included.
CASE_TIMEOUT = float(os.environ.get("MATCALC_LIMIT_TIMEOUT", "60"))
#: Seconds for a case listed in KNOWN (expected to fail: no need to wait long for it).
KNOWN_TIMEOUT = 5.0
#: Peak resident memory a case may use.
MAX_RSS_MB = 2048
#: Address-space cap for the child: a runaway allocation fails there instead of swapping the machine.
CHILD_ADDRESS_SPACE = 8 * 1024**3

# ---------------------------------------------------------------------------- the child

CHILD = r"""
import json, resource, sys, time, traceback
req = json.load(sys.stdin)
out = {"stages": {}, "outcome": None}
def stage(name, fn):
    t = time.perf_counter()
    v = fn()
    out["stages"][name] = round(time.perf_counter() - t, 3)
    return v
try:
    import matcalc
    from matcalc.parse import parse
    expr, wrt, shapes, syntax, order = req["expr"], req["wrt"], req["shapes"], req["syntax"], req["order"]
    stage("parse", lambda: parse(expr, syntax))
    stage("check", lambda: matcalc.check(expr, shapes, syntax=syntax))
    if wrt:
        d = stage("diff", lambda: matcalc.diff(expr, wrt, shapes=shapes, syntax=syntax, order=order))
        text = stage("text", lambda: d.text)
        asc = stage("ascii", lambda: d.ascii())
        out.update(kind=d.kind, shape=d.shape, text_len=len(text), ascii_len=len(asc), text_head=text[:300], ascii_head=asc[:300])
    out["outcome"] = "answer"
except matcalc.MatcalcError as e:
    out.update(outcome="error", error_class=type(e).__name__, message=e.render()[:1000])
except BaseException as e:
    tb = traceback.format_exception(type(e), e, e.__traceback__)
    out.update(outcome="escape", error_class=type(e).__name__, message=str(e)[:500], traceback="".join(tb[-6:])[-3000:])
out["maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
sys.stdout.write("\n@@RESULT@@" + json.dumps(out))
"""


@dataclass(frozen=True)
class Case:
    expr: str
    wrt: str | None = None
    shapes: dict[str, str] | None = None
    syntax: str = "numpy"
    order: int = 1


@dataclass
class Outcome:
    """What the child reported (or how it died)."""

    outcome: str  # answer / error / escape / timeout / crash
    seconds: float
    data: dict

    def __str__(self) -> str:
        d = {k: v for k, v in self.data.items() if k not in ("text_head", "ascii_head")}
        return f"{self.outcome} after {self.seconds:.1f} s: {json.dumps(d, ensure_ascii=False)[:2500]}"


def _limit_child() -> None:  # pragma: no cover - runs in the child before exec
    try:
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))
    except (ValueError, OSError):
        pass


def run_case(case: Case, timeout: float = CASE_TIMEOUT) -> Outcome:
    """Run one case in a fresh interpreter and classify what happened."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    req = json.dumps({"expr": case.expr, "wrt": case.wrt, "shapes": case.shapes, "syntax": case.syntax, "order": case.order})
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD],
            input=req,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            preexec_fn=_limit_child,
        )
    except subprocess.TimeoutExpired:
        return Outcome("timeout", time.perf_counter() - start, {"timeout": timeout})
    seconds = time.perf_counter() - start
    if proc.returncode < 0:
        return Outcome("crash", seconds, {"signal": -proc.returncode, "stderr": proc.stderr[-2000:]})
    marker = proc.stdout.rfind("@@RESULT@@")
    if marker < 0:
        return Outcome("crash", seconds, {"returncode": proc.returncode, "stderr": proc.stderr[-2000:]})
    data = json.loads(proc.stdout[marker + len("@@RESULT@@") :])
    return Outcome(data["outcome"], seconds, data)


# ---------------------------------------------------------------------------- the cases

N_PARENS = 10_000
N_CALLS = 2_000
N_TERMS = 5_000
N_FACTORS = 1_000


def nest(functions: list[str], depth: int, inner: str) -> str:
    """``f1(f2(...(inner)))`` with ``depth`` calls, cycling through ``functions``."""
    heads = "".join(functions[i % len(functions)] + "(" for i in range(depth))
    return heads + inner + ")" * depth


CASES: dict[str, Case] = {
    "parens_10000": Case("(" * N_PARENS + "x" + ")" * N_PARENS, "x"),
    "negations_at_max_depth": Case("-" * (parse_module.MAX_DEPTH - 1) + "x", "x"),
    "negations_over_max_depth": Case("-" * (parse_module.MAX_DEPTH + 5) + "x", "x"),
    "sigmoid_nest_2000": Case(nest(["sigmoid"], N_CALLS, "x"), "x"),
    "exp_sin_nest_2000": Case(nest(["exp", "sin"], N_CALLS, "x"), "x"),
    "sum_5000_distinct": Case(" + ".join(f"x{i}" for i in range(N_TERMS)), "x1"),
    "sum_5000_same": Case(" + ".join(["x"] * N_TERMS), "x"),
    "matmul_1000_same_trace": Case("tr(" + "@".join(["A"] * N_FACTORS) + ")", "A"),
    "matmul_1000_same": Case("@".join(["A"] * N_FACTORS), "A"),
    "matmul_1000_distinct_trace": Case("tr(" + "@".join(f"A{i}" for i in range(N_FACTORS)) + ")", "A1"),
    "matmul_1000_distinct": Case("@".join(f"A{i}" for i in range(N_FACTORS)), "A1"),
    "call_depth_over_max": Case(nest(["exp"], parse_module.MAX_DEPTH + 5, "a"), "a"),
    # constant folding and expansion: tiny inputs, huge work
    "power_tower": Case("2^2^2^2^2^2*x", "x"),
    "power_huge_exponent": Case("x*3^(2^30)", "x"),
    "nested_matrix_power": Case("tr(matrix_power(matrix_power(A, 64), 64))", "A"),
    "nested_matrix_power_3": Case("tr(matrix_power(matrix_power(matrix_power(A, 64), 64), 64))", "A"),
    "literal_with_huge_exponent": Case("1e99999999*x", "x"),
}

#: Cases the library does not handle yet: name → the bug.
KNOWN: dict[str, str] = {}


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    """Every case, run two at a time in child processes."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(run_case, case, KNOWN_TIMEOUT if name in KNOWN else CASE_TIMEOUT) for name, case in CASES.items()
        }
        return {name: f.result() for name, f in futures.items()}


LIMIT_MESSAGE = re.compile(r"(too deeply nested|too long|too large|out of range|characters long).*limit [\d,_e±]+", re.IGNORECASE)


def assert_clean(o: Outcome, *, answer: bool | None = None) -> None:
    """An answer or a clean LimitError; within time and memory.  ``answer``: require one (True) or a LimitError (False)."""
    assert o.outcome in ("answer", "error"), str(o)
    assert o.data.get("maxrss_mb", 0) < MAX_RSS_MB, str(o)
    if o.outcome == "error":
        assert o.data["error_class"] == "LimitError", str(o)
        assert LIMIT_MESSAGE.search(o.data["message"]), str(o)
        assert "Traceback" not in o.data["message"]
    if answer is True:
        assert o.outcome == "answer", str(o)
    if answer is False:
        assert o.outcome == "error", str(o)


def _case(name: str):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN[name])] if name in KNOWN else []
    return pytest.param(name, marks=marks, id=name)


# ---------------------------------------------------------------------------- deep and big


def test_ten_thousand_parentheses(outcomes: dict[str, Outcome]) -> None:
    """Parentheses add no depth: ∂x/∂x = I."""
    o = outcomes["parens_10000"]
    assert_clean(o, answer=True)
    assert o.data["kind"] == "Jacobian"
    assert o.data["text_head"] == "I"


def test_negations_at_the_depth_limit(outcomes: dict[str, Outcome]) -> None:
    """9,999 minus signs: depth 10,000 = MAX_DEPTH is accepted; (−1)^9999 = −1, so the Jacobian is −I."""
    o = outcomes["negations_at_max_depth"]
    assert_clean(o, answer=True)
    assert o.data["text_head"] == "−I", str(o)


@pytest.mark.parametrize("name", [_case("negations_over_max_depth"), _case("call_depth_over_max")])
def test_over_the_depth_limit_is_a_limit_error(outcomes: dict[str, Outcome], name: str) -> None:
    o = outcomes[name]
    assert_clean(o, answer=False)
    assert str(parse_module.MAX_DEPTH) in o.data["message"].replace(",", "")


@pytest.mark.parametrize("name", [_case("sigmoid_nest_2000"), _case("exp_sin_nest_2000")])
def test_two_thousand_nested_calls(outcomes: dict[str, Outcome], name: str) -> None:
    """The chain rule through 2,000 calls: an answer whose ascii form mentions the innermost argument."""
    o = outcomes[name]
    assert_clean(o, answer=True)
    assert o.data["kind"] == "Jacobian", str(o)
    # the derivative is a product of 2,000 factors; the printed tree repeats the nest, so it is long
    assert o.data["ascii_len"] > N_CALLS, str(o)
    first = "sigmoid(" if "sigmoid" in name else ("exp(" if "exp" in o.data["ascii_head"] else "sin(")
    assert first in o.data["ascii_head"], str(o)


@pytest.mark.parametrize("name", [_case("sum_5000_distinct"), _case("sum_5000_same")])
def test_five_thousand_term_sums(outcomes: dict[str, Outcome], name: str) -> None:
    """∂(x0 + … + x4999)/∂x1 = I;  ∂(x + … + x)/∂x = 5000 I."""
    o = outcomes[name]
    assert_clean(o, answer=True)
    expected = "I" if name == "sum_5000_distinct" else f"{N_TERMS}I"
    assert o.data["text_head"].replace(" ", "") == expected, str(o)


@pytest.mark.parametrize(
    "name",
    [
        _case("matmul_1000_same_trace"),
        _case("matmul_1000_same"),
        _case("matmul_1000_distinct_trace"),
        _case("matmul_1000_distinct"),
    ],
)
def test_thousand_factor_products(outcomes: dict[str, Outcome], name: str) -> None:
    """∇ tr(A0…A999) by A1 = (A2…A999 A0)ᵀ; ∇ tr(A^1000) = 1000 (A^999)ᵀ; or a LimitError on the result's size."""
    o = outcomes[name]
    assert_clean(o)
    if o.outcome == "error":
        return
    if name.endswith("trace"):
        assert o.data["kind"] == "gradient", str(o)
    else:
        assert o.data["kind"] == "vec-Jacobian", str(o)
    if name == "matmul_1000_same_trace":
        assert "1000" in o.data["text_head"], str(o)
    if name == "matmul_1000_distinct_trace":
        # the cyclic rotation A0ᵀA999ᵀ…A2ᵀ: every factor but A1, each once
        names = set(re.findall(r"A(\d+)", o.data["ascii_head"]))
        assert "1" not in names and "0" in names and "999" in names, str(o)


@pytest.mark.parametrize(
    "name",
    [
        _case(n)
        for n in (
            "power_tower",
            "power_huge_exponent",
            "nested_matrix_power",
            "nested_matrix_power_3",
            "literal_with_huge_exponent",
        )
    ],
)
def test_tiny_inputs_with_huge_expansions(outcomes: dict[str, Outcome], name: str) -> None:
    """A dozen characters must not buy unbounded work: an answer or a LimitError, within the time limit."""
    assert_clean(outcomes[name])


def test_every_case_is_tested() -> None:
    named = {"parens_10000", "negations_at_max_depth", "negations_over_max_depth", "call_depth_over_max"}
    named |= {
        n for n in CASES if n.startswith(("sigmoid", "exp_sin", "sum_5000", "matmul_1000", "power_", "nested_matrix", "literal_"))
    }
    assert named == set(CASES)


# ---------------------------------------------------------------------------- length


def test_over_max_length_is_a_limit_error_before_parsing() -> None:
    """MAX_LENGTH + 1 characters: rejected at once, without building a tree."""
    text = "x" + " " * parse_module.MAX_LENGTH
    start = time.perf_counter()
    with pytest.raises(matcalc.LimitError) as info:
        parse(text)
    assert time.perf_counter() - start < 1.0
    assert f"limit {parse_module.MAX_LENGTH}" in info.value.message
    assert len(info.value.render().split("\n")) <= 3


def test_max_length_constants_are_documented() -> None:
    assert parse_module.MAX_LENGTH == 1_000_000
    assert parse_module.MAX_DEPTH == 10_000


def balanced(target_chars: int, distinct: bool, seed_ops: tuple[str, ...] = ("+", "-", "*")) -> str:
    """A balanced expression of about ``target_chars`` characters and logarithmic depth."""
    terms: list[str] = []
    size = 0
    i = 0
    # each leaf costs its own text plus about 5 characters of operator and parentheses
    while size < target_chars:
        name = f"x{i}" if distinct else "x"
        leaf = f"sin({name})" if i % 3 == 0 else name
        terms.append(leaf)
        size += len(leaf) + 5
        i += 1
    k = 0
    while len(terms) > 1:
        merged = []
        for j in range(0, len(terms) - 1, 2):
            merged.append(f"({terms[j]} {seed_ops[k % len(seed_ops)]} {terms[j + 1]})")
            k += 1
        if len(terms) % 2:
            merged.append(terms[-1])
        terms = merged
    return terms[0]


def _best_time(fn, repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_parse_time_is_linear_in_length() -> None:
    """25 KB, 50 KB, 100 KB: time per character stays within a factor of 2.5 (a sanity guard, not a benchmark)."""
    sizes = (25_000, 50_000, 100_000)
    texts = [balanced(n, distinct=False) for n in sizes]
    for n, t in zip(sizes, texts):
        assert 0.9 * n <= len(t) <= 1.1 * n, (n, len(t))
    parse(texts[0])  # warm up
    times = [float("inf")] * len(texts)
    for _attempt in range(4):  # the machine is shared: each size keeps its best of the rounds so far
        times = [min(best, _best_time(lambda t=t: parse(t), repeats=1)) for best, t in zip(times, texts)]
        per_char = [t / len(s) for t, s in zip(times, texts)]
        if max(per_char) / min(per_char) < 2.5:
            break
    assert max(per_char) / min(per_char) < 2.5, list(zip(sizes, times))
    assert times[-1] < 30, times


@pytest.mark.parametrize(
    "distinct, sizes", [(False, (6_000, 12_000, 24_000)), (True, (2_000, 4_000, 8_000))], ids=["repeated_names", "distinct_names"]
)
def test_check_time_is_linear_in_length(distinct: bool, sizes: tuple[int, ...]) -> None:
    texts = [balanced(n, distinct=distinct) for n in sizes]
    matcalc.check(texts[0])
    times = [float("inf")] * len(texts)
    for _attempt in range(4):  # the machine is shared: each size keeps its best of the rounds so far
        times = [min(best, _best_time(lambda t=t: matcalc.check(t), repeats=2)) for best, t in zip(times, texts)]
        per_char = [t / len(s) for t, s in zip(times, texts)]
        if max(per_char) / min(per_char) < 2.5:
            break
    assert max(per_char) / min(per_char) < 2.5, list(zip(sizes, times))


def test_thousand_distinct_terms_in_process() -> None:
    """The same escape as sum_5000_distinct, small enough to run in-process quickly."""
    source = " + ".join(f"x{i}" for i in range(1_000))
    try:
        c = matcalc.check(source)
    except matcalc.LimitError:
        return
    assert str(c.expr.shape) == "n"
