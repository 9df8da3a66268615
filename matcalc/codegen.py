"""Derivatives → a self-contained, readable Python module (NumPy, JAX or PyTorch).

``generate(d)`` returns the text of a module: the imports, the helpers the result
needs, and one function of the variables that returns the derivative.

Conventions of the generated function, matching :meth:`Derivative.to_function`
(``evaluate.bind_sizes`` / ``evaluate.to_user_shape``):

* parameters are the expression's variables in order of first appearance (then the
  variable differentiated by, if the expression does not use it); they may be passed
  by position or by keyword; scalars are numbers, vectors 1-D arrays, matrices 2-D;
* inside, every vector is kept as an n×1 column (so ``@``, ``.T`` and broadcasting
  mean exactly what they mean on matcalc's 2-D values) and every scalar as a 0-d
  array or a Python number (``xᵀAx`` is computed as ``(x.T @ A @ x)[0, 0]``);
* the result is a float for a 1×1 result (NumPy backend; JAX and PyTorch return a
  0-d array so the function stays traceable), a 1-D array for a column vector and a
  2-D array otherwise.  ``with_value=True`` returns ``(value, derivative)`` in the
  same conventions, the two sharing their temporaries.

Structure is kept: a subexpression the result uses twice is computed once (``t1 =
…``); ``diag(v) @ M`` is ``v * M`` and ``M @ diag(v)`` is ``M * v.T``; a Kronecker
factor is applied with the vec trick, (A ⊗ B) vec(V) = vec(B V Aᵀ) (helper
``kron_apply``), never formed inside a product; identities are dropped, a product
with 𝟙 is a sum; chains ending in a column vector are multiplied right to left;
Xᵀ diag(d) X with d ≥ 0 certain (by :func:`value_interval`: σ(1 − σ), 1 − tanh², y²)
is ``gram(X, d)`` = BᵀB, B = √d ⊙ X, which BLAS computes in half the work (syrk).

Names: variable names are checked to be Python identifiers (otherwise
:class:`CodegenNameError`); a name that is a keyword, a builtin, the module alias
(``np``/``jnp``/``torch``), a helper or a temporary (``t1``) is renamed with a
trailing underscore (``lambda`` → ``lambda_``), consistently, so no name can change
what the code does.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from .dims import Dim, Shape
from .errors import MatcalcError, UnsupportedError
from .nodes import (
    LEAVES,
    Add,
    Apply,
    ArgExtremum,
    Broadcast,
    Commutation,
    Compare,
    Const,
    Det,
    Diag,
    DiagPart,
    Differential,
    DimValue,
    Expm,
    Extremum,
    Identity,
    Inverse,
    Kron,
    LogDet,
    LogSumExp,
    MatMul,
    Mul,
    Node,
    Norm,
    Ones,
    Pi,
    Pow,
    Prod,
    Softmax,
    Sum,
    Trace,
    Transpose,
    Unvec,
    Var,
    Vec,
    Zero,
)
from .registry import ELEMENTWISE, Elementwise

if TYPE_CHECKING:  # pragma: no cover
    from .api import Derivative

BACKENDS = ("numpy", "jax", "torch")


class CodegenNameError(MatcalcError):
    """A variable or function name cannot be used in generated code."""

    kind = "error"


# ====================================================================== backends
#
# Each backend says how to write the operations the generator needs.  Elementwise
# registry functions: the NumPy backend uses the registry's own ``numpy`` template
# and ``numpy_helper``; JAX and PyTorch use the tables below, keyed by the registry
# name (tests/test_codegen.py fails if a registered function is missing here).

_SIGMOID_JNP = (
    "def sigmoid(z):\n"
    "    e = jnp.exp(-jnp.abs(z))\n"
    "    return jnp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))\n"
)

#: registry name → (template over the argument sources, helper source defining what it uses)
JAX_FUNCTIONS: dict[str, tuple[str, str]] = {
    "exp": ("jnp.exp({0})", ""),
    "log": ("jnp.log({0})", ""),
    "sin": ("jnp.sin({0})", ""),
    "cos": ("jnp.cos({0})", ""),
    "tan": ("jnp.tan({0})", ""),
    "tanh": ("jnp.tanh({0})", ""),
    "sinh": ("jnp.sinh({0})", ""),
    "cosh": ("jnp.cosh({0})", ""),
    "arctan": ("jnp.arctan({0})", ""),
    "arcsin": ("jnp.arcsin({0})", ""),
    "arccos": ("jnp.arccos({0})", ""),
    "sigmoid": ("sigmoid({0})", _SIGMOID_JNP),
    "relu": ("jnp.maximum({0}, 0.0)", ""),
    "softplus": ("jnp.logaddexp(0.0, {0})", ""),
    "log1p": ("jnp.log1p({0})", ""),
    "expm1": ("jnp.expm1({0})", ""),
    "erf": ("jax.scipy.special.erf({0})", "import jax.scipy.special\n"),
    "sqrt": ("jnp.sqrt({0})", ""),
    "sign": ("jnp.sign({0})", ""),
    "abs": ("jnp.abs({0})", ""),
    "square": ("jnp.square({0})", ""),
    "max": ("jnp.maximum({0}, {1})", ""),
    "min": ("jnp.minimum({0}, {1})", ""),
}

_SOFTPLUS_TORCH = "def softplus(z):\n    return torch.logaddexp(torch.zeros_like(z), z)\n"

TORCH_FUNCTIONS: dict[str, tuple[str, str]] = {
    "exp": ("torch.exp({0})", ""),
    "log": ("torch.log({0})", ""),
    "sin": ("torch.sin({0})", ""),
    "cos": ("torch.cos({0})", ""),
    "tan": ("torch.tan({0})", ""),
    "tanh": ("torch.tanh({0})", ""),
    "sinh": ("torch.sinh({0})", ""),
    "cosh": ("torch.cosh({0})", ""),
    "arctan": ("torch.arctan({0})", ""),
    "arcsin": ("torch.arcsin({0})", ""),
    "arccos": ("torch.arccos({0})", ""),
    "sigmoid": ("torch.sigmoid({0})", ""),
    "relu": ("torch.relu({0})", ""),
    "softplus": ("softplus({0})", _SOFTPLUS_TORCH),
    "log1p": ("torch.log1p({0})", ""),
    "expm1": ("torch.expm1({0})", ""),
    "erf": ("torch.erf({0})", ""),
    "sqrt": ("torch.sqrt({0})", ""),
    "sign": ("torch.sign({0})", ""),
    "abs": ("torch.abs({0})", ""),
    "square": ("torch.square({0})", ""),
    "max": ("torch.maximum({0}, {1})", ""),
    "min": ("torch.minimum({0}, {1})", ""),
}

# Structural helpers, written once with {xp} for the array module (NumPy and JAX) and
# once for PyTorch, whose reductions spell their arguments dim=/keepdim=.
_HELPERS_XP: dict[str, str] = {
    "softmax": (
        "def softmax(z):\n"
        '    """exp(z) / sum(exp(z)) over all entries, shifted by max(z) so exp cannot overflow."""\n'
        "    e = {xp}.exp(z - {xp}.max(z))\n"
        "    return e / {xp}.sum(e)\n"
    ),
    "softmax_rows": (
        "def softmax_rows(Z):\n"
        '    """softmax of each row of Z."""\n'
        "    e = {xp}.exp(Z - {xp}.max(Z, axis=1, keepdims=True))\n"
        "    return e / {xp}.sum(e, axis=1, keepdims=True)\n"
    ),
    "logsumexp": (
        "def logsumexp(z):\n"
        '    """log(sum(exp(z))) over all entries, computed stably."""\n'
        "    m = {xp}.max(z)\n"
        "    return m + {xp}.log({xp}.sum({xp}.exp(z - m)))\n"
    ),
    "logsumexp_rows": (
        "def logsumexp_rows(Z):\n"
        '    """log(sum(exp(Z))) of each row of Z, as a column."""\n'
        "    m = {xp}.max(Z, axis=1, keepdims=True)\n"
        "    return m + {xp}.log({xp}.sum({xp}.exp(Z - m), axis=1, keepdims=True))\n"
    ),
}
_HELPERS_TORCH: dict[str, str] = {
    "softmax": (
        "def softmax(z):\n"
        '    """exp(z) / sum(exp(z)) over all entries, shifted by max(z) so exp cannot overflow."""\n'
        "    e = torch.exp(z - torch.max(z))\n"
        "    return e / torch.sum(e)\n"
    ),
    "softmax_rows": (
        "def softmax_rows(Z):\n"
        '    """softmax of each row of Z."""\n'
        "    e = torch.exp(Z - torch.amax(Z, dim=1, keepdim=True))\n"
        "    return e / torch.sum(e, dim=1, keepdim=True)\n"
    ),
    "logsumexp": (
        "def logsumexp(z):\n"
        '    """log(sum(exp(z))) over all entries, computed stably."""\n'
        "    m = torch.max(z)\n"
        "    return m + torch.log(torch.sum(torch.exp(z - m)))\n"
    ),
    "logsumexp_rows": (
        "def logsumexp_rows(Z):\n"
        '    """log(sum(exp(Z))) of each row of Z, as a column."""\n'
        "    m = torch.amax(Z, dim=1, keepdim=True)\n"
        "    return m + torch.log(torch.sum(torch.exp(Z - m), dim=1, keepdim=True))\n"
    ),
}
#: e^A by scaling and squaring with the [13/13] Padé approximant (Higham 2005), in NumPy;
#: JAX and PyTorch call their own (jax.scipy.linalg.expm, torch.linalg.matrix_exp).
EXPM_NUMPY = (
    "def expm(A):\n"
    '    """The matrix exponential: scaling and squaring with the [13/13] Padé approximant."""\n'
    "    b = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,\n"
    "         129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,\n"
    "         40840800.0, 960960.0, 16380.0, 182.0, 1.0)\n"
    "    if not np.all(np.isfinite(A)):\n"
    "        return np.full(A.shape, np.nan)  # (a NaN or ∞ entry: no exponential to compute)\n"
    "    # scale by 2^-s until the 1-norm is at most θ₁₃ = 5.37, then square s times\n"
    "    s = np.maximum(0, np.ceil(np.log2(np.maximum(np.linalg.norm(A, 1), 1e-300) / 5.371920351148152)))\n"
    "    A = A / 2.0**s\n"
    "    eye = np.eye(A.shape[0])\n"
    "    A2 = A @ A\n"
    "    A4 = A2 @ A2\n"
    "    A6 = A4 @ A2\n"
    "    U = A @ (A6 @ (b[13] * A6 + b[11] * A4 + b[9] * A2) + b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye)\n"
    "    V = A6 @ (b[12] * A6 + b[10] * A4 + b[8] * A2) + b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * eye\n"
    "    R = np.linalg.solve(V - U, V + U)\n"
    "    while s > 0:  # squaring s times (2**s as an exponent overflows for large s)\n"
    "        R = R @ R\n"
    "        s = s - 1\n"
    "    return R\n"
)

_HELPERS_COMMON: dict[str, str] = {
    "kron_apply": (
        "def kron_apply(A, B, M):\n"
        '    """(A ⊗ B) @ M without forming A ⊗ B: column k is vec(B @ V_k @ A.T), vec(V_k) = M[:, k]."""\n'
        "    V = M.reshape(A.shape[1], B.shape[1], -1)  # V[j, i, k] = V_k[i, j] (vec is column-major)\n"
        '    W = {xp}.einsum("ri,jik->jrk", B, V)\n'
        '    return {xp}.einsum("pj,jrk->prk", A, W).reshape(A.shape[0] * B.shape[0], -1)\n'
    ),
    "commutation_perm": (
        "def commutation_perm(r, c):\n"
        '    """Row order of the commutation matrix K: K @ M == M[perm], K @ vec(A) == vec(A.T) for r×c A."""\n'
        "    return {xp}.arange(r * c).reshape(c, r).T.reshape(-1)\n"
    ),
}
_GRAM = (
    "def gram(X, d):\n"
    '    """X.T @ (d * X) for a column d ≥ 0, as B.T @ B with B = sqrt(d) * X: exactly symmetric, and\n'
    '    BLAS (syrk) computes a product of a matrix with its own transpose in half the work."""\n'
    "    B = {xp}.sqrt({clip}) * X  # (a rounding error below 0 is 0)\n"
    "    return B.T @ B\n"
)
_HELPERS_XP["gram"] = _GRAM.replace("{clip}", "{xp}.maximum(d, 0.0)")
_HELPERS_TORCH["gram"] = _GRAM.replace("{xp}", "torch").replace("{clip}", "torch.clamp(d, min=0.0)")
_HELPER_ORDER = ("softmax", "softmax_rows", "logsumexp", "logsumexp_rows", "kron_apply", "commutation_perm", "expm", "gram")
_HELPERS_TORCH["expm"] = "def expm(A):\n    return torch.linalg.matrix_exp(A)\n"


