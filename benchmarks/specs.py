"""A spec loaded as the command line loads it: ``-D name=value`` parsed by aggspec's own ``-D`` parser."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aggspec.api import build_spec
from aggspec.lang.params import parse_define
from aggspec.spec import Spec

__all__ = ["load_with_defines"]


def load_with_defines(path: str | Path, defines: Sequence[str]) -> Spec:
    """``path`` elaborated with ``defines`` (``["depth=100"]``), each typed as ``aggspec -D`` types it."""
    return build_spec(Path(path).read_text(), str(path), [parse_define(d) for d in defines])
