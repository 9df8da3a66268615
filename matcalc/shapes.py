"""Shape inference: syntax tree → checked expression tree with every dimension known.

A name's kind comes from its declaration, or else from the convention of
matrixcalculus.org: names starting with a–g are scalars, h–z vectors, A–Z matrices,
and Greek names (alpha, lambda, sigma, …) scalars.  Dimensions start as symbols and
are unified across the expression (``w*x`` makes len(w) = len(x); ``A@x`` makes
cols(A) = len(x)).  Declared dimension names are rigid: two different declared names
never unify.  Undeclared dimensions are named n, m, p, … at the end.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction

from . import build as B
from . import syntax as S
from .dims import ONE, Dim, DimMismatch, DimSolver, Shape
from .errors import ArgumentError, DeclarationError, DomainError, LimitError, MatcalcError, ShapeError, UnsupportedError
from .nodes import (
    Add,
    Apply,
    Broadcast,
    Commutation,
    Compare,
    Const,
    DimValue,
    Identity,
    Inverse,
    MatMul,
    Mul,
    Node,
    Ones,
    Pi,
    Pow,
    Unvec,
    Var,
    Zero,
    map_bottom_up,
)
from .printing.source import unparse
from .record import Factory, record
from .registry import Elementwise, Structural, lookup

GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi omicron pi rho "
    "sigma tau upsilon phi varphi chi psi omega".split()
    # Python reserves ``lambda``, so code spells it otherwise
    + "lam lamb lamda lambd lmbda lmbd".split()
)
#: Largest integer power ``A^k`` expanded into a product.
MAX_MATRIX_POWER = 64
#: Numbers in an expression lie within 1e-300 … 1e300 (or are 0), as floats do.
MAX_EXPONENT = 300


@record()
class Declaration:
    """A declared shape: ``dims`` is () for a scalar, (n,) for a vector, (m, n) for a matrix;
    ``None`` entries are left for inference (``x: vector``)."""

    dims: tuple[Dim | None, ...]
    symmetric: bool = False


#: words after a shape: positive definite matrices are symmetric; invertibility changes no
#: derivative; the other structures (diagonal, orthogonal, …) matcalc does not model
_STRUCTURES = (
    ("positive semidefinite", "symmetric"),
    ("positive definite", "symmetric"),
    ("spd", "symmetric"),
    ("psd", "symmetric"),
    ("invertible", "plain"),
    ("nonsingular", "plain"),
    ("diagonal", "unknown"),
    ("orthogonal", "unknown"),
    ("triangular", "unknown"),
    ("skew-symmetric", "unknown"),
    ("antisymmetric", "unknown"),
    ("toeplitz", "unknown"),
)
_DECL_SEP = re.compile(r"\s*(?:×|\bx\b|\*|,)\s*")


def brief(text: str, width: int = 40) -> str:
    """User text quoted in a message, cut to ``width`` characters."""
    return text if len(text) <= width else text[: width - 1] + "…"


def parse_shape_spec(spec: object, name: str = "") -> Declaration:
    """``"m x n"``, ``"3×4"``, ``"n"``, ``"scalar"``, ``"vector"``, ``"matrix"``,
    ``"n x n symmetric"``, ``"symmetric"``; or a tuple such as ``("m", "n")`` / ``(3,)`` / ``()``."""
    if isinstance(spec, Declaration):
        return spec
    if isinstance(spec, str):
        return _parse_text_spec(spec, name)  # the same few specs recur call after call
    return _parse_shape_spec(spec, name)


@functools.lru_cache(maxsize=1024)
def _parse_text_spec(spec: str, name: str) -> Declaration:
    return _parse_shape_spec(spec, name)


def _parse_shape_spec(spec: object, name: str) -> Declaration:
    where = f" for {name}" if name else ""
    if isinstance(spec, (tuple, list)):
        if len(spec) > 2:
            raise DeclarationError(f"a shape has at most two dimensions; got {len(spec)}{where}")
        return Declaration(tuple(_dim_of(v, where) for v in spec))
    if isinstance(spec, int) and not isinstance(spec, bool):
        return Declaration((_dim_of(spec, where),))
    if not isinstance(spec, str):
        raise DeclarationError(f"cannot read a shape from {spec!r}{where}")
    text = spec.strip()
    symmetric = False
    words = text.split()
    if words and words[-1].lower() == "symmetric":
        symmetric = True
        text = " ".join(words[:-1])
    low = text.lower()
    for phrase, meaning in _STRUCTURES:
        if low == phrase or low.endswith(" " + phrase):
            if meaning == "unknown":
                raise DeclarationError(
                    f"unknown structure {phrase!r}{where}; matcalc knows 'symmetric' (and 'positive definite', read as symmetric)"
                )
            symmetric = symmetric or meaning == "symmetric"
            text = text[: len(text) - len(phrase)].strip()
            break
    text = text.strip().strip("()[]").strip()
    low = text.lower()
    if low in ("", "matrix", "square") and (symmetric or low):
        decl = Declaration((None, None), symmetric)
    elif low == "scalar":
        decl = Declaration(())
    elif low == "vector":
        decl = Declaration((None,))
    elif not text:
        raise DeclarationError(f"empty shape{where}; write e.g. 'm x n', 'n', 'scalar'")
    else:
        # "mxn", "NxM", "3x4" written without spaces: single letters or numbers around an x
        tight = re.fullmatch(r"([A-Za-z]|\d+)x([A-Za-z]|\d+)", text)
        parts = [tight.group(1), tight.group(2)] if tight else _DECL_SEP.split(text)
        if len(parts) > 2 or any(not p for p in parts):
            raise DeclarationError(f"cannot read shape {spec!r}{where}; write e.g. 'm x n', 'n', '3 x 4', 'scalar'")
        decl = Declaration(tuple(_dim_of(p, where) for p in parts), symmetric)
    if decl.symmetric:
        if len(decl.dims) != 2:
            raise DeclarationError(f"only a square matrix can be symmetric{where}")
        a, b = decl.dims
        if a is not None and b is not None and a != b:
            raise DeclarationError(f"a symmetric matrix must be square, not {a}×{b}{where}")
    return decl


def _dim_of(v: object, where: str) -> Dim:
    if isinstance(v, Dim):
        return v
    if isinstance(v, bool):
        raise DeclarationError(f"bad dimension {v!r}{where}")
    if isinstance(v, int):
        if v < 1:
            raise DeclarationError(f"dimensions must be positive, got {v}{where}")
        return Dim.of(v)
    if isinstance(v, str):
        t = v.strip()
        if t.isdigit():
            return _dim_of(int(t), where)
        if re.fullmatch(r"[^\W\d]\w*", t) and not t.startswith("_"):
            return Dim.of(t)
    err = DeclarationError(f"bad dimension {v!r}{where}: use a positive integer or a name such as n")
    err.token = str(v).strip()
    raise err


def parse_declaration(text: str) -> tuple[str, Declaration]:
    """``"W: m x n"`` → ("W", Declaration((m, n)))."""
    if ":" not in text:
        raise DeclarationError(f"cannot read {text!r}: write NAME: SHAPE, e.g. 'W: m x n' or 'b: scalar'", source=text, column=0)
    name, _, spec = text.partition(":")
    name = name.strip()
    if not re.fullmatch(r"[^\W\d]\w*", name):
        raise DeclarationError(f"{name!r} is not a variable name", source=text, column=0)
    try:
        return name, parse_shape_spec(spec, name)
    except DeclarationError as e:
        colon = text.index(":")
        token = getattr(e, "token", "")
        col = text.find(token, colon + 1) if token else -1
        if col < 0:
            col = colon + 1 + (len(spec) - len(spec.lstrip()))
        raise DeclarationError(e.message, source=text, column=col) from None


#: names that mean the number π unless declared as variables
PI_NAMES = frozenset({"pi", "π"})
#: Python and NumPy names that are not numbers (unless declared as variables), and where they may stand
NOT_VALUES = {
    "None": "as a bound of clip it means no bound",
    "inf": "as a bound of clip it means no bound; norm(x, inf) is the largest |entry|",
    "nan": "not a number",
}


def conventional_kind(name: str) -> str:
    """scalar / vector / matrix by the first letter (Greek names are scalars)."""
    stem = re.match(r"[^\W\d_]*", name.lstrip("_")).group(0)
    if stem.lower() in GREEK and stem.islower():
        return "scalar"
    if stem.lower() in GREEK and stem[0].isupper():
        return "matrix"
    first = stem[:1]
    if not first:
        return "scalar"
    if "\u0370" <= first <= "\u03ff":  # a Greek letter typed as such
        return "matrix" if first.isupper() else "scalar"
    if first.isupper():
        return "matrix"
    if first.isascii() and "a" <= first <= "g":
        return "scalar"
    if first.isascii():
        return "vector"
    return "scalar"


@record(frozen=False)
class Checked:
    """The result of shape inference."""

    expr: Node
    variables: dict[str, Var]  # in order of first appearance
    source: str
    syntax: str
    declared: dict[str, Var] = Factory(dict)  # declared but maybe unused
    notes: tuple[str, ...] = ()  # readings the user may not have meant (a–g names added to vectors)


_KEYWORD_ALIASES = {"dim": "axis", "keepdim": "keepdims", "correction": "ddof", "a_min": "min", "a_max": "max", "p": "ord"}


class Checker:
    """Walks the syntax tree, building checked nodes and unifying dimensions."""

    def __init__(self, source: str, syntax: str, declarations: Mapping[str, Declaration]):
        self.source = source
        self.syntax = syntax
        rigid = {s for d in declarations.values() for x in d.dims if x is not None for s in x.syms}
        self.solver = DimSolver(rigid)
        self.declarations = dict(declarations)
        #: the dimension names the declarations use: an undeclared name among them, used in
        #: the expression, is that size (norm(F@F.T/n - G) with F: m x n)
        self.declared_sizes = frozenset(rigid)
        #: names used only as numbers (set by _checked): only those of the declared sizes are sizes
        self.numeric_names: frozenset[str] = frozenset()
        #: readings said as notes (see note): sizes used as numbers, a bias, |Σ|, Σ^{-1}, …
        self.size_notes: list[str] = []
        self.vars: dict[str, Var] = {}
        self.order: list[str] = []
        #: undeclared names the convention makes scalars but the expression uses as vectors
        self.vector_hints: set[str] = set()
        self.name_uses: dict[str, int] = {}
        #: convention-scalar names added to a vector, and the vector's length (see :meth:`notes`)
        self.scalar_sums: dict[str, Dim] = {}
        #: numpy-dialect operators a reader of mathematics may misread (^ on a square
        #: matrix, x'*y): (kind, text of the operation, left node, right node), judged once shapes are known
        self.dialect_traps: list[tuple[str, str, Node, Node]] = []
        #: sizes that are products of other sizes: vec(X) (rows·cols), A ⊗ B (side by side)
        self.products: list[tuple[Dim, tuple[Dim, ...]]] = []
        #: when true, x^T (with T used nowhere else) is read as a transpose
        self.caret_t_is_transpose = False
        #: the source looks like pasted NumPy/PyTorch code (see :meth:`vectors_along_rows`)
        self.numpy_code = False
        #: the syntax nodes whose value NumPy holds as a 1-D array, by id: a reduction along
        #: an axis (sum(X, axis=0)) and elementwise arithmetic on such results.  They are
        #: columns here, but NumPy broadcasts a 1-D array against a matrix as a row, and
        #: puts it on the left of @ as a row (see flat_operands).  The nodes are kept as
        #: values so that their ids stay theirs (a rewritten call's syntax is temporary).
        self.flat: dict[int, S.Expr] = {}
        #: the syntax nodes whose value is a 2-D column in NumPy too (a keepdims reduction,
        #: x[:, None], and elementwise arithmetic on them): never a row, whatever is beside them
        self.columns: dict[int, S.Expr] = {}
        #: matlab: an a–g or Greek name right of a matrix (X*theta) is a vector (see scan):
        #: the names so read, each with the product that says so; ``hints_off``: names the
        #: caller has turned the hint off for (tr(X*a): as a vector, a has no shape)
        self.matrix_hinted: dict[str, str] = {}
        self.hints_off: frozenset[str] = frozenset()
        #: the syntax node checked last and its node (see _Call)
        self._last: tuple[S.Expr | None, Node | None] = (None, None)

    def scan(self, tree: S.Expr) -> None:
        """Hints from the whole expression before checking it.

        * ``a'`` (a transposed name), ``diag(a)``, in the numpy dialect an operand of ``@``
          (which NumPy refuses for scalars) and in the matlab dialect a name right of a
          matrix (``X*theta``) make an undeclared a–g or Greek name a vector: ``a'*X*b``.
        * ``x^T`` is a transpose, and ``X^-T`` an inverse transpose, when no other use of
          ``T`` exists (LaTeX habit).
        """
        t_uses = t_powers = 0
        right_of_matrix: dict[str, str] = {}
        stack = [tree]
        while stack:
            e = stack.pop()
            if isinstance(e, S.Name):
                self.name_uses[e.id] = self.name_uses.get(e.id, 0) + 1
            if isinstance(e, S.Transpose) and isinstance(e.operand, S.Name):
                self.vector_hints.add(e.operand.id)
            if isinstance(e, S.Call) and e.func == "diag" and len(e.args) == 1 and isinstance(e.args[0], S.Name):
                self.vector_hints.add(e.args[0].id)  # diag(a): a diagonal matrix of the vector a
            if isinstance(e, S.BinOp) and e.op == "matmul" and self.syntax == "matlab":
                # X*theta, A*c: texts write a scalar factor on the left (αX), so an a–g or
                # Greek name right of a matrix is the vector it multiplies (least squares' Xβ)
                if isinstance(e.right, S.Name) and e.right.id not in self.hints_off and self._matrix_like(e.left):
                    right_of_matrix.setdefault(e.right.id, unparse(e, self.syntax).replace(" * ", "*"))
            if isinstance(e, S.BinOp) and e.op == "matmul" and self.syntax == "numpy":
                for side in (e.left, e.right):
                    if isinstance(side, S.Name):
                        self.vector_hints.add(side.id)
            if isinstance(e, S.BinOp) and e.op in ("pow", "mpow") and _t_exponent(e.right):
                t_powers += 1
            if isinstance(e, S.Name) and e.id == "T":
                t_uses += 1
            stack.extend(S.children(e))
        # (only a name no other hint reads as a vector: a'*X*b's a is one by its transpose)
        self.matrix_hinted = {n: t for n, t in right_of_matrix.items() if n not in self.vector_hints}
        self.vector_hints |= set(right_of_matrix)
        self.vector_hints -= set(self.declarations)
        self.vector_hints = {n for n in self.vector_hints if conventional_kind(n) == "scalar"}
        self.matrix_hinted = {n: t for n, t in self.matrix_hinted.items() if n in self.vector_hints}
        self.caret_t_is_transpose = t_powers > 0 and t_powers == t_uses and "T" not in self.declarations
        self.numpy_code = self.syntax == "numpy" and bool(_NUMPY_CODE.search(self.source))

    def _matrix_like(self, e: S.Expr) -> bool:
        """A matrix by the naming convention or a declaration, seen in the syntax alone:
        X, X', inv(X), or a product ending in one (A*B*X)."""
        while True:
            if isinstance(e, S.Transpose):
                e = e.operand
            elif isinstance(e, S.Call) and e.func in ("inv", "inverse", "expm") and len(e.args) == 1:
                e = e.args[0]
            elif isinstance(e, S.BinOp) and e.op == "matmul":
                e = e.right
            else:
                break
        if not isinstance(e, S.Name):
            return False
        d = self.declarations.get(e.id)
        return len(d.dims) == 2 if d is not None else conventional_kind(e.id) == "matrix" and e.id not in PI_NAMES

    # ------------------------------------------------------------ variables

    def variable(self, name: str, decl: Declaration | None = None) -> Var:
        v = self.vars.get(name)
        if v is not None:
            return v
        decl = decl or self.declarations.get(name)
        if decl is not None:
            dims = [d if d is not None else self.fresh() for d in decl.dims]
            if decl.symmetric:
                self.solver.unify(dims[0], dims[1])
                dims[1] = dims[0]
            shape = Shape(dims[0] if dims else ONE, dims[1] if len(dims) > 1 else ONE)
            v = Var(name, shape, decl.symmetric)
        else:
            kind = conventional_kind(name)
            if kind == "scalar" and name in self.vector_hints:
                kind = "vector"
            if kind == "scalar":
                v = Var(name, Shape(ONE, ONE))
            elif kind == "vector":
                v = Var(name, Shape(self.fresh(), ONE))
            else:
                v = Var(name, Shape(self.fresh(), self.fresh()))
        self.vars[name] = v
        self.order.append(name)
        return v

    def fresh(self) -> Dim:
        return self.solver.fresh()

    def note(self, text: str) -> None:
        """Say a reading the user may not have meant (once, however often it is made)."""
        if text not in self.size_notes:
            self.size_notes.append(text)

    def _as_vector(self, v: Var) -> Var:
        """The undeclared name ``v``, read as a vector of a length still to be inferred."""
        self.vars[v.name] = Var(v.name, Shape(self.fresh(), ONE))
        return self.vars[v.name]

    def _bias(self, n: Node, ast: S.Expr, other: Node, other_ast: S.Expr) -> Node:
        """NumPy or PyTorch code's X @ W + b: a once-used undeclared a–g name added to a
        matrix product (a layer's pre-activation) is the layer's bias, a 1-D array with one
        entry per column, as such code always means it (X @ w + b, one column, keeps b a
        scalar: logistic regression's intercept)."""
        if not (isinstance(ast, S.Name) and self._soft_scalar(n)):
            return n
        if not (isinstance(other_ast, S.BinOp) and other_ast.op == "matmul"):
            return n
        s = self.shape(other)
        if s.rows.is_one or s.cols.is_one:
            return n
        self.note(f"{ast.id} is the bias added to each row of a matrix product, a vector as NumPy code means it; for a scalar: --shape \"{ast.id}: scalar\"")
        return self._as_vector(n)  # (NumPy code's vectors beside a matrix are rows: see vectors_along_rows)

    def _note_scalar_sum(self, a: Node, b: Node) -> None:
        """Remember a name that is a scalar only by the naming convention and is added to
        a vector (A@x − b): the user may have meant a vector, and is told how to say so."""
        for n, other in ((a, b), (b, a)):
            s = self.shape(other)
            # the name alone, or a power, multiple or function of it (mu**2 in the VAE's KL)
            if isinstance(n, Pow) and isinstance(n.exponent, Const):
                n = n.base
            elif isinstance(n, Mul) and len(n.factors) == 2 and isinstance(n.factors[0], Const):
                n = n.factors[1]
            elif isinstance(n, Apply) and len(n.args) == 1:
                n = n.args[0]
            if (
                isinstance(n, Var)
                and n.name not in self.declarations
                and conventional_kind(n.name) == "scalar"
                and self.shape(n).is_scalar
                and s.rows.is_one != s.cols.is_one
            ):
                self.scalar_sums.setdefault(n.name, s.cols if s.rows.is_one else s.rows)

    def _latex_matrix_power(self, e: S.BinOp, a: Node) -> bool:
        """Σ^{-1}, X^{2}, or Σ^-1 beside x^T (T a transpose): in the numpy dialect ^ is an
        elementwise power, but written the LaTeX way it is the paper's matrix power or
        inverse, as ^T is its transpose (a square matrix and a whole exponent only)."""
        if self.syntax != "numpy" or self.source[e.pos : e.pos + 1] != "^":
            return False
        braced = self.source[e.pos + 1 :].lstrip().startswith("{")
        if not (braced or self.caret_t_is_transpose):
            return False
        s = self.shape(a)
        k = e.right.operand if isinstance(e.right, S.Neg) else e.right
        if s.rows.is_one or s.cols.is_one or not (isinstance(k, S.Number) and k.value.denominator == 1):
            return False
        if s.rows != s.cols:
            if not braced:
                return False  # (sum((Y - W^T@X)^2) must not make Y square: only braces say it outright)
            try:
                self.solver.unify(s.rows, s.cols)  # an undeclared X: square, as its power needs
            except DimMismatch:
                return False
        text = unparse(e, self.syntax).replace("**", "^")
        self.note(f"{text} is read as a matrix power (LaTeX notation{', as ^T is a transpose' if not braced else ''}); for the elementwise power write **")
        return True

    def _note_dialect_trap(self, e: S.BinOp, a: Node, b: Node) -> None:
        """Remember X^k and x'*y in the numpy dialect: elementwise there, a matrix power and
        an inner product to a reader of mathematics (and in the matlab dialect)."""
        if self.syntax != "numpy":
            return
        if e.op == "pow" and self.source[e.pos : e.pos + 1] in ("^", *"²³⁴⁵⁶⁷⁸⁹") and not self.shape(a).is_scalar:
            negative = isinstance(e.right, S.Neg)
            k = e.right.operand if negative else e.right
            if isinstance(k, S.Number) and k.value.denominator == 1 and (k.value > 1 or (negative and k.value >= 1)):
                self.dialect_traps.append(("pow", unparse(e, self.syntax).replace("**", "^"), a, b))
                if negative:  # X^-1 with X not square (tr(A@X^-1@B)): the inverse a paper means is impossible here
                    self.dialect_traps.append(("inverse", unparse(e, self.syntax).replace("**", "^"), a, b))
        elif e.op == "mul" and (isinstance(e.left, S.Transpose) or isinstance(e.right, S.Transpose)):
            self.dialect_traps.append(("mul", unparse(e, self.syntax), a, b))
        elif e.op == "mul":
            # t*B with t an undeclared h–z name: a vector scaling B's rows, where a textbook's t is a scalar
            for name_ast, v, other in ((e.left, a, b), (e.right, b, a)):
                if isinstance(name_ast, S.Name) and name_ast.id not in self.declarations and conventional_kind(name_ast.id) == "vector":
                    self.dialect_traps.append(("scale", name_ast.id, v, other))

    def notes(self) -> tuple[str, ...]:
        out = list(self.size_notes)
        for kind, text, a, b in self.dialect_traps:
            sa, sb = self.shape(a), self.shape(b)
            if kind == "pow" and not sa.rows.is_one and sa.rows == sa.cols:
                out.append(
                    f"{text} is an elementwise power in the numpy dialect; for the matrix power write "
                    f"matrix_power(…, k) or use --syntax matlab"
                )
            elif kind == "mul" and sa.rows.is_one and not sa.cols.is_one and not sb.rows.is_one:
                # a row times a column or matrix, x'*A*x: a product in MATLAB, a broadcast in NumPy
                # (a column times a row is the outer product either way)
                out.append(
                    f"{text} is elementwise in the numpy dialect: the row broadcasts against the "
                    f"{'column' if sb.cols.is_one else 'matrix'}; for matrix products write @ (or use --syntax matlab)"
                )
            elif kind == "inverse" and not sa.is_scalar and not (not sa.rows.is_one and sa.rows == sa.cols):
                out.append(f"{text} is an elementwise power in the numpy dialect; for the inverse write inv(…) or use --syntax matlab")
            elif kind == "scale" and sa.cols.is_one and not sa.rows.is_one and not sb.rows.is_one and not sb.cols.is_one:
                along = "rows" if sa.rows == sb.rows else "columns"
                out.append(
                    f"{text} is a vector (h–z names are), so {text}*… scales the matrix's {along}; for a scalar: --shape \"{text}: scalar\""
                )
        if not self.scalar_sums:
            return tuple(dict.fromkeys(out))
        names = self._dim_names()
        for name, d in self.scalar_sums.items():
            size = str(self.solver.resolve(d).substitute(names)).replace("·", "*")
            out.append(f"{name} is a scalar (a–g and Greek names are), added to each entry; for a vector: --shape \"{name}: {size}\"")
        return tuple(dict.fromkeys(out))

    def _soft_scalar(self, n: Node) -> bool:
        """An undeclared name, scalar only by the naming convention, used exactly once."""
        return (
            isinstance(n, Var)
            and n.name not in self.declarations
            and self.name_uses.get(n.name, 0) == 1
            and conventional_kind(n.name) == "scalar"
        )

    # ------------------------------------------------------------ errors and helpers

    def shape(self, n: Node) -> Shape:
        return self.solver.resolve_shape(n.shape)

    def pretty(self, shape: Shape) -> str:
        names = self._dim_names()
        return str(self.solver.resolve_shape(shape).substitute(names))

    def pretty_dim(self, d: Dim) -> str:
        return str(self.solver.resolve(d).substitute(self._dim_names()))

    def describe(self, ast: S.Expr, n: Node) -> str:
        text = unparse(ast, self.syntax)
        if len(text) > 40:
            text = text[:37] + "…"
        return f"{text} ({self.pretty(n.shape)})"

    def error(self, message: str, at: S.Expr | None) -> ShapeError:
        return ShapeError(message, source=self.source, column=getattr(at, "pos", None))

    def arg_error(self, message: str, at: S.Expr | None) -> ArgumentError:
        return ArgumentError(message, source=self.source, column=getattr(at, "pos", None))

    def unsupported(self, message: str, at: S.Expr | None) -> UnsupportedError:
        return UnsupportedError(message, source=self.source, column=getattr(at, "pos", None))

    def unify(self, a: Dim, b: Dim, at: S.Expr | None, message: str | Callable[[], str]) -> Dim:
        """Unify two dimensions; on a mismatch raise a ShapeError with ``message`` (built only then)."""
        try:
            return self.solver.unify(a, b)
        except DimMismatch:
            if self._unify_factors(a, b):
                return self.unify(a, b, at, message)
            raise self.error(message() if callable(message) else message, at) from None

    def note_product(self, product: Dim, *factors: Dim) -> None:
        """Record that ``product`` is the size of a vec or Kronecker product of sides ``factors``."""
        self.products.append((product, factors))

    def _unify_factors(self, a: Dim, b: Dim) -> bool:
        """m·n = p·q cannot be solved in general; where both products are sizes of vec(X) or
        A ⊗ B (vec(X)ᵀvec(C), tr(A ⊗ X)) unify them side by side: m = p and n = q."""
        solver = self.solver
        a, b = solver.resolve(a), solver.resolve(b)

        def factors(d: Dim) -> tuple[Dim, ...] | None:
            return next((fs for p, fs in reversed(self.products) if solver.resolve(p) == d), None)

        fa, fb = factors(a), factors(b)
        if fa is None or fb is None or len(fa) != len(fb):
            return False
        saved = dict(solver.binding)
        try:
            for x, y in zip(fa, fb):
                solver.unify(x, y)
        except DimMismatch:
            solver.binding = saved
            return False
        return solver.resolve(a) != a or solver.resolve(b) != b

    def resolve_node(self, n: Node) -> Node:
        return n  # shapes are resolved once, at the end (see check)

    def args(self, call: S.Call, n: int, optional: Sequence[str] = ()) -> list[S.Expr | None]:
        """The call's arguments: ``n`` required positional, then ``optional`` by position or keyword."""
        pos = list(call.args)
        # PyTorch spells axis and keepdims dim and keepdim
        keywords = [(_KEYWORD_ALIASES.get(k, k) if _KEYWORD_ALIASES.get(k) in optional else k, v) for k, v in call.keywords]
        kw = dict(keywords)
        if len(kw) < len(keywords):
            dup = next(k for i, (k, _) in enumerate(keywords) if k in dict(keywords[:i]))
            raise self.arg_error(f"{call.func}() got the argument {dup!r} twice", call)
        for k in kw:
            if k not in optional:
                raise self.arg_error(f"{call.func}() has no argument named {brief(k)!r}", call)
        most = n + len(optional)
        if len(pos) < n or len(pos) > most:
            want = f"{n}" if not optional else f"{n} to {most}"
            raise self.arg_error(f"{call.func}() takes {want} argument{'s' if most != 1 else ''}, got {len(pos)}", call)
        out: list[S.Expr | None] = pos[:n]
        for i, name in enumerate(optional):
            if n + i < len(pos):
                if name in kw:
                    raise self.arg_error(f"{call.func}() got {name!r} twice", call)
                out.append(pos[n + i])
            else:
                out.append(kw.get(name))
        return out

    def int_arg(self, ast: S.Expr, allowed: Iterable[int], names: Mapping[str, int] | None = None) -> int:
        allowed = tuple(allowed)
        if isinstance(ast, (S.Name, S.String)) and names:
            key = ast.id if isinstance(ast, S.Name) else ast.value
            if key in names:
                return names[key]
        if isinstance(ast, S.Number):
            v = ast.value
            if v.denominator == 1 and int(v) in allowed:
                return int(v)
        raise self.error(f"expected one of {', '.join(map(str, allowed))} here", ast)

    def axis(self, ast: S.Expr, call: S.Call) -> int:
        if self.syntax == "matlab":
            return self.int_arg(ast, (1, 2)) - 1
        if isinstance(ast, S.Neg) and isinstance(ast.operand, S.Number):
            return {1: 1, 2: 0}[self.int_arg(ast.operand, (1, 2))]
        return self.int_arg(ast, (0, 1))

    def dim(self, ast: S.Expr) -> Dim:
        if isinstance(ast, S.BinOp) and ast.op in ("mul", "matmul"):  # eye(m*n): a product of sizes
            return self.dim(ast.left) * self.dim(ast.right)
        if isinstance(ast, S.Number):
            v = ast.value
            if v.denominator == 1 and v >= 1:
                return Dim.of(int(v))
        if isinstance(ast, S.Name):
            if ast.id.startswith("_"):
                raise self.error(f"a dimension name cannot start with '_' ({ast.id})", ast)
            self.solver.rigid.add(ast.id)
            return Dim.of(ast.id)
        raise self.error("expected a size: a positive integer, a dimension name such as n, or a product m*n", ast)

    # ------------------------------------------------------------ the walk

    def node(self, e: S.Expr) -> Node:
        method = getattr(self, "_" + type(e).__name__)
        out = method(e)
        self._last = (e, out)
        return out

    def _Number(self, e: S.Number) -> Node:
        m = re.search(r"[eE]([+-]?\d+)$", e.text)
        if len(e.text) > 400 or (m and abs(int(m.group(1)[:8])) > MAX_EXPONENT + 400):
            raise LimitError(f"the number {brief(e.text)} is out of range (limit 1e±{MAX_EXPONENT})", source=self.source, column=e.pos)
        try:
            v = e.value
        except (ValueError, ZeroDivisionError):  # pragma: no cover - grammar admits only numbers
            raise self.error(f"bad number {e.text!r}", e) from None
        if v and not (Fraction(1, 10**MAX_EXPONENT) <= abs(v) <= 10**MAX_EXPONENT):
            raise LimitError(f"the number {brief(e.text)} is out of range (limit 1e±{MAX_EXPONENT})", source=self.source, column=e.pos)
        return B.const(v)

    def _String(self, e: S.String) -> Node:
        raise self.error(f"'{e.value}' is an option, allowed only where a function takes one (norm(X, 'fro'))", e)

    def _Name(self, e: S.Name) -> Node:
        if e.id not in self.declarations:
            if e.id in PI_NAMES:
                return Pi()
            if e.id in ("True", "False"):  # Python's booleans, as NumPy counts them
                return B.const(int(e.id == "True"))
            if e.id in NOT_VALUES:
                raise self.unsupported(f"{e.id} is not a value matcalc can differentiate ({NOT_VALUES[e.id]})", e)
            if e.id in self.declared_sizes and e.id in self.numeric_names:
                self.note(f"{e.id} is the size {e.id} of the shapes (declare it, e.g. --shape \"{e.id}: scalar\", for a variable)")
                return DimValue(Dim.of(e.id))
        return self.variable(e.id)

    def _Neg(self, e: S.Neg) -> Node:
        out = B.neg(self.node(e.operand))
        if id(e.operand) in self.flat:
            self._mark(e)
        return out

    def _Transpose(self, e: S.Transpose) -> Node:
        x = self.node(e.operand)
        if self.source[e.pos : e.pos + 1] == "." and self.one_dimensional(e.operand, x):
            if id(e.operand) in self.flat:
                self._mark(e)
            return x
        return B.transpose(x)

    def one_dimensional(self, e: S.Expr, x: Node) -> bool:
        """In code pasted from NumPy or PyTorch a vector is a 1-D array, whose .T (and
        .t(), .transpose()) is itself: x @ x.T is the inner product there.  Not a 2-D
        column (x[:, None], a keepdims reduction) nor a name declared n×1."""
        if not self.numpy_code:
            return False
        s = self.shape(x)
        if not (s.cols.is_one and not s.rows.is_one) or id(e) in self.columns:
            return False
        # a name declared n×1 is 2-D, and so is what is built from it
        return not any(
            len(d.dims) == 2 and d.dims[1] is not None and d.dims[1].is_one
            for n in S.names(e)
            if (d := self.declarations.get(n)) is not None
        )

    def _Compare(self, e: S.Compare) -> Node:
        a, b = self.node(e.left), self.node(e.right)
        a, b = self.broadcast_args([a, b], [e.left, e.right], e, f"compare ({e.op})", keep_scalars=True)
        return Compare(e.op, a, b)

    # ------------------------------------------------------------ NumPy's 1-D arrays

    def _mark(self, e: S.Expr) -> None:
        self.flat[id(e)] = e

    def mark_flat(self, e: S.Expr, result: Node) -> Node:
        """Record that ``e`` (a reduction along an axis, in the numpy dialect) is 1-D."""
        if self.syntax == "numpy" and not self.shape(result).is_scalar:
            self._mark(e)
        return result

    def mark_column(self, e: S.Expr, result: Node) -> Node:
        """Record that ``e`` is a 2-D column (keepdims=True, x[:, None]): NumPy never turns it into a row."""
        if self.shape(result).cols.is_one:
            self.columns[id(e)] = e
        return result

    def vectors_along_rows(self, nodes: list[Node], asts: Sequence[S.Expr] = ()) -> list[Node]:
        """A vector beside a matrix, in NumPy code, is a 1-D array: NumPy lines it up with the
        matrix's columns, so X @ W + b adds b to every row.  It is read so when its length
        is already the number of columns (and not of rows), or, in code pasted from NumPy
        or PyTorch (np.sum, X.sum(), F.relu), when it can be.  Otherwise a vector is a
        column, in the matrix-calculus habit: W₁X + b₁ adds b₁ to every column."""
        shapes = [self.shape(n) for n in nodes]
        wide = [s for s in shapes if not s.rows.is_one and not s.cols.is_one]
        if not wide:
            return nodes
        out = list(nodes)
        for i, s in enumerate(shapes):
            if not (s.cols.is_one and not s.rows.is_one):
                continue
            if i < len(asts) and id(asts[i]) in self.columns:
                continue  # a 2-D column (keepdims, [:, None]) is a column in NumPy as well
            m = wide[0]
            n = s.rows
            if n == m.cols and n == m.rows and not self.numpy_code:
                continue  # beside a square matrix only NumPy code makes a vector a 1-D row
            if n != m.cols:
                if n == m.rows or not self.numpy_code:
                    continue
                try:
                    self.solver.unify(n, m.cols)
                except DimMismatch:
                    continue  # it cannot be a row: the column reading (or its error) stands
            out[i] = B.transpose(nodes[i])
        return out

    def flat_operands(self, nodes: list[Node], asts: Sequence[S.Expr], at: S.Expr) -> list[Node]:
        """Orient the 1-D operands of an elementwise operation as NumPy does.

        NumPy lines a 1-D array up with the last axis of the other operand: against a
        matrix (or a row) it is a row, so X - mean(X, axis=0) centres the columns.
        Beside columns and other 1-D arrays it stays a column (elementwise), and the
        result is 1-D again when every non-scalar operand was."""
        flags = [id(a) in self.flat for a in asts]
        if not any(flags):
            return nodes
        shapes = [self.shape(n) for n in nodes]
        wide = [i for i, (f, s) in enumerate(zip(flags, shapes)) if not f and not s.cols.is_one]
        if wide:
            for i, (f, s) in enumerate(zip(flags, shapes)):
                if not f or s.is_scalar:
                    continue
                for j in wide:
                    m = shapes[j]
                    if s.rows == m.rows != m.cols:
                        # a length that matches the rows, not the columns: NumPy refuses this
                        # (unless the matrix is square), and binding the columns to it would
                        # silently make the matrix square
                        raise self.error(
                            f"{self.describe(asts[i], nodes[i])} is 1-D, and NumPy lines a 1-D array up with the "
                            f"columns of {self.describe(asts[j], nodes[j])}, not its rows; write keepdims=True "
                            f"(or [:, None] in NumPy) to use it as a column",
                            asts[i],
                        )
            return [B.transpose(n) if f and not s.is_scalar else n for n, f, s in zip(nodes, flags, shapes)]
        if all(f or s.is_scalar for f, s in zip(flags, shapes)):
            self._mark(at)
        return nodes

    def _Call(self, e: S.Call) -> Node:
        entry = lookup(e.func, e.pos)
        if isinstance(entry, Structural):
            out = entry.build(self, e)
            # a call rewritten into others (unsqueeze(x, 1) → column(x)) is what its
            # rewriting is: a 1-D result or a 2-D column, for NumPy's broadcasting
            last, result = self._last
            # (not when the call returned one of its own arguments: reshape(x, -1) of a column)
            if result is out and last is not e and not any(last is a for a in e.args):
                for marks in (self.flat, self.columns):
                    if id(last) in marks:
                        marks[id(e)] = e
            return out
        return self.apply(entry, e)

    def apply(self, fn: Elementwise, call: S.Call) -> Node:
        if fn.alone and (len(call.args) == 1 or (len(call.args) == 2 and isinstance(call.args[1], S.String) and call.args[1].value == "all")):
            # max(X) and MATLAB's max(X, 'all'): the largest entry
            entry = lookup(fn.alone)
            assert isinstance(entry, Structural)
            return entry.build(self, call)
        asts = self.args(call, fn.arity)
        nodes = [self.node(a) for a in asts]
        nodes = self.broadcast_args(nodes, asts, call, f"{fn.name}()", keep_scalars=True)
        if fn.in_domain is not None and all(isinstance(x, Const) for x in nodes):
            if not all(bool(fn.in_domain(float(x.value))) for x in nodes):
                raise DomainError(
                    f"{fn.name}({', '.join(unparse(a, self.syntax) for a in asts)}) is undefined ({fn.name} needs {fn.domain_text})",
                    source=self.source,
                    column=call.pos,
                )
        return Apply(fn, tuple(nodes))

    def _BinOp(self, e: S.BinOp) -> Node:
        t = self.caret_t_is_transpose and e.op in ("pow", "mpow") and _t_exponent(e.right)
        if t == "T":
            return B.transpose(self.node(e.left))
        if t == "-T":  # X^-T = (X⁻¹)ᵀ
            return B.transpose(self.inverse(self.node(e.left), e.left, e))
        a, b = self.node(e.left), self.node(e.right)
        op = e.op
        if op == "matmul":
            return self.matmul(a, b, e, e.left, e.right)
        if op == "ldiv":
            return self.left_divide(a, b, e, e.left, e.right)
        if op == "mdiv":
            if not self.shape(b).is_scalar:
                # MATLAB's A/B = A B⁻¹
                return self.matmul(a, self.inverse(b, e.right, e, "matrix right division"), e, e.left, e.right)
            op = "div"
        if op == "mpow":
            return self.matrix_power(a, e.right, e)
        if op == "pow":
            if self._latex_matrix_power(e, a):
                return self.matrix_power(a, e.right, e)
            self._note_dialect_trap(e, a, b)
            return self.elementwise_power(a, b, e, e.left, e.right)
        word = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide"}[op]
        if op in ("add", "sub"):
            if self.numpy_code:
                a, b = self._bias(a, e.left, b, e.right), self._bias(b, e.right, a, e.left)
            self._note_scalar_sum(a, b)
            a, b = self.broadcast_args([a, b], [e.left, e.right], e, word, keep_scalars=False)
            return B.add(a, B.neg(b)) if op == "sub" else B.add(a, b)
        if op == "mul":
            self._note_dialect_trap(e, a, b)
        a, b = self.broadcast_args([a, b], [e.left, e.right], e, word, keep_scalars=True)
        if op == "div" and B.is_zero(b):
            raise DomainError("division by zero", source=self.source, column=e.pos)
        return B.mul(a, B.reciprocal(b)) if op == "div" else B.mul(a, b)

    def elementwise_power(self, a: Node, b: Node, at: S.Expr, a_ast: S.Expr | None = None, b_ast: S.Expr | None = None) -> Node:
        a_ast = a_ast or at
        b_ast = b_ast or at
        if B.is_zero(a) and isinstance(b, Const) and b.value < 0:
            raise DomainError("zero raised to a negative power", source=self.source, column=getattr(at, "pos", None))
        a, b = self.broadcast_args([a, b], [a_ast, b_ast], at, "raise", keep_scalars=True)
        return B.power(a, b)

    def matrix_power(self, a: Node, k_ast: S.Expr, at: S.Expr) -> Node:
        if self.shape(a).is_scalar:
            return B.power(a, self.node(k_ast))
        sign = 1
        k = k_ast
        if isinstance(k, S.Neg):
            sign, k = -1, k.operand
        if not isinstance(k, S.Number) or k.value.denominator != 1:
            raise self.error("a matrix power needs an integer exponent (use .^ for an elementwise power)", k_ast)
        n = int(k.value)
        if n > MAX_MATRIX_POWER:  # (the text as typed: 1e50003 has too many digits to print)
            raise self.error(f"matrix power {brief(k.text)} is too large (limit {MAX_MATRIX_POWER})", k_ast)
        s = self.shape(a)
        self.unify(s.rows, s.cols, at, f"a matrix power needs a square matrix, but {self.describe(at, a)} is not square")
        if n == 0:
            return Identity(s.rows)
        base = Inverse(a) if sign < 0 else a
        width = len(a.factors) if isinstance(a, MatMul) else 1
        if width * n > 4 * MAX_MATRIX_POWER:
            raise LimitError(
                f"matrix power too large: {width * n} factors when written out (limit {4 * MAX_MATRIX_POWER})",
                source=self.source,
                column=getattr(at, "pos", None),
            )
        return MatMul(tuple([base] * n)) if n > 1 else base

    def inverse(self, x: Node, x_ast: S.Expr, at: S.Expr, what: str = "inv") -> Node:
        """X⁻¹ (1/x for a scalar), after checking that X is square and not zero."""
        s = self.shape(x)
        if B.is_zero(x):
            raise DomainError("division by zero" if s.is_scalar else "inverse of a zero matrix", source=self.source, column=at.pos)
        if s.is_scalar:
            return B.reciprocal(x)
        self.unify(s.rows, s.cols, at, lambda: f"{what} needs a square matrix, but {self.describe(x_ast, x)} is not square")
        return Inverse(x)

    def left_divide(self, a: Node, b: Node, at: S.Expr, a_ast: S.Expr, b_ast: S.Expr) -> Node:
        """MATLAB's A\\b and NumPy's solve(A, b): A⁻¹b, the solution of Ax = b (b/a for a scalar a)."""
        inv = self.inverse(a, a_ast, at, "solving a linear system")
        if not self.shape(a).is_scalar and self.shape(b).is_scalar:
            if not (isinstance(b_ast, S.Name) and self._soft_scalar(b)):
                raise self.error(
                    f"cannot solve with {self.describe(a_ast, a)} for the scalar {self.describe(b_ast, b)}: "
                    "the right-hand side needs as many rows as the matrix",
                    at,
                )
            b = self._as_vector(b)  # A\b with an undeclared a–g name b: the right-hand side is a vector
        return self.matmul(inv, b, at, a_ast, b_ast)

    def matmul(self, a: Node, b: Node, at: S.Expr, a_ast: S.Expr, b_ast: S.Expr) -> Node:
        sa, sb = self.shape(a), self.shape(b)
        if sa.is_row and sb.is_scalar and isinstance(b_ast, S.Name) and self._soft_scalar(b):
            b = self._as_vector(b)  # a'*X*b: a row times a once-used undeclared a–g name is a vector
            sb = self.shape(b)
        if sa.is_scalar or sb.is_scalar:
            return B.mul(a, b)
        flat_a, flat_b = id(a_ast) in self.flat, id(b_ast) in self.flat
        if flat_a or flat_b:
            return self._flat_matmul(a, b, at, a_ast, b_ast, flat_a, flat_b)
        try:
            return self._matmul(a, b, at, a_ast, b_ast)
        except ShapeError:
            # NumPy code: a vector on the left of @ is 1-D there, so x @ A @ x is xᵀAx and
            # w @ x the inner product.  Read so only where a column could not be multiplied
            if self.syntax != "numpy" or not sa.is_vector or self.shape(b).rows.is_one:
                raise
            try:
                return self._flat_matmul(a, b, at, a_ast, b_ast, True, False)
            except ShapeError:
                pass
            raise

    def _matmul(self, a: Node, b: Node, at: S.Expr, a_ast: S.Expr, b_ast: S.Expr) -> Node:
        sa, sb = self.shape(a), self.shape(b)

        def message() -> str:
            hint = ""
            if sa.is_vector and sb.is_vector:
                op = "*" if self.syntax == "matlab" else "@"
                inner = unparse(S.BinOp("matmul", S.Transpose(a_ast), b_ast), self.syntax).replace(" @ ", op).replace(" * ", op)
                hint = f" (both are column vectors: {inner} is their inner product)"
            return (
                f"cannot multiply {self.describe(a_ast, a)} by {self.describe(b_ast, b)}: "
                f"{self.pretty_dim(sa.cols)} columns ≠ {self.pretty_dim(sb.rows)} rows{hint}"
            )

        self.unify(sa.cols, sb.rows, at, message)
        left = a.factors if isinstance(a, MatMul) and len(a.factors) <= B.FLATTEN_MAX else (a,)
        right = b.factors if isinstance(b, MatMul) and len(b.factors) <= B.FLATTEN_MAX else (b,)
        return MatMul((*left, *right))

    def _broadcast_hint(self, asts: Sequence[S.Expr], nodes: Sequence[Node]) -> str:
        """Why two operands do not broadcast, when the reason is the orientation of a vector."""
        if any(id(a) in self.flat for a in asts):
            return " (a 1-D result lines up with a matrix's columns, as in NumPy: keepdims=True keeps it a column)"
        shapes = [self.shape(n) for n in nodes]
        for a, s in zip(asts, shapes):
            if s.cols.is_one and not s.rows.is_one:
                for t in shapes:
                    if not t.rows.is_one and not t.cols.is_one and t.cols == s.rows != t.rows:
                        text = unparse(a, self.syntax)
                        row = (text if isinstance(a, S.Name) else f"({text})") + ("'" if self.syntax == "matlab" else ".T")
                        return f" (vectors are columns here; to use {text} along every row, as NumPy does with a 1-D array, write {row})"
        return ""

    def _flat_matmul(self, a: Node, b: Node, at: S.Expr, a_ast: S.Expr, b_ast: S.Expr, flat_a: bool, flat_b: bool) -> Node:
        """@ with a NumPy 1-D operand: on the left it is a row, on the right a column, and
        the product of a 1-D array and a matrix is 1-D (a column here)."""
        left = B.transpose(a) if flat_a else a
        out = self._matmul(left, b, at, a_ast, b_ast)
        so = self.shape(out)
        if flat_a and not so.is_scalar:
            out = B.transpose(out)  # vᵀW is NumPy's 1-D v @ W
        if flat_a != flat_b and not so.is_scalar:
            self._mark(at)
        return out

    def broadcast_args(
        self, nodes: list[Node], asts: list[S.Expr], at: S.Expr, word: str, keep_scalars: bool
    ) -> list[Node]:
        """Unify or broadcast operand shapes as NumPy does on 2-D arrays (vectors are columns;
        NumPy's 1-D results are oriented first, see :meth:`flat_operands`)."""
        if self.flat:
            nodes = self.flat_operands(nodes, asts, at)
        if self.syntax == "numpy":
            nodes = self.vectors_along_rows(nodes, asts)
        shapes = [self.shape(n) for n in nodes]
        rows: Dim = ONE
        cols: Dim = ONE
        for i, s in enumerate(shapes):
            for axis in ("rows", "cols"):
                d = getattr(s, axis)
                cur = rows if axis == "rows" else cols
                if d.is_one:
                    continue
                if cur.is_one:
                    new = d
                else:
                    j = next(k for k in range(i) if not getattr(shapes[k], axis).is_one)
                    new = self.unify(
                        cur,
                        d,
                        at,
                        lambda i=i, j=j: f"cannot {word} {self.describe(asts[j], nodes[j])} and {self.describe(asts[i], nodes[i])}: "
                        f"shapes do not match or broadcast{self._broadcast_hint(asts, nodes)}",
                    )
                if axis == "rows":
                    rows = new
                else:
                    cols = new
        target = Shape(rows, cols)
        if target.cols.is_one and any(id(a) in self.columns for a in asts):
            self.columns[id(at)] = at  # arithmetic on a 2-D column is one
        out = []
        for n, s in zip(nodes, shapes):
            if s.rows.is_one == target.rows.is_one and s.cols.is_one == target.cols.is_one:
                out.append(n)
            elif keep_scalars and s.is_scalar:
                out.append(n)
            else:
                out.append(B.broadcast(n, target))
        return out

    # ------------------------------------------------------------ resolution

    def _dim_names(self) -> dict[str, Dim]:
        """Readable names for the undeclared dimensions, in order of appearance."""
        taken = set(self.solver.rigid) | set(self.vars)
        names: dict[str, Dim] = {}
        prefs = {"vector": "nmpqkrstuvw", "rows": "mnpqkrstuvw", "cols": "nmqpkrstuvw"}
        pool_extra = (f"n{i}" for i in range(1, 10_000))
        for name in self.order:
            s = self.solver.resolve_shape(self.vars[name].shape)
            slots = [(s.rows, "vector" if s.cols.is_one else "rows"), (s.cols, "cols")]
            for d, role in slots:
                for sym in d.syms:
                    if not sym.startswith("_") or sym in names:
                        continue
                    choice = next((c for c in prefs[role] if c not in taken), None)
                    if choice is None:
                        choice = next(c for c in pool_extra if c not in taken)
                    taken.add(choice)
                    names[sym] = Dim.of(choice)
        return names

    def finish(self, root: Node) -> tuple[Node, dict[str, Var], dict[str, Dim]]:
        names = self._dim_names()

        def fix(d: Dim) -> Dim:
            d = self.solver.resolve(d)
            out = d.substitute(names)
            # a dimension that appears nowhere in a variable (eye() alone): name it too
            for s in out.syms:
                if s.startswith("_"):
                    fresh_name = next(c for c in ("k", "l", "r", "s", *(f"k{i}" for i in range(1, 10_000))) if c not in self.solver.rigid and c not in self.vars and Dim.of(c) not in names.values())
                    names[s] = Dim.of(fresh_name)
                    out = d.substitute(names)
            return out

        def fixs(s: Shape) -> Shape:
            return Shape(fix(s.rows), fix(s.cols))

        variables = {}
        for name in self.order:
            v = self.vars[name]
            variables[name] = Var(name, fixs(v.shape), v.symmetric)

        def rebuild(n: Node) -> Node:
            if isinstance(n, Var):
                return variables[n.name]
            if isinstance(n, Zero):
                return B.zero(fixs(n.zero_shape))
            if isinstance(n, Ones):
                return B.ones(fixs(n.ones_shape))
            if isinstance(n, Identity):
                return B.identity(fix(n.n))
            if isinstance(n, DimValue):
                d = fix(n.dim)
                return B.const(d.coef) if d.is_int else DimValue(d)
            if isinstance(n, Commutation):
                return Commutation(fix(n.r), fix(n.c))
            if isinstance(n, Broadcast):
                return B.broadcast(n.arg, fixs(n.target))
            if isinstance(n, Unvec):
                return Unvec(n.arg, fixs(n.target))
            if isinstance(n, MatMul):
                return B.matmul(*n.factors)
            if isinstance(n, (Add, Mul)):
                return B.add(*n.terms) if isinstance(n, Add) else B.mul(*n.factors)
            return n

        return map_bottom_up(root, rebuild), variables, names


