"""matcalc: closed-form derivatives of matrix expressions, in textbook notation.

>>> import matcalc
>>> print(matcalc.diff("sum(w*x) + b", "w"))
x
>>> print(matcalc.diff("logdet(X)", "X"))
X⁻ᵀ

Pipeline: :mod:`~matcalc.parse` (text → syntax tree) → :mod:`~matcalc.shapes`
(shape inference → checked tree) → :mod:`~matcalc.differentiate` (differentials) →
:mod:`~matcalc.extract` (gradients, Jacobians) → :mod:`~matcalc.simplify` →
:mod:`~matcalc.printing` / :mod:`~matcalc.verify`.
"""

from __future__ import annotations

from .errors import (
    ArgumentError,
    CheckError,
    DeclarationError,
    DomainError,
    EvaluationError,
    LimitError,
    MatcalcError,
    ParseError,
    ShapeError,
    UnknownFunctionError,
    UnsupportedError,
    VariableError,
)
from .parse import parse  # cheap: lark is imported on the first parse

__version__ = "0.1.0"

__all__ = [
    "diff",
    "shape",
    "parse",
    "check",
    "Derivative",
    "MatcalcError",
    "ParseError",
    "ShapeError",
    "ArgumentError",
    "UnknownFunctionError",
    "DeclarationError",
    "DomainError",
    "VariableError",
    "LimitError",
    "UnsupportedError",
    "CheckError",
    "EvaluationError",
]


def __getattr__(name: str):
    # the API pulls in the whole pipeline; import it on first use
    if name in ("diff", "shape", "Derivative"):
        from . import api

        return getattr(api, name)
    if name == "check":
        from .shapes import check

        return check
    raise AttributeError(f"module 'matcalc' has no attribute {name!r}")
