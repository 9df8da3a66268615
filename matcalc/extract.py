"""Reading derivatives off a differential dF that is linear in dX.

* ``gradient``: F scalar.  dF = ⟨G, dX⟩ defines the gradient G (shape of X).  It is
  found by transposing the linear map, node by node, in reverse topological order
  (reverse-mode accumulation over the DAG of dF: linear time, shared work done once).
* ``derivative_by_scalar``: X scalar.  dF/dx is dF with dx = 1 (shape of F).
* ``vec_jacobian``: vec(dF) = J vec(dX) defines J, size(F) × size(X), built forward
  with vec(A dX B) = (Bᵀ ⊗ A) vec(dX) and its companions.  For vector F and vector X
  this is the ordinary Jacobian.

Each rule's docstring is the identity it implements.
"""

from __future__ import annotations

from functools import singledispatch

from . import build as B
from .dims import ONE as D1
from .dims import Shape
from .errors import UnsupportedError
from .nodes import (
    Add,
    Broadcast,
    Commutation,
    Diag,
    DiagPart,
    Differential,
    Identity,
    Kron,
    MatMul,
    Mul,
    Node,
    Sum,
    Trace,
    Transpose,
    Unvec,
    Var,
    Vec,
    walk,
)


def linear_nodes(root: Node) -> tuple[list[Node], set[Node]]:
    order = walk(root)
    lin: set[Node] = set()
    for n in order:
        if isinstance(n, Differential) or any(c in lin for c in n.children):
            lin.add(n)
    return [n for n in order if n in lin], lin


def _split(n: Node, factors: tuple[Node, ...], lin: set[Node]) -> int:
    idx = [i for i, f in enumerate(factors) if f in lin]
    if len(idx) != 1:  # pragma: no cover - the differential rules never produce this
        raise UnsupportedError(f"internal: {type(n).__name__} with {len(idx)} linear factors")
    return idx[0]


# ---------------------------------------------------------------- gradient (adjoint)


def gradient(dF: Node | None, wrt: Var) -> Node:
    """G with dF = ⟨G, dX⟩ (F scalar)."""
    if dF is None:
        return B.zero(wrt.shape)
    order, lin = linear_nodes(dF)
    pending: dict[Node, list[Node]] = {dF: [B.ONE]}
    result: list[Node] = []
    for n in reversed(order):
        contribs = pending.pop(n, None)
        if not contribs:
            continue
        g = B.add(*contribs, shape=n.shape)
        if isinstance(n, Differential):
            result.append(g)
            continue
        for child, share in adjoint(n, g, lin):
            pending.setdefault(child, []).append(share)
    return B.add(*result, shape=wrt.shape) if result else B.zero(wrt.shape)


@singledispatch
def adjoint(n: Node, g: Node, lin: set[Node]) -> list[tuple[Node, Node]]:
    raise UnsupportedError(f"cannot take the gradient through {type(n).__name__}")


@adjoint.register
def _adj_add(n: Add, g: Node, lin: set[Node]):
    """⟨G, dA + dB⟩ = ⟨G, dA⟩ + ⟨G, dB⟩"""
    return [(t, g) for t in n.terms if t in lin]


@adjoint.register
def _adj_mul(n: Mul, g: Node, lin: set[Node]):
    """⟨G, C ⊙ dA⟩ = ⟨C ⊙ G, dA⟩;  for a scalar da: ⟨G, C da⟩ = sum(C ⊙ G) da"""
    i = _split(n, n.factors, lin)
    a = n.factors[i]
    rest = n.factors[:i] + n.factors[i + 1 :]
    share = B.mul(g, *rest)
    if a.shape.is_scalar and not share.shape.is_scalar:
        share = Sum(share)
    return [(a, share)]


@adjoint.register
def _adj_matmul(n: MatMul, g: Node, lin: set[Node]):
    """⟨G, L dA R⟩ = ⟨Lᵀ G Rᵀ, dA⟩"""
    i = _split(n, n.factors, lin)
    left = [B.transpose(B.matmul(*n.factors[:i]))] if i > 0 else []
    right = [B.transpose(B.matmul(*n.factors[i + 1 :]))] if i + 1 < len(n.factors) else []
    return [(n.factors[i], B.matmul(*left, g, *right))]


@adjoint.register
def _adj_transpose(n: Transpose, g: Node, lin: set[Node]):
    """⟨G, dAᵀ⟩ = ⟨Gᵀ, dA⟩"""
    return [(n.arg, B.transpose(g))]


@adjoint.register
def _adj_sum(n: Sum, g: Node, lin: set[Node]):
    """⟨g, sum(dA)⟩ = ⟨broadcast(g), dA⟩  (the transpose of a reduction is a broadcast)"""
    return [(n.arg, B.broadcast(g, n.arg.shape))]


