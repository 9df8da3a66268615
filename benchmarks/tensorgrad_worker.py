"""tensorgrad worker: runs inside tensorgrad's own virtual environment, driven by
:mod:`benchmarks.tensorgrad_peer` over JSON lines on stdin/stdout.

Requests (one JSON object a line):

* ``{"op": "hello"}`` → versions;
* ``{"op": "prepare", "id", "source", "wrt", "order", "vars": {name: {"dims": [...], "value": [[...]]}}, "timeout"}``
  builds the case (``source`` defines ``expr`` with ``V(name, *edges)`` making the
  variables, ``F`` = ``tensorgrad.functions``), differentiates it once (the warm-up)
  and returns the result's numeric value at the given point;
* ``{"op": "time", "id"}`` → the seconds of one more build + ``.grad`` + ``.simplify()``
  (right after an untimed one).

This file imports nothing from the benchmark package or matcalc: it runs under a
different interpreter.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import traceback
from typing import Any


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout("timeout")


def main() -> None:
    signal.signal(signal.SIGALRM, _alarm)
    out = sys.stdout
    sys.stdout = sys.stderr  # anything tensorgrad prints must not corrupt the protocol
    t0 = time.perf_counter()
    import warnings

    import sympy as sp
    import torch

    warnings.filterwarnings("ignore")  # "Named tensors … are an experimental feature"

    torch.set_default_dtype(torch.float64)  # its evaluator makes constants in the default dtype; the inputs are float64

    import tensorgrad as tg
    import tensorgrad.functions as F
    from tensorgrad.extras.evaluate import evaluate
    from tensorgrad.tensor import Derivative

    import_seconds = time.perf_counter() - t0
    prepared: dict[str, Any] = {}

    def build(req: dict[str, Any]) -> tuple[Any, Any]:
        made: dict[str, Any] = {}
        dims = {name: spec["dims"] for name, spec in req["vars"].items()}

        def V(name: str, *edges: str) -> Any:
            ds = dims[name]
            if len(edges) != len(ds):
                raise ValueError(f"{name}: {len(edges)} edges for dims {ds}")
            v = tg.Variable(name, **{e: sp.Symbol(d) for e, d in zip(edges, ds)})
            made[name] = (v, edges)
            return v

        ns: dict[str, Any] = {"V": V, "F": F, "tg": tg, "sp": sp}
        exec(req["source"], ns)  # noqa: S102 - the benchmark's own case text
        return ns["expr"], made

    def differentiate(req: dict[str, Any], full: bool) -> tuple[Any, Any]:
        expr, made = build(req)
        wrt = made[req["wrt"]][0]
        out = expr
        for _ in range(req["order"]):
            out = out.grad(wrt)
        out = out.full_simplify() if full else out.simplify()
        return out, made

    def has_derivative(t: Any) -> bool:
        return "Derivative(" in repr(t) or isinstance(t, Derivative)

    def reply(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    for line in sys.stdin:
        req = json.loads(line)
        op = req.get("op")
        try:
            if op == "hello":
                from importlib.metadata import version

                reply({"ok": True, "tensorgrad": version("tensorgrad"), "torch": torch.__version__, "python": sys.version.split()[0], "import_seconds": import_seconds})
            elif op == "prepare":
                signal.setitimer(signal.ITIMER_REAL, float(req.get("timeout") or 0))
                try:
                    t = time.perf_counter()
                    res, made = differentiate(req, full=False)
                    full = has_derivative(res)
                    if full:
                        res, made = differentiate(req, full=True)
                    seconds = time.perf_counter() - t
                    if has_derivative(res):
                        prepared[req["id"]] = (req, full)
                        reply({"ok": True, "status": "unevaluated", "seconds": seconds})
                        continue
                    values = {}
                    for name, (v, edges) in made.items():
                        a = torch.tensor(req["vars"][name]["value"], dtype=torch.float64)
                        if len(edges) == 0:
                            a = a.reshape(())
                        elif len(edges) == 1:
                            a = a.reshape(-1)
                        values[v] = a.rename(*edges) if edges else a
                    val = evaluate(res, values)
                    val = val.rename(None).detach().numpy().tolist() if hasattr(val, "rename") else float(val)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                prepared[req["id"]] = (req, full)
                reply({"ok": True, "status": "ok", "value": val, "seconds": seconds, "simplify": "full_simplify" if full else "simplify", "text": repr(res)[:300]})
            elif op == "time":
                preq, full = prepared[req["id"]]
                signal.setitimer(signal.ITIMER_REAL, float(req.get("timeout") or 0))
                try:
                    differentiate(preq, full)  # untimed: the state the tool leaves in repeated use (see part_diff)
                    t = time.perf_counter()
                    differentiate(preq, full)
                    seconds = time.perf_counter() - t
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                reply({"ok": True, "seconds": seconds})
            elif op == "quit":
                reply({"ok": True})
                return
            else:
                reply({"ok": False, "error": f"unknown op {op!r}"})
        except _Timeout:
            reply({"ok": False, "error": "timeout", "status": "timeout"})
        except BaseException as e:  # noqa: BLE001 - every failure of the peer is reported, not raised
            last = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
            where = f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}" if last else ""
            reply({"ok": False, "error": f"{type(e).__name__}: {str(e)[:200]}{where}", "status": "error"})


if __name__ == "__main__":
    main()