class Backend:
    """How one array library spells what the generator writes."""

    name = "numpy"
    xp = "np"
    import_line = "import numpy as np"
    dtype = "float"
    #: imports a helper needs beyond the array module
    helper_imports: dict[str, str] = {}

    def function(self, fn: Elementwise) -> tuple[str, str]:
        return fn.numpy, fn.numpy_helper

    def helper(self, name: str) -> str:
        if name == "expm":
            return EXPM_NUMPY
        src = _HELPERS_COMMON.get(name) or _HELPERS_XP[name]
        return src.replace("{xp}", self.xp)

    def as_array(self, name: str) -> str:
        return f"{self.xp}.asarray({name}, dtype={self.dtype})"

    def literal_arg(self, text: str) -> str:
        """A Python number passed to a library function."""
        return text

    def sum(self, a: str, axis: int | None = None) -> str:
        if axis is None:
            return f"{self.xp}.sum({a})"
        return f"{self.xp}.sum({a}, axis={axis}, keepdims=True)"

    def extremum(self, op: str, a: str, axis: int | None) -> str:
        """max / min of all entries, or along ``axis`` keeping it."""
        if axis is None:
            return f"{self.xp}.{op}({a})"
        return f"{self.xp}.{op}({a}, axis={axis}, keepdims=True)"

    def shape_args(self, r: str, c: str) -> str:
        return f"({r}, {c})"

    def ones(self, r: str, c: str) -> str:
        return f"{self.xp}.ones({self.shape_args(r, c)})"

    def zeros(self, r: str, c: str) -> str:
        return f"{self.xp}.zeros({self.shape_args(r, c)})"

    def eye(self, n: str) -> str:
        return f"{self.xp}.eye({n})"

    def to_float(self, a: str) -> str:
        """A boolean array → 0.0/1.0 (``a`` is an atom)."""
        return f"{a}.astype(float)"

    def copy(self, a: str) -> str:
        return f"{a}.copy()"

    def scalar_result(self, a: str, literal: bool) -> str:
        if literal and re.fullmatch(r"-?\d+", a):
            return a + ".0"
        return f"float({a})"

    def trace(self, a: str) -> str:
        return f"{self.xp}.trace({a})"

    def prod(self, a: str) -> str:
        return f"{self.xp}.prod({a})"

    def det(self, a: str) -> str:
        return f"{self.xp}.linalg.det({a})"

    def logdet(self, a: str) -> str:
        return f"{self.xp}.linalg.slogdet({a})[1]"

    def inv(self, a: str) -> str:
        return f"{self.xp}.linalg.inv({a})"

    def solve(self, a: str, b: str) -> str:
        return f"{self.xp}.linalg.solve({a}, {b})"

    def norm(self, a: str) -> str:
        return f"{self.xp}.linalg.norm({a})"

    def abs(self, a: str) -> str:
        return f"{self.xp}.abs({a})"

    def sqrt(self, a: str) -> str:
        return f"{self.xp}.sqrt({a})"

    def diagonal(self, a: str) -> str:
        return f"{self.xp}.diagonal({a}).reshape(-1, 1)"

    def diagflat(self, a: str) -> str:
        return f"{self.xp}.diagflat({a})"

    def kron(self, a: Code, b: Code) -> str:
        return f"{self.xp}.kron({a.text}, {b.text})"

    def power(self, a: str, b: str) -> str:
        return f"{self.xp}.power({a}, {b})"


class JaxBackend(Backend):
    name = "jax"
    xp = "jnp"
    import_line = "import jax.numpy as jnp"

    def function(self, fn: Elementwise) -> tuple[str, str]:
        try:
            return JAX_FUNCTIONS[fn.name]
        except KeyError:
            raise UnsupportedError(f"no JAX translation for the function {fn.name}") from None

    helper_imports = {"expm": "import jax.scipy.linalg"}

    def helper(self, name: str) -> str:
        if name == "expm":
            return "def expm(A):\n    return jax.scipy.linalg.expm(A)\n"
        return super().helper(name)

    def copy(self, a: str) -> str:
        return a  # JAX arrays are immutable

    def scalar_result(self, a: str, literal: bool) -> str:
        return f"jnp.asarray({a}, dtype=float)" if literal else a


