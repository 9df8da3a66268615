"""Text → syntax tree: the LALR(1) tables for ``grammar/matcalc.lark`` (computed by Lark,
stored in ``matcalc/parse_tables.py``; see ``matcalc.tablegen``) run by matcalc's own
driver (``matcalc.lalr``), so a parse imports no parser library.

The driver builds the tree bottom-up through the callbacks below (no parse tree and
no recursion), so deeply nested input costs no Python stack.
"""

from __future__ import annotations

import os
from functools import cache

from . import syntax as S
from .errors import LimitError, ParseError

DIALECTS = ("numpy", "matlab")

#: Longest accepted expression, in characters.
MAX_LENGTH = 1_000_000
#: Deepest accepted syntax tree.
MAX_DEPTH = 10_000

_MULOPS = {
    "numpy": {"*": "mul", "/": "div", "@": "matmul", ".*": "mul", "./": "div", "\\": "ldiv", "⊙": "mul"},
    "matlab": {"*": "matmul", "/": "mdiv", "@": "matmul", ".*": "mul", "./": "div", "\\": "ldiv", "⊙": "mul"},
}
_POWOPS = {
    "numpy": {"**": "pow", "^": "pow", ".^": "pow"},
    "matlab": {"**": "pow", "^": "mpow", ".^": "pow"},
}

_TOKEN_WORDS = {
    "ADDOP": "'+' or '-'",
    "SIGN": "a sign",
    "MULOP": "an operator such as '*'",
    "POWOP": "'^'",
    "COMPARE": "a comparison",
    "QUOTE": "a transpose (')",
    "DOT_T": "'.T'",
    "NUMBER": "a number",
    "NAME": "a name",
    "NORM_BAR": "'‖'",
    "BAR": "'|'",
    "SUPERSCRIPT": "a superscript power (²)",
    "INVERSE_MARK": "'⁻¹'",
    "MODULE_NAME": "a name",
    "MODULE_PI": "a name",  # np.exp: a function's name, for the reader
    "LOG_BAR": "a name",  # log|Σ|
    "NORM_SUB": "a norm's subscript (_2)",
    "LOG_DET": "a name",  # log det(Σ)
    "ROOT": "'√'",
    "STRING": "a quoted option",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "COLON": "':'",
    "LSQB": "'['",
    "RSQB": "']'",
    "EQUAL": "'='",
    "$END": "the end of the expression",
}


