"""Plain-text tables for the terminal, shared by ``check`` and ``analyze``."""

from __future__ import annotations

from collections.abc import Collection, Sequence

__all__ = ["format_table"]


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int] = ()
) -> list[str]:
    """Aligned, two-space-indented lines; the columns in ``right`` are right-aligned (numbers).

    >>> print("\\n".join(format_table(("name", "n"), [("a", "1"), ("bb", "22")], right={1})))
      name   n
      a      1
      bb    22
    """
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            str(cell).rjust(width) if i in right else str(cell).ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines
