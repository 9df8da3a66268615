"""The 3-layer network of the matrix-differential derivation of backpropagation:
z₁ = W₁x, a₁ = σ(z₁), z₂ = W₂a₁, a₂ = σ(z₂), z₃ = W₃a₂, loss ½‖y − z₃‖².
The derivation shows the δ recursion (δ₁ = σ′(z₁) ⊙ W₂ᵀδ₂); the generated gradients then train the
network with plain gradient descent, and the loss goes down."""

from __future__ import annotations

import numpy as np
from _common import finite_difference_gradient, report

import matcalc
from matcalc.codegen import compile_function

EXPR = "0.5*norm(y - W3@sigmoid(W2@sigmoid(W1@x)))^2"
SHAPES = {"W1": "h1 x n", "W2": "h2 x h1", "W3": "k x h2", "x": "n", "y": "k"}

if __name__ == "__main__":
    grads = matcalc.diff(EXPR, "W1,W2,W3", shapes=SHAPES)
    print(grads["W1"].steps())
    print()
    for name, d in grads.items():
        print(f"∂L/∂{name} = {d.text}")
    print()
    print(grads["W1"].numpy_source())

    rng = np.random.default_rng(2)
    n, h1, h2, k = 4, 6, 5, 3
    params = {"W1": rng.normal(size=(h1, n)) * 0.5, "W2": rng.normal(size=(h2, h1)) * 0.5, "W3": rng.normal(size=(k, h2)) * 0.5}
    data = [(rng.normal(size=n), rng.normal(size=k) * 0.5) for _ in range(8)]
    loss_and_grad = {name: compile_function(d, with_value=True) for name, d in grads.items()}

    def loss(**a):
        return loss_and_grad["W1"](**a)[0]

    x0, y0 = data[0]
    for name in params:
        arrays = {**params, "x": x0, "y": y0}
        report(f"∂L/∂{name}", loss_and_grad[name](**arrays)[1], finite_difference_gradient(loss, arrays, name))

    def total_loss() -> float:
        return sum(loss(**params, x=x, y=y) for x, y in data)

    before = total_loss()
    for _ in range(300):
        for x, y in data:
            steps = {name: lg(**params, x=x, y=y)[1] for name, lg in loss_and_grad.items()}
            for name, g in steps.items():
                params[name] = params[name] - 0.1 * g
    after = total_loss()
    print(f"training with the generated gradients: loss {before:.4f} → {after:.4f}")
    if not after < 0.5 * before:
        raise SystemExit("the generated gradients did not train the network")