class TorchBackend(Backend):
    name = "torch"
    xp = "torch"
    import_line = "import torch"
    dtype = "torch.float64"

    def function(self, fn: Elementwise) -> tuple[str, str]:
        try:
            return TORCH_FUNCTIONS[fn.name]
        except KeyError:
            raise UnsupportedError(f"no PyTorch translation for the function {fn.name}") from None

    def helper(self, name: str) -> str:
        src = _HELPERS_COMMON.get(name) or _HELPERS_TORCH[name]
        return src.replace("{xp}", self.xp)

    def as_array(self, name: str) -> str:
        return f"torch.as_tensor({name}, dtype=torch.float64)"

    def literal_arg(self, text: str) -> str:
        return f"torch.tensor({text}, dtype=torch.float64)"

    def sum(self, a: str, axis: int | None = None) -> str:
        if axis is None:
            return f"torch.sum({a})"
        return f"torch.sum({a}, dim={axis}, keepdim=True)"

    def extremum(self, op: str, a: str, axis: int | None) -> str:
        if axis is None:
            return f"torch.a{op}({a})"
        return f"torch.a{op}({a}, dim={axis}, keepdim=True)"

    def shape_args(self, r: str, c: str) -> str:
        return f"{r}, {c}, dtype=torch.float64"

    def eye(self, n: str) -> str:
        return f"torch.eye({n}, dtype=torch.float64)"

    def to_float(self, a: str) -> str:
        return f"{a}.to(torch.float64)"

    def copy(self, a: str) -> str:
        return f"{a}.clone()"

    def scalar_result(self, a: str, literal: bool) -> str:
        return f"torch.tensor({a}, dtype=torch.float64)" if literal else a

    def logdet(self, a: str) -> str:
        return f"torch.linalg.slogdet({a})[1]"

    def power(self, a: str, b: str) -> str:
        return f"torch.pow({a}, {b})"

    def kron(self, a: Code, b: Code) -> str:
        # torch.kron refuses non-contiguous inputs (a transpose, torch.linalg.inv's result)
        return f"torch.kron({wrap(a, P_ATOM)}.contiguous(), {wrap(b, P_ATOM)}.contiguous())"


def backend(name: str) -> Backend:
    try:
        return {"numpy": Backend, "jax": JaxBackend, "torch": TorchBackend}[name]()
    except KeyError:
        raise UnsupportedError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}") from None


def _helper_names() -> set[str]:
    """Every module-level name a helper may define, in any backend."""
    names = set(_HELPER_ORDER)
    sources = [e.numpy_helper for e in ELEMENTWISE.values()]
    sources += [h for _, h in JAX_FUNCTIONS.values()] + [h for _, h in TORCH_FUNCTIONS.values()]
    for src in sources:
        names.update(re.findall(r"^def (\w+)", src, re.M))
    return names


# ====================================================================== names

_TEMP = re.compile(r"^t\d+$")
_MODULE_NAMES = {"np", "jnp", "jax", "torch", "numpy", "__builtins__", "__name__", "__file__", "__doc__", "__spec__"}


def _plain_identifier(name: str) -> bool:
    return isinstance(name, str) and name.isidentifier() and unicodedata.normalize("NFKC", name) == name


def check_identifier(name: str, what: str = "variable") -> None:
    """Raise :class:`CodegenNameError` unless ``name`` is a plain Python identifier.

    NFKC-normalising names (``ﬁ`` is ``fi`` to Python) are refused: two different
    matcalc names must never become the same Python name.
    """
    if not _plain_identifier(name):
        raise CodegenNameError(f"the {what} name {name!r} is not a Python identifier; rename it to generate code")


class Namer:
    """Python names for variables, dimensions and temporaries, all distinct and safe."""

    def __init__(self) -> None:
        self.reserved: set[str] = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins)) | _MODULE_NAMES
        self.reserved |= _helper_names()
        self.taken: set[str] = set()
        self.n_temps = 0

    def claim(self, name: str, what: str = "variable") -> str:
        check_identifier(name, what)
        out = name
        k = 1
        while out in self.reserved or out in self.taken or _TEMP.match(out):
            out = name + "_" if k == 1 else f"{name}_{k}"
            k += 1
        self.taken.add(out)
        return out

    def copy(self) -> Namer:
        other = Namer.__new__(Namer)
        other.reserved, other.taken, other.n_temps = self.reserved, set(self.taken), self.n_temps
        return other

    def temp(self) -> str:
        while True:
            self.n_temps += 1
            t = f"t{self.n_temps}"
            if t not in self.taken:
                self.taken.add(t)
                return t


# ====================================================================== code pieces

# precedence of Python operators, higher binds tighter
P_CMP, P_ADD, P_MUL, P_NEG, P_POW, P_ATOM = 50, 60, 70, 80, 90, 100


@dataclass(frozen=True)
class Code:
    """A piece of Python source for a dense value.

    ``op`` tells which MUL-level operator is on top (``*``, ``/`` or ``@``) so that
    mixed products get parentheses (``(A @ B) * c``) for the reader's sake;
    ``literal`` marks a Python number; ``boolean`` a comparison not yet made 0.0/1.0.
    """

    text: str
    prec: int = P_ATOM
    op: str = ""
    literal: bool = False
    boolean: bool = False
    untransposed: Code | None = None  # for ``X.T``: ``X``, so that ``X.T.T`` is written ``X``


def transpose(c: Code) -> Code:
    if c.untransposed is not None:
        return c.untransposed
    if c.prec == P_ATOM and c.text.endswith(".reshape(-1, 1)"):  # a column's transpose is a row
        return Code(c.text[: -len("(-1, 1)")] + "(1, -1)", P_ATOM, boolean=c.boolean, untransposed=c)
    return Code(f"{wrap(c, P_ATOM)}.T", P_ATOM, boolean=c.boolean, untransposed=c)


@dataclass(frozen=True)
class DiagV:
    """diag(v), v a column: never formed inside a product."""

    v: Code
    n: Dim


@dataclass(frozen=True)
class EyeV:
    n: Dim


@dataclass(frozen=True)
class KronV:
    a: Code
    b: Code


@dataclass(frozen=True)
class CommV:
    r: Dim
    c: Dim


@dataclass(frozen=True)
class OnesV:
    shape: Shape


Val = Code | DiagV | EyeV | KronV | CommV | OnesV


def wrap(c: Code, prec: int, op: str | None = None) -> str:
    """``c``'s text, parenthesised unless it binds at least as tightly as ``prec``.

    With ``op`` (the enclosing MUL-level operator), a MUL-level operand is
    parenthesised too when exactly one of the two is ``@``: ``(A @ B) * c`` reads
    unambiguously where ``A @ B * c`` would not.
    """
    if c.prec < prec or (op is not None and c.prec == P_MUL and c.op != op and "@" in (c.op, op)):
        return f"({c.text})"
    return c.text


def binop(left: Code, op: str, right: Code) -> Code:
    """left op right for a left-associative MUL-level operator."""
    return Code(f"{wrap(left, P_MUL, op)} {op} {wrap(right, P_MUL + 1, op)}", P_MUL, op)


def atom(text: str) -> Code:
    return Code(text, P_ATOM)


def number(v: Fraction) -> Code:
    """A Python literal equal (as a float) to ``float(v)``."""
    sign = "-" if v < 0 else ""
    a = abs(v)
    if max(a.numerator, a.denominator) > 2**53:
        # 1.0507009873554805 is 2101401974710961/2000000000000000: NumPy cannot multiply an
        # array by an integer beyond 64 bits, and the float is the value anyway
        text, prec, op = repr(float(a)), P_ATOM, ""
    elif a.denominator == 1:
        text, prec, op = str(a.numerator), P_ATOM, ""
    else:
        r = repr(float(a))
        if "e" not in r and Fraction(r) == a:  # an exact decimal: 0.5, 1.0507009873554805
            text, prec, op = r, P_ATOM, ""
        else:
            text, prec, op = f"{a.numerator} / {a.denominator}", P_MUL, "/"
    if sign:
        return Code("-" + (text if prec == P_ATOM else f"({text})"), P_NEG, literal=True)
    return Code(text, prec, op, literal=True)


def _is_negative(n: Node) -> bool:
    if isinstance(n, Const):
        return n.value < 0
    return isinstance(n, Mul) and isinstance(n.factors[0], Const) and n.factors[0].value < 0


def _is_reciprocal(n: Node) -> bool:
    return isinstance(n, Pow) and isinstance(n.exponent, Const) and n.exponent.value < 0


