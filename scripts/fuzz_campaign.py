"""A long fuzzing campaign over the whole matcalc pipeline.

Usage::

    python scripts/fuzz_campaign.py --runs 100000 --seed 1          # fast seeded generators
    python scripts/fuzz_campaign.py --engine atheris --runs 20000   # coverage-guided (pip install atheris)
    python scripts/fuzz_campaign.py --engine hypothesis --runs 20000

Every input goes through :func:`test_fuzz.exercise` (tests/test_fuzz.py): parse, shape
check, ``diff`` by each variable (a layout drawn at random, or all with
``--all-layouts``) at order 1 and 2, every printer, and on every ``--cli-every``-th
input the ``matcalc`` command in-process.  Inputs are of four kinds, built from the
same token tables and seed corpus as the tests: random text, token soups, generated
well-formed expressions, and mutations (character or token edits) of valid ones;
random shape declarations (good and bad) are added to a third of them.

Engines: ``random`` (default) draws from a seeded ``random.Random`` and is the
fastest; ``atheris`` draws the same choices from libFuzzer's byte strings, so coverage
feedback steers them (the instrumented code runs several times slower, and libFuzzer's
``-timeout`` replaces the in-process watchdog); ``hypothesis`` runs the tests'
strategies at a large example count (slowest per input).

An escape (an exception other than a MatcalcError, a malformed error message, a call
slower than ``--time-limit``, a hang, a bad exit status or a traceback from the CLI)
is recorded, not raised, so the campaign goes on; escapes are grouped by signature
(stage, kind, location) and each group keeps its shortest input.  Groups that match a
bug already known to the tests (``test_fuzz.KNOWN_BUGS``) are marked "known".  At the
end the script prints the number of inputs and every group with a Python repro line,
and exits 1 if anything escaped (0 otherwise).  ``--out FILE`` writes the groups as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import test_fuzz as F  # noqa: E402 - the harness and the token tables live with the tests

T = TypeVar("T")


# ---------------------------------------------------------------------------- bookkeeping


@dataclass
class Group:
    """Escapes that share a signature; the input kept is the shortest seen."""

    signature: str
    stage: str
    detail: str
    source: str
    syntax: str
    call: str
    known: str | None
    count: int = 0
    first_at: int = 0


@dataclass
class Tally:
    runs: int = 0
    parsed: int = 0
    checked: int = 0
    derivatives: int = 0
    escapes: int = 0
    started: float = field(default_factory=time.perf_counter)
    groups: dict[str, Group] = field(default_factory=dict)

    def add(self, report: F.Report) -> None:
        self.runs += 1
        self.parsed += report.parsed
        self.checked += report.checked
        self.derivatives += report.derivatives
        for e in report.escapes:
            self.escapes += 1
            sig = signature(e)
            g = self.groups.get(sig)
            if g is None:
                g = self.groups[sig] = Group(sig, e.stage, e.detail, e.source, e.syntax, e.call, F.known_bug(e), 0, self.runs)
                label = f" (known: {g.known})" if g.known else ""
                print(f"\n!! new escape #{len(self.groups)}{label} after {self.runs} inputs: {e}", flush=True)
            g.count += 1
            if len(e.source) < len(g.source):
                g.source, g.syntax, g.call, g.detail = e.source, e.syntax, e.call, e.detail

    def line(self) -> str:
        rate = self.runs / max(1e-9, time.perf_counter() - self.started)
        return (
            f"{self.runs} inputs ({rate:.0f}/s): {self.parsed} parsed, {self.checked} shape-checked, "
            f"{self.derivatives} derivatives; {self.escapes} escapes in {len(self.groups)} groups"
        )


def signature(e: F.Escape) -> str:
    """Stage plus the escape's kind and location, without the input-specific text."""
    detail = e.detail
    if detail.startswith(("slow", "hang")):
        return f"{e.stage}|{detail[:4]}"
    kind = detail.split(":", 1)[0]
    where = re.search(r" at (\S+:\d+ \(\w+\))", detail)
    return f"{e.stage}|{kind}|{where.group(1) if where else ''}"


