"""Syntax tree → source text in either dialect, with the fewest parentheses.

``parse(unparse(t, d), d) == t`` for every tree ``t`` the parser can produce.
"""

from __future__ import annotations

from .. import syntax as S

# binding strength of each syntactic level (higher binds tighter)
COMPARE, SUM, PRODUCT, UNARY, POWER, POSTFIX, ATOM = range(1, 8)

_OPS = {
    "numpy": {"add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@", "mdiv": "/", "ldiv": "\\", "pow": "**"},
    "matlab": {"add": "+", "sub": "-", "mul": ".*", "div": "./", "matmul": "*", "mdiv": "/", "ldiv": "\\", "pow": ".^", "mpow": "^"},
}
_LEVEL = {"add": SUM, "sub": SUM, "mul": PRODUCT, "div": PRODUCT, "matmul": PRODUCT, "mdiv": PRODUCT, "ldiv": PRODUCT, "pow": POWER, "mpow": POWER}


def unparse(e: S.Expr, syntax: str = "numpy") -> str:
    return _go(e, syntax)[0]


def _wrap(pair: tuple[str, int], need: int) -> str:
    text, level = pair
    return text if level >= need else f"({text})"


def _go(e: S.Expr, d: str) -> tuple[str, int]:
    if isinstance(e, S.Number):
        # "3." before ' or ** would lex as something else: (3.)' and (3.)**x
        return e.text, (PRODUCT if e.text.endswith(".") else ATOM)
    if isinstance(e, S.Name):
        return e.id, ATOM
    if isinstance(e, S.String):
        return f"'{e.value}'", ATOM
    if isinstance(e, S.Call) and e.func == "|·|" and len(e.args) == 1 and not e.keywords:
        inner = _go(e.args[0], d)[0]  # |a|, as written (||…|| would read as a norm)
        return (f"|({inner})|" if inner.startswith("|") or inner.endswith("|") else f"|{inner}|"), ATOM
    if isinstance(e, S.Call):
        parts = [_go(a, d)[0] for a in e.args] + [f"{k}={_go(v, d)[0]}" for k, v in e.keywords]
        return f"{e.func}({', '.join(parts)})", ATOM
    if isinstance(e, S.Transpose):
        return _wrap(_go(e.operand, d), POSTFIX) + "'", POSTFIX
    if isinstance(e, S.Neg):
        return "-" + _wrap(_go(e.operand, d), UNARY), UNARY
    if isinstance(e, S.Compare):
        return f"{_wrap(_go(e.left, d), SUM)} {e.op} {_wrap(_go(e.right, d), SUM)}", COMPARE
    if isinstance(e, S.BinOp):
        if e.op == "mpow" and d == "numpy":
            return f"matrix_power({_go(e.left, d)[0]}, {_go(e.right, d)[0]})", ATOM
        level = _LEVEL[e.op]
        sym = _OPS[d][e.op]
        if level == POWER:
            # MATLAB groups ^ to the left: a right-hand power keeps its parentheses there
            right = _go(e.right, d)
            right_text = f"({right[0]})" if d == "matlab" and right[1] == POWER else _wrap(right, UNARY)
            return f"{_wrap(_go(e.left, d), POSTFIX)}{sym}{right_text}", POWER
        left = _wrap(_go(e.left, d), level)
        right = _wrap(_go(e.right, d), level + 1 if level == SUM else UNARY)
        return f"{left} {sym} {right}", level
    raise TypeError(f"not a syntax node: {e!r}")  # pragma: no cover