@cache
def grammar_text() -> str:
    """The grammar: inside the installed package (the wheel puts it in matcalc/grammar/),
    or, in a source checkout, in the top-level ``grammar/`` folder."""
    # os.path rather than pathlib: pathlib (with urllib.parse, ipaddress) would add ~10 ms
    # to every command's start-up, and nothing else on that path imports it
    here = os.path.dirname(os.path.realpath(__file__))
    for path in (os.path.join(here, "grammar", "matcalc.lark"), os.path.join(os.path.dirname(here), "grammar", "matcalc.lark")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return f.read()
    raise FileNotFoundError("matcalc's grammar file matcalc.lark is missing from the installation")  # pragma: no cover


#: activations called as F.name(...) in PyTorch code (import torch.nn.functional as F)
_TORCH_FUNCTIONAL = frozenset(
    "relu elu leaky_relu gelu silu sigmoid tanh softplus softmax log_softmax logsigmoid relu6 mish selu celu "
    "softsign hardswish hardsigmoid hardtanh mse_loss l1_loss binary_cross_entropy binary_cross_entropy_with_logits "
    "huber_loss smooth_l1_loss cross_entropy linear pairwise_distance cosine_similarity scaled_dot_product_attention "
    "kl_div soft_margin_loss poisson_nll_loss gaussian_nll_loss margin_ranking_loss softmin normalize".split()
)


#: Python's words that follow an operand (x if c else y, x for x in y): not a missing product
_PYTHON_WORDS = frozenset("if else for in and or not is lambda".split())


class _Builder:
    """Parser callbacks: grammar rule (alias) → syntax node.  One instance per dialect."""

    def __init__(self, dialect: str):
        self.mulops = _MULOPS[dialect]
        self.powops = _POWOPS[dialect]
        self.dialect = dialect
        #: the text being parsed (set by parse): MATLAB's chained powers need to see parentheses
        self.source = ""

    def number(self, args):
        (tok,) = args
        if not tok.text.isascii() and any(c.isdigit() and not ("0" <= c <= "9") for c in tok.text):
            # 𝟙 (as matcalc prints a vector of ones) and other Unicode digits: \d matches them,
            # and 𝟙 read as the number 1 made 𝟙ᵀ@X@𝟙 X itself (QA find)
            what = "a vector of ones: write ones(n) with its length" if "𝟙" in tok.text else "not a number here: write it with 0–9"
            raise ParseError(f"{tok.text!r} is {what}", column=tok.pos)
        return S.Number(tok.text, tok.pos)  # ½ stays ½ (Number.value is 1/2)

    def string(self, args):
        (tok,) = args
        return S.String(tok.text[1:-1], tok.pos)

    def name(self, args):
        (tok,) = args
        return S.Name(tok.text, tok.pos)

    def module_pi(self, args):
        """np.pi, math.pi, torch.pi: the number π (bare ``pi`` is π too, unless declared);
        np.inf, math.inf: ``inf`` (a bound only: np.clip(x, 0, np.inf)); np.newaxis: None."""
        (tok,) = args
        dot = tok.text.rindex(".")
        at, word = tok.pos + dot + 1, tok.text[dot + 1 :]
        if word == "newaxis":  # x[:, np.newaxis] is x[:, None]
            return S.Name("None", at)
        if word == "e":  # Euler's number
            return S.Call("exp", (S.Number("1", at),), (), at)
        return S.Name("π" if word == "pi" else "inf", at)

    def call(self, args):
        tok, arglist = args
        positional, keywords = _split_arguments(arglist)
        if tok.type == "MODULE_NAME":
            # np.linalg.norm(x) is norm(x): the registry knows NumPy's, SciPy's and PyTorch's names
            module, _, name = tok.text.rpartition(".")
            if module.split(".")[0] in ("np", "numpy", "jnp", "jax") and name in ("max", "min"):
                name = "a" + name  # np.max(X, 1) reduces along axis 1; np.maximum is the elementwise one
            if module == "torch" and name in ("var", "std") and not {"ddof", "correction", "unbiased"} & {k for k, _ in keywords}:
                keywords = (*keywords, ("unbiased", S.Name("True", tok.pos)))  # PyTorch's default, unlike NumPy's
            name = _TF_NAMES.get(name, name) if module.startswith("tf") else name
            keywords = _library_defaults(module, name, positional, keywords, tok.pos)
            return S.Call(name, positional, keywords, tok.pos + len(module) + 1)
        if tok.type == "LOG_DET":  # log det(Σ), as papers write it
            return S.Call("logdet", positional, keywords, tok.pos)
        return S.Call(tok.text, positional, keywords, tok.pos)

    def method(self, args):
        """X.sum(axis=0) is sum(X, axis=0); x.dot(y) is dot(x, y); F.relu(z) is relu(z)."""
        receiver, tok, arglist = args
        positional, keywords = _split_arguments(arglist)
        name = tok.text[1:]
        if name in ("max", "min"):
            name = "a" + name  # X.max(1) reduces along axis 1, as NumPy's and PyTorch's methods do
        elif name in ("var", "std") and {"dim", "keepdim"} & {k for k, _ in keywords} and not {"ddof", "correction", "unbiased"} & {k for k, _ in keywords}:
            # dim= is PyTorch's spelling: its Tensor.var and Tensor.std are unbiased by default
            keywords = (*keywords, ("unbiased", S.Name("True", tok.pos)))
        elif name == "t" and not positional and not keywords:
            name = "transpose"  # PyTorch's x.t()
        if isinstance(receiver, S.Name) and receiver.id == "F" and name in _TORCH_FUNCTIONAL:
            # import torch.nn.functional as F: an activation of F itself would be an
            # argument error (relu takes one argument), so this reading takes nothing away
            return S.Call(name, tuple(positional), keywords, tok.pos + 1)
        return S.Call(name, (receiver, *positional), keywords, tok.pos + 1)

    def arguments(self, args):
        return list(args)

    def keyword(self, args):
        tok, value = args
        return (tok.text, value)

    def binary(self, args):
        left, tok, right = args
        op = tok.text
        if tok.type == "ADDOP":
            kind = "add" if op == "+" else "sub"
        elif tok.type == "MULOP" and op in _PRINTED_PRODUCTS:
            # A ⊗ B and u·v as matcalc prints them: kron(A, B) and dot(u, v)
            return S.Call(_PRINTED_PRODUCTS[op], (left, right), (), tok.pos)
        elif tok.type == "MULOP":
            kind = self.mulops[op]
        else:
            kind = self.powops[op]
            if self.dialect == "matlab":
                return self._left_power(left, kind, tok, right)
        return S.BinOp(kind, left, right, tok.pos)

    def _left_power(self, left: S.Expr, kind: str, tok, right: S.Expr) -> S.Expr:
        """MATLAB's ^ and .^ group to the left: c^2^3 is (c^2)^3 = c⁶, where the grammar
        (Python's ** groups to the right) made it c^(2^3); a parenthesised right side stays."""
        if isinstance(right, S.BinOp) and right.op in ("pow", "mpow") and "(" not in self.source[tok.pos + len(tok.text) : _start(right)]:
            return S.BinOp(right.op, self._left_power(left, kind, tok, right.left), right.right, right.pos)
        return S.BinOp(kind, left, right, tok.pos)

    def unary(self, args):
        tok, operand = args  # − (U+2212), as matcalc prints it, is a minus too
        if tok.text == "+":
            return operand
        return S.Neg(operand, tok.pos)

    def superscript(self, args):
        """x² is x^2 in the dialect (elementwise in numpy, a matrix power in matlab)."""
        operand, tok = args
        digits = tok.text.translate(_SUPERSCRIPT_DIGITS)
        return S.BinOp(self.powops["^"], operand, S.Number(digits, tok.pos), tok.pos)

    def inverse(self, args):
        """X⁻¹ is inv(X), X⁻ᵀ is inv(X)ᵀ and X⁻² is matrix_power(X, -2), in both dialects
        (as matcalc prints them)."""
        operand, tok = args
        if tok.text == "⁻ᵀ":
            return S.Transpose(S.Call("inv", (operand,), (), tok.pos), tok.pos)
        k = tok.text[1:].translate(_SUPERSCRIPT_DIGITS)
        if k == "1":
            return S.Call("inv", (operand,), (), tok.pos)
        return S.Call("matrix_power", (operand, S.Neg(S.Number(k, tok.pos), tok.pos)), (), tok.pos)

    def norm_bars(self, args):
        """‖x‖ is norm(x); ‖x‖_2 (‖x‖₂) is norm(x, 2), ‖X‖_F norm(X, 'fro'), ‖x‖_1 norm1(x)
        (of a matrix too: the sum of |entries|) and ‖x‖_∞ norm(x, inf); of a matrix the
        subscripts 2 and ∞ name operator norms, which are refused."""
        bar, inner, _, *sub = args
        if not sub:
            return S.Call("norm", (inner,), (), bar.pos)
        which = sub[0].text.strip("_{}")
        pos = sub[0].pos
        if which in ("1", "₁"):  # of a matrix too the sum of |entries|, as sparse-coding papers mean ‖H‖₁
            return S.Call("norm1", (inner,), (), bar.pos)
        p: S.Expr = {"2": S.Number("2", pos), "₂": S.Number("2", pos), "F": S.String("fro", pos), "fro": S.String("fro", pos)}.get(
            which
        ) or S.Name("inf", pos)
        return S.Call("norm", (inner, p), (), bar.pos)

    def abs_bars(self, args):
        """|a| is the absolute value of a scalar and |X| the determinant of a square
        matrix (the shape check decides, with a note); of a vector the bars are refused
        (|x| is a norm in some texts, the entries' absolute values in others)."""
        bar, inner, _ = args
        return S.Call("|·|", (inner,), (), bar.pos)

    def root(self, args):
        """√x is sqrt(x), as matcalc prints it (of an atom: √(x + 1), √var(x))."""
        tok, operand = args
        return S.Call("sqrt", (operand,), (), tok.pos)

    def log_bars(self, args):
        """log|Σ| (and ln|Σ|) is log of |Σ|, as Bishop and Murphy write the log-determinant."""
        tok, inner, _ = args
        return S.Call("log", (S.Call("|·|", (inner,), (), tok.pos),), (), tok.pos)

    def whole(self, args):
        return S.Name(":", 0)

    def subscript(self, args):
        """x[:, None] is x as a column, x[None, :] as a row (NumPy's new axis); x[:] is x;
        slogdet(K)[1] is logdet(K)."""
        operand, *index = args
        if isinstance(operand, S.Call) and operand.func == "slogdet" and len(index) == 1 and isinstance(index[0], S.Number):
            # NumPy's and PyTorch's slogdet(K) = (sign, log|det K|): [1] is logdet(K) (det K > 0)
            if index[0].text == "1":
                return S.Call("logdet", operand.args, operand.keywords, operand.pos)
            raise ParseError("slogdet(…)[1] is log|det|, the part matcalc differentiates (as logdet); [0] is the sign", column=_pos(index[0]))
        if all(isinstance(i, S.Name) for i in index):
            kinds = tuple(i.id for i in index)
            if kinds in ((":",), (":", ":")):
                return operand
            if kinds == (":", "None"):
                return S.Call("column", (operand,), (), _pos(operand))
            if kinds in (("None", ":"), ("None",)):
                return S.Call("row", (operand,), (), _pos(operand))
        where = next((i for i in index if not (isinstance(i, S.Name) and i.id in (":", "None"))), index[0])
        raise ParseError(
            "indexing is not part of the language (x[:, None] and x[None, :] are: a column and a row); "
            "write the whole vector or matrix",
            column=_pos(where) if _pos(where) else _pos(operand),
        )

    def transpose(self, args):
        operand, tok = args
        return S.Transpose(operand, tok.pos)

    def compare(self, args):
        left, tok, right = args
        return S.Compare(tok.text, left, right, tok.pos)


#: TensorFlow's names for NumPy's reductions (tf.reduce_sum(x, axis=1) is sum(x, axis=1))
_TF_NAMES = {"reduce_sum": "sum", "reduce_mean": "mean", "reduce_max": "amax", "reduce_min": "amin", "reduce_logsumexp": "logsumexp"}


def _library_defaults(module: str, name: str, positional: tuple, keywords: tuple, pos: int) -> tuple:
    """The keywords a library's own defaults add: SciPy's softmax, log_softmax and logsumexp
    (and JAX's logsumexp) run over every entry unless given an axis; jax.nn.gelu is the tanh
    approximation unless told otherwise."""
    given = {k for k, _ in keywords}
    top = module.split(".")[0]
    every_entry = (top == "scipy" and name in ("softmax", "log_softmax", "logsumexp")) or (top == "jax" and name == "logsumexp")
    if every_entry and len(positional) < 2 and not {"axis", "dim"} & given:
        return (*keywords, ("axis", S.Name("None", pos)))
    if top == "jax" and name == "gelu" and "approximate" not in given:
        return (*keywords, ("approximate", S.Name("True", pos)))
    return keywords


_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_PRINTED_PRODUCTS = {"⊗": "kron", "·": "dot"}


def _pos(e: S.Expr) -> int:
    return getattr(e, "pos", 0)


def _split_arguments(arglist) -> tuple[tuple, tuple]:
    positional, keywords = [], []
    for a in arglist or ():
        if isinstance(a, tuple):
            keywords.append(a)
        elif keywords:
            raise ParseError("a positional argument cannot follow a keyword argument", column=_pos(a))
        else:
            positional.append(a)
    return tuple(positional), tuple(keywords)


@cache
def _tables():
    """The stored tables, or (in a checkout whose grammar was edited and the tables not
    regenerated) tables computed from the grammar now, with Lark."""
    from . import lalr, parse_tables

    text = grammar_text()
    if parse_tables.GRAMMAR == text:
        return lalr.Tables(vars(parse_tables))
    from . import tablegen  # pragma: no cover - only after editing the grammar

    return lalr.Tables(tablegen.build(text))  # pragma: no cover


@cache
def _builder(dialect: str) -> _Builder:
    return _Builder(dialect)


@cache
def _parser(dialect: str):
    from . import lalr

    return lalr.Parser(_tables(), _builder(dialect))


def _start(e: S.Expr) -> int:
    """Where ``e``'s text begins: its leftmost leaf's position (a BinOp's is its operator's)."""
    while True:
        if isinstance(e, (S.BinOp, S.Compare)):
            e = e.left
        elif isinstance(e, S.Transpose):
            e = e.operand
        else:
            return e.pos


def _describe(expected) -> str:
    # a quoted option is possible wherever an operand is, and a method call (.sum())
    # wherever an operator is: neither is worth mentioning
    hidden = {"STRING", "METHOD"}
    if "LPAR" in expected:
        # ‖, | and { can open an operand too, but '(' says it: name them only to close one
        hidden.update(("NORM_BAR", "BAR", "LBRACE", "ROOT"))
    words = sorted({_TOKEN_WORDS.get(t, repr(t)) for t in expected if t not in hidden})
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def parse(source: str, syntax: str = "numpy") -> S.Expr:
    """Parse ``source`` in the given dialect (``"numpy"`` or ``"matlab"``).

    >>> parse("W@x + b")
    BinOp(op='add', left=BinOp(op='matmul', left=Name(id='W'), right=Name(id='x')), right=Name(id='b'))
    """
    from .lalr import END, UnexpectedCharacter, UnexpectedToken

    if syntax not in DIALECTS:
        raise ParseError(f"unknown syntax {syntax!r}; choose one of {', '.join(DIALECTS)}")
    if not isinstance(source, str):
        raise ParseError(f"an expression must be a string, not {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise LimitError(f"expression is {len(source)} characters long (limit {MAX_LENGTH})")
    if not source.strip():
        raise ParseError("empty expression", source=source, column=0)
    try:
        _builder(syntax).source = source
        tree = _parser(syntax).parse(source)
    except UnexpectedCharacter as e:
        raise ParseError(f"unexpected character {source[e.column]!r}", source=source, column=e.column) from None
    except UnexpectedToken as e:
        tok = e.token
        if tok.type == END:
            msg = f"unexpected end of expression; expected {_describe(e.expected)}"
            col = len(source.rstrip())
        else:
            what = {"NAME": "name ", "NUMBER": "number "}.get(tok.type, "")
            shown = tok.text if len(tok.text) <= 40 else tok.text[:39] + "…"
            if tok.type in ("NAME", "NUMBER", "LPAR", "MODULE_NAME") and "MULOP" in e.expected and tok.text not in _PYTHON_WORDS:
                # an operand right after a complete one: a product written by juxtaposition (2x, x'Ax)
                ops = "'*' for the matrix product, '.*' elementwise" if syntax == "matlab" else "'@' for the matrix product, '*' elementwise"
                msg = f"missing operator before {what}{shown!r}: write products out ({ops})"
            else:
                msg = f"unexpected {what}{shown!r}; expected {_describe(e.expected)}"
            col = tok.pos
        raise ParseError(msg, source=source, column=col) from None
    except ParseError as e:
        raise e.with_source(source) from None
    d = S.depth(tree)
    if d > MAX_DEPTH:
        raise LimitError(f"too deeply nested: depth {d} (limit {MAX_DEPTH})", source=source, column=0)
    return tree