#: Marks of code pasted from NumPy, PyTorch, JAX or TensorFlow: a module-qualified call
#: (np.sum, F.relu) or a method call (X.sum(), x.mean(axis=0))
_NUMPY_CODE = re.compile(r"\b(?:np|numpy|jnp|jax|torch|nn|tf|scipy)\.\w|\.[A-Za-z_]\w*\s*\(")


def _t_exponent(e: S.Expr) -> str | None:
    """``"T"`` for the exponent of x^T, ``"-T"`` for that of X^-T (or X^(-T))."""
    if isinstance(e, S.Name) and e.id == "T":
        return "T"
    if isinstance(e, S.Neg) and isinstance(e.operand, S.Name) and e.operand.id == "T":
        return "-T"
    return None


def _right_of_matrix_names(
    tree: S.Expr, text: str, syntax: str, declarations: Mapping[str, Declaration]
) -> dict[str, str]:
    """matlab: the names only the right-of-matrix hint reads as vectors (X*theta), each
    with the product that does (see :meth:`Checker.scan`)."""
    if syntax != "matlab":
        return {}
    ck = Checker(text, syntax, declarations)
    ck.scan(tree)
    return ck.matrix_hinted


def _hinted_reading(
    tree: S.Expr,
    text: str,
    syntax: str,
    declarations: Mapping[str, Declaration],
    hinted: Mapping[str, str],
) -> tuple[Node, dict[str, Var], tuple[str, ...], frozenset[str], tuple[str, ...]]:
    """The reading of ``tree`` with MATLAB's right-of-matrix hints (X*theta: theta a vector),
    the names whose hint is turned off, and the notes on them (apart from the reading's own).

    A hint is turned off, one name at a time, where it leaves no shape (tr(X*c): c scales
    X) or where it alone makes a scalar objective a vector (x'*(A*lambda)*x); where the
    other reading has a shape too, a note says which was taken.
    """

    def reading(off: frozenset[str]) -> tuple[Node, dict[str, Var], tuple[str, ...]] | None:
        try:
            return _checked(tree, text, syntax, declarations, off)
        except MatcalcError:
            return None

    off: frozenset[str] = frozenset()
    try:
        expr, variables, notes = _checked(tree, text, syntax, declarations)
    except ShapeError:
        if not hinted:
            raise
        for name in hinted:
            found = reading(frozenset({name}))
            if found is not None:
                off = frozenset({name})
                break
        else:
            off = frozenset(hinted)
            found = _checked(tree, text, syntax, declarations, off)
        expr, variables, notes = found
    taken: list[str] = []
    for name, product in hinted.items():
        if name in off:
            continue
        other = reading(off | {name})
        if other is None or not other[1][name].shape.is_scalar:
            continue  # only the vector has a shape, or another rule reads it so too (a'*X*b)
        if other[0].shape.is_scalar and not expr.shape.is_scalar:
            what = "vector" if expr.shape.rows.is_one or expr.shape.cols.is_one else "matrix"
            off |= {name}
            expr, variables, notes = other
            taken.append(
                f"{name} is read as a scalar: as a vector (right of a matrix in {product}) it makes the "
                f"expression a {what}; for a vector: --shape \"{name}: vector\""
            )
        elif other[0].shape.is_scalar == expr.shape.is_scalar:
            # (a'*X*b: only the vector makes it a scalar, as objectives are; nothing to say)
            taken.append(
                f"{name} is read as a vector: it stands right of a matrix in {product} "
                f"(a–g and Greek names are scalars elsewhere); for a scalar: --shape \"{name}: scalar\""
            )
    return expr, variables, notes, off, tuple(taken)


