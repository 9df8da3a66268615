"""Textbook and paper derivative problems (tests/corpus.py), each held to five things.

For every problem:

(a) ``matcalc.diff`` succeeds (a failure is recorded even when it is a MatcalcError);
(b) ``numeric_check`` — central finite differences — agrees with the result;
(c) the source's closed form, evaluated *independently* with NumPy at the same point
    (its own small evaluator below, not matcalc's), agrees with the result;
(d) the result is not much larger than the closed form: tree_size(result) ≤
    max(4/3 · size(closed), size(closed) + 3), the closed form being parsed by
    matcalc in the same shapes; and it has no notation artifacts (see
    :func:`artifacts`): a matrix of ones (printed 𝟙, like the ones vector), a power
    of a constant such as 𝟙², or vec/⊗/K/unvec where the closed form needs none;
(e) ``latex()`` and ``numpy_source()`` succeed, and the generated NumPy function
    returns the same numbers as the evaluator.

Problems that fail today carry ``xfail(strict=True)`` with the reason (set in the
corpus), so a fix turns them into an XPASS failure that asks for the mark to go.
Run ``python tests/test_corpus.py`` for a table of every problem's outcome and sizes.
"""

from __future__ import annotations

import keyword
import math
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import matcalc
from matcalc.errors import MatcalcError
from matcalc.nodes import Commutation, Kron, Node, Ones, Pow, Unvec, Vec, tree_size, walk
from matcalc.numeric import NumericResult, numeric_check
from matcalc.shapes import check

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import INVALID, PROBLEMS, Problem  # noqa: E402

SIZE_FACTOR = 4 / 3
SIZE_SLACK = 3


# ---------------------------------------------------------------------- an independent NumPy evaluator


def _commutation(m: int, n: int) -> np.ndarray:
    """K_{mn}: K vec(A) = vec(Aᵀ) for an m×n A (column-major vec)."""
    k = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            k[j + i * n, i + j * m] = 1.0
    return k


def _col(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=float)


def _diag(v: Any) -> np.ndarray:
    """diag(v) of a column is the diagonal matrix; diag(X) of a square matrix is its diagonal (a column)."""
    v = _col(v)
    if v.shape[1] == 1:
        return np.diag(v[:, 0])
    return np.diag(v).reshape(-1, 1)


def _softmax(z: Any) -> np.ndarray:
    """softmax of a column; row-wise on a matrix (as matcalc defines it)."""
    z = _col(z)
    axis = 0 if z.shape[1] == 1 else 1
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(z: Any) -> Any:
    z = _col(z)
    if z.shape[1] == 1:
        return float(np.log(np.sum(np.exp(z))))
    return np.log(np.sum(np.exp(z), axis=1, keepdims=True))


def _sum(x: Any, axis: int | None = None, keepdims: bool = True) -> Any:
    """Closed forms are written on 2-D arrays, so a reduction keeps its dimensions
    (keepdims=True may be written, as matcalc's numpy dialect needs it beside a matrix)."""
    x = _col(x)
    return float(np.sum(x)) if axis is None else np.sum(x, axis=axis, keepdims=True)


def _mean(x: Any, axis: int | None = None, keepdims: bool = True) -> Any:
    x = _col(x)
    return float(np.mean(x)) if axis is None else np.mean(x, axis=axis, keepdims=True)


def _ones(r: int, c: int = 1) -> np.ndarray:
    return np.ones((r, c))


def _expm(a: np.ndarray) -> np.ndarray:
    """exp(A) = Σ Aᵏ/k!, by scaling and squaring of a truncated series (no SciPy needed)."""
    s = max(0, int(np.ceil(np.log2(max(np.linalg.norm(a, 1), 1e-300)))) + 1)
    b = a / 2.0**s
    out, term = np.eye(len(a)), np.eye(len(a))
    for k in range(1, 20):
        term = term @ b / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def _scalar_fn(f: Callable[[np.ndarray], Any]) -> Callable[[Any], float]:
    return lambda a: float(f(_col(a)))


NUMPY_NAMESPACE: dict[str, Any] = {
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "sqrt": np.sqrt,
    "sign": np.sign, "abs": np.abs,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-_col(z))),
    "relu": lambda z: np.maximum(_col(z), 0.0),
    "softplus": lambda z: np.logaddexp(0.0, _col(z)),
    "softmax": _softmax, "logsumexp": _logsumexp,
    "tr": _scalar_fn(np.trace), "det": _scalar_fn(np.linalg.det),
    "logdet": _scalar_fn(lambda a: np.linalg.slogdet(a)[1]),
    "inv": lambda a: np.linalg.inv(_col(a)),
    "norm": lambda a: float(np.sqrt(np.sum(_col(a) ** 2))),
    "diag": _diag, "kron": lambda a, b: np.kron(_col(a), _col(b)),
    "vec": lambda a: _col(a).reshape(-1, 1, order="F"),
    "eye": np.eye, "ones": _ones, "dim": lambda n: n, "commutation": _commutation,
    "sum": _sum, "mean": _mean,
    "dot": lambda a, b: float(np.sum(_col(a) * _col(b))),
    "outer": lambda a, b: _col(a) @ _col(b).T,
    "expm": lambda a: _expm(_col(a)),
    "erf": np.vectorize(math.erf, otypes=[float]),
    "max": lambda a, b=None: float(np.max(_col(a))) if b is None else np.maximum(a, b),
    "min": lambda a, b=None: float(np.min(_col(a))) if b is None else np.minimum(a, b),
    "pi": np.pi,
    "var": lambda a: float(np.var(_col(a))),
    "std": lambda a: float(np.std(_col(a))),
    "prod": lambda a: float(np.prod(_col(a))),
}


