"""Output files of every command, checked before any work is done.

A diagram, plot or compiled file is written only at the end of a command that
may run for minutes (a sweep, a deep network); a path it cannot write must
fail at once, with ``error:`` and exit 2, not in a traceback after the work.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

from aggspec.errors import AggSpecError

__all__ = ["check_output", "writing"]

_COMMAND_LINE = "<command line>"


def check_output(path: str, flag: str, formats: Sequence[str] | None = None) -> None:
    """Refuse ``path`` for option ``flag`` unless it names a writable file of one of ``formats``.

    ``formats`` are extensions without the dot (``None``: any extension).
    """
    if formats is not None:
        extension = os.path.splitext(path)[1].lstrip(".").lower()
        if extension not in formats:
            dotted = [f".{f}" for f in formats]
            names = dotted[0] if len(dotted) == 1 else ", ".join(dotted[:-1]) + f" or {dotted[-1]}"
            given = f"'.{extension}'" if extension else "no extension"
            raise AggSpecError(f"{flag} writes {names} files; {path!r} has {given}", filename=_COMMAND_LINE)
    if os.path.isdir(path):
        raise AggSpecError(f"cannot write {path!r}: it is a folder", filename=_COMMAND_LINE)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise AggSpecError(f"cannot write {path!r}: no folder {folder!r}", filename=_COMMAND_LINE)
    target = path if os.path.exists(path) else folder
    if not os.access(target, os.W_OK):
        raise AggSpecError(f"cannot write {path!r}: permission denied", filename=_COMMAND_LINE)


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
    """Where the checks above cannot know (``/proc``, a full disk), a failed write is still an error."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise AggSpecError(f"cannot write {path!r}: {reason}", filename=_COMMAND_LINE) from None
