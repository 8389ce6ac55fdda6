"""aggspec: a language and compiler for the connectivity of deep networks.

Write which earlier outputs each layer aggregates, and how, in a ``.agg``
file; aggspec parses it (``parse``), elaborates it into a networkx IR
(``load``/``loads`` return a ``Spec`` whose ``.graph`` is that IR) and checks
it on the way, reporting mistakes as ``AggSpecError`` at file:line:col.
``build`` compiles a spec to a ``torch.fx.GraphModule``; ``port_state_dict``
loads a reference implementation's weights into it; ``analyze`` measures a
spec and ``draw`` diagrams it.

Those four are imported on first use (torch, scipy and graphviz are slow to
import), so checking a spec stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aggspec.api import load, loads, parse
from aggspec.errors import AggSpecError
from aggspec.ir import Limits, StageInfo
from aggspec.spec import Spec

if TYPE_CHECKING:  # type checkers see the lazily imported names too
    from aggspec.analysis.report import analyze
    from aggspec.pytorch.build import build
    from aggspec.pytorch.port import port_state_dict
    from aggspec.viz.graphviz import draw

__all__ = [
    "AggSpecError",
    "Limits",
    "Spec",
    "StageInfo",
    "analyze",
    "build",
    "draw",
    "load",
    "loads",
    "parse",
    "port_state_dict",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # build and port_state_dict need torch; import it only when asked for.
    if name == "build":
        from aggspec.pytorch.build import build

        return build
    if name == "draw":
        from aggspec.viz.graphviz import draw

        return draw
    if name == "analyze":
        from aggspec.analysis.report import analyze

        return analyze
    if name == "port_state_dict":
        from aggspec.pytorch.port import port_state_dict

        return port_state_dict
    raise AttributeError(f"module 'aggspec' has no attribute {name!r}")
