"""The Python API: ``matcalc.diff`` and the ``Derivative`` it returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import build as B
from .engine import Options, Result, derivative
from .errors import MatcalcError, UnsupportedError, VariableError
from .nodes import Node, Var, dag_size, map_bottom_up, tree_size
from .printing import to_ascii, to_text
from .record import Factory, record
from .shapes import GREEK, PI_NAMES, Checked, check
from .simplify import session


@record(frozen=False)
class Derivative:
    """∂f/∂x of one expression by one variable, with every way to show and use it.

    >>> d = diff("sum(w*x) + b", "w")
    >>> print(d)
    x
    >>> d.shape
    'n'
    """

    checked: Checked
    wrt: Var
    result: Result
    options: Options
    assumptions: tuple[tuple[Node, Node], ...] = ()
    _cache: dict[str, Any] = Factory(dict)

    # ------------------------------------------------------------ the result

    @property
    def node(self) -> Node:
        return self.result.node

    @property
    def expression(self) -> Node:
        return self.checked.expr

    @property
    def kind(self) -> str:
        return self.result.kind

    @property
    def shape(self) -> str:
        return str(self.node.shape)

    @property
    def layout(self) -> str:
        return self.options.layout

    @property
    def order(self) -> int:
        return self.options.order

    @property
    def variables(self) -> dict[str, Var]:
        return self.checked.variables

    @property
    def text(self) -> str:
        # the expression's variables show beside the result (header, steps): a variable
        # named I (or K) makes the identity print with its size, Iₙ
        return to_text(self.node, self.checked.variables)

    def ascii(self, syntax: str | None = None) -> str:
        """The result in the input language (numpy or matlab dialect): paste it back into matcalc."""
        return to_ascii(self.node, syntax or self.checked.syntax)

    def latex(self, *, header: bool = True) -> str:
        from .printing.latex import derivative_latex

        return derivative_latex(self, header=header)

    def steps(self, fmt: str = "text") -> str:
        from .steps import derivation

        return derivation(self, fmt)

    def cse(self) -> str:
        """The result with repeated subexpressions named once: ``… where t₁ = σ(Xw)``."""
        from .printing.cse import cse_text

        return cse_text(self.node, self.checked.variables)

    def numpy_source(self, *, name: str | None = None, with_value: bool = False, backend: str = "numpy") -> str:
        from .codegen import generate

        return generate(self, name=name, with_value=with_value, backend=backend)

    def to_function(self) -> Callable[..., Any]:
        """A function of the variables (keyword arrays) that returns the derivative as a NumPy array."""
        from .evaluate import evaluate, to_user_shape

        node = self.node
        variables = dict(self.checked.variables)
        variables.setdefault(self.wrt.name, self.wrt)

        def f(**arrays: Any) -> Any:
            needed = {k: v for k, v in variables.items()}
            return to_user_shape(evaluate(node, needed, arrays), node.shape)

        f.__name__ = f"d_d{self.wrt.name}"
        f.__doc__ = f"{self.kind} of {self.checked.source} by {self.wrt.name}: {self.text}"
        return f

    def to_sympy(self, sizes: Mapping[str, int] | None = None):
        """The result as a SymPy matrix expression (MatrixSymbols for matrices and vectors)."""
        from .verify import to_sympy_matrix_expr

        return to_sympy_matrix_expr(self.node, sizes)

    def check(self, **kw: Any):
        """Verify the result against SymPy on explicit component matrices and by finite differences."""
        from .verify import check_derivative

        return check_derivative(self, **kw)

    def size(self) -> tuple[int, int]:
        """(nodes as printed, distinct nodes in the DAG)."""
        return tree_size(self.node), dag_size(self.node)

    @property
    def notes(self) -> tuple[str, ...]:
        """Readings the user may not have meant, with how to say otherwise: a name that is a
        scalar only by the naming convention, added to a vector (A@x − b)."""
        return self.checked.notes

    def header(self) -> str:
        f = self.checked.source
        x = self.wrt.name
        what = {1: "∂", 2: "∂²"}[self.order]
        return f"{what}/∂{x} {f}  [{self.kind}, {self.shape}, {self.layout} layout]"

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<Derivative {self.kind} of {self.checked.source!r} by {self.wrt.name}: {self.text}>"

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"


def _parse_assumptions(assume: Sequence[str] | str | None, checked: Checked, shapes, syntax) -> tuple[tuple[Node, Node], ...]:
    if not assume:
        return ()
    if isinstance(assume, str):
        assume = [assume]
    from .simplify import simplify

    out = []
    decl = {k: _decl_text(v) for k, v in checked.variables.items()}
    for text in assume:
        at = _equals_sign(text)
        if at is None:
            raise MatcalcError(f"an assumption is an equation such as 'sum(y) = 1', not {text!r}")
        lhs, rhs = text[:at], text[at + 1 :]
        merged = {**decl, **(shapes or {})}
        # simplified as the result is, so Y@ones(k) = ones(N) finds sum(Y, 1) there
        a = simplify(check(lhs, merged, syntax).expr)
        b = check(rhs, merged, syntax).expr
        if a.shape != b.shape and not b.shape.is_scalar:
            raise MatcalcError(f"the two sides of {text!r} differ in shape ({a.shape} and {b.shape})")
        out.append((a, B.broadcast(b, a.shape)))
    return tuple(out)


def _equals_sign(text: str) -> int | None:
    """The position of the equation's '=': outside parentheses (sum(Y, axis=1) = 1), not
    part of ==, <= or >=."""
    depth = 0
    for i, c in enumerate(text):
        depth += c in "(["
        depth -= c in ")]"
        if c == "=" and depth == 0 and text[i - 1 : i] not in ("=", "<", ">", "!") and text[i + 1 : i + 2] != "=":
            return i
    return None


def _decl_text(v: Var) -> str:
    s = v.shape
    if s.is_scalar:
        return "scalar"
    if s.cols.is_one:
        return str(s.rows).replace("·", "*") if s.rows.single_symbol or s.rows.is_int else "vector"
    return f"{s.rows} x {s.cols}" + (" symmetric" if v.symmetric else "")


def _apply_assumptions(node: Node, facts: tuple[tuple[Node, Node], ...]) -> Node:
    from .simplify import simplify

    if not facts:
        return node
    table = dict(facts)
    return simplify(map_bottom_up(node, lambda n: table.get(n, n)))


def diff(
    expr: str,
    wrt: str | Sequence[str],
    *,
    shapes: Mapping[str, Any] | None = None,
    syntax: str = "numpy",
    layout: str = "mixed",
    order: int = 1,
    assume: Sequence[str] | str | None = None,
) -> Derivative | dict[str, Derivative]:
    """Differentiate ``expr`` with respect to ``wrt``.

    ``wrt`` is one name (returns a :class:`Derivative`) or several, as a list or a
    comma-separated string (returns a dict name → Derivative).  ``shapes`` declares
    shapes (``{"W": "m x n", "b": "scalar"}``); undeclared names follow the
    a–g scalar, h–z vector, A–Z matrix convention.

    >>> print(diff("x'@A@x", "x"))
    (A + Aᵀ)x
    >>> print(diff("sum(w*x) + b", "w", layout="numerator"))
    xᵀ
    """
    opts = Options(layout=layout, order=order)
    names = [w.strip() for w in wrt.split(",")] if isinstance(wrt, str) else [str(w).strip() for w in wrt]
    if not names or any(not n for n in names):
        raise VariableError("name the variable(s) to differentiate by, e.g. wrt='x' or 'w,b'")
    checked = check(expr, shapes, syntax, keep=names)
    facts = _parse_assumptions(assume, checked, shapes, syntax)
    out: dict[str, Derivative] = {}
    for name in names:
        var = checked.variables.get(name) or checked.declared.get(name)
        if var is None:
            known = ", ".join(checked.variables) or "none"
            if name in PI_NAMES:
                raise VariableError(f"{name!r} is the number π here; declare its shape (shapes={{{name!r}: 'scalar'}}) to make it a variable")
            if any(note.startswith(f"{name} is the size {name} ") for note in checked.notes):
                raise VariableError(
                    f"{name!r} is a size of the shapes here; declare its shape (shapes={{{name!r}: 'scalar'}}) to make it a variable"
                )
            # ‖Ax − b‖², tanh(Wx + b): juxtaposed letters are one name here, not a product
            joined = [
                v for v in checked.variables
                if name in v and v.isascii() and v.isalpha() and 2 <= len(v) <= 4 and v.lower() not in GREEK
            ]
            hint = f"; {joined[0]!r} is one name: write the product out ({('*' if checked.syntax == 'matlab' else '@').join(joined[0])})" if joined else ""
            raise VariableError(
                f"{name!r} does not occur in the expression (its variables: {known}){hint or '; declare its shape to get a zero derivative'}"
            )
        # one simplification session per derivative: shared memos, and a trial budget
        # that does not depend on which other variables were asked for
        with session():
            try:
                res = derivative(checked.expr, var, opts)
            except UnsupportedError as e:
                placed = _placed(e, checked, name)
                if checked.notes:  # a reading the user may not have meant (t a vector) may be the cause
                    placed = UnsupportedError(
                        placed.message + "; note: " + "; ".join(checked.notes), source=placed.source, column=placed.column
                    )
                raise placed from None
            if facts:
                res = Result(_apply_assumptions(res.node, facts), res.kind, res.differential, res.natural)
        out[name] = Derivative(checked, var, res, opts, facts)
    if isinstance(wrt, str) and len(names) == 1:
        return out[names[0]]
    return out


def _placed(e: UnsupportedError, checked: Checked, wrt: str) -> MatcalcError:
    """``e`` with the caret under the call of the function it names that depends on ``wrt``
    (the first one outside a trace, else the first one)."""
    fn = getattr(e, "function", None)
    if e.column is not None or fn is None:
        return e
    from . import syntax as S
    from .parse import parse
    from .registry import FUNCTIONS

    trace = FUNCTIONS["tr"]
    stack: list[tuple[S.Expr, S.Expr | None]] = [(parse(checked.source, checked.syntax), None)]
    calls = []  # (inside a trace, position): a call in a trace has a closed form at first order
    while stack:
        n, parent = stack.pop()
        if isinstance(n, S.Call) and FUNCTIONS.get(n.func) is FUNCTIONS[fn] and wrt in S.names(n):
            calls.append((isinstance(parent, S.Call) and FUNCTIONS.get(parent.func) is trace, n.pos))
        stack.extend((c, n) for c in S.children(n))
    if not calls:
        return e
    return UnsupportedError(e.message, source=checked.source, column=min(calls)[1])


def shape(expr: str, *, shapes: Mapping[str, Any] | None = None, syntax: str = "numpy") -> dict[str, str]:
    """Every variable's inferred shape and the result's (key ``"result"``).

    >>> shape("W@x + b", shapes={"b": "m"})
    {'W': 'm×n', 'x': 'n', 'b': 'm', 'result': 'm'}
    """
    c = check(expr, shapes, syntax)
    out = {k: str(v.shape) for k, v in c.variables.items()}
    for k, v in c.declared.items():
        out.setdefault(k, str(v.shape))
    out["result"] = str(c.expr.shape)
    return out
