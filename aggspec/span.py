"""Where something is in a ``.agg`` file: the one type every layer may share.

It sits below the language and the IR, so that errors (``errors.py``), the
syntax tree (``lang/syntax.py``) and IR nodes can all carry a location without
importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Span"]


@dataclass(frozen=True)
class Span:
    """A region of source text: 1-based line and column, end exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int

    def __repr__(self) -> str:
        return f"Span({self.line}:{self.col}-{self.end_line}:{self.end_col})"
