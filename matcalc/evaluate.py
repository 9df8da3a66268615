"""Numeric evaluation of checked nodes with NumPy.

Values are 2-D arrays internally (vectors are n×1).  Structure is evaluated
directly: a product with diag(v) scales rows or columns, a Kronecker product times
a vector uses vec(B V Aᵀ), identities are skipped; no dense diag or Kronecker
matrix is formed inside a product.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

from .dims import Dim, Shape
from .errors import EvaluationError
from .nodes import (
    Add,
    Apply,
    ArgExtremum,
    Broadcast,
    Commutation,
    Compare,
    Const,
    Det,
    Diag,
    DiagPart,
    Differential,
    DimValue,
    Expm,
    ExpmFrechet,
    Extremum,
    Identity,
    Inverse,
    Kron,
    LogDet,
    LogSumExp,
    Prod,
    MatMul,
    Mul,
    Node,
    Norm,
    Ones,
    Pi,
    Pow,
    Softmax,
    Sum,
    Trace,
    Transpose,
    Unvec,
    Var,
    Vec,
    Zero,
    walk,
)
from .registry import ELEMENTWISE, Elementwise


@cache
def numpy_function(fn: Elementwise):
    """The registry entry's NumPy template compiled to a function."""
    ns: dict[str, Any] = {"np": np}
    for entry in ELEMENTWISE.values():
        if entry.numpy_helper:
            exec(entry.numpy_helper, ns)  # noqa: S102 - our own registry text
    args = ", ".join(f"a{i}" for i in range(fn.arity))
    return eval(f"lambda {args}: " + fn.numpy.format(*[f"a{i}" for i in range(fn.arity)]), ns)  # noqa: S307


