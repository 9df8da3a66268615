"""matcalc's own LALR driver (``matcalc.lalr``) against Lark running the same grammar.

The stored tables (``matcalc/parse_tables.py``) must be what Lark computes from
``grammar/matcalc.lark`` today, and on any input the driver must do what Lark's own
parser does with them: the same tree with the same positions, or an error at the same
column for the same token.  Error messages may differ in one way only, on purpose: the
driver lists the terminals that can come next after the whole parse stack, Lark those
of the top state (LALR merges states, so Lark offers ')' at the top level); the
driver's list must be a subset of Lark's plus the end of input.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz import CORPUS, RANDOM_TEXT, mutated_inputs, token_soups, valid_inputs

from matcalc import lalr, parse_tables, tablegen
from matcalc import syntax as S
from matcalc.errors import MatcalcError, ParseError
from matcalc.parse import _Builder, _parser, grammar_text, parse

lark = pytest.importorskip("lark")


def test_stored_tables_are_current():
    """Edit grammar/matcalc.lark, then run ``python -m matcalc.tablegen``."""
    assert parse_tables.GRAMMAR == grammar_text(), "the grammar changed: run python -m matcalc.tablegen"
    with open(tablegen.TABLES_PATH, encoding="utf-8") as f:
        assert f.read() == tablegen.render(tablegen.build(grammar_text()))


def test_generated_tables_do_not_depend_on_hash_order():
    code = (
        "import hashlib; from matcalc import tablegen; from matcalc.parse import grammar_text; "
        "print(hashlib.sha256(tablegen.render(tablegen.build(grammar_text())).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    with open(tablegen.TABLES_PATH, encoding="utf-8") as f:
        assert digests == {hashlib.sha256(f.read().encode()).hexdigest()}


def test_a_parse_imports_no_parser_library():
    code = "import sys, matcalc; matcalc.parse('W@x + b'); matcalc.diff('sum(w*x)', wrt='w'); print('lark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ------------------------------------------------------------------ Lark as the reference


class _LarkTokens:
    """Lark transformer callbacks: Lark tokens → the driver's tokens, then the same builder."""

    def __init__(self, dialect: str):
        self.builder = _Builder(dialect)

    def __getattr__(self, name):
        method = getattr(self.builder, name)

        def callback(args):
            return method([lalr.Token(a.type, str(a), a.start_pos) if isinstance(a, lark.Token) else a for a in args])

        return callback


@cache
def lark_parser(dialect: str):
    return lark.Lark(
        grammar_text(), parser="lalr", lexer="contextual", maybe_placeholders=True, transformer=_LarkTokens(dialect)
    )


def lark_outcome(source: str, dialect: str):
    """("tree", tree) or ("error", column, token type or None, expected terminals)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken, VisitError

    try:
        return ("tree", lark_parser(dialect).parse(source))
    except UnexpectedCharacters as e:
        return ("error", e.pos_in_stream, None, None)
    except UnexpectedToken as e:
        col = len(source) if e.token.type == "$END" else e.token.start_pos
        return ("error", col, e.token.type, frozenset(e.expected))
    except VisitError as e:  # pragma: no cover
        raise e.orig_exc from None
    except ParseError as e:  # the builder's own checks (keyword before positional)
        return ("builder", e.message, e.column)


def driver_outcome(source: str, dialect: str):
    try:
        return ("tree", _parser(dialect).parse(source))
    except lalr.UnexpectedCharacter as e:
        return ("error", e.column, None, None)
    except lalr.UnexpectedToken as e:
        return ("error", e.column, e.token.type, e.expected)
    except ParseError as e:
        return ("builder", e.message, e.column)


def positions(e):
    """The tree with every node's position: syntax nodes compare without them."""
    if isinstance(e, S.Call):
        return ("Call", e.pos, e.func, [positions(a) for a in e.args], [(k, positions(v)) for k, v in e.keywords])
    if isinstance(e, (S.BinOp, S.Compare)):
        return (type(e).__name__, e.pos, positions(e.left), positions(e.right))
    if isinstance(e, (S.Neg, S.Transpose)):
        return (type(e).__name__, e.pos, positions(e.operand))
    return (type(e).__name__, e.pos, e)


def agree(source: str, dialect: str) -> None:
    ours, theirs = driver_outcome(source, dialect), lark_outcome(source, dialect)
    assert ours[0] == theirs[0], (source, ours, theirs)
    if ours[0] == "tree":
        assert ours[1] == theirs[1], source
        assert positions(ours[1]) == positions(theirs[1]), source
    elif ours[0] == "builder":
        assert ours == theirs
    else:
        _, col, tok, expected = ours
        _, lcol, ltok, lexpected = theirs
        assert (col, tok) == (lcol, ltok), (source, ours, theirs)
        if tok is not None:
            assert expected, source
            assert expected <= lexpected | {lalr.END}, (source, expected, lexpected)


EXAMPLES = sorted({s for group in CORPUS.values() for s in group})


@pytest.mark.parametrize("dialect", ["numpy", "matlab"])
def test_agrees_with_lark_on_the_fuzz_corpus(dialect):
    for source in EXAMPLES:
        agree(source, dialect)


@pytest.mark.parametrize(
    "source",
    ["x y", "(x))", "x > y z", "f(x=1 2)", "x >", "x ++ y", "'ab' x", "x.T.T 3", "a > b > c", "f(,)", "f(x,)",
     "x # y", "f(a=1, b)", "f()", "f(x, y=2, z=3)", "-x.^2'", "x..T", "1.T", "x.'", "f(x)(y)", "((((x", "x)", "",
     "   ", "x\n+\ny", "a <= b", "x ᵀ", "x⊤'", "3.e5", "f(axis=0)", "x**-y", "x.^-.5"],
)  # fmt: skip
def test_agrees_with_lark_on_edge_cases(source):
    for dialect in ("numpy", "matlab"):
        agree(source, dialect)


@settings(max_examples=300, deadline=None)
@given(st.one_of(RANDOM_TEXT, token_soups()), st.sampled_from(["numpy", "matlab"]))
def test_agrees_with_lark_on_random_text(source, dialect):
    agree(source, dialect)


@settings(max_examples=300, deadline=None)
@given(st.one_of(valid_inputs(), mutated_inputs()))
def test_agrees_with_lark_on_expressions_and_their_mutations(case):
    source, dialect = case
    agree(source, dialect)


def test_top_level_errors_do_not_offer_a_closing_parenthesis():
    with pytest.raises(MatcalcError) as info:
        parse("x ]")
    assert "')'" not in info.value.message and "the end of the expression" in info.value.message
    with pytest.raises(MatcalcError) as info:
        parse("f(x ]")
    assert "')'" in info.value.message and "the end of the expression" not in info.value.message
