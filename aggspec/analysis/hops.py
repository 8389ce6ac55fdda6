"""Hops within a stage: shortest paths between its outputs, over all pairs.

A stage's layer graph has the outputs 0..L as nodes and an edge j -> l for
each output j that layer l takes. ``stage_hops`` summarises the shortest paths
i -> j over all pairs i < j: by the proven closed form a take rule declares
(``TakeRule.closed_form_hops``: chain, dense, exponential, offsets with 1), by
breadth-first search in C (scipy) for the rest. A stage that reaches
``across`` earlier stages is measured over their outputs and its own, in its
global indices, by search. Pure functions of a ``StageInfo`` (and, for such a
stage, of the stages it reaches and the IR).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from aggspec.ir import StageInfo
from aggspec.ir.rules import HopsOfGap

__all__ = ["HopStats", "closed_form_hops", "layer_edges", "stage_hops", "stage_layer_graph"]


def layer_edges(
    stage: StageInfo, stages: Sequence[StageInfo] = (), graph: nx.MultiDiGraph | None = None
) -> tuple[int, np.ndarray, np.ndarray]:
    """The stage's layer graph as (number of outputs, sources, targets), in its own indices.

    For a stage that reaches ``across`` earlier ones (``stages`` must then hold
    them), the outputs are all of theirs and its own, globally indexed, and the
    edges are every one of their connections as well as its own; where one
    block's input is computed from the block before it (``graph``, the IR,
    says whether: a transition between them), the outputs that block emits
    lead to it in one hop, as the transition is one layer of the global index.

    >>> from aggspec import loads
    >>> (stage,) = loads("network T(input 4x8x8) { stage 2 * relu { take dense } }").stages
    >>> layer_edges(stage)
    (3, array([0, 0, 1]), array([1, 2, 2]))
    """
    n = stage.offset + stage.length + 1
    sources = [j for take in stage.takes for j in take]
    targets = [stage.offset + l for l, take in enumerate(stage.takes, start=1) for _ in take]
    if stage.offset:
        by_name = {s.name: s for s in stages}
        position: dict[str, int] = {}
        for index, node in enumerate(stage.outputs):
            position.setdefault(node, index)
        blocks = [by_name[name] for name in stage.across]
        starts = np.cumsum([0] + [b.length + 1 for b in blocks]).tolist()

        def here(block: StageInfo, first: int, j: int) -> int | None:
            """Index j of ``block`` (whose own x_0 sits at ``first`` here) as an index of this stage."""
            return j - block.offset + first if j >= block.offset else position.get(block.outputs[j])

        for block, first in zip(blocks, starts, strict=False):  # each block's own connections
            for l, take in enumerate(block.takes, start=1):
                for j in take:
                    source = here(block, first, j)
                    if source is not None:
                        sources.append(source)
                        targets.append(first + l)
        for (before, first), begins in zip(zip(blocks, starts, strict=False), starts[1:], strict=False):
            # begins: where the next block (or this stage) starts; is it computed from this one's output?
            after = stage.outputs[begins]
            if after == before.output or (graph is not None and nx.has_path(graph, before.output, after)):
                for j in before.emits:
                    source = here(before, first, j)
                    if source is not None:
                        sources.append(source)
                        targets.append(begins)
        # A block that follows the one before it directly starts with that one's output:
        # one value at two indices. Count each value once.
        canonical = [position[node] for node in stage.outputs]
        kept = {old: new for new, old in enumerate(sorted(set(canonical)))}
        pairs = {(kept[canonical[a]], kept[canonical[b]]) for a, b in zip(sources, targets, strict=True)}
        edges = sorted((a, b) for a, b in pairs if a != b)
        n = len(kept)
        sources, targets = [a for a, _ in edges], [b for _, b in edges]
    return n, np.asarray(sources, dtype=np.int64), np.asarray(targets, dtype=np.int64)


def stage_layer_graph(
    stage: StageInfo, stages: Sequence[StageInfo] = (), graph: nx.MultiDiGraph | None = None
) -> nx.DiGraph:
    """The stage's layer graph: outputs 0..L as nodes, an edge j -> l for each j layer l takes.

    A stage that reaches ``across`` earlier ones has theirs too (``layer_edges``).

    >>> from aggspec import loads
    >>> (stage,) = loads("network T(input 4x8x8) { stage 3 * relu { take dense } }").stages
    >>> sorted(stage_layer_graph(stage).edges())
    [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    """
    n, sources, targets = layer_edges(stage, stages, graph)
    layer_graph = nx.DiGraph()
    layer_graph.add_nodes_from(range(n))
    layer_graph.add_edges_from(zip(sources.tolist(), targets.tolist(), strict=True))
    return layer_graph


@dataclass(frozen=True)
class HopStats:
    """Shortest-path hops between the outputs of a stage, over all pairs i < j."""

    max_hops: int
    mean_hops: float
    pairs: int  # pairs i < j with a path from i to j
    unreachable_pairs: int  # pairs i < j with none (possible with where and random rules)
    # None: every output was searched from. Else the number of evenly spaced
    # outputs searched from (a stage too large to search whole): the figures
    # are then over their pairs only, an estimate.
    sampled_sources: int | None = None


_CHUNK_BYTES = 64 * 2**20  # bound on the distance block computed at once
# Searched sources x (outputs + connections): a few seconds of breadth-first search on this 2-core machine.
SEARCH_BUDGET = 4 * 10**8


def _distance_counts(distance_of_gap: np.ndarray, L: int) -> HopStats:
    """Hop statistics when the hops from i to j depend only on d = j - i (d = 1..L).

    There are L + 1 - d pairs at gap d, so everything is a weighted sum over d.
    """
    gaps = np.arange(1, L + 1, dtype=np.int64)
    weights = L + 1 - gaps
    pairs = L * (L + 1) // 2
    total = float(np.dot(weights, distance_of_gap))
    return HopStats(int(distance_of_gap.max()) if L else 0, total / pairs if pairs else 0.0, pairs, 0)


def closed_form_hops(stage: StageInfo) -> HopsOfGap | None:
    """The stage's hops as a function of the gap, if its take rule declares a proven one.

    Parameters
    ----------
    stage : StageInfo
        The stage; its ``take_rule`` is asked, never its display string, so a
        ``where`` condition that happens to select the exponential connections
        gets no closed form.

    Returns
    -------
    callable or None
        d -> hops from output i to output i + d, or None when the hops must be
        searched.

    >>> from aggspec import loads
    >>> (stage,) = loads("network T(input 4x8x8) { stage 4 * relu { take exponential } }").stages
    >>> [closed_form_hops(stage)(d) for d in range(1, 5)]  # popcount(d)
    [1, 1, 2, 1]
    """
    if stage.offset:  # the closed forms are of one stage's rule; across stages, search
        return None
    found: HopsOfGap | None = stage.take_rule.closed_form_hops()
    return found


def stage_hops(
    stage: StageInfo,
    closed_form: bool = True,
    search_budget: int = SEARCH_BUDGET,
    *,
    stages: Sequence[StageInfo] = (),
    graph: nx.MultiDiGraph | None = None,
) -> HopStats:
    """Hop statistics of the stage's layer graph (see ``stage_layer_graph``).

    Parameters
    ----------
    stage : StageInfo
        The stage to measure.
    closed_form : bool
        Use the take rule's closed form when it declares one
        (``TakeRule.closed_form_hops``: ``chain``, ``dense``,
        ``exponential`` of any base, and ``offsets`` that include 1), which
        takes O(L) (O(L x offsets) for offsets). Otherwise, or when False:
        breadth-first search from every output, in C (scipy), a block of
        sources at a time so a 10,000-layer stage needs no 10,000 x 10,000
        matrix. Both give equal results (the tests check).
    search_budget : int
        The most (sources searched) x (outputs + connections) to spend on a
        search; a larger stage is searched from evenly spaced outputs and its
        ``HopStats.sampled_sources`` says how many.
    stages, graph
        For a stage with an ``across`` clause: the network's stages and its IR
        (see ``layer_edges``).

    Returns
    -------
    HopStats

    >>> from aggspec import loads
    >>> (stage,) = loads("network T(input 4x8x8) { stage 4 * relu { take chain } }").stages
    >>> stage_hops(stage)
    HopStats(max_hops=4, mean_hops=2.0, pairs=10, unreachable_pairs=0, sampled_sources=None)
    """
    hops_of_gap = closed_form_hops(stage) if closed_form else None
    if hops_of_gap is not None:
        L = stage.length
        distances = np.fromiter(map(hops_of_gap, range(1, L + 1)), dtype=np.int64, count=L)
        return _distance_counts(distances, L)
    n, sources, targets = layer_edges(stage, stages, graph)
    adjacency = csr_matrix((np.ones(len(sources)), (sources, targets)), shape=(n, n))
    # Every output is a source when the search fits the budget; beyond it, evenly
    # spaced ones (the first and last included), and the figures say so.
    searched = min(n, max(2, search_budget // (n + len(sources))))
    starts = np.unique(np.linspace(0, n - 1, searched).round().astype(np.int64)) if searched < n else None
    rows_of = np.arange(n, dtype=np.int64) if starts is None else starts
    chunk = max(1, _CHUNK_BYTES // (8 * n))
    columns = np.arange(n, dtype=np.int64)
    total, pairs, longest, asked = 0.0, 0, 0, 0
    for begin in range(0, len(rows_of), chunk):
        rows = rows_of[begin : begin + chunk]
        distances = shortest_path(adjacency, method="D", unweighted=True, indices=rows)
        later = columns[None, :] > rows[:, None]  # row r: the outputs after its source
        asked += int(later.sum())
        reachable = later & np.isfinite(distances)
        if reachable.any():
            found = distances[reachable]
            total += float(found.sum())
            pairs += int(reachable.sum())
            longest = max(longest, int(found.max()))
    sampled = None if starts is None else len(starts)
    return HopStats(longest, total / pairs if pairs else 0.0, pairs, asked - pairs, sampled)
