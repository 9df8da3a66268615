"""Differentials: one rule per node type, dF as an expression linear in dX.

This is the matrix-differential method: each rule states the identity for the
differential of its node in terms of the differentials of its children; the result
is an expression in which ``Differential(X)`` (dX) appears linearly.
:mod:`matcalc.extract` then reads gradients and Jacobians off that linear form.

The walk is memoized over the DAG, so a subexpression used twice is differentiated
once and the differential's size grows linearly with the expression's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import singledispatch

from . import build as B
from .errors import UnsupportedError
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
from .registry import EXP, LOG, SIGN

Diffs = Callable[[Node], "Node | None"]  # child → its differential (None: zero)


def differential(root: Node, wrt: Var) -> Node | None:
    """dF for F = ``root``, linear in d(``wrt``); ``None`` when F does not depend on it."""
    memo: dict[Node, Node | None] = {}
    for n in walk(root):
        if n in memo:
            continue
        if isinstance(n, Var):
            memo[n] = Differential(wrt) if n.name == wrt.name else None
            continue
        kids = n.children
        if not kids or all(memo[c] is None for c in kids):
            memo[n] = None
            continue
        memo[n] = rule(n, memo.__getitem__)
    return memo[root]


def inner(a: Node, b: Node) -> Node:
    """⟨A, B⟩ = tr(AᵀB), written aᵀb for vectors."""
    if a.shape.is_scalar:
        return B.mul(a, b)
    if a.shape.cols.is_one:
        return B.matmul(B.transpose(a), b)
    return Trace(B.matmul(B.transpose(a), b))


def _terms(n: Node, d: Diffs, parts: list[tuple[Node, Node]]) -> Node | None:
    """Σ coefᵢ ⊙ dᵢ over the children with a nonzero differential."""
    out = []
    for coef_fn, child in parts:
        dc = d(child)
        if dc is not None:
            out.append(B.mul(coef_fn, dc))
    return B.add(*out, shape=n.shape) if out else None


@singledispatch
def rule(n: Node, d: Diffs) -> Node | None:
    raise UnsupportedError(f"cannot differentiate {type(n).__name__} nodes")


@rule.register
def _add(n: Add, d: Diffs) -> Node | None:
    """d(A + B) = dA + dB"""
    parts = [d(t) for t in n.terms]
    return B.add(*[p for p in parts if p is not None], shape=n.shape)


@rule.register
def _mul(n: Mul, d: Diffs) -> Node | None:
    """d(A ⊙ B) = dA ⊙ B + A ⊙ dB  (a 1×1 factor scales)"""
    out = []
    fs = n.factors
    for i, f in enumerate(fs):
        df = d(f)
        if df is not None:
            out.append(B.mul(*fs[:i], df, *fs[i + 1 :]))
    return B.add(*out, shape=n.shape)


@rule.register
def _pow(n: Pow, d: Diffs) -> Node | None:
    """d(A^p) = p A^(p−1) ⊙ dA + A^p ⊙ log(A) ⊙ dp"""
    out = []
    db, de = d(n.base), d(n.exponent)
    if db is not None:
        e = n.exponent
        lower = B.add(e, B.MINUS_ONE) if e.shape.is_scalar else B.add(e, B.broadcast(B.MINUS_ONE, e.shape))
        out.append(B.mul(e, B.power(n.base, lower), db))
    if de is not None:
        out.append(B.mul(n, Apply(LOG, (n.base,)), de))
    return B.add(*out, shape=n.shape)


@rule.register
def _apply(n: Apply, d: Diffs) -> Node | None:
    """d f(A) = f′(A) ⊙ dA  (each partial from the registry entry)"""
    if n.fn is LOG and isinstance(n.args[0], Mul):
        return _log_product(n, n.args[0], d)
    diffs = [d(a) for a in n.args]
    coefs = n.fn.partials(n.args, n, tuple(x is not None for x in diffs))
    out = [B.mul(c, x) for c, x in zip(coefs, diffs) if x is not None]
    return B.add(*out, shape=n.shape)


def _log_product(n: Apply, arg: Mul, d: Diffs) -> Node | None:
    """d log(A₁^k₁ ⊙ A₂^k₂ ⊙ …) = Σ kᵢ dAᵢ / Aᵢ  (logarithmic differentiation)

    The textbook form: log(p/(1 − p)) gives 1/p + 1/(1 − p), where the chain rule
    through the quotient gives (1/p − 1) ⊙ (1/(1 − p) + p/(1 − p)²).  Valid wherever the
    product is nonzero, so wherever the logarithm is defined; d log(exp(a)) = da.
    """
    out = []
    for f in arg.factors:
        k: Node = B.ONE
        if isinstance(f, Pow) and isinstance(f.exponent, Const):
            f, k = f.base, f.exponent
        if isinstance(f, Apply) and f.fn is EXP:
            df = d(f.args[0])
            term = None if df is None else B.mul(k, df)
        else:
            df = d(f)
            term = None if df is None else B.mul(k, df, B.reciprocal(f))
        if term is not None:
            out.append(B.broadcast(term, n.shape))
    return B.add(*out, shape=n.shape) if out else None


@rule.register
def _compare(n: Compare, d: Diffs) -> Node | None:
    """d(A > B) = 0 (an indicator is piecewise constant; its jumps are ignored)"""
    return None


@rule.register
def _matmul(n: MatMul, d: Diffs) -> Node | None:
    """d(A B) = dA B + A dB"""
    out = []
    fs = n.factors
    for i, f in enumerate(fs):
        df = d(f)
        if df is not None:
            out.append(B.matmul(*fs[:i], df, *fs[i + 1 :]))
    return B.add(*out, shape=n.shape)


@rule.register
def _transpose(n: Transpose, d: Diffs) -> Node | None:
    """d(Aᵀ) = (dA)ᵀ"""
    return B.transpose(d(n.arg))


@rule.register
def _sum(n: Sum, d: Diffs) -> Node | None:
    """d sum(A) = sum(dA)  (along the same axis)"""
    return Sum(d(n.arg), n.axis)


@rule.register
def _broadcast(n: Broadcast, d: Diffs) -> Node | None:
    """d broadcast(a) = broadcast(da)"""
    return B.broadcast(d(n.arg), n.target)


@rule.register
def _trace(n: Trace, d: Diffs) -> Node | None:
    """d tr(A) = tr(dA)"""
    return Trace(d(n.arg))


@rule.register
def _det(n: Det, d: Diffs) -> Node | None:
    """d det(X) = det(X) tr(X⁻¹ dX)"""
    return B.mul(n, Trace(B.matmul(Inverse(n.arg), d(n.arg))))


@rule.register
def _logdet(n: LogDet, d: Diffs) -> Node | None:
    """d logdet(X) = tr(X⁻¹ dX)"""
    return Trace(B.matmul(Inverse(n.arg), d(n.arg)))


@rule.register
def _inverse(n: Inverse, d: Diffs) -> Node | None:
    """d(X⁻¹) = −X⁻¹ dX X⁻¹"""
    return B.neg(B.matmul(n, d(n.arg), n))


@rule.register
def _expm(n: Expm, d: Diffs) -> Node | None:
    """d e^X = L(X, dX), the Fréchet derivative: ∫₀¹ e^{sX} dX e^{(1−s)X} ds.  It has a closed
    form in a trace, tr L(X, dX) = tr(e^X dX), and when dX commutes with X (X = tA: e^{tA} A dt)."""
    return ExpmFrechet(n.arg, d(n.arg))


@rule.register
def _diag(n: Diag, d: Diffs) -> Node | None:
    """d diag(v) = diag(dv)"""
    return Diag(d(n.arg))


@rule.register
def _diagpart(n: DiagPart, d: Diffs) -> Node | None:
    """d diag(X) = diag(dX)"""
    return DiagPart(d(n.arg))


@rule.register
def _norm(n: Norm, d: Diffs) -> Node | None:
    """d‖X‖ = ⟨X, dX⟩ / ‖X‖;  d‖X‖₁ = ⟨sign(X), dX⟩"""
    dx = d(n.arg)
    if n.p == 1:
        return inner(Apply(SIGN, (n.arg,)), dx)
    return B.mul(B.reciprocal(n), inner(n.arg, dx))


@rule.register
def _softmax(n: Softmax, d: Diffs) -> Node | None:
    """d softmax(z) = s ⊙ dz − s (sᵀdz)  (row by row for a matrix: S ⊙ dZ − S ⊙ ((S ⊙ dZ)𝟙)𝟙ᵀ)"""
    dz = d(n.arg)
    s = n
    if s.shape.cols.is_one:
        return B.sub(B.mul(s, dz), B.matmul(s, B.matmul(B.transpose(s), dz)))
    rows = Sum(B.mul(s, dz), 1)
    return B.sub(B.mul(s, dz), B.mul(s, B.broadcast(rows, s.shape)))


@rule.register
def _extremum(n: Extremum, d: Diffs) -> Node | None:
    """d max(A) = Σ(T ⊙ dA)/Σ T, T = is_max(A) = (A = max A): dA at the maximum, shared equally by tied
    entries as JAX and PyTorch's amax do (row by row for axis 1)"""
    a = n.arg
    tops = ArgExtremum(a, n.op, n.axis)
    return B.mul(Sum(B.mul(tops, d(a)), n.axis), B.reciprocal(Sum(tops, n.axis)))


