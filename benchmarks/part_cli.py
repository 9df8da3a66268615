"""Part 2 — command-line latency: ``matcalc diff "sum(w*x)+b" --wrt w`` as a whole
process, against a Python that only runs ``import sympy`` and against ``python -c pass``.

The three commands are run in turn, ten rounds (after one warm-up round that also
fills the parser's grammar cache); medians of wall time.  ``python -X importtime``
of the same command says where the start-up time goes.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXPR, WRT = "sum(w*x)+b", "w"
TARGET_SECONDS = 0.25


def matcalc_command() -> tuple[list[str], str]:
    """The installed ``matcalc`` script beside this interpreter (or on PATH), else the same entry point via ``-c``."""
    here = Path(sys.executable).parent / "matcalc"
    found = str(here) if here.exists() else shutil.which("matcalc")
    if found:
        return [found, "diff", EXPR, "--wrt", WRT], f"{found} (console script)"
    code = "import sys; from matcalc.cli import main; sys.exit(main())"
    return [sys.executable, "-c", code, "diff", EXPR, "--wrt", WRT], "python -c 'from matcalc.cli import main; …' (no console script installed; same entry point)"


CLEAN_VENV = ROOT / "benchmarks" / ".venv-cli"


def clean_install(log: Any = print) -> tuple[Path, Path] | None:
    """A venv holding only ``pip install .`` (matcalc, numpy, sympy): what a user's command runs in.

    The benchmark's own environment carries jax, torch and whatever the machine's
    site-packages add to every interpreter start (here, a ``.pth`` importing certifi).
    Reinstalled each run (``--no-deps``, seconds) so it holds the code being measured.
    Returns (matcalc script, python) or None when it cannot be built (no network).
    """
    import venv

    bindir = CLEAN_VENV / ("Scripts" if os.name == "nt" else "bin")
    py, script = bindir / "python", bindir / "matcalc"
    try:
        if not py.exists():
            log(f"  building {CLEAN_VENV.relative_to(ROOT)} (pip install .) …")
            venv.create(CLEAN_VENV, with_pip=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], check=True, capture_output=True)
        else:
            subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)],
                           check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as e:
        log(f"  no clean install ({type(e).__name__}); measuring this environment only")
        return None
    return (script, py) if script.exists() else None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # An installed matcalc has its bytecode compiled at install time (pip does it); from
    # a source tree the warm-up round writes it.  With PYTHONDONTWRITEBYTECODE set (as on
    # some sandboxes) every run would compile every module again: ~100 ms that no
    # installed copy pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}: {p.stderr.decode()[-300:]}")
    return dt


def importtime(env: dict[str, str], top: int = 15) -> dict[str, Any]:
    """``-X importtime`` of the matcalc command: the slowest imports by cumulative and by self time (seconds)."""
    code = f"from matcalc.cli import main; main(['diff', {EXPR!r}, '--wrt', {WRT!r}])"
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env)
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        body = line[len("import time:"):]
        self_us, cum_us, name = body.split("|", 2)
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append({"module": name.strip(), "self": int(self_us) / 1e6, "cumulative": int(cum_us) / 1e6, "depth": depth})
    total = sum(r["self"] for r in rows)
    top_level = sorted((r for r in rows if r["depth"] <= 1), key=lambda r: -r["cumulative"])[:top]
    by_self = sorted(rows, key=lambda r: -r["self"])[:top]
    matcalc_mods = sorted((r for r in rows if r["module"].startswith("matcalc")), key=lambda r: -r["cumulative"])[:top]
    return {"total_import_seconds": total, "top_cumulative": top_level, "top_self": by_self, "matcalc_modules": matcalc_mods,
            "modules_imported": len(rows), "sympy_imported": any(r["module"] == "sympy" for r in rows),
            "numpy_imported": any(r["module"] == "numpy" for r in rows)}


def _profile_child(top: int = 40) -> None:
    """In a fresh process: cProfile of ``main([...])`` (its first call, lazy imports included), as JSON on stdout."""
    import cProfile
    import io
    import json
    import pstats
    from contextlib import redirect_stdout

    from matcalc import cli

    argv = ["diff", EXPR, "--wrt", WRT]
    pr = cProfile.Profile()
    with redirect_stdout(io.StringIO()):
        # the command's handler in this thread (``main`` hands it to a big-stack thread, which cProfile would not see)
        handler = getattr(cli, "_cmd_diff", None)
        args = cli._parser().parse_args(argv) if handler else None
        pr.enable()
        handler(args) if handler else cli.main(argv)
        pr.disable()
    rows = []
    for (path, line, fn), (_cc, calls, self_t, cum_t, _callers) in pstats.Stats(pr).stats.items():  # type: ignore[attr-defined]
        where = "/".join(Path(path).parts[-2:]) if path != "~" else "builtin"
        rows.append({"function": f"{where}:{line}({fn})", "cumulative": cum_t, "self": self_t, "calls": calls})
    rows.sort(key=lambda r: -r["cumulative"])
    print(json.dumps(rows[:top]))


def in_process_profile(top: int = 15) -> list[dict[str, Any]]:
    """cProfile of the command's first call in a fresh process, after ``import matcalc.cli``: matcalc and lark functions."""
    import json

    p = subprocess.run([sys.executable, "-c", "from benchmarks.part_cli import _profile_child; _profile_child()"],
                       capture_output=True, text=True, env=_env())
    try:
        rows = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return []
    return [r for r in rows if "matcalc" in r["function"] or "lark" in r["function"]][:top]


def run(quick: bool = False, log: Any = print) -> dict[str, Any]:
    rounds = 2 if quick else 10
    env = _env()
    mcmd, mlabel = matcalc_command()
    commands = {
        "matcalc diff": mcmd,
        "python -c 'import sympy'": [sys.executable, "-c", "import sympy"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    clean = None if quick else clean_install(log)
    if clean is not None:
        script, py = clean
        commands["matcalc diff (clean install)"] = [str(script), "diff", EXPR, "--wrt", WRT]
        commands["python -c pass (clean install)"] = [str(py), "-c", "pass"]
    # the clean install runs its own copy: no PYTHONPATH pointing at this checkout
    clean_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    envs = {k: clean_env if "clean install" in k else env for k in commands}
    for k, cmd in commands.items():
        _wall(cmd, envs[k])  # warm-up: page cache, grammar cache
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(rounds):
        for k, cmd in commands.items():
            times[k].append(_wall(cmd, envs[k]))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        log(f"  {k:<32} {v * 1e3:7.1f} ms (median of {rounds})")
    # the target is judged on what a user runs: a clean install when one could be built
    judged = "matcalc diff (clean install)" if clean is not None else "matcalc diff"
    bare = "python -c pass (clean install)" if clean is not None else "python -c pass"
    out: dict[str, Any] = {
        "command": f'matcalc diff "{EXPR}" --wrt {WRT}', "matcalc_invocation": mlabel, "rounds": rounds,
        "median_seconds": med, "min_seconds": {k: min(v) for k, v in times.items()},
        "target_seconds": TARGET_SECONDS, "judged": judged, "target_met": med[judged] <= TARGET_SECONDS,
        "matcalc_over_bare_python": med[judged] - med[bare],
    }
    out["importtime"] = importtime(env)
    if not quick:
        out["profile_after_imports"] = in_process_profile()
    return out
