"""Pure functions of the IR: numbers about a network.

Every function takes the IR graph first and does not modify it.
"""

from __future__ import annotations

import networkx as nx

from aggspec.merges import MERGES
from aggspec.ops import OPS

__all__ = ["node_parameters", "parameter_count"]


def node_parameters(graph: nx.DiGraph, node: str) -> int:
    """Learned parameters owned by one IR node (0 for the input and parameter-free ops).

    >>> from aggspec import loads
    >>> g = loads("network T(input 3x8x8) { conv(4, 3) bn }").graph
    >>> node_parameters(g, "conv1"), node_parameters(g, "bn1")
    (108, 8)
    """
    data = graph.nodes[node]
    if data["kind"] == "op":
        (source,) = graph.predecessors(node)
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
