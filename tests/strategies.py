"""Hypothesis strategies for matcalc: random well-shaped expressions and syntax trees.

:func:`cases` draws a :class:`Case`: source text over the whole language (numpy or
matlab dialect), the declared shapes of its variables, the variable to
differentiate by, a layout and an order.  Expressions are generated top-down from a
target shape over the dimension symbols m, n, p (and the compound sizes m·n, … that
``vec`` and ``kron`` produce), so every matrix product is consistent by
construction.  Every elementwise function of :data:`matcalc.registry.ELEMENTWISE`
(and every alias) is drawn from the registry itself, so a newly registered function
is generated the moment it is registered; structural functions each have a
production in :data:`STRUCTURAL`, and ``test_registry`` fails when one is missing.

Domains are respected by construction rather than by luck:

* an argument of a function with a restricted domain is either a positive
  construction (``1 + E**2``, ``exp(tanh(E))``, ``softplus(E) + 0.5``, …) whose range
  lies inside the domain, or the affine image ``lo + (hi − lo)·σ(E)`` of the
  function's own sampling interval;
* ``inv``, ``det``, ``logdet`` and negative matrix powers take well-conditioned
  matrices: ``I + c·tanh(E)`` with c·size < 1 (singular values in [1 − c·n, 1 + c·n]),
  or ``E Eᵀ + I`` with a bounded E;
* every subexpression carries a bound on the magnitude of its entries (variables
  taken as |v| ≤ 3, each dimension as at most 4); a subexpression whose bound grows
  past :data:`LIMIT` is squashed (``tanh``, ``sin``, ``arctan``, ``sigmoid``), and an
  unrestricted function whose values over the argument's range would exceed 10³ gets
  a squashed argument, so nothing overflows and finite differences stay accurate.

The module also keeps :data:`STATS`, counters that the test-session summary prints.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
from hypothesis import strategies as st

from matcalc import registry
from matcalc import syntax as S
from matcalc.evaluate import numpy_function

# ---------------------------------------------------------------- shared counters

#: Session counters: cases run, skipped for domain, ascii checks, slow cases, … (printed by conftest).
STATS: Counter[str] = Counter()
#: Cases slower than :data:`SLOW_SECONDS`, with their time.
SLOW: list[tuple[float, str]] = []
SLOW_SECONDS = 1.0


def scaled(n: int) -> int:
    """``n`` examples under the default profile, ten times as many under ``hunt`` (max_examples 1000)."""
    from hypothesis import settings

    return max(1, n * settings.default.max_examples // 100)


def record_time(seconds: float, what: str) -> None:
    """Remember a case that took longer than :data:`SLOW_SECONDS`."""
    if seconds > SLOW_SECONDS:
        SLOW.append((seconds, what))


class Timer:
    """``with Timer() as t: …``; ``t.seconds`` afterwards."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


# ---------------------------------------------------------------- shapes

Dim = tuple[str, ...]  # sorted dimension symbols; () is 1, ("m", "n") is m·n
Shape = tuple[Dim, Dim]

SYMBOLS = ("m", "n", "p")
ONE: Dim = ()
SCALAR: Shape = ((), ())
#: entries above this bound are squashed
LIMIT = 50.0
#: an elementwise function whose values would exceed this gets a squashed argument
FN_LIMIT = 1e3


def size(d: Dim) -> int:
    """An upper bound on the numeric size of a dimension (the numeric check uses 2, 3, 4)."""
    return 4 ** len(d)


def dim_text(d: Dim) -> str:
    return "·".join(d) or "1"


def shape_text(s: Shape) -> str:
    return f"{dim_text(s[0])}×{dim_text(s[1])}"


def merge(a: Dim, b: Dim) -> Dim:
    return tuple(sorted(a + b))


def single_splits(d: Dim) -> list[tuple[Dim, Dim]]:
    """The ways to write d as d₁·d₂ with at most one symbol in each."""
    if len(d) == 2:
        return list(dict.fromkeys([(d[:1], d[1:]), (d[1:], d[:1])]))
    return splits(d)


def splits(d: Dim) -> list[tuple[Dim, Dim]]:
    """Every way to write d as a product d₁·d₂ (order matters: kron(A, B) ≠ kron(B, A))."""
    if not d:
        return [((), ())]
    if len(d) == 1:
        return [(d, ()), ((), d)]
    a, b = d
    out = [((a,), (b,)), ((b,), (a,)), (d, ()), ((), d)]
    return list(dict.fromkeys(out))


# ---------------------------------------------------------------- generated pieces

# syntactic levels, loosest first (higher binds tighter)
COMPARE, SUM, PRODUCT, UNARY, POWER, POSTFIX, ATOM = range(1, 8)


@dataclass(frozen=True)
class G:
    """A generated subexpression: its text, syntactic level, shape, a bound on |entries|
    (and, when known, a positive lower bound ``lo`` on its entries), and its variables."""

    text: str
    level: int
    shape: Shape
    bound: float
    vars: frozenset[str] = frozenset()
    lo: float | None = None


#: other ways to write a number (never a trailing dot: "2.**x" lexes as 2 .* *x, by design)
NUMBER_SPELLINGS = {"0.5": [".5", "5e-1", "0.50"], "2": ["2.0", "2e0"], "0.1": ["1e-1", "1E-1", ".1"], "0.25": ["2.5e-1"]}


def wrap(g: G, need: int) -> str:
    return g.text if g.level >= need else f"({g.text})"


def fmt(x: float) -> str:
    """A short number literal (never negative; callers add the sign)."""
    return f"{x:.4g}"


@dataclass
class Case:
    """One generated test case, reproducible by ``repr``."""

    source: str
    shapes: dict[str, Any]
    wrt: str
    layout: str
    order: int
    syntax: str
    shape: str  # the intended shape of the expression (for messages)
    extra: dict[str, Any] = field(default_factory=dict)

    def call(self, layout: str | None = None) -> str:
        return (
            f"matcalc.diff({self.source!r}, {self.wrt!r}, shapes={self.shapes!r}, syntax={self.syntax!r}, "
            f"layout={(layout or self.layout)!r}, order={self.order})"
        )

    def __repr__(self) -> str:
        return self.call()


# ---------------------------------------------------------------- registry facts


@dataclass(frozen=True)
class FnInfo:
    """What the generator needs to know about an elementwise function."""

    entry: registry.Elementwise
    lo: float  # its sampling interval
    hi: float


@cache
def fn_info(entry: registry.Elementwise) -> FnInfo:
    rng = np.random.default_rng(0)
    pts = np.asarray(entry.sample(rng, (4000,)), dtype=float)
    return FnInfo(entry, float(pts.min()), float(pts.max()))


def range_bound(entry: registry.Elementwise, intervals: tuple[tuple[float, float], ...]) -> float:
    """max |f| over the box of argument intervals (a grid estimate; inf if not finite or out of domain)."""
    f = numpy_function(entry)
    k = 201 if entry.arity == 1 else 41
    grids = np.meshgrid(*[np.linspace(lo, hi, k) for lo, hi in intervals], indexing="ij")
    if entry.in_domain is not None and not np.all(entry.in_domain(*grids)):
        return math.inf
    with np.errstate(all="ignore"):
        vals = np.asarray(f(*grids), dtype=float)
    if not np.all(np.isfinite(vals)):
        return math.inf
    return float(np.max(np.abs(vals), initial=0.0))


def elementwise_names() -> list[tuple[str, registry.Elementwise]]:
    """Every (name, entry) the user can call, aliases included, from the registry."""
    out = []
    for name, entry in sorted(registry.FUNCTIONS.items()):
        if isinstance(entry, registry.Elementwise):
            out.append((name, entry))
    return out


def names_of(canonical: str) -> list[str]:
    """The canonical name of a registry entry and its aliases (as registered)."""
    entry = registry.FUNCTIONS[canonical]
    return [entry.name, *entry.aliases]


# ---------------------------------------------------------------- the generator


