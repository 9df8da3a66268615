"""Part 4 — speed of the generated code: matcalc's NumPy against hand-written NumPy,
``jax.jit(jax.grad)`` / ``jax.jit(jax.hessian)``, ``torch.func.grad`` /
``torch.func.hessian``, ``torch.autograd.functional.hessian`` and HIPS ``autograd``, all
in float64 on the CPU, interleaved: each round times every framework once, the first
place turning round from round to round, and a fast call is repeated within its sample
(about 5 ms) so the timer's resolution and one cold cache do not decide the ratio.

matcalc's callable is ``matcalc.codegen.compile_function(d)`` when that module
exists, else ``d.to_function()`` (the tree-walking evaluator; the table says which).
A framework that is not installed is skipped with its reason; one whose single call
exceeds the per-call limit is not run at larger sizes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

TARGET_VS_NUMPY = 1.2
TARGET_VS_TORCH_AF = 10.0
CALL_LIMIT = 20.0
SAMPLE_SECONDS = 0.005  # one timing sample repeats a fast call until it lasts about this long
WARM_LIMIT = 0.1  # a call cheaper than this gets an untimed call of its own before each sample
MAX_BATCH = 200


@dataclass(frozen=True)
class Task:
    name: str
    expr: str
    wrt: str
    shapes: dict[str, str]
    order: int
    label: str


TASKS = [
    Task("mlp_grad", "0.5*norm(y - W2@relu(W1@x))^2", "W1", {"W1": "n x n", "W2": "n x n", "x": "n", "y": "n"}, 1,
         "MLP loss gradient by W1 (W1, W2: n×n)"),
    Task("logistic_grad", "sum(log(1 + exp(-y*(X@w))))", "w", {"X": "n x n", "w": "n", "y": "n"}, 1,
         "logistic loss gradient (X: n×n)"),
    Task("logistic_hess", "sum(log(1 + exp(-y*(X@w))))", "w", {"X": "n x n", "w": "n", "y": "n"}, 2,
         "logistic loss Hessian"),
    Task("lsq_hess", "norm(A@x - b)^2", "x", {"A": "n x n", "x": "n", "b": "n"}, 2, "least-squares Hessian"),
    Task("xAx_hess", "x'@A@x", "x", {"A": "n x n", "x": "n"}, 2, "x'Ax Hessian"),
]


def inputs(task: Task, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if task.name == "mlp_grad":
        return {"W1": rng.normal(size=(n, n)) / np.sqrt(n), "W2": rng.normal(size=(n, n)) / np.sqrt(n),
                "x": rng.normal(size=n), "y": rng.normal(size=n)}
    if task.name.startswith("logistic"):
        return {"X": rng.normal(size=(n, n)) / np.sqrt(n), "w": rng.normal(size=n), "y": rng.choice([-1.0, 1.0], size=n)}
    if task.name == "lsq_hess":
        return {"A": rng.normal(size=(n, n)), "x": rng.normal(size=n), "b": rng.normal(size=n)}
    return {"A": rng.normal(size=(n, n)), "x": rng.normal(size=n)}


# ------------------------------------------------------------------ the functions, by hand


def _sig(t: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-t))


def hand_value(task: Task) -> Callable[..., Any]:
    """The function itself in NumPy (for the gradient-to-function cost ratio)."""
    if task.name == "mlp_grad":
        return lambda W1, W2, x, y: 0.5 * float(np.sum((y - W2 @ np.maximum(W1 @ x, 0.0)) ** 2))
    if task.name.startswith("logistic"):
        return lambda X, w, y: float(np.sum(np.logaddexp(0.0, -y * (X @ w))))
    if task.name == "lsq_hess":
        return lambda A, x, b: float(np.sum((A @ x - b) ** 2))
    return lambda A, x: float(x @ A @ x)


def hand_derivative(task: Task) -> Callable[..., Any]:
    if task.name == "mlp_grad":
        def g(W1, W2, x, y):
            z = W1 @ x
            r = W2 @ np.maximum(z, 0.0) - y
            return np.outer((W2.T @ r) * (z > 0), x)
        return g
    if task.name == "logistic_grad":
        return lambda X, w, y: -(X.T @ (y * _sig(-y * (X @ w))))
    if task.name == "logistic_hess":
        def h(X, w, y):
            p = _sig(-y * (X @ w))
            return X.T @ (X * (y * y * p * (1.0 - p))[:, None])
        return h
    if task.name == "lsq_hess":
        return lambda A, x, b: 2.0 * (A.T @ A)
    return lambda A, x: A + A.T


# ------------------------------------------------------------------ the frameworks


def _loss_src(task: Task, lib: str) -> Callable[..., Any]:
    """The loss written once per array library: ``lib`` is the module (jax.numpy, torch, autograd.numpy)."""
    if task.name == "mlp_grad":
        if lib == "torch":
            return lambda m, W1, W2, x, y: 0.5 * m.sum((y - W2 @ m.relu(W1 @ x)) ** 2)
        return lambda m, W1, W2, x, y: 0.5 * m.sum((y - W2 @ m.maximum(W1 @ x, 0.0)) ** 2)
    if task.name.startswith("logistic"):
        return lambda m, X, w, y: m.sum(m.log(1.0 + m.exp(-y * (X @ w))))
    if task.name == "lsq_hess":
        return lambda m, A, x, b: m.sum((A @ x - b) ** 2)
    return lambda m, A, x: x @ (A @ x)


def framework_versions() -> dict[str, str]:
    out: dict[str, str] = {"numpy": np.__version__}
    for mod in ("jax", "torch", "autograd"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "installed")
        except Exception as e:  # noqa: BLE001 - a missing framework is skipped, with its reason
            out[mod] = f"skipped: {type(e).__name__}: {str(e)[:80]}"
    return out


def make_peers(task: Task, data: dict[str, np.ndarray], versions: dict[str, str]) -> dict[str, Callable[[], Any]]:
    """Zero-argument callables returning the derivative (as NumPy), one per installed framework."""
    names = list(data)
    k = names.index(task.wrt)
    peers: dict[str, Callable[[], Any]] = {}
    hand = hand_derivative(task)
    peers["numpy (hand-written)"] = lambda: hand(**data)
    if not versions["jax"].startswith("skipped"):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        jloss = _loss_src(task, "jax")
        f = lambda *a: jloss(jnp, *a)  # noqa: E731
        jd = [jnp.asarray(data[v]) for v in names]
        fn = jax.jit(jax.grad(f, argnums=k) if task.order == 1 else jax.hessian(f, argnums=k))
        label = "jax.jit(jax.grad)" if task.order == 1 else "jax.jit(jax.hessian)"
        peers[label] = lambda: np.asarray(fn(*jd).block_until_ready())
    if not versions["torch"].startswith("skipped"):
        import torch

        tloss = _loss_src(task, "torch")
        td = [torch.from_numpy(np.ascontiguousarray(data[v])) for v in names]

        def tf(*a: Any) -> Any:
            return tloss(torch, *a)

        if task.order == 1:
            g = torch.func.grad(tf, argnums=k)
            peers["torch.func.grad"] = lambda: g(*td).numpy()
        else:
            h = torch.func.hessian(tf, argnums=k)
            peers["torch.func.hessian"] = lambda: h(*td).numpy()

            def af() -> Any:
                rest = list(td)

                def only(xk: Any) -> Any:
                    rest[k] = xk
                    return tf(*rest)

                return torch.autograd.functional.hessian(only, td[k]).numpy()

            peers["torch.autograd.functional.hessian"] = af
    if not versions["autograd"].startswith("skipped"):
        import autograd
        import autograd.numpy as anp

        aloss = _loss_src(task, "autograd")
        af_ = (autograd.grad if task.order == 1 else autograd.hessian)(lambda *a: aloss(anp, *a), k)
        ad = [data[v] for v in names]
        peers["autograd (HIPS)" if task.order == 1 else "autograd.hessian (HIPS)"] = lambda: np.asarray(af_(*ad))
    return peers


def matcalc_callable(task: Task) -> tuple[Callable[..., Any], str]:
    import matcalc

    d = matcalc.diff(task.expr, task.wrt, shapes=task.shapes, order=task.order)
    try:
        from matcalc.codegen import compile_function  # type: ignore[attr-defined]
    except ImportError:
        return d.to_function(), "d.to_function() (evaluator: matcalc.codegen not present yet)"
    try:
        return compile_function(d), "matcalc.codegen.compile_function(d)"
    except Exception as e:  # noqa: BLE001 - fall back, and say so in the table
        return d.to_function(), f"d.to_function() (compile_function failed: {type(e).__name__}: {str(e)[:80]})"


def thread_env(threads: int) -> dict[str, str]:
    """Environment fixing every framework's thread pool to ``threads`` (NumPy's BLAS, torch's OpenMP, XLA's Eigen)."""
    t = str(threads)
    return {
        "OMP_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t, "MKL_NUM_THREADS": t, "BLIS_NUM_THREADS": t,
        "VECLIB_MAXIMUM_THREADS": t, "NUMEXPR_NUM_THREADS": t,
        "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} intra_op_parallelism_threads={t}",
        "JAX_PLATFORMS": "cpu",
    }


def run_isolated(quick: bool = False, threads: int = 1, log: Any = print) -> dict[str, Any]:
    """:func:`run` in a fresh process whose thread pools are all ``threads`` wide: thread pools of
    NumPy, torch and XLA in one process oversubscribe a 2-core machine and turn timings into scheduler noise."""
    import json
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env.update(thread_env(threads))
    env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "part4.json"
        cmd = [sys.executable, "-m", "benchmarks.part_codegen", "--out", str(out), "--threads", str(threads)] + (["--quick"] if quick else [])
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root)
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail = (tail + [line])[-40:]
            if line.startswith("  "):
                log(line)
        if proc.wait() != 0 or not out.exists():
            raise RuntimeError("part 4's process failed:\n" + "\n".join(tail))
        return json.loads(out.read_text(encoding="utf-8"))


def run(quick: bool = False, log: Any = print, threads: int | None = None) -> dict[str, Any]:
    if threads is not None:
        try:
            import torch

            torch.set_num_threads(threads)
        except Exception:  # noqa: BLE001 - torch absent: nothing to set
            pass
    sizes = (10, 40) if quick else (100, 500, 1000, 2000)
    repeats, budget = (2, 0.3) if quick else (9, 3.0)
    versions = framework_versions()
    for k, v in versions.items():
        if v.startswith("skipped"):
            log(f"  {k}: {v}")
    rows: list[dict[str, Any]] = []
    too_slow: set[tuple[str, str]] = set()
    for task in TASKS:
        mfn, mode = matcalc_callable(task)
        for n in sizes:
            data = inputs(task, n)
            peers = {"matcalc": lambda mfn=mfn, data=data: mfn(**data), **make_peers(task, data, versions)}
            expected = peers["numpy (hand-written)"]()
            value = hand_value(task)
            row: dict[str, Any] = {"task": task.name, "label": task.label, "n": n, "order": task.order, "matcalc_mode": mode,
                                   "frameworks": {}}
            live: dict[str, Callable[[], Any]] = {}
            for name, fn in peers.items():
                if (task.name, name) in too_slow:
                    row["frameworks"][name] = {"seconds": None, "note": f"skipped: predicted over {CALL_LIMIT:g} s a call from the smaller n"}
                    continue
                try:
                    t0 = time.perf_counter()
                    got = fn()  # warm-up (and jit compile)
                    first = time.perf_counter() - t0
                    agrees = bool(np.allclose(np.asarray(got).reshape(np.shape(expected)), expected, rtol=1e-6, atol=1e-8 * max(1.0, float(np.max(np.abs(expected))))))
                except Exception as e:  # noqa: BLE001
                    row["frameworks"][name] = {"seconds": None, "note": f"error: {type(e).__name__}: {str(e)[:100]}"}
                    continue
                row["frameworks"][name] = {"seconds": None, "first_call_seconds": first, "agrees": agrees, "times": []}
                if first > CALL_LIMIT:
                    too_slow.add((task.name, name))
                    row["frameworks"][name]["seconds"] = first
                    row["frameworks"][name]["note"] = "one call only (over the per-call limit)"
                    continue
                live[name] = fn
                # calls per sample: enough for ~SAMPLE_SECONDS, so a 50 µs call is not timed alone
                t0 = time.perf_counter()
                fn()
                warm = time.perf_counter() - t0
                row["frameworks"][name]["warm_seconds"] = warm
                row["frameworks"][name]["calls_per_sample"] = max(1, min(MAX_BATCH, int(SAMPLE_SECONDS / max(warm, 1e-7))))
            spent = dict.fromkeys(live, 0.0)
            names = list(live)
            for r in range(repeats):
                # who goes first turns round: a call right after another framework's finds the
                # caches cold, and the one after it finds the shared inputs warm.  The turn is
                # taken among this round's runners only: rotating the full list while the slow
                # peers sit out left the same framework behind jax's 2000×2000 Hessian in seven
                # rounds of nine (matcalc's A.T + A read 13 ms against 8 ms for the same code)
                runners = [name for name in names if not (r >= 1 and (spent[name] > budget or (
                    r >= 2 and row["frameworks"][name]["first_call_seconds"] > budget / 3)))]
                if not runners:
                    break
                for name in runners[r % len(runners):] + runners[: r % len(runners)]:
                    fn = live[name]
                    fw = row["frameworks"][name]
                    k = fw["calls_per_sample"]
                    if fw["warm_seconds"] < WARM_LIMIT:
                        # an untimed call first, as in part 1: the timed one then never pays
                        # for its predecessor (a call right after jax's 2000×2000 Hessian
                        # read 13 ms for A.T + A against 9 ms for the same A + A.T), and
                        # no rotation of the order can spread that debt evenly
                        fn()
                    t0 = time.perf_counter()
                    for _ in range(k):
                        fn()
                    dt = time.perf_counter() - t0
                    spent[name] += dt
                    fw["times"].append(dt / k)
            for name in live:
                fw = row["frameworks"][name]
                fw["seconds"] = statistics.median(fw.pop("times"))
                # skip the next size when this one predicts a call over the limit (cost ~ n² for a gradient, n³ for a Hessian)
                nxt = [k for k in sizes if k > n]
                if nxt and fw["seconds"] * (nxt[0] / n) ** (task.order + 1) > CALL_LIMIT:
                    too_slow.add((task.name, name))
            fvals = [_time_value(value, data) for _ in range(max(3, repeats))]
            row["function_seconds"] = statistics.median(fvals)
            _ratios(row)
            rows.append(row)
            log(_progress(row))
    return {"rows": rows, "versions": versions, "summary": _summary(rows, sizes), "quick": quick,
            "method": {"sizes": sizes, "repeats": repeats, "budget_seconds": budget, "dtype": "float64", "device": "cpu",
                       "threads": threads, "call_limit_seconds": CALL_LIMIT,
                       "sample_seconds": SAMPLE_SECONDS, "order": "rotating",
                       "untimed_call_first_below_seconds": WARM_LIMIT}}


def _time_value(value: Callable[..., Any], data: dict[str, np.ndarray]) -> float:
    t0 = time.perf_counter()
    value(**data)
    return time.perf_counter() - t0


def _ratios(row: dict[str, Any]) -> None:
    fw = row["frameworks"]
    m = fw["matcalc"].get("seconds")
    for e in fw.values():
        if m and e.get("seconds"):
            e["ratio_to_matcalc"] = e["seconds"] / m
    hand = fw["numpy (hand-written)"].get("seconds")
    row["matcalc_vs_numpy"] = m / hand if m and hand else None
    if row["order"] == 1 and row.get("function_seconds"):
        row["gradient_to_function"] = {"matcalc": m / row["function_seconds"] if m else None,
                                       "numpy (hand-written)": hand / row["function_seconds"] if hand else None}


def _progress(row: dict[str, Any]) -> str:
    parts = []
    for name, e in row["frameworks"].items():
        s = e.get("seconds")
        parts.append(f"{name} {s * 1e3:.2f} ms" if s is not None else f"{name} –")
    return f"  {row['task']:<14} n={row['n']:<5} " + " | ".join(parts)


def _summary(rows: list[dict[str, Any]], sizes: tuple[int, ...]) -> dict[str, Any]:
    threshold = 500 if max(sizes) >= 500 else max(sizes)
    big = [r for r in rows if r["n"] >= threshold]
    vs_numpy = {f"{r['task']}@{r['n']}": r["matcalc_vs_numpy"] for r in rows if r["matcalc_vs_numpy"]}
    missed_numpy = [k for k, v in vs_numpy.items() if v > TARGET_VS_NUMPY and any(k == f"{r['task']}@{r['n']}" for r in big)]
    hess_n = 1000 if 1000 in sizes else max(sizes)
    jax_missed, torch_missed = [], []
    for r in rows:
        if r["order"] != 2 or r["n"] != hess_n:
            continue
        fw = r["frameworks"]
        m = fw["matcalc"].get("seconds")
        j = fw.get("jax.jit(jax.hessian)", {}).get("seconds")
        t = fw.get("torch.autograd.functional.hessian", {}).get("seconds")
        if m and j and m >= j:
            jax_missed.append((r["task"], round(m / j, 2)))
        if m and t and t / m < TARGET_VS_TORCH_AF:
            torch_missed.append((r["task"], round(t / m, 1)))
    return {"matcalc_vs_numpy": vs_numpy, "missed_within_1.2x_numpy": missed_numpy, "numpy_target_from_n": threshold,
            "hessian_n": hess_n, "hessians_not_faster_than_jax": jax_missed,
            "hessians_below_10x_torch_autograd_functional": torch_missed,
            "matcalc_mode": rows[0]["matcalc_mode"] if rows else None}


def _main() -> None:
    import argparse
    import json
    from pathlib import Path

    p = argparse.ArgumentParser(prog="python -m benchmarks.part_codegen")
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    res = run(quick=a.quick, threads=a.threads)
    Path(a.out).write_text(json.dumps(res, default=str), encoding="utf-8")


if __name__ == "__main__":
    _main()