@adjoint.register
def _adj_broadcast(n: Broadcast, g: Node, lin: set[Node]):
    """⟨G, broadcast(da)⟩ = ⟨sum of G over the repeated axes, da⟩"""
    a = n.arg.shape
    if a.is_scalar:
        return [(n.arg, Sum(g))]
    if a.cols.is_one:
        return [(n.arg, Sum(g, 1))]
    return [(n.arg, Sum(g, 0))]


@adjoint.register
def _adj_trace(n: Trace, g: Node, lin: set[Node]):
    """⟨g, tr(dA)⟩ = ⟨g I, dA⟩"""
    return [(n.arg, B.mul(g, Identity(n.arg.shape.rows)))]


@adjoint.register
def _adj_diag(n: Diag, g: Node, lin: set[Node]):
    """⟨G, diag(da)⟩ = ⟨diag(G), da⟩"""
    return [(n.arg, DiagPart(g))]


@adjoint.register
def _adj_diagpart(n: DiagPart, g: Node, lin: set[Node]):
    """⟨g, diag(dA)⟩ = ⟨diag(g), dA⟩"""
    return [(n.arg, Diag(g))]


@adjoint.register
def _adj_vec(n: Vec, g: Node, lin: set[Node]):
    """⟨g, vec(dA)⟩ = ⟨unvec(g), dA⟩"""
    return [(n.arg, Unvec(g, n.arg.shape))]


@adjoint.register
def _adj_unvec(n: Unvec, g: Node, lin: set[Node]):
    """⟨G, unvec(da)⟩ = ⟨vec(G), da⟩"""
    return [(n.arg, Vec(g) if not g.shape.cols.is_one else g)]


# ---------------------------------------------------------------- by a scalar


def derivative_by_scalar(dF: Node | None, wrt: Var, shape: Shape) -> Node:
    """dF/dx: substitute dx = 1."""
    from .nodes import map_bottom_up
    from .simplify import rebuild

    if dF is None:
        return B.zero(shape)

    def sub(n: Node) -> Node:
        if isinstance(n, Differential):
            return B.ONE
        return rebuild(n)

    return map_bottom_up(dF, sub)


# ---------------------------------------------------------------- vec-Jacobian (forward)


def _ones(n) -> Node:
    return B.ones(Shape(n, D1))


def kron(a: Node, b: Node) -> Node:
    """a ⊗ b with the trivial cases done: 1 ⊗ B = B, A ⊗ 1 = A, I ⊗ I = I."""
    if a.shape.is_scalar or b.shape.is_scalar:
        return B.mul(a, b)
    if isinstance(a, Identity) and isinstance(b, Identity):
        return Identity(a.n * b.n)
    return Kron(a, b)


def _vec_of(c: Node) -> Node:
    return c if c.shape.cols.is_one else (B.transpose(c) if c.shape.rows.is_one else Vec(c))


def vec_jacobian(dF: Node | None, wrt: Var, f_shape: Shape) -> Node:
    """J with vec(dF) = J vec(dX)."""
    size_x = wrt.shape.size
    if dF is None:
        return B.zero(Shape(f_shape.size, size_x))
    order, lin = linear_nodes(dF)
    if dF not in lin:
        return B.zero(Shape(f_shape.size, size_x))
    memo: dict[Node, Node] = {}
    for n in order:
        if n in memo:
            continue
        if isinstance(n, Differential):
            memo[n] = B.identity(size_x)
        else:
            memo[n] = jac(n, memo, lin)
    return memo[dF]


@singledispatch
def jac(n: Node, memo: dict[Node, Node], lin: set[Node]) -> Node:
    raise UnsupportedError(f"cannot form the Jacobian through {type(n).__name__}")


@jac.register
def _jac_add(n: Add, memo, lin):
    """vec(dA + dB) = J_A + J_B"""
    return B.add(*[memo[t] for t in n.terms if t in lin])


@jac.register
def _jac_mul(n: Mul, memo, lin):
    """vec(C ⊙ dA) = diag(vec C) J_A;  vec(c dA) = c J_A;  vec(C da) = vec(C) J_a"""
    i = _split(n, n.factors, lin)
    a = n.factors[i]
    c = B.mul(*(n.factors[:i] + n.factors[i + 1 :]))
    if c.shape.is_scalar:
        return B.mul(c, memo[a])
    if a.shape.is_scalar:
        return B.matmul(_vec_of(c), memo[a])
    return B.matmul(Diag(_vec_of(c)), memo[a])


@jac.register
def _jac_matmul(n: MatMul, memo, lin):
    """vec(L dA R) = (Rᵀ ⊗ L) vec(dA)"""
    i = _split(n, n.factors, lin)
    a = n.factors[i]
    left = B.matmul(*n.factors[:i]) if i > 0 else B.identity(a.shape.rows)
    right = B.transpose(B.matmul(*n.factors[i + 1 :])) if i + 1 < len(n.factors) else B.identity(a.shape.cols)
    return B.matmul(kron(right, left), memo[a])