class Gen:
    """Draws one expression top-down from a target shape."""

    def __init__(self, draw: Callable[[Any], Any], dialect: str):
        self.draw = draw
        self.dialect = dialect
        self.declared: dict[str, Shape] = {}
        self.symmetric: set[str] = set()
        self.compact = draw(st.booleans())  # operators without spaces: 2.*x, x'*y
        self.fresh_ok = True  # may use leaves whose size is inferred (eye(), vector(c), matrix(c))
        #: tr(expm(A)) only in first derivatives: its second needs d e^A outside a trace, which has no closed form
        self.first_order = False

    # ---- drawing helpers

    def pick(self, options: list[Any]) -> Any:
        return options[self.draw(st.integers(0, len(options) - 1))]

    def weighted(self, options: list[tuple[float, Any]]) -> Any:
        options = [(w, o) for w, o in options if w > 0]
        total = sum(int(round(w * 10)) for w, _ in options)
        k = self.draw(st.integers(0, total - 1))
        for w, o in options:
            k -= int(round(w * 10))
            if k < 0:
                return o
        return options[-1][1]  # pragma: no cover

    def coin(self, p: float) -> bool:
        return self.draw(st.integers(0, 99)) < int(p * 100)

    def dim(self, simple: bool = True, allow_one: bool = True) -> Dim:
        opts: list[tuple[float, Dim]] = [(1, ("m",)), (1, ("n",)), (1, ("p",))]
        if allow_one:
            opts.insert(0, (0.6, ()))
        if not simple:
            opts += [(0.25, ("m", "n")), (0.1, ("n", "n"))]
        return self.weighted(opts)

    # ---- rendering helpers (dialect-aware)

    def op(self, numpy: str, matlab: str | None = None) -> str:
        sym = numpy if self.dialect == "numpy" or matlab is None else matlab
        return sym if self.compact else f" {sym} "

    def mul_sym(self, a: Shape, b: Shape) -> str:
        """Elementwise product: * in numpy (sometimes .*), .* in matlab (* when a side is a scalar)."""
        if self.dialect == "matlab":
            scalar = a == SCALAR or b == SCALAR
            return self.op("*" if scalar and self.coin(0.5) else ".*")
        return self.op(".*" if self.coin(0.1) else "*")

    def div_sym(self, b: Shape) -> str:
        if self.dialect == "matlab":
            return self.op("/" if b == SCALAR and self.coin(0.5) else "./")
        return self.op("./" if self.coin(0.1) else "/")

    def matmul_sym(self) -> str:
        if self.dialect == "matlab":
            return self.op("@" if self.coin(0.1) else "*")
        return self.op("@")

    def pow_sym(self) -> str:
        if self.dialect == "matlab":
            return ".^" if self.coin(0.8) else "**"
        return "**" if self.coin(0.6) else "^"

    def tmark(self, g: G) -> str:
        if self.coin(0.3):
            if g.level == ATOM and g.text[-1:].isdigit() and g.text.replace(".", "").isdigit():
                return "(" + g.text + ").T"  # 2.T would lex as the number 2. and a name T
            return wrap(g, POSTFIX) + ".T"
        return wrap(g, POSTFIX) + "'"

    def call(self, canonical: str, *args: str) -> str:
        name = self.pick(names_of(canonical))
        return f"{name}({', '.join(args)})"

    # ---- combinators

    def sum_(self, a: G, b: G, minus: bool = False, shape: Shape | None = None) -> G:
        text = wrap(a, SUM) + self.op("-" if minus else "+") + wrap(b, PRODUCT)
        lo = None
        if not minus and a.lo is not None and b.lo is not None:
            lo = a.lo + b.lo
        return G(text, SUM, shape or a.shape, a.bound + b.bound, a.vars | b.vars, lo)

    def mul(self, a: G, b: G, shape: Shape | None = None) -> G:
        text = wrap(a, PRODUCT) + self.mul_sym(a.shape, b.shape) + wrap(b, UNARY)
        lo = a.lo * b.lo if a.lo is not None and b.lo is not None else None
        return G(text, PRODUCT, shape or a.shape, a.bound * b.bound, a.vars | b.vars, lo)

    def num(self, x: float) -> G:
        text = fmt(x)
        if text in NUMBER_SPELLINGS and self.coin(0.2):
            text = self.pick(NUMBER_SPELLINGS[text])
        return G(text, ATOM, SCALAR, x, frozenset(), x if x > 0 else None)

    def fn(self, canonical: str, a: G, bound: float, lo: float | None = None, shape: Shape | None = None) -> G:
        return G(self.call(canonical, a.text), ATOM, shape or a.shape, bound, a.vars, lo)

    # ---- variables and leaves

    def variable(self, s: Shape) -> G | None:
        r, c = s
        if len(r) > 1 or len(c) > 1:
            return None
        if s == SCALAR:
            name = self.pick(["a", "b", "alpha"])
        elif c == ():
            name = self.pick(["x", "y", "w"]) + r[0]
        elif r == ():
            name = "r" + c[0]
        elif r == c and self.coin(0.2):
            name = "S" + r[0]
            self.symmetric.add(name)
        else:
            name = self.pick(["A", "B", "W"]) + r[0] + c[0]
        self.declared[name] = s
        return G(name, ATOM, s, 3.0, frozenset([name]))

    def var_leaf(self, s: Shape) -> G:
        """A leaf of shape s that contains a variable (vec/kron of variables for compound sizes)."""
        r, c = s
        v = self.variable(s)
        if v is not None:
            if r == () and c != () and self.coin(0.6):  # a row: mostly a transposed column
                col = self.variable((c, ()))
                assert col is not None
                return G(self.tmark(col), POSTFIX, s, col.bound, col.vars)
            return v
        if c == () or r == ():  # a compound column (or row): vec(X) or kron(x, y)
            dd = r or c
            first, second = self.pick([(dd[:1], dd[1:]), (dd[1:], dd[:1])])
            if self.coin(0.5):
                x = self.var_leaf((first, second))
                g = G(self.call("vec", x.text), ATOM, (dd, ()), x.bound, x.vars)
            else:
                p, q = self.var_leaf((first, ())), self.var_leaf((second, ()))
                g = G(self.call("kron", p.text, q.text), ATOM, (dd, ()), p.bound * q.bound, p.vars | q.vars)
            return g if c == () else G(self.tmark(g), POSTFIX, s, g.bound, g.vars)
        r1, r2 = self.pick(single_splits(r))
        c1, c2 = self.pick(single_splits(c))
        p, q = self.var_leaf((r1, c1)), self.var_leaf((r2, c2))
        return G(self.call("kron", p.text, q.text), ATOM, s, p.bound * q.bound, p.vars | q.vars)

    def leaf(self, s: Shape) -> G:
        r, c = s
        opts: list[tuple[float, Callable[[], G]]] = [(7, lambda: self.var_leaf(s))]
        if s == SCALAR:
            opts += [(2, lambda: self.num(self.pick([2.0, 0.5, 3.0, 0.25, 1.5, 0.1]))), (0.3, self.dim_value)]
        if r == c and len(r) == 1:
            opts.append((1, lambda: G(self.call("eye", r[0]), ATOM, s, 1.0)))
        if r == c and r and self.fresh_ok:
            opts.append((0.3, lambda: G(self.call("eye"), ATOM, s, 1.0)))
        if r == c and len(r) == 2 and r[0] != r[1]:
            opts.append((0.3, lambda: G(self.call("commutation", *self.pick([r, r[::-1]])), ATOM, s, 1.0)))
        if len(r) <= 1 and len(c) <= 1 and s != SCALAR:
            sizes = [r[0] if r else "1"] + ([c[0]] if c else [])
            opts.append((0.5, lambda: G(self.call("ones", *sizes), ATOM, s, 1.0)))
            opts.append((0.15, lambda: G(self.call("zeros", *sizes), ATOM, s, 0.0)))
        if len(r) == 1 and c == () and self.fresh_ok:
            opts.append((0.3, lambda: self.filled("vector", s)))
        if len(r) == 1 and len(c) == 1 and self.fresh_ok:
            opts.append((0.2, lambda: self.filled("matrix", s)))
        return self.weighted(opts)()

    def filled(self, fn: str, s: Shape) -> G:
        c = self.weighted([(2, lambda: self.num(self.pick([2.0, 0.5]))), (1, lambda: self.variable(SCALAR))])()
        return G(self.call(fn, c.text), ATOM, s, c.bound, c.vars)

    def dim_value(self) -> G:
        return G(self.call("dim", self.pick(SYMBOLS)), ATOM, SCALAR, 4.0, frozenset(), 2.0)

    # ---- taming and domains

    def tame(self, g: G, limit: float = LIMIT) -> G:
        """g itself when its entries are bounded by ``limit``, else a squashed g."""
        if g.bound <= limit:
            return g
        which = self.pick(["tanh", "sin", "arctan", "sigmoid"])
        return self.fn(which, g, {"arctan": math.pi / 2}.get(which, 1.0))

    def positive(self, s: Shape, depth: int) -> G:
        """An expression of shape s whose entries are ≥ lo > 0 (and bounded)."""
        one = self.num(1.0)

        def square_plus_one() -> G:
            e = self.tame(self.expr(s, depth), 6.0)
            sq = self.pick(["pow", "square", "mul"])
            if sq == "pow":
                t = G(wrap(e, POSTFIX) + self.pow_sym() + "2", POWER, s, e.bound**2, e.vars)
            elif sq == "square":
                t = self.fn("square", e, e.bound**2)
            else:
                t = self.mul(e, e)
            return G(self.sum_(one, t, shape=s).text, SUM, s, 1 + e.bound**2, e.vars, 1.0)

        def exp_bounded() -> G:
            e = self.tame(self.expr(s, depth), 2.0)
            return self.fn("exp", e, math.exp(e.bound), math.exp(-e.bound))

        def softplus_plus() -> G:
            e = self.tame(self.expr(s, depth), 10.0)
            return G(
                self.sum_(self.fn("softplus", e, e.bound + 1), self.num(0.5), shape=s).text, SUM, s, e.bound + 1.5, e.vars, 0.5
            )

        def shifted() -> G:
            e = self.expr(s, depth)
            f = self.pick(["tanh", "sin", "cos"])
            return G(self.sum_(self.num(2.0), self.fn(f, e, 1.0), shape=s).text, SUM, s, 3.0, e.vars, 1.0)

        def sigmoid_plus() -> G:
            e = self.expr(s, depth)
            return G(self.sum_(self.fn("sigmoid", e, 1.0), self.num(0.25), shape=s).text, SUM, s, 1.25, e.vars, 0.25)

        def cosh_bounded() -> G:
            e = self.tame(self.expr(s, depth), 2.0)
            return self.fn("cosh", e, math.cosh(e.bound), 1.0)

        def norm_sq() -> G:  # scalar only
            sh = self.any_shape()
            e = self.tame(self.expr(sh, depth), 3.0)
            t = G(self.norm_call(sh, e.text) + self.pow_sym() + "2", POWER, SCALAR, 1.0, e.vars)
            return G(self.sum_(t, one).text, SUM, SCALAR, 1 + e.bound**2 * 16, e.vars, 1.0)

        def sum_exp() -> G:  # scalar only
            e = self.tame(self.expr(self.any_shape(), depth), 2.0)
            inner = self.fn("exp", e, math.exp(e.bound))
            return G(self.call("sum", inner.text), ATOM, SCALAR, math.exp(e.bound) * 16, e.vars, math.exp(-e.bound))

        def raw_variable() -> G:  # relies on the numeric check's all-positive sampling strategy
            v = self.var_leaf(s)
            return G(v.text, v.level, s, v.bound, v.vars, 0.5)

        opts: list[tuple[float, Callable[[], G]]] = [
            (3, square_plus_one),
            (3, exp_bounded),
            (2, softplus_plus),
            (2, shifted),
            (1, sigmoid_plus),
            (1, cosh_bounded),
            (0.3, raw_variable),
        ]
        if s == SCALAR:
            opts += [(1, norm_sq), (1, sum_exp)]
        return self.weighted(opts)()

    def fn_arg(self, entry: registry.Elementwise, s: Shape, depth: int) -> tuple[G, float]:
        """An argument of shape s inside the function's domain, and the bound of f on it."""
        info = fn_info(entry)
        if entry.in_domain is None and self.coin(0.8):
            a = self.expr(s, depth)
            for _ in range(2):
                b = range_bound(entry, ((-a.bound, a.bound),))
                if b <= FN_LIMIT:
                    return a, b
                a = self.tame(a, 1.0) if a.bound > 1.0 else self.fn("tanh", a, 1.0)
        elif entry.in_domain is not None and self.coin(0.6):
            p = self.positive(s, depth)
            if p.lo is not None:
                b = range_bound(entry, ((p.lo, p.bound),))
                if b <= FN_LIMIT:
                    return p, b
        return self.sampled_arg(info, s, depth), range_bound(entry, ((info.lo, info.hi),))

    def sampled_arg(self, info: FnInfo, s: Shape, depth: int) -> G:
        """lo + (hi − lo)·σ(E): an argument inside the function's own sampling interval."""
        e = self.expr(s, depth)
        sig = self.fn("sigmoid", e, 1.0)
        scaled = self.mul(self.num(info.hi - info.lo), sig, shape=s)
        start = ("-" + fmt(-info.lo)) if info.lo < 0 else fmt(info.lo)
        text = start + self.op("+") + wrap(scaled, PRODUCT)
        return G(text, SUM, s, max(abs(info.lo), abs(info.hi)), e.vars)

    def well(self, d: Dim, depth: int, spd: bool = False) -> G:
        """A well-conditioned d×d matrix (for logdet: with positive determinant)."""
        s = (d, d)
        eye = G(self.call("eye", d[0]) if len(d) == 1 and self.coin(0.8) else self.call("eye"), ATOM, s, 1.0)

        def perturbed() -> G:
            c = 0.5 / size(d)
            e = self.fn("tanh", self.expr(s, depth), 1.0)
            t = self.mul(self.num(c), e, shape=s)
            return self.sum_(eye, t, shape=s)

        def gram() -> G:
            k = self.dim()
            e = self.tame(self.expr((d, k), depth), 1.5)
            scale = 1.0 / max(1.0, e.bound**2 * size(k))
            et = G(self.tmark(e), POSTFIX, (k, d), e.bound, e.vars)
            prod = G(wrap(e, PRODUCT) + self.matmul_sym() + wrap(et, UNARY), PRODUCT, s, 1.0 / scale, e.vars)
            if scale < 1:
                prod = self.mul(self.num(scale), prod, shape=s)
            return self.sum_(prod, eye, shape=s) if self.coin(0.5) else self.sum_(eye, prod, shape=s)

        return self.weighted([(1, perturbed), (1, gram)] if not spd else [(0.5, perturbed), (1, gram)])()

    # ---- the expression grammar

    def any_shape(self) -> Shape:
        return self.weighted(
            [(2, SCALAR), (2, (self.dim(allow_one=False), ())), (2, (self.dim(allow_one=False), self.dim(allow_one=False)))]
        )

    def expr(self, s: Shape, depth: int) -> G:
        if depth <= 0 or self.coin(0.15):
            return self.leaf(s)
        prods = self.productions(s)
        g = self.weighted(prods)(s, depth - 1)
        assert g.shape == s, (g, s)
        return self.tame(g)

    def productions(self, s: Shape) -> list[tuple[float, Callable[[Shape, int], G]]]:
        r, c = s
        simple = len(r) <= 1 and len(c) <= 1
        out: list[tuple[float, Callable[[Shape, int], G]]] = [
            (1.0, lambda s, d: self.leaf(s)),
            (3, self.p_add),
            (2.5, self.p_mul),
            (1, self.p_div),
            (0.7, self.p_neg),
            (3, self.p_fn),
            (1, self.p_fn2),
            (0.8, self.p_rewritten),
            (1.2, self.p_pow),
            (0.8, self.p_compare),
            (1, self.p_transpose),
            (2.5, self.p_matmul),
            (0.5, self.p_kron),
        ]
        if s == SCALAR:
            out += [
                (1.5, self.p_sum),
                (0.7, self.p_mean),
                (1, self.p_dot),
                (1.5, self.p_tr),
                (1.2, self.p_det),
                (1.2, self.p_logdet),
                (1, self.p_norm),
                (0.7, self.p_lse),
                (1.2 if self.first_order else 0, self.p_tr_expm),
                (0.6, self.p_var),
                (0.6, self.p_extremum),
            ]
        if (c == () and r != ()) or (self.dialect == "matlab" and r == () and c != ()) or s == SCALAR:
            out += [(1, self.p_sum_axis), (0.4, self.p_mean_axis)]
        if r == c and r:
            out += [(1.5, self.p_inv), (1.2, self.p_matrix_power), (1, self.p_diag_matrix)]
        if c == () and r:
            out += [(0.6, self.p_diag_vector), (0.5, self.p_lse)]
        if s != SCALAR:
            out += [(0.7, self.p_softmax)]
        if c == () and len(r) == 2 or r == () and len(c) == 2:
            out += [(1, self.p_vec)]
        elif c == () and r or r == () and c:
            out += [(0.2, self.p_vec)]
        if r and c:
            out += [(1, self.p_outer)]
        if simple and r and c and (len(r) + len(c) <= 2):
            out += [(0.8, self.p_unvec)]
        if s == SCALAR:
            out += [(0.1, self.p_trivial_structural)]
        return out

    # each production: (shape, depth) → G of that shape

    def bcast_pair(self, s: Shape) -> tuple[Shape, Shape]:
        r, c = s
        opts: list[tuple[float, tuple[Shape, Shape]]] = [(6, (s, s))]
        if s != SCALAR:
            opts += [(1, (s, SCALAR)), (1, (SCALAR, s))]
        if r and c:
            col, row = (r, ()), ((), c)
            opts += [(0.7, (s, col)), (0.5, (col, s)), (0.7, (s, row)), (0.5, (row, s)), (0.4, (col, row)), (0.3, (row, col))]
        return self.weighted(opts)

    def p_add(self, s: Shape, d: int) -> G:
        sa, sb = self.bcast_pair(s)
        return self.sum_(self.expr(sa, d), self.expr(sb, d), minus=self.coin(0.4), shape=s)

    def p_mul(self, s: Shape, d: int) -> G:
        sa, sb = self.bcast_pair(s)
        if self.coin(0.2):  # a number times
            return self.mul(self.num(self.pick([0.5, 2.0, 0.1, 3.0])), self.expr(s, d), shape=s)
        return self.mul(self.expr(sa, d), self.expr(sb, d), shape=s)

    def p_div(self, s: Shape, d: int) -> G:
        sa, sb = self.bcast_pair(s)
        a, b = self.expr(sa, d), self.positive(sb, d)
        assert b.lo is not None
        text = wrap(a, PRODUCT) + self.div_sym(sb) + wrap(b, UNARY)
        return G(text, PRODUCT, s, a.bound / b.lo, a.vars | b.vars)

    def p_neg(self, s: Shape, d: int) -> G:
        a = self.expr(s, d)
        sign = "+" if self.coin(0.1) else "-"  # a unary plus is dropped by the parser
        return G(sign + wrap(a, UNARY), UNARY, s, a.bound, a.vars)

    def p_fn(self, s: Shape, d: int) -> G:
        name, entry = self.pick([(n, e) for n, e in elementwise_names() if e.arity == 1])
        a, bound = self.fn_arg(entry, s, d)
        return G(f"{name}({a.text})", ATOM, s, bound, a.vars)

    def p_torch(self, s: Shape, d: int) -> G:
        """NumPy's and PyTorch's spellings of arithmetic, layers and losses (torch.sub, F.linear, F.kl_div, …)."""
        column = s[0] != () and s[1] == ()
        matrix = s[0] != () and s[1] != ()
        options = ["arith", "xlogy", "entr", "rel_entr", "tf_sigmoid_ce"]
        if s == SCALAR:
            options += ["dist", "pairwise", "cosine", "kl_div", "soft_margin", "poisson", "gaussian", "margin", "tf_ce", "vector_norm", "bars"]
        if column:
            options += ["linear", "addmv", "softmin", "normalize"]
        if matrix:
            options += ["addmm", "attention", "softmin", "normalize"]
        kind = self.pick(options)
        if kind in ("xlogy", "rel_entr"):
            a = self.tame(self.expr(s, d), 3.0) if kind == "xlogy" else self.positive(s, d)
            b = self.positive(s, d)
            assert b.lo is not None
            bound = a.bound * (abs(math.log(b.lo)) + math.log(b.bound) + (math.log(a.bound) + 1.0 if kind == "rel_entr" else 0.0) + 1.0)
            return G(self.call(kind, a.text, b.text), ATOM, s, bound, a.vars | b.vars)
        if kind == "entr":
            a = self.positive(s, d)
            assert a.lo is not None
            return G(self.call("entr", a.text), ATOM, s, a.bound * (abs(math.log(a.lo)) + math.log(a.bound) + 1.0), a.vars)
        if kind == "tf_sigmoid_ce":
            t, z = (self.tame(self.expr(s, d), 3.0) for _ in range(2))
            return G(f"sigmoid_cross_entropy_with_logits(labels={t.text}, logits={z.text})", ATOM, s, 16.0, t.vars | z.vars)
        if kind == "softmin":
            z = self.tame(self.expr(s, d), 3.0)
            axis = "" if column else self.pick(["", ", dim=1", ", dim=0"])
            return G(self.call("softmin", z.text)[:-1] + axis + ")", ATOM, s, 1.0, z.vars)
        if kind == "normalize":  # positive entries: no zero norm
            x = self.positive(s, d)
            axis = ", dim=0" if column else self.pick(["", ", dim=1", ", dim=0"])
            return G(self.call("normalize", x.text)[:-1] + axis + ")", ATOM, s, 1.0, x.vars)
        if kind == "vector_norm":
            sh = self.any_shape()
            x = self.positive(sh, d)
            order = self.pick(["", ", ord=1"])
            return G(self.call("vector_norm", x.text)[:-1] + order + ")", ATOM, SCALAR, x.bound * size(sh[0]) * size(sh[1]), x.vars)
        if kind == "bars":  # |a| of a scalar
            a = self.expr(SCALAR, d)
            return G(f"|{a.text}|", ATOM, SCALAR, a.bound, a.vars)
        if kind == "arith":
            op = self.pick(["add", "subtract", "multiply", "divide"])
            a = self.tame(self.expr(s, d), 6.0)
            b = self.positive(s, d) if op == "divide" else self.tame(self.expr(s, d), 6.0)
            bound = {"add": a.bound + b.bound, "subtract": a.bound + b.bound, "multiply": a.bound * b.bound}.get(op)
            return G(self.call(op, a.text, b.text), ATOM, s, bound if bound is not None else a.bound / (b.lo or 1.0), a.vars | b.vars)
        if kind in ("linear", "addmv"):
            p = self.dim(allow_one=False)
            x = self.tame(self.expr((p, ()), d), 6.0)
            w = self.tame(self.expr((s[0], p), d), 6.0)
            b = self.tame(self.expr(s, d), 6.0)
            if kind == "addmv":
                text = self.call("addmm", b.text, w.text, x.text)
            else:
                w = self.tame(self.expr((s[0], p), d), 6.0)
                text = self.call("linear", x.text, w.text, b.text)
            return G(text, ATOM, s, b.bound + 36.0 * size(p), x.vars | w.vars | b.vars)
        if kind == "addmm":
            p = self.dim(allow_one=False)
            x, w, b = (self.tame(self.expr(sh, d), 6.0) for sh in ((s[0], p), (p, s[1]), s))
            return G(self.call("addmm", b.text, x.text, w.text), ATOM, s, b.bound + 36.0 * size(p), x.vars | w.vars | b.vars)
        if kind == "attention":
            p, m = self.dim(allow_one=False), self.dim(allow_one=False)
            q, k, v = (self.tame(self.expr(sh, d), 3.0) for sh in ((s[0], p), (m, p), (m, s[1])))
            return G(self.call("scaled_dot_product_attention", q.text, k.text, v.text), ATOM, s, v.bound, q.vars | k.vars | v.vars)
        # scalar losses and distances
        n = self.dim(allow_one=False)
        vec = (n, ())
        sh = self.any_shape() if kind in ("dist", "kl_div", "soft_margin", "poisson", "gaussian") else vec
        if sh == SCALAR and kind == "dist":
            sh = vec
        big = float(size(sh[0]) * size(sh[1]))
        if kind == "cosine":  # positive entries: no zero norm
            u, w = self.positive(vec, d), self.positive(vec, d)
            return G(self.call("cosine_similarity", u.text, w.text)[:-1] + ", dim=0)", ATOM, SCALAR, 1.0, u.vars | w.vars)
        if kind == "tf_ce":
            z = self.tame(self.expr(vec, d), 3.0)
            y = self.fn("softmax", self.tame(self.expr(vec, d), 3.0), 1.0)
            return G(f"softmax_cross_entropy_with_logits(labels={y.text}, logits={z.text})", ATOM, SCALAR, 10.0 * big, z.vars | y.vars)
        a, b = (self.tame(self.expr(sh, d), 3.0) for _ in range(2))
        if kind == "dist":
            return G(self.call("dist", a.text, b.text), ATOM, SCALAR, 6.0 * big, a.vars | b.vars)
        if kind == "pairwise":
            return G(self.call("pairwise_distance", a.text, b.text), ATOM, SCALAR, 6.0 * big, a.vars | b.vars)
        if kind == "kl_div":
            t = self.positive(sh, d)
            assert t.lo is not None
            return G(self.call("kl_div", a.text, t.text), ATOM, SCALAR, t.bound * (abs(math.log(t.lo)) + math.log(t.bound) + 3.0) * big, a.vars | t.vars)
        if kind == "gaussian":
            v = self.positive(sh, d)
            assert v.lo is not None
            return G(self.call("gaussian_nll_loss", a.text, b.text, v.text), ATOM, SCALAR, (abs(math.log(v.lo)) + math.log(v.bound) + 36.0 / v.lo) * big, a.vars | b.vars | v.vars)
        if kind == "margin":
            y = self.tame(self.expr(sh, d), 3.0)
            extra = self.pick(["", ", margin=0.5"])
            return G(self.call("margin_ranking_loss", a.text, b.text, y.text)[:-1] + extra + ")", ATOM, SCALAR, 20.0 * big, a.vars | b.vars | y.vars)
        which = {"soft_margin": "soft_margin_loss", "poisson": "poisson_nll_loss"}[kind]
        reduction = self.pick(["", ", reduction='sum'"])
        return G(self.call(which, a.text, b.text)[:-1] + reduction + ")", ATOM, SCALAR, 30.0 * big, a.vars | b.vars)

    def p_rewritten(self, s: Shape, d: int) -> G:
        """The activations matcalc writes with other functions (silu, elu, leaky_relu, …)."""
        fn = self.pick(
            ["silu", "log_sigmoid", "leaky_relu", "elu", "log2", "log10", "log_softmax", "gelu", "erfc", "clip", "where", "reciprocal", "cbrt",
             "ones_like", "zeros_like", "is_max", "is_min", "relu6", "mish", "selu", "celu", "softsign", "hardswish", "hardsigmoid",
             "hardtanh", "rsqrt", "logit", "loss", "sizes", "logaddexp", "orient", "torch", "prod"]
        )
        if fn == "torch":
            return self.p_torch(s, d)
        if fn == "orient" and (s[0] == ()) != (s[1] == ()):  # x[:, None], x[None, :]: a vector turned
            n = s[0] or s[1]
            a = self.expr(self.pick([(n, ()), ((), n)]), d)
            which = "column" if s[1] == () else "row"
            spelled = self.pick(["call", "index", "unsqueeze", "reshape"])
            if spelled == "call":
                text = self.call(which, a.text)
            elif spelled == "index":
                text = wrap(a, POSTFIX) + ("[:, None]" if which == "column" else "[None, :]")
            elif spelled == "unsqueeze":
                text = self.call("unsqueeze", a.text, "1" if which == "column" else "0")
            else:
                text = self.call("reshape", a.text, *(("-1", "1") if which == "column" else ("1", "-1")))
            return G(text, POSTFIX if text.endswith("]") else ATOM, s, a.bound, a.vars)
        if fn == "orient":  # not a vector here
            fn = "softsign"
        if fn == "logaddexp":
            a, b = (self.tame(self.expr(s, d), 6.0) for _ in range(2))
            first = self.pick([a.text, "0"])
            return G(self.call(fn, first, b.text), ATOM, s, 7.0, a.vars | b.vars if first != "0" else b.vars)
        if fn == "prod" and s == SCALAR:  # the product of the entries of a small, tame argument
            sh = self.any_shape()
            a = self.tame(self.expr(sh, d), 1.5)
            return G(self.call("prod", a.text), ATOM, s, max(a.bound, 1.0) ** (size(sh[0]) * size(sh[1])), a.vars)
        if fn == "prod":
            fn = "softsign"
        if fn == "sizes" and s == SCALAR:  # numel(X), len(x): a dimension as a number
            sh = self.any_shape()
            a = self.expr(sh, d)
            which = self.pick(["numel", "len"])
            return G(self.call(which, a.text), ATOM, s, float(size(sh[0]) * size(sh[1])), a.vars)
        if fn == "loss" or fn == "sizes":  # PyTorch's losses of an input and a target
            loss = self.pick(["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "sumsqr",
                              "cross_entropy"])
            if loss == "cross_entropy":  # logits and class probabilities (a softmax of something), a scalar loss
                if s != SCALAR:
                    return self.p_rewritten(s, d)
                sh = self.any_shape()
                z = self.tame(self.expr(sh, d), 3.0)
                y = self.fn("softmax", self.tame(self.expr(sh, d), 3.0), 1.0)
                return G(self.call(loss, z.text, y.text), ATOM, s, 10.0 * size(sh[0]) * size(sh[1]), z.vars | y.vars)
            sh = self.any_shape() if s == SCALAR else s
            a, b = (self.tame(self.expr(sh, d), 3.0) for _ in range(2))
            if loss == "binary_cross_entropy":
                a = self.fn("sigmoid", a, 1.0)
            if loss == "sumsqr":
                return G(self.call(loss, a.text), ATOM, SCALAR, a.bound**2 * size(sh[0]) * size(sh[1]), a.vars) if s == SCALAR else self.p_rewritten(s, d)
            reduction = self.pick(["", ", reduction='mean'", ", reduction='sum'"]) if s == SCALAR else ", reduction='none'"
            text = self.call(loss, a.text, b.text)[:-1] + reduction + ")"
            return G(text, ATOM, s, 20.0 * (1 + a.bound) * (1 + b.bound) * size(sh[0]) * size(sh[1]), a.vars | b.vars)
        if fn in ("rsqrt", "logit"):  # √ of a positive argument; logit of a probability
            if fn == "rsqrt":
                a = self.positive(s, d)
                assert a.lo is not None
                return G(self.call(fn, a.text), ATOM, s, a.lo**-0.5, a.vars)
            a = self.fn("sigmoid", self.tame(self.expr(s, d), 3.0), 1.0)
            return G(self.call(fn, a.text), ATOM, s, 4.0, a.vars)
        if fn in ("is_max", "is_min"):  # the 0/1 mask of the largest (smallest) entries
            a = self.expr(s, d)
            return G(self.call(fn, a.text), ATOM, s, 1.0, a.vars)
        if fn in ("ones_like", "zeros_like"):
            a = self.expr(s, d)
            return G(self.call(fn, a.text), ATOM, s, 1.0, a.vars)
        if fn in ("reciprocal", "cbrt"):  # of a positive argument: cbrt′ is infinite at 0
            a = self.positive(s, d)
            assert a.lo is not None
            return G(self.call(fn, a.text), ATOM, s, 1 / a.lo if fn == "reciprocal" else a.bound ** (1 / 3), a.vars)
        if fn == "clip":
            a = self.tame(self.expr(s, d), 6.0)
            lo, hi = self.pick([("-1", "1"), ("0", "2"), ("-0.5", "3"), ("0", "None"), ("None", "1"), ("min=0", ""), ("-1", "max=2")])
            return G(self.call(fn, a.text, *(b for b in (lo, hi) if b)), ATOM, s, max(3.0, a.bound), a.vars)
        if fn == "where":
            c, a, b = (self.tame(self.expr(s, d), 6.0) for _ in range(3))
            text = self.call(fn, f"{c.text} {self.pick(['>', '<=', '<', '>='])} 0", a.text, b.text)
            return G(text, ATOM, s, max(a.bound, b.bound), c.vars | a.vars | b.vars)
        if fn in ("log2", "log10"):
            a = self.positive(s, d)
            assert a.lo is not None
            return G(self.call(fn, a.text), ATOM, s, abs(math.log(a.lo)) + math.log(a.bound) + 1, a.vars)
        a = self.tame(self.expr(s, d), 6.0)
        extra = ""
        if fn == "gelu" and self.coin(0.4):
            extra = ", approximate='tanh'"
        if fn == "leaky_relu" and self.coin(0.5):
            extra = self.pick([", 0.2", ", negative_slope=0.1"])
        if fn == "elu" and self.coin(0.5):
            extra = self.pick([", 0.5", ", alpha=2"])
        if fn == "log_softmax" and s != SCALAR and self.coin(0.4):
            extra = self.pick([", axis=0", ", axis=1", ", 1"]) if self.dialect == "numpy" else self.pick([", 1", ", 2"])
        n = size(s[0]) * size(s[1])
        bound = {"silu": a.bound + 1, "log_sigmoid": a.bound + 1, "leaky_relu": a.bound, "elu": 2 * a.bound + 2, "gelu": a.bound + 1, "erfc": 2.0,
                 "relu6": 6.0, "mish": a.bound + 1, "selu": 3 * a.bound + 3, "celu": 2 * a.bound + 2, "softsign": 1.0, "hardswish": a.bound + 3,
                 "hardsigmoid": 1.0, "hardtanh": 1.0}.get(
            fn, 2 * a.bound + math.log(n) + 1
        )
        return G(self.call(fn, a.text)[:-1] + extra + ")", ATOM, s, bound, a.vars)

    def p_fn2(self, s: Shape, d: int) -> G:
        binary = [(n, e) for n, e in elementwise_names() if e.arity >= 2]
        if not binary:
            return self.p_fn(s, d)
        name, entry = self.pick(binary)
        shapes = list(self.bcast_pair(s)) + [s] * (entry.arity - 2)
        args = []
        if entry.in_domain is not None:  # each argument from the function's sampling interval
            info = fn_info(entry)
            args = [self.sampled_arg(info, sh, d) for sh in shapes[: entry.arity]]
            bound = range_bound(entry, tuple((info.lo, info.hi) for _ in args))
            return G(f"{name}({', '.join(a.text for a in args)})", ATOM, s, bound, frozenset().union(*(a.vars for a in args)))
        args = [self.expr(sh, d) for sh in shapes[: entry.arity]]
        bound = range_bound(entry, tuple((-a.bound, a.bound) for a in args))
        if bound > FN_LIMIT:
            args = [self.tame(a, 1.0) for a in args]
            bound = range_bound(entry, tuple((-a.bound, a.bound) for a in args))
        return G(f"{name}({', '.join(a.text for a in args)})", ATOM, s, bound, frozenset().union(*(a.vars for a in args)))

    def p_pow(self, s: Shape, d: int) -> G:
        kind = self.weighted([(3, "int"), (2, "real"), (1, "var_exp"), (0.7, "const_base"), (0.5, "func")])
        psym = self.pow_sym()
        if kind in ("int", "func"):
            a = self.tame(self.expr(s, d), 6.0)
            k = self.pick([2, 3])
            if kind == "func":
                return G(self.call("pow", a.text, str(k)), ATOM, s, a.bound**k, a.vars)
            return G(wrap(a, POSTFIX) + psym + str(k), POWER, s, a.bound**k, a.vars)
        if kind == "real":
            p = self.positive(s, d)
            assert p.lo is not None
            k = self.pick([0.5, -1.0, 1.5, -0.5, -2.0])
            ktext = fmt(k) if k > 0 else "-" + fmt(-k)
            if k < 0 and self.coin(0.3):
                ktext = f"({ktext})"
            bound = max(p.bound**k, p.lo**k)
            return G(wrap(p, POSTFIX) + psym + ktext, POWER, s, bound, p.vars, min(p.bound**k, p.lo**k))
        if kind == "var_exp":
            sb, se = self.bcast_pair(s)
            p = self.positive(sb, d)
            e = self.tame(self.expr(se, d), 1.5)
            assert p.lo is not None
            bound = max(p.bound, 1 / p.lo) ** e.bound
            return G(wrap(p, POSTFIX) + psym + wrap(e, UNARY), POWER, s, bound, p.vars | e.vars)
        e = self.tame(self.expr(s, d), 2.0)
        return G("2" + psym + wrap(e, UNARY), POWER, s, 2**e.bound, e.vars, 2**-e.bound)

    def compare(self, s: Shape, d: int) -> G:
        if self.coin(0.6):
            sa, sb = self.bcast_pair(s)
            a, b = self.expr(sa, d), self.expr(sb, d)
        else:  # against a number: the left side carries the shape
            a, b = self.expr(s, d), self.num(self.pick([0.0, 0.5, 1.0]))
        op = self.pick([">", ">=", "<", "<="])
        return G(wrap(a, SUM) + f" {op} " + wrap(b, SUM), COMPARE, s, 1.0, a.vars | b.vars)

    def p_compare(self, s: Shape, d: int) -> G:
        e = self.expr(s, d)
        cmp = self.compare(self.pick([s, s, SCALAR]) if s != SCALAR else s, d)
        if self.coin(0.1):
            return G(f"({cmp.text})", ATOM, s, 1.0, cmp.vars) if cmp.shape == s else e
        if self.coin(0.5):
            return self.mul(e, cmp, shape=s)
        return self.mul(cmp, e, shape=s)

    def p_transpose(self, s: Shape, d: int) -> G:
        a = self.expr((s[1], s[0]), d)
        if self.coin(0.1):
            return G(self.call("transpose", a.text), ATOM, s, a.bound, a.vars)
        return G(self.tmark(a), POSTFIX, s, a.bound, a.vars)

    def p_matmul(self, s: Shape, d: int) -> G:
        r, c = s
        k = self.dim(simple=self.coin(0.9))
        a, b = self.expr((r, k), d), self.expr((k, c), d)
        bound = a.bound * b.bound * size(k)
        matrix_or_scalar = any((x[0] and x[1]) or x == SCALAR for x in (a.shape, b.shape))
        inner = not r and not c and k
        if (matrix_or_scalar or inner) and self.coin(0.1):  # dot(A, B) is A @ B; dot(row, column) the inner product
            return G(self.call("dot", a.text, b.text), ATOM, s, bound, a.vars | b.vars)
        if self.coin(0.05):  # NumPy's matmul, PyTorch's mm
            return G(self.call("matmul", a.text, b.text), ATOM, s, bound, a.vars | b.vars)
        return G(wrap(a, PRODUCT) + self.matmul_sym() + wrap(b, UNARY), PRODUCT, s, bound, a.vars | b.vars)

    def no_fresh(self, s: Shape, d: int) -> G:
        """An expression without sizes left to inference (eye(), vector(c), matrix(c)): under vec and
        kron their sizes multiply, and f₁·f₂ = m·n has no unique solution."""
        saved, self.fresh_ok = self.fresh_ok, False
        try:
            return self.expr(s, d)
        finally:
            self.fresh_ok = saved

    def p_kron(self, s: Shape, d: int) -> G:
        r, c = s
        (r1, r2), (c1, c2) = self.pick(splits(r)), self.pick(splits(c))
        a, b = self.no_fresh((r1, c1), d), self.no_fresh((r2, c2), d)
        return G(self.call("kron", a.text, b.text), ATOM, s, a.bound * b.bound, a.vars | b.vars)

    def p_sum(self, s: Shape, d: int) -> G:
        sh = self.any_shape()
        a = self.expr(sh, d)
        return G(self.call("sum", a.text), ATOM, s, a.bound * size(sh[0]) * size(sh[1]), a.vars)

    def p_extremum(self, s: Shape, d: int) -> G:
        """max / min of all entries; in the numpy dialect also along an axis (a column kept by
        keepdims, summed to a scalar), with NumPy's spellings."""
        op = self.pick(["max", "min"])
        sh = self.any_shape()
        a = self.expr(sh, d)
        if self.dialect == "numpy" and sh[0] and sh[1] and self.coin(0.4):
            k = self.pick(["0", "1"])
            # max(X, 1) is the elementwise max with 1: the axis of max is a keyword, of amax also positional
            inner = self.pick([f"{op}({a.text}, axis={k}, keepdims=True)", f"a{op}({a.text}, {self.pick([k, 'axis=' + k])}, keepdims=True)"])
            n = size(sh[0]) * size(sh[1])
            return G(self.call("sum", inner), ATOM, s, a.bound * n, a.vars)
        name = self.pick([op, "a" + op]) if self.dialect == "numpy" else op
        return G(f"{name}({a.text})", ATOM, s, a.bound, a.vars)

    def p_var(self, s: Shape, d: int) -> G:
        """var or std of a vector or matrix; std's argument holds a variable of its own shape,
        so that its variance is not identically 0 (where √ has no derivative)."""
        sh = self.any_shape()
        while sh == SCALAR:
            sh = self.any_shape()
        a = self.tame(self.expr(sh, d), 6.0)
        fn = self.pick(["var", "std"])
        v = self.variable(sh) if fn == "std" else None
        if v is None:
            fn = "var"
        else:
            a = self.sum_(v, a, shape=sh)
        extra = self.pick(["", "", ", ddof=1"]) if self.dialect == "numpy" else ""
        return G(self.call(fn, a.text)[:-1] + extra + ")", ATOM, s, a.bound**2 * 2 if fn == "var" else a.bound * 2, a.vars)

    def p_mean(self, s: Shape, d: int) -> G:
        a = self.expr(self.any_shape(), d)
        return G(self.call("mean", a.text), ATOM, s, a.bound, a.vars)

    def axis_call(self, fn: str, s: Shape, d: int) -> G:
        """sum/mean along an axis giving shape s.  numpy: keepdims=True, so the result is a
        column (axis 1) or a row turned into one (axis 0): a plain sum(X, 0) is 1-D, and NumPy
        broadcasts that as a row, which this generator, not knowing the context, cannot
        follow (tests/test_engine.py checks the 1-D rules against NumPy itself); matlab
        keeps the orientation."""
        r, c = s
        k = self.dim(simple=True)
        if self.dialect == "numpy":
            if s == SCALAR:
                d_ = self.dim(allow_one=False)
                arg_shape, axis = self.pick([((d_, ()), "0"), (((), d_), "1")])
            else:
                (arg_shape, axis), transposed = self.pick(
                    [(((r, k), self.pick(["1", "-1", "axis=1"])), False), (((k, r), self.pick(["0", "-2", "axis=0"])), True)]
                )
                a = self.expr(arg_shape, d)
                n = size(arg_shape[0]) * size(arg_shape[1])
                text = self.call(fn, a.text, axis, "keepdims=True") + (".T" if transposed else "")
                return G(text, ATOM, s, a.bound * (n if fn == "sum" else 1), a.vars)
        else:
            if s == SCALAR:
                d_ = self.dim(allow_one=False)
                arg_shape, axis = self.pick([((d_, ()), "1"), (((), d_), "2")])
            elif c == ():
                arg_shape, axis = (r, k), self.pick(["2", "axis=2"])
            else:
                arg_shape, axis = (k, c), self.pick(["1", "axis=1"])
        a = self.expr(arg_shape, d)
        n = size(arg_shape[0]) * size(arg_shape[1])
        return G(self.call(fn, a.text, axis), ATOM, s, a.bound * (n if fn == "sum" else 1), a.vars)

    def p_sum_axis(self, s: Shape, d: int) -> G:
        return self.axis_call("sum", s, d)

    def p_mean_axis(self, s: Shape, d: int) -> G:
        return self.axis_call("mean", s, d)

    def p_dot(self, s: Shape, d: int) -> G:
        k = self.dim(simple=self.coin(0.9), allow_one=False)
        a = self.expr(self.pick([(k, ()), ((), k)]), d)
        b = self.expr(self.pick([(k, ()), ((), k)]), d)
        name = self.pick(["dot", "dot", "inner", "vdot"])  # NumPy's three inner products of two vectors
        return G(self.call(name, a.text, b.text), ATOM, s, a.bound * b.bound * size(k), a.vars | b.vars)

    def p_tr(self, s: Shape, d: int) -> G:
        k = self.dim(simple=self.coin(0.85))
        a = self.expr((k, k), d)
        return G(self.call("tr", a.text), ATOM, s, a.bound * size(k), a.vars)

    def p_tr_expm(self, s: Shape, d: int) -> G:
        """tr(e^A): the one place (with e^{tA} by t) where the matrix exponential has a closed-form derivative."""
        k = self.dim()
        a = self.tame(self.expr((k, k), d), 1.0) if k else self.tame(self.expr(SCALAR, d), 1.0)
        n = size(k)
        return G(self.call("tr", self.call("expm", a.text)), ATOM, s, n * math.exp(n * a.bound), a.vars)

    def p_det(self, s: Shape, d: int) -> G:
        k = self.dim()
        a = self.well(k, d) if k else self.expr(SCALAR, d)
        return G(self.call("det", a.text), ATOM, s, 1.5 ** size(k) * (a.bound if not k else 1), a.vars)

    def p_logdet(self, s: Shape, d: int) -> G:
        k = self.dim()
        a = self.well(k, d, spd=True) if k else self.positive(SCALAR, d)
        return G(self.call("logdet", a.text), ATOM, s, 2.0 * size(k) + 5, a.vars)

    def p_norm(self, s: Shape, d: int) -> G:
        sh = self.any_shape()
        a = self.expr(sh, d)
        n = size(sh[0]) * size(sh[1])
        # of a matrix, norm(A, 2) and norm(A, 1) (and MATLAB's norm(A)) are operator norms,
        # which matcalc refuses: matrices get the entrywise spellings
        matrix = sh[0] != () and sh[1] != ()
        form = self.weighted([(3, "norm"), (1, "norm1"), (0.5, "p2"), (0.5, "p1"), (0.3, "fro")])
        if form == "norm":
            text = self.norm_call(sh, a.text)
        elif form == "norm1" or (form == "p1" and matrix):
            text = self.call("norm1", a.text)
        elif form == "p2" and not matrix:
            text = self.call("norm", a.text, self.pick(["2", "ord=2"]))
        elif form == "p1":
            text = self.call("norm", a.text, self.pick(["1", "ord=1"]))
        else:
            text = self.call("norm", a.text, "fro")
        return G(text, ATOM, s, a.bound * n, a.vars)

    def norm_call(self, sh: Shape, text: str) -> str:
        """The Euclidean (Frobenius) norm of ``text``, of shape ``sh``, spelled for the dialect."""
        if sh[0] != () and sh[1] != () and self.dialect == "matlab":
            return self.pick([f"norm({text}, 'fro')", f"norm2({text})"])
        return self.call("norm", text)

    def p_lse(self, s: Shape, d: int) -> G:
        if s == SCALAR:
            k = self.dim(allow_one=False)
            sh = self.pick([(k, ()), ((), k)])
        else:
            sh = (s[0], self.dim(allow_one=False))
        a = self.expr(sh, d)
        return G(self.call("logsumexp", a.text), ATOM, s, a.bound + math.log(size(sh[1] or sh[0])), a.vars)

    def p_inv(self, s: Shape, d: int) -> G:
        w = self.well(s[0], d)
        if self.coin(0.25):  # solve(W, E) = W⁻¹E
            e = self.expr(s, d)
            return G(self.call("solve", w.text, e.text), ATOM, s, 2.0 * e.bound * size(s[0]), w.vars | e.vars)
        return G(self.call("inv", w.text), ATOM, s, 2.0, w.vars)

    def p_matrix_power(self, s: Shape, d: int) -> G:
        k = self.pick([2, 3, -1, -2, 1, 0])
        if k < 0:
            a = self.well(s[0], d)
            bound = 2.0**-k * size(s[0]) ** (-k - 1)
        else:
            a = self.tame(self.expr(s, d), 2.0)
            bound = a.bound**k * size(s[0]) ** max(k - 1, 0) if k else 1.0
        ktext = str(k) if k >= 0 else f"-{-k}"
        if self.dialect == "matlab" and self.coin(0.7):
            return G(wrap(a, POSTFIX) + "^" + ktext, POWER, s, bound, a.vars)
        return G(self.call("matrix_power", a.text, ktext), ATOM, s, bound, a.vars)

    def p_diag_matrix(self, s: Shape, d: int) -> G:
        r = s[0]
        a = self.expr(self.pick([(r, ()), ((), r)]), d)
        return G(self.call("diag", a.text), ATOM, s, a.bound, a.vars)

    def p_diag_vector(self, s: Shape, d: int) -> G:
        a = self.expr((s[0], s[0]), d)
        return G(self.call("diag", a.text), ATOM, s, a.bound, a.vars)

    def p_softmax(self, s: Shape, d: int) -> G:
        a = self.expr(s, d)
        return G(self.call("softmax", a.text), ATOM, s, 1.0, a.vars)

    def p_vec(self, s: Shape, d: int) -> G:
        r, c = s
        n = r or c
        if len(n) == 2:
            x = self.no_fresh(self.pick([(n[:1], n[1:]), (n[1:], n[:1])]), d)
        else:
            x = self.no_fresh(self.pick([(n, ()), ((), n)]), d)
        g = G(self.call("vec", x.text), ATOM, (n, ()), x.bound, x.vars)
        return g if c == () else G(self.tmark(g), POSTFIX, s, g.bound, g.vars)

    def p_outer(self, s: Shape, d: int) -> G:
        r, c = s
        a = self.expr(self.pick([(r, ()), ((), r)]), d)
        b = self.expr(self.pick([(c, ()), ((), c)]), d)
        return G(self.call("outer", a.text, b.text), ATOM, s, a.bound * b.bound, a.vars | b.vars)

    def p_unvec(self, s: Shape, d: int) -> G:
        r, c = s
        v = self.expr((merge(r, c), ()), d)
        return G(self.call("unvec", v.text, r[0], c[0]), ATOM, s, v.bound, v.vars)

    def p_trivial_structural(self, s: Shape, d: int) -> G:
        """Structural functions applied to scalars (they reduce to the scalar, 1/x, log x, …)."""
        fn = self.pick(["tr", "det", "diag", "inv", "logdet", "vec", "softmax", "logsumexp", "kron", "dot"])
        if fn in ("inv", "logdet"):
            a = self.positive(s, d)
            assert a.lo is not None
            b = 1 / a.lo if fn == "inv" else abs(math.log(a.lo)) + math.log(a.bound) + 1
            return G(self.call(fn, a.text), ATOM, s, b, a.vars)
        a = self.expr(s, d)
        if fn in ("kron", "dot"):
            b = self.expr(s, d)
            return G(self.call(fn, a.text, b.text), ATOM, s, a.bound * b.bound, a.vars | b.vars)
        return G(self.call(fn, a.text), ATOM, s, 1.0 if fn == "softmax" else a.bound, a.vars)


