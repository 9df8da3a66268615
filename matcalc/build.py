"""Smart constructors: build nodes with the cheap, always-valid normalisations.

Each constructor flattens nested n-ary nodes, drops neutral elements (0 in sums,
1 in products, I in matrix products), folds numeric constants and turns anything
times zero into a zero of the right shape.  Deeper rewriting is the simplifier's.
"""

from __future__ import annotations

from fractions import Fraction

from .dims import SCALAR, Dim, Shape
from .nodes import (
    Add,
    Broadcast,
    Const,
    DimValue,
    Identity,
    MatMul,
    Mul,
    Node,
    Ones,
    Pow,
    Transpose,
    Var,
    Zero,
)

#: A nested sum or product with more terms than this is kept as one term instead of
#: being flattened into its parent, so building a long chain stays linear.
FLATTEN_MAX = 64

ZERO = Const(Fraction(0))
ONE = Const(Fraction(1))
MINUS_ONE = Const(Fraction(-1))
HALF = Const(Fraction(1, 2))
TWO = Const(Fraction(2))


#: the integer constants products use most, held so that finding them costs no Fraction hash
_SMALL_INTS: dict[int, Const] = {k: Const(Fraction(k)) for k in range(-16, 17)}


def const(v: int | Fraction | str) -> Const:
    return Const(Fraction(v))


def is_zero(e: Node) -> bool:
    return isinstance(e, Zero) or (isinstance(e, Const) and e.value == 0)


def is_one(e: Node) -> bool:
    return isinstance(e, Const) and e.value == 1


def zero(shape: Shape) -> Node:
    return ZERO if shape.is_scalar else Zero(shape)


def ones(shape: Shape) -> Node:
    return ONE if shape.is_scalar else Ones(shape)


def identity(n: Dim) -> Node:
    return ONE if n.is_one else Identity(n)


def add(*terms: Node, shape: Shape | None = None) -> Node:
    """Sum; scalar terms of a non-scalar sum are broadcast (1 → 𝟙)."""
    flat: list[Node] = []
    for t in terms:
        if isinstance(t, Add) and len(t.terms) <= FLATTEN_MAX:
            flat.extend(t.terms)
        else:
            flat.append(t)
    for t in flat:
        if not t.shape.is_scalar:
            shape = t.shape
            break
    shape = shape or (flat[0].shape if flat else SCALAR)
    total: int | Fraction = 0  # plain ints until a fraction turns up: Fraction arithmetic is slow
    nconst = 0
    kept: list[Node] = []
    for t in flat:
        tt = type(t)
        if tt is Const:
            total += t.value  # type: ignore[attr-defined]
            nconst += 1
        elif tt is Zero:
            continue
        elif tt is Ones:
            total += 1
            nconst += 1
        elif tt is Broadcast and type(t.arg) is Const:  # type: ignore[attr-defined]
            total += t.arg.value  # type: ignore[attr-defined]
            nconst += 1
        else:
            kept.append(t)
    if nconst and total != 0:
        kept.insert(0, Const(Fraction(total)))
    if not kept:
        return zero(shape)
    if not shape.is_scalar:
        kept = [broadcast(t, shape) if t.shape.is_scalar else t for t in kept]
    if len(kept) == 1:
        return kept[0]
    return Add(tuple(kept))


