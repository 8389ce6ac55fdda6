"""aggspec: a language and compiler for the connectivity of deep networks.

Write which earlier outputs each layer aggregates, and how, in a ``.agg``
file; aggspec parses it (``parse``), elaborates it into a networkx IR
(``load``/``loads`` return a ``Spec`` whose ``.graph`` is that IR) and checks
it on the way, reporting mistakes as ``AggSpecError`` at file:line:col.
"""

from __future__ import annotations

from aggspec.api import Spec, load, loads, parse
from aggspec.errors import AggSpecError
from aggspec.ir import Limits, StageInfo

__all__ = ["AggSpecError", "Limits", "Spec", "StageInfo", "load", "loads", "parse"]
__version__ = "0.1.0"
