"""A table-driven LALR(1) parser with a contextual lexer: runs the tables that
``matcalc.tablegen`` computes from the grammar, with no dependency at run time.

The lexer is contextual: in each parser state it tries only the terminals that state
can take (in the order the table gives), so '+' lexes as a binary ADDOP after an
operand and as a SIGN before one.  The parser builds values bottom-up through a
callback object (one method per rule alias) on an explicit stack: no recursion, so
nesting depth costs no Python stack.

Errors report the position and the terminals that could come next.  The expected set
is computed from the whole parse stack (by trying each terminal), not read off the
top state: LALR merges states, so the top state alone would offer ')' at the top level.
"""

from __future__ import annotations

import re

from .errors import ParseError

END = "$END"


class Token:
    __slots__ = ("type", "text", "pos")

    def __init__(self, type: str, text: str, pos: int):
        self.type = type
        self.text = text
        self.pos = pos

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {self.text!r}, {self.pos})"


class UnexpectedCharacter(ParseError):
    """No terminal of the language matches at ``column``."""

    def __init__(self, column: int):
        super().__init__("unexpected character", column=column)


class UnexpectedToken(ParseError):
    """``token`` cannot come here; ``expected`` lists the terminals that could."""

    def __init__(self, token: Token, expected: frozenset[str]):
        super().__init__(f"unexpected {token.type}", column=token.pos)
        self.token = token
        self.expected = expected


class Tables:
    """Parse tables (the data ``matcalc.tablegen.build`` returns) ready to run."""

    def __init__(self, data: dict):
        self.actions: list[dict[str, int]] = data["ACTIONS"]
        self.rules = data["RULES"]
        self.start: int = data["START"]
        self.end: int = data["END"]
        self.ignore = frozenset(data["IGNORE"])
        self.terminals: dict[str, str] = data["TERMINALS"]
        compiled: dict[tuple[str, ...], re.Pattern] = {}

        def scanner(names) -> re.Pattern:
            names = tuple(names)
            if names not in compiled:
                compiled[names] = re.compile("|".join(f"(?P<{n}>{self.terminals[n]})" for n in names))
            return compiled[names]

        self._scanner = scanner
        self._lexer_names = data["LEXERS"]
        self._lexers: list[re.Pattern | None] = [None] * len(self._lexer_names)
        self.root = scanner(data["ROOT_LEXER"])

    def lexer(self, state: int) -> re.Pattern:
        rx = self._lexers[state]
        if rx is None:
            rx = self._lexers[state] = self._scanner(self._lexer_names[state])
        return rx

    def accepts(self, stack: list[int], terminal: str) -> bool:
        """Would ``terminal`` be shifted (or, for the end, accepted) from ``stack``?"""
        stack = list(stack)
        actions, rules = self.actions, self.rules
        while True:
            if terminal == END and stack[-1] == self.end:
                return True
            action = actions[stack[-1]].get(terminal)
            if action is None:
                return False
            if action >= 0:
                return True
            lhs, n, *_ = rules[~action]
            if n:
                del stack[-n:]
            goto = actions[stack[-1]].get(lhs)
            if goto is None:  # pragma: no cover - a consistent table always has the goto
                return False
            stack.append(goto)

    def expected(self, stack: list[int]) -> frozenset[str]:
        candidates = [t for t in self.terminals if t not in self.ignore] + [END]
        return frozenset(t for t in candidates if self.accepts(stack, t))


class Parser:
    """Parses text with ``tables``, building values with ``builder``'s methods."""

    def __init__(self, tables: Tables, builder):
        self.tables = tables
        reductions = []
        for lhs, n, callback, inline, layout in tables.rules:
            fn = getattr(builder, callback, None) if callback is not None else None
            # an inline rule with one child (expr: sum, atom: "(" expr ")") passes it on
            single = inline and len(layout) == 1 and layout[0] is not None and layout[0] >= 0
            if callback is not None and fn is None and not single:  # pragma: no cover
                raise TypeError(f"the builder has no method {callback!r} for rule {lhs}")
            passthrough = single and n == 1
            reductions.append((lhs, n, fn, inline, layout, passthrough, callback is None))
        self.reductions = reductions

    def _tokens(self, text: str, states: list[int]):
        """Tokens of ``text``, lexed in the context of the parser's current state."""
        tables = self.tables
        ignore = tables.ignore
        pos, size = 0, len(text)
        while pos < size:
            m = tables.lexer(states[-1]).match(text, pos)
            if m is None:
                m = tables.root.match(text, pos)
                if m is None:
                    raise UnexpectedCharacter(pos)
                # a terminal of the language, but not one this state can take
                raise UnexpectedToken(Token(m.lastgroup, m.group(), pos), tables.expected(states))
            kind = m.lastgroup
            end = m.end()
            if kind not in ignore:
                yield Token(kind, m.group(), pos)
            pos = end
        yield Token(END, "", size)

    def parse(self, text: str):
        tables = self.tables
        actions = tables.actions
        reductions = self.reductions
        end_state = tables.end
        states = [tables.start]
        values: list = []
        for token in self._tokens(text, states):
            kind = token.type
            while True:
                state = states[-1]
                if kind == END and state == end_state:
                    return values[-1]
                action = actions[state].get(kind)
                if action is None:
                    raise UnexpectedToken(token, tables.expected(states))
                if action >= 0:
                    states.append(action)
                    values.append(token)
                    break
                lhs, n, fn, inline, layout, passthrough, helper = reductions[~action]
                if passthrough:
                    states.pop()
                else:
                    items = values[-n:] if n else []
                    if n:
                        del values[-n:]
                        del states[-n:]
                    children: list = []
                    for i in layout:
                        if i is None:
                            children.append(None)
                        elif i >= 0:
                            children.append(items[i])
                        else:
                            children.extend(items[~i])
                    if helper:
                        value = children  # a helper rule: spliced into its parent
                    elif inline and len(children) == 1:
                        value = children[0]
                    else:
                        value = fn(children)
                    values.append(value)
                states.append(actions[states[-1]][lhs])
        raise AssertionError("unreachable: the end token always returns or raises")  # pragma: no cover
