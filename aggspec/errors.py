"""User-facing errors: a message tied to a place in a ``.agg`` file.

An ``AggSpecError`` is the only exception aggspec raises for a mistake in the
user's input. It renders as a compiler would::

    model.agg:7:18: error: unknown op 'conv3d'
            bn relu conv3d(16, 3)
                    ^~~~~~

Anything else escaping aggspec is a bug in aggspec: the CLI says so in one line
(exit 1) and shows the traceback with ``--debug``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aggspec.span import Span


@dataclass(frozen=True)
class Note:
    """Extra context for an error, e.g. where the failing definition was called."""

    message: str
    span: Span | None


class AggSpecError(Exception):
    """A mistake in a spec, located at ``filename:line:col`` (1-based)."""

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        *,
        filename: str = "<string>",
        source: str | None = None,
        notes: tuple[Note, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.filename = filename
        self.source = source
        self.notes = notes

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def col(self) -> int | None:
        return self.span.col if self.span else None

    def located(self, filename: str, source: str) -> AggSpecError:
        """This error, attached to a file (keeps a filename already set)."""
        if self.source is not None:
            return self
        return AggSpecError(self.message, self.span, filename=filename, source=source, notes=self.notes)

    def with_note(self, note: Note) -> AggSpecError:
        return AggSpecError(
            self.message,
            self.span,
            filename=self.filename,
            source=self.source,
            notes=(*self.notes, note),
        )

    def render(self) -> str:
        """The full diagnostic: location, message, source line and caret, then notes."""
        parts = [_diagnostic(self.filename, self.source, self.span, "error", self.message)]
        for note in self.notes:
            parts.append(_diagnostic(self.filename, self.source, note.span, "note", note.message))
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.render()


def _diagnostic(filename: str, source: str | None, span: Span | None, severity: str, message: str) -> str:
    if span is None:
        return f"{filename}: {severity}: {message}"
    header = f"{filename}:{span.line}:{span.col}: {severity}: {message}"
    if source is None:
        return header
    lines = source.split("\n")  # as lark counts lines: \v, \f, \u2028... do not end one
    if not 1 <= span.line <= len(lines):
        return header
    text = lines[span.line - 1].rstrip("\r")
    if len(text) > _LONGEST_LINE:  # a generated or adversarial line: show the part around the caret
        text, span = _window(text, span)
    return f"{header}\n{text}\n{caret_line(text, span)}"


_LONGEST_LINE = 160
_CONTEXT = 60  # characters shown on each side of the caret in a long line


def _window(text: str, span: Span) -> tuple[str, Span]:
    """``text`` cut to the characters around ``span`` (marked with ...), and the span within the cut."""
    start = max(span.col - 1 - _CONTEXT, 0)
    end = min(span.col - 1 + _CONTEXT, len(text))
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(text) else ""
    col = span.col - start + len(prefix)
    width = span.end_col - span.col if span.end_line == span.line else 1
    width = max(min(width, end - (span.col - 1)), 1)
    return prefix + text[start:end] + suffix, Span(span.line, col, span.line, col + width)


def caret_line(text: str, span: Span) -> str:
    """A '^~~~' marker under ``span`` within one line of source ``text``.

    Tabs before the caret are kept so the marker lines up in any terminal.
    """
    start = max(span.col - 1, 0)
    indent = "".join(ch if ch == "\t" else " " for ch in text[:start])
    if span.end_line == span.line:
        width = max(span.end_col - span.col, 1)
    else:
        width = max(len(text.rstrip()) - start, 1)
    return indent + "^" + "~" * (width - 1)


@contextmanager
def deep_recursion(what: str) -> Iterator[None]:
    """Room for deeply nested input, and an ``AggSpecError`` rather than a crash beyond it.

    Parsing and elaboration recurse once per level of nesting in the spec; a
    spec nested past what Python can follow is the user's to simplify.
    """
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 10_000))
    try:
        yield
    except RecursionError:
        raise AggSpecError(f"{what} nests too deeply for aggspec to follow") from None
    finally:
        sys.setrecursionlimit(previous)