#: Structural functions the generator produces (aliases are drawn from the registry).
STRUCTURAL: frozenset[str] = frozenset(
    {
        "sum", "mean", "dot", "outer", "tr", "det", "logdet", "inv", "diag", "norm", "norm1", "softmax",
        "logsumexp", "eye", "ones", "zeros", "vector", "matrix", "kron", "vec", "transpose", "pow",
        "matrix_power", "dim", "unvec", "commutation", "expm", "silu", "log_sigmoid", "leaky_relu", "elu",
        "log2", "log10", "log_softmax", "gelu", "erfc", "clip", "where", "reciprocal", "cbrt", "var", "std", "amax", "amin", "ones_like", "zeros_like", "solve", "matmul", "vdot", "inner", "is_max", "is_min",
        "relu6", "mish", "selu", "celu", "softsign", "hardswish", "hardsigmoid", "hardtanh", "rsqrt", "logit", "numel", "len",
        "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "sumsqr",
        "column", "row", "logaddexp", "cross_entropy",
        "add", "subtract", "multiply", "divide", "addmm", "linear", "dist", "pairwise_distance", "cosine_similarity",
        "scaled_dot_product_attention", "softmax_cross_entropy_with_logits", "kl_div", "soft_margin_loss", "poisson_nll_loss",
        "margin_ranking_loss", "gaussian_nll_loss", "softmin", "normalize", "vector_norm", "xlogy", "entr", "rel_entr",
        "sigmoid_cross_entropy_with_logits", "unsqueeze", "reshape", "|·|", "prod",
    }
)  # fmt: skip


