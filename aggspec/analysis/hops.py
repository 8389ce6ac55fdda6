"""Hops within a stage: shortest paths between its outputs, over all pairs.

A stage's layer graph has the outputs 0..L as nodes and an edge j -> l for
each output j that layer l takes. ``stage_hops`` summarises the shortest paths
i -> j over all pairs i < j: by proven closed forms for the classic rules, by
breadth-first search in C (scipy) for the rest. Pure functions of a
``StageInfo``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from aggspec.ir import StageInfo

__all__ = ["CLOSED_FORM_HOPS", "HopStats", "stage_hops", "stage_layer_graph"]


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