def summary(t: Tally) -> str:
    out = [f"fuzz campaign: {t.line()}"]
    if not t.groups:
        out.append("no escapes")
    for i, g in enumerate(sorted(t.groups.values(), key=lambda g: (g.known is not None, -g.count)), 1):
        label = f" known: {g.known}" if g.known else " NEW"
        out.append(
            f"\n#{i} [{g.stage}]{label} ×{g.count} (first after {g.first_at} inputs)\n  {g.detail}\n"
            f"  input ({g.syntax}): {g.source!r}\n  repro: {g.call}"
        )
    return "\n".join(out)


def save(t: Tally, out: str | None) -> None:
    """Write the tally so far (also at every progress line: a hard hang kills the process)."""
    if out:
        data = {
            "runs": t.runs,
            "seconds": round(time.perf_counter() - t.started),
            "groups": [g.__dict__ for g in t.groups.values()],
        }
        Path(out).write_text(json.dumps(data, indent=2, ensure_ascii=False))


def finish(t: Tally, out: str | None) -> int:
    print("\n" + summary(t), flush=True)
    save(t, out)
    return 1 if t.groups else 0


# ---------------------------------------------------------------------------- choices and generators


class RandomChooser:
    """Choices from a seeded ``random.Random`` (the fast engine)."""

    def __init__(self, seed: int | None):
        self.rng = random.Random(seed)

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def char(self) -> str:
        c = self.rng.randrange(0x110000)
        return "?" if 0xD800 <= c <= 0xDFFF else chr(c)


class DataChooser:
    """Choices read from libFuzzer's bytes (the atheris engine): coverage feedback steers them."""

    def __init__(self, data: bytes):
        import atheris

        self.fdp = atheris.FuzzedDataProvider(data)

    def int(self, lo: int, hi: int) -> int:
        return self.fdp.ConsumeIntInRange(lo, hi)

    def char(self) -> str:
        c = self.fdp.ConsumeIntInRange(0, 0x10FFFF)
        return "?" if 0xD800 <= c <= 0xDFFF else chr(c)


def pick(ch: Any, seq: Sequence[T]) -> T:
    return seq[ch.int(0, len(seq) - 1)]


def gen_text(ch: Any) -> str:
    """Random characters: any code point, or the language's own characters."""
    n = ch.int(0, 40)
    if ch.int(0, 1):
        return "".join(ch.char() for _ in range(n))
    return "".join(pick(ch, F.LANGUAGE_CHARS) for _ in range(n))


def gen_soup(ch: Any) -> str:
    """A random sequence of the language's tokens."""
    parts = [pick(ch, F.TOKENS) for _ in range(ch.int(1, 24))]
    seps = [pick(ch, ("", " ", "", "  ")) for _ in range(ch.int(1, 4))]
    return F._join(parts, seps)


ATOMS = F.NAMES[:17] + F.NUMBERS[:9] + ["eye(n)", "ones(n)", "zeros(m, n)", "dim(n)"]
POSTFIX = {"numpy": ["'", ".T"], "matlab": ["'"]}
MULOPS = {"numpy": ["*", "/", "@", ".*", "./"], "matlab": [".*", "./", "*", "/"]}


def gen_expr(ch: Any, syntax: str, budget: int = 10) -> str:
    """A well-formed expression with at most about ``budget`` leaves."""
    if budget <= 1 or ch.int(0, 3) == 0:
        return pick(ch, ATOMS)
    k = ch.int(0, 6)
    left = ch.int(1, budget - 1)
    a = gen_expr(ch, syntax, left)
    if k == 0:
        op = pick(ch, ["+", "-", *MULOPS[syntax], "^", "**", ".^", ">", "<="])
        return f"{a} {op} {gen_expr(ch, syntax, budget - left)}"
    if k == 1:
        return pick(ch, ["-", "+"]) + a
    if k == 2:
        return f"({a})" + pick(ch, POSTFIX[syntax])
    if k == 3:
        return f"({a})"
    if k == 4:
        return f"{pick(ch, F.FUNCTION_NAMES)}({a})"
    if k == 5:
        return f"{pick(ch, F.FUNCTION_NAMES)}({a}, {gen_expr(ch, syntax, budget - left)})"
    return f"{pick(ch, ['sum', 'mean', 'norm', 'softmax'])}({a}, {pick(ch, ['axis=0', 'axis=1', 'ord=1', 'ord=fro', '1', '2', '-1'])})"