def spec(s: Shape, symmetric: bool, as_tuple: bool) -> Any:
    """A shape declaration for ``shapes=``: a string such as "m x n" or a tuple."""
    r, c = s
    if as_tuple:
        if s == SCALAR:
            return ()
        if c == ():
            return (r[0],)
        return (r[0] if r else 1, c[0])
    if s == SCALAR:
        return "scalar"
    if c == ():
        return r[0]
    text = f"{r[0] if r else 1} x {c[0]}"
    return text + " symmetric" if symmetric else text


WRT_WEIGHT = {"scalar": 1.0, "vector": 2.0, "row": 1.5, "matrix": 3.0}


def kind_of(s: Shape) -> str:
    r, c = s
    return "scalar" if s == SCALAR else "vector" if c == () else "row" if r == () else "matrix"


DEPTH_WEIGHTS = {1: 3.0, 2: 4.0, 3: 4.0, 4: 2.5, 5: 1.5, 6: 1.0}

TARGETS: list[tuple[float, Shape]] = [
    (9, SCALAR),
    (4, (("n",), ())),
    (1, (("m",), ())),
    (3, (("m",), ("n",))),
    (2, (("n",), ("n",))),
    (1, ((), ("n",))),
    (0.5, (("m", "n"), ())),
    (0.3, (("m", "n"), ("m", "n"))),
    (0.2, (("m",), ("m", "n"))),
]