def _checked(
    tree: S.Expr,
    text: str,
    syntax: str,
    declarations: Mapping[str, Declaration],
    hints_off: frozenset[str] = frozenset(),
    length: str | None = None,
) -> tuple[Node, dict[str, Var], tuple[str, ...]]:
    """One reading of ``tree``; ``length``: a size name read as the length of every
    vector (and side of every matrix) in it (see :func:`_length_name`)."""
    ck = Checker(text, syntax, declarations)
    ck.hints_off = hints_off
    ck.scan(tree)
    if length is not None:
        ck.declared_sizes |= {length}
        ck.solver.rigid.add(length)
    # sizes are declared by the shapes, and by the expression itself where it gives a
    # name as a size (eye(N), ones(N)): used as a number too (N*logdet(S)), it is that size
    ck.declared_sizes |= _size_arguments(tree) - set(declarations)
    if ck.declared_sizes:
        # (MATLAB's * multiplies by a number too: N*logdet(S))
        ck.numeric_names = frozenset(_size_names(tree, declarations, ck.declared_sizes, products=syntax == "matlab"))
    try:
        from .deep import call_deep

        def run() -> tuple[Node, dict[str, Var], dict[str, Dim]]:
            root = ck.node(tree)
            # declared variables that the expression does not use still get their shapes
            for name in declarations:
                ck.variable(name)
            if length is not None:
                for v in list(ck.vars.values()):
                    for d in (v.shape.rows, v.shape.cols):
                        if not ck.solver.resolve(d).is_one:
                            ck.solver.unify(d, Dim.of(length))
            return ck.finish(root)

        expr, variables, _ = call_deep(run)
    except MatcalcError as e:
        raise e.with_source(text) from None
    return expr, variables, ck.notes()


