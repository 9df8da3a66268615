"""Timing helpers: ``time.perf_counter``, one warm-up, medians, interleaved peers.

Every number the suite reports is a median of repeated in-process calls taken after
one untimed warm-up call; peers of one case are timed in turn inside the same
repeat loop (matcalc, then SymPy, then tensorgrad, then matcalc again, …) so a
burst of load on this shared 2-core machine slows all of them alike.
"""

from __future__ import annotations

import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Timeout(Exception):
    """A peer call took longer than its allowance."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`Timeout` inside the block after ``seconds`` (SIGALRM; main thread only, else no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Timeout(f"over {seconds:g} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def bench(fn: Callable[[], Any], repeats: int, budget: float = 2.0, min_repeats: int = 3, warmup: int = 1) -> float:
    """Median seconds of ``fn()`` over up to ``repeats`` calls after ``warmup`` calls; stops early
    once ``budget`` seconds were spent and ``min_repeats`` calls were timed."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= min_repeats and time.perf_counter() - start > budget:
            break
    return statistics.median(times)


def fit_exponent(sizes: list[float], values: list[float]) -> float | None:
    """Least-squares slope of log(value) against log(size) over the larger half of the sizes."""
    import math

    pairs = sorted((s, v) for s, v in zip(sizes, values) if s > 0 and v and v > 0)
    if len(pairs) < 2:
        return None
    half = pairs[(len(pairs) - 1) // 2:] if len(pairs) > 3 else pairs
    xs = [math.log(s) for s, _ in half]
    ys = [math.log(v) for _, v in half]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


@contextmanager
def inline_deep() -> Iterator[None]:
    """Run matcalc's ``call_deep`` passes in the calling thread (with a raised recursion limit), so that
    cProfile, which profiles one thread, sees the work instead of a wait on the worker thread."""
    import sys

    from matcalc import deep

    old_inside, old_limit = getattr(deep._local, "inside", False), sys.getrecursionlimit()
    deep._local.inside = True
    sys.setrecursionlimit(max(old_limit, 20_000))
    try:
        yield
    finally:
        deep._local.inside = old_inside
        sys.setrecursionlimit(old_limit)


def profile_rows(fn: Callable[[], Any], only: str | None = "matcalc/", top: int = 25) -> dict[str, Any]:
    """cProfile of ``fn()`` with matcalc's deep passes inline: functions by cumulative and by self time,
    plus the measured cost of the worker threads ``call_deep`` starts (calls and median µs per empty call)."""
    import cProfile
    import pstats
    from pathlib import Path

    from matcalc import deep

    counted = {"n": 0}
    original = deep.call_deep

    def counting(f: Any, *a: Any, **k: Any) -> Any:
        counted["n"] += 1
        return original(f, *a, **k)

    empty = []
    for _ in range(50):
        t0 = time.perf_counter()
        original(lambda: None)
        empty.append(time.perf_counter() - t0)
    deep.call_deep = counting  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
    finally:
        deep.call_deep = original  # type: ignore[assignment]
    # modules that imported call_deep by name keep the original; count through the profile instead
    pr = cProfile.Profile()
    with inline_deep():
        t0 = time.perf_counter()
        pr.enable()
        fn()
        pr.disable()
        inline_wall = time.perf_counter() - t0
    rows = []
    deep_calls = 0
    for (path, line, name), (_cc, calls, self_t, cum_t, _callers) in pstats.Stats(pr).stats.items():  # type: ignore[attr-defined]
        where = "/".join(Path(path).parts[-2:]) if path != "~" else "builtin"
        if where == "matcalc/deep.py" and name == "call_deep":
            deep_calls = calls
        rows.append({"function": f"{where}:{line}({name})", "cumulative": cum_t, "self": self_t, "calls": calls})
    mine = [r for r in rows if only is None or only in r["function"]]
    return {
        "wall_seconds": wall,
        "profiled_seconds": inline_wall,
        "call_deep_calls": deep_calls,
        "call_deep_empty_call_seconds": statistics.median(empty),
        "by_cumulative": sorted(mine, key=lambda r: -r["cumulative"])[:top],
        "by_self": sorted(rows, key=lambda r: -r["self"])[:top],
    }
