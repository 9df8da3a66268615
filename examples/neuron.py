"""The neuron of Parr & Howard's "Matrix Calculus for Deep Learning":
activation(x) = max(0, w·x + b).  Its gradient by w is (w·x + b > 0) x, by b the indicator."""

from __future__ import annotations

import numpy as np
from _common import finite_difference_gradient, report

import matcalc
from matcalc.codegen import compile_function

EXPR = "max(0, dot(w, x) + b)"

if __name__ == "__main__":
    grads = matcalc.diff(EXPR, "w,b")
    for d in grads.values():
        print(d.steps())
        print()
    rng = np.random.default_rng(0)
    arrays = {"w": rng.normal(size=5), "x": rng.normal(size=5), "b": 0.3}
    value = matcalc.diff(EXPR, "w")  # the value function comes with the gradient (with_value)
    f_and_g = compile_function(value, with_value=True)
    f = lambda **a: f_and_g(**a)[0]  # noqa: E731
    for name, d in grads.items():
        g = compile_function(d)(**arrays)
        report(f"∂/∂{name}", g, finite_difference_gradient(f, arrays, name))
