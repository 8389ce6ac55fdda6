"""Where the grammar is: ``grammars/agg.lark``, the single source of the syntax.

The file lives at the top of the repository (``grammars/agg.lark``), beside
``aggspec/``. A wheel carries it inside the package (hatchling's
``force-include`` puts it at ``aggspec/grammars/agg.lark``); a source checkout
and an editable install read it from the checkout. ``grammar_path`` tries the
packaged copy first, then the checkout, so all three work and the package
never holds a second, hand-made copy.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

__all__ = ["GrammarMissing", "grammar_path", "grammar_text"]

_NAME = "agg.lark"


class GrammarMissing(RuntimeError):
    """The installation is broken: neither the wheel nor the checkout has the grammar."""


def grammar_path() -> Traversable:
    """The grammar file: inside the installed package, else in the source checkout."""
    packaged = resources.files("aggspec").joinpath("grammars", _NAME)
    if packaged.is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "grammars" / _NAME
    if checkout.is_file():
        return checkout
    raise GrammarMissing(f"aggspec's grammar is missing: looked for {packaged} and {checkout}")


def grammar_text() -> str:
    """The grammar's text.

    >>> grammar_text().splitlines()[0].startswith("//")
    True
    """
    return grammar_path().read_text(encoding="utf-8")