def gen_mutation(ch: Any, source: str) -> str:
    """One to four random edits, by character or by token (as ``test_fuzz.mutate``)."""
    text = source
    for _ in range(ch.int(1, 4)):
        by_token = bool(ch.int(0, 1))
        units = F._tokenize(text) if by_token else list(text)
        sep = " " if by_token else ""
        op = pick(ch, F.EDITS)
        i = ch.int(0, max(0, len(units) - 1))
        j = ch.int(0, max(0, len(units) - 1))
        piece = pick(ch, F.TOKENS) if by_token or ch.int(0, 1) else pick(ch, F.LANGUAGE_CHARS)
        F.apply_edit(units, op, i, j, piece)
        text = sep.join(units)
    return text


def gen_shapes(ch: Any, source: str) -> dict[str, str] | None:
    """Sometimes declare (good or bad) shapes for names in ``source``."""
    names = sorted({t for t in F._tokenize(source) if t[:1].isalpha() and t not in F.FUNCTIONS})
    if not names or ch.int(0, 2) > 0:
        return None
    return {pick(ch, names): pick(ch, F.DECLARATIONS) for _ in range(ch.int(1, 2))}


def gen_input(ch: Any) -> tuple[str, str, dict[str, str] | None]:
    """(source, syntax, shapes): text, soup, valid or mutated (mutations weighted up)."""
    syntax = pick(ch, F.SYNTAXES)
    kind = ch.int(0, 5)
    if kind == 0:
        source = gen_text(ch)
    elif kind == 1:
        source = gen_soup(ch)
    else:
        base = pick(ch, F.CORPUS[syntax]) if ch.int(0, 1) else gen_expr(ch, syntax)
        source = base if kind == 2 else gen_mutation(ch, base)
    return source, syntax, gen_shapes(ch, source)


# ---------------------------------------------------------------------------- engines


def exercise_one(tally: Tally, args: argparse.Namespace, ch: Any) -> None:
    source, syntax, shapes = gen_input(ch)
    layouts = F.LAYOUTS if args.all_layouts else (pick(ch, F.LAYOUTS),)
    fmt = pick(ch, F.cli_formats()) if tally.runs % args.cli_every == 0 else None
    run_input(tally, args, source, syntax, shapes, layouts, fmt)


def run_input(tally: Tally, args: argparse.Namespace, source: str, syntax: str, shapes: Any, layouts: Sequence[str], fmt: str | None) -> None:
    """One input through the whole pipeline (every engine), counted; progress every so often."""
    report = F.exercise(
        source,
        syntax,
        shapes=shapes,
        max_vars=args.max_vars,
        layouts=layouts,
        outputs_for=args.outputs_for,
        cli_format=fmt,
        time_limit=args.time_limit,
        hang_limit=args.hang_limit,
    )
    tally.add(report)
    if tally.runs % args.progress == 0:
        print(tally.line(), flush=True)
        save(tally, args.out)


def run_random(args: argparse.Namespace) -> int:
    F.warm_up()
    tally = Tally()
    ch = RandomChooser(args.seed)
    while tally.runs < args.runs:
        exercise_one(tally, args, ch)
    return finish(tally, args.out)


