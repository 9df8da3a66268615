"""Test configuration: hypothesis profiles and the random-expression summary.

Profiles (``max_examples`` is the scale the property tests multiply their own counts
by, 100 meaning ×1):

* ``matcalc`` (default): a few thousand random cases in a few minutes, no deadline;
* ``ci``: the same, derandomized, chosen automatically when ``CI`` is set, so a CI
  run is reproducible;
* ``hunt``: ten times as many, random: ``MATCALC_HYPOTHESIS=hunt`` or
  ``--hypothesis-profile=hunt``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so tests can `from strategies import ...`

# a bug inside matcalc shows its traceback in the tests (and in the commands they run),
# where a user sees the one-line "internal error" message
os.environ.setdefault("MATCALC_DEBUG", "1")

import strategies  # noqa: E402

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("matcalc", max_examples=100, **_COMMON)
settings.register_profile("ci", max_examples=100, derandomize=True, **_COMMON)
settings.register_profile("hunt", max_examples=1000, **_COMMON)

_chosen = os.environ.get("MATCALC_HYPOTHESIS") or (
    "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "matcalc"
)
settings.load_profile(_chosen)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    stats = strategies.STATS
    if not stats:
        return
    tr = terminalreporter
    tr.section("matcalc random expressions")
    run = stats["cases generated"]
    skipped = stats["skipped: no finite point in the domain"] + stats["skipped: a norm of an all-zero argument (its kink)"]
    tr.write_line(
        f"hypothesis profile {getattr(settings, '_current_profile', _chosen)}: {run} random cases, {skipped} skipped for domain ({100 * skipped / max(run, 1):.1f}%)"
    )
    for key in sorted(stats):
        if key != "cases generated":
            tr.write_line(f"  {stats[key]:6d}  {key}")
    if strategies.SLOW:
        tr.write_line(f"slow cases (> {strategies.SLOW_SECONDS:g} s), slowest first:")
        for seconds, what in sorted(strategies.SLOW, reverse=True)[:10]:
            tr.write_line(f"  {seconds:6.2f} s  {what}")