def _python_name(name: str) -> str:
    return "lambda_" if name == "lambda" else name


def evaluate_closed_form(closed: str, point: dict[str, np.ndarray], sizes: dict[str, int]) -> np.ndarray:
    """The closed form (numpy dialect) at ``point`` (2-D arrays: columns n×1, scalars 1×1), by plain NumPy."""
    ns = dict(NUMPY_NAMESPACE)
    ns.update(sizes)
    ns.update({_python_name(k): np.asarray(v, dtype=float) for k, v in point.items()})
    code = re.sub(r"\blambda\b", "lambda_", closed)
    val = eval(code, {"__builtins__": {}}, ns)  # noqa: S307 - our own corpus text
    return np.atleast_2d(np.asarray(val, dtype=float))


# ---------------------------------------------------------------------- the five checks


def declarations(d: matcalc.Derivative) -> dict[str, str]:
    """Every variable's shape as a declaration, so the closed form parses with the same dimensions."""
    out: dict[str, str] = {}
    for name, v in {**d.checked.declared, **d.variables}.items():
        s = v.shape
        if s.is_scalar:
            out[name] = "scalar"
        elif s.cols.is_one:
            out[name] = str(s.rows)
        else:
            out[name] = f"{s.rows} x {s.cols}" + (" symmetric" if v.symmetric else "")
    return out


def differentiate(p: Problem) -> matcalc.Derivative:
    d = matcalc.diff(p.expr, p.wrt, shapes=p.shapes or None, syntax=p.syntax, layout=p.layout, order=p.order)
    assert isinstance(d, matcalc.Derivative)
    return d


def closed_form_node(p: Problem, d: matcalc.Derivative) -> Node:
    """The closed form parsed by matcalc in the problem's shapes (for its size and notation only)."""
    assert p.closed is not None
    return check(p.closed, declarations(d), "numpy").expr


_VEC_NOTATION = (Kron, Vec, Unvec, Commutation)


def artifacts(result: Node, closed: Node | None) -> list[str]:
    """Notation a textbook would not print: each entry names one artifact found in ``result``.

    * a power of a matrix or vector of ones, 𝟙² (which is 𝟙);
    * K₍1,n₎ or K₍n,1₎, an identity printed as K;
    * vec, unvec, ⊗ or K in a result whose closed form has none (vec notation leaking
      into a gradient, Jacobian or Hessian that a book writes without it).
    """
    found: list[str] = []
    nodes = list(walk(result))
    if any(isinstance(n, Pow) and isinstance(n.base, Ones) for n in nodes):
        found.append("a power of 𝟙")
    if any(isinstance(n, Commutation) and (n.r.is_one or n.c.is_one) for n in nodes):
        found.append("a commutation matrix K with a dimension 1, which is an identity")
    if closed is not None and not any(isinstance(n, _VEC_NOTATION) for n in walk(closed)):
        leaked = sorted({type(n).__name__ for n in nodes if isinstance(n, _VEC_NOTATION)})
        if leaked:
            found.append("vec notation (" + ", ".join(leaked) + ") the closed form does without")
    return found


def size_limit(book: int) -> float:
    return max(SIZE_FACTOR * book, book + SIZE_SLACK)


def compare_closed_form(p: Problem, r: NumericResult) -> float:
    """Max |closed form − matcalc| at the numeric check's point, scaled; raises on a shape mismatch."""
    assert p.closed is not None
    want = evaluate_closed_form(p.closed, r.point, r.sizes)
    got = r.got
    if want.shape != got.shape:
        assert want.size == got.size == 1, f"closed form is {want.shape}, matcalc gives {got.shape}"
        want = want.reshape(got.shape)
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    return float(np.max(np.abs(want - got), initial=0.0)) / scale


def _argument_name(name: str) -> str:
    """The generated code's parameter for a variable: a Python keyword gets a trailing underscore (lambda → lambda_)."""
    return name + "_" if keyword.iskeyword(name) else name


def compare_generated_code(d: matcalc.Derivative, r: NumericResult) -> float:
    from matcalc.codegen import compile_function
    from matcalc.evaluate import to_user_shape

    fn = compile_function(d)
    variables = {**d.variables}
    variables.setdefault(d.wrt.name, d.wrt)
    args = {_argument_name(k): to_user_shape(r.point[k], v.shape) for k, v in variables.items() if k in r.point}
    out = np.atleast_2d(np.asarray(fn(**args), dtype=float))
    got = r.got
    if out.shape != got.shape:
        out = out.reshape(got.shape) if out.size == got.size and 1 in got.shape else out
    assert out.shape == got.shape, f"generated code returns {out.shape}, evaluator {got.shape}"
    scale = max(1.0, float(np.max(np.abs(got), initial=0.0)))
    return float(np.max(np.abs(out - got), initial=0.0)) / scale