# ====================================================================== sharing

_WRAPPERS = (Transpose, Broadcast, Diag, Kron, Vec, Unvec)


def topological(roots: list[Node]) -> list[Node]:
    """Distinct nodes (by equality), every parent before its children."""
    seen: set[Node] = set()
    post: list[Node] = []
    for root in roots:
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            n, done = stack.pop()
            if done:
                post.append(n)
                continue
            if n in seen:
                continue
            seen.add(n)
            stack.append((n, True))
            for c in reversed(n.children):
                if c not in seen:
                    stack.append((c, False))
    return post[::-1]


def _decorated_leaf(n: Node) -> bool:
    """A leaf, possibly transposed, broadcast, negated or scaled: never worth a name."""
    while isinstance(n, (Transpose, Broadcast)):
        n = n.arg
    if isinstance(n, Mul) and len(n.factors) == 2 and isinstance(n.factors[0], Const):
        n = n.factors[1]
    return isinstance(n, LEAVES)


def shared_nodes(roots: list[Node], eligible: Callable[[Node], bool]) -> list[Node]:
    """The nodes to name: those that would be written out twice or more.

    Counts occurrences in the expanded tree, parents first; a node that gets a name
    is written once, so its children count once through it.
    """
    order = topological(roots)
    count: dict[Node, int] = {}
    for r in roots:
        count[r] = count.get(r, 0) + 1
    chosen: list[Node] = []
    for n in order:
        c = count.get(n, 0)
        if c >= 2 and eligible(n):
            chosen.append(n)
            c = 1
        for ch in n.children:
            count[ch] = count.get(ch, 0) + c
    return chosen


def _worth_a_temporary(n: Node) -> bool:
    return not isinstance(n, _WRAPPERS) and not _decorated_leaf(n) and not isinstance(n, (Differential, Compare))


# ====================================================================== the generator


@dataclass
class _Dims:
    """Python names of the dimension symbols and which ones the code uses."""

    names: dict[str, str]
    used: set[str] = field(default_factory=set)


