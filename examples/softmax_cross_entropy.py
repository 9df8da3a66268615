"""Softmax cross-entropy: L = −Σ y ⊙ log(softmax(z)).  ∂L/∂z = softmax(z)·sum(y) − y,
and softmax(z) − y for a one-hot (or any sum(y) = 1) target."""

from __future__ import annotations

import numpy as np
from _common import finite_difference_gradient, report

import matcalc
from matcalc.codegen import compile_function

EXPR = "-sum(y*log(softmax(z)))"

if __name__ == "__main__":
    d = matcalc.diff(EXPR, "z")
    print(d.steps())
    print()
    print("with sum(y) = 1:", matcalc.diff(EXPR, "z", assume="sum(y) = 1").text)
    rng = np.random.default_rng(3)
    y = np.zeros(6)
    y[2] = 1.0
    arrays = {"z": rng.normal(size=6), "y": y}
    fg = compile_function(d, with_value=True)
    f = lambda **a: fg(**a)[0]  # noqa: E731
    report("∂L/∂z", fg(**arrays)[1], finite_difference_gradient(f, arrays, "z"))