#: Names textbooks give sizes (samples, dimensions), which the a–g/h–z/A–Z convention
#: would make vectors or matrices
SIZE_NAMES = frozenset({"n", "m", "k", "N", "M", "K"})


def _size_names(
    tree: S.Expr, declarations: Mapping[str, Declaration], among: Iterable[str] = SIZE_NAMES, products: bool = False
) -> set[str]:
    """The undeclared names (of ``among``: size names by default) used only as numbers are:
    operands of + − * / ^ and of elementwise functions (never of @, a transpose or a
    structural function)."""
    from .registry import FUNCTIONS, Elementwise

    among = set(among)
    candidates = {n for n in S.names(tree) if n in among and n not in declarations}
    if not candidates:
        return set()
    stack: list[S.Expr] = [tree]
    while stack and candidates:
        e = stack.pop()
        kids = list(S.children(e))
        # (products: MATLAB's *, / and ^ with a number, n/2*log(b))
        ops = ("add", "sub", "mul", "div", "pow", "matmul", "mdiv", "mpow") if products else ("add", "sub", "mul", "div", "pow")
        numeric = (isinstance(e, S.BinOp) and e.op in ops) or isinstance(e, S.Neg) or (
            isinstance(e, S.Call) and isinstance(FUNCTIONS.get(e.func), Elementwise)
        )
        if not numeric:
            sized = _SIZE_ARGUMENTS.get(e.func) if isinstance(e, S.Call) else None
            # a size given to eye(M), ones(N), unvec(v, m, n) is a size still
            candidates -= {k.id for i, k in enumerate(kids) if isinstance(k, S.Name) and not (sized is not None and i >= sized)}
        stack.extend(kids)
    return candidates