@st.composite
def cases(
    draw: Callable[[Any], Any],
    dialect: str | None = None,
    max_depth: int = 6,
    order: int | None = None,
    target: Shape | None = None,
    depth_weights: dict[int, float] | None = None,
) -> Case:
    """A random expression with declared shapes, a variable, a layout and an order."""
    dialect = dialect or draw(st.sampled_from(["numpy", "matlab"]))
    gen = Gen(draw, dialect)
    if target is None:
        target = SCALAR if order == 2 else gen.weighted(TARGETS)
    # depth 1–6, mostly shallow: deep cases are slow to simplify (seconds), shallow ones shrink well
    depth = gen.weighted([(w, k) for k, w in (depth_weights or DEPTH_WEIGHTS).items() if k <= max_depth])
    if order is None:
        order = 2 if target == SCALAR and gen.coin(0.25) else 1
    gen.first_order = order == 1
    g = gen.expr(target, depth)
    if not g.vars:  # make sure something varies
        v = gen.var_leaf(target)
        g = gen.sum_(g, v, shape=target)
    # the variable: matrices and vectors more often than scalars (scalars are the easy case)
    wrt = gen.weighted([(WRT_WEIGHT[kind_of(gen.declared[v])], v) for v in sorted(g.vars)])
    if gen.coin(0.03):  # a declared variable that does not occur: its derivative is zero
        extra = gen.variable(gen.pick([SCALAR, (("n",), ()), (("m",), ("n",))]))
        assert extra is not None
        if extra.text not in g.vars:
            wrt = extra.text
    as_tuple = gen.coin(0.15)
    shapes = {name: spec(s, name in gen.symmetric, as_tuple) for name, s in sorted(gen.declared.items())}
    shapes = {k: v for k, v in shapes.items() if k in g.vars or k == wrt}
    source, target_text = g.text, shape_text(target)
    if gen.coin(0.1):  # a numeric size: one dimension symbol becomes 2 or 3 everywhere
        sym, k = gen.pick(list(SYMBOLS)), gen.pick(["2", "3"])
        source = re.sub(rf"\b{sym}\b", k, source)
        target_text = re.sub(rf"\b{sym}\b", k, target_text)
        shapes = {name: numeric_spec(v, sym, k) for name, v in shapes.items()}
    layout = draw(st.sampled_from(["mixed", "numerator", "denominator"]))
    return Case(source, shapes, wrt, layout, order, dialect, target_text, {"depth": depth, "bound": g.bound})


