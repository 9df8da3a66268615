"""Numeric reference for peers' answers, layout-agnostic.

matcalc's result is first confirmed by finite differences
(:func:`matcalc.numeric.numeric_check`); at the same point it is then turned into
the 4-index tensor ``T[i, j, k, l] = ∂F[i, j] / ∂X[k, l]`` (for a Hessian,
``∂G[i, j] / ∂X[k, l]`` with ``G`` the gradient).  A peer's numeric answer is right
when it equals ``T`` up to the arrangement of its axes (peers use numerator,
denominator or 4-D array layouts): some permutation of ``T``'s non-unit axes,
read in C or Fortran order, must match it entry for entry.
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

import numpy as np


def reference_tensor(d: Any, got: np.ndarray, sizes: dict[str, int]) -> np.ndarray:
    """matcalc's derivative value ``got`` (its 2-D internal form, mixed layout) as ``T[i, j, k, l]``."""
    x = d.wrt.shape.evaluate(sizes)
    if d.order == 2:
        return np.asarray(got).reshape((x[0], x[1], x[0], x[1]), order="F")
    f = d.expression.shape.evaluate(sizes)
    if f == (1, 1):
        return np.asarray(got).reshape((1, 1, x[0], x[1]))
    if x == (1, 1):
        return np.asarray(got).reshape((f[0], f[1], 1, 1))
    return np.asarray(got).reshape((f[0], f[1], x[0], x[1]), order="F")


def matches(peer: Any, ref: np.ndarray, rtol: float = 1e-6) -> bool:
    """Whether ``peer`` equals ``ref`` up to an arrangement of axes (see the module docstring)."""
    try:
        p = np.asarray(peer, dtype=float)
    except (TypeError, ValueError):
        return False
    if p.size != ref.size or not np.all(np.isfinite(p)):
        return False
    core = ref.reshape([k for k in ref.shape if k != 1]) if ref.size > 1 else ref.reshape(())
    scale = max(1.0, float(np.max(np.abs(ref))))
    flat_c, flat_f = p.reshape(-1), p.reshape(-1, order="F")
    axes = range(core.ndim)
    for perm in permutations(axes):
        cand = core.transpose(perm).reshape(-1) if core.ndim else core.reshape(-1)
        for flat in (flat_c, flat_f):
            if np.allclose(flat, cand, rtol=rtol, atol=rtol * scale):
                return True
    return False