@jac.register
def _jac_transpose(n: Transpose, memo, lin):
    """vec(dAᵀ) = K vec(dA)  (K the commutation matrix; the identity for vectors)"""
    s = n.arg.shape
    if s.rows.is_one or s.cols.is_one:
        return memo[n.arg]
    return B.matmul(Commutation(s.rows, s.cols), memo[n.arg])


@jac.register
def _jac_sum(n: Sum, memo, lin):
    """vec(sum dA) = 𝟙ᵀ J;  vec(𝟙ᵀdA) = (I ⊗ 𝟙ᵀ) J;  vec(dA 𝟙) = (𝟙ᵀ ⊗ I) J"""
    s = n.arg.shape
    j = memo[n.arg]
    if n.axis is None:
        return B.matmul(B.transpose(_ones(s.size)), j)
    if n.axis == 0:
        return B.matmul(kron(B.identity(s.cols), B.transpose(_ones(s.rows))), j)
    return B.matmul(kron(B.transpose(_ones(s.cols)), B.identity(s.rows)), j)


@jac.register
def _jac_broadcast(n: Broadcast, memo, lin):
    """vec(𝟙 da) = 𝟙 J;  vec(da 𝟙ᵀ) = (𝟙 ⊗ I) J;  vec(𝟙 daᵀ) = (I ⊗ 𝟙) J"""
    a, t = n.arg.shape, n.target
    j = memo[n.arg]
    if a.is_scalar:
        return B.matmul(_ones(t.size), j)
    if a.cols.is_one:
        return B.matmul(kron(_ones(t.cols), B.identity(t.rows)), j)
    return B.matmul(kron(B.identity(t.cols), _ones(t.rows)), j)


@jac.register
def _jac_trace(n: Trace, memo, lin):
    """vec(tr dA) = vec(I)ᵀ J"""
    return B.matmul(B.transpose(Vec(Identity(n.arg.shape.rows))), memo[n.arg])


@jac.register
def _jac_diag(n: Diag, memo, lin):
    """vec(diag da) = diag(vec I)(𝟙 ⊗ I) J"""
    k = n.arg.shape.rows
    return B.matmul(Diag(Vec(Identity(k))), kron(_ones(k), Identity(k)), memo[n.arg])


@jac.register
def _jac_diagpart(n: DiagPart, memo, lin):
    """vec(diag dA) = (𝟙ᵀ ⊗ I) diag(vec I) J"""
    k = n.arg.shape.rows
    return B.matmul(kron(B.transpose(_ones(k)), Identity(k)), Diag(Vec(Identity(k))), memo[n.arg])


@jac.register
def _jac_vec(n: Vec, memo, lin):
    """vec(vec dA) = J"""
    return memo[n.arg]


@jac.register
def _jac_unvec(n: Unvec, memo, lin):
    """vec(unvec da) = J"""
    return memo[n.arg]


def _kron_vec_parts(n: Kron) -> tuple[Node, Node, Node]:
    """P, vec A, vec B with vec(A ⊗ B) = P (vec A ⊗ vec B), P = I_n ⊗ K₍q,m₎ ⊗ I_p (A m×n, B p×q)."""
    a, b = n.left.shape, n.right.shape
    p = kron(kron(B.identity(a.cols), Commutation(b.cols, a.rows)), B.identity(b.rows))
    return p, _vec_of(n.left), _vec_of(n.right)


@jac.register
def _jac_kron(n: Kron, memo, lin):
    """vec(dA ⊗ B) = P (I ⊗ vec B) J_A;  vec(A ⊗ dB) = P (vec A ⊗ I) J_B"""
    p, va, vb = _kron_vec_parts(n)
    if n.left in lin:
        return B.matmul(p, kron(B.identity(n.left.shape.size), vb), memo[n.left])
    return B.matmul(p, kron(va, B.identity(n.right.shape.size)), memo[n.right])


@adjoint.register
def _adj_kron(n: Kron, g: Node, lin: set[Node]):
    """⟨G, A ⊗ dB⟩ = ⟨unvec((vec A ⊗ I)ᵀ Pᵀ vec G), dB⟩  (and likewise for dA)"""
    p, va, vb = _kron_vec_parts(n)
    vg = B.matmul(B.transpose(p), _vec_of(g))
    if n.left in lin:
        share = B.matmul(B.transpose(kron(B.identity(n.left.shape.size), vb)), vg)
        return [(n.left, _unvec(share, n.left.shape))]
    share = B.matmul(B.transpose(kron(va, B.identity(n.right.shape.size))), vg)
    return [(n.right, _unvec(share, n.right.shape))]


def _unvec(v: Node, shape: Shape) -> Node:
    if shape.cols.is_one:
        return v
    if shape.rows.is_one:
        return B.transpose(v)
    return Unvec(v, shape)
