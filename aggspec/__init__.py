"""aggspec: a language and compiler for the connectivity of deep networks.

Write which earlier outputs each layer aggregates, and how, in a ``.agg``
file; aggspec parses it (``parse``), elaborates it into a networkx IR
(``load``/``loads`` return a ``Spec`` whose ``.graph`` is that IR) and checks
it on the way, reporting mistakes as ``AggSpecError`` at file:line:col.
``build`` compiles a spec to a ``torch.fx.GraphModule``; ``port_state_dict``
loads a reference implementation's weights into it; ``analyze`` measures a
spec and ``draw`` diagrams it; ``train`` trains it on a data source (with
checkpoints and resume) and ``evaluate`` measures trained weights.

Those are imported on first use (torch, scipy and graphviz are slow to
import), so checking a spec stays fast. ``aggspec.train`` is the training
subpackage made callable (see ``aggspec/train/__init__.py``): a plain
function of that name would be replaced by the subpackage as soon as any
``aggspec.train.*`` module is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from aggspec.errors import AggSpecError
from aggspec.ir import Limits, StageInfo
from aggspec.spec import Spec

if TYPE_CHECKING:  # type checkers see the lazily imported names too
    from aggspec.analysis.report import analyze
    from aggspec.api import load, loads, parse
    from aggspec.pytorch.build import build
    from aggspec.pytorch.port import port_state_dict
    from aggspec.train.evaluate import evaluate
    from aggspec.train.loop import train
    from aggspec.viz.graphviz import draw

__all__ = [
    "AggSpecError",
    "Limits",
    "Spec",
    "StageInfo",
    "analyze",
    "build",
    "draw",
    "evaluate",
    "load",
    "loads",
    "parse",
    "port_state_dict",
    "train",
]
__version__ = "0.1.0"


# Imported on first use: the parser (lark) is not needed by code that takes a
# Spec, torch, scipy and graphviz are slow to import, and `aggspec check` needs
# none of the back ends.
_LAZY = {
    "parse": "aggspec.api",
    "load": "aggspec.api",
    "loads": "aggspec.api",
    "analyze": "aggspec.analysis.report",
    "build": "aggspec.pytorch.build",
    "port_state_dict": "aggspec.pytorch.port",
    "draw": "aggspec.viz.graphviz",
    "evaluate": "aggspec.train.evaluate",
}


def __getattr__(name: str) -> Any:
    if name == "train":  # the subpackage, callable; importing it binds aggspec.train
        return importlib.import_module("aggspec.train")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'aggspec' has no attribute {name!r}")
