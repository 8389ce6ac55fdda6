"""Memory-efficient aggregation: merges and pointwise ops recomputed in the backward pass.

Autograd keeps, for the backward pass, what each op needs to compute its
gradient: batch norm its input, ReLU its output, a convolution its input. In a
DenseNet or SparseNet layer (``merge concat`` then ``bn relu conv``) that is
the concatenated tensor and the ReLU's result, each as wide as all the
layer's inputs together, so the memory of a dense block grows with the square
of its length (Pleiss et al., "Memory-Efficient Implementation of
DenseNets", 2017). Yet both are cheap to recompute from the layer's inputs,
which are kept anyway as other layers' results.

This pass finds each *segment*: a convolution or linear layer
(``ir.ops.SEGMENT_ENDS``), the chain of pointwise ops before it (families
``ir.ops.RECOMPUTED_FAMILIES``: norm and activation), and the merge that feeds the chain, when only
the chain reads it (``concat``, a ``sum``'s additions, a module merge such as
``weighted``). It replaces the segment by one call of ``runtime.recompute``
with the segment's modules and the merge's inputs, which keeps only the
inputs and recomputes the rest when the backward pass needs it, without
running the convolution twice.

What stays the same: every module, its path and its registration order (the
segment names its modules with ``get_attr`` nodes in their old order), so the
state_dict and checkpoints are those of the plain model; every value, and
every gradient, bit for bit on CPU (tested); batch norm's running statistics,
updated once per forward pass. A value read outside its segment (a shared
running sum, a merge that also feeds an emit) is not recomputed: it is kept
anyway, so recomputing it would cost time and save nothing.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import fx

from aggspec.ir.ops import OPS, RECOMPUTED_FAMILIES, SEGMENT_ENDS
from aggspec.pytorch.lower import Lowered
from aggspec.pytorch.runtime import recompute

__all__ = ["memory_efficient"]


def memory_efficient(program: Lowered) -> Lowered:
    """Route every segment (see the module docstring) through ``runtime.recompute``."""
    graph = program.graph
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    names: dict[fx.Node, str] = {}  # the names the rewritten nodes should have
    for anchor in list(graph.nodes):
        if _is_anchor(anchor, calls):
            _rewrite(graph, anchor, calls, names)
    program.graph = _renamed(graph, names)
    return program


def _renamed(graph: fx.Graph, names: dict[fx.Node, str]) -> fx.Graph:
    """A copy of ``graph`` whose new nodes take the names of the nodes they replaced.

    fx never frees a name, so a node made while the one it replaces still
    exists gets a suffix (``conv1_1``); the emitted source and error messages
    read better with the original.
    """
    fresh = fx.Graph()
    copies: dict[fx.Node, fx.Node] = {}
    for node in graph.nodes:
        args = fx.map_arg(node.args, copies.__getitem__)
        kwargs = fx.map_arg(node.kwargs, copies.__getitem__)
        name = names.get(node, node.name)
        copy = fresh.create_node(node.op, node.target, args, kwargs, name=name, type_expr=node.type)
        copy.meta = dict(node.meta)
        copies[node] = copy
    fresh.lint()
    return fresh


def _op(node: Any) -> str | None:
    """The registry name of the op a call_module node computes, if it is one op's module."""
    if not isinstance(node, fx.Node) or node.op != "call_module":
        return None
    info = node.meta.get("aggspec")
    if info is None or info.get("kind") != "op":
        return None
    return str(info["op"])


def _is_anchor(node: fx.Node, calls: dict[str, int]) -> bool:
    return (
        _op(node) in SEGMENT_ENDS and calls[str(node.target)] == 1 and len(node.args) == 1 and not node.kwargs
    )


def _is_pointwise(node: Any, reader: fx.Node, calls: dict[str, int]) -> bool:
    op = _op(node)
    return (
        op is not None
        and OPS[op].family in RECOMPUTED_FAMILIES
        and calls[str(node.target)] == 1
        and list(node.users) == [reader]
        and len(node.args) == 1
        and not node.kwargs
    )


def _rewrite(graph: fx.Graph, anchor: fx.Node, calls: dict[str, int], names: dict[fx.Node, str]) -> None:
    chain: list[fx.Node] = []  # the pointwise ops, nearest the anchor first
    reader, value = anchor, anchor.args[0]
    while _is_pointwise(value, reader, calls):
        assert isinstance(value, fx.Node)
        chain.append(value)
        reader, value = value, value.args[0]
    if not chain:
        return  # nothing between the value and the convolution: nothing to save
    chain.reverse()
    merge, inputs, merged = _merge(value, chain[0], calls)
    steps = [*(merged if merge == "module" else []), *chain, anchor]
    with graph.inserting_before(anchor):
        modules = tuple(graph.get_attr(str(step.target)) for step in steps)
        kwargs: dict[str, Any] = {"merge": merge} if merge else {}
        segment = graph.call_function(recompute, (modules, inputs), kwargs)
    names.update({module: f"{step.name}_module" for module, step in zip(modules, steps, strict=True)})
    names[segment] = anchor.name
    anchor.replace_all_uses_with(segment)
    segment.meta = dict(anchor.meta)
    for node in [anchor, *reversed(chain), *reversed(merged)]:
        graph.erase_node(node)


def _merge(value: Any, reader: fx.Node, calls: dict[str, int]) -> tuple[str, list[Any], list[fx.Node]]:
    """How the segment's input is made: (merge kind, its inputs, the merge's own nodes).

    A merge whose result (or partial sum) anything else reads stays in the
    graph, and the segment takes its result as its one input.
    """
    if isinstance(value, fx.Node) and list(value.users) == [reader]:
        if value.op == "call_function" and value.target is torch.cat and _along_channels(value):
            return "cat", list(value.args[0]), [value]  # type: ignore[arg-type]
        if value.op == "call_function" and value.target is operator.add:
            return _sum(value)
        info = value.meta.get("aggspec", {})
        if (
            value.op == "call_module"
            and info.get("kind") == "merge"
            and calls[str(value.target)] == 1
            and len(value.args) == 1
            and isinstance(value.args[0], list)
            and not value.kwargs
        ):
            return "module", list(value.args[0]), [value]
    return "", [value], []


def _along_channels(node: fx.Node) -> bool:
    if len(node.args) != 1 or not isinstance(node.args[0], (list, tuple)):
        return False
    return dict(node.kwargs) == {"dim": 1}


def _sum(last: fx.Node) -> tuple[str, list[Any], list[fx.Node]]:
    """The additions ``((a + b) + c) + d`` that only this sum reads, and the values they add."""
    nodes = [last]
    left, right = last.args
    addends = [right]
    while (
        isinstance(left, fx.Node)
        and left.op == "call_function"
        and left.target is operator.add
        and list(left.users) == [nodes[-1]]
    ):
        nodes.append(left)
        left, right = left.args
        addends.append(right)
    addends.append(left)
    addends.reverse()
    nodes.reverse()
    return "sum", addends, nodes
