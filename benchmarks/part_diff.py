"""Part 1 — differentiation latency: matcalc against SymPy and tensorgrad on the fixed suite.

Per case: matcalc's answer is confirmed by finite differences
(:func:`matcalc.numeric.numeric_check`) and becomes the numeric reference at that
point (:mod:`benchmarks.reference`); each peer differentiates the same expression
once untimed (the warm-up), its answer is evaluated at the same point and graded
``right`` / ``wrong`` / ``unevaluated`` (gave back ``Derivative(…)``) / ``error`` (raised)
/ ``n/a`` (cannot write the expression) / ``timeout``; then matcalc and the peers are
timed in turn, repeat after repeat.  Speedups are peer median ÷ matcalc median, on
the cases the peer gets right.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import Any

import numpy as np

from .cases import CASES, Case
from .reference import matches, reference_tensor
from .timing import Timeout, inline_deep, median, time_limit

QUICK_CASES = ("sum_wx_b", "xAx", "logdet", "mlp_W1", "Wx_by_W", "lsq_hess")
TARGET_MS = 1.0
TARGET_SPEEDUP = 30.0


def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}".rstrip(": ")


class _SympyPeer:
    def __init__(self, case: Case, d: Any, sizes: dict[str, int], point: dict[str, np.ndarray], ref: np.ndarray, limit: float):
        self.case, self.limit = case, limit
        self.variables = dict(d.checked.variables)
        self.times: list[float] = []
        self.status, self.note = "n/a", ""
        if case.sympy is None:
            self.note = "no MatrixSymbol form"
            return
        from . import sympy_peer as SP

        self.SP = SP
        try:
            case.sympy(SP.namespace(case, self.variables))
        except Exception as e:  # noqa: BLE001 - a peer's failure is a result
            self.status, self.note = "n/a", "cannot build: " + _err(e)
            return
        try:
            seconds, result = self._run()
        except Timeout:
            self.status, self.note = "timeout", f"over {limit:g} s"
            return
        except Exception as e:  # noqa: BLE001
            self.status, self.note = "error", _err(e)
            return
        self.warmup = seconds
        self.text = str(result)[:200]
        if SP.unevaluated(result):
            self.status, self.note = "unevaluated", "returned Derivative(…)"
            return
        try:
            with time_limit(limit):
                value = SP.evaluate(result, case, self.variables, sizes, point)
            self.status = "right" if matches(value, ref) else "wrong"
            if self.status == "wrong":
                self.note = f"result {self.text[:60]}"
        except Timeout:
            self.status, self.note = "unchecked", f"evaluating its result took over {limit:g} s"
        except Exception as e:  # noqa: BLE001
            self.status, self.note = "unchecked", "could not evaluate its result: " + _err(e)

    @property
    def timable(self) -> bool:
        return self.status in ("right", "wrong", "unevaluated", "unchecked")

    def _run(self) -> tuple[float, Any]:
        from sympy.core.cache import clear_cache

        with time_limit(self.limit):
            self.SP.differentiate(self.case, self.variables)  # untimed: see WARM in _case
            clear_cache()  # so the timed call computes rather than looks up its answer
            t0 = time.perf_counter()
            out = self.SP.differentiate(self.case, self.variables)
            return time.perf_counter() - t0, out

    def once(self) -> None:
        try:
            self.times.append(self._run()[0])
        except Timeout:
            self.status, self.note = "timeout", f"a repeat took over {self.limit:g} s"
        except Exception as e:  # noqa: BLE001 - SymPy is not always deterministic in what it raises
            self.note = "a repeat raised " + _err(e)


class _TensorgradPeer:
    def __init__(self, worker: Any, case: Case, d: Any, point: dict[str, np.ndarray], ref: np.ndarray, limit: float):
        self.worker, self.case, self.limit = worker, case, limit
        self.times: list[float] = []
        self.status, self.note = "n/a", ""
        if worker is None:
            self.status, self.note = "skipped", ""
            return
        if case.tensorgrad is None:
            self.note = "no tensorgrad form"
            return
        variables = {
            name: {"dims": [s for dim in (v.shape.rows, v.shape.cols) for s in dim.syms], "value": point[name].tolist()}
            for name, v in d.checked.variables.items()
        }
        req = {"op": "prepare", "id": case.name, "source": case.tensorgrad, "wrt": case.wrt, "order": case.order, "vars": variables, "timeout": limit}
        res = worker.request(req, limit * 2 + 30)
        if not res.get("ok"):
            self.status, self.note = res.get("status", "error"), res.get("error", "")
            return
        self.simplify = res.get("simplify", "")
        if res["status"] == "unevaluated":
            self.status, self.note = "unevaluated", "Derivative left after full_simplify"
            return
        self.status = "right" if matches(np.array(res["value"], dtype=float), ref) else "wrong"
        if self.simplify == "full_simplify":
            self.note = "needed full_simplify"

    @property
    def timable(self) -> bool:
        return self.status in ("right", "wrong", "unevaluated")

    def once(self) -> None:
        res = self.worker.request({"op": "time", "id": self.case.name, "timeout": self.limit}, self.limit * 2 + 30)
        if res.get("ok"):
            self.times.append(res["seconds"])
        else:
            self.status, self.note = res.get("status", "error"), res.get("error", "")


def run(quick: bool = False, tensorgrad: bool = True, log: Any = print) -> dict[str, Any]:
    import matcalc
    from matcalc.numeric import numeric_check

    from . import tensorgrad_peer

    cases = [c for c in CASES if c.name in QUICK_CASES] if quick else list(CASES)
    repeats, peer_min, peer_budget, limit = (3, 1, 0.5, 10.0) if quick else (21, 3, 6.0, 60.0)
    worker, tg_message = tensorgrad_peer.start() if tensorgrad else (None, "skipped: --no-tensorgrad")
    log(f"  tensorgrad: {tg_message}")
    rows: list[dict[str, Any]] = []
    try:
        for case in cases:
            row = _case(case, matcalc, numeric_check, worker, repeats, peer_min, peer_budget, limit)
            rows.append(row)
            log(_progress(row))
    finally:
        if worker is not None:
            worker.close()
    prof = profile_suite(cases) if not quick else None
    return {"cases": rows, "summary": _summary(rows), "tensorgrad": tg_message, "quick": quick, "profile": prof,
            "method": {"repeats": repeats, "peer_min_repeats": peer_min, "peer_budget_seconds": peer_budget, "peer_limit_seconds": limit}}


def _case(case: Case, matcalc: Any, numeric_check: Any, worker: Any, repeats: int, peer_min: int, peer_budget: float, limit: float) -> dict[str, Any]:
    from matcalc.nodes import dag_size

    def run_matcalc() -> Any:
        return matcalc.diff(case.expr, case.wrt, shapes=case.shapes, order=case.order)

    d = run_matcalc()  # warm-up
    check = numeric_check(d, seed=0)
    ref = reference_tensor(d, check.got, check.sizes)
    sym = _SympyPeer(case, d, check.sizes, check.point, ref, limit)
    tg = _TensorgradPeer(worker, case, d, check.point, ref, limit)
    mtimes: list[float] = []
    itimes: list[float] = []  # the same call with matcalc's big-stack threads bypassed (diagnostic)
    for rep in range(repeats):
        # the two variants take turns going first: the second call of a pair runs on
        # warm caches, which alone made the inline variant look ~15 % faster.  Every tool's
        # timed call follows an untimed call of its own (WARM): after the process sat idle
        # waiting for the tensorgrad worker, a 0.3 ms call took 0.8 ms (cold caches), which
        # a busy loop does not mend and one call of the tool does
        for inline in ((False, True) if rep % 2 == 0 else (True, False)):
            with inline_deep() if inline else contextlib.nullcontext():
                run_matcalc()
                t0 = time.perf_counter()
                run_matcalc()
                (itimes if inline else mtimes).append(time.perf_counter() - t0)
        for peer in (sym, tg):
            if peer.timable and (len(peer.times) < peer_min or sum(peer.times) < peer_budget):
                peer.once()
    m = statistics.median(mtimes)
    out: dict[str, Any] = {
        "name": case.name, "expr": case.expr, "wrt": case.wrt, "order": case.order, "group": case.group,
        "shapes": case.shapes,
        "matcalc": {"seconds": m, "min_seconds": min(mtimes), "repeats": len(mtimes), "inline_seconds": statistics.median(itimes),
                    "numeric_check": bool(check.ok),
                    "max_error": check.max_error, "kind": d.kind, "result": d.text, "dag_size": dag_size(d.node)},
    }
    for key, peer in (("sympy", sym), ("tensorgrad", tg)):
        t = median(peer.times)
        entry: dict[str, Any] = {"status": peer.status, "note": peer.note, "seconds": t, "repeats": len(peer.times)}
        if t is not None and m > 0:
            entry["ratio"] = t / m
        out[key] = entry
    return out


def _progress(row: dict[str, Any]) -> str:
    def peer(p: dict[str, Any]) -> str:
        if p["seconds"] is None:
            return p["status"]
        return f"{p['status']} {p['seconds'] * 1e3:.1f} ms"

    m = row["matcalc"]
    return f"  {row['name']:<16} matcalc {m['seconds'] * 1e3:7.3f} ms {'ok' if m['numeric_check'] else 'FD-MISMATCH'} | sympy {peer(row['sympy'])} | tensorgrad {peer(row['tensorgrad'])}"


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ms = [r["matcalc"]["seconds"] for r in rows]
    out: dict[str, Any] = {
        "cases": len(rows),
        "matcalc_median_seconds": statistics.median(ms) if ms else None,
        "matcalc_max_seconds": max(ms) if ms else None,
        "matcalc_numeric_check_failures": [r["name"] for r in rows if not r["matcalc"]["numeric_check"]],
        "cases_over_target": [r["name"] for r in rows if r["matcalc"]["seconds"] * 1e3 > TARGET_MS],
        "matcalc_inline_median_seconds": statistics.median([r["matcalc"]["inline_seconds"] for r in rows]) if rows else None,
        "target_ms": TARGET_MS,
        "target_speedup": TARGET_SPEEDUP,
        "peers": {},
    }
    for key in ("sympy", "tensorgrad"):
        counts: dict[str, int] = {}
        for r in rows:
            counts[r[key]["status"]] = counts.get(r[key]["status"], 0) + 1
        right = [r for r in rows if r[key]["status"] == "right" and r[key].get("ratio")]
        ratios = [r[key]["ratio"] for r in right]
        out["peers"][key] = {
            "status_counts": counts,
            "right": len(right),
            "median_speedup": statistics.median(ratios) if ratios else None,
            "geomean_speedup": float(np.exp(np.mean(np.log(ratios)))) if ratios else None,
            "min_speedup": min(ratios) if ratios else None,
            "below_target": [(r["name"], round(r[key]["ratio"], 1)) for r in right if r[key]["ratio"] < TARGET_SPEEDUP],
        }
    out["median_target_met"] = bool(ms) and statistics.median(ms) * 1e3 <= TARGET_MS
    return out


def profile_suite(cases: list[Case], top: int = 25) -> dict[str, Any]:
    """cProfile of one ``matcalc.diff`` per case (after the timed runs), matcalc's deep passes run inline so
    the profiler sees them: where matcalc's time goes, summed over the suite."""
    import matcalc

    from .timing import profile_rows

    def suite() -> None:
        for c in cases:
            matcalc.diff(c.expr, c.wrt, shapes=c.shapes, order=c.order)

    out = profile_rows(suite, top=top)
    out["cases"] = len(cases)
    return out