def bind_sizes(variables: Mapping[str, Var], arrays: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Check the arrays against the variables' shapes; return 2-D values and the sizes of the dimension symbols."""
    sizes: dict[str, int] = {}
    values: dict[str, np.ndarray] = {}
    pending: list[tuple[Dim, int, str]] = []
    for name, var in variables.items():
        if name not in arrays:
            raise EvaluationError(f"missing value for {name} ({var.shape.kind} {var.shape})")
        try:
            a = np.asarray(arrays[name], dtype=float)
        except (TypeError, ValueError) as e:
            raise EvaluationError(f"{name}: expected numbers, got {type(arrays[name]).__name__} ({e})") from None
        s = var.shape
        if s.is_scalar:
            if a.size != 1:
                raise EvaluationError(f"{name} is a scalar, got an array of shape {a.shape}")
            a = a.reshape(1, 1)
        elif s.cols.is_one:
            if a.ndim == 2 and a.shape[1] == 1:
                a = a[:, 0]
            if a.ndim != 1:
                raise EvaluationError(f"{name} is a vector, got an array of shape {a.shape}")
            a = a.reshape(-1, 1)
        elif s.rows.is_one:
            a = a.reshape(1, -1)
        elif a.ndim != 2:
            raise EvaluationError(f"{name} is a matrix, got an array of shape {a.shape}")
        pending += [(s.rows, a.shape[0], name), (s.cols, a.shape[1], name)]
        values[name] = a
    # a product dimension (m·n) is solved once its other factors are known: repeat to a fixed point
    while pending:
        before = len(sizes)
        pending = [(d, k, name) for d, k, name in pending if not _bind(d, k, sizes, name)]
        if len(sizes) == before:
            break
    return values, sizes


def _bind(d: Dim, k: int, sizes: dict[str, int], name: str) -> bool:
    """Bind the one unknown symbol of ``d`` so that d = k; True once ``d`` is settled."""
    unknown = [x for x in d.syms if x not in sizes]
    known = d.coef
    for x in d.syms:
        if x in sizes:
            known *= sizes[x]
    if len(unknown) == 1 and d.syms.count(unknown[0]) == 1:
        if k % known:
            raise EvaluationError(f"{name}: dimension {d} cannot be {k}")
        sizes[unknown[0]] = k // known
        return True
    if not unknown:
        if known != k:
            raise EvaluationError(f"{name}: dimension {d} is {known} elsewhere but {k} here")
        return True
    return False  # decided later, once another variable fixes more symbols


class Evaluator:
    def __init__(self, values: Mapping[str, np.ndarray], sizes: Mapping[str, int]):
        self.values = values
        self.sizes = sizes
        self.memo: dict[Node, Any] = {}

    def dims(self, s: Shape) -> tuple[int, int]:
        try:
            return s.evaluate(self.sizes)
        except KeyError as e:
            raise EvaluationError(f"the size {e.args[0]} is not determined by the inputs") from None

    def __call__(self, root: Node) -> np.ndarray:
        for n in walk(root):
            if n not in self.memo:
                self.memo[n] = self.eval(n)
        return self.dense(self.memo[root], root)

    def dense(self, v: Any, n: Node) -> np.ndarray:
        if isinstance(v, tuple):
            kind = v[0]
            if kind == "diag":
                return np.diag(v[1][:, 0])
            if kind == "eye":
                return np.eye(v[1])
            if kind == "kron":
                return np.kron(v[1], v[2])
        return v

    def get(self, n: Node) -> np.ndarray:
        return self.dense(self.memo[n], n)

    def eval(self, n: Node) -> Any:
        g = self.get
        if isinstance(n, Var):
            return self.values[n.name]
        if isinstance(n, Const):
            return np.array([[float(n.value)]])
        if isinstance(n, Pi):
            return np.array([[np.pi]])
        if isinstance(n, DimValue):
            try:
                return np.array([[float(n.dim.evaluate(self.sizes))]])
            except KeyError as e:
                raise EvaluationError(f"the size {e.args[0]} is not determined by the inputs") from None
        if isinstance(n, Zero):
            return np.zeros(self.dims(n.shape))
        if isinstance(n, Ones):
            return np.ones(self.dims(n.shape))
        if isinstance(n, Identity):
            return ("eye", self.dims(n.shape)[0])
        if isinstance(n, Commutation):
            r, c = self.dims(Shape(n.r, n.c))
            k = np.zeros((r * c, r * c))
            for i in range(r):
                for j in range(c):
                    k[i * c + j, j * r + i] = 1.0
            return k
        if isinstance(n, Add):
            out = g(n.terms[0])
            for t in n.terms[1:]:
                out = out + g(t)
            return out
        if isinstance(n, Mul):
            out = g(n.factors[0])
            for f in n.factors[1:]:
                out = out * g(f)
            return out
        if isinstance(n, Pow):
            return np.power(g(n.base), g(n.exponent))
        if isinstance(n, Apply):
            return numpy_function(n.fn)(*[g(a) for a in n.args])
        if isinstance(n, Compare):
            a, b = g(n.left), g(n.right)
            return {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}[n.op](a, b).astype(float)
        if isinstance(n, MatMul):
            return self.matmul([self.memo[f] for f in n.factors])
        if isinstance(n, Transpose):
            v = self.memo[n.arg]
            if isinstance(v, tuple) and v[0] in ("diag", "eye"):
                return v
            return g(n.arg).T
        if isinstance(n, Sum):
            a = g(n.arg)
            if n.axis is None:
                return np.array([[a.sum()]])
            return a.sum(axis=n.axis, keepdims=True)
        if isinstance(n, Broadcast):
            return np.broadcast_to(g(n.arg), self.dims(n.target)).copy()
        if isinstance(n, Trace):
            return np.array([[np.trace(g(n.arg))]])
        if isinstance(n, Det):
            return np.array([[np.linalg.det(g(n.arg))]])
        if isinstance(n, LogDet):
            sign, logabs = np.linalg.slogdet(g(n.arg))
            if sign <= 0:
                raise EvaluationError("logdet of a matrix whose determinant is not positive")
            return np.array([[logabs]])
        if isinstance(n, Expm):
            return _expm(g(n.arg))
        if isinstance(n, ExpmFrechet):
            # e^[[A, E], [0, A]] = [[e^A, L(A, E)], [0, e^A]]
            a, e = g(n.arg), g(n.direction)
            k = a.shape[0]
            block = np.block([[a, e], [np.zeros_like(a), a]])
            return _expm(block)[:k, k:].copy()
        if isinstance(n, Inverse):
            a = g(n.arg)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    inv = np.linalg.inv(a)
            except np.linalg.LinAlgError:
                raise EvaluationError("inverse of a singular matrix") from None
            if not np.all(np.isfinite(inv)) or np.linalg.cond(a) > 1e14:
                raise EvaluationError("inverse of a singular (or nearly singular) matrix")
            return inv
        if isinstance(n, Diag):
            return ("diag", g(n.arg))
        if isinstance(n, DiagPart):
            return np.diag(g(n.arg)).reshape(-1, 1).copy()
        if isinstance(n, Norm):
            a = g(n.arg)
            return np.array([[np.abs(a).sum() if n.p == 1 else np.sqrt((a * a).sum())]])
        if isinstance(n, Softmax):
            a = g(n.arg)
            axis = 0 if n.shape.cols.is_one else 1
            e = np.exp(a - a.max(axis=axis, keepdims=True))
            return e / e.sum(axis=axis, keepdims=True)
        if isinstance(n, ArgExtremum):
            a = g(n.arg)
            pick = np.max if n.op == "max" else np.min
            return (a == (pick(a) if n.axis is None else pick(a, axis=1, keepdims=True))).astype(float)
        if isinstance(n, Extremum):
            a = g(n.arg)
            pick = np.max if n.op == "max" else np.min
            return np.array([[pick(a)]]) if n.axis is None else pick(a, axis=1, keepdims=True)
        if isinstance(n, Prod):
            return np.array([[np.prod(g(n.arg))]])
        if isinstance(n, LogSumExp):
            a = g(n.arg)
            axis = 0 if n.arg.shape.cols.is_one else 1
            m = a.max(axis=axis, keepdims=True)
            out = m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))
            return out.reshape(self.dims(n.shape))
        if isinstance(n, Kron):
            return ("kron", g(n.left), g(n.right))
        if isinstance(n, Vec):
            return g(n.arg).reshape(-1, 1, order="F")
        if isinstance(n, Unvec):
            return g(n.arg).reshape(self.dims(n.target), order="F")
        if isinstance(n, Differential):  # pragma: no cover - never evaluated
            raise EvaluationError("cannot evaluate a differential")
        raise EvaluationError(f"cannot evaluate {type(n).__name__}")  # pragma: no cover

    def matmul(self, vals: list[Any]) -> np.ndarray:
        """Multiply a chain, right to left when it ends in a vector, with structured factors."""
        vals = [v for v in vals if not (isinstance(v, tuple) and v[0] == "eye")]
        if not vals:  # pragma: no cover - the constructors drop all-identity products
            raise EvaluationError("empty product")
        dense = [v for v in vals if not isinstance(v, tuple)]
        right_to_left = bool(dense) and dense[-1].shape[1] == 1
        if right_to_left:
            acc = self._dense(vals[-1])
            for v in reversed(vals[:-1]):
                acc = _left_apply(v, acc)
            return acc
        acc = self._dense(vals[0])
        for v in vals[1:]:
            acc = _right_apply(acc, v)
        return acc

    def _dense(self, v: Any) -> np.ndarray:
        return self.dense(v, None)  # type: ignore[arg-type]


