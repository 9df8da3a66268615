"""Client for tensorgrad, which lives in its own virtual environment (it pins
networkx and pulls its own torch): the cases go to :mod:`benchmarks.tensorgrad_worker`
as JSON lines and come back as timings and numeric values.

The interpreter is ``$MATCALC_BENCH_TENSORGRAD_PYTHON`` or
``benchmarks/.venv-tensorgrad/bin/python``; ``python -m benchmarks --setup-tensorgrad``
creates that environment (``pip install torch==2.12.1 tensorgrad``: tensorgrad
evaluates with named tensors, which torch 2.13 no longer has).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-tensorgrad"
WORKER = HERE / "tensorgrad_worker.py"


def interpreter() -> Path | None:
    env = os.environ.get("MATCALC_BENCH_TENSORGRAD_PYTHON")
    path = Path(env) if env else VENV / "bin" / "python"
    return path if path.exists() else None


def setup(torch_spec: str = "torch==2.12.1") -> int:
    """Create ``benchmarks/.venv-tensorgrad`` with tensorgrad and a torch that still has named tensors."""
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, torch_spec], check=True)
    return subprocess.run([*pip, "tensorgrad"]).returncode


class TensorgradUnavailable(Exception):
    pass


class Worker:
    """One long-lived worker process; every request has a deadline, after which the worker is restarted."""

    def __init__(self, python: Path, start_timeout: float = 120.0):
        self.python = python
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self._start()

    def _start(self) -> None:
        # one thread, and none left spinning: torch's OpenMP threads busy-wait after each
        # call, and on a two-core machine they took the CPU from matcalc's next timed call
        quiet = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
        self.proc = subprocess.Popen(
            [str(self.python), str(WORKER)],
            env={**os.environ, **quiet},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        try:
            self.info = self.request({"op": "hello"}, self.start_timeout)
        except TensorgradUnavailable:
            self.close()
            raise
        if not self.info.get("ok"):
            self.close()
            raise TensorgradUnavailable(self.info.get("error", "the worker did not start"))

    def request(self, req: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise TensorgradUnavailable(f"the worker died ({e})") from None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.restart()
                return {"ok": False, "status": "timeout", "error": f"no answer in {timeout:g} s"}
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    code = self.proc.poll()
                    raise TensorgradUnavailable(f"the worker exited (code {code})")
                return json.loads(line)

    def restart(self) -> None:
        self.close()
        self._start()

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.kill()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):  # pragma: no cover
                pass
            self.proc = None


def start() -> tuple[Worker | None, str]:
    """A running worker, or None and the reason it is skipped."""
    py = interpreter()
    if py is None:
        return None, f"skipped: no tensorgrad environment at {VENV.relative_to(HERE.parent)} (python -m benchmarks --setup-tensorgrad)"
    try:
        w = Worker(py)
    except (TensorgradUnavailable, OSError) as e:
        return None, f"skipped: tensorgrad worker failed to start ({e})"
    return w, f"tensorgrad {w.info.get('tensorgrad')} (torch {w.info.get('torch')}, own venv)"
