"""The fixed differentiation suite of part 1: Matrix Cookbook identities and the seed examples.

Each :class:`Case` carries the expression in matcalc's language (shapes declared with
named dimensions so every peer sees the same sizes), the variable, the order, and
the same expression written for SymPy (``sympy``: a function of a namespace of
``MatrixSymbol``\\ s) and for tensorgrad (``tensorgrad``: Python source run in the
tensorgrad worker), or ``None`` where that peer has no way to write it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Case:
    name: str
    expr: str
    wrt: str
    shapes: dict[str, str] = field(default_factory=dict)
    order: int = 1
    group: str = "gradient"
    sympy: Callable[[Any], Any] | None = None
    tensorgrad: str | None = None

    @property
    def label(self) -> str:
        o = " (order 2)" if self.order == 2 else ""
        return f"{self.expr}  by {self.wrt}{o}"


# ------------------------------------------------------------------ SymPy helpers
# ``s`` is a namespace: one MatrixSymbol per variable (scalars are 1×1), plus
# ``s.sp`` (the sympy module), ``s.one(n)`` (a 1×n row of ones), ``s.ew(f, X)``
# (f applied elementwise) and ``s.dims`` (the dimension symbols by name).


def _sum(s, v):
    return s.one(v.shape[0]) * v * s.one(v.shape[1]).T


def _ew(s, f, v):
    z = s.sp.Dummy("z")
    return s.sp.matrices.expressions.applyfunc.ElementwiseApplyFunction(s.sp.Lambda(z, f(z)), v)


def _sq(s, v):
    return v.T * v


def _frob2(s, v):
    return s.sp.Trace(v.T * v)


def _sig(s):
    return lambda z: 1 / (1 + s.sp.exp(-z))


def _relu(s):
    return lambda z: s.sp.Max(0, z)


V = {"x": "n", "w": "n", "y": "n", "z": "n", "a": "n", "u": "n", "v": "n"}
SQ = {"X": "n x n", "A": "n x n", "B": "n x n", "C": "n x n"}


def _shapes(*names: str, **extra: str) -> dict[str, str]:
    out = {k: (V.get(k) or SQ[k]) for k in names}
    out.update(extra)
    return out


CASES: list[Case] = [
    # ------------------------------------------------------------ gradients
    Case("sum_wx_b", "sum(w*x)+b", "w", _shapes("w", "x", b="scalar"),
         sympy=lambda s: _sum(s, s.sp.HadamardProduct(s.w, s.x)) + s.b),
    Case("dot_wx_b", "w'@x + b", "w", _shapes("w", "x", b="scalar"),
         sympy=lambda s: s.w.T * s.x + s.b),
    Case("xx", "x'@x", "x", _shapes("x"), sympy=lambda s: s.x.T * s.x),
    Case("xAx", "x'@A@x", "x", _shapes("x", "A"), sympy=lambda s: s.x.T * s.A * s.x),
    Case("xAx_by_A", "x'@A@x", "A", _shapes("x", "A"), sympy=lambda s: s.x.T * s.A * s.x),
    Case("aXb", "a'@X@v", "X", _shapes("a", "v", "X"), sympy=lambda s: s.a.T * s.X * s.v),
    Case("aXTb", "a'@X'@v", "X", _shapes("a", "v", "X"), sympy=lambda s: s.a.T * s.X.T * s.v),
    Case("trAX", "tr(A@X)", "X", _shapes("A", "X"), sympy=lambda s: s.sp.Trace(s.A * s.X)),
    Case("trAXB", "tr(A@X@B)", "X", _shapes("A", "X", "B"), sympy=lambda s: s.sp.Trace(s.A * s.X * s.B)),
    Case("trXAX", "tr(X'@A@X)", "X", _shapes("A", "X"), sympy=lambda s: s.sp.Trace(s.X.T * s.A * s.X)),
    Case("trXX", "tr(X@X)", "X", _shapes("X"), sympy=lambda s: s.sp.Trace(s.X * s.X)),
    Case("trAXTBX", "tr(A@X'@B@X)", "X", _shapes("A", "B", "X"),
         sympy=lambda s: s.sp.Trace(s.A * s.X.T * s.B * s.X)),
    Case("frob2", "norm(X)^2", "X", _shapes("X"), sympy=lambda s: _frob2(s, s.X)),
    Case("det", "det(X)", "X", _shapes("X"), sympy=lambda s: s.sp.Determinant(s.X)),
    Case("logdet", "logdet(X)", "X", _shapes("X"), sympy=lambda s: s.sp.log(s.sp.Determinant(s.X))),
    Case("tr_invX_A", "tr(inv(X)@A)", "X", _shapes("X", "A"), sympy=lambda s: s.sp.Trace(s.sp.Inverse(s.X) * s.A)),
    Case("tr_invX", "tr(inv(X))", "X", _shapes("X"), sympy=lambda s: s.sp.Trace(s.sp.Inverse(s.X))),
    Case("x_invA_x", "x'@inv(A)@x", "A", _shapes("x", "A"), sympy=lambda s: s.x.T * s.sp.Inverse(s.A) * s.x),
    Case("lsq_by_x", "norm(A@x - v)^2", "x", {"A": "m x n", "x": "n", "v": "m"},
         sympy=lambda s: _sq(s, s.A * s.x - s.v)),
    Case("lsq_by_A", "norm(A@x - v)^2", "A", {"A": "m x n", "x": "n", "v": "m"},
         sympy=lambda s: _sq(s, s.A * s.x - s.v)),
    Case("ridge", "norm(X@w - y)^2 + lambda*norm(w)^2", "w", {"X": "m x n", "w": "n", "y": "m", "lambda": "scalar"},
         sympy=lambda s: _sq(s, s.X * s.w - s.y) + s.lam * s.w.T * s.w),
    Case("norm_x", "norm(x)", "x", _shapes("x"), sympy=lambda s: s.sp.HadamardPower(s.x.T * s.x, s.sp.Rational(1, 2))),
    Case("hinge", "max(0, dot(w,x)+b)", "w", _shapes("w", "x", b="scalar"),
         sympy=lambda s: _ew(s, _relu(s), s.w.T * s.x + s.b)),
    Case("sum_log_x", "sum(log(x))", "x", _shapes("x"), sympy=lambda s: _sum(s, _ew(s, s.sp.log, s.x))),
    Case("sum_exp_Ax", "sum(exp(A@x))", "x", {"A": "m x n", "x": "n"},
         sympy=lambda s: _sum(s, _ew(s, s.sp.exp, s.A * s.x))),
    Case("sum_tanh_Ax", "sum(tanh(A@x))", "x", {"A": "m x n", "x": "n"},
         sympy=lambda s: _sum(s, _ew(s, s.sp.tanh, s.A * s.x))),
    Case("sum_sigmoid_Wx", "sum(sigmoid(W@x))", "W", {"W": "m x n", "x": "n"},
         sympy=lambda s: _sum(s, _ew(s, _sig(s), s.W * s.x))),
    Case("mlp_W1", "0.5*norm(y - W2@relu(W1@x))^2", "W1", {"W1": "h x n", "W2": "m x h", "x": "n", "y": "m"},
         sympy=lambda s: s.sp.Rational(1, 2) * _sq(s, s.y - s.W2 * _ew(s, _relu(s), s.W1 * s.x))),
    Case("mlp_W2", "0.5*norm(y - W2@relu(W1@x))^2", "W2", {"W1": "h x n", "W2": "m x h", "x": "n", "y": "m"},
         sympy=lambda s: s.sp.Rational(1, 2) * _sq(s, s.y - s.W2 * _ew(s, _relu(s), s.W1 * s.x))),
    Case("softmax_ce_z", "-sum(y*log(softmax(z)))", "z", _shapes("y", "z"),
         sympy=lambda s: -s.y.T * _ew(s, s.sp.log, _ew(s, s.sp.exp, s.z) * s.sp.Inverse(s.one(s.z.shape[0]) * _ew(s, s.sp.exp, s.z)))),
    Case("softmax_ce_W", "-y'@log(softmax(W@x))", "W", {"W": "m x n", "x": "n", "y": "m"},
         sympy=lambda s: -s.y.T * _ew(s, s.sp.log, _ew(s, s.sp.exp, s.W * s.x) * s.sp.Inverse(s.one(s.W.shape[0]) * _ew(s, s.sp.exp, s.W * s.x)))),
    Case("lse_ce", "logsumexp(z) - y'@z", "z", _shapes("y", "z"),
         sympy=lambda s: _ew(s, s.sp.log, s.one(s.z.shape[0]) * _ew(s, s.sp.exp, s.z)) - s.y.T * s.z),
    Case("logistic_grad", "sum(log(1 + exp(-y*(X@w))))", "w", {"X": "m x n", "w": "n", "y": "m"},
         sympy=lambda s: _sum(s, _ew(s, lambda t: s.sp.log(1 + s.sp.exp(-t)), s.sp.HadamardProduct(s.y, s.X * s.w)))),
    Case("bce", "-(y'@log(sigmoid(X@w)) + (1-y)'@log(1-sigmoid(X@w)))", "w", {"X": "m x n", "w": "n", "y": "m"},
         sympy=None),
    Case("scalar_t", "sum(exp(t*x))", "t", {"x": "n", "t": "scalar"},
         sympy=lambda s: _sum(s, _ew(s, s.sp.exp, s.t_sym * s.x))),
    # ------------------------------------------------------------ Jacobians
    Case("Wx_by_x", "W@x", "x", {"W": "m x n", "x": "n"}, group="Jacobian",
         sympy=lambda s: s.W * s.x),
    Case("Wx_by_W", "W@x", "W", {"W": "m x n", "x": "n"}, group="Jacobian",
         sympy=lambda s: s.W * s.x),
    Case("AXB_by_X", "A@X@B", "X", {"A": "m x n", "X": "n x p", "B": "p x q"}, group="Jacobian",
         sympy=lambda s: s.A * s.X * s.B),
    Case("XX_by_X", "X@X", "X", _shapes("X"), group="Jacobian", sympy=lambda s: s.X * s.X),
    Case("XT_by_X", "X'", "X", {"X": "m x n"}, group="Jacobian", sympy=lambda s: s.X.T),
    Case("inv_by_X", "inv(X)", "X", _shapes("X"), group="Jacobian", sympy=lambda s: s.sp.Inverse(s.X)),
    Case("exp_x", "exp(x)", "x", _shapes("x"), group="Jacobian", sympy=lambda s: _ew(s, s.sp.exp, s.x)),
    Case("xy_by_x", "x*y", "x", _shapes("x", "y"), group="Jacobian",
         sympy=lambda s: s.sp.HadamardProduct(s.x, s.y)),
    Case("softmax_jac", "softmax(z)", "z", _shapes("z"), group="Jacobian",
         sympy=lambda s: _ew(s, s.sp.exp, s.z) * s.sp.Inverse(s.one(s.z.shape[0]) * _ew(s, s.sp.exp, s.z))),
    Case("relu_Wx_by_x", "relu(W@x)", "x", {"W": "m x n", "x": "n"}, group="Jacobian",
         sympy=lambda s: _ew(s, _relu(s), s.W * s.x)),
    Case("sigmoid_Ax_by_x", "sigmoid(A@x)", "x", {"A": "m x n", "x": "n"}, group="Jacobian",
         sympy=lambda s: _ew(s, _sig(s), s.A * s.x)),
    Case("XTX_by_X", "X'@X", "X", {"X": "m x n"}, group="Jacobian", sympy=lambda s: s.X.T * s.X),
    # ------------------------------------------------------------ Hessians
    Case("xAx_hess", "x'@A@x", "x", _shapes("x", "A"), order=2, group="Hessian",
         sympy=lambda s: s.x.T * s.A * s.x),
    Case("lsq_hess", "norm(A@x - v)^2", "x", {"A": "m x n", "x": "n", "v": "m"}, order=2, group="Hessian",
         sympy=lambda s: _sq(s, s.A * s.x - s.v)),
    Case("logistic_hess", "sum(log(1 + exp(-y*(X@w))))", "w", {"X": "m x n", "w": "n", "y": "m"}, order=2, group="Hessian",
         sympy=lambda s: _sum(s, _ew(s, lambda t: s.sp.log(1 + s.sp.exp(-t)), s.sp.HadamardProduct(s.y, s.X * s.w)))),
    Case("lse_hess", "logsumexp(z)", "z", _shapes("z"), order=2, group="Hessian",
         sympy=lambda s: _ew(s, s.sp.log, s.one(s.z.shape[0]) * _ew(s, s.sp.exp, s.z))),
    Case("sum_exp_hess", "sum(exp(x))", "x", _shapes("x"), order=2, group="Hessian",
         sympy=lambda s: _sum(s, _ew(s, s.sp.exp, s.x))),
    Case("mlp_hess_x", "0.5*norm(y - W2@relu(W1@x))^2", "x", {"W1": "h x n", "W2": "m x h", "x": "n", "y": "m"},
         order=2, group="Hessian",
         sympy=lambda s: s.sp.Rational(1, 2) * _sq(s, s.y - s.W2 * _ew(s, _relu(s), s.W1 * s.x))),
    Case("trXAX_hess", "tr(X'@A@X)", "X", _shapes("A", "X"), order=2, group="Hessian",
         sympy=lambda s: s.sp.Trace(s.X.T * s.A * s.X)),
    Case("logdet_hess", "logdet(X)", "X", _shapes("X"), order=2, group="Hessian",
         sympy=lambda s: s.sp.log(s.sp.Determinant(s.X))),
    Case("ridge_hess", "norm(X@w - y)^2 + lambda*norm(w)^2", "w", {"X": "m x n", "w": "n", "y": "m", "lambda": "scalar"},
         order=2, group="Hessian",
         sympy=lambda s: _sq(s, s.X * s.w - s.y) + s.lam * s.w.T * s.w),
]

# ------------------------------------------------------------------ tensorgrad sources
# Run in the tensorgrad worker: ``V(name, *edges)`` makes the variable with one named
# edge per non-unit dimension (rows, then columns), ``F`` is ``tensorgrad.functions``;
# ``@`` contracts the edges two tensors share, ``*`` multiplies over shared edges.
_X = "x = V('x', 'i'); "
_XAX = "x = V('x', 'i'); A = V('A', 'i', 'j'); expr = x @ A @ x.rename(i='j')"
_LSQ = "A = V('A', 'i', 'j'); x = V('x', 'j'); v = V('v', 'i'); expr = F.frobenius2(A @ x - v)"
_RIDGE = "X = V('X', 'i', 'j'); w = V('w', 'j'); y = V('y', 'i'); lam = V('lambda'); expr = F.frobenius2(X @ w - y) + lam * (w @ w)"
_MLP = ("W1 = V('W1', 'k', 'j'); W2 = V('W2', 'i', 'k'); x = V('x', 'j'); y = V('y', 'i'); "
        "expr = F.frobenius2(y - W2 @ F.relu(W1 @ x)) / 2")
_LOGISTIC = "X = V('X', 'i', 'j'); w = V('w', 'j'); y = V('y', 'i'); expr = F.sum(F.log(1 + F.exp(-(y * (X @ w)))))"
_AX = "A = V('A', 'i', 'j'); x = V('x', 'j'); "
_WX = "W = V('W', 'i', 'j'); x = V('x', 'j'); "
_TRXAX = "X = V('X', 'j', 'i'); A = V('A', 'j', 'k'); expr = X @ A @ X.rename(j='k')"
_LOGDET = "X = V('X', 'i', 'j'); expr = F.log(F.det(X))"

TENSORGRAD: dict[str, str] = {
    "sum_wx_b": "w = V('w', 'i'); x = V('x', 'i'); b = V('b'); expr = F.sum(w * x) + b",
    "dot_wx_b": "w = V('w', 'i'); x = V('x', 'i'); b = V('b'); expr = w @ x + b",
    "xx": _X + "expr = x @ x",
    "xAx": _XAX,
    "xAx_by_A": _XAX,
    "aXb": "a = V('a', 'i'); X = V('X', 'i', 'j'); v = V('v', 'j'); expr = a @ X @ v",
    "aXTb": "a = V('a', 'j'); X = V('X', 'i', 'j'); v = V('v', 'i'); expr = a @ X @ v",
    "trAX": "A = V('A', 'i', 'j'); X = V('X', 'j', 'i'); expr = A @ X",
    "trAXB": "A = V('A', 'i', 'j'); X = V('X', 'j', 'k'); B = V('B', 'k', 'i'); expr = A @ X @ B",
    "trXAX": _TRXAX,
    "trXX": "X = V('X', 'i', 'j'); expr = X @ X.rename(i='j', j='i')",
    "trAXTBX": "A = V('A', 'i', 'j'); X = V('X', 'k', 'j'); B = V('B', 'k', 'l'); expr = A @ X @ B @ X.rename(k='l', j='i')",
    "frob2": "X = V('X', 'i', 'j'); expr = X @ X",
    "det": "X = V('X', 'i', 'j'); expr = F.det(X)",
    "logdet": _LOGDET,
    # F.inverse(X) for X with edges (i, j) holds (X⁻¹)ᵀ in that edge order: X⁻¹'s row index is edge j
    "tr_invX_A": "X = V('X', 'i', 'j'); A = V('A', 'i', 'j'); expr = F.inverse(X) @ A",
    "tr_invX": "X = V('X', 'i', 'j'); expr = F.trace(F.inverse(X))",
    "x_invA_x": "x = V('x', 'i'); A = V('A', 'i', 'j'); expr = x @ F.inverse(A) @ x.rename(i='j')",
    "lsq_by_x": _LSQ,
    "lsq_by_A": _LSQ,
    "ridge": _RIDGE,
    "norm_x": _X + "expr = F.sqrt(x @ x)",
    "hinge": "w = V('w', 'i'); x = V('x', 'i'); b = V('b'); expr = F.relu(w @ x + b)",
    "sum_log_x": _X + "expr = F.sum(F.log(x))",
    "sum_exp_Ax": _AX + "expr = F.sum(F.exp(A @ x))",
    "sum_tanh_Ax": _AX + "expr = F.sum(F.tanh(A @ x))",
    "sum_sigmoid_Wx": _WX + "expr = F.sum(F.sigmoid(W @ x))",
    "mlp_W1": _MLP,
    "mlp_W2": _MLP,
    "softmax_ce_z": "y = V('y', 'i'); z = V('z', 'i'); expr = -(y @ F.log(F.softmax(z, dim='i')))",
    "softmax_ce_W": _WX + "y = V('y', 'i'); expr = -(y @ F.log(F.softmax(W @ x, dim='i')))",
    "lse_ce": "y = V('y', 'i'); z = V('z', 'i'); expr = F.log(F.sum(F.exp(z))) - y @ z",
    "logistic_grad": _LOGISTIC,
    "bce": ("X = V('X', 'i', 'j'); w = V('w', 'j'); y = V('y', 'i'); "
            "expr = -(y @ F.log(F.sigmoid(X @ w)) + (1 - y) @ F.log(1 - F.sigmoid(X @ w)))"),
    "scalar_t": "x = V('x', 'i'); t = V('t'); expr = F.sum(F.exp(t * x))",
    "Wx_by_x": _WX + "expr = W @ x",
    "Wx_by_W": _WX + "expr = W @ x",
    "AXB_by_X": "A = V('A', 'i', 'j'); X = V('X', 'j', 'k'); B = V('B', 'k', 'l'); expr = A @ X @ B",
    "XX_by_X": "X = V('X', 'i', 'j'); expr = X @ X.rename(i='j', j='l')",
    "XT_by_X": "X = V('X', 'i', 'j'); expr = X.rename(i='j', j='i')",
    "inv_by_X": "X = V('X', 'i', 'j'); expr = F.inverse(X)",
    "exp_x": _X + "expr = F.exp(x)",
    "xy_by_x": "x = V('x', 'i'); y = V('y', 'i'); expr = x * y",
    "softmax_jac": "z = V('z', 'i'); expr = F.softmax(z, dim='i')",
    "relu_Wx_by_x": _WX + "expr = F.relu(W @ x)",
    "sigmoid_Ax_by_x": _AX + "expr = F.sigmoid(A @ x)",
    "XTX_by_X": "X = V('X', 'k', 'i'); expr = X @ X.rename(i='j')",
    "xAx_hess": _XAX,
    "lsq_hess": _LSQ,
    "logistic_hess": _LOGISTIC,
    "lse_hess": "z = V('z', 'i'); expr = F.log(F.sum(F.exp(z)))",
    "sum_exp_hess": _X + "expr = F.sum(F.exp(x))",
    "mlp_hess_x": _MLP,
    "trXAX_hess": _TRXAX,
    "logdet_hess": _LOGDET,
    "ridge_hess": _RIDGE,
}

CASES = [replace(c, tensorgrad=TENSORGRAD.get(c.name)) for c in CASES]
