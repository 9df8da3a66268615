"""Every error matcalc raises is a :class:`MatcalcError`.

An error that concerns a place in the user's expression carries the source text
and the column, and renders as::

    error: expected an operand after '+'
      W@x + * b
            ^
"""

from __future__ import annotations


class MatcalcError(Exception):
    """Base class of every error matcalc raises on purpose."""

    kind = "error"

    def __init__(self, message: str, *, source: str | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.column = column  # 0-based column into ``source``

    def with_source(self, source: str) -> MatcalcError:
        if self.source is None:
            self.source = source
        return self

    def render(self) -> str:
        """The message, and when a position is known the line with a caret under it."""
        head = f"{self.kind}: {self.message}"
        if self.source is None or self.column is None:
            return head
        line, col = _locate(self.source, self.column)
        shown, col = _window(line, col)
        return f"{head}\n  {shown}\n  {' ' * col}^"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.render()


def _locate(source: str, column: int) -> tuple[str, int]:
    """The physical line holding offset ``column`` and the column within it."""
    column = max(0, min(column, len(source)))
    start = source.rfind("\n", 0, column) + 1
    end = source.find("\n", column)
    if end < 0:
        end = len(source)
    # one printable character per source character, so the caret stays under its column
    line = "".join(c if c.isprintable() else " " for c in source[start:end])
    return line, column - start


def _window(line: str, col: int, width: int = 76) -> tuple[str, int]:
    """Cut a long line to ``width`` characters around ``col``."""
    if len(line) <= width:
        return line, col
    start = max(0, min(col - width // 2, len(line) - width))
    shown = line[start : start + width]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(line) else ""
    return prefix + shown + suffix, col - start + len(prefix)


class ParseError(MatcalcError):
    """The expression is not well formed."""

    kind = "syntax error"


class ShapeError(MatcalcError):
    """Operand shapes do not fit together."""

    kind = "shape error"


class ArgumentError(MatcalcError):
    """A call has the wrong number of arguments, or a keyword it does not take."""

    kind = "argument error"


class UnknownFunctionError(MatcalcError):
    """A call names a function the registry does not know."""

    kind = "error"


class DeclarationError(MatcalcError):
    """A ``--shape`` declaration (or ``shapes=`` entry) is malformed."""

    kind = "error"


class VariableError(MatcalcError):
    """``wrt`` names a variable that is not in the expression and has no declared shape."""

    kind = "error"


class DomainError(MatcalcError):
    """The expression is undefined everywhere (a division by a literal zero)."""

    kind = "error"


class LimitError(MatcalcError):
    """The input exceeds a documented size or depth limit."""

    kind = "limit"


class UnsupportedError(MatcalcError):
    """The expression is valid but matcalc cannot (yet) differentiate or print it."""

    kind = "unsupported"


class CheckError(MatcalcError):
    """A verification could not be carried out (it did not fail; it could not run)."""

    kind = "check error"


class EvaluationError(MatcalcError):
    """Numeric evaluation failed (missing input, wrong array shape, domain violation)."""

    kind = "evaluation error"
