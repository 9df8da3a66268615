"""Simplification to textbook form.

Named rules, each an identity ``left → right`` applied bottom-up to a fixed point
over a canonical form: flattened sums and products (the smart constructors in
:mod:`matcalc.build`), scalars pulled in front, transposes pushed to the leaves.
A few rewrites (expanding a product over a sum, factoring a common factor out of a
sum, turning an inner product into a sum) are tried and kept only when they make
the printed expression smaller, so the rule set cannot loop.

``RULES`` maps a node type to its rules; each rule returns the rewritten node, or
``None`` when it does not apply.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction

from . import build as B
from .dims import ONE as ONE_DIM
from .dims import Shape
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
    tree_size,
    walk,
)
from .registry import ABS, COS, COSH, EXP, LOG, MAX, MIN, SIGMOID, SIGN, SIN, SINH, SQRT, TAN, TANH

Rule = Callable[[Node], "Node | None"]

RULES: dict[type, list[Rule]] = defaultdict(list)


class _State:
    """What one simplification in progress needs to know beyond the node: per thread (a
    context variable, handed to ``call_deep``'s worker), so concurrent ``diff`` calls
    do not see each other's memos, budgets or traces."""

    __slots__ = ("trace", "session", "depth", "spent", "sums")

    def __init__(self) -> None:
        #: when a list, every rule applied (outside trial rewrites) is appended as (rule, before, after)
        self.trace: list | None = None
        #: memos shared within a session (see :func:`session`), or None
        self.session: dict[tuple[str, int], dict[Node, Node]] | None = None
        #: how deeply tried alternatives are nested now
        self.depth = 0
        #: printed size of the alternatives tried so far (see ``TRY_BUDGET``)
        self.spent = 0
        #: the sums the user wrote (x − μ), within a session: see :func:`prefer_sums`
        self.sums: frozenset[Node] = frozenset()


_STATE: ContextVar[_State] = ContextVar("matcalc_simplify_state")


def _state() -> _State:
    try:
        return _STATE.get()
    except LookupError:
        st = _State()
        _STATE.set(st)
        return st


@contextmanager
def tracing() -> Iterator[list]:
    """Record every top-level rule application inside, as (rule, before, after)."""
    st = _state()
    old, st.trace = st.trace, []
    try:
        yield st.trace
    finally:
        st.trace = old

#: Rewrites that are kept only when they make the result smaller are tried on
#: subexpressions up to this printed size (they cost time proportional to it).
TRY_LIMIT = 400


def rule(*types: type) -> Callable[[Rule], Rule]:
    def deco(fn: Rule) -> Rule:
        for t in types:
            RULES[t].append(fn)
        return fn

    return deco


def rebuild(n: Node) -> Node:
    """Re-apply the smart constructor of ``n``'s type (after its children changed)."""
    if isinstance(n, Add):
        return B.add(*n.terms, shape=n.shape)
    if isinstance(n, Mul):
        return B.mul(*n.factors)
    if isinstance(n, MatMul):
        return B.matmul(*n.factors)
    if isinstance(n, Transpose):
        return B.transpose(n.arg)
    if isinstance(n, Pow):
        return B.power(n.base, n.exponent)
    if isinstance(n, Broadcast):
        return B.broadcast(n.arg, n.target)
    if isinstance(n, (Sum, Trace, Diag, DiagPart, Vec, Unvec)) and B.is_zero(n.arg):
        return B.zero(n.shape)
    if isinstance(n, (Sum, Trace)) and n.arg.shape.is_scalar:
        return n.arg
    if isinstance(n, Sum) and n.axis is not None:
        s = n.arg.shape
        if (n.axis == 0 and s.rows.is_one) or (n.axis == 1 and s.cols.is_one):
            return n.arg
    if isinstance(n, Vec) and n.arg.shape.cols.is_one:
        return n.arg
    return n


class Simplifier:
    """One pass: bottom-up to a fixed point, remembering the result of every node seen.

    A pass's result depends only on the node and the trial depth, so passes at one
    depth may share their memo (see :func:`session`).
    """

    def __init__(self, memo: dict[Node, Node] | None = None) -> None:
        self.memo: dict[Node, Node] = {} if memo is None else memo

    def __call__(self, n: Node) -> Node:
        done = self.memo.get(n)
        if done is not None:
            return done
        kids = n.children
        if kids:
            new = tuple(self(c) for c in kids)
            cur = rebuild(n.with_children(new)) if any(a is not b for a, b in zip(new, kids)) else rebuild(n)
        else:
            cur = n
        if cur != n and cur in self.memo:
            out = self.memo[cur]
        else:
            out = self._rules(cur)
        self.memo[n] = out
        self.memo[out] = out
        return out

    def _rules(self, cur: Node) -> Node:
        for _ in range(100):
            for fn in RULES.get(type(cur), ()):
                r = fn(cur)
                if r is not None and r != cur:
                    if r.shape != cur.shape:  # pragma: no cover - a rule bug
                        raise AssertionError(f"rule {fn.__name__} changed shape {cur.shape} → {r.shape}")
                    st = _state()
                    if st.trace is not None and st.depth == 0:
                        st.trace.append((fn, cur, r))
                    nxt = self(r)
                    if nxt != cur:
                        return nxt
            break
        return cur


@contextmanager
def session() -> Iterator[None]:
    """Let every simplification inside share its memos and trial budget (one derivative).

    The derivative, its differential and the layout transpose have most
    subexpressions in common, and tried alternatives recur; each is simplified once.
    """
    st = _state()
    if st.session is not None:
        yield
        return
    # memos: ("pass", 1) for top-level simplification, ("trial", depth) for alternatives
    st.session, st.spent = {}, 0
    try:
        yield
    finally:
        st.session, st.sums = None, frozenset()


def prefer_sums(root: Node) -> None:
    """Within the current session, write a sum and its negation the way ``root`` (the
    function as the user wrote it) has it: −(x − μ)(x − μ)ᵀ rather than (μ − x)(xᵀ − μᵀ)."""
    st = _state()
    if st.session is not None:
        st.sums = frozenset(n for n in walk(root) if isinstance(n, Add))


def _memo(kind: str, k: int) -> dict[Node, Node] | None:
    st = _state()
    if st.session is None:
        return None
    if kind == "pass" and st.trace is not None:
        return None  # a recorded derivation must see every top-level rewrite
    return st.session.setdefault((kind, k), {})


def simplify(n: Node) -> Node:
    """Bring ``n`` to textbook form."""
    from .deep import call_deep

    st = _state()  # made here, so call_deep's worker shares it
    if st.session is None:
        st.spent = 0
    # One pass reaches the fixed point: every rewrite's result is simplified again
    # (Simplifier._rules), bottom-up.  A second pass, run on every result until
    # 2026-11, changed nothing in 3,765 simplifications (the corpus, the Cookbook
    # tests and 1,800 random expressions) while costing a third of the time.
    return call_deep(Simplifier(_memo("pass", 1)), n)


def smaller(candidate: Node | None, current: Node, margin: int = 1) -> Node | None:
    """``candidate`` if it prints at least ``margin`` nodes smaller than ``current``."""
    if candidate is None:
        return None
    if tree_size(candidate) <= tree_size(current) - margin:
        return candidate
    return None


#: How deeply tried alternatives may nest (an alternative simplified while trying another).
TRY_DEPTH = 2


#: Total printed size of the alternatives one session may try (a session without one
#: gets a fresh budget per call).  The textbook corpus uses at most 8,100 (layer norm); it
#: bounds the time spent on large second derivatives, which then stay less simplified.
TRY_BUDGET = 20_000


def _may_try(n: Node) -> bool:
    st = _state()
    return tree_size(n) <= TRY_LIMIT and st.depth < TRY_DEPTH and st.spent < TRY_BUDGET


def _try(n: Node, candidate: Callable[[], Node | None], margin: int = 1) -> Node | None:
    """Simplify an alternative form of ``n`` and keep it if it prints smaller."""
    if not _may_try(n):
        return None
    c = candidate()
    if c is None:
        return None
    return smaller(_trial(c), n, margin)


def _trial(c: Node) -> Node:
    st = _state()
    st.spent += tree_size(c)
    st.depth += 1
    try:
        return Simplifier(_memo("trial", st.depth))(c)
    finally:
        st.depth -= 1


# ================================================================ predicates


def _values_at_random_points(nodes: tuple[Node, ...], points: int = 2) -> list[list] | None:
    """Each node's value at ``points`` random points (symmetric variables drawn symmetric,
    every dimension a distinct small size), or None where one is undefined there.  A
    randomized identity test: two rational functions that agree at random points are
    equal (a coincidence has probability 0), so forms the rules cannot match by their
    shape, S⁻¹(I − ddᵀS⁻¹) and (I − S⁻¹ddᵀ)S⁻¹, are found equal."""
    import numpy as np

    from .errors import MatcalcError
    from .evaluate import evaluate
    from .numeric import _sample, _user, assign_sizes, symbols_of

    everything = [m for n in nodes for m in walk(n)]
    if any(_piecewise(m) for m in everything):
        # an indicator (x > 0), sign, max … may be constant at both points: agreement there
        # proves nothing (found by the random tests: (aS > x𝟙ᵀ) looked symmetric)
        return None
    variables = {v.name: v for v in everything if isinstance(v, Var)}
    sizes = assign_sizes(symbols_of(variables, *nodes))
    rng = np.random.default_rng(7)
    out: list[list] = [[] for _ in nodes]
    for strategy in range(points):
        values = {k: _user(_sample(v, sizes, rng, 3 * strategy), v) for k, v in variables.items()}
        for i, n in enumerate(nodes):
            try:
                with np.errstate(all="ignore"):
                    val = evaluate(n, variables, values, sizes, warn=False)
            except (MatcalcError, ValueError, ArithmeticError):
                return None
            if not np.all(np.isfinite(val)):
                return None
            out[i].append(val)
    return out


_PIECEWISE_FUNCTIONS = frozenset({"relu", "abs", "sign", "max", "min"})


def _piecewise(n: Node) -> bool:
    return isinstance(n, (Compare, Extremum, ArgExtremum)) or (isinstance(n, Apply) and n.fn.name in _PIECEWISE_FUNCTIONS)


def _close(a, b) -> bool:
    import numpy as np

    scale = max(1.0, float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return a.shape == b.shape and bool(np.max(np.abs(a - b), initial=0.0) <= 1e-9 * scale)


def numerically_symmetric(n: Node) -> bool:
    """Whether the square matrix ``n`` equals its transpose (see :func:`_values_at_random_points`)."""
    if not n.shape.is_square or n.shape.is_scalar:
        return False
    vals = _values_at_random_points((n,))
    return vals is not None and all(_close(v, v.T) for v in vals[0])


def numerically_equal(a: Node, b: Node) -> bool:
    """Whether ``a`` and ``b`` are the same function (see :func:`_values_at_random_points`)."""
    vals = _values_at_random_points((a, b))
    return vals is not None and all(_close(u, v) for u, v in zip(*vals))


def is_symmetric(n: Node) -> bool:
    if not n.shape.is_square:
        return False
    if isinstance(n, Var):
        return n.symmetric
    if isinstance(n, (Identity, Diag, Zero)):
        return True
    if isinstance(n, Ones):
        return n.shape.rows == n.shape.cols
    if isinstance(n, (Inverse, Apply, Expm)):
        return all(is_symmetric(a) or a.shape.is_scalar for a in n.children)
    if isinstance(n, (Add, Mul)):
        return all(is_symmetric(a) or a.shape.is_scalar for a in n.children)
    if isinstance(n, MatMul):
        fs = n.factors
        k = len(fs)
        for i in range(k // 2):
            if B.transpose(fs[i]) != fs[k - 1 - i]:
                return False
        return k % 2 == 0 or is_symmetric(fs[k // 2])
    return False


def split_coef(n: Node) -> tuple[Fraction, Node]:
    """c·X → (c, X)."""
    if isinstance(n, Mul) and isinstance(n.factors[0], Const):
        rest = n.factors[1:]
        return n.factors[0].value, rest[0] if len(rest) == 1 else Mul(rest)
    if isinstance(n, Const):
        return n.value, B.ONE
    return Fraction(1), n


def _led_by_constant(n: Node) -> bool:
    """A sum already in its textbook orientation: 1 − σ(x) (a positive constant term) or
    Wa − y (a compound positive term, a plain variable subtracted)."""
    if not isinstance(n, Add):
        return False
    if any(
        (isinstance(t, Const) and t.value > 0)
        or isinstance(t, Ones)
        or (isinstance(t, Broadcast) and isinstance(t.arg, Const) and t.arg.value > 0)
        for t in n.terms
    ):
        return True
    pos = [t for t in n.terms if split_coef(t)[0] > 0]
    neg = [split_coef(t)[1] for t in n.terms if split_coef(t)[0] < 0]
    return len(pos) == 1 and len(neg) == 1 and isinstance(neg[0], Var) and not isinstance(pos[0], Var)


def _negated_terms(n: Add) -> Node:
    """−(a + b) as −a − b (each term negated, not simplified)."""
    return B.add(*[B.neg(t) for t in n.terms], shape=n.shape)


def negate_cheaply(n: Node) -> Node | None:
    """A node equal to −n that is no larger than n, if one is at hand."""
    if isinstance(n, Const):
        return Const(-n.value)
    if isinstance(n, Add):
        neg = sum(1 for t in n.terms if split_coef(t)[0] < 0)
        if 2 * neg >= len(n.terms):
            return _negated_terms(n)
        return None
    if isinstance(n, Mul) and isinstance(n.factors[0], Const):
        return B.mul(Const(-n.factors[0].value), *n.factors[1:])
    if isinstance(n, (Mul, MatMul)):
        fs = n.factors
        # never flip a sum already in textbook orientation (1 − σ, Wa − y): keep the sign for another
        for i, f in enumerate(fs):
            if _led_by_constant(f) or _in_outer_square(fs, i):
                continue
            g = negate_cheaply(f)
            if g is not None:
                new = fs[:i] + (g,) + fs[i + 1 :]
                return B.mul(*new) if isinstance(n, Mul) else B.matmul(*new)
        return None
    if isinstance(n, Transpose):
        g = negate_cheaply(n.arg)
        return B.transpose(g) if g is not None else None
    return None


# ================================================================ transpose


@rule(Transpose)
def transpose_of_product(n: Transpose) -> Node | None:
    """(A B)ᵀ → Bᵀ Aᵀ"""
    if isinstance(n.arg, MatMul):
        return B.matmul(*[B.transpose(f) for f in reversed(n.arg.factors)])
    return None


@rule(Transpose)
def transpose_of_sum(n: Transpose) -> Node | None:
    """(A + B)ᵀ → Aᵀ + Bᵀ"""
    if isinstance(n.arg, Add):
        return B.add(*[B.transpose(t) for t in n.arg.terms])
    return None


@rule(Transpose)
def transpose_of_hadamard(n: Transpose) -> Node | None:
    """(A ⊙ B)ᵀ → Aᵀ ⊙ Bᵀ  (c Aᵀ for a scalar c)"""
    if isinstance(n.arg, Mul):
        return B.mul(*[B.transpose(f) for f in n.arg.factors])
    return None


@rule(Transpose)
def transpose_of_symmetric(n: Transpose) -> Node | None:
    """Sᵀ → S  for S symmetric (declared, I, diag(v), S⁻¹, AᵀSA, …)"""
    return n.arg if is_symmetric(n.arg) else None


@rule(Transpose)
def transpose_of_structured(n: Transpose) -> Node | None:
    """broadcast(a)ᵀ → broadcast(aᵀ);  K₍r,c₎ᵀ → K₍c,r₎;  (A ⊗ B)ᵀ → Aᵀ ⊗ Bᵀ;  (A > B)ᵀ → (Aᵀ > Bᵀ);
    (𝟙ᵀA)ᵀ → Aᵀ𝟙"""
    a = n.arg
    if isinstance(a, Sum) and a.axis is not None:
        return Sum(B.transpose(a.arg), 1 - a.axis)
    if isinstance(a, Broadcast):
        return B.broadcast(B.transpose(a.arg), a.target.T)
    if isinstance(a, Commutation):
        return Commutation(a.c, a.r)
    if isinstance(a, Kron):
        return Kron(B.transpose(a.left), B.transpose(a.right))
    if isinstance(a, Compare) and not a.left.shape.is_matrix and not a.right.shape.is_matrix:
        return Compare(a.op, B.transpose(a.left), B.transpose(a.right))
    return None


@rule(Inverse)
def inverse_rules(n: Inverse) -> Node | None:
    """(X⁻¹)⁻¹ → X;  (Xᵀ)⁻¹ → (X⁻¹)ᵀ;  I⁻¹ → I;  (c X)⁻¹ → c⁻¹ X⁻¹"""
    a = n.arg
    if isinstance(a, Inverse):
        return a.arg
    if isinstance(a, Transpose):
        return B.transpose(Inverse(a.arg))
    if isinstance(a, Mul) and len(a.factors) > 2 and sum(not f.shape.is_scalar for f in a.factors) == 1:
        # (2πS)⁻¹ → (2π)⁻¹ S⁻¹
        m = next(f for f in a.factors if not f.shape.is_scalar)
        return B.mul(B.reciprocal(B.mul(*[f for f in a.factors if f.shape.is_scalar])), Inverse(m))
    if isinstance(a, Identity):
        return a
    if isinstance(a, Mul) and len(a.factors) == 2 and a.factors[0].shape.is_scalar:
        return B.mul(B.reciprocal(a.factors[0]), Inverse(a.factors[1]))
    return None


@rule(Det)
def det_rules(n: Det) -> Node | None:
    """det(Xᵀ) → det(X);  det(X⁻¹) → det(X)⁻¹;  det(I) → 1;  det(XX…X) → det(X)ᵏ"""
    a = n.arg
    if isinstance(a, Transpose):
        return Det(a.arg)
    if isinstance(a, Inverse):
        return B.reciprocal(Det(a.arg))
    if isinstance(a, Identity):
        return B.ONE
    if isinstance(a, MatMul) and all(f is a.factors[0] for f in a.factors):
        return B.power(rebuild(Det(a.factors[0])), Const(len(a.factors)))
    return None


@rule(LogDet)
def logdet_rules(n: LogDet) -> Node | None:
    """logdet(Xᵀ) → logdet(X);  logdet(X⁻¹) → −logdet(X);  logdet(XX…X) → k logdet(X)"""
    a = n.arg
    if isinstance(a, Transpose):
        return LogDet(a.arg)
    if isinstance(a, Inverse):
        return B.neg(LogDet(a.arg))
    if isinstance(a, MatMul) and all(f is a.factors[0] for f in a.factors) and len(a.factors) % 2 == 1:
        # an odd power: det(X^k) > 0 needs det(X) > 0 (an even one would need only det(X) ≠ 0)
        return B.mul(Const(len(a.factors)), rebuild(LogDet(a.factors[0])))
    return None


# ================================================================ the matrix exponential


@rule(Det)
def det_of_expm(n: Det) -> Node | None:
    """det(e^A) → e^{tr A}"""
    if isinstance(n.arg, Expm):
        return Apply(EXP, (Trace(n.arg.arg),))
    return None


@rule(LogDet)
def logdet_of_expm(n: LogDet) -> Node | None:
    """logdet(e^A) → tr A"""
    if isinstance(n.arg, Expm):
        return Trace(n.arg.arg)
    return None


def _matrix_part(x: Node) -> Node:
    """c₁ c₂ M → M: the one non-scalar factor of a scaled matrix (x itself otherwise)."""
    if isinstance(x, Mul):
        arr = [f for f in x.factors if not f.shape.is_scalar]
        if len(arr) == 1:
            return arr[0]
    return x


def commutes_with(f: Node, a: Node) -> bool:
    """F A = A F is certain: F is a scalar multiple of I, of A, of e^A or A⁻¹, or a product or
    sum of such (the polynomials and power series in A)."""
    if f.shape.is_scalar or isinstance(f, Identity):
        return True
    f, a = _matrix_part(f), _matrix_part(a)
    if f is a or isinstance(f, Identity):
        return True
    if isinstance(f, (Expm, Inverse)):
        return commutes_with(f.arg, a)
    if isinstance(f, MatMul):
        return all(commutes_with(g, a) for g in f.factors)
    if isinstance(f, Add):
        return all(commutes_with(t, a) for t in f.terms)
    return False


@rule(Expm)
def expm_of_transpose(n: Expm) -> Node | None:
    """e^{Aᵀ} → (e^A)ᵀ  (one form, so that like terms meet)"""
    if isinstance(n.arg, Transpose):
        return B.transpose(Expm(n.arg.arg))
    return None


@rule(ExpmFrechet)
def expm_frechet_commuting(n: ExpmFrechet) -> Node | None:
    """L(A, E) → E e^A when E commutes with A (d e^{tA} = A e^{tA} dt)"""
    if commutes_with(n.direction, n.arg):
        return B.matmul(n.direction, Expm(n.arg))
    return None


@rule(Trace)
def trace_of_expm_frechet(n: Trace) -> Node | None:
    """tr(F L(A, E)) → tr(F e^A E) when F commutes with A (tr L(A, dA) = tr(e^A dA))"""
    a = n.arg
    fs = a.factors if isinstance(a, MatMul) else (a,)
    for k, f in enumerate(fs):
        if isinstance(f, ExpmFrechet):
            rest = fs[k + 1 :] + fs[:k]  # the trace is cyclic: L(A, E) F₁ … Fₖ
            if all(commutes_with(g, f.arg) for g in rest):
                return Trace(B.matmul(*rest, Expm(f.arg), f.direction))
        if isinstance(f, Add) and len(fs) > 1 and any(isinstance(x, ExpmFrechet) for x in walk(f)):
            # tr(F (L(A, E) + G)): a common factor taken out hid L(A, E) from this rule
            return B.add(*[Trace(B.matmul(*fs[:k], t, *fs[k + 1 :])) for t in f.terms])
    return None


@rule(Transpose)
def transpose_of_expm(n: Transpose) -> Node | None:
    """L(A, E)ᵀ → L(Aᵀ, Eᵀ)  (so that a trace can see it)"""
    if isinstance(n.arg, ExpmFrechet):
        return ExpmFrechet(B.transpose(n.arg.arg), B.transpose(n.arg.direction))
    return None


# ================================================================ matrix products


def _is_ones_row(n: Node) -> bool:
    return isinstance(n, Ones) and n.shape.rows.is_one


def _is_ones_col(n: Node) -> bool:
    return isinstance(n, Ones) and n.shape.cols.is_one


def _pairwise(fn: Callable[[Node, Node], Node | None]) -> Rule:
    """Lift a rule on two adjacent factors of a product to the whole product."""

    def apply(n: Node) -> Node | None:
        fs = n.factors
        for i in range(len(fs) - 1):
            r = fn(fs[i], fs[i + 1])
            if r is not None:
                return B.matmul(*fs[:i], r, *fs[i + 2 :])
        return None

    apply.__name__ = fn.__name__
    apply.__doc__ = fn.__doc__
    return apply


@rule(MatMul)
def scalars_in_front(n: MatMul) -> Node | None:
    """A (c B) → c (A B)  for a scalar c;  A (c𝟙) → c (A𝟙)"""
    fs = n.factors
    for i, f in enumerate(fs):
        if isinstance(f, Broadcast) and f.arg.shape.is_scalar and not B.is_one(f.arg):
            return B.mul(f.arg, B.matmul(*fs[:i], B.ones(f.shape), *fs[i + 1 :]))
        if isinstance(f, Mul):
            sc = [x for x in f.factors if x.shape.is_scalar]
            if sc:
                rest = B.mul(*[x for x in f.factors if not x.shape.is_scalar])
                return B.mul(*sc, B.matmul(*fs[:i], rest, *fs[i + 1 :]))
    return None


@rule(MatMul)
def sign_out_of_factor(n: MatMul) -> Node | None:
    """A (−B − C) → −A (B + C)  (a factor whose terms are all negative gives up its sign)"""
    for i, f in enumerate(n.factors):
        if isinstance(f, Add) and all(split_coef(t)[0] < 0 for t in f.terms):
            fs = n.factors
            return B.mul(Const(-1), B.matmul(*fs[:i], _negated_terms(f), *fs[i + 1 :]))
    return None


@rule(MatMul)
def scalar_subchain(n: MatMul) -> Node | None:
    """A b cᵀ D → (cᵀ D) A b … : a 1×1 stretch of a product is a scalar and moves in front"""
    fs = n.factors
    for i in range(len(fs)):
        if not fs[i].shape.rows.is_one or (i == 0 and len(fs) == 1):
            continue
        for j in range(i + 1, len(fs)):
            if fs[j].shape.cols.is_one:
                if i == 0 and j == len(fs) - 1:
                    break
                return B.mul(B.matmul(*fs[i : j + 1]), B.matmul(*fs[:i], *fs[j + 1 :]))
    return None


@_pairwise
def diag_times_vector(a: Node, b: Node) -> Node | None:
    """diag(u) v → u ⊙ v;  vᵀ diag(u) → (u ⊙ v)ᵀ;  diag(u) diag(v) → diag(u ⊙ v);  diag(u) 𝟙 → u;  𝟙ᵀ diag(u) → uᵀ"""
    if isinstance(a, Diag) and isinstance(b, Diag):
        return Diag(B.mul(a.arg, b.arg))
    if isinstance(a, Diag) and b.shape.cols.is_one:
        return a.arg if _is_ones_col(b) else B.mul(a.arg, b)
    if isinstance(b, Diag) and a.shape.rows.is_one:
        return B.transpose(b.arg) if _is_ones_row(a) else B.transpose(B.mul(b.arg, B.transpose(a)))
    return None


@_pairwise
def ones_product_is_sum(a: Node, b: Node) -> Node | None:
    """𝟙ᵀ X → sum(X, 0);  X 𝟙 → sum(X, 1);  𝟙ᵀ x → sum(x);  (𝟙𝟙ᵀ) y → sum(y) 𝟙"""
    if isinstance(a, Ones) and not a.shape.rows.is_one and not a.shape.cols.is_one and b.shape.cols.is_one and not isinstance(b, Ones):
        return B.mul(Sum(b), Ones(Shape(a.shape.rows, ONE_DIM)))
    if isinstance(b, Ones) and not b.shape.rows.is_one and not b.shape.cols.is_one and a.shape.rows.is_one and not isinstance(a, Ones):
        return B.mul(Sum(a), Ones(Shape(ONE_DIM, b.shape.cols)))
    if _is_ones_row(a) and not isinstance(b, Ones):
        return Sum(b) if b.shape.cols.is_one else Sum(b, 0)
    if _is_ones_col(b) and not isinstance(a, Ones):
        return Sum(a) if a.shape.rows.is_one else Sum(a, 1)
    if _is_ones_row(a) and _is_ones_col(b):
        return DimValue(a.shape.cols)
    return None


@_pairwise
def inverse_cancels(a: Node, b: Node) -> Node | None:
    """X⁻¹ X → I;  X X⁻¹ → I;  X⁻ᵀ Xᵀ → I;  Xᵀ X⁻ᵀ → I"""
    def inv_of(x: Node) -> Node | None:
        if isinstance(x, Inverse):
            return x.arg
        if isinstance(x, Transpose) and isinstance(x.arg, Inverse):
            return B.transpose(x.arg.arg)
        return None

    if inv_of(a) is not None and inv_of(a) == b:
        return Identity(b.shape.cols)
    if inv_of(b) is not None and inv_of(b) == a:
        return Identity(a.shape.rows)
    return None


def _term_key(n: Node) -> frozenset[tuple[Fraction, Node]] | None:
    """A column sum's terms as {(coefficient, term)}; a row sum's (or a transposed sum's)
    as those of its transpose, so that u and vᵀ compare as columns."""
    if isinstance(n, Transpose) and isinstance(n.arg, Add):
        n = n.arg
    elif isinstance(n, Add) and n.shape.rows.is_one:
        n = _trial(B.add(*[B.transpose(t) for t in n.terms], shape=n.shape.T))
    if not isinstance(n, Add):
        return None
    return frozenset(split_coef(t) for t in n.terms)


def _in_outer_square(fs: tuple[Node, ...], i: int) -> bool:
    """Whether fs[i] is u or uᵀ in a product's u uᵀ, u a sum (negating it would split the square)."""
    f = fs[i]
    if not isinstance(f, (Add, Transpose)):
        return False
    pair = (f, fs[i + 1]) if f.shape.cols.is_one and i + 1 < len(fs) else (fs[i - 1], f) if f.shape.rows.is_one and i > 0 else None
    if pair is None or not isinstance(pair[0], Add) or not isinstance(pair[1], (Add, Transpose)):
        return False
    key = _term_key(pair[0])
    return key is not None and key == _term_key(pair[1])


def _oriented(u: Add) -> Node:
    """``u`` or its negation, whichever is the user's (or the textbook's: Ax − b) orientation."""
    neg = _trial(_negated_terms(u))
    sums = _state().sums
    if u in sums or not isinstance(neg, Add):
        return u
    if neg in sums or (_led_by_constant(neg) and not _led_by_constant(u)):
        return neg
    return u


@_pairwise
def opposite_outer_product(a: Node, b: Node) -> Node | None:
    """(a − x)(xᵀ − aᵀ) → −(x − a)(x − a)ᵀ: a column sum times the transpose of its negation"""
    if not (isinstance(a, Add) and a.shape.cols.is_one and not a.shape.rows.is_one and b.shape.rows.is_one):
        return None
    if not (isinstance(b, Add) or (isinstance(b, Transpose) and isinstance(b.arg, Add))) or not _may_try(b):
        return None
    mine, theirs = _term_key(a), _term_key(b)
    if mine is None or theirs != frozenset((-c, t) for c, t in mine):
        return None
    w = _oriented(a)
    return B.neg(B.matmul(w, B.transpose(w)))


@rule(MatMul)
def diag_times_column(n: MatMul) -> Node | None:
    """diag(u) A x → u ⊙ (A x);  yᵀ A diag(u) → (u ⊙ (Aᵀy))ᵀ: a diagonal matrix times a
    column is elementwise (d(diag(x) A x) = (Ax) ⊙ dx, so the Jacobian is diag(Ax) + diag(x)A)"""
    fs = n.factors
    if fs[-1].shape.cols.is_one:
        for i, f in enumerate(fs[:-2]):
            if isinstance(f, Diag):
                return B.matmul(*fs[:i], B.mul(f.arg, B.matmul(*fs[i + 1 :])))
    if fs[0].shape.rows.is_one:
        for i in range(len(fs) - 1, 1, -1):
            if isinstance(fs[i], Diag):
                row = B.matmul(*fs[:i])
                return B.matmul(B.transpose(B.mul(fs[i].arg, B.transpose(row))), *fs[i + 1 :])
    return None


@rule(MatMul)
def inverse_cancels_product(n: MatMul) -> Node | None:
    """A B (AB)⁻¹ → I;  (AB)⁻¹ A B → I;  (AB)⁻ᵀ Bᵀ Aᵀ → I: a product next to its own inverse,
    as in the hat matrix, X(XᵀX)⁻¹XᵀX(XᵀX)⁻¹Xᵀ → X(XᵀX)⁻¹Xᵀ"""
    fs = n.factors
    for i, f in enumerate(fs):
        if isinstance(f, Inverse) and isinstance(f.arg, MatMul):
            run = f.arg.factors
        elif isinstance(f, Transpose) and isinstance(f.arg, Inverse) and isinstance(f.arg.arg, MatMul):
            run = tuple(B.transpose(x) for x in reversed(f.arg.arg.factors))
        else:
            continue
        k = len(run)
        if fs[i + 1 : i + 1 + k] == run:
            return B.matmul(*fs[:i], Identity(f.shape.rows), *fs[i + 1 + k :])
        if i >= k and fs[i - k : i] == run:
            return B.matmul(*fs[: i - k], Identity(f.shape.rows), *fs[i + 1 :])
    return None


@rule(MatMul)
def split_inverse_of_product(n: MatMul) -> Node | None:
    """A (AXB)⁻¹ → X⁻¹ B⁻¹... : the inverse of a product of square matrices is the product of
    their inverses, reversed (each is invertible, since the product is); kept when factors
    then cancel, as in Aᵀ(AXB)⁻ᵀBᵀ → X⁻ᵀ"""
    fs = n.factors
    for i, f in enumerate(fs):
        inner, transposed = (f.arg, True) if isinstance(f, Transpose) else (f, False)
        if not (isinstance(inner, Inverse) and isinstance(inner.arg, MatMul)):
            continue
        parts = inner.arg.factors
        if not all(p.shape.is_square for p in parts):
            continue
        split = B.matmul(*[Inverse(p) for p in reversed(parts)])
        if transposed:
            split = B.transpose(split)
        r = _try(n, lambda split=split, i=i: B.matmul(*fs[:i], split, *fs[i + 1 :]))
        if r is not None:
            return r
    return None


@_pairwise
def kron_mixed_product(a: Node, b: Node) -> Node | None:
    """(A ⊗ B)(C ⊗ D) → AC ⊗ BD;  (u ⊗ B) D → u ⊗ BD (u a column);  (Bᵀ ⊗ A) vec(C) → vec(A C B);  K vec(X) → vec(Xᵀ);  diag(vec A) vec(C) → vec(A ⊙ C)"""
    if isinstance(a, Kron) and isinstance(b, Kron):
        if a.left.shape.cols == b.left.shape.rows and a.right.shape.cols == b.right.shape.rows:
            return _kron(B.matmul(a.left, b.left), B.matmul(a.right, b.right))
    # a factor beside u ⊗ B, u a column (row), is 1 ⊗ D: (x ⊗ I) D (xᵀ ⊗ I) → (xxᵀ) ⊗ D
    if isinstance(a, Kron) and not isinstance(b, (Kron, Vec)) and a.left.shape.cols.is_one and a.right.shape.cols == b.shape.rows:
        return _kron(a.left, B.matmul(a.right, b))
    if isinstance(b, Kron) and not isinstance(a, (Kron, Vec)) and b.left.shape.rows.is_one and a.shape.cols == b.right.shape.rows:
        return _kron(b.left, B.matmul(a, b.right))
    if isinstance(a, Kron) and isinstance(b, Vec):
        c = b.arg
        if a.right.shape.cols == c.shape.rows and a.left.shape.cols == c.shape.cols:
            return _vec(B.matmul(a.right, c, B.transpose(a.left)))
    if isinstance(a, Commutation) and isinstance(b, Vec) and b.arg.shape.rows == a.r:
        return _vec(B.transpose(b.arg))
    if isinstance(a, Diag) and isinstance(a.arg, Vec) and isinstance(b, Vec) and a.arg.arg.shape == b.arg.shape:
        return _vec(B.mul(a.arg.arg, b.arg))
    return None


def _kron(a: Node, b: Node) -> Node:
    if a.shape.is_scalar or b.shape.is_scalar:
        return B.mul(a, b)
    if isinstance(a, Identity) and isinstance(b, Identity):
        return Identity(a.n * b.n)
    return Kron(a, b)


def _vec(x: Node) -> Node:
    if x.shape.cols.is_one:
        return x
    if x.shape.rows.is_one:
        return B.transpose(x)
    return Vec(x)


for _r in (diag_times_vector, ones_product_is_sum, inverse_cancels, kron_mixed_product, opposite_outer_product):
    RULES[MatMul].append(_r)


@rule(MatMul)
def inner_product_as_sum(n: MatMul) -> Node | None:
    """aᵀ b → sum(a ⊙ b), kept only when that cancels something (sᵀ(y ⊙ s⁻¹) → sum(y))"""
    if len(n.factors) != 2 or not n.shape.is_scalar:
        return None
    a, b = n.factors
    if not (isinstance(a, Mul) or isinstance(b, Mul) or isinstance(B.transpose(a), Mul)):
        return None
    return _try(n, lambda: Sum(B.mul(B.transpose(a), b)))


# ================================================================ kron


@rule(Commutation)
def commutation_of_a_vector(n: Commutation) -> Node | None:
    """K₍1,n₎ = K₍n,1₎ = I"""
    if n.r.is_one or n.c.is_one:
        return Identity(n.r * n.c)
    return None


@rule(MatMul)
def inner_product_of_opposites(n: MatMul) -> Node | None:
    """(xᵀ − mᵀ)(m − x) → −‖m − x‖²: an inner product of a difference and its negation"""
    if len(n.factors) != 2 or not n.shape.is_scalar:
        return None
    row, col = n.factors
    if not (isinstance(row, Add) and isinstance(col, Add) and col.shape.is_vector):
        return None
    u = _elementwise_transpose(row)
    if not _opposite(u, col):
        return None
    # as −‖u‖²: the inner product of u with itself would be rewritten back into the opposites
    return B.neg(B.power(Norm(col, 2), Const(2)))


@rule(MatMul)
def inner_product_order(n: MatMul) -> Node | None:
    """bᵀa → aᵀb for vectors, in one canonical order (so a·x + x·a collects to 2a·x)"""
    if len(n.factors) != 2 or not n.shape.is_scalar:
        return None
    a, b = n.factors
    if not (isinstance(a, Transpose) and a.arg.shape.is_vector and b.shape.is_vector):
        return None
    if tree_size(a.arg) > 30 or tree_size(b) > 30:
        return None
    if (tree_size(b), _order_text(b)) < (tree_size(a.arg), _order_text(a.arg)):
        return B.matmul(B.transpose(b), a.arg)
    return None


def _order_text(n: Node) -> str:
    """A text that orders nodes: the ASCII form, or (after every ASCII form) the Unicode one
    when the input language cannot write a size in it (ones(m·n))."""
    from .errors import UnsupportedError
    from .printing.text import to_ascii, to_text

    try:
        return to_ascii(n)
    except UnsupportedError:
        return "\uffff" + to_text(n)


@rule(Add)
def kron_common_factor(n: Add) -> Node | None:
    """A ⊗ B + A ⊗ C → A ⊗ (B + C)  (and B ⊗ A + C ⊗ A → (B + C) ⊗ A), the coefficients kept"""
    krons = [(i, *split_coef(t)) for i, t in enumerate(n.terms)]
    krons = [(i, c, k) for i, c, k in krons if isinstance(k, Kron)]
    for side in ("left", "right"):
        groups: dict[Node, list[tuple[int, Fraction, Kron]]] = {}
        for i, c, k in krons:
            groups.setdefault(getattr(k, side), []).append((i, c, k))
        for common, members in groups.items():
            if len(members) < 2:
                continue
            other = "right" if side == "left" else "left"
            inner = B.add(*[B.mul(Const(c), getattr(k, other)) for _, c, k in members])
            merged = _kron(common, inner) if side == "left" else _kron(inner, common)
            used = {i for i, _, _ in members}
            return B.add(*[t for i, t in enumerate(n.terms) if i not in used], merged, shape=n.shape)
    return None


@rule(MatMul)
@_pairwise
def kron_into_vec_terms(a: Node, b: Node) -> Node | None:
    """(xᵀ ⊗ I)(vec(M) xᵀ + …) → Mx xᵀ + …: a Kronecker product distributed over a sum whose
    terms start with vec(·), where the vec trick then applies (kept when smaller)"""
    if not (isinstance(a, Kron) and isinstance(b, Add) and _vec_led(b)):
        return None
    return _try(B.matmul(a, b), lambda: B.add(*[B.matmul(a, t) for t in b.terms]))


def _vec_led(t: Node) -> bool:
    """vec(M), vec(M) xᵀ, a scalar times one, or a sum of them."""
    if isinstance(t, Mul):
        rest = [f for f in t.factors if not f.shape.is_scalar]
        return len(rest) == 1 and _vec_led(rest[0])
    if isinstance(t, Add):
        return all(_vec_led(u) for u in t.terms)
    return isinstance(t.factors[0] if isinstance(t, MatMul) else t, Vec)


@rule(Kron)
def kron_rules(n: Kron) -> Node | None:
    """I ⊗ I → I;  (c A) ⊗ B → c (A ⊗ B);  u ⊗ vᵀ → uvᵀ;  u ⊗ (vᵀ ⊗ C) → (uvᵀ) ⊗ C  (u, v columns)"""
    a, b = n.left, n.right
    if isinstance(a, Identity) and isinstance(b, Identity):
        return Identity(a.n * b.n)
    if a.shape.cols.is_one and b.shape.rows.is_one:  # a column times a row, side by side
        return B.matmul(a, b)
    if a.shape.cols.is_one and isinstance(b, Kron) and b.left.shape.rows.is_one:
        return _kron(B.matmul(a, b.left), b.right)
    for x, other, left in ((a, b, True), (b, a, False)):
        if isinstance(x, Mul) and isinstance(x.factors[0], Const):
            c, rest = split_coef(x)
            return B.mul(Const(c), Kron(rest, other) if left else Kron(other, rest))
    return None


@rule(MatMul)
@_pairwise
def vec_trick(a: Node, b: Node) -> Node | None:
    """(A ⊗ B) vec(C) → vec(B C Aᵀ);  vec(C)ᵀ (A ⊗ B) → vec(Bᵀ C A)ᵀ  (kept when smaller)"""
    if isinstance(a, Kron) and isinstance(b, Vec) and (a.right.shape.cols, a.left.shape.cols) == (b.arg.shape.rows, b.arg.shape.cols):
        new = Vec(B.matmul(a.right, b.arg, B.transpose(a.left)))
    elif (
        isinstance(a, Transpose)
        and isinstance(a.arg, Vec)
        and isinstance(b, Kron)
        and (b.right.shape.rows, b.left.shape.rows) == (a.arg.arg.shape.rows, a.arg.arg.shape.cols)
    ):
        new = B.transpose(Vec(B.matmul(B.transpose(b.right), a.arg.arg, b.left)))
    else:
        return None
    return _try(B.matmul(a, b), lambda: new)


@rule(Vec)
def vec_rules(n: Vec) -> Node | None:
    """vec(c A) → c vec(A)  (sums go the other way: vec(A) + vec(B) → vec(A + B))"""
    a = n.arg
    if isinstance(a, Mul) and isinstance(a.factors[0], Const):
        c, rest = split_coef(a)
        return B.mul(Const(c), _vec(rest))
    return None


@rule(Unvec)
def unvec_rules(n: Unvec) -> Node | None:
    """unvec(vec(X)) → X;  unvec(c vec(X)) → c X;  unvec(A + B) → unvec(A) + unvec(B) (when every
    term then loses its vec)"""
    a = n.arg
    if a.shape == n.shape:
        return a
    if isinstance(a, Add):
        terms = [_unvec_term(t, n.shape) for t in a.terms]
        return B.add(*terms, shape=n.shape) if all(t is not None for t in terms) else None
    return _unvec_term(a, n.shape)


def _unvec_term(t: Node, shape: Shape) -> Node | None:
    """unvec(c vec(X)) = c X for scalar factors c (unvec is linear), or None."""
    fs = t.factors if isinstance(t, Mul) else (t,)
    scalars = [f for f in fs if f.shape.is_scalar]
    rest = [f for f in fs if not f.shape.is_scalar]
    if len(rest) == 1 and isinstance(rest[0], Vec) and rest[0].arg.shape == shape:
        return B.mul(*scalars, rest[0].arg)
    return None


@rule(Diag)
def diag_rules(n: Diag) -> Node | None:
    """diag(c v) → c diag(v) (c any scalar);  diag(𝟙) → I;  diag(c 𝟙) → c I"""
    a = n.arg
    if isinstance(a, Ones):
        return Identity(a.shape.rows)
    if isinstance(a, Broadcast) and a.arg.shape.is_scalar:
        return B.mul(a.arg, Identity(a.shape.rows))
    if isinstance(a, Mul) and any(f.shape.is_scalar for f in a.factors):
        sc = [f for f in a.factors if f.shape.is_scalar]
        return B.mul(*sc, Diag(B.mul(*[f for f in a.factors if not f.shape.is_scalar])))
    return None


@rule(DiagPart)
def diagpart_rules(n: DiagPart) -> Node | None:
    """The diagonal of a matrix, diag(X):  diag(diag(v)) → v;  diag(Xᵀ) → diag(X);  diag(I) → 𝟙;
    diag(c X) → c diag(X);  diag(A u vᵀ B) → (A u) ⊙ (Bᵀ v);  diag(P 𝟙𝟙ᵀ) → P𝟙;  diag(𝟙𝟙ᵀ P) → Pᵀ𝟙;
    diag(diag(v) P) → v ⊙ diag(P);  diag(X + Y) → diag(X) + diag(Y) and
    diag(X ⊙ Y) → diag(X) ⊙ diag(Y) when smaller"""
    a = n.arg
    one = B.ones(n.shape)
    if isinstance(a, Diag):
        return a.arg
    if isinstance(a, Transpose):
        return DiagPart(a.arg)
    if isinstance(a, (Identity, Ones)):
        return one
    if isinstance(a, Broadcast):  # c𝟙𝟙ᵀ, v𝟙ᵀ, 𝟙vᵀ: the diagonal is c𝟙, v, v
        b = a.arg
        if b.shape.is_scalar:
            return B.broadcast(b, n.shape)
        if b.shape.cols.is_one and b.shape.rows == n.shape.rows:
            return b
        if b.shape.rows.is_one and b.shape.cols == n.shape.rows:
            return B.transpose(b)
    if isinstance(a, Mul):
        sc = [f for f in a.factors if f.shape.is_scalar]
        if sc:
            return B.mul(*sc, DiagPart(B.mul(*[f for f in a.factors if not f.shape.is_scalar])))
        if all(f.shape == a.shape for f in a.factors):
            return _try(n, lambda: B.mul(*[DiagPart(f) for f in a.factors]))
        return None
    if isinstance(a, Add):
        return _try(n, lambda: B.add(*[DiagPart(t) for t in a.terms], shape=n.shape))
    if isinstance(a, MatMul):
        fs = a.factors
        first, last = fs[0], fs[-1]
        for k in range(len(fs)):
            f = fs[k]
            if k and fs[k - 1].shape.cols.is_one:  # an outer product (A b)(cᵀ D): its diagonal is (A b) ⊙ (Dᵀ c)
                return B.mul(B.matmul(*fs[:k]), B.matmul(*[B.transpose(g) for g in reversed(fs[k:])]))
            if isinstance(f, Ones) and 0 < k < len(fs) - 1:  # A 𝟙𝟙ᵀ B likewise: (A𝟙) ⊙ (Bᵀ𝟙)
                left = B.matmul(*fs[:k], B.ones(Shape(f.shape.rows, ONE_DIM)))
                right = B.matmul(*[B.transpose(g) for g in reversed(fs[k + 1 :])], B.ones(Shape(f.shape.cols, ONE_DIM)))
                return B.mul(left, right)
        if isinstance(last, Ones):  # (P J)ᵢᵢ = Σₖ Pᵢₖ
            return B.matmul(*fs[:-1], B.ones(Shape(last.shape.rows, ONE_DIM)))
        if isinstance(first, Ones):  # (J P)ᵢᵢ = Σₖ Pₖᵢ
            return B.matmul(B.transpose(B.matmul(*fs[1:])), B.ones(Shape(first.shape.cols, ONE_DIM)))
        if isinstance(first, Diag):
            return B.mul(first.arg, DiagPart(B.matmul(*fs[1:])))
        if isinstance(last, Diag):
            return B.mul(DiagPart(B.matmul(*fs[:-1])), last.arg)
    return None


# ================================================================ elementwise products


@rule(Mul)
def collect_powers(n: Mul) -> Node | None:
    """A^p ⊙ A^q → A^(p+q);  A ⊙ A⁻¹ → 𝟙  (for A ≠ 0, as every CAS does)"""
    groups: dict[Node, list[Node]] = {}
    order: list[Node] = []
    for f in n.factors:
        base, exp = (f.base, f.exponent) if isinstance(f, Pow) else (f, B.ONE)
        if base not in groups:
            groups[base] = []
            order.append(base)
        groups[base].append(exp)
    if all(len(v) == 1 for v in groups.values()):
        return None
    out = []
    for base in order:
        exps = groups[base]
        e = B.add(*exps) if len(exps) > 1 else exps[0]
        if B.is_zero(e):
            continue
        out.append(B.power(base, e))
    if not any(not f.shape.is_scalar for f in out) and not n.shape.is_scalar:
        out.append(B.ones(n.shape))
    return B.mul(*out) if out else B.ones(n.shape)


def _squared_norm_of(f: Node) -> Node | None:
    """u for uᵀu, tr(UᵀU) or sum(U²) (all ‖U‖²)."""
    if isinstance(f, MatMul) and len(f.factors) == 2 and isinstance(f.factors[0], Transpose):
        if f.factors[0].arg is f.factors[1] and f.factors[1].shape.cols.is_one:
            return f.factors[1]
    if isinstance(f, Trace) and isinstance(f.arg, MatMul) and len(f.arg.factors) == 2:
        a, b = f.arg.factors
        if isinstance(a, Transpose) and a.arg is b:
            return b
    if isinstance(f, Sum) and f.axis is None and isinstance(f.arg, Pow) and f.arg.exponent is B.TWO:
        return f.arg.base
    return None


@rule(Mul)
def squares_beside_norms(n: Mul) -> Node | None:
    """(x·x)‖x‖ᵏ → ‖x‖ᵏ⁺²  (also tr(XᵀX) and sum(X²) beside ‖X‖): (x·x)/‖x‖³ = 1/‖x‖"""
    normed = set()
    for f in n.factors:
        base = f.base if isinstance(f, Pow) and isinstance(f.exponent, Const) else f
        if isinstance(base, Norm) and base.p == 2:
            normed.add(base.arg)
    if not normed:
        return None
    out, changed = [], False
    for f in n.factors:
        base, k = (f.base, f.exponent) if isinstance(f, Pow) and isinstance(f.exponent, Const) else (f, B.ONE)
        u = _squared_norm_of(base)
        if u is not None and u in normed:
            out.append(B.power(Norm(u, 2), Const(2 * k.value)))
            changed = True
        else:
            out.append(f)
    return B.mul(*out) if changed else None


@rule(Mul)
def radical_powers(n: Mul) -> Node | None:
    """a ⊙ (√a)⁻¹ → √a;  a^p ⊙ (√a)^q → (√a)^(2p + q)  (where √a is defined, a > 0):
    ∂√det(S)/∂S reads √det(S) S⁻¹/2, not det(S) S⁻¹/(2√det(S))"""
    plain: dict[Node, tuple[int, Fraction]] = {}
    roots: dict[Node, tuple[int, Fraction]] = {}
    for i, f in enumerate(n.factors):
        base, e = (f.base, f.exponent) if isinstance(f, Pow) else (f, B.ONE)
        if not isinstance(e, Const):
            continue
        if isinstance(base, Apply) and base.fn is SQRT:
            roots[base.args[0]] = (i, e.value)
        elif not isinstance(base, Const):  # (√2 with 2: constant_radicals)
            plain[base] = (i, e.value)
    for a, (j, q) in roots.items():
        if a in plain:
            i, p = plain[a]
            total = 2 * p + q  # in powers of √a
            rest = [f for k, f in enumerate(n.factors) if k not in (i, j)]
            if total == 0:
                return B.mul(*rest, B.ones(n.shape)) if rest else B.ones(n.shape)
            root = Apply(SQRT, (a,))
            return B.mul(*rest, root if total == 1 else B.power(a, Const(total / 2)) if total % 2 == 0 else B.power(root, Const(total)))
    return None


def _positive_constant(n: Node) -> bool:
    if isinstance(n, Const):
        return n.value > 0
    if isinstance(n, Pi):
        return True
    if isinstance(n, Mul):
        return all(_positive_constant(f) for f in n.factors)
    if isinstance(n, Pow):
        return isinstance(n.exponent, Const) and _positive_constant(n.base)
    return isinstance(n, Apply) and n.fn is SQRT and _positive_constant(n.args[0])


def _radical(f: Node) -> tuple[Node, Fraction] | None:
    """(k, e) for a factor kᵉ, k a positive constant and e not an integer (√2 is (2, 1/2))."""
    if isinstance(f, Apply) and f.fn is SQRT:
        base, e = f.args[0], Fraction(1, 2)
    elif isinstance(f, Pow) and isinstance(f.exponent, Const):
        base, e = f.base, f.exponent.value
        if isinstance(base, Apply) and base.fn is SQRT:
            base, e = base.args[0], e / 2
    else:
        return None
    if e.denominator == 1 or not _positive_constant(base):
        return None
    return base, e


@rule(Mul)
def constant_radicals(n: Mul) -> Node | None:
    """√a √b → √(ab), aᵉ bᵉ → (ab)ᵉ for positive constants a, b:  1/(√π √2) → 1/√(2π)"""
    groups: dict[Fraction, list[int]] = {}
    radicals = [_radical(f) for f in n.factors]
    for i, r in enumerate(radicals):
        if r is not None:
            groups.setdefault(r[1], []).append(i)
    for e, idx in groups.items():
        if len(idx) < 2:
            continue
        base = B.mul(*[radicals[i][0] for i in idx])
        merged = Apply(SQRT, (base,)) if e == Fraction(1, 2) else B.power(base, Const(e))
        return B.mul(*[f for i, f in enumerate(n.factors) if i not in idx], merged)
    return None


@rule(Mul)
def sign_and_value(n: Mul) -> Node | None:
    """sign(a) ⊙ a → |a|;  sign(a) ⊙ |a|ᵏ → aᵏ for odd k (a⁻¹ for a ≠ 0, as A ⊙ A⁻¹ → 𝟙)

    The derivative of |a| is sign(a): d log|det X| = sign(det X) det(X) tr(X⁻¹dX)/|det X|,
    which is tr(X⁻¹dX)."""
    fs = n.factors
    for i, f in enumerate(fs):
        if not (isinstance(f, Apply) and f.fn is SIGN):
            continue
        a = f.args[0]
        for j, g in enumerate(fs):
            if g is a:
                new: Node = Apply(ABS, (a,))
            elif isinstance(g, Apply) and g.fn is ABS and g.args[0] is a:
                new = a
            elif (
                isinstance(g, Pow)
                and isinstance(g.base, Apply)
                and g.base.fn is ABS
                and g.base.args[0] is a
                and isinstance(g.exponent, Const)
                and g.exponent.value.denominator == 1
                and g.exponent.value.numerator % 2 == 1
            ):
                new = B.power(a, g.exponent)
            else:
                continue
            rest = [h for k, h in enumerate(fs) if k not in (i, j)]
            return B.mul(*rest, new)
    return None


@rule(Mul)
def scalar_broadcast_factor(n: Mul) -> Node | None:
    """broadcast(c) ⊙ A → c A;  𝟙 ⊙ A → A  (c a scalar)"""
    fs = n.factors
    nonscalar = [f for f in fs if not f.shape.is_scalar]
    for i, f in enumerate(fs):
        if isinstance(f, Broadcast) and f.arg.shape.is_scalar:
            rest = fs[:i] + fs[i + 1 :]
            if any(not g.shape.is_scalar for g in rest):
                return B.mul(f.arg, *rest)
            return B.mul(f.arg, *rest, Ones(f.shape))
        if isinstance(f, Ones) and len(nonscalar) > 1:
            return B.mul(*(fs[:i] + fs[i + 1 :]))
    return None


@rule(Mul)
def negation_into_factor(n: Mul) -> Node | None:
    """−(a − b) ⊙ C → (b − a) ⊙ C  (a sign absorbed where it costs nothing)"""
    if not (isinstance(n.factors[0], Const) and n.factors[0].value < 0):
        return None
    rest = n.factors[1:]
    for i, f in enumerate(rest):
        g = negate_cheaply(f) if not isinstance(f, Const) and not _led_by_constant(f) else None
        if g is not None:
            new = rest[:i] + (g,) + rest[i + 1 :]
            return B.mul(Const(-n.factors[0].value), *new)
    return None


@rule(Mul)
def logistic_pattern(n: Mul) -> Node | None:
    """exp(a) ⊙ (1 + exp(a))⁻¹ → σ(a);  exp(−a) ⊙ σ(a) → σ(−a);  exp(a)ᵖ ⊙ (1 + exp(a))⁻ᵏ → σ(a)ᵖ (1 − σ(a))ᵏ⁻ᵖ"""
    fs = n.factors
    exps = {g.args[0]: j for j, g in enumerate(fs) if isinstance(g, Apply) and g.fn is EXP}
    if not exps and not any(isinstance(g, Pow) and isinstance(g.base, Apply) and g.base.fn is EXP for g in fs):
        return None
    for i, f in enumerate(fs):
        if isinstance(f, Apply) and f.fn is SIGMOID:
            neg = B.neg(f.args[0])
            if neg not in exps:
                continue
            for j, g in enumerate(fs):
                if j != i and isinstance(g, Apply) and g.fn is EXP and g.args[0] == neg:
                    rest = [h for k, h in enumerate(fs) if k not in (i, j)]
                    return B.mul(*rest, Apply(SIGMOID, (neg,)))
    for i, f in enumerate(fs):
        if not (isinstance(f, Pow) and isinstance(f.exponent, Const) and isinstance(f.base, Add)):
            continue
        k = -f.exponent.value
        a = _one_plus_exp(f.base) if k >= 1 and k.denominator == 1 else None
        if a is None:
            continue
        for j, g in enumerate(fs):
            if j == i:
                continue
            # exp(a)^p ⊙ (1 + exp(a))^(−k) = σ(a)^p ⊙ (1 − σ(a))^(k − p), for 1 ≤ p ≤ k
            p = Fraction(1)
            if isinstance(g, Pow) and isinstance(g.exponent, Const):
                g, p = g.base, g.exponent.value
            if not (isinstance(g, Apply) and g.fn is EXP and g.args[0] == a and p.denominator == 1 and 1 <= p <= k):
                continue
            rest = [h for m, h in enumerate(fs) if m not in (i, j)]
            c, body = split_coef(a)
            if c < 0:  # σ(−z) = 1 − σ(z): shown with σ(z), as a textbook writes it
                z, up, down = B.mul(Const(-c), body), k - p, p
            else:
                z, up, down = a, p, k - p
            sz = Apply(SIGMOID, (z,))
            return B.mul(*rest, B.power(sz, Const(up)), B.power(B.sub(B.ONE, sz), Const(down)))
    return None


#: f(a) ⊙ g(a)⁻¹ → h(a): the quotients that have a name
_QUOTIENTS = ((SIN, COS, TAN), (SINH, COSH, TANH))


@rule(Mul)
def named_quotient(n: Mul) -> Node | None:
    """sin(a)/cos(a) → tan(a);  sinh(a)/cosh(a) → tanh(a);  exp(x)/sum(exp(x)) → softmax(x), also
    at the head or the end of a product (exp(x) yᵀ/sum(exp(x)), Aᵀ exp(x)/sum(exp(x)))"""
    fs = n.factors
    for i, f in enumerate(fs):
        if isinstance(f, Broadcast) and not f.shape.is_vector and isinstance(f.arg, Mul) and f.arg.shape.cols.is_one:
            # (c ⊙ 1/(exp(Z)𝟙))𝟙ᵀ ⊙ exp(Z) → (c𝟙ᵀ) ⊙ softmax(Z): a column of weights over the row totals
            for p in f.arg.factors:
                if isinstance(p, Pow) and isinstance(p.exponent, Const) and p.exponent.value == -1:
                    d = p.base
                    if isinstance(d, Sum) and d.axis == 1 and isinstance(d.arg, Apply) and d.arg.fn is EXP and d.arg in fs:
                        others = [q for q in f.arg.factors if q is not p]
                        rest = [h for k, h in enumerate(fs) if k != i and h is not d.arg]
                        return B.mul(*rest, B.broadcast(B.mul(*others), f.shape), Softmax(d.arg.args[0]))
        if isinstance(f, Broadcast) and not f.shape.is_vector:
            f = f.arg  # a column of row totals spread along the rows
        if not (isinstance(f, Pow) and isinstance(f.exponent, Const) and f.exponent.value == -1):
            continue
        d = f.base
        if isinstance(d, Broadcast) and not n.shape.is_vector:
            d = d.arg  # 1/(row totals spread along the rows)
        for j, g in enumerate(fs):
            if j != i and isinstance(g, MatMul) and isinstance(d, Sum) and d.axis is None and g.factors[0] is d.arg:
                # exp(z) xᵀ/sum(exp(z)) → softmax(z) xᵀ (the gradient of logsumexp(W x) by W)
                e = g.factors[0]
                if isinstance(e, Apply) and e.fn is EXP and e.shape.is_vector:
                    rest = [h for k, h in enumerate(fs) if k not in (i, j)]
                    return B.mul(*rest, B.matmul(Softmax(e.args[0]), *g.factors[1:]))
            if j != i and isinstance(g, MatMul) and isinstance(d, Sum) and d.axis is None and g.factors[-1] is d.arg:
                # Aᵀ exp(z)/sum(exp(z)) → Aᵀ softmax(z) (the gradient of logsumexp(A x) by x)
                e = g.factors[-1]
                if isinstance(e, Apply) and e.fn is EXP and e.shape.is_vector:
                    rest = [h for k, h in enumerate(fs) if k not in (i, j)]
                    return B.mul(*rest, B.matmul(*g.factors[:-1], Softmax(e.args[0])))
            if j == i or not isinstance(g, Apply):
                continue
            rest = [h for k, h in enumerate(fs) if k not in (i, j)]
            # row by row: exp(Z) ⊙ (1/(exp(Z)𝟙))𝟙ᵀ, NumPy's exp(Z)/exp(Z).sum(axis=1, keepdims=True)
            if g.fn is EXP and isinstance(d, Sum) and d.axis == 1 and d.arg is g and not g.shape.is_vector:
                return B.mul(*rest, Softmax(g.args[0]))
            for num, den, quotient in _QUOTIENTS:
                if g.fn is num and isinstance(d, Apply) and d.fn is den and d.args == g.args:
                    return B.mul(*rest, Apply(quotient, g.args))
            # the vector's own exponentials over their sum (a column vector: softmax's convention)
            if g.fn is EXP and isinstance(d, Sum) and d.axis is None and d.arg is g:
                a = g.args[0]
                if a.shape.is_vector:
                    return B.mul(*rest, Softmax(a))
    return None


@rule(Mul)
def outer_quotient(n: Mul) -> Node | None:
    """u vᵀ / c² → (u/c)(v/c)ᵀ when that is smaller (exp(x)exp(x)ᵀ/sum(exp(x))² → s sᵀ)"""
    fs = n.factors
    for i, f in enumerate(fs):
        if not (isinstance(f, Pow) and isinstance(f.exponent, Const) and f.exponent.value == -2 and f.base.shape.is_scalar):
            continue
        for j, g in enumerate(fs):
            if isinstance(g, MatMul) and len(g.factors) == 2 and isinstance(g.factors[1], Transpose):
                u, v = g.factors[0], g.factors[1].arg
                rest = [h for k, h in enumerate(fs) if k not in (i, j)]
                c = B.reciprocal(f.base)

                def candidate(u=u, v=v, rest=rest, c=c) -> Node:
                    return B.mul(*rest, B.matmul(B.mul(u, c), B.transpose(B.mul(v, c))))

                return _try(n, candidate)
    return None


@rule(MatMul)
@_pairwise
def diag_through_ones(a: Node, b: Node) -> Node | None:
    """diag(v)(I − 𝟙wᵀ) → diag(v) − v wᵀ;  (I − w𝟙ᵀ)diag(v) → diag(v) − w vᵀ  (diag(v)𝟙 = v)"""
    if isinstance(a, Diag) and isinstance(b, Add):
        terms = [_diag_then(a, t) for t in b.terms]
    elif isinstance(b, Diag) and isinstance(a, Add):
        terms = [_then_diag(t, b) for t in a.terms]
    else:
        return None
    if any(t is None for t in terms):
        return None
    return B.add(*terms, shape=a.shape if isinstance(a, Add) else b.shape)


def _diag_then(d: Diag, t: Node) -> Node | None:
    """diag(v) t, when t is c I or c 𝟙 X (so that it is c diag(v) or c v X), else None."""
    c, rest = split_coef(t)
    if isinstance(rest, Identity):
        return B.mul(Const(c), d)
    if isinstance(rest, MatMul) and _is_ones_col(rest.factors[0]):
        return B.mul(Const(c), B.matmul(d.arg, *rest.factors[1:]))
    return None


def _then_diag(t: Node, d: Diag) -> Node | None:
    """t diag(v), when t is c I or c X 𝟙ᵀ (so that it is c diag(v) or c X vᵀ), else None."""
    c, rest = split_coef(t)
    if isinstance(rest, Identity):
        return B.mul(Const(c), d)
    if isinstance(rest, MatMul) and _is_ones_row(rest.factors[-1]):  # 𝟙ᵀ is a row of ones
        return B.mul(Const(c), B.matmul(*rest.factors[:-1], B.transpose(d.arg)))
    return None


def _one_plus_exp(n: Add) -> Node | None:
    """a when n is 1 + exp(a) (or 𝟙 + exp(a))."""
    if len(n.terms) != 2:
        return None
    one, e = n.terms
    if not (B.is_one(one) or isinstance(one, Ones)):
        one, e = e, one
    if (B.is_one(one) or isinstance(one, Ones)) and isinstance(e, Apply) and e.fn is EXP:
        return e.args[0]
    return None


@rule(Pow)
def logistic_reciprocal(n: Pow) -> Node | None:
    """(1 + exp(−a))⁻¹ → σ(a)"""
    if isinstance(n.exponent, Const) and n.exponent.value == -1 and isinstance(n.base, Add):
        a = _one_plus_exp(n.base)
        if a is not None:
            c, rest = split_coef(a)
            if c < 0:
                return Apply(SIGMOID, (B.mul(Const(-c), rest),))
    return None


@rule(Pow)
def abs_even_power(n: Pow) -> Node | None:
    """|a|^k → a^k for an even integer k"""
    if isinstance(n.base, Apply) and n.base.fn is ABS and isinstance(n.exponent, Const):
        k = n.exponent.value
        if k.denominator == 1 and k.numerator % 2 == 0:
            return B.power(n.base.args[0], n.exponent)
    return None


_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">="}


@rule(Apply)
def exp_log_constants(n: Apply) -> Node | None:
    """log(exp(a)) → a;  exp(0) → 1, log(1) → 0 (with sin, tanh, … of 0 → 0)"""
    a = n.args[0] if len(n.args) == 1 else None
    if a is None:
        return None
    if n.fn is LOG and isinstance(a, Apply) and a.fn is EXP:
        return a.args[0]
    if B.is_zero(a) and n.fn in (EXP, COS, COSH):
        return B.ones(n.shape)
    if (B.is_one(a) or isinstance(a, Ones)) and n.fn is LOG:
        return B.zero(n.shape)
    if B.is_zero(a) and n.fn in (SIN, SINH, TAN, TANH):
        return B.zero(n.shape)
    return None


@rule(Mul)
def exp_cancels(n: Mul) -> Node | None:
    """exp(a) ⊙ exp(−a) → 𝟙"""
    fs = n.factors
    seen = {f.args[0]: i for i, f in enumerate(fs) if isinstance(f, Apply) and f.fn is EXP}
    for a, i in seen.items():
        j = seen.get(B.neg(a))
        if j is not None and j != i:
            rest = [f for k, f in enumerate(fs) if k not in (i, j)]
            return B.mul(*rest, B.ones(n.shape)) if rest else B.ones(n.shape)
    return None


@rule(Pow)
def power_of_exp(n: Pow) -> Node | None:
    """exp(c)^p → exp(c p) for a constant c: eˣ written np.e**x  (exp(a)² stays, for σ's patterns)"""
    if isinstance(n.base, Apply) and n.base.fn is EXP and isinstance(n.base.args[0], Const):
        return Apply(EXP, (B.mul(n.base.args[0], n.exponent),))
    return None


@rule(Apply)
def sqrt_of_square_sum(n: Apply) -> Node | None:
    """√(xᵀx) → ‖x‖;  √sum(X²) → ‖X‖;  √tr(XᵀX) → ‖X‖ (Euclidean / Frobenius)"""
    if n.fn is not SQRT:
        return None
    a = n.args[0]
    if isinstance(a, MatMul) and len(a.factors) == 2 and isinstance(a.factors[0], Transpose):
        u, v = a.factors[0].arg, a.factors[1]
        if u is v and u.shape.cols.is_one:
            return Norm(u, 2)
    if isinstance(a, (Sum, Trace)) and (not isinstance(a, Sum) or a.axis is None):
        x = a.arg
        if isinstance(a, Sum) and isinstance(x, Pow) and isinstance(x.exponent, Const) and x.exponent.value == 2:
            return Norm(x.base, 2)
        if isinstance(a, Trace) and isinstance(x, MatMul) and len(x.factors) == 2 and isinstance(x.factors[0], Transpose):
            if x.factors[0].arg is x.factors[1]:
                return Norm(x.factors[1], 2)
    return None


@rule(Compare)
def negated_comparison(n: Compare) -> Node | None:
    """(−a > 0) → (a < 0)  (leaky_relu's slope below zero)"""
    if B.is_zero(n.right):
        c, rest = split_coef(n.left)
        if c == -1:
            return Compare(_FLIPPED[n.op], rest, n.right)
    return None


def _constant_value(n: Node) -> Fraction | None:
    """The number a constant scalar or constant-filled array holds, else None."""
    if isinstance(n, Broadcast):
        n = n.arg
    if isinstance(n, Const):
        return n.value
    if isinstance(n, Zero):
        return Fraction(0)
    if isinstance(n, Ones):
        return Fraction(1)
    if isinstance(n, Mul) and len(n.factors) == 2 and isinstance(n.factors[0], Const) and isinstance(n.factors[1], Ones):
        return n.factors[0].value
    return None


@rule(Compare)
def clipped_comparison(n: Compare) -> Node | None:
    """(max(a, c) < d) → (a < d) and (min(a, c) > d) → (a > d) for constants with c < d
    (c > d): the derivative of clip(x, lo, hi) = min(max(x, lo), hi) is (x > lo) ⊙ (x < hi)"""
    left, d = n.left, _constant_value(n.right)
    if d is None or not isinstance(left, Apply) or left.fn not in (MAX, MIN):
        return None
    for k in (0, 1):
        c = _constant_value(left.args[k])
        if c is None:
            continue
        a = left.args[1 - k]
        below = n.op in ("<", "<=")
        if left.fn is MAX and below and (c < d or (c == d and n.op == "<=")):
            return Compare(n.op, a, n.right) if a.shape == n.shape else None
        if left.fn is MIN and not below and (c > d or (c == d and n.op == ">=")):
            return Compare(n.op, a, n.right) if a.shape == n.shape else None
    return None


@rule(Pow)
def indicator_power(n: Pow) -> Node | None:
    """(a > b)^k → (a > b) for k > 0: an indicator is 0 or 1.  (collect_powers has already
    turned (a > b) ⊙ (a > b) into (a > b)².)"""
    if isinstance(n.base, Compare) and isinstance(n.exponent, Const) and n.exponent.value > 0:
        return n.base
    return None


@rule(Mul)
def expand_product(n: Mul) -> Node | None:
    """A ⊙ (B + C) → A ⊙ B + A ⊙ C, kept only when the result is smaller"""
    if not any(isinstance(f, Add) for f in n.factors):
        return None
    return _try(n, lambda: _expand(n), margin=2)


def _expand(n: Node) -> Node:
    """Distribute elementwise products over sums (one level of each factor)."""
    if isinstance(n, Add):
        return B.add(*[_expand(t) for t in n.terms], shape=n.shape)
    if not isinstance(n, Mul):
        return n
    terms: list[list[Node]] = [[]]
    for f in n.factors:
        f = _expand(f) if isinstance(f, (Mul, Add)) else f
        if isinstance(f, Add):
            terms = [t + [g] for t in terms for g in f.terms]
            if len(terms) > 64:
                return n
        else:
            terms = [t + [f] for t in terms]
    return B.add(*[_fix_shape(B.mul(*t), n.shape) for t in terms], shape=n.shape)


def _fix_shape(x: Node, shape: Shape) -> Node:
    """A scalar term of a non-scalar sum is broadcast explicitly."""
    if x.shape == shape:
        return x
    return B.broadcast(x, shape)


# ================================================================ sums


@rule(Add)
def collect_like_terms(n: Add) -> Node | None:
    """a X + b X → (a + b) X"""
    groups: dict[Node, Fraction] = {}
    order: list[Node] = []
    for t in n.terms:
        c, rest = split_coef(t)
        if rest not in groups:
            groups[rest] = Fraction(0)
            order.append(rest)
        groups[rest] += c
    if len(order) == len(n.terms):
        return None
    out = [B.mul(Const(groups[r]), r) for r in order if groups[r] != 0]
    return B.add(*out, shape=n.shape)


def _opposite(a: Node, b: Node) -> bool:
    """a = −b for two sums, term by term (m − x and x − m)."""
    return (
        isinstance(a, Add)
        and isinstance(b, Add)
        and len(a.terms) == len(b.terms)
        and set(a.terms) == {B.neg(t) for t in b.terms}
    )


def _inverse_product_atoms(n: Node) -> frozenset[Node] | None:
    """The variables of a product that holds an inverse and no differential (dX), or None."""
    atoms = list(walk(n))
    if any(isinstance(a, Differential) for a in atoms) or not any(isinstance(a, Inverse) for a in atoms):
        return None
    return frozenset(a for a in atoms if isinstance(a, Var))


def _as_ones_product(t: Node) -> Node | None:
    """𝟙(𝟙ᵀB) (a broadcast of B's column sums) as 𝟙𝟙ᵀB, and (B𝟙)𝟙ᵀ as B𝟙𝟙ᵀ"""
    if not isinstance(t, Broadcast) or not isinstance(t.arg, Sum) or t.shape.is_vector or t.shape.is_row:
        return None
    s, target = t.arg, t.shape
    if s.axis == 0 and s.shape.is_row:
        return B.matmul(Ones(Shape(target.rows, s.arg.shape.rows)), s.arg)
    if s.axis == 1 and s.shape.cols.is_one and not s.shape.is_scalar:
        return B.matmul(s.arg, Ones(Shape(s.arg.shape.cols, target.cols)))
    return None


@rule(Add)
def ones_products(n: Add) -> Node | None:
    """𝟙𝟙ᵀB − 𝟙(𝟙ᵀB) → 0: a product with a matrix of ones beside the same matrix written as
    a broadcast of column (or row) sums, as centring leaves them"""
    parsed = [split_coef(t) for t in n.terms]
    for i, (ci, a) in enumerate(parsed):
        ones_form = _as_ones_product(a)
        if ones_form is None:
            continue
        if any(b == ones_form for j, (_, b) in enumerate(parsed) if j != i):
            rest = [t for k, t in enumerate(n.terms) if k != i]
            return B.add(*rest, B.mul(Const(ci), ones_form), shape=n.shape)
    return None


@rule(Add)
def equal_products(n: Add) -> Node | None:
    """c A + c B → 2c A  when A and B are one matrix written two ways, such as
    K⁻¹(I − yyᵀK⁻¹) and (I − K⁻¹yyᵀ)K⁻¹ for a symmetric K (a randomized identity test)"""
    parsed = [split_coef(t) for t in n.terms]
    for i, (ci, a) in enumerate(parsed):
        if not isinstance(a, MatMul) or a.shape.is_vector:
            continue
        for j in range(i + 1, len(parsed)):
            cj, b = parsed[j]
            if cj != ci or not isinstance(b, MatMul) or b.shape != a.shape or tree_size(a) != tree_size(b):
                continue
            atoms = _inverse_product_atoms(a)
            if atoms is None or atoms != _inverse_product_atoms(b) or not _may_try(n):
                continue
            if numerically_equal(a, b):
                rest = [t for k, t in enumerate(n.terms) if k not in (i, j)]
                return B.add(*rest, B.mul(Const(2 * ci), a), shape=n.shape)
    return None


@rule(Add)
def sigmoid_complement(n: Add) -> Node | None:
    """c F σ(a) + c F σ(−a) → c F  (σ(−a) = 1 − σ(a))"""
    seen: dict[tuple, int] = {}
    for i, t in enumerate(n.terms):
        c, rest = split_coef(t)
        fs = rest.factors if isinstance(rest, Mul) else (rest,)
        for j, f in enumerate(fs):
            if not (isinstance(f, Apply) and f.fn is SIGMOID):
                continue
            others = fs[:j] + fs[j + 1 :]
            a = f.args[0]
            k = seen.get((c, others, B.neg(a)))
            if k is not None and k != i:
                whole = B.broadcast(B.mul(Const(c), *others) if others else Const(c), n.shape)
                return B.add(*[u for m, u in enumerate(n.terms) if m not in (i, k)], whole, shape=n.shape)
            seen[(c, others, a)] = i
    return None


@rule(Add)
def opposite_differences(n: Add) -> Node | None:
    """A(m − x)(xᵀ − mᵀ) + A(x − m)(mᵀ − xᵀ) → 2A(m − x)(xᵀ − mᵀ): products equal up to
    negated differences (each flip a sign) are like terms"""
    parsed = []
    for t in n.terms:
        c, rest = split_coef(t)
        parsed.append((c, rest, rest.factors if isinstance(rest, MatMul) and any(isinstance(f, Add) for f in rest.factors) else None))
    for i, (ci, ri, fi) in enumerate(parsed):
        if fi is None:
            continue
        for j in range(i + 1, len(parsed)):
            cj, rj, fj = parsed[j]
            if fj is None or len(fj) != len(fi):
                continue
            flips = 0
            for a, b in zip(fi, fj):
                if a is not b:
                    if not _opposite(a, b):
                        break
                    flips += 1
            else:
                if flips:
                    merged = B.mul(Const(ci + (cj if flips % 2 == 0 else -cj)), ri)
                    return B.add(*[t for k, t in enumerate(n.terms) if k not in (i, j)], merged, shape=n.shape)
    return None


@rule(Add)
def broadcast_scalar_terms(n: Add) -> Node | None:
    """broadcast(a) + broadcast(b) → broadcast(a + b);  2·𝟙 − 𝟙 → 𝟙  (𝟙 is a broadcast 1)"""

    def broadcast_of(t: Node) -> Node | None:
        if isinstance(t, Broadcast):
            return t.arg
        c, rest = split_coef(t)
        if isinstance(rest, Ones):
            return Const(c)
        return None

    parts = [(t, broadcast_of(t)) for t in n.terms]
    for shape in dict.fromkeys(a.shape for _, a in parts if a is not None):  # in order
        bs = [a for _, a in parts if a is not None and a.shape == shape]
        if len(bs) >= 2:
            rest = [t for t, a in parts if a is None or a.shape != shape]
            return B.add(*rest, B.broadcast(B.add(*bs), n.shape), shape=n.shape)
    return None


def _scaled_product(t: Node) -> tuple[Node, Node]:
    """c·s₁·s₂·(A B C) → (c·s₁·s₂, A B C): the scalar factors and the matrix part of a term."""
    if isinstance(t, Mul):
        sc = [f for f in t.factors if f.shape.is_scalar]
        arr = [f for f in t.factors if not f.shape.is_scalar]
        if len(arr) == 1:
            return B.mul(*sc) if sc else B.ONE, arr[0]
    return B.ONE, t


@rule(Add)
def common_matrix_factor(n: Add) -> Node | None:
    """A X + B X → (A + B) X;  X A + X B → X (A + B)  (scalar factors ride along)"""
    if n.shape.is_scalar and all(t.shape.is_scalar and not isinstance(_scaled_product(t)[1], MatMul) for t in n.terms):
        return None
    for side in (-1, 0):
        groups: dict[Node, list[int]] = {}
        for i, t in enumerate(n.terms):
            _, rest = _scaled_product(t)
            if isinstance(rest, MatMul):
                groups.setdefault(rest.factors[side], []).append(i)
            elif not rest.shape.is_scalar:
                groups.setdefault(rest, []).append(i)
        for key, idx in groups.items():
            if len(idx) < 2:
                continue
            parts = []
            for i in idx:
                c, rest = _scaled_product(n.terms[i])
                if rest == key:
                    other = B.identity(key.shape.rows) if side == -1 else B.identity(key.shape.cols)
                else:
                    fs = rest.factors
                    other = B.matmul(*fs[:-1]) if side == -1 else B.matmul(*fs[1:])
                parts.append(B.mul(c, other))
            if all(isinstance(p, Identity) or (isinstance(p, Mul) and isinstance(p.factors[-1], Identity)) for p in parts):
                continue
            inner = B.add(*parts)
            merged = B.matmul(inner, key) if side == -1 else B.matmul(key, inner)
            rest_terms = [t for i, t in enumerate(n.terms) if i not in idx]
            cand = B.add(*rest_terms, merged, shape=n.shape)
            r = smaller(_trial(cand), n) if _may_try(n) else None
            if r is not None:
                return r
    return None


@rule(Add)
def common_hadamard_factor(n: Add) -> Node | None:
    """A ⊙ B + A ⊙ C → A ⊙ (B + C), kept only when the result is smaller"""
    if not _may_try(n):
        return None
    whole = _hadamard_gcd(n)
    if whole is not None:
        r = smaller(_trial(whole), n)
        if r is not None:
            return r
    count: dict[Node, int] = {}
    for t in n.terms:
        if isinstance(t, Mul):
            for f in dict.fromkeys(t.factors):  # in order: the result must not depend on hashes
                if not isinstance(f, Const):
                    count[f] = count.get(f, 0) + 1
    best = [f for f, k in count.items() if k >= 2]
    for f in sorted(best, key=lambda f: -count[f]):
        inside, outside = [], []
        for t in n.terms:
            if isinstance(t, Mul) and f in t.factors:
                fs = list(t.factors)
                fs.remove(f)
                rest = B.mul(*fs)
                inside.append(_fix_shape(rest, n.shape) if not f.shape.is_scalar else rest)
            else:
                outside.append(t)
        cand = B.add(*outside, B.mul(f, B.add(*inside)), shape=n.shape)
        r = smaller(_trial(cand), n)
        if r is not None:
            return r
    return None


def _powers(t: Node) -> dict[Node, int]:
    """The Hadamard factors of ``t`` (its coefficient split off) as base → positive integer
    exponent, in order: σ ⊙ (1 − σ)² → {σ: 1, 1 − σ: 2}."""
    out: dict[Node, int] = {}
    for f in t.factors if isinstance(t, Mul) else (t,):
        if isinstance(f, Const):
            continue
        base, k = f, 1
        if isinstance(f, Pow) and isinstance(f.exponent, Const):
            e = f.exponent.value
            if e.denominator == 1 and e > 1:
                base, k = f.base, int(e)
        out[base] = out.get(base, 0) + k
    return out


def _hadamard_gcd(n: Add) -> Node | None:
    """The greatest common Hadamard factor of every term, exponents included, taken out
    at once: σ(1 − σ)² − σ²(1 − σ) → σ(1 − σ) ⊙ ((1 − σ) − σ).  Taking out one factor
    at a time cannot get there: σ alone leaves (1 − σ)² − σ(1 − σ), no smaller."""
    parts = [split_coef(t) for t in n.terms]
    powers = [_powers(rest) for _, rest in parts]
    # a sum may appear negated in another term (1 − σ and σ − 1): align it with the first
    # term's orientation and move the sign into the coefficient
    ref = powers[0]
    flipped = False
    for i in range(1, len(powers)):
        aligned: dict[Node, int] = {}
        sign = 1
        for b, k in powers[i].items():
            if b not in ref and isinstance(b, Add):
                nb = _trial(_negated_terms(b))  # simplified: −(σ − 1) is 1 − σ
                if nb in ref:
                    b, sign, flipped = nb, sign * (-1) ** k, True
            aligned[b] = aligned.get(b, 0) + k
        powers[i] = aligned
        parts[i] = (parts[i][0] * sign, parts[i][1])
    common = dict(powers[0])
    for p in powers[1:]:
        common = {b: min(k, p[b]) for b, k in common.items() if b in p}
        if not common:
            return None
    if len(common) < 2 and not flipped and all(p[b] == 1 for p in powers for b in common):
        return None  # one factor, plain in every term: the loop in common_hadamard_factor tries that
    inside = []
    for (c, _), p in zip(parts, powers):
        fs = [b if k == 1 else B.power(b, Const(Fraction(k))) for b, k in ((b, k - common.get(b, 0)) for b, k in p.items()) if k > 0]
        rest = B.mul(Const(c), *fs) if fs else Const(c)
        inside.append(_fix_shape(rest, n.shape))
    # the factor taken out reads as a textbook writes it: 1 − σ, not σ − 1 (the sign goes inside)
    sign, taken = 1, []
    for b, k in common.items():
        if isinstance(b, Add) and not _led_by_constant(b):
            nb = _trial(_negated_terms(b))
            if _led_by_constant(nb):
                b, sign = nb, sign * (-1) ** k
        taken.append(b if k == 1 else B.power(b, Const(Fraction(k))))
    total = _trial(B.add(*inside, shape=n.shape))
    c, body = split_coef(total)
    if isinstance(body, Add) and not _led_by_constant(body):
        flipped_body = _trial(_negated_terms(body))
        if _led_by_constant(flipped_body):
            total, sign = B.mul(Const(c), flipped_body), -sign
    return B.mul(*taken, total) if sign > 0 else B.neg(B.mul(*taken, total))


@rule(Add)
def common_coefficient(n: Add) -> Node | None:
    """2a + 4b → 2(a + 2b);  A/2 + Aᵀ/2 → (A + Aᵀ)/2: a common integer coefficient, or a
    common denominator of every term, moves out of the sum"""
    coefs = [split_coef(t)[0] for t in n.terms]
    dens = {c.denominator for c in coefs}
    if len(dens) != 1:
        return None
    (den,) = dens
    g = 0
    for c in coefs:
        g = math.gcd(g, int(c.numerator))
    g = Fraction(g, den)
    if g == 1 or (den == 1 and g < 1):
        return None
    return B.mul(Const(Fraction(g)), B.add(*[B.mul(Const(c / g), split_coef(t)[1]) for c, t in zip(coefs, n.terms)], shape=n.shape))


@rule(Add)
def vec_sum(n: Add) -> Node | None:
    """vec(A) + c vec(B) → vec(A + c B)"""
    parts = []
    for t in n.terms:
        c, rest = split_coef(t)
        if not isinstance(rest, Vec) or (parts and rest.arg.shape != parts[0].shape):
            return None
        parts.append(B.mul(Const(c), rest.arg))
    return Vec(B.add(*parts))


@rule(Add)
def expand_sum(n: Add) -> Node | None:
    """Σ (products of sums) → expanded and collected, kept only when smaller"""
    if not any(isinstance(t, Mul) and any(isinstance(f, Add) for f in t.factors) for t in n.terms):
        return None
    return _try(n, lambda: _expand(n), margin=2)


# ================================================================ reductions


def _split_shift(z: Node) -> tuple[Node, list[Node]] | None:
    """z = z₀ + c𝟙 with c constant along softmax's direction (a scalar for a vector, a
    column for a row-wise matrix): (z₀, [c, …]), or None."""
    if not isinstance(z, Add):
        return None
    row_wise = not z.shape.is_vector

    def constant_along(f: Node) -> Node | None:
        if isinstance(f, Ones):
            return B.ONE
        if isinstance(f, Broadcast) and (f.arg.shape.is_scalar or (row_wise and f.arg.shape.cols.is_one)):
            return f.arg
        if row_wise and isinstance(f, MatMul) and len(f.factors) == 2 and f.factors[0].shape.cols.is_one:
            # c𝟙ᵀ as a product (NumPy's Z - Z.max(axis=1, keepdims=True))
            o = f.factors[1]
            if isinstance(o, Ones) or (isinstance(o, Transpose) and isinstance(o.arg, Ones)):
                return f.factors[0]
        return None

    rest, shifts = [], []
    for t in z.terms:
        c = constant_along(t)
        if c is None and isinstance(t, Mul):
            arrays = [f for f in t.factors if not f.shape.is_scalar]
            if len(arrays) == 1 and (a := constant_along(arrays[0])) is not None:
                c = B.mul(*[f for f in t.factors if f.shape.is_scalar], a)
        if c is None:
            rest.append(t)
        else:
            shifts.append(c)
    if not shifts or not rest:
        return None
    return B.add(*rest), shifts


@rule(Softmax)
def softmax_shift(n: Softmax) -> Node | None:
    """softmax(z + c𝟙) → softmax(z): the max-shift of a stable softmax changes nothing"""
    split = _split_shift(n.arg)
    return Softmax(split[0]) if split else None


@rule(LogSumExp)
def logsumexp_shift(n: LogSumExp) -> Node | None:
    """logsumexp(z + c𝟙) → logsumexp(z) + c"""
    split = _split_shift(n.arg)
    if split is None:
        return None
    z, shifts = split
    return B.add(LogSumExp(z), *shifts, shape=n.shape)


@rule(Sum)
def sum_rules(n: Sum) -> Node | None:
    """sum(c A) → c sum(A);  sum(𝟙) → n;  I𝟙 → 𝟙;  sum(broadcast(c)) → n c;  sum(Aᵀ) → sum(A);  sum(sum(A, k)) → sum(A);
    sum(softmax(z)) → 1;  sum(A + B) → sum(A) + sum(B) when smaller"""
    a = n.arg
    if isinstance(a, Mul):
        sc = [f for f in a.factors if f.shape.is_scalar]
        if sc:
            rest = B.mul(*[f for f in a.factors if not f.shape.is_scalar])
            return B.mul(*sc, rebuild(Sum(rest, n.axis)))
    if isinstance(a, Mul) and n.axis is not None and not a.shape.is_vector:
        # ((c𝟙ᵀ) ⊙ A)𝟙 → c ⊙ (A𝟙): a factor constant along the summed axis comes out
        for i, f in enumerate(a.factors):
            c = _spread_along(f, n.axis)
            if c is not None:
                rest = B.mul(*[g for j, g in enumerate(a.factors) if j != i])
                return B.mul(c, rebuild(Sum(rest, n.axis)))
    if isinstance(a, Ones):
        if n.axis is None:
            return DimValue(a.shape.size) if not a.shape.size.is_int else B.const(a.shape.size.coef)
        k = a.shape.rows if n.axis == 0 else a.shape.cols
        return B.mul(DimValue(k), Ones(n.shape))
    if isinstance(a, MatMul) and n.axis is not None:
        # 𝟙ᵀ(𝟙𝟙ᵀB) → m 𝟙ᵀB and (B𝟙𝟙ᵀ)𝟙 → n B𝟙: every row (column) of a product with ones is the same
        f = a.factors[0] if n.axis == 0 else a.factors[-1]
        if isinstance(f, Ones) and not f.shape.is_vector and not f.shape.is_row:
            if n.axis == 0:
                k, rest = f.shape.rows, B.matmul(Ones(Shape(ONE_DIM, f.shape.cols)), *a.factors[1:])
            else:
                k, rest = f.shape.cols, B.matmul(*a.factors[:-1], Ones(Shape(f.shape.rows, ONE_DIM)))
            return B.mul(_dim(k), rest)
    if isinstance(a, Identity):  # I𝟙 → 𝟙;  sum(I) → n
        return _dim(a.n) if n.axis is None else B.ones(n.shape)
    if isinstance(a, Broadcast) and a.arg.shape.is_scalar and n.axis is None:
        return B.mul(_dim(a.shape.size), a.arg)
    if n.axis is None and isinstance(a, Transpose):
        return Sum(a.arg)
    if n.axis is None and a.shape.is_row and isinstance(a, (Mul, Pow, Add, Apply)):
        return Sum(_elementwise_transpose(a))
    if n.axis is None and a.shape.is_vector:
        # sum(a ⊙ b) → aᵀb and sum(a²) → aᵀa for column vectors
        if isinstance(a, Mul) and len(a.factors) == 2 and not any(f.shape.is_scalar for f in a.factors):
            return B.matmul(B.transpose(a.factors[0]), a.factors[1])
        if isinstance(a, Pow) and isinstance(a.exponent, Const) and a.exponent.value == 2:
            return B.matmul(B.transpose(a.base), a.base)
    if n.axis is None and isinstance(a, Sum):
        return Sum(a.arg)
    if isinstance(a, Softmax) and a.shape.is_vector and n.axis is None:
        return B.ONE  # softmax sums to 1
    if isinstance(a, Softmax) and not a.shape.is_vector and n.axis == 1:
        return B.ones(n.shape)  # each row of a row-wise softmax sums to 1
    if n.axis is not None and isinstance(a, Broadcast):
        if a.arg.shape.is_scalar:
            k = a.shape.rows if n.axis == 0 else a.shape.cols
            return B.broadcast(B.mul(_dim(k), a.arg), n.shape)
        if (n.axis == 1 and a.arg.shape.cols.is_one) or (n.axis == 0 and a.arg.shape.rows.is_one):
            k = a.shape.cols if n.axis == 1 else a.shape.rows
            return B.mul(_dim(k), a.arg)
    if isinstance(a, Add):
        # sum(A + B) → sum(A) + sum(B), kept when the sums simplify (centring: sum(x − x̄𝟙) = 0)
        return _try(n, lambda: B.add(*[rebuild(Sum(t, n.axis)) for t in a.terms], shape=n.shape))
    return None


def _spread_along(f: Node, axis: int) -> Node | None:
    """c for a matrix c𝟙ᵀ (axis 1: a column spread along the rows) or 𝟙c (axis 0: a row
    spread down the columns), as a broadcast or an outer product with ones."""
    if isinstance(f, Broadcast) and not f.arg.shape.is_scalar:
        if (axis == 1 and f.arg.shape.cols.is_one) or (axis == 0 and f.arg.shape.rows.is_one):
            return f.arg
        return None
    if isinstance(f, MatMul) and len(f.factors) == 2:
        a, b = f.factors
        ones = (lambda x: isinstance(x, Ones) or (isinstance(x, Transpose) and isinstance(x.arg, Ones)))
        if axis == 1 and a.shape.cols.is_one and ones(b):
            return a
        if axis == 0 and b.shape.rows.is_one and ones(a):
            return b
    return None


def _elementwise_transpose(a: Node) -> Node:
    """(f(A) ⊙ B)ᵀ → f(Aᵀ) ⊙ Bᵀ: the transpose pushed through elementwise operations."""
    if isinstance(a, Mul):
        return B.mul(*[_elementwise_transpose(f) for f in a.factors])
    if isinstance(a, Pow):
        return B.power(_elementwise_transpose(a.base), _elementwise_transpose(a.exponent))
    if isinstance(a, Add):
        return B.add(*[_elementwise_transpose(t) for t in a.terms])
    if isinstance(a, Apply):
        return Apply(a.fn, tuple(_elementwise_transpose(x) for x in a.args))
    return B.transpose(a)


def _dim(d) -> Node:
    return B.const(d.coef) if d.is_int else DimValue(d)


@rule(Trace)
def trace_rules(n: Trace) -> Node | None:
    """tr(c A) → c tr(A);  tr(A + B) → tr A + tr B;  tr(Aᵀ) → tr A;  tr(I) → n;  tr(A B) cyclic to a scalar product"""
    a = n.arg
    if isinstance(a, Mul) and any(f.shape.is_scalar for f in a.factors):
        sc = [f for f in a.factors if f.shape.is_scalar]
        rest = B.mul(*[f for f in a.factors if not f.shape.is_scalar])
        return B.mul(*sc, Trace(rest))
    if isinstance(a, Add):
        return B.add(*[Trace(t) for t in a.terms])
    if isinstance(a, Transpose):
        return Trace(a.arg)
    if isinstance(a, Identity):
        return _dim(a.n)
    if isinstance(a, Kron) and a.left.shape.is_square and a.right.shape.is_square:
        return B.mul(rebuild(Trace(a.left)), rebuild(Trace(a.right)))
    if isinstance(a, MatMul):
        fs = a.factors
        for k in range(1, len(fs)):
            rot = fs[k:] + fs[:k]
            if rot[0].shape.rows.is_one and rot[-1].shape.cols.is_one:
                return B.matmul(*rot)
    return None


@rule(Pow)
def power_rules(n: Pow) -> Node | None:
    """(A^p)^q → A^(pq) for integer q;  √A² → A;  sign(A)^odd → sign(A);  (A ⊙ B)^q → A^q ⊙ B^q for integer q"""
    b, e = n.base, n.exponent
    if not isinstance(e, Const):
        return None
    q = e.value
    if isinstance(b, Ones):
        return b
    if isinstance(b, Pow) and isinstance(b.exponent, Const) and q.denominator == 1:
        return B.power(b.base, Const(b.exponent.value * q))
    if isinstance(b, Apply) and b.fn is SQRT and q.denominator == 1 and q % 2 == 0:
        return B.power(b.args[0], Const(q / 2))
    if isinstance(b, Apply) and b.fn is SIGN and q.denominator == 1 and q > 0 and q % 2:
        # sign(a)³ → sign(a), zeros included (sign(a)² is not 𝟙 where a has exact zeros: sign(I)²)
        return b
    if isinstance(b, Mul) and q.denominator == 1:
        return B.mul(*[B.power(f, e) for f in b.factors])
    return None


@rule(Broadcast)
def broadcast_rules(n: Broadcast) -> Node | None:
    """broadcast(broadcast(a)) → broadcast(a);  broadcast(c a) → c broadcast(a) for a constant c;
    broadcast(a𝟙) → broadcast(a) for a scalar a ((𝟙/N)𝟙ᵀ ⊙ S → S/N)"""
    a = n.arg
    if isinstance(a, Broadcast):
        return B.broadcast(a.arg, n.target)
    if isinstance(a, Ones):
        return B.ones(n.target)
    if isinstance(a, Const) and a.value < 0:  # (−1)𝟙 → −𝟙, so the sign can leave a product
        return B.mul(a, B.ones(n.target))
    if isinstance(a, Mul) and all(f.shape.is_scalar or isinstance(f, Ones) for f in a.factors):
        return B.broadcast(B.mul(*[f for f in a.factors if f.shape.is_scalar]), n.target)
    if isinstance(a, Mul) and isinstance(a.factors[0], Const) and len(a.factors) > 1:
        c, rest = split_coef(a)
        return B.mul(Const(c), B.broadcast(rest, n.target))
    return None