def _size_arguments(tree: S.Expr) -> set[str]:
    """The names given as sizes: eye(N), ones(m, n), unvec(v, m, n)."""
    out: set[str] = set()
    stack = [tree]
    while stack:
        e = stack.pop()
        if isinstance(e, S.Call) and e.func in _SIZE_ARGUMENTS:
            out |= {a.id for a in e.args[_SIZE_ARGUMENTS[e.func] :] if isinstance(a, S.Name)}
        stack.extend(S.children(e))
    return out


#: Functions whose arguments from the given position on are sizes (eye(n), unvec(v, m, n))
_SIZE_ARGUMENTS = {"eye": 0, "ones": 0, "zeros": 0, "unvec": 1, "commutation": 0, "dim": 0}


def _dimensions(variables: Mapping[str, Var]) -> set[str] | None:
    """The size symbols of the variables' shapes; None if one is a number or a product."""
    out: set[str] = set()
    for v in variables.values():
        for d in (v.shape.rows, v.shape.cols):
            if d.is_one:
                continue
            if d.single_symbol is None or d.coef != 1:
                return None
            out.add(d.single_symbol)
    return out


def _length_name(sizes: set[str], declarations: Mapping[str, Declaration], variables: Mapping[str, Var], keep: Iterable[str]) -> str | None:
    """The size name (n, N, …) that the reading made a scalar, when the expression has one
    size only, undeclared, and a vector of that length: exp(sum(log(x))/n) is the geometric
    mean of x, whose length is n.  With two sizes (X: m×n) the name could be either, and
    with matrices only it may count samples (N logdet S): it stays a scalar."""
    made = [
        n for n in sizes
        if n in ("n", "N") and n in variables and variables[n].shape.is_scalar and n not in declarations and n not in set(keep)
    ]
    if len(made) != 1:
        return None
    if not any(v.shape.cols.is_one and not v.shape.rows.is_one for v in variables.values()):
        # matrices only: −N/2 logdet(S) − tr(S⁻¹C)/2 counts samples, not S's side
        return None
    dims = _dimensions({k: v for k, v in variables.items() if k != made[0]})
    declared = {s for d in declarations.values() for x in d.dims if x is not None for s in x.syms}
    if dims is None or len(dims) != 1 or dims & declared:
        return None
    return made[0]