@rule.register
def _arg_extremum(n: ArgExtremum, d: Diffs) -> Node | None:
    """d is_max(A) = 0 (the mask is piecewise constant)"""
    return None


@rule.register
def _logsumexp(n: LogSumExp, d: Diffs) -> Node | None:
    """d logsumexp(z) = softmax(z)ᵀ dz  (row by row for a matrix: (softmax(Z) ⊙ dZ)𝟙)"""
    dz = d(n.arg)
    s = Softmax(n.arg)
    if n.arg.shape.cols.is_one:
        return B.matmul(B.transpose(s), dz)
    return Sum(B.mul(s, dz), 1)


@rule.register
def _prod(n: Prod, d: Diffs) -> Node | None:
    """d prod(X) = prod(X) sum(dX/X)  (for entries ≠ 0; logarithmic differentiation)"""
    return B.mul(n, Sum(B.mul(B.reciprocal(n.arg), d(n.arg))))


@rule.register
def _kron(n: Kron, d: Diffs) -> Node | None:
    """d(A ⊗ B) = dA ⊗ B + A ⊗ dB"""
    da, db = d(n.left), d(n.right)
    out = []
    if da is not None:
        out.append(Kron(da, n.right))
    if db is not None:
        out.append(Kron(n.left, db))
    return B.add(*out, shape=n.shape)


@rule.register
def _vec(n: Vec, d: Diffs) -> Node | None:
    """d vec(X) = vec(dX)"""
    return Vec(d(n.arg))


@rule.register
def _unvec(n: Unvec, d: Diffs) -> Node | None:
    """d unvec(x) = unvec(dx)"""
    return Unvec(d(n.arg), n.target)


_CONSTANTS = (Const, DimValue, Pi, Zero, Ones, Identity, Commutation, Differential)