def mul(*factors: Node) -> Node:
    flat: list[Node] = []
    for f in factors:
        if isinstance(f, Mul) and len(f.factors) <= FLATTEN_MAX:
            flat.extend(f.factors)
        else:
            flat.append(f)
    shape = SCALAR
    for f in flat:
        if not f.shape.is_scalar:
            shape = f.shape
            break
    # plain ints until a fraction turns up, and a lone constant node reused as it is:
    # Fraction arithmetic and hashing cost microseconds, and products are built by the thousand
    coef: int | Fraction = 1
    lone: Node | None = None  # the one constant ≠ 1 seen so far
    seen = 0
    kept: list[Node] = []
    for f in flat:
        tf = type(f)
        if tf is Const:
            v = f.value  # type: ignore[attr-defined]
            num, den = v.numerator, v.denominator
            if num == 0:
                return zero(shape)
            if den == 1 and num == 1:
                continue
            seen += 1
            lone = f
            if den == 1:
                coef = coef * num
            else:
                coef = v if seen == 1 else coef * v
        elif tf is Zero:
            return zero(shape)
        else:
            kept.append(f)
    if coef != 1 or not kept:
        if seen == 1:
            c = lone
        elif type(coef) is int:
            c = _SMALL_INTS.get(coef) or Const(Fraction(coef))
        else:
            c = Const(coef)
        kept.insert(0, c)
    if len(kept) == 1:
        return kept[0]
    return Mul(tuple(kept))


def neg(e: Node) -> Node:
    return mul(MINUS_ONE, e)


def sub(a: Node, b: Node) -> Node:
    return add(a, neg(b))


def power(base: Node, exponent: Node) -> Node:
    if isinstance(exponent, Const):
        if exponent.value == 1:
            return base
        if exponent.value == 0:
            return ones(base.shape)
        if isinstance(base, Const) and exponent.value.denominator == 1:
            k = exponent.value.numerator
            size = max(base.value.numerator.bit_length(), base.value.denominator.bit_length())
            if (base.value != 0 or k > 0) and abs(k) * size <= 4096:  # fold only numbers of modest size
                return Const(base.value**k)
    if is_one(base):
        return ones(exponent.shape)
    return Pow(base, exponent)


def reciprocal(e: Node) -> Node:
    return power(e, MINUS_ONE)


def matmul(*factors: Node) -> Node:
    """Matrix product; 1×1 factors are pulled out in front as scalars."""
    flat: list[Node] = []
    for f in factors:
        if isinstance(f, MatMul) and len(f.factors) <= FLATTEN_MAX:
            flat.extend(f.factors)
        else:
            flat.append(f)
    shape = Shape(flat[0].shape.rows, flat[-1].shape.cols)
    if any(is_zero(f) for f in flat):
        return zero(shape)
    scalars: list[Node] = []
    chain: list[Node] = []
    for f in flat:
        if f.shape.is_scalar:
            scalars.append(f)
        elif isinstance(f, Identity):
            continue
        elif isinstance(f, Ones) and chain and isinstance(chain[-1], Ones):
            # 𝟙𝟙ᵀ as one matrix of ones (so 𝟙(𝟙ᵀB) and (𝟙𝟙ᵀ)B are one term); 𝟙ᵀ𝟙 = n
            k = f.shape.rows
            if not k.is_one:
                scalars.append(Const(Fraction(k.coef)) if k.is_int else DimValue(k))
            merged = Shape(chain[-1].shape.rows, f.shape.cols)
            if merged.is_scalar:  # 𝟙ᵀ𝟙 is the number n alone
                chain.pop()
            else:
                chain[-1] = Ones(merged)
        else:
            chain.append(f)
    if not chain:
        body: Node = identity(shape.rows) if shape.rows == shape.cols else ones(shape)
        if shape.is_scalar:
            body = ONE
    elif len(chain) == 1:
        body = chain[0]
    else:
        body = MatMul(tuple(chain))
    if scalars:
        return mul(*scalars, body)
    return body


def transpose(e: Node) -> Node:
    s = e.shape
    if s.is_scalar:
        return e
    if isinstance(e, Transpose):
        return e.arg
    if isinstance(e, Identity):
        return e
    if isinstance(e, Zero):
        return Zero(s.T)
    if isinstance(e, Ones):
        return Ones(s.T)
    if isinstance(e, Var) and e.symmetric:
        return e
    return Transpose(e)


def broadcast(e: Node, target: Shape) -> Node:
    if e.shape == target:
        return e
    if is_zero(e):
        return zero(target)
    if is_one(e):
        return ones(target)
    if isinstance(e, Ones):
        return Ones(target)
    return Broadcast(e, target)