def _exponents(tree: S.Expr) -> set[str]:
    """Names in an exponent, other than under a division there: the n of ‖x‖ⁿ is a power,
    not a length (the n of x^(1/n), a root, may be one)."""
    out: set[str] = set()
    stack: list[tuple[S.Expr, bool]] = [(tree, False)]
    while stack:
        e, exponent = stack.pop()
        if exponent and isinstance(e, S.Name):
            out.add(e.id)
        if isinstance(e, S.BinOp) and e.op in ("pow", "mpow"):
            stack += [(e.left, exponent), (e.right, True)]
        elif isinstance(e, S.BinOp) and e.op in ("div", "mdiv"):
            stack += [(e.left, exponent), (e.right, False)]
        else:
            stack += [(c, exponent) for c in S.children(e)]
    return out


def _divisors(tree: S.Expr) -> set[str]:
    """Names that divide something, alone or under √ or log (x/n, a/sqrt(k), b/(2*N))."""
    out: set[str] = set()
    stack: list[S.Expr] = [tree]

    def names_of_divisor(e: S.Expr) -> None:
        if isinstance(e, S.Name):
            out.add(e.id)
        elif isinstance(e, S.Call) and e.func in ("sqrt", "log") and len(e.args) == 1:
            names_of_divisor(e.args[0])
        elif isinstance(e, S.BinOp) and e.op == "mul":
            names_of_divisor(e.left)
            names_of_divisor(e.right)

    while stack:
        e = stack.pop()
        if isinstance(e, S.BinOp) and e.op == "div":
            names_of_divisor(e.right)
        stack.extend(S.children(e))
    return out


