"""Step-by-step derivations, the way the seeds teach them.

1. Intermediate variables: every subexpression that depends on the variable gets a
   name (u₁ = w ⊙ x, u₂ = sum(u₁), f = u₂ + b).
2. Local derivatives: each intermediate's differential and, where both sides are
   vectors or scalars, its local Jacobian, with the rule that produced it
   (elementwise → diag, sum → 𝟙ᵀ, broadcast → 𝟙, matrix product, …).
3. The chain rule.  For a scalar f, backwards: δₖ = ∂f/∂uₖ starts at δ = 1 and each
   δ is computed from the δ of the intermediates that use it (the backpropagation
   δ recursion; a variable used twice adds both contributions).  For a vector or
   matrix f, forwards: each Jacobian ∂uₖ/∂x from those of its arguments.
4. Substitution and simplification, each rule by name, to the final form.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import build as B
from . import simplify as SIMP
from .differentiate import differential, inner
from .errors import UnsupportedError
from .extract import gradient, vec_jacobian
from .nodes import (
    Add,
    Apply,
    ArgExtremum,
    Broadcast,
    Det,
    Diag,
    DiagPart,
    Expm,
    ExpmFrechet,
    Extremum,
    Inverse,
    Kron,
    LogDet,
    LogSumExp,
    Prod,
    MatMul,
    Mul,
    Node,
    Norm,
    Pow,
    Softmax,
    Sum,
    Trace,
    Transpose,
    Var,
    Vec,
    depends_on,
    walk,
)
from .simplify import simplify

if TYPE_CHECKING:  # pragma: no cover
    from .api import Derivative

#: Derivations with more intermediates than this show the first ones and the count.
MAX_SHOWN = 40


def rule_name(n: Node) -> str:
    """The textbook name of the local rule for a node type."""
    if isinstance(n, Apply):
        f = n.fn.unicode
        if n.fn.arity == 1:
            return f"elementwise {f} → diag({f}′)"
        return f"elementwise {f} → indicator diag"
    if isinstance(n, Trace) and isinstance(n.arg, Expm):
        return "trace of the matrix exponential: d tr(e^X) = tr(e^X dX)"
    table = [
        (Add, "sum rule: d(a + b) = da + db"),
        (Mul, "elementwise product → diag: d(a ⊙ b) = b ⊙ da + a ⊙ db"),
        (MatMul, "matrix product: d(AB) = dA B + A dB"),
        (Transpose, "transpose: d(Aᵀ) = (dA)ᵀ"),
        (Sum, "sum → 𝟙ᵀ"),
        (Broadcast, "broadcast → 𝟙"),
        (Pow, "power rule: d(aᵖ) = p aᵖ⁻¹ ⊙ da"),
        (Trace, "trace: d tr(A) = tr(dA)"),
        (Det, "determinant: d det X = det X tr(X⁻¹dX)"),
        (Prod, "product of entries: d prod(X) = prod(X) sum(dX/X)"),
        (LogDet, "log-determinant: d logdet X = tr(X⁻¹dX)"),
        (Inverse, "inverse: d(X⁻¹) = −X⁻¹ dX X⁻¹"),
        (Expm, "matrix exponential: d e^X = L(X, dX), with tr L(X, dX) = tr(e^X dX)"),
        (Norm, "norm: d‖x‖ = xᵀdx/‖x‖"),
        (Softmax, "softmax → diag(s) − s sᵀ"),
        (LogSumExp, "logsumexp → softmax(z)ᵀ"),
        (Extremum, "max → the entry at the maximum: d max A = Σ(T ⊙ dA)/Σ T, T = is_max(A)"),
        (ArgExtremum, "is_max is piecewise constant"),
        (Diag, "diag: d diag(v) = diag(dv)"),
        (DiagPart, "diag: d diag(X) = diag(dX)"),
        (Kron, "Kronecker product rule"),
        (Vec, "vec is linear"),
    ]
    for t, name in table:
        if isinstance(n, t):
            return name
    return type(n).__name__


@dataclass
class Step:
    lhs: Node | str
    rhs: Node | str
    note: str = ""


@dataclass
class Section:
    title: str
    steps: list[Step] = field(default_factory=list)


def _sub(i: int) -> str:
    return str(i).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _letter(f: Node) -> str:
    """The letter of the intermediates: u, unless a variable is already called u1, u2, …"""
    import re

    taken = {n.name for n in walk(f) if isinstance(n, Var)}
    for letter in "uvqrtsgh":
        if not any(re.fullmatch(letter + r"\d+", name) for name in taken):
            return letter
    return "z"  # pragma: no cover


def decompose(f: Node, x: Var) -> tuple[list[tuple[Var, Node, Node]], dict[Node, Var]]:
    """Intermediates (name var, definition over earlier intermediates, original node)."""
    letter = _letter(f)
    labels = _labels()
    labels.clear()
    defs: list[tuple[Var, Node, Node]] = []
    names: dict[Node, Var] = {}
    dep: dict[Node, bool] = {}
    for n in walk(f):
        dep[n] = (isinstance(n, Var) and n.name == x.name) or any(dep.get(c, False) for c in n.children)
    inline: set[Node] = set()
    for n in walk(f):
        # −u and c·u inside a sum read better inline: y − u₅ rather than u₆ = −u₅, u₇ = y + u₆
        if isinstance(n, Add):
            for t in n.terms:
                if isinstance(t, Mul) and len(t.factors) == 2 and t.factors[0].shape.is_scalar and not dep.get(t.factors[0], False):
                    inline.add(t)
        # e^u alone has no closed-form local derivative (d e^u = L(u, du)); tr(e^u) has: tr(e^u du)
        if isinstance(n, Trace) and isinstance(n.arg, Expm):
            inline.add(n.arg)
    for n in walk(f):
        if n in names or not dep[n] or isinstance(n, Var):
            continue
        kids = n.children
        if n in inline:
            names[n] = n.with_children([names.get(c, c) for c in kids])
            continue
        new_kids = [names.get(c, c) for c in kids]
        local = n.with_children(new_kids) if kids else n
        u = Var(f"{letter}{len(defs) + 1}", n.shape)
        labels[u.name] = letter + _sub(len(defs) + 1)
        defs.append((u, local, n))
        names[n] = u
    if defs:
        last_u, last_def, last_n = defs[-1]
        f_var = Var("f", last_u.shape)
        defs[-1] = (f_var, last_def, last_n)
        names[last_n] = f_var
    return defs, names


def derive(d: Derivative) -> list[Section]:
    f, x = d.expression, d.wrt
    if d.order == 2:
        return _second_order(d)
    defs, _ = decompose(f, x)
    sections: list[Section] = []
    inter = Section("Intermediate variables")
    for u, local, _ in defs[:MAX_SHOWN]:
        inter.steps.append(Step(u, local))
    if len(defs) > MAX_SHOWN:
        inter.steps.append(Step("…", f"{len(defs) - MAX_SHOWN} more"))
    sections.append(inter)

    local_sec = Section("Local derivatives")
    inter_vars = [u for u, _, _ in defs]
    for u, local, _ in defs[:MAX_SHOWN]:
        for v in [*inter_vars, x]:
            if not depends_on(local, {v.name}):
                continue
            dl = differential(local, v)
            if dl is None:
                continue
            dl = simplify(dl)
            if (u.shape.cols.is_one or u.shape.is_scalar) and v.shape.cols.is_one and not v.shape.is_scalar and not u.shape.is_scalar:
                jac = simplify(vec_jacobian(dl, v, u.shape))
                local_sec.steps.append(Step(f"∂{_name(u)}/∂{_name(v)}", jac, rule_name(local)))
            else:
                local_sec.steps.append(Step(f"d{_name(u)}", dl, rule_name(local)))
    sections.append(local_sec)

    try:
        sections.append(_backward(defs, x) if f.shape.is_scalar else _forward(defs, x, d))
    except UnsupportedError:
        # a local step without a closed form (e^u inside a product: d e^u = L(u, du)); the
        # whole differential has one, and the simplification below reads the result off it
        if not any(isinstance(m, Expm) for m in walk(f)):
            raise
        sec = Section("Chain rule: on the whole differential")
        sec.steps.append(Step(f"d{_name(Var('f', f.shape))}", d.result.differential, "a local step (of expm) has no closed form alone"))
        sections.append(sec)

    sections.append(_simplification(d))
    return sections


#: intermediate variable name → its printed label (u₁, u₂, …) for the derivation being
#: built (per thread: a context variable, which call_deep hands to its worker)
_LABELS: ContextVar[dict[str, str]] = ContextVar("matcalc_step_labels")


def _labels() -> dict[str, str]:
    try:
        return _LABELS.get()
    except LookupError:
        labels: dict[str, str] = {}
        _LABELS.set(labels)
        return labels


def _name(v: Var) -> str:
    from .printing.text import Printer

    return _labels().get(v.name) or Printer().name(v.name)


def _backward(defs: list[tuple[Var, Node, Node]], x: Var) -> Section:
    """δ recursion: δ_f = 1; δⱼ = Σₖ (local adjoint of uₖ with respect to uⱼ applied to δₖ)."""
    sec = Section("Chain rule, backwards: δ = ∂f/∂u")
    deltas: dict[str, Var] = {}
    contributions: dict[str, list[Node]] = {}
    order = list(reversed(defs))
    for idx, (u, local, _) in enumerate(order):
        delta = Var("δ" + u.name[1:] if u.name != "f" else "δf", u.shape)
        deltas[u.name] = delta
        if u.name == "f":
            value: Node = B.ONE
        else:
            value = simplify(B.add(*contributions.get(u.name, []), shape=u.shape))
        if idx < MAX_SHOWN:
            sec.steps.append(Step(_delta_label(u), value if u.name == "f" else value, "δ of f itself" if u.name == "f" else ""))
        # contributions to the arguments of u
        seed = delta if u.name != "f" else B.ONE
        targets = [v for v, _, _ in defs if v.name != u.name and depends_on(local, {v.name})]
        if depends_on(local, {x.name}):
            targets.append(x)
        for v in targets:
            dl = differential(local, v)
            if dl is None:
                continue
            weighted = inner(seed, dl) if not seed.shape.is_scalar else B.mul(seed, dl)
            # the simplifier is what turns tr L(u, du) into tr(e^u du), which a gradient can read
            frechet = any(isinstance(m, ExpmFrechet) for m in walk(weighted))
            g = simplify(gradient(simplify(weighted) if frechet or not weighted.shape.is_scalar else weighted, v))
            contributions.setdefault(v.name, []).append(g)
    total = simplify(B.add(*contributions.get(x.name, []), shape=x.shape))
    sec.steps.append(Step(f"∂f/∂{_name(x)}", total, "sum over every path to the variable" if len(contributions.get(x.name, [])) > 1 else ""))
    return sec


def _delta_label(u: Var) -> str:
    return "δf" if u.name == "f" else "δ" + _sub(int(u.name[1:]))


def _forward(defs: list[tuple[Var, Node, Node]], x: Var, d: Derivative) -> Section:
    sec = Section("Chain rule, forwards: J = ∂u/∂x, products of local Jacobians")
    for u, _, orig in defs[:MAX_SHOWN]:
        dn = differential(orig, x)
        j = simplify(vec_jacobian(simplify(dn), x, orig.shape)) if dn is not None and not x.shape.is_scalar else None
        if j is not None:
            sec.steps.append(Step(f"∂{_name(u)}/∂{_name(x)}", j))
    return sec


def _simplification(d: Derivative) -> Section:
    """Re-run extraction and simplification with the rule trace on."""
    from .engine import first_order

    sec = Section("Simplification")
    with SIMP.tracing() as trace:
        first_order(d.expression, d.wrt)
    seen: set[tuple[str, Node]] = set()
    names_shown: set[str] = set()
    shown = 0
    for fn, before, after in trace:
        key = (fn.__name__, before)
        if key in seen or fn.__name__ in names_shown or shown >= 12:
            continue
        seen.add(key)
        names_shown.add(fn.__name__)
        doc = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
        sec.steps.append(Step(before, after, f"{fn.__name__.replace('_', ' ')}: {doc}"))
        shown += 1
    sec.steps.append(Step(RESULT, d.node, "result"))
    return sec


#: The label of the last step: ∂f/∂x, printed by each format in its own notation.
RESULT = "\0result"


def _second_order(d: Derivative) -> list[Section]:
    from .engine import Options, derivative

    g = derivative(d.expression, d.wrt, Options(order=1))
    x = _name(d.wrt)
    if d.wrt.shape.is_scalar:
        sec = Section("Second derivative: the derivative of the first")
        sec.steps.append(Step(f"∂f/∂{x}", g.node, "first the derivative"))
        last = Step(f"∂²f/∂{x}²", d.node, f"read off: dg = (∂²f/∂{x}²) d{x}")
    else:
        sec = Section("Hessian: the derivative of the gradient")
        sec.steps.append(Step(f"∇f({x})", g.node, "first the gradient"))
        last = Step("H", d.node, f"read off: vec(dg) = H vec(d{x})")
    dg = differential(g.node, d.wrt)
    if dg is not None:
        sec.steps.append(Step("dg", simplify(dg), f"its differential, linear in d{x}"))
    sec.steps.append(last)
    return [sec]


def derivation(d: Derivative, fmt: str = "text") -> str:
    """The derivation as text or as a LaTeX ``align*`` environment."""
    from .deep import call_deep

    _labels()  # made in this thread's context, so call_deep's worker shares it
    SIMP._state()
    sections = call_deep(derive, d)
    if fmt == "latex":
        return _latex(sections, d)
    return _text(sections, d)


def _show(x: Node | str, printer) -> str:
    return x if isinstance(x, str) else printer(x)


def _text(sections: list[Section], d: Derivative) -> str:
    from .printing.text import to_text

    def text(x: Node) -> str:
        return to_text(x, d.checked.variables)

    out = [d.header(), ""]
    result_label = d.header().split("  [")[0]
    for i, sec in enumerate(sections, 1):
        out.append(f"{i}. {sec.title}")
        for st in sec.steps:
            lhs = result_label if st.lhs == RESULT else _show(st.lhs, text)
            line = f"   {lhs} = {_show(st.rhs, text)}"
            if st.note:
                line += f"      [{st.note}]"
            out.append(line)
        out.append("")
    out.append(f"∴ {d.text}")
    return "\n".join(out)


def _latex(sections: list[Section], d: Derivative) -> str:
    from .printing import to_latex
    from .printing.latex import derivative_lhs

    def tex(x: Node | str) -> str:
        if x == RESULT:
            return derivative_lhs(d)
        if isinstance(x, str):
            return _latex_label(x)
        return to_latex(x, d.checked.variables)

    lines = [r"\begin{align*}"]
    for sec in sections:
        lines.append(r"&\text{" + _latex_escape(sec.title) + r"} \\")
        for st in sec.steps:
            note = r" && \text{" + _latex_escape(st.note) + "}" if st.note else ""
            lines.append(f"{tex(st.lhs)} &= {tex(st.rhs)}{note} \\\\")
    lines.append(r"\end{align*}")
    return "\n".join(lines)


_LABEL = str.maketrans({"₀": "0", "₁": "1", "₂": "2", "₃": "3", "₄": "4", "₅": "5", "₆": "6", "₇": "7", "₈": "8", "₉": "9"})


def _latex_label(s: str) -> str:
    """Labels such as ∂u₂/∂u₁, δ₃, du₁ in LaTeX."""
    import re

    s = s.replace("δ", r"\delta ").replace("∂", r"\partial ").replace("∇", r"\nabla ").replace("…", r"\dots")
    s = s.replace(r"\partial ²", r"\partial^{2} ").replace("²", "^{2}")  # ∂²f/∂t²
    s = re.sub(r"(?<!\\)\bd([a-zA-Z])", r"\\mathrm{d}\1", s)  # du₁, but not the d of \delta
    s = re.sub(r"([A-Za-z\\ ]+?)([₀-₉]+)", lambda m: f"{m.group(1)}_{{{m.group(2).translate(_LABEL)}}}", s)
    if "/" in s:
        a, _, b = s.partition("/")
        return rf"\frac{{{a}}}{{{b}}}"
    return _latex_escape(s) if not any(c in s for c in "\\_{") else s


def _latex_escape(s: str) -> str:
    repl = {
        "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\^{}", "&": r"\&", "%": r"\%",
        "$": r"\$", "#": r"\#", "~": r"\~{}",
    }
    s = "".join(repl.get(c, c) for c in s)
    uni = {
        "→": r"$\to$", "⊙": r"$\odot$", "𝟙": r"$\mathbf{1}$", "ᵀ": r"$^\top$", "′": "'", "δ": r"$\delta$",
        "∂": r"$\partial$", "‖": r"$\|$", "⁻¹": r"$^{-1}$", "⊗": r"$\otimes$", "σ": r"$\sigma$", "√": r"$\sqrt{}$",
        "ᵖ": r"$^p$", "⁻": "-", "Σ": r"$\Sigma$", "∇": r"$\nabla$", "−": "-", "…": r"\dots",
    }
    for k, v in uni.items():
        s = s.replace(k, v)
    return "".join(c if c.isascii() else _ascii_symbol(c) for c in s)


def _ascii_symbol(c: str) -> str:
    """Any other non-ASCII character in a note, as LaTeX (pdflatex and KaTeX take only ASCII in \\text)."""
    import unicodedata

    name = unicodedata.name(c, "")
    table = {"≠": r"$\neq$", "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$", "·": r"$\cdot$", "⊘": "/", "′": "'"}
    if c in table:
        return table[c]
    if "SUBSCRIPT" in name and "DIGIT" in name:
        return f"$_{{{unicodedata.digit(c)}}}$"
    if "SUPERSCRIPT" in name and unicodedata.digit(c, None) is not None:  # ² is SUPERSCRIPT TWO
        return f"$^{{{unicodedata.digit(c)}}}$"
    if name.startswith("GREEK SMALL LETTER "):
        return "$\\" + name.split()[-1].lower() + "$"
    if name.startswith("GREEK CAPITAL LETTER "):
        return "$\\" + name.split()[-1].capitalize() + "$"
    return ""


