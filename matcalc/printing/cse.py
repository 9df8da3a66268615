"""The Unicode result with repeated subexpressions named once.

``cse_text(node)`` prints like :func:`matcalc.printing.text.to_text`, except that a
subexpression written two or more times (and bigger than a leaf) is printed as a
name, defined after the result::

    Xᵀ diag(t₁ ⊙ (1 − t₁)) X  where t₁ = σ(Xw)

Counting is over the printed tree: a subexpression inside a named one counts once
per use of that name.  Leaves and leaves that are only transposed, broadcast or
scaled (``Aᵀ``, ``2x``) are never named; a transpose is never named itself (its
argument is, so ``t₁ᵀ`` reads naturally).  Names are ``t₁, t₂, …`` in order of
definition (a definition uses only earlier names), skipping any that a variable
prints as.  The output is a deterministic function of the tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..nodes import LEAVES, Broadcast, Const, Differential, Mul, Node, Pow, Transpose, Var, walk
from .fold import folded
from .text import P_ATOM, Out, Printer

_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


class CsePrinter(Printer):
    """The Unicode printer, writing a name instead of each named subexpression."""

    def __init__(self, names: dict[Node, str], avoid: Iterable[str] = ()):
        super().__init__(avoid)
        self.names = names

    def p(self, n: Node) -> Out:
        name = self.names.get(n)
        if name is not None:
            # not tight: W₂ t₁ rather than W₂t₁, which would read as one name
            return Out(name, P_ATOM, False)
        return super().p(n)

    def definition(self, n: Node) -> str:
        """The named node itself, written out (its own sub-names still used)."""
        shown = folded(n)  # √var(x) is std(x) here too
        if shown is not None:
            return self.p(shown).text
        return getattr(self, "_print_" + type(n).__name__)(n).text


def _decorated_leaf(n: Node) -> bool:
    while isinstance(n, (Transpose, Broadcast)):
        n = n.arg
    if isinstance(n, Mul) and len(n.factors) == 2 and isinstance(n.factors[0], Const):
        n = n.factors[1]
    return isinstance(n, LEAVES)


def nameable(n: Node) -> bool:
    """Worth a name when repeated: not a (decorated) leaf, and printed as itself.

    Transposes, negated terms and reciprocals are excluded because the printer
    writes them through their parts (``X⁻ᵀ``, ``a − b``, ``x/y``); their parts
    can be named instead.
    """
    if _decorated_leaf(n) or isinstance(n, (Transpose, Broadcast, Differential)):
        return False
    if isinstance(n, Mul) and isinstance(n.factors[0], Const) and n.factors[0].value < 0:
        return False
    if isinstance(n, Pow) and isinstance(n.exponent, Const) and n.exponent.value < 0:
        return False
    return True


def _choose(root: Node, banned: set[Node]) -> list[Node]:
    from ..codegen import shared_nodes

    return shared_nodes([root], lambda n: nameable(n) and n not in banned)


def _order(root: Node, chosen: set[Node]) -> list[Node]:
    """Named nodes, each after the named nodes it contains (post-order from the root)."""
    out: list[Node] = []
    seen: set[Node] = set()
    for n in walk(root):
        if n in chosen and n not in seen:
            seen.add(n)
            out.append(n)
    return out


def _token(name: str) -> re.Pattern:
    """``name`` as a whole word: not inside a longer name (t₁₂, t₁_a, xt₁); t₁², t₁ᵀ count."""
    return re.compile(rf"(?<!\w){re.escape(name)}(?![0-9A-Za-z_₀-₉])")


def cse_text(node: Node, avoid: Iterable[str] = ()) -> str:
    """The result as Unicode text with repeated subexpressions named (``… where t₁ = …``);
    ``avoid``: names of variables shown beside it (see ``Printer.taken``)."""
    from ..deep import call_deep

    return call_deep(_cse_text, node, frozenset(avoid))


def _cse_text(root: Node, avoid: frozenset[str] = frozenset()) -> str:
    variables = {v.name for v in walk(root) if isinstance(v, Var)}
    plain = Printer(avoid | variables)
    taken = {plain.name(v) for v in variables}
    banned: set[Node] = set()
    while True:
        chosen = _order(root, set(_choose(root, banned)))
        if not chosen:
            return plain.doprint(root)
        names: dict[Node, str] = {}
        k = 0
        for n in chosen:
            while True:
                k += 1
                name = "t" + str(k).translate(_SUB)
                if name not in taken:
                    break
            names[n] = name
        pr = CsePrinter(names, avoid | variables)
        main = pr.p(root).text
        defs = [(names[n], pr.definition(n)) for n in chosen]
        # every name must really be written twice (the printer writes a few shapes through their parts)
        bodies = [main] + [text for _, text in defs]
        unused = [n for n in chosen if sum(len(_token(names[n]).findall(b)) for b in bodies) < 2]
        if not unused:
            return main + "  where " + ", ".join(f"{name} = {text}" for name, text in defs)
        banned.update(unused)