def run_atheris(args: argparse.Namespace, libfuzzer_args: list[str]) -> int:
    import atheris

    with atheris.instrument_imports(include=["matcalc"]):
        import matcalc  # noqa: F401
        import matcalc.api  # noqa: F401
        import matcalc.cli  # noqa: F401
        import matcalc.lalr  # noqa: F401  (the parser: coverage-guided mutation starts here)
        import matcalc.shapes  # noqa: F401
        import matcalc.simplify  # noqa: F401
    F.warm_up()
    tally = Tally()
    args.hang_limit = 0  # libFuzzer owns SIGALRM (-timeout)

    def target(data: bytes) -> None:
        exercise_one(tally, args, DataChooser(data))
        if tally.runs >= args.runs:
            # libFuzzer exits without running Python's atexit hooks: report and leave here
            code = finish(tally, args.out)
            sys.stdout.flush()
            os._exit(code)

    artifacts = Path(args.artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.argv[0],
        f"-runs={args.runs * 10}",
        f"-timeout={int(args.libfuzzer_timeout)}",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={artifacts}/",
        *libfuzzer_args,
    ]
    if args.seed is not None:
        argv.append(f"-seed={args.seed}")
    atheris.Setup(argv, target)
    atheris.Fuzz()
    return finish(tally, args.out)  # pragma: no cover - Fuzz() does not return


def run_hypothesis(args: argparse.Namespace) -> int:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    F.warm_up()
    tally = Tally()
    kinds = st.one_of(
        st.tuples(F.RANDOM_TEXT, st.sampled_from(F.SYNTAXES)),
        st.tuples(F.token_soups(), st.sampled_from(F.SYNTAXES)),
        F.valid_inputs(),
        F.mutated_inputs(),
        F.mutated_inputs(),
    )

    def batch(n: int, seed: int | None):
        @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        @given(pair=kinds, data=st.data())
        def target(pair: tuple[str, str], data: Any) -> None:
            source, syntax = pair
            shapes = data.draw(F.declarations(source))
            fmt = data.draw(st.sampled_from(F.cli_formats()))  # always drawn: Hypothesis needs draws independent of outside state
            if tally.runs % args.cli_every:
                fmt = None
            layouts = F.LAYOUTS if args.all_layouts else (data.draw(st.sampled_from(F.LAYOUTS)),)
            run_input(tally, args, source, syntax, shapes, layouts, fmt)

        return hseed(seed)(target) if seed is not None else target

    # Hypothesis runs at most max_examples per call: run batches until the count is reached
    round_ = 0
    while tally.runs < args.runs:
        before = tally.runs
        batch(min(10_000, args.runs - tally.runs), None if args.seed is None else args.seed + round_)()
        round_ += 1
        if tally.runs == before:  # pragma: no cover - Hypothesis ran nothing
            break
    return finish(tally, args.out)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--engine", choices=("random", "atheris", "hypothesis"), default="random", help="input engine (default random)"
    )
    p.add_argument("--runs", type=int, default=100_000, help="inputs to run (default 100000)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--max-vars", type=int, default=2, help="differentiate by at most this many variables per input")
    p.add_argument("--all-layouts", action="store_true", help="every layout per variable (default: one, drawn at random)")
    p.add_argument("--outputs-for", type=int, default=1, help="run the optional printers on this many derivatives per input")
    p.add_argument("--cli-every", type=int, default=10, help="run the matcalc command on every N-th input")
    p.add_argument("--time-limit", type=float, default=2.0, help="a call slower than this (s) is an escape")
    p.add_argument("--hang-limit", type=float, default=60.0, help="interrupt a call after this many seconds (random, hypothesis)")
    p.add_argument("--libfuzzer-timeout", type=float, default=120.0, help="libFuzzer -timeout (atheris)")
    p.add_argument(
        "--artifacts", default=os.path.join(tempfile.gettempdir(), "matcalc-fuzz"), help="atheris: crash/timeout inputs"
    )
    p.add_argument("--progress", type=int, default=1000, help="print a progress line every N inputs")
    p.add_argument("--out", default=None, help="write the escape groups as JSON here")
    args = p.parse_args(argv)
    if args.engine == "atheris":
        return run_atheris(args, extra)
    if args.engine == "hypothesis":
        return run_hypothesis(args)
    return run_random(args)


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # a hung input leaves its worker thread running (a thread cannot be killed); do not wait for it
    os._exit(status)
