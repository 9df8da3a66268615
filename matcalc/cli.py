"""The ``matcalc`` command.

Plain ``matcalc diff`` imports neither SymPy nor anything else it does not need:
``--check`` and the LaTeX renderer load their modules on demand.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .errors import DeclarationError, MatcalcError

CONVENTION = (
    "Shapes: undeclared names follow the matrixcalculus.org convention: names starting with a-g are "
    "scalars, h-z vectors (columns), A-Z matrices; Greek names (alpha, lambda, sigma, ...) are scalars. "
    'Declare others with --shape "W: m x n", --shape "x: n", --shape "b: scalar", --shape "S: n x n symmetric" '
    "(numbers allowed: W: 3 x 4)."
)

EPILOG = f"""\
{CONVENTION}

examples:
  matcalc diff "sum(w*x)+b" --wrt w
  matcalc diff "x'@A@x" --wrt x --order 2
  matcalc diff "0.5*norm(y - W2@relu(W1@x))^2" --wrt W1 --steps
  matcalc diff "logdet(X)" --wrt X --check
  matcalc diff "x'*A*x" --wrt x --syntax matlab
  matcalc diff "W@x + b" --wrt W,b --shape "b: m" --format latex
  matcalc shape "W@x + b" --shape "b: m"
  matcalc functions
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="matcalc",
        description="Closed-form derivatives of scalar, vector and matrix expressions, in textbook notation.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("expr", help="the expression, e.g. \"sum(w*x)+b\"")
        sp.add_argument("--shape", action="append", default=[], metavar='"NAME: SHAPE"', help="declare a shape (repeatable)")
        sp.add_argument("--syntax", choices=("numpy", "matlab"), default="numpy", help="input dialect (default numpy)")

    d = sub.add_parser(
        "diff",
        help="differentiate an expression",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        description="Differentiate EXPR with respect to the variables named by --wrt.",
    )
    common(d)
    d.add_argument("--wrt", required=True, help="variable(s) to differentiate by, comma separated (w or w,b)")
    d.add_argument("--order", type=int, choices=(1, 2), default=1, help="2 for the Hessian of a scalar function")
    d.add_argument("--layout", choices=("mixed", "numerator", "denominator"), default="mixed", help="layout convention (default mixed)")
    d.add_argument(
        "--format",
        choices=("text", "ascii", "latex", "numpy", "jax", "torch"),
        default="text",
        help="text (Unicode, default), ascii (input language), latex, or generated code",
    )
    d.add_argument("--steps", action="store_true", help="show the derivation step by step")
    d.add_argument("--cse", action="store_true", help="name repeated subexpressions once (t1 = ...)")
    d.add_argument("--check", action="store_true", help="verify against SymPy on explicit matrices and finite differences (exit 1 if wrong, 3 if it could not be checked)")
    d.add_argument("--assume", action="append", default=[], metavar='"LHS = RHS"', help="a fact applied to the result, e.g. \"sum(y) = 1\"")
    d.add_argument("--latex-document", action="store_true", help="with --format latex: a complete standalone document")
    d.add_argument("--with-value", action="store_true", help="with --format numpy/jax/torch: return the value and the derivative")

    s = sub.add_parser("shape", help="print every variable's inferred shape and the result's", epilog=CONVENTION)
    common(s)

    sub.add_parser("functions", help="list the functions the language knows")
    return p


def _shapes(items: Sequence[str]) -> dict[str, object]:
    from .shapes import parse_declaration

    out: dict[str, object] = {}
    for text in items:
        name, decl = parse_declaration(text)
        if name in out:
            raise DeclarationError(f"the shape of {name!r} is declared twice (--shape {text!r})")
        out[name] = decl
    return out


def _cmd_shape(args: argparse.Namespace) -> int:
    from .api import shape

    result = shape(args.expr, shapes=_shapes(args.shape), syntax=args.syntax)
    width = max(len(k) for k in result)
    for k, v in result.items():
        label = "result" if k == "result" else k
        print(f"{label:<{width}}  {v}")
    return 0


def _cmd_functions(args: argparse.Namespace) -> int:
    from .registry import describe_functions

    print(describe_functions())
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from .api import diff

    results = diff(
        args.expr,
        [w for w in args.wrt.split(",")],
        shapes=_shapes(args.shape),
        syntax=args.syntax,
        layout=args.layout,
        order=args.order,
        assume=args.assume or None,
    )
    status = 0
    many = len(results) > 1
    for d in results.values():
        if args.format in ("numpy", "jax", "torch"):
            print(d.numpy_source(backend=args.format, with_value=args.with_value))
        elif args.format == "latex":
            if args.latex_document:
                from .printing.latex import document

                print(document(d, steps=args.steps))
            else:
                print(d.steps("latex") if args.steps else d.latex())
        elif args.steps:
            print(d.steps("text"))
        else:
            if many or args.format == "text":
                print(f"# {d.header()}")
                for note in d.notes:
                    print(f"# note: {note}")
            if args.cse:
                print(d.cse())
            elif args.format == "ascii":
                print(d.ascii())
            else:
                print(d.text)
        if args.check:
            report = d.check()
            print(report.render())
            if report.failed:
                status = 1
            elif not report.passed and status == 0:
                status = 3  # not checked: a script must not read it as a pass
    return status


def _hide_leading_minus(argv: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """argparse reads "-y'@log(p)" as an unknown option; matcalc has no one-dash options
    but -h, so every other argument starting with one dash is an expression (or a value):
    it is swapped for a placeholder while argparse runs."""
    out, hidden = [], {}
    for a in argv:
        if a.startswith("-") and not a.startswith("--") and a != "-h" and len(a) > 1:
            key = f"\x00{len(hidden)}"
            hidden[key] = a
            a = key
        out.append(a)
    return out, hidden


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv, hidden = _hide_leading_minus(sys.argv[1:] if argv is None else list(argv))
    args, extra = parser.parse_known_args(argv)
    if extra:
        parser.error("unrecognized arguments: " + " ".join(hidden.get(x, x) for x in extra))
    for k, v in vars(args).items():
        if isinstance(v, str) and v in hidden:
            setattr(args, k, hidden[v])
        elif isinstance(v, list):
            setattr(args, k, [hidden.get(x, x) if isinstance(x, str) else x for x in v])
    if args.command is None:
        parser.print_help()
        return 2
    try:
        from .deep import call_deep

        handler = {"diff": _cmd_diff, "shape": _cmd_shape, "functions": _cmd_functions}[args.command]
        return call_deep(handler, args)
    except MatcalcError as e:
        print(e.render(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except BrokenPipeError:  # pragma: no cover
        return 0
    except Exception as e:
        # a bug in matcalc, not in the input: one line that says so, the traceback on request
        if os.environ.get("MATCALC_DEBUG"):
            raise
        message = " ".join(str(e).split())  # one line, whatever the exception holds
        print(f"internal error: {type(e).__name__}: {message}", file=sys.stderr)
        print("  this is a bug in matcalc, not in your input; please report the command (MATCALC_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 70