def check(
    source: str | S.Expr,
    shapes: Mapping[str, object] | None = None,
    syntax: str = "numpy",
    keep: Iterable[str] = (),
) -> Checked:
    """Parse (if needed) and shape-check an expression.

    >>> c = check("W@x + b", {"b": "m"})
    >>> {k: str(v.shape) for k, v in c.variables.items()}, str(c.expr.shape)
    ({'W': 'm×n', 'x': 'n', 'b': 'm'}, 'm')

    ``keep``: names that stay variables (those differentiated by), never read as sizes.
    """
    from .parse import parse

    declarations = {name: parse_shape_spec(spec, name) for name, spec in (shapes or {}).items()}
    if isinstance(source, str):
        text = source
        tree = parse(source, syntax)
    elif not isinstance(source, (S.Number, S.String, S.Name, S.Call, S.BinOp, S.Neg, S.Transpose, S.Compare)):
        from .errors import ParseError

        raise ParseError(f"an expression must be a string, not {type(source).__name__}")
    else:
        tree = source
        text = unparse(tree, syntax)
    hinted = _right_of_matrix_names(tree, text, syntax, declarations)
    off: frozenset[str] = frozenset()
    hint_notes: tuple[str, ...] = ()
    try:
        expr, variables, notes, off, hint_notes = _hinted_reading(tree, text, syntax, declarations, hinted)
    except ShapeError as error:
        # t in inv(A + t*B) (MATLAB's * a matrix product): a vector by the h–z convention,
        # a scalar to the textbook, and the vector reading has no shape at all
        # (MATLAB's * is both products; NumPy refuses a scalar operand of @)
        vectors = (
            _size_names(tree, declarations, (n for n in S.names(tree) if conventional_kind(n) == "vector"), products=True)
            if syntax == "matlab"
            else set()  # NumPy's * broadcasts any vector beside a matrix: no shape error comes from there
        )
        # one name, and only one, whose scalar reading mends the expression (x*y, two
        # columns, stays an error: x or y could be the scalar)
        mended = []
        for name in sorted(vectors)[:8]:
            try:
                mended.append((name, _hinted_reading(tree, text, syntax, {**declarations, name: Declaration(())}, hinted)))
            except MatcalcError:
                continue
        if len(mended) != 1:
            raise error from None
        name, (expr, variables, notes, off, hint_notes) = mended[0]
        notes = (
            *notes,
            f"{name} is read as a scalar: as a vector (h–z names are) the expression has no shape; "
            f"declare to be sure: --shape \"{name}: scalar\"",
        )
    # (a declared dimension used as a number is that size already: see Checker.numeric_names)
    declared_dims = {s for d in declarations.values() for x in d.dims if x is not None for s in x.syms}
    sizes = _size_names(tree, declarations, products=syntax == "matlab") - declared_dims - _size_arguments(tree)
    if sizes:

        def scalars(names: Iterable[str]) -> tuple[Node, dict[str, Var], tuple[str, ...]] | None:
            try:
                return _checked(tree, text, syntax, {**declarations, **{name: Declaration(()) for name in names}}, off)
            except MatcalcError:
                return None

        # a size that divides (Q@K.T/sqrt(k), eps/K, F@F.T/n): a number, never a vector of divisors
        divisors = _divisors(tree) & sizes
        if divisors:
            retry = scalars(divisors)
            if retry is not None:
                if expr.shape.is_scalar:  # the vector reading made sense too: say which one was taken
                    retry = (
                        *retry[:2],
                        (*retry[2], *(f"{name} is read as a scalar (a size: it divides); for a vector: --shape \"{name}: vector\"" for name in sorted(divisors))),
                    )
                expr, variables, notes = retry
        if not expr.shape.is_scalar:
            # N, n, k as textbooks use them (−N/2 logdet S, sum(x)/n): sizes, so scalars, where
            # the convention's matrix or vector would make a scalar objective a matrix; only
            # those it takes (in N*logdet(S) + norm(X - M)^2, M stays a matrix)
            retry = scalars(sizes)
            if retry is not None and retry[0].shape.is_scalar:
                needed = set(sizes)
                for name in sorted(sizes):
                    trial = scalars(needed - {name})
                    if trial is not None and trial[0].shape.is_scalar:
                        needed.discard(name)
                        retry = trial
                expr, variables, notes = retry
    if sizes:
        # only a divisor (sum(x)/n, x^(1/n)): a factor k*sum(x) is a weight more often than a size
        name = _length_name((sizes & _divisors(tree)) - _exponents(tree), declarations, variables, keep)
        if name is not None:
            try:
                expr, variables, notes = _checked(tree, text, syntax, declarations, off, length=name)
            except MatcalcError:
                pass
            else:
                sized = [k for k, v in variables.items() if not v.shape.is_scalar and k in S.names(tree)]
                whose = ", ".join(sized[:-1]) + " and " + sized[-1] if len(sized) > 1 else sized[0]
                what = "length" if len(sized) == 1 and variables[sized[0]].shape.cols.is_one else "size"
                notes = tuple(n for n in notes if not n.startswith(f"{name} is the size {name} ")) + (
                    f"{name} is the {what} of {whose}, the expression's only size; for a scalar variable: --shape \"{name}: scalar\"",
                )
    # (after the size readings, which check the expression again: sum(X*theta)/n)
    notes = (*notes, *hint_notes)
    names = set(S.names(tree))
    used = {k: v for k, v in variables.items() if k in names}
    declared = {k: v for k, v in variables.items() if k in declarations}
    return Checked(expr, used, text, syntax, declared, notes)