class Generator:
    """Writes the statements of one function body; ``value(node)`` gives its code."""

    def __init__(self, be: Backend, namer: Namer, var_names: dict[str, str], dims: _Dims, temps: set[Node]):
        self.be = be
        self.namer = namer
        self.var_names = var_names
        self.dims = dims
        self.temps = temps
        self.lines: list[str] = []
        self.memo: dict[Node, Val] = {}
        self.helpers: list[str] = []  # structural helper names, in order of first use
        self.functions: list[Elementwise] = []  # registry functions used
        self.used_vars: set[str] = set()
        self.texts: dict[Node, str] = {}  # each node's code as first written, before naming
        self.outer = False  # whether an outer product is written as a broadcast (u * v.T)

    # ---------------------------------------------------------- plumbing

    def use_helper(self, name: str) -> str:
        if name not in self.helpers:
            self.helpers.append(name)
        return name

    def dim(self, d: Dim) -> Code:
        parts = [str(d.coef)] if d.coef != 1 or not d.syms else []
        for s in d.syms:
            self.dims.used.add(s)
            parts.append(self.dims.names[s])
        if len(parts) == 1:
            return Code(parts[0], P_ATOM, literal=True)
        return Code(" * ".join(parts), P_MUL, "*", literal=True)

    def dim_text(self, d: Dim) -> str:
        return self.dim(d).text

    def value(self, n: Node) -> Val:
        v = self.memo.get(n)
        if v is None:
            v = self.render(n)
            if isinstance(v, Code):
                self.texts[n] = v.text
            if n in self.temps and isinstance(v, Code) and not v.literal and not re.fullmatch(r"\w+", v.text):
                v = self.named(self.as_float(v))
            self.memo[n] = v
        return v

    def named(self, c: Code) -> Code:
        """``c`` computed once into a temporary (a plain name is its own name)."""
        if re.fullmatch(r"\w+", c.text):
            return c
        name = self.namer.temp()
        self.lines.append(f"{name} = {c.text}")
        return atom(name)

    def code(self, n: Node) -> Code:
        """A dense, floating value."""
        return self.as_float(self.dense(self.value(n)))

    def as_float(self, c: Code) -> Code:
        if not c.boolean:
            return c
        if c.literal:
            return Code(f"float{c.text}" if c.text.startswith("(") else f"float({c.text})", P_ATOM, literal=True)
        return atom(self.be.to_float(wrap(c, P_ATOM)))

    def arg(self, n: Node) -> Code:
        """A floating value passed to a library function (PyTorch wants tensors there)."""
        c = self.code(n)
        if c.literal:
            return atom(self.be.literal_arg(c.text))
        return c

    def dense(self, v: Val) -> Code:
        be = self.be
        if isinstance(v, Code):
            return v
        if isinstance(v, DiagV):
            return atom(be.diagflat(v.v.text))
        if isinstance(v, EyeV):
            return atom(be.eye(self.dim_text(v.n)))
        if isinstance(v, KronV):
            return atom(be.kron(v.a, v.b))
        if isinstance(v, CommV):
            perm = f"{self.use_helper('commutation_perm')}({self.dim_text(v.r)}, {self.dim_text(v.c)})"
            return atom(f"{be.eye(self.dim_text(v.r * v.c))}[{perm}]")
        if isinstance(v, OnesV):
            return atom(be.ones(self.dim_text(v.shape.rows), self.dim_text(v.shape.cols)))
        raise TypeError(v)  # pragma: no cover

    # ---------------------------------------------------------- dispatch

    def render(self, n: Node) -> Val:
        method = getattr(self, "_" + type(n).__name__, None)
        if method is None:  # pragma: no cover - every node type has a method
            raise UnsupportedError(f"cannot generate code for {type(n).__name__}")
        return method(n)

    # ---------------------------------------------------------- leaves

    def _Var(self, n: Var) -> Val:
        self.used_vars.add(n.name)
        return atom(self.var_names[n.name])

    def _Differential(self, n: Differential) -> Val:
        raise UnsupportedError("cannot generate code for a differential")

    def _Const(self, n: Const) -> Val:
        return number(n.value)

    def _DimValue(self, n: DimValue) -> Val:
        return self.dim(n.dim)

    def _Pi(self, n: Pi) -> Val:
        return Code(f"{self.be.xp}.pi", literal=True)

    def _Zero(self, n: Zero) -> Val:
        if n.shape.is_scalar:
            return Code("0.0", literal=True)
        return atom(self.be.zeros(self.dim_text(n.shape.rows), self.dim_text(n.shape.cols)))

    def _Ones(self, n: Ones) -> Val:
        if n.shape.is_scalar:
            return Code("1.0", literal=True)
        return OnesV(n.shape)

    def _Identity(self, n: Identity) -> Val:
        if n.n.is_one:
            return Code("1.0", literal=True)
        return EyeV(n.n)

    def _Commutation(self, n: Commutation) -> Val:
        if n.shape.is_scalar:
            return Code("1.0", literal=True)
        return CommV(n.r, n.c)

    # ---------------------------------------------------------- elementwise

    def operands(self, n: Node, nodes: tuple[Node, ...]) -> list[Node]:
        """Drop Broadcast wrappers when NumPy broadcasting does the same.

        Safe when some other operand already has the full shape; otherwise the first
        broadcast stays explicit so the result has the right shape.
        """
        full = any(not isinstance(o, (Broadcast, Ones)) and o.shape == n.shape for o in nodes)
        out: list[Node] = []
        for o in nodes:
            if isinstance(o, Broadcast) and o.shape == n.shape and (full or o is not _first_broadcast(nodes)):
                out.append(o.arg)
            elif isinstance(o, Ones) and full:
                out.append(_ONE_CONST)
            else:
                out.append(o)
        return out

    def _Add(self, n: Add) -> Val:
        terms = self.operands(n, n.terms)
        pos = [t for t in terms if not (_is_negative(t) and t not in self.temps)]
        neg = [t for t in terms if _is_negative(t) and t not in self.temps]
        parts: list[str] = []
        literal = True
        for t in pos:
            c = self.code(t)
            literal = literal and c.literal
            parts.append((" + " if parts else "") + wrap(c, P_ADD))
        for t in neg:
            c = self.code(_negate(t))
            literal = literal and c.literal
            if parts:
                parts.append(" - " + wrap(c, P_ADD + 1))
            else:
                parts.append("-" + wrap(c, P_NEG))
        return Code("".join(parts), P_ADD, literal=literal)

    def _Mul(self, n: Mul) -> Val:
        fs = self.operands(n, n.factors)
        coef = Fraction(1)
        if isinstance(fs[0], Const):
            coef = fs[0].value
            fs = fs[1:]
        num = [f for f in fs if not (_is_reciprocal(f) and f not in self.temps)]
        den = [_reciprocal_base(f) for f in fs if _is_reciprocal(f) and f not in self.temps]
        # scalars, then vectors, then full-size factors: a ⊙ b ⊙ X costs one pass over X, not two
        num.sort(key=lambda f: 0 if f.shape.is_scalar else 1 if f.shape != n.shape else 2)
        # a comparison may stay boolean when a floating array multiplies it
        codes = [self.value(f) if isinstance(f, Compare) else self.code(f) for f in num]
        codes = [self.dense(c) for c in codes]
        if not any(isinstance(c, Code) and not c.boolean and not c.literal for c in codes):
            codes = [self.as_float(c) for c in codes]
        a = abs(coef)
        num_codes: list[Code] = []
        den_codes: list[Code] = [self.code(d) for d in den]
        if a != 1 or not codes:
            c = number(a)
            if c.op == "/":  # 2/3 · x → 2 * x / 3
                if a.numerator != 1 or not codes:
                    num_codes.append(number(Fraction(a.numerator)))
                den_codes.insert(0, number(Fraction(a.denominator)))
            else:
                num_codes.append(c)
        num_codes += codes
        if not num_codes:
            num_codes = [number(Fraction(1))]
        acc = num_codes[0]
        for c in num_codes[1:]:
            acc = binop(acc, "*", c)
        if den_codes:
            d = den_codes[0]
            for c in den_codes[1:]:
                d = binop(d, "*", c)
            acc = Code(f"{wrap(acc, P_MUL, '/')} / {wrap(d, P_MUL + 1)}", P_MUL, "/")
        literal = all(c.literal for c in num_codes + den_codes)
        if coef < 0:
            if acc.prec == P_MUL and acc.op != "@" and not acc.text.startswith(("-", "(")) and not num_codes[0].boolean:
                # -2 * x: unary minus binds to the first factor, and (−a)·b = −(a·b) exactly; not
                # when that factor is parenthesised: it may be a comparison, and NumPy has no −bool
                return Code("-" + acc.text, P_MUL, acc.op, literal=literal)
            return Code("-" + wrap(acc, P_NEG if acc.prec != P_NEG else P_ATOM), P_NEG, literal=literal)
        return Code(acc.text, acc.prec, acc.op, literal=literal, boolean=acc.boolean and len(num_codes) == 1)

    def _Pow(self, n: Pow) -> Val:
        base_node, exp_node = self.operands(n, (n.base, n.exponent))
        base = self.code(base_node)
        if isinstance(exp_node, Const):
            v = exp_node.value
            if v == Fraction(1, 2):
                return atom(self.be.sqrt(self.arg(base_node).text))
            if v == Fraction(-1, 2):
                return Code(f"1 / {self.be.sqrt(self.arg(base_node).text)}", P_MUL, "/")
            if v < 0:
                inner = base if v == -1 else Code(f"{wrap(base, P_ATOM)} ** {wrap(number(-v), P_NEG)}", P_POW)
                return Code(f"1 / {wrap(inner, P_MUL + 1)}", P_MUL, "/", literal=base.literal)
        exp = self.code(exp_node)
        if base.literal and exp.literal:  # both Python numbers: the library's power, as NumPy's evaluator does
            return atom(self.be.power(self.arg(base_node).text, exp.text))
        return Code(f"{wrap(base, P_ATOM)} ** {wrap(exp, P_NEG)}", P_POW)

    def _Apply(self, n: Apply) -> Val:
        fn = n.fn
        template, _ = self.be.function(fn)
        if fn not in self.functions:
            self.functions.append(fn)
        args = [self.arg(a) for a in self.operands(n, n.args)]
        return atom(_fill(template, args))

    def _Compare(self, n: Compare) -> Val:
        left, right = (self.code(x) for x in self.operands(n, (n.left, n.right)))
        text = f"({wrap(left, P_ADD)} {n.op} {wrap(right, P_ADD)})"
        return Code(text, P_ATOM, boolean=True, literal=left.literal and right.literal)

    # ---------------------------------------------------------- linear algebra

    def _MatMul(self, n: MatMul) -> Val:
        scalars: list[Code] = []
        items: list[tuple[Node, Val]] = []
        gram = _gram_factors(n)
        if gram is not None:  # Xᵀ diag(d) X, d ≥ 0 (Gauss–Newton, GLM and logistic Hessians)
            x, d = gram
            chain = atom(f"{self.use_helper('gram')}({self.code(x).text}, {self.as_float(self.code(d)).text})")
            for f in reversed([f for f in n.factors if f.shape.is_scalar]):
                chain = binop(self.code(f), "*", chain)
            return chain
        for f in n.factors:
            if f.shape.is_scalar:
                scalars.append(self.code(f))
                continue
            v = self.value(f)
            if isinstance(v, EyeV):
                continue
            if isinstance(v, Code):
                v = self.as_float(v)  # a comparison in a matrix product (Wᵀ(Wx ≤ m)): PyTorch's @ takes no booleans
            items.append((f, v))
        items = _merge_diags(items)
        if not items:
            body: Val = EyeV(n.shape.rows) if n.shape.rows == n.shape.cols else OnesV(n.shape)
            if not scalars:
                return body
            chain = self.dense(body)
        else:
            chain = self.chain(items)
        if n.shape.is_scalar:
            chain = atom(f"{wrap(chain, P_ATOM)}[0, 0]")
        for s in reversed(scalars):
            chain = binop(s, "*", chain)
        return chain

    def chain(self, items: list[tuple[Node, Val]]) -> Code:
        """Multiply structured and dense factors without forming diag or Kronecker matrices."""
        first, last = items[0][0], items[-1][0]
        if last.shape.cols.is_one and not first.shape.rows.is_one and len(items) > 1:
            acc = self.dense(items[-1][1])
            for f, v in reversed(items[:-1]):
                acc = self.left_apply(f, v, acc, column=True)
            return acc
        items = self.fold_diags(items)
        k = next((i for i, (_, v) in enumerate(items) if isinstance(v, Code)), None)
        if k is None:  # nothing dense: form one factor, preferably a Kronecker one (diagonals then scale it)
            kron = [i for i, (_, v) in enumerate(items) if isinstance(v, KronV)]
            k = kron[-1] if kron else len(items) - 1
        acc = self.dense(items[k][1])
        for f, v in reversed(items[:k]):
            acc = self.left_apply(f, v, acc, column=False)
        for f, v in items[k + 1 :]:
            acc = self.right_apply(acc, f, v)
        return acc

    def fold_diags(self, items: list[tuple[Node, Val]]) -> list[tuple[Node, Val]]:
        """diag(v) next to a dense factor M: v * M (rows scaled) or M * v.T (columns scaled)."""
        out = list(items)
        i = 0
        while i < len(out):
            f, v = out[i]
            if isinstance(v, DiagV):
                if i + 1 < len(out) and isinstance(out[i + 1][1], Code):
                    g, m = out[i + 1]
                    out[i : i + 2] = [(g, binop(v.v, "*", m))]  # type: ignore[arg-type]
                    continue
                if i > 0 and isinstance(out[i - 1][1], Code):
                    g, m = out[i - 1]
                    out[i - 1 : i + 1] = [(g, binop(m, "*", transpose(v.v)))]  # type: ignore[arg-type]
                    continue
            i += 1
        return out

    def left_apply(self, f: Node, v: Val, acc: Code, column: bool) -> Code:
        """v @ acc."""
        if isinstance(v, DiagV):
            return binop(v.v, "*", acc)
        if isinstance(v, KronV):
            return atom(f"{self.use_helper('kron_apply')}({v.a.text}, {v.b.text}, {acc.text})")
        if isinstance(v, CommV):
            return atom(f"{wrap(acc, P_ATOM)}[{self.use_helper('commutation_perm')}({self.dim_text(v.r)}, {self.dim_text(v.c)})]")
        if isinstance(v, OnesV) and v.shape.rows.is_one:
            return atom(self.be.sum(acc.text, 0))
        if column and isinstance(f, Inverse) and f not in self.temps:  # A⁻¹b = solve(A, b)
            return atom(self.be.solve(self.code(f.arg).text, acc.text))
        if column and isinstance(f, Transpose) and isinstance(f.arg, Inverse) and f.arg not in self.temps:  # A⁻ᵀb
            return atom(self.be.solve(transpose(self.code(f.arg.arg)).text, acc.text))
        if f.shape.cols.is_one:  # an outer product (r×1)(1×c): broadcasting is twice as fast as @
            self.outer = True
            return binop(self.dense(v), "*", acc)
        return binop(self.dense(v), "@", acc)

    def right_apply(self, acc: Code, f: Node, v: Val) -> Code:
        """acc @ v, where v is the value of f."""
        if isinstance(v, DiagV):
            return binop(acc, "*", transpose(v.v))
        if isinstance(v, KronV):
            a, b, m = transpose(v.a), transpose(v.b), transpose(acc)
            return transpose(atom(f"{self.use_helper('kron_apply')}({a.text}, {b.text}, {m.text})"))
        if isinstance(v, CommV):
            return atom(f"{wrap(acc, P_ATOM)}[:, {self.use_helper('commutation_perm')}({self.dim_text(v.c)}, {self.dim_text(v.r)})]")
        if isinstance(v, OnesV) and v.shape.cols.is_one:
            return atom(self.be.sum(acc.text, 1))
        assert isinstance(v, (Code, OnesV))
        if f.shape.rows.is_one:  # an outer product (r×1)(1×c): broadcasting is twice as fast as @
            self.outer = True
            return binop(acc, "*", self.dense(v))
        return binop(acc, "@", self.dense(v))

    def _Transpose(self, n: Transpose) -> Val:
        if n.shape.is_scalar:
            return self.value(n.arg)
        v = self.value(n.arg)
        if isinstance(v, (DiagV, EyeV)):
            return v
        if isinstance(v, KronV):
            return KronV(transpose(v.a), transpose(v.b))
        if isinstance(v, CommV):
            return CommV(v.c, v.r)
        if isinstance(v, OnesV):
            return OnesV(v.shape.T)
        return transpose(v)

    def _Sum(self, n: Sum) -> Val:
        if n.arg.shape.is_scalar:
            return self.value(n.arg)
        a = self.code(n.arg).text
        if n.axis is None or n.shape.is_scalar:
            return atom(self.be.sum(a))
        return atom(self.be.sum(a, n.axis))

    def _Broadcast(self, n: Broadcast) -> Val:
        if n.shape.is_scalar:
            return self.value(n.arg)
        a = self.code(n.arg)
        ones = atom(self.be.ones(self.dim_text(n.target.rows), self.dim_text(n.target.cols)))
        if a.literal and a.text in ("1", "1.0"):
            return ones
        if isinstance(n.arg, Pow) and n.arg not in self.temps and isinstance(n.arg.exponent, Const) and n.arg.exponent.value == -1:
            return binop(ones, "/", self.code(n.arg.base))  # 𝟙/n rather than (1 / n) * 𝟙
        return binop(a, "*", ones)

    def _Trace(self, n: Trace) -> Val:
        return atom(self.be.trace(self.code(n.arg).text))

    def _Prod(self, n: Prod) -> Val:
        if n.arg.shape.is_scalar:
            return self.value(n.arg)
        return atom(self.be.prod(self.code(n.arg).text))

    def _Det(self, n: Det) -> Val:
        return atom(self.be.det(self.code(n.arg).text))

    def _LogDet(self, n: LogDet) -> Val:
        return atom(self.be.logdet(self.code(n.arg).text))

    def _Expm(self, n: Expm) -> Val:
        return atom(f"{self.use_helper('expm')}({self.code(n.arg).text})")

    def _Inverse(self, n: Inverse) -> Val:
        if n.shape.is_scalar:
            return Code(f"1 / {wrap(self.code(n.arg), P_MUL + 1)}", P_MUL, "/")
        return atom(self.be.inv(self.code(n.arg).text))

    def _Diag(self, n: Diag) -> Val:
        if n.shape.is_scalar:
            return self.value(n.arg)
        return DiagV(self.code(n.arg), n.shape.rows)

    def _DiagPart(self, n: DiagPart) -> Val:
        if n.shape.is_scalar:
            return self.value(n.arg)
        return atom(self.be.diagonal(self.code(n.arg).text))

    def _Norm(self, n: Norm) -> Val:
        a = self.arg(n.arg)
        if n.p == 1:
            return atom(self.be.abs(a.text) if n.arg.shape.is_scalar else self.be.sum(self.be.abs(a.text)))
        if n.arg.shape.is_scalar:
            return atom(self.be.abs(a.text))
        return atom(self.be.norm(a.text))

    def _Extremum(self, n: Extremum) -> Val:
        return atom(self.be.extremum(n.op, self.code(n.arg).text, n.axis))

    def _ArgExtremum(self, n: ArgExtremum) -> Val:
        a = self.named(self.code(n.arg))  # computed once, compared with its own extremum
        top = self.be.extremum(n.op, a.text, n.axis)
        return Code(f"{wrap(a, P_CMP + 1)} == {top}", P_CMP, boolean=True)

    def _Softmax(self, n: Softmax) -> Val:
        s = n.arg.shape
        name = "softmax" if s.cols.is_one or s.rows.is_one else "softmax_rows"
        return atom(f"{self.use_helper(name)}({self.arg(n.arg).text})")

    def _LogSumExp(self, n: LogSumExp) -> Val:
        name = "logsumexp" if n.shape.is_scalar else "logsumexp_rows"
        return atom(f"{self.use_helper(name)}({self.arg(n.arg).text})")

    def _Kron(self, n: Kron) -> Val:
        if n.left.shape.is_scalar or n.right.shape.is_scalar:
            return binop(self.code(n.left), "*", self.code(n.right))
        return KronV(self.code(n.left), self.code(n.right))

    def _Vec(self, n: Vec) -> Val:
        if n.arg.shape.cols.is_one:
            return self.value(n.arg)
        if isinstance(n.arg, Identity):  # I is symmetric: no transpose needed
            return atom(f"{self.dense(EyeV(n.arg.n)).text}.reshape(-1, 1)")
        return atom(f"{wrap(self.code(n.arg), P_ATOM)}.T.reshape(-1, 1)")

    def _Unvec(self, n: Unvec) -> Val:
        t = n.target
        v = self.code(n.arg)
        if t.cols.is_one:
            return v
        if t.rows.is_one:
            return atom(f"{wrap(v, P_ATOM)}.T")
        return atom(f"{wrap(v, P_ATOM)}.reshape({self.dim_text(t.cols)}, {self.dim_text(t.rows)}).T")


