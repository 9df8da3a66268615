"""Printers: Unicode text, ASCII in either input dialect, LaTeX, and source for syntax trees."""

from __future__ import annotations

from .text import to_ascii, to_text


def to_latex(n, *args, **kw):  # imported lazily: only LaTeX users pay for it
    from .latex import to_latex as f

    return f(n, *args, **kw)


__all__ = ["to_ascii", "to_text", "to_latex"]
