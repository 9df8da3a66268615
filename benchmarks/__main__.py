"""``python -m benchmarks [--quick] [--parts 1,3] [--json PATH] [--readme]``."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from . import PARTS

HERE = Path(__file__).resolve().parent
LATEST = HERE / "results" / "latest.json"
README = HERE / "README.md"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "implementation": platform.python_implementation(),
        "platform": platform.platform(), "executable": sys.executable,
    }
    for mod in ("numpy", "sympy", "lark"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            info[mod] = None
    try:
        info["load_average_at_start"] = list(os.getloadavg())
    except OSError:
        pass
    return info


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes, 1-3 repeats: seconds (what CI runs)")
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts to run (1 diff latency, 2 CLI, 3 scaling, 4 codegen)")
    p.add_argument("--json", metavar="PATH", help=f"write the results here (default for a full run: {LATEST.relative_to(HERE.parent)})")
    p.add_argument("--readme", action="store_true", help="also rewrite benchmarks/README.md's tables from these results")
    p.add_argument("--render", metavar="JSON", help="print the tables of an earlier run's JSON (and with --readme rewrite the README) without running")
    p.add_argument("--threads", type=int, default=1, help="thread-pool width of every framework in part 4 (default 1)")
    p.add_argument("--update", action="store_true", help="keep the other parts of the existing JSON file and replace only the parts run")
    p.add_argument("--no-tensorgrad", action="store_true", help="do not start the tensorgrad worker")
    p.add_argument("--setup-tensorgrad", action="store_true", help="create benchmarks/.venv-tensorgrad (torch 2.12.1 + tensorgrad) and exit")
    return p.parse_args(argv)


def _run_part(part: str, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    if part == "1":
        from . import part_diff

        return part_diff.run(quick=args.quick, tensorgrad=not args.no_tensorgrad, log=log)
    if part == "2":
        from . import part_cli

        return part_cli.run(quick=args.quick, log=log)
    if part == "3":
        from . import part_scaling

        return part_scaling.run(quick=args.quick, log=log)
    from . import part_codegen

    return part_codegen.run_isolated(quick=args.quick, threads=args.threads, log=log)


def run(args: argparse.Namespace, log: Any = print, checkpoint: Path | None = None) -> dict[str, Any]:
    """Run the chosen parts; after each part the results so far are written to ``checkpoint``."""
    # every module up front: a file edited while a long run is under way cannot skew it halfway
    from . import part_cli, part_codegen, part_diff, part_scaling, readme, report, timing  # noqa: F401

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    results: dict[str, Any] = {
        "date": _dt.date.today().isoformat(), "machine": machine(), "quick": args.quick,
        "command": "python -m benchmarks" + (" --quick" if args.quick else "") + (f" --parts {args.parts}" if parts != list(PARTS) else ""),
        "parts": {}, "seconds": {},
    }
    for part in parts:
        t0 = time.perf_counter()
        log(f"part {part} …")
        try:
            results["parts"][part] = _run_part(part, args, log)
        except Exception:  # noqa: BLE001 - one broken part must not lose the others' results
            import traceback

            results["parts"][part] = {"error": traceback.format_exc()}
            log(results["parts"][part]["error"])
        results["seconds"][part] = time.perf_counter() - t0
        if checkpoint is not None:
            write_json(results, checkpoint)
    try:
        results["machine"]["load_average_at_end"] = list(os.getloadavg())
    except OSError:
        pass
    return results


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.setup_tensorgrad:
        from .tensorgrad_peer import setup

        return setup()
    from .report import render

    if args.render:
        results = json.loads(Path(args.render).read_text(encoding="utf-8"))
    else:
        path = Path(args.json) if args.json else (None if args.quick else LATEST)
        base = json.loads(path.read_text(encoding="utf-8")) if args.update and path is not None and path.exists() else None
        results = run(args, checkpoint=None if base else path)
        if base is not None:
            ran = list(results["parts"])
            kept = {k: v for k, v in base["parts"].items() if k not in results["parts"]}
            results["parts"] = dict(sorted({**kept, **results["parts"]}.items()))
            results["seconds"] = dict(sorted({**base.get("seconds", {}), **results["seconds"]}.items()))
            # one note however many partial reruns: the parts rerun since the last full run
            rerun = sorted(set(base.get("rerun_parts", [])) | set(ran))
            results["rerun_parts"] = rerun
            command = base.get("command", results["command"]).split(" (parts ")[0]
            results["command"] = command + f" (parts {','.join(rerun)} rerun on {results['date']})"
            results["machine"]["load_average_at_start"] = base["machine"].get("load_average_at_start", results["machine"].get("load_average_at_start"))
        if path is not None:
            write_json(results, path)
            print(f"results written to {path}")
    failed = [k for k, v in results["parts"].items() if "error" in v]
    results_ok = {**results, "parts": {k: v for k, v in results["parts"].items() if k not in failed}}
    print()
    print(render(results_ok))
    for k in failed:
        print(f"part {k} FAILED:\n{results['parts'][k]['error']}", file=sys.stderr)
    if args.readme:
        from .readme import write_readme

        write_readme(results_ok, README)
        print(f"tables written to {README}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