def run_problem(p: Problem) -> dict[str, Any]:
    """All five checks; returns measurements and raises AssertionError on the first failure."""
    try:
        d = differentiate(p)
    except MatcalcError as e:
        raise AssertionError(f"(a) diff raised {type(e).__name__}: {e}") from e
    r = numeric_check(d)
    assert r.ok, f"(b) finite differences disagree with {d.text!r}: {r.first_mismatch()}"
    info: dict[str, Any] = {"text": d.text, "size": tree_size(d.node), "book": None}
    if p.closed is not None:
        err = compare_closed_form(p, r)
        assert err < 1e-7, f"(c) closed form {p.closed!r} disagrees with {d.text!r} (relative error {err:.3g})"
        book_node = closed_form_node(p, d)
        info["book"] = book = tree_size(book_node)
        assert info["size"] <= size_limit(book), f"(d) {d.text!r} has {info['size']} nodes, the closed form {book}"
    else:
        book_node = None
    found = artifacts(d.node, book_node)
    assert not found, f"(d) {d.text!r}: " + "; ".join(found)
    d.latex()
    d.numpy_source()
    err = compare_generated_code(d, r)
    assert err < 1e-8, f"(e) generated NumPy code disagrees with the evaluator (relative error {err:.3g})"
    return info


def _param(p: Problem):
    marks = [pytest.mark.xfail(strict=True, reason=p.xfail)] if p.xfail else []
    return pytest.param(p, id=p.id, marks=marks)


def test_corpus_ids_are_unique_and_large_enough():
    ids = [p.id for p in PROBLEMS]
    assert len(ids) == len(set(ids))
    assert len(PROBLEMS) >= 120
    assert sum(p.closed is not None for p in PROBLEMS) >= 100


@pytest.mark.parametrize("problem", [_param(p) for p in PROBLEMS])
def test_problem(problem: Problem):
    run_problem(problem)


@pytest.mark.parametrize("expr,wrt,opts", INVALID, ids=[f"{e}|{w}" for e, w, _ in INVALID])
def test_invalid_problem_raises_matcalc_error(expr: str, wrt: str, opts: dict[str, Any]):
    with pytest.raises(MatcalcError) as info:
        matcalc.diff(expr, wrt, **opts)
    assert info.value.render().strip()


def test_closed_form_evaluator_is_sound():
    """The independent evaluator itself: K vec(A) = vec(Aᵀ), diag round trip, row-wise softmax sums to one."""
    a = np.arange(6.0).reshape(2, 3)
    vec = NUMPY_NAMESPACE["vec"]
    np.testing.assert_array_equal(_commutation(2, 3) @ vec(a), vec(a.T))
    np.testing.assert_array_equal(_diag(_diag(np.array([[1.0], [2.0]]))), [[1.0], [2.0]])
    np.testing.assert_allclose(_softmax(a).sum(axis=1), 1.0)
    val = evaluate_closed_form("x.T@A@x + lambda", {"x": np.ones((3, 1)), "A": np.eye(3), "lambda": np.ones((1, 1))}, {})
    assert val.shape == (1, 1) and val[0, 0] == 4.0


# ---------------------------------------------------------------------- a report for humans


def main() -> None:  # pragma: no cover - a developer tool
    rows = []
    t0 = time.perf_counter()
    for p in PROBLEMS:
        t = time.perf_counter()
        try:
            info = run_problem(p)
            status, note = "pass", ""
        except Exception as e:  # noqa: BLE001
            info, status, note = {}, "FAIL", f"{type(e).__name__}: {e}".splitlines()[0][:160]
        flag = "" if (status == "pass") == (p.xfail is None) else "  <-- mark mismatch"
        rows.append(status)
        print(f"{status:4} {p.id:34} {time.perf_counter() - t:5.2f}s size {info.get('size')}/{info.get('book')}  "
              f"{info.get('text', note)}{flag}")
    print(f"{rows.count('pass')}/{len(rows)} pass in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":  # pragma: no cover
    main()


def test_simplification_is_idempotent_on_every_answer():
    """One simplification pass reaches a fixed point: simplifying an answer again (with
    fresh memos) changes nothing.  (A second pass used to enforce this; it never fired.)"""
    from matcalc.simplify import simplify

    moved = []
    for p in PROBLEMS:
        if p.xfail:
            continue
        d = matcalc.diff(p.expr, p.wrt, shapes=p.shapes or None, order=p.order, syntax=p.syntax, layout=p.layout)
        again = simplify(d.node)
        if again is not d.node:
            moved.append(f"{p.id}: {d.text} → {matcalc.printing.to_text(again)}")
    assert not moved, moved
