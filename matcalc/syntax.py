"""The syntax tree: what the user wrote, dialect-free, with source positions.

Positions (``pos``, 0-based offsets into the source) do not take part in equality,
so a tree printed and parsed back compares equal to the original.

Binary operations (``BinOp.op``):

=========  ==========================================  =========  ========
op         meaning                                     numpy      matlab
=========  ==========================================  =========  ========
add, sub   elementwise, broadcasting                   ``+ -``    ``+ -``
mul, div   elementwise, broadcasting                   ``* /``    ``.* ./``
matmul     matrix product (a scalar operand scales)    ``@``      ``*``
mdiv       A/B = AB⁻¹ (elementwise by a scalar)        —          ``/``
ldiv       A\\B = A⁻¹B, solving AX = B                 ``\\``     ``\\``
pow        elementwise power                           ``** ^``   ``.^``
mpow       matrix power                                —          ``^``
=========  ==========================================  =========  ========
"""

from __future__ import annotations

from fractions import Fraction

from .record import record


@record(ignore=("pos",))
class Number:
    text: str
    pos: int = 0

    @property
    def value(self) -> Fraction:
        """The number: 0.5 and 1e-3 exactly, and ½ (a vulgar fraction) as 1/2."""
        if len(self.text) == 1 and not self.text.isdigit():
            import unicodedata

            return Fraction(unicodedata.numeric(self.text)).limit_denominator(10)
        return Fraction(self.text)


@record(ignore=("pos",))
class String:
    """A quoted word, used only as an option: norm(X, 'fro')."""

    value: str
    pos: int = 0


@record(ignore=("pos",))
class Name:
    id: str
    pos: int = 0


@record(ignore=("pos",))
class Call:
    func: str
    args: tuple[Expr, ...]
    keywords: tuple[tuple[str, Expr], ...] = ()
    pos: int = 0


@record(ignore=("pos",))
class BinOp:
    op: str
    left: Expr
    right: Expr
    pos: int = 0  # position of the operator


@record(ignore=("pos",))
class Neg:
    operand: Expr
    pos: int = 0


@record(ignore=("pos",))
class Transpose:
    operand: Expr
    pos: int = 0  # position of the ' or .T


@record(ignore=("pos",))
class Compare:
    op: str  # one of > >= < <=
    left: Expr
    right: Expr
    pos: int = 0


Expr = Number | String | Name | Call | BinOp | Neg | Transpose | Compare


def children(e: Expr) -> tuple[Expr, ...]:
    if isinstance(e, Call):
        return e.args + tuple(v for _, v in e.keywords)
    if isinstance(e, (BinOp, Compare)):
        return (e.left, e.right)
    if isinstance(e, (Neg, Transpose)):
        return (e.operand,)
    return ()


def depth(e: Expr) -> int:
    """Nesting depth, computed without recursion."""
    best = 0
    stack = [(e, 1)]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        stack.extend((c, d + 1) for c in children(node))
    return best


def names(e: Expr) -> list[str]:
    """Variable names in order of first appearance (function names excluded)."""
    seen: dict[str, None] = {}
    stack = [e]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            seen.setdefault(node.id, None)
        stack.extend(reversed(children(node)))
    return list(seen)
