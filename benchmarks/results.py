"""benchmarks/results.md, one ``## `` section per benchmark: each run replaces its own and no other."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["RESULTS", "add_output_arguments", "write_section"]

RESULTS = Path(__file__).resolve().parent / "results.md"


def write_section(title: str, body: str, *, first: bool = False, path: Path = RESULTS) -> None:
    """Replace the section ``## title`` with ``body``; a new one goes last, or first under the page title.

    >>> import tempfile
    >>> page = Path(tempfile.mkdtemp()) / "r.md"
    >>> _ = page.write_text("# R\\n\\n## A\\n\\nold a\\n\\n## B\\n\\nb\\n")
    >>> write_section("A", "new a", path=page)
    >>> write_section("C", "c", path=page)
    >>> write_section("S", "s", first=True, path=page)
    >>> print(page.read_text())
    # R
    <BLANKLINE>
    ## S
    <BLANKLINE>
    s
    <BLANKLINE>
    ## A
    <BLANKLINE>
    new a
    <BLANKLINE>
    ## B
    <BLANKLINE>
    b
    <BLANKLINE>
    ## C
    <BLANKLINE>
    c
    <BLANKLINE>
    """
    heading = f"## {title}"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    page_title, _, rest = old.partition("\n")
    sections = [f"## {part}".rstrip() for part in f"\n{rest}".split("\n## ")[1:]]
    preamble = f"\n{rest}".split("\n## ")[0].strip()
    new = f"{heading}\n\n{body.strip()}"
    names = [section.split("\n", 1)[0] for section in sections]
    if heading in names:
        sections[names.index(heading)] = new
    elif first:
        sections.insert(0, new)
    else:
        sections.append(new)
    parts = [page_title, *([preamble] if preamble else []), *sections]
    path.write_text("\n\n".join(parts) + "\n")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark shares: --json (keep the rows), --render (an earlier --json), --write."""
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--render", type=Path, help="print (and --write) the table of an earlier --json")
    parser.add_argument("--write", action="store_true", help="update the section in benchmarks/results.md")
