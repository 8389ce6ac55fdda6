"""In-place ReLU after a merge: ``nn.ReLU(inplace=True)`` where nothing can tell the difference.

``residual { ... } relu`` and ``merge sum then relu`` compute a merge and then
a ReLU of it, which allocates a second tensor of the same size. Computed in
place, the ReLU overwrites the merge's result instead, as torchvision's ResNet
does (``out += identity; out = self.relu(out)`` with ``ReLU(inplace=True)``).

The rewrite is safe when no one else reads the merge's result, before or after
the ReLU changes it:

* the ReLU is its only user (no later op, emit merge or running sum reads it),
  and its module is called from this one node;
* it was made by one of ``_FRESH``: functions that return a new tensor (never a
  view of an input) and save neither it nor anything aliasing it for their
  backward (sums and quotients save no values, ``maximum`` saves its inputs,
  ``cat`` only sizes), so autograd's version check cannot trip;
* the ReLU's own backward reads the ReLU's output, which in place is the same
  tensor and is not changed again.

Only the module's constructor changes; the graph, the module tree, the
state_dict and every value computed stay as they were.
"""

from __future__ import annotations

import operator

import torch
from torch import fx

from aggspec.ir.lowering import TorchCall
from aggspec.pytorch.lower import Lowered

__all__ = ["inplace_relu"]

_FRESH = frozenset({operator.add, operator.mul, operator.truediv, torch.cat, torch.maximum})
_RELU = TorchCall("ReLU")
_INPLACE_RELU = TorchCall("ReLU", (), (("inplace", True),))


def inplace_relu(program: Lowered) -> Lowered:
    """Make each ReLU module that is the only reader of a fresh merge result work in place."""
    calls: dict[str, int] = {}
    for node in program.graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    for node in program.graph.nodes:
        path = str(node.target)
        if node.op != "call_module" or program.modules.get(path) != _RELU or calls[path] != 1:
            continue
        if len(node.args) == 1 and not node.kwargs and _fresh_and_only_read_by(node.args[0], node):
            program.modules[path] = _INPLACE_RELU
    return program


def _fresh_and_only_read_by(source: object, reader: fx.Node) -> bool:
    return (
        isinstance(source, fx.Node)
        and source.op == "call_function"
        and source.target in _FRESH
        and list(source.users) == [reader]
    )
