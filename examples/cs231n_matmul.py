"""cs231n's backprop through a matrix product: D = W X; given the upstream gradient dD of a loss,
dW = dD Xᵀ and dX = Wᵀ dD.  With f = sum(G ⊙ (W X)), G plays dD."""

from __future__ import annotations

import numpy as np
from _common import finite_difference_gradient, report

import matcalc
from matcalc.codegen import compile_function

EXPR = "sum(G*(W@X))"

if __name__ == "__main__":
    grads = matcalc.diff(EXPR, "W,X")
    for d in grads.values():
        print(d.steps())
        print()
    assert grads["W"].text == "GXᵀ" and grads["X"].text == "WᵀG", (grads["W"].text, grads["X"].text)
    rng = np.random.default_rng(1)
    arrays = {"G": rng.normal(size=(5, 3)), "W": rng.normal(size=(5, 10)), "X": rng.normal(size=(10, 3))}
    f = lambda **a: float(np.sum(a["G"] * (a["W"] @ a["X"])))  # noqa: E731
    for name, d in grads.items():
        report(f"∂/∂{name}", compile_function(d)(**arrays), finite_difference_gradient(f, arrays, name))
