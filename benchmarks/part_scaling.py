"""Part 3 — scaling: time and result size against the size of the input.

* an L-layer MLP loss written out in full, ``0.5*norm(y - W_L@relu(…relu(W1@x)))^2``,
  differentiated by the innermost weight ``W1`` (the longest chain rule), L = 1 … 128;
* a deep nest ``sum(sigmoid(sigmoid(…(x))))``, depth 25 … 800, by ``x``.

Result size is the number of distinct nodes of the derivative's DAG
(``matcalc.nodes.dag_size``).  The exponent is the least-squares slope on log-log
axes over the larger half of the sizes; linear scaling gives 1.
"""

from __future__ import annotations

import time
from typing import Any

from .timing import fit_exponent

TARGET_EXPONENT = 1.1


def mlp(layers: int) -> str:
    """``0.5*norm(y - W_L@relu(W_{L-1}@…relu(W1@x)))^2``."""
    inner = "x"
    for k in range(1, layers):
        inner = f"relu(W{k}@{inner})"
    return f"0.5*norm(y - W{layers}@{inner})^2"


def nest(depth: int) -> str:
    """``sum(sigmoid(sigmoid(…(x))))`` with ``depth`` sigmoids."""
    return "sum(" + "sigmoid(" * depth + "x" + ")" * depth + ")"


FAMILIES = {
    "mlp": {"label": "L-layer MLP loss by W1", "make": mlp, "wrt": "W1", "full": (1, 2, 4, 8, 16, 32, 64, 128), "quick": (1, 2, 4, 8)},
    "nest": {"label": "sum(sigmoid(…(x))) by x, depth", "make": nest, "wrt": "x", "full": (25, 50, 100, 200, 400, 800), "quick": (5, 10, 20, 40)},
}


def _time(expr: str, wrt: str, budget: float, max_repeats: int) -> tuple[float, Any, int]:
    import matcalc

    d = matcalc.diff(expr, wrt)  # warm-up
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < 3 or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        matcalc.diff(expr, wrt)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], d, len(times)


def run(quick: bool = False, log: Any = print) -> dict[str, Any]:
    from matcalc.nodes import dag_size, tree_size

    budget, max_repeats = (0.2, 3) if quick else (5.0, 15)
    out: dict[str, Any] = {"families": {}, "target_exponent": TARGET_EXPONENT, "quick": quick}
    for key, fam in FAMILIES.items():
        rows = []
        for size in fam["quick" if quick else "full"]:
            expr = fam["make"](size)
            try:
                seconds, d, reps = _time(expr, fam["wrt"], budget, max_repeats)
            except Exception as e:  # noqa: BLE001 - a failure at one size is a result
                rows.append({"size": size, "error": f"{type(e).__name__}: {str(e)[:160]}"})
                log(f"  {key:<5} {size:>4}  error {type(e).__name__}: {str(e)[:100]}")
                continue
            row = {"size": size, "seconds": seconds, "repeats": reps, "dag_size": dag_size(d.node),
                   "tree_size": tree_size(d.node), "input_length": len(expr), "input_dag_size": dag_size(d.expression)}
            rows.append(row)
            log(f"  {key:<5} {size:>4}  {seconds * 1e3:9.2f} ms  dag {row['dag_size']:>6}  tree {row['tree_size']:>8}")
        ok = [r for r in rows if "seconds" in r]
        t_exp = fit_exponent([r["size"] for r in ok], [r["seconds"] for r in ok])
        s_exp = fit_exponent([r["size"] for r in ok], [r["dag_size"] for r in ok])
        out["families"][key] = {
            "label": fam["label"], "wrt": fam["wrt"], "rows": rows, "time_exponent": t_exp, "size_exponent": s_exp,
            "time_target_met": t_exp is not None and t_exp <= TARGET_EXPONENT,
            "size_target_met": s_exp is not None and s_exp <= TARGET_EXPONENT,
        }
        if not quick and ok and not out["families"][key]["time_target_met"]:
            out.setdefault("profiles", {})[key] = profile(fam["make"](ok[-1]["size"]), fam["wrt"])
    return out


def profile(expr: str, wrt: str, top: int = 20) -> dict[str, Any]:
    """cProfile of one ``matcalc.diff`` (after a warm-up), deep passes inline: matcalc functions by cumulative time."""
    import matcalc

    from .timing import profile_rows

    matcalc.diff(expr, wrt)
    return profile_rows(lambda: matcalc.diff(expr, wrt), top=top)
