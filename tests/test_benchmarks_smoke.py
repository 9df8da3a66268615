"""The benchmark suite (``python -m benchmarks``) runs end to end in ``--quick`` mode with
whatever frameworks are installed and writes the JSON the README's tables come from.

No timing is asserted (CI machines are noisy); what is asserted is that every part
ran, that matcalc's answers in the suite agree with finite differences, that the
generated NumPy agrees with hand-written NumPy, that the peer grader tells a right
answer from a wrong one, and that the command line does not import SymPy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.reference import matches  # noqa: E402
from benchmarks.timing import fit_exponent  # noqa: E402


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # tensorgrad runs in its own several-GB environment, started only by a full run on a benchmark machine
    p = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-tensorgrad", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8")), p.stdout


def test_every_part_ran_and_printed_its_table(quick: tuple[dict, str]) -> None:
    results, stdout = quick
    assert set(results["parts"]) == {"1", "2", "3", "4"}
    assert results["quick"] is True
    assert results["machine"]["nproc"] >= 1 and results["machine"]["python"]
    for title in ("Part 1", "Part 2", "Part 3", "Part 4"):
        assert f"### {title}" in stdout


def test_part1_matcalc_agrees_with_finite_differences_and_peers_are_graded(quick: tuple[dict, str]) -> None:
    from benchmarks.part_diff import QUICK_CASES

    part = quick[0]["parts"]["1"]
    names = [c["name"] for c in part["cases"]]
    assert names == [n for n in names if n in QUICK_CASES] and len(names) == len(QUICK_CASES)
    allowed = {"right", "wrong", "unevaluated", "error", "n/a", "timeout", "unchecked", "skipped"}
    for c in part["cases"]:
        assert c["matcalc"]["numeric_check"] is True, c
        assert c["matcalc"]["seconds"] > 0 and c["matcalc"]["dag_size"] >= 1
        assert c["sympy"]["status"] in allowed and c["tensorgrad"]["status"] in allowed
    by_name = {c["name"]: c for c in part["cases"]}
    # SymPy's (A + Aᵀ)x for x'Ax is right; the grader must say so and time it
    assert by_name["xAx"]["sympy"]["status"] == "right" and by_name["xAx"]["sympy"]["seconds"] > 0
    assert part["tensorgrad"].startswith("skipped")
    s = part["summary"]
    assert s["cases"] == len(QUICK_CASES) and s["matcalc_numeric_check_failures"] == []
    assert s["peers"]["sympy"]["right"] >= 1 and s["peers"]["sympy"]["median_speedup"] > 0


def test_part2_cli_runs_without_sympy(quick: tuple[dict, str]) -> None:
    part = quick[0]["parts"]["2"]
    assert set(part["median_seconds"]) == {"matcalc diff", "python -c 'import sympy'", "python -c pass"}
    assert all(v > 0 for v in part["median_seconds"].values())
    it = part["importtime"]
    assert it["modules_imported"] > 0 and any(r["module"].startswith("matcalc") for r in it["matcalc_modules"])
    assert it["sympy_imported"] is False  # the plain command must not pay for SymPy


def test_part3_scaling_sizes_and_exponents(quick: tuple[dict, str]) -> None:
    fams = quick[0]["parts"]["3"]["families"]
    assert set(fams) == {"mlp", "nest"}
    for fam in fams.values():
        rows = [r for r in fam["rows"] if "seconds" in r]
        assert len(rows) == len(fam["rows"]) >= 3
        sizes = [r["dag_size"] for r in rows]
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
        assert isinstance(fam["time_exponent"], float) and isinstance(fam["size_exponent"], float)


def test_part4_generated_code_agrees_with_hand_written_numpy(quick: tuple[dict, str]) -> None:
    from benchmarks.part_codegen import TASKS

    part = quick[0]["parts"]["4"]
    assert {r["task"] for r in part["rows"]} == {t.name for t in TASKS}
    for r in part["rows"]:
        fw = r["frameworks"]
        assert fw["matcalc"]["agrees"] is True, r
        assert fw["numpy (hand-written)"]["agrees"] is True
        for name, e in fw.items():
            if e.get("seconds") is not None:
                assert e["agrees"] is True, (r["task"], r["n"], name)
        if r["order"] == 1:
            assert r["gradient_to_function"]["matcalc"] > 0


def test_grader_accepts_any_layout_and_rejects_wrong_values() -> None:
    rng = np.random.default_rng(1)
    J = rng.normal(size=(2, 3))  # ∂f_i/∂x_k of f: R³ → R²
    ref = J.reshape(2, 1, 3, 1)
    assert matches(J, ref) and matches(J.T, ref) and matches(J.reshape(2, 1, 3), ref)
    assert not matches(J + 1e-3, ref) and not matches(J[:, :2], ref) and not matches(np.full((2, 3), np.nan), ref)
    K = rng.normal(size=(6, 6))  # a vec-Jacobian of a 2×3 matrix by a 2×3 matrix (column-major vec)
    T = K.reshape((2, 3, 2, 3), order="F")
    assert matches(K, T) and matches(T.transpose(2, 3, 0, 1), T)
    assert not matches(K.T + np.eye(6), T)


def test_fitted_exponent_of_power_laws() -> None:
    sizes = [1, 2, 4, 8, 16, 32, 64, 128]
    assert fit_exponent(sizes, [3.0 * s for s in sizes]) == pytest.approx(1.0)
    assert fit_exponent(sizes, [0.5 * s**2 for s in sizes]) == pytest.approx(2.0)
    # only the larger half counts: a constant start-up cost at small sizes does not hide quadratic growth
    assert fit_exponent(sizes, [100 + s**2 for s in sizes]) > 1.5
