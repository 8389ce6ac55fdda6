"""Pure functions of the IR: the numbers behind ``aggspec analyze``.

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
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from aggspec.ir import StageInfo, inputs_of
from aggspec.merges import MERGES
from aggspec.ops import OPS

__all__ = [
    "CLOSED_FORM_HOPS",
    "HopStats",
    "activation_bytes",
    "mac_count",
    "node_macs",
    "node_parameters",
    "parameter_count",
    "stage_fan_in",
    "stage_hops",
    "stage_layer_graph",
    "weight_layer_path_lengths",
]

WEIGHT_FAMILIES = frozenset({"conv", "linear"})  # what "layer hops" along a path count


def node_parameters(graph: nx.DiGraph, node: str) -> int:
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


def parameter_count(graph: nx.DiGraph) -> int:
    """Total learned parameters of the network, computed from the IR alone.

    >>> from aggspec import loads
    >>> parameter_count(loads("network T(input 3x8x8) { conv(4, 3) gap flatten linear(2) }").graph)
    118
    """
    return sum(node_parameters(graph, node) for node in graph)


def node_macs(graph: nx.DiGraph, node: str) -> int:
    """Multiply-accumulates per sample of one IR node (convolutions and linear layers only).

    >>> from aggspec import loads
    >>> g = loads("network T(input 3x8x8) { conv(4, 3) relu }").graph
    >>> node_macs(g, "conv1"), node_macs(g, "relu1")
    (6912, 0)
    """
    data = graph.nodes[node]
    if data["kind"] != "op":
        return 0
    (source,) = inputs_of(graph, node)
    return OPS[data["op"]].count_macs(graph.nodes[source]["shape"], data["shape"], data["args"])


def mac_count(graph: nx.DiGraph) -> int:
    """Multiply-accumulates per sample of the whole network.

    >>> from aggspec import loads
    >>> mac_count(loads("network T(input 3x8x8) { conv(4, 3) gap flatten linear(2) }").graph)
    6920
    """
    return sum(node_macs(graph, node) for node in graph)


def activation_bytes(graph: nx.DiGraph, bytes_per_element: int = 4) -> int:
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


def weight_layer_path_lengths(graph: nx.DiGraph) -> tuple[int, int]:
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
        weight = 1 if data["kind"] == "op" and OPS[data["op"]].family in WEIGHT_FAMILIES else 0
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


def stage_layer_graph(stage: StageInfo) -> nx.DiGraph:
    """The stage's layer graph: outputs 0..L as nodes, an edge j -> l for each j layer l takes.

    >>> from aggspec import loads
    >>> (stage,) = loads("network T(input 4x8x8) { stage 3 * relu { take dense } }").stages
    >>> sorted(stage_layer_graph(stage).edges())
    [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    """
    layer_graph = nx.DiGraph()
    layer_graph.add_nodes_from(range(stage.length + 1))
    for target, take in enumerate(stage.takes, start=1):
        layer_graph.add_edges_from((source, target) for source in take)
    return layer_graph


@dataclass(frozen=True)
class HopStats:
    """Shortest-path hops between the outputs of a stage, over all pairs i < j."""

    max_hops: int
    mean_hops: float
    pairs: int  # pairs i < j with a path from i to j
    unreachable_pairs: int  # pairs i < j with none (possible with where and random rules)


_CHUNK_BYTES = 64 * 2**20  # bound on the distance block computed at once


def _distance_counts(distance_of_gap: np.ndarray, L: int) -> HopStats:
    """Hop statistics when the hops from i to j depend only on d = j - i (d = 1..L).

    There are L + 1 - d pairs at gap d, so everything is a weighted sum over d.
    """
    gaps = np.arange(1, L + 1, dtype=np.int64)
    weights = L + 1 - gaps
    pairs = L * (L + 1) // 2
    total = float(np.dot(weights, distance_of_gap))
    return HopStats(int(distance_of_gap.max()) if L else 0, total / pairs if pairs else 0.0, pairs, 0)


def _popcounts(gaps: np.ndarray) -> np.ndarray:
    counts = np.zeros_like(gaps)
    remaining = gaps.copy()
    while remaining.any():
        counts += remaining & 1
        remaining >>= 1
    return counts


# Rules whose hops have a proven closed form in the gap d = j - i (tested against
# breadth-first search in tests/test_analysis.py):
#   chain: only edges l-1 -> l, so d hops;
#   dense: an edge from every earlier output, so 1 hop;
#   exponential (base 2): edges j -> j + 2^k, and the fewest powers of two that
#     sum to d number popcount(d) (two equal powers can always merge into one).
CLOSED_FORM_HOPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "chain": lambda gaps: gaps,
    "dense": np.ones_like,
    "exponential": _popcounts,
}


def stage_hops(stage: StageInfo, closed_form: bool = True) -> HopStats:
    """Hop statistics of the stage's layer graph (see ``stage_layer_graph``).

    For ``chain``, ``dense`` and ``exponential`` the closed forms in
    ``CLOSED_FORM_HOPS`` give them in O(L). Otherwise (or with
    ``closed_form=False``): breadth-first search from every output, in C
    (scipy), a block of sources at a time so a 10,000-layer stage needs no
    10,000 x 10,000 matrix.

    >>> from aggspec import loads
    >>> (stage,) = loads("network T(input 4x8x8) { stage 4 * relu { take chain } }").stages
    >>> stage_hops(stage)
    HopStats(max_hops=4, mean_hops=2.0, pairs=10, unreachable_pairs=0)
    """
    if closed_form and stage.take in CLOSED_FORM_HOPS:
        gaps = np.arange(1, stage.length + 1, dtype=np.int64)
        return _distance_counts(CLOSED_FORM_HOPS[stage.take](gaps), stage.length)
    n = stage.length + 1
    sources = np.fromiter((j for take in stage.takes for j in take), dtype=np.int64)
    targets = np.repeat(np.arange(1, n, dtype=np.int64), [len(take) for take in stage.takes])
    adjacency = csr_matrix((np.ones(len(sources)), (sources, targets)), shape=(n, n))
    chunk = max(1, _CHUNK_BYTES // (8 * n))
    upper = np.triu(np.ones((chunk, n), dtype=bool), k=1)  # row r: targets after its source
    total, pairs, longest = 0.0, 0, 0
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        distances = shortest_path(adjacency, method="D", unweighted=True, indices=rows)
        later = np.zeros_like(distances, dtype=bool)
        later[:, start:] = upper[: len(rows), : n - start]
        reachable = later & np.isfinite(distances)
        if reachable.any():
            found = distances[reachable]
            total += float(found.sum())
            pairs += int(reachable.sum())
            longest = max(longest, int(found.max()))
    all_pairs = n * (n - 1) // 2
    return HopStats(longest, total / pairs if pairs else 0.0, pairs, all_pairs - pairs)