_ONE_CONST = Const(Fraction(1))


def _first_broadcast(nodes: tuple[Node, ...]) -> Node | None:
    return next((o for o in nodes if isinstance(o, Broadcast)), None)


def _negate(t: Node) -> Node:
    from . import build as B

    return B.neg(t)


def _reciprocal_base(f: Node) -> Node:
    from . import build as B

    assert isinstance(f, Pow) and isinstance(f.exponent, Const)
    return B.power(f.base, Const(-f.exponent.value))


def _gram_factors(n: MatMul) -> tuple[Node, Node] | None:
    """(X, d) when the matrix factors of ``n`` are Xᵀ diag(d) X, X a matrix and d ≥ 0 certain."""
    fs = [f for f in n.factors if not f.shape.is_scalar]
    if len(fs) != 3 or not isinstance(fs[0], Transpose) or not isinstance(fs[1], Diag) or fs[0].arg != fs[2]:
        return None
    x, d = fs[2], fs[1].arg
    if x.shape.rows.is_one or x.shape.cols.is_one or value_interval(d)[0] < 0:
        return None
    return x, d


def value_interval(n: Node, memo: dict[Node, tuple[float, float]] | None = None) -> tuple[float, float]:
    """A closed interval holding every entry of ``n`` at every value of its variables
    (−∞…∞ when nothing is known): interval arithmetic over constants, sums, products,
    powers and the registry's function ranges (σ ∈ [0, 1], so 1 − σ ≥ 0)."""
    memo = {} if memo is None else memo
    got = memo.get(n)
    if got is not None:
        return got
    out = _interval(n, memo)
    memo[n] = out
    return out


_ANY = (-math.inf, math.inf)