def numeric_spec(v: Any, sym: str, k: str) -> Any:
    """A declaration with the dimension symbol ``sym`` replaced by the number ``k``."""
    if isinstance(v, tuple):
        return tuple(int(k) if x == sym else x for x in v)
    return re.sub(rf"\b{sym}\b", k, v)


# ---------------------------------------------------------------- syntax trees (parser round trip)

NAMES = ["x", "y", "W1", "A", "b", "x_i", "alpha", "lambda", "T", "Tx", "sum", "α", "W_out", "e"]
FUNCS = ["f", "sum", "norm", "exp", "matrix_power", "g2", "inv"]
NUMBERS = ["0", "1", "2", "10", "0.5", ".5", "3.", "1e-3", "2.5E+4", "1.e5", "7e0", "12.25"]

#: BinOp operations each dialect can write (mdiv/mpow only in matlab; numpy prints mpow as matrix_power(...)).
DIALECT_OPS = {
    "numpy": ["add", "sub", "mul", "div", "matmul", "ldiv", "pow"],
    "matlab": ["add", "sub", "mul", "div", "matmul", "mdiv", "ldiv", "pow", "mpow"],
}


def syntax_trees(dialect: str, max_leaves: int = 30) -> st.SearchStrategy[S.Expr]:
    """Syntax trees the parser can produce in ``dialect`` (positions left at 0)."""
    leaves = st.one_of(st.sampled_from(NUMBERS).map(S.Number), st.sampled_from(NAMES).map(S.Name))
    ops = DIALECT_OPS[dialect]

    def extend(children: st.SearchStrategy[S.Expr]) -> st.SearchStrategy[S.Expr]:
        keyword = st.tuples(st.sampled_from(["axis", "ord", "p"]), children)
        return st.one_of(
            st.builds(S.BinOp, st.sampled_from(ops), children, children),
            st.builds(S.Neg, children),
            st.builds(S.Transpose, children),
            st.builds(S.Compare, st.sampled_from([">", ">=", "<", "<="]), children, children),
            st.builds(
                S.Call,
                st.sampled_from(FUNCS),
                st.lists(children, max_size=3).map(tuple),
                st.lists(keyword, max_size=2).map(tuple),
            ),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)
