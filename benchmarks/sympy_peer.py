"""SymPy as a peer: the same expression built from ``MatrixSymbol``\\ s and differentiated
with ``MatrixExpr.diff`` (twice for a Hessian), then evaluated at the benchmark point.

Timing covers building the expression and ``.diff`` with symbolic dimensions
(``n``, ``m``, … as SymPy integer symbols), as matcalc's time covers parsing, shape
inference and differentiation.  SymPy's global cache is cleared before every timed
call (outside the timed region), so each call is a first call, as for a user's new
expression; without that its cache would hand back the previous repeat's answer.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from .cases import Case


def namespace(case: Case, variables: dict[str, Any], dim_values: dict[str, Any] | None = None) -> SimpleNamespace:
    """MatrixSymbols for ``case``'s variables (a dict name → matcalc Var); dims symbolic unless ``dim_values``."""
    import sympy as sp

    dims: dict[str, Any] = {}

    def dim(d: Any) -> Any:
        out: Any = d.coef
        for s in d.syms:
            if s not in dims:
                dims[s] = (dim_values or {}).get(s) or sp.Symbol(s, integer=True, positive=True)
            out = out * dims[s]
        return out

    ns = SimpleNamespace(sp=sp, dims=dims)
    ns.one = lambda k: sp.OneMatrix(1, k)
    for name, var in variables.items():
        attr = "lam" if name == "lambda" else name
        r, c = dim(var.shape.rows), dim(var.shape.cols)
        setattr(ns, attr, sp.MatrixSymbol(name, r, c))
        if var.shape.is_scalar:
            scalar = sp.Symbol(name)
            setattr(ns, attr + "_sym", scalar)
            if name == "lambda":
                ns.lam = scalar
    return ns


def differentiate(case: Case, variables: dict[str, Any], dim_values: dict[str, Any] | None = None) -> Any:
    """Build the case's SymPy expression and differentiate it (``order`` times)."""
    ns = namespace(case, variables, dim_values)
    assert case.sympy is not None
    expr = case.sympy(ns)
    attr = "lam" if case.wrt == "lambda" else case.wrt
    var = getattr(ns, attr)
    if case.wrt in variables and variables[case.wrt].shape.is_scalar and hasattr(ns, attr + "_sym"):
        var = getattr(ns, attr + "_sym")
    out = expr
    for _ in range(case.order):
        out = out.diff(var)
    return out


def unevaluated(result: Any) -> bool:
    """SymPy gave back an unevaluated derivative (no closed form)."""
    import sympy as sp
    from sympy.tensor.array.array_derivatives import ArrayDerivative

    return isinstance(result, (sp.Derivative, ArrayDerivative)) or bool(result.atoms(sp.Derivative, ArrayDerivative))


def evaluate(result: Any, case: Case, variables: dict[str, Any], sizes: dict[str, int], point: dict[str, np.ndarray]) -> np.ndarray:
    """The SymPy result at ``point`` (2-D arrays by variable name) with the dimension symbols set to ``sizes``."""
    import sympy as sp

    dims = {sp.Symbol(k, integer=True, positive=True): v for k, v in sizes.items()}
    expr = result.xreplace(dims) if dims else result
    repl: dict[Any, Any] = {}
    for name, var in variables.items():
        a = point[name]
        r, c = a.shape
        repl[sp.MatrixSymbol(name, r, c)] = sp.ImmutableMatrix(a.tolist())
        if var.shape.is_scalar:
            repl[sp.Symbol(name)] = float(a[0, 0])
    out = expr.xreplace(repl)
    for _ in range(3):
        if hasattr(out, "doit"):
            out = out.doit()
        if hasattr(out, "as_explicit"):
            out = out.as_explicit()
        try:
            return np.array(sp.Array(out).tolist() if not hasattr(out, "tolist") else out.tolist(), dtype=float)
        except (TypeError, ValueError, AttributeError):
            try:
                return np.array(float(out), dtype=float)
            except (TypeError, ValueError):
                continue
    raise ValueError(f"could not evaluate SymPy's result to numbers: {type(out).__name__}")
