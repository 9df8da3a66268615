"""Logistic regression: L(w) = −Σ y ⊙ log σ(Xw) + (1 − y) ⊙ log(1 − σ(Xw)).
Gradient Xᵀ(σ(Xw) − y), Hessian Xᵀ diag(σ(Xw) ⊙ (1 − σ(Xw))) X; Newton's method with the
generated gradient and Hessian converges in a handful of steps."""

from __future__ import annotations

import numpy as np
from _common import finite_difference_gradient, report

import matcalc
from matcalc.codegen import compile_function

EXPR = "-sum(y*log(sigmoid(X@w)) + (1-y)*log(1-sigmoid(X@w)))"

if __name__ == "__main__":
    g = matcalc.diff(EXPR, "w")
    h = matcalc.diff(EXPR, "w", order=2)
    print(g.steps())
    print()
    print("Hessian:", h.text)
    print()
    print(h.numpy_source())

    rng = np.random.default_rng(4)
    m, n = 200, 3
    X = rng.normal(size=(m, n))
    w_true = np.array([1.5, -2.0, 0.5])
    y = (rng.uniform(size=m) < 1 / (1 + np.exp(-X @ w_true))).astype(float)
    fg = compile_function(g, with_value=True)
    hess = compile_function(h)
    w = np.zeros(n)
    report("gradient", fg(X=X, y=y, w=w + 0.1)[1], finite_difference_gradient(lambda **a: fg(**a)[0], {"X": X, "y": y, "w": w + 0.1}, "w"))
    for step in range(8):
        value, grad = fg(X=X, y=y, w=w)
        w = w - np.linalg.solve(hess(X=X, y=y, w=w), grad)
        print(f"Newton step {step + 1}: loss {value:.6f}, ‖gradient‖ {np.linalg.norm(grad):.2e}")
    final_grad = fg(X=X, y=y, w=w)[1]
    if np.linalg.norm(final_grad) > 1e-8:
        raise SystemExit("Newton's method did not converge")
    print("w =", np.round(w, 3), "(true", w_true, ")")
