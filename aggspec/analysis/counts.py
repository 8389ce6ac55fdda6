"""Pure functions of the IR: the counts behind ``aggspec analyze``.

(Distances within stages, which need numpy and scipy, are in ``hops.py``, so
that ``aggspec check``, which counts parameters, does not import them.)

Every function takes the IR graph (or one of its ``StageInfo`` records) first,
reads it and returns a number or a small record; nothing here modifies the IR
or builds torch modules. Parameters and MACs come from the op and merge
registries, so they equal what the compiled model holds and computes.

MACs are multiply-accumulates per sample of convolutions and linear layers, as
fvcore and ``torch.utils.flop_counter.FlopCounterMode`` count them (the latter
reports two FLOPs per MAC); batch norm, activations, pooling and merges are
elementwise and not counted.
"""

from __future__ import annotations

import math

import networkx as nx

from aggspec.ir import StageInfo, inputs_of
from aggspec.ir.merges import MERGES
from aggspec.ir.ops import OPS

__all__ = [
    "activation_bytes",
    "mac_count",
    "node_macs",
    "node_parameters",
    "parameter_count",
    "stage_fan_in",
    "weight_layer_path_lengths",
]


def node_parameters(graph: nx.MultiDiGraph, node: str) -> int:
    """Learned parameters owned by one IR node (0 for the input and parameter-free ops).

    >>> from aggspec import loads
    >>> g = loads("network T(input 3x8x8) { conv(4, 3) bn }").graph
    >>> node_parameters(g, "conv1"), node_parameters(g, "bn1")
    (108, 8)
    """
    data = graph.nodes[node]
    if data["kind"] == "op":
        (source,) = inputs_of(graph, node)
        return OPS[data["op"]].count_params(graph.nodes[source]["shape"], data["args"])
    if data["kind"] == "merge":
        return MERGES[data["op"]].count_params(graph.in_degree(node))
    return 0


def parameter_count(graph: nx.MultiDiGraph) -> int:
    """Total learned parameters of the network, computed from the IR alone.

    >>> from aggspec import loads
    >>> parameter_count(loads("network T(input 3x8x8) { conv(4, 3) gap flatten linear(2) }").graph)
    118
    """
    return sum(node_parameters(graph, node) for node in graph)


def node_macs(graph: nx.MultiDiGraph, node: str) -> int:
    """Multiply-accumulates per sample of one IR node, as its op or merge entry counts them.

    Convolutions and linear layers count; elementwise ops and today's merges do not.

    >>> from aggspec import loads
    >>> g = loads("network T(input 3x8x8) { conv(4, 3) relu }").graph
    >>> node_macs(g, "conv1"), node_macs(g, "relu1")
    (6912, 0)
    """
    data = graph.nodes[node]
    if data["kind"] == "merge":
        shapes = [graph.nodes[source]["shape"] for source in inputs_of(graph, node)]
        return MERGES[data["op"]].count_macs(shapes, data["shape"])
    if data["kind"] != "op":
        return 0
    (source,) = inputs_of(graph, node)
    return OPS[data["op"]].count_macs(graph.nodes[source]["shape"], data["shape"], data["args"])


def mac_count(graph: nx.MultiDiGraph) -> int:
    """Multiply-accumulates per sample of the whole network.

    >>> from aggspec import loads
    >>> mac_count(loads("network T(input 3x8x8) { conv(4, 3) gap flatten linear(2) }").graph)
    6920
    """
    return sum(node_macs(graph, node) for node in graph)


def activation_bytes(graph: nx.MultiDiGraph, bytes_per_element: int = 4) -> int:
    """Bytes per sample of every op's and merge's output (fp32 by default).

    Merge outputs (the concatenation buffers of DenseNet-like stages) count in
    full; the network input does not. This is what a forward pass allocates if
    nothing is freed or computed in place: an upper bound on what autograd keeps.

    >>> from aggspec import loads
    >>> activation_bytes(loads("network T(input 3x8x8) { conv(4, 3) relu }").graph)
    2048
    """
    total = 0
    for _, data in graph.nodes(data=True):
        if data["kind"] != "input":
            total += math.prod(data["shape"])
    return total * bytes_per_element


def weight_layer_path_lengths(graph: nx.MultiDiGraph) -> tuple[int, int]:
    """Fewest and most weight layers (convolutions, linear) on any input-to-output path.

    Skip connections shorten the shortest path; the longest is the network's
    depth in the usual sense (18 for ResNet-18).

    >>> from aggspec import loads
    >>> g = loads("network T(input 4x8x8) { residual { conv(4, 3) conv(4, 3) } }").graph
    >>> weight_layer_path_lengths(g)
    (0, 2)
    """
    shortest: dict[str, float] = {}
    longest: dict[str, float] = {}
    for node, data in graph.nodes(data=True):  # the IR's node order is topological
        weight = 1 if data["kind"] == "op" and OPS[data["op"]].weight_layer else 0
        preds = list(graph.predecessors(node))
        if data["kind"] == "input":
            shortest[node] = longest[node] = 0
        elif preds:
            shortest[node] = min(shortest[p] for p in preds) + weight
            longest[node] = max(longest[p] for p in preds) + weight
    output = graph.graph["output"]
    return int(shortest[output]), int(longest[output])


def stage_fan_in(stage: StageInfo) -> list[int]:
    """How many outputs each layer 1..L of the stage aggregates.

    >>> from aggspec import loads
    >>> (stage,) = loads("network T(input 4x8x8) { stage 8 * relu { take exponential } }").stages
    >>> stage_fan_in(stage)
    [1, 2, 2, 3, 3, 3, 3, 4]
    """
    return [len(take) for take in stage.takes]