def _interval(n: Node, memo: dict[Node, tuple[float, float]]) -> tuple[float, float]:
    if isinstance(n, Const):
        return float(n.value), float(n.value)
    if isinstance(n, DimValue):
        return 1.0, math.inf
    if isinstance(n, Pi):
        return math.pi, math.pi
    if isinstance(n, (Ones, Identity)):
        return (1.0, 1.0) if isinstance(n, Ones) else (0.0, 1.0)
    if isinstance(n, (Compare, Softmax)):
        return 0.0, 1.0
    if isinstance(n, Norm):
        return 0.0, math.inf
    if isinstance(n, Apply):
        return n.fn.values if len(n.args) == 1 else _ANY
    if isinstance(n, (Transpose, Broadcast)):
        return value_interval(n.arg, memo)
    if isinstance(n, Add):
        lo = hi = 0.0
        for t in n.terms:
            a, b = value_interval(t, memo)
            lo, hi = lo + a, hi + b
        return (-math.inf if math.isnan(lo) else lo), (math.inf if math.isnan(hi) else hi)
    if isinstance(n, Mul):
        out = (1.0, 1.0)
        for f in n.factors:
            out = _times(out, value_interval(f, memo))
        return out
    if isinstance(n, Pow) and isinstance(n.exponent, Const):
        return _power(value_interval(n.base, memo), n.exponent.value)
    return _ANY


def _times(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """[a] · [b], with 0 · ∞ = 0 (a zero factor stays zero)."""
    ends = [0.0 if x == 0 or y == 0 else x * y for x in a for y in b]
    return min(ends), max(ends)


def _power(a: tuple[float, float], p: Fraction) -> tuple[float, float]:
    lo, hi = a
    if p.denominator == 1 and p.numerator % 2 == 0 and p > 0:  # an even power: |a|ᵖ
        top = max(abs(lo), abs(hi)) ** p
        return (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)) ** p), top
    if lo < 0:
        return _ANY
    if p > 0:
        return lo**p, hi**p
    if lo == 0:
        return (0.0 if math.isinf(hi) else hi**p), math.inf
    return (0.0 if math.isinf(hi) else hi**p), lo**p


def _merge_diags(items: list[tuple[Node, Val]]) -> list[tuple[Node, Val]]:
    """diag(a) diag(b) = diag(a ⊙ b)."""
    out: list[tuple[Node, Val]] = []
    for f, v in items:
        if out and isinstance(v, DiagV) and isinstance(out[-1][1], DiagV):
            g, w = out[-1]
            out[-1] = (g, DiagV(binop(w.v, "*", v.v), w.n))  # type: ignore[union-attr]
        else:
            out.append((f, v))
    return out


_PLACEHOLDER = re.compile(r"\{(\d+)\}")


def _fill(template: str, args: list[Code]) -> str:
    """Substitute argument sources into a registry template.

    An argument standing alone between ``(``/``,`` and ``,``/``)`` needs no
    parentheses; anywhere else it is parenthesised unless it is an atom.
    """

    def sub(m: re.Match) -> str:
        c = args[int(m.group(1))]
        before = template[: m.start()].rstrip()
        after = template[m.end() :].lstrip()
        alone = before.endswith(("(", ",")) and after.startswith((")", ","))
        return c.text if alone else wrap(c, P_ATOM)

    return _PLACEHOLDER.sub(sub, template)


# ====================================================================== the module


def _shape_phrase(s: Shape) -> str:
    if s.is_scalar:
        return "scalar"
    if s.cols.is_one:
        return f"{s.rows} vector"
    if s.rows.is_one:
        return f"1×{s.cols} row"
    return f"{s.rows}×{s.cols} matrix"


def _result_phrase(s: Shape, be: Backend) -> str:
    if s.is_scalar:
        return "a float" if be.name == "numpy" else "a 0-d array"
    if s.cols.is_one:
        return f"a 1-D array (length {s.rows})"
    return f"a 2-D array ({s.rows}×{s.cols})"


