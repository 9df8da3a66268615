"""Tables (Markdown, also printed) from the suite's JSON results, with every missed target marked."""

from __future__ import annotations

from typing import Any

MISSED = "**MISSED**"


def _ms(s: float | None, digits: int = 2) -> str:
    if s is None:
        return "–"
    ms = s * 1e3
    if ms >= 1000:
        return f"{ms:,.0f}"
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.{digits}f}" if ms >= 0.1 else f"{ms:.3f}"


def _x(r: float | None) -> str:
    if r is None:
        return "–"
    return f"{r:,.0f}×" if r >= 10 else f"{r:.1f}×"


def _table(head: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(head) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _met(ok: bool) -> str:
    return "met" if ok else MISSED


# ------------------------------------------------------------------ profiles


def profile_text(prof: dict[str, Any], what: str, rows: int = 15) -> str:
    out = [f"cProfile of {what} (`call_deep` bypassed, so a pass it would move to its big-stack thread stays where the profiler sees it): "
           f"{_ms(prof['wall_seconds'], 1)} ms unprofiled, {_ms(prof['profiled_seconds'], 1)} ms profiled; "
           f"{prof['call_deep_calls']} `call_deep` calls (each runs its pass in the caller's thread and starts a 512 MiB-stack thread only "
           f"when the pass recurses too deeply): "
           f"{prof['call_deep_empty_call_seconds'] * 1e6:.0f} µs for an empty call.", ""]
    out.append(_table(["matcalc function", "cumulative ms", "self ms", "calls"],
                      [[f"`{r['function']}`", _ms(r["cumulative"], 1), _ms(r["self"], 1), str(r["calls"])] for r in prof["by_cumulative"][:rows]]))
    out.append("")
    out.append(_table(["any function, by self time", "self ms", "calls"],
                      [[f"`{r['function']}`", _ms(r["self"], 1), str(r["calls"])] for r in prof["by_self"][:12]]))
    return "\n".join(out)


# ------------------------------------------------------------------ part 1


def _peer_cell(p: dict[str, Any]) -> tuple[str, str, str]:
    status = p["status"]
    note = p.get("note") or ""
    word = {"right": "right", "wrong": "WRONG", "unevaluated": "unevaluated", "error": "error", "n/a": "n/a",
            "timeout": "timeout", "skipped": "skipped", "unchecked": "unchecked"}.get(status, status)
    speed = _x(p.get("ratio")) if status == "right" else ""
    short = note.split(":")[0][:40] if status in ("error", "n/a") and note else ""
    return _ms(p.get("seconds")), (f"{word} ({short})" if short else word), speed


def part_diff(res: dict[str, Any]) -> str:
    rows = []
    for r in res["cases"]:
        m = r["matcalc"]
        s_ms, s_st, s_x = _peer_cell(r["sympy"])
        t_ms, t_st, t_x = _peer_cell(r["tensorgrad"])
        order = " (H)" if r["order"] == 2 else ""
        rows.append([r["name"], f"`{r['expr']}` by {r['wrt']}{order}", _ms(m["seconds"], 3), _ms(m.get("inline_seconds"), 3),
                     "✓" if m["numeric_check"] else "✗ FD",
                     s_ms, s_st, s_x, t_ms, t_st, t_x])
    s = res["summary"]
    out = [_table(["case", "expression", "matcalc ms", "direct¹ ms", "FD", "SymPy ms", "SymPy", "× vs SymPy", "tensorgrad ms", "tensorgrad", "× vs tg"],
                  rows, "llrrlrlrrlr")]
    out.append("")
    out.append("¹ the same `matcalc.diff` with `matcalc.deep.call_deep` bypassed (its recursion-limit guard, which moves a pass "
               "to a 512 MiB-stack thread only when it recurses too deeply): a diagnostic of what the guard costs, not a supported "
               "mode; the two variants take turns going first.")
    out.append("")
    out.append(f"tensorgrad: {res['tensorgrad']}")
    out.append("")
    med = s["matcalc_median_seconds"]
    out.append(f"- matcalc: median {_ms(med, 3)} ms over {s['cases']} cases (max {_ms(s['matcalc_max_seconds'])} ms); "
               f"target median ≤ {s['target_ms']:g} ms: {_met(s['median_target_met'])}"
               + (f"; {len(s['cases_over_target'])} cases over 1 ms" if s["cases_over_target"] else "")
               + (f"; with call_deep bypassed the median is {_ms(s['matcalc_inline_median_seconds'], 3)} ms"
                  if s.get("matcalc_inline_median_seconds") else ""))
    if s["matcalc_numeric_check_failures"]:
        out.append(f"- matcalc answers that FAILED the finite-difference check: {', '.join(s['matcalc_numeric_check_failures'])}")
    for key, label in (("sympy", "SymPy"), ("tensorgrad", "tensorgrad")):
        p = s["peers"][key]
        counts = ", ".join(f"{v} {k}" for k, v in sorted(p["status_counts"].items(), key=lambda kv: -kv[1]))
        if not p["right"]:
            out.append(f"- {label}: {counts}; no case to compare speed on")
            continue
        below = p["below_target"]
        out.append(f"- {label}: {counts}; on its {p['right']} right answers matcalc is {_x(p['median_speedup'])} faster "
                   f"(median; geometric mean {_x(p['geomean_speedup'])}, least {_x(p['min_speedup'])}); "
                   f"target ≥ {s['target_speedup']:g}× on every such case: "
                   + ("met" if not below else f"{MISSED} on {len(below)}: " + ", ".join(f"{n} {v}×" for n, v in below)))
    prof = res.get("profile")
    if prof:
        out.append("")
        out.append(profile_text(prof, f"one `matcalc.diff` per case, all {prof.get('cases', '')} cases"))
    return "\n".join(out)


# ------------------------------------------------------------------ part 2


def part_cli(res: dict[str, Any]) -> str:
    med, mn = res["median_seconds"], res["min_seconds"]
    rows = [[k, _ms(v, 1), _ms(mn[k], 1)] for k, v in med.items()]
    out = [_table(["command", "median ms", "min ms"], rows)]
    out.append("")
    judged = res.get("judged", "matcalc diff")
    where = "a clean venv holding only `pip install .`" if judged != "matcalc diff" else res["matcalc_invocation"]
    out.append(f"- `{res['command']}` in {where}: median {_ms(med[judged], 1)} ms, "
               f"{_ms(res['matcalc_over_bare_python'], 1)} ms over a bare interpreter there; target ≤ {res['target_seconds'] * 1e3:.0f} ms: "
               f"{_met(res['target_met'])}")
    if judged != "matcalc diff":
        out.append(f"- in the benchmark's own environment ({res['matcalc_invocation']}; jax, torch and the machine's "
                   f"site-packages on the path): median {_ms(med['matcalc diff'], 1)} ms")
    it = res.get("importtime")
    if it:
        out.append(f"- `-X importtime`: {it['modules_imported']} modules, {_ms(it['total_import_seconds'], 1)} ms of imports; "
                   f"SymPy imported: {'yes' if it['sympy_imported'] else 'no'}, NumPy imported: {'yes' if it['numpy_imported'] else 'no'}")
        out.append("")
        rows = [[f"`{r['module']}`", _ms(r["cumulative"], 1), _ms(r["self"], 1)] for r in it["matcalc_modules"][:10]]
        out.append(_table(["matcalc module (import)", "cumulative ms", "self ms"], rows))
        rows = [[f"`{r['module']}`", _ms(r["cumulative"], 1)] for r in it["top_cumulative"][:8] if not r["module"].startswith("matcalc")]
        if rows:
            out.append("")
            out.append(_table(["other top-level import", "cumulative ms"], rows))
    prof = res.get("profile_after_imports")
    if prof:
        out.append("")
        rows = [[f"`{r['function']}`", _ms(r["cumulative"], 1), str(r["calls"])] for r in prof[:10]]
        out.append(_table(["first call in the process (cProfile)", "cumulative ms", "calls"], rows))
    return "\n".join(out)


# ------------------------------------------------------------------ part 3


def part_scaling(res: dict[str, Any]) -> str:
    out = []
    for fam in res["families"].values():
        rows = []
        for r in fam["rows"]:
            if "error" in r:
                rows.append([str(r["size"]), "error", r["error"][:60], "", ""])
            else:
                rows.append([str(r["size"]), _ms(r["seconds"]), str(r["dag_size"]), str(r["tree_size"]), str(r["input_dag_size"])])
        out.append(f"**{fam['label']}**")
        out.append("")
        out.append(_table(["size", "ms", "result DAG nodes", "result tree nodes", "input DAG nodes"], rows))
        te, se = fam["time_exponent"], fam["size_exponent"]
        out.append("")
        out.append(f"- fitted exponent (larger half of sizes): time {te:.2f} ({_met(fam['time_target_met'])}), "
                   f"result size {se:.2f} ({_met(fam['size_target_met'])}); target ≤ {res['target_exponent']:g}"
                   if te is not None and se is not None else "- too few sizes to fit an exponent")
        out.append("")
    for key, prof in (res.get("profiles") or {}).items():
        out.append(profile_text(prof, f"the largest {key} case", rows=12))
        out.append("")
    return "\n".join(out).rstrip()


# ------------------------------------------------------------------ part 4


def part_codegen(res: dict[str, Any]) -> str:
    names: list[str] = []
    for r in res["rows"]:
        for k in r["frameworks"]:
            if k not in names:
                names.append(k)
    threads = res.get("method", {}).get("threads")
    out = [f"matcalc's code: {res['rows'][0]['matcalc_mode'] if res['rows'] else '–'}; float64, CPU"
           + (f", every framework's thread pool {threads} wide (NumPy's BLAS, torch, XLA)" if threads else "") + "; ms per call (median over rounds; in each round the frameworks take turns going first, a call under 0.1 s follows an untimed call of its own, and a fast call is repeated within a ~5 ms sample)."]
    skipped = {k: v for k, v in res["versions"].items() if str(v).startswith("skipped")}
    for k, v in skipped.items():
        out.append(f"- {k}: {v}")
    out.append("")
    rows = []
    for r in res["rows"]:
        cells = [r["task"], str(r["n"])]
        for k in names:
            e = r["frameworks"].get(k)
            if e is None:
                cells.append("")
            elif e.get("seconds") is None:
                cells.append("error" if str(e.get("note", "")).startswith("error") else "skipped")
            else:
                cells.append(_ms(e["seconds"]) + ("" if e.get("agrees", True) else " ✗"))
        vs = r.get("matcalc_vs_numpy")
        cells.append(_x(vs) if vs is not None else "–")
        g = r.get("gradient_to_function")
        cells.append(f"{g['matcalc']:.1f} / {g['numpy (hand-written)']:.1f}" if g and g.get("matcalc") and g.get("numpy (hand-written)") else "")
        rows.append(cells)
    out.append(_table(["task", "n", *names, "matcalc ÷ NumPy", "grad ÷ f (matcalc / NumPy)"], rows))
    out.append("")
    out.append("✗ = the framework's answer differs from hand-written NumPy.")
    errs = [(r["task"], r["n"], k, e["note"]) for r in res["rows"] for k, e in r["frameworks"].items() if str(e.get("note", "")).startswith("error")]
    for t, n, k, note in errs[:6]:
        out.append(f"- {k} on {t} n={n}: {note}")
    s = res["summary"]
    big = s["missed_within_1.2x_numpy"]
    out.append(f"- within 1.2× of hand-written NumPy (n ≥ {s.get('numpy_target_from_n', 500)}): {'met' if not big else MISSED + ' on ' + ', '.join(big)}")
    out.append(f"- Hessians faster than jax.jit(jax.hessian) at n = {s['hessian_n']}: "
               + ("met" if not s["hessians_not_faster_than_jax"] else MISSED + " on " + ", ".join(f"{t} ({v}× jax's time)" for t, v in s["hessians_not_faster_than_jax"])))
    out.append(f"- Hessians ≥ 10× faster than torch.autograd.functional.hessian at n = {s['hessian_n']}: "
               + ("met" if not s["hessians_below_10x_torch_autograd_functional"] else MISSED + " on " + ", ".join(f"{t} ({v}×)" for t, v in s["hessians_below_10x_torch_autograd_functional"])))
    return "\n".join(out)


TITLES = {
    "1": ("Part 1 — differentiation latency", part_diff),
    "2": ("Part 2 — command-line latency", part_cli),
    "3": ("Part 3 — scaling", part_scaling),
    "4": ("Part 4 — generated code speed", part_codegen),
}


def render(results: dict[str, Any]) -> str:
    out = []
    for key, (title, fn) in TITLES.items():
        if key in results["parts"]:
            out.append(f"### {title}\n\n{fn(results['parts'][key])}\n")
    return "\n".join(out)
