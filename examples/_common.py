"""Shared by the examples: a finite-difference comparison that prints its verdict."""

from __future__ import annotations

import numpy as np


def finite_difference_gradient(f, arrays: dict, name: str, h: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f(**arrays) with respect to arrays[name]."""
    x = np.array(arrays[name], dtype=float)
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        g[i] = (f(**{**arrays, name: plus}) - f(**{**arrays, name: minus})) / (2 * h)
    return g


def report(label: str, ours: np.ndarray, reference: np.ndarray) -> float:
    err = float(np.max(np.abs(np.asarray(ours) - np.asarray(reference))))
    scale = max(1.0, float(np.max(np.abs(reference))))
    verdict = "agrees" if err <= 1e-5 * scale else "DISAGREES"
    print(f"{label}: generated code {verdict} with finite differences (max error {err:.2e})")
    if verdict != "agrees":
        raise SystemExit(1)
    return err