def _left_apply(v: Any, m: np.ndarray) -> np.ndarray:
    """v @ m for a structured or dense v."""
    if isinstance(v, tuple):
        if v[0] == "diag":
            return v[1] * m
        if v[0] == "kron":
            a, b = v[1], v[2]
            k = m.shape[1]
            t = m.reshape(a.shape[1], b.shape[1], k)
            return np.einsum("pj,ri,jit->prt", a, b, t).reshape(a.shape[0] * b.shape[0], k)
    return v @ m


def _right_apply(m: np.ndarray, v: Any) -> np.ndarray:
    """m @ v for a structured or dense v."""
    if isinstance(v, tuple):
        if v[0] == "diag":
            return m * v[1].T
        if v[0] == "kron":
            return m @ np.kron(v[1], v[2])
    return m @ v


@cache
def _expm_function() -> Any:
    """e^A, by the same Padé code the NumPy code generator writes (compiled once)."""
    from .codegen import EXPM_NUMPY

    ns: dict[str, Any] = {"np": np}
    exec(EXPM_NUMPY, ns)  # noqa: S102 - our own source text
    return ns["expm"]


def _expm(a: np.ndarray) -> np.ndarray:
    return _expm_function()(a)


class NonFiniteWarning(RuntimeWarning):
    """A value came out NaN or infinite: an input outside a function's domain, or overflow."""


def evaluate(
    node: Node,
    variables: Mapping[str, Var],
    arrays: Mapping[str, Any],
    sizes: Mapping[str, int] | None = None,
    *,
    warn: bool = True,
) -> np.ndarray:
    """Evaluate ``node`` (2-D result) on the given arrays.

    A NaN or infinite result raises a :class:`NonFiniteWarning` (unless ``warn`` is
    False): the inputs were outside a function's domain (log of a negative) or overflowed.
    """
    from .deep import call_deep

    values, bound = bind_sizes(variables, arrays)
    if sizes:
        bound.update(sizes)

    def run() -> np.ndarray:
        with np.errstate(all="ignore"):  # numpy's error state is per thread: set it in the worker
            return Evaluator(values, bound)(node)

    try:
        out = call_deep(run)
    except MemoryError:
        raise EvaluationError("the arrays are too large to evaluate in memory") from None
    if warn and not np.all(np.isfinite(out)):
        warnings.warn(
            "the result has NaN or infinite entries: an input is outside a function's domain "
            "(log or sqrt of a negative, a singular matrix) or a value overflowed",
            NonFiniteWarning,
            stacklevel=2,
        )
    return out


def to_user_shape(a: np.ndarray, shape: Shape) -> Any:
    """2-D internal value → float for a scalar, 1-D for a column vector, else 2-D."""
    if shape.is_scalar:
        return float(a.reshape(()))
    if shape.cols.is_one:
        return a[:, 0].copy()
    return a