def _doc_safe(text: str) -> str:
    """Text that cannot end a docstring or start an escape."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text.replace("\\", "\\\\").replace('"', "'")


@dataclass
class Generated:
    source: str
    name: str


def _bind_dims(params: list[tuple[Var, str]], needed: set[str], dim_names: dict[str, str]) -> tuple[list[str], list[str], set[str]]:
    """Statements giving each needed dimension from the inputs' shapes.

    Returns (lines, dimensions no input determines, variables the lines read).
    """
    how: dict[str, tuple[str, int, Dim]] = {}
    order: list[str] = []
    progress = True
    while progress:
        progress = False
        for var, py in params:
            s = var.shape
            for axis, d in ((0, s.rows), (1, s.cols)):
                unknown = [x for x in d.syms if x not in how]
                if len(unknown) == 1 and d.syms.count(unknown[0]) == 1:
                    how[unknown[0]] = (py, axis, d)
                    order.append(unknown[0])
                    progress = True
    # close the needed set over the symbols each definition divides by
    need = set(needed)
    changed = True
    while changed:
        changed = False
        for sym in list(need):
            if sym in how:
                for other in how[sym][2].syms:
                    if other != sym and other not in need:
                        need.add(other)
                        changed = True
    lines: list[str] = []
    read: set[str] = set()
    done: set[str] = set()
    for sym in order:
        if sym not in need or sym in done:
            continue
        py, axis, d = how[sym]
        # both sides of a matrix at once: m, n = X.shape
        partner = [s for s in order if s not in done and s != sym and s in need and how[s][0] == py and how[s][2].single_symbol == s]
        if d.single_symbol == sym and axis == 0 and partner and how[partner[0]][1] == 1:
            other = partner[0]
            lines.append(f"{dim_names[sym]}, {dim_names[other]} = {py}.shape")
            done |= {sym, other}
        else:
            expr = f"{py}.shape[{axis}]"
            rest = [dim_names[x] for x in d.syms if x != sym]
            if d.coef != 1:
                rest.insert(0, str(d.coef))
            if rest:
                divisor = rest[0] if len(rest) == 1 else "(" + " * ".join(rest) + ")"
                expr += f" // {divisor}"
            lines.append(f"{dim_names[sym]} = {expr}")
            done.add(sym)
        read.add(py)
    missing = sorted(s for s in need if s not in how)
    return lines, missing, read


def _generate(d: Derivative, name: str | None = None, with_value: bool = False, backend_name: str = "numpy") -> Generated:
    be = backend(backend_name)
    namer = Namer()
    variables = dict(d.checked.variables)
    variables.setdefault(d.wrt.name, d.wrt)
    for v in variables.values():
        check_identifier(v.name)
    params: list[tuple[Var, str]] = [(v, namer.claim(v.name)) for v in variables.values()]
    var_names = {v.name: py for v, py in params}

    roots = [d.expression, d.node] if with_value else [d.node]
    symbols: list[str] = []
    for s in [*(v.shape for v in variables.values()), *(n.shape for n in topological(roots))]:
        for sym in (*s.rows.syms, *s.cols.syms):
            if sym not in symbols:
                symbols.append(sym)
    for n in topological(roots):
        for dim in _node_dims(n):
            for sym in dim.syms:
                if sym not in symbols:
                    symbols.append(sym)
    dim_names = {s: namer.claim(s if _plain_identifier(s) else "n", "dimension") for s in symbols}

    if name is None:
        base = d.wrt.name if f"d_d{d.wrt.name}".isidentifier() else var_names[d.wrt.name]
        name = f"d_d{base}" if d.order == 1 else f"hessian_{base}"
        if with_value:
            name = f"value_and_{name}"
    check_identifier(name, "function")
    if name in namer.reserved or _TEMP.match(name):
        raise CodegenNameError(f"the function name {name!r} would shadow a Python builtin, a keyword or a helper; choose another")

    temps = set(shared_nodes(roots, _worth_a_temporary))
    for _ in range(6):  # name the big pieces of over-long lines, a few rounds at most
        gen, dims, codes = _run(be, namer.copy(), var_names, dim_names, roots, temps)
        more = _hoist(gen, temps)
        if not more:
            break
        temps |= more
    namer = gen.namer
    results = [_finish(gen, c, r.shape) for c, r in zip(codes, roots)]
    if with_value:
        labels = [namer.claim("value"), namer.claim(_LABELS.get(d.kind, "derivative"))]
        gen.lines += [f"{label} = {text}" for label, text in zip(labels, results)]
        results = labels

    dim_lines, missing, read = _bind_dims(params, dims.used, dim_names)
    used = gen.used_vars | {v.name for v, py in params if py in read}

    # ------------------------------------------------------------ assemble
    extra = [be.helper_imports[h] for h in _HELPER_ORDER if h in gen.helpers and h in be.helper_imports]
    helper_src: list[str] = []
    for fn in ELEMENTWISE.values():  # registry order, each helper once
        if fn in gen.functions:
            src = be.function(fn)[1]
            # a helper's leading import lines (import math) go to the module's imports
            head = re.match(r"(?:import [\w.]+\n)*", src).group(0)
            extra += [line for line in head.splitlines() if line not in extra]
            src = src[len(head) :].lstrip("\n")
            if src and src not in helper_src:
                helper_src.append(src)
    for h in _HELPER_ORDER:
        if h in gen.helpers:
            helper_src.append(be.helper(h))
    out: list[str] = [f"# Generated by matcalc ({be.name}).", be.import_line, *extra, ""]
    for src in helper_src:
        out += ["", src.rstrip("\n"), ""]
    sig = ", ".join(py for _, py in params)
    if missing:
        sig += (", " if sig else "") + "*, " + ", ".join(dim_names[s] for s in missing)
    out += ["", f"def {name}({sig}):"]
    doc = _docstring(d, params, be, with_value, var_names, missing, dim_names)
    unused = [py for v, py in params if v.name not in used]
    if unused:  # kept so that every derivative of one expression has the same signature
        doc.insert(-2, f"({', '.join(unused)}: not needed here; kept so every derivative of the expression takes the same arguments.)")
    out += [("    " + line).rstrip() for line in doc]
    conv: list[str] = []
    for v, py in params:
        if v.name not in used:
            continue
        s = v.shape
        rhs = be.as_array(py)
        if s.is_scalar:
            rhs += ".reshape(())"
        elif s.cols.is_one:
            rhs += ".reshape(-1, 1)"
        elif s.rows.is_one:
            rhs += ".reshape(1, -1)"
        conv.append(f"{py} = {rhs}")
    if any(v.shape.cols.is_one and not v.shape.is_scalar for v, py in params if v.name in used):
        note = ", so u * v.T is the outer product" if gen.outer else ", as in the formula"
        out.append(f"    # vectors are kept as columns (k×1 arrays){note}")
    for line in conv + dim_lines + gen.lines + ["return " + ", ".join(results)]:
        out += _fold_line("    " + line)
    return Generated("\n".join(out) + "\n", name)


def _fold_line(line: str, limit: int | None = None) -> list[str]:
    """A statement over ``limit`` characters broken inside brackets, before binary operators or after commas.

    ``t1 = a + b + …`` becomes ``t1 = (`` / ``    a`` / ``    + b …`` / ``)``.
    """
    limit = limit or LINE_LIMIT
    if len(line) <= limit:
        return [line]
    m = re.match(r"^(\s*)(return |\w+ = )(.*)$", line)
    if m is None:  # pragma: no cover - every statement has one of those forms
        return [line]
    indent, head, expr = m.groups()
    inner = indent + "    "
    # break opportunities: sums at the shallowest bracket depth that has one, else commas, else products
    found: list[tuple[int, int, int, int]] = []  # (kind, depth, cut, resume)
    depth = 0
    for i, ch in enumerate(expr):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif expr.startswith((" + ", " - "), i) and i > 0:
            found.append((0, depth, i, i + 1))
        elif expr.startswith(", ", i):
            found.append((1, depth, i + 1, i + 2))
        elif expr.startswith((" @ ", " * "), i) and i > 0:
            found.append((2, depth, i, i + 1))
    if not found:
        return [line]
    best = min((k, dp) for k, dp, _, _ in found)
    pieces: list[str] = []
    start = 0
    for k, dp, cut, resume in found:
        if (k, dp) == best:
            pieces.append(expr[start:cut])
            start = resume
    pieces.append(expr[start:])
    lines = [f"{indent}{head}("]
    current = ""
    for p in pieces:
        if current and len(inner) + len(current) + 1 + len(p) > limit:
            lines.append(inner + current)
            current = p
        else:
            current = f"{current} {p}" if current else p
    lines.append(inner + current)
    lines.append(indent + ")")
    return lines


#: the with_value=True locals: value = …; grad = …
_LABELS = {"gradient": "grad", "Jacobian": "jac", "vec-Jacobian": "jac", "Hessian": "hess", "vec-Hessian": "hess"}
LINE_LIMIT = 100


def _run(be: Backend, namer: Namer, var_names: dict[str, str], dim_names: dict[str, str], roots: list[Node], temps: set[Node]):
    from .deep import call_deep

    dims = _Dims(dim_names)
    gen = Generator(be, namer, var_names, dims, temps)
    codes = call_deep(lambda: [gen.code(r) for r in roots])
    return gen, dims, codes


def _hoist(gen: Generator, temps: set[Node]) -> set[Node]:
    """Subexpressions to name because the line holding them is too long.

    For every piece longer than LINE_LIMIT, its sizeable direct operands (looking
    through transposes, broadcasts and other wrappers) become temporaries.
    """
    more: set[Node] = set()
    for n, text in gen.texts.items():
        if len(text) <= LINE_LIMIT - 12:
            continue
        stack = list(n.children)
        while stack:
            c = stack.pop()
            if c in temps or c in more:
                continue
            if not _worth_a_temporary(c):
                stack.extend(c.children)
                continue
            if len(gen.texts.get(c, "")) >= 24:
                more.add(c)
    return more


def _node_dims(n: Node) -> list[Dim]:
    if isinstance(n, DimValue):
        return [n.dim]
    if isinstance(n, Identity):
        return [n.n]
    if isinstance(n, Commutation):
        return [n.r, n.c]
    if isinstance(n, Unvec):
        return [n.target.rows, n.target.cols]
    if isinstance(n, Broadcast):
        return [n.target.rows, n.target.cols]
    return []


def _finish(gen: Generator, c: Code, shape: Shape) -> str:
    """The returned expression in the user's conventions (float / 1-D / 2-D)."""
    be = gen.be
    # a view of an input (x, X.T, v.reshape(n, m).T) is copied: the caller may write into the result
    bare = re.fullmatch(r"\w+(\.T|\.reshape\([\w, *-]*\))*", c.text) is not None and c.text.split(".")[0] in gen.var_names.values()
    if shape.is_scalar:
        return be.scalar_result(c.text, c.literal)
    if shape.cols.is_one:
        m = re.fullmatch(r"(np|jnp)\.(zeros|ones)\(\(([\w *]+), 1\)\)", c.text)
        if m:  # np.zeros((n, 1)) → np.zeros(n)
            return f"{m.group(1)}.{m.group(2)}({m.group(3)})"
        text = f"{wrap(c, P_ATOM)}.reshape(-1)"
        if c.text.endswith(".reshape(-1, 1)") and c.prec == P_ATOM:
            text = c.text[: -len(".reshape(-1, 1)")] + ".reshape(-1)"
        return be.copy(text) if bare else text
    return be.copy(wrap(c, P_ATOM)) if bare else c.text


def _docstring(d: Derivative, params, be: Backend, with_value: bool, var_names, missing, dim_names) -> list[str]:
    what = d.kind[0].upper() + d.kind[1:]
    src = _doc_safe(d.checked.source)
    layout = f", {d.layout} layout" if d.order == 1 and d.kind not in ("derivative",) else ""
    lines = ['"""' + f"{what} of {src} by {_doc_safe(d.wrt.name)}{layout}:", ""]
    text = _doc_safe(d.text)
    if len(text) <= 300:
        lines += ["    " + text, ""]
    args = ", ".join(f"{py}: {_shape_phrase(v.shape)}" for v, py in params)
    if args:
        lines.append(args + ".")
    renamed = [f"{py} is the variable {_doc_safe(v.name)}" for v, py in params if py != v.name]
    if renamed:
        lines.append("(" + "; ".join(renamed) + ".)")
    if missing:
        lines.append("Sizes no input determines: " + ", ".join(dim_names[s] for s in missing) + ".")
    res = _result_phrase(d.node.shape, be)
    if with_value:
        lines.append(f"Returns (value, {d.kind}): {_result_phrase(d.expression.shape, be)} and {res}.")
    else:
        lines.append(f"Returns {res}.")
    lines.append('"""')
    return lines


def generate(d: Derivative, name: str | None = None, with_value: bool = False, backend: str = "numpy") -> str:
    """The source of a Python module whose one function computes ``d`` (see the module docstring)."""
    return _generate(d, name, with_value, backend).source


def compile_function(d: Derivative, backend: str = "numpy", *, name: str | None = None, with_value: bool = False) -> Callable[..., Any]:
    """Execute the generated module and return its function."""
    g = _generate(d, name, with_value, backend)
    namespace: dict[str, Any] = {"__name__": f"matcalc_generated_{g.name}"}
    exec(compile(g.source, f"<matcalc {g.name}>", "exec"), namespace)  # noqa: S102 - our own generated text
    fn = namespace[g.name]
    fn.__source__ = g.source
    return fn
