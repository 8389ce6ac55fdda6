"""Training memory, predicted from the IR: what one SGD step holds, per stage and in total.

A training step holds the parameters, their gradients, the optimiser's state
(SGD with momentum: one buffer per parameter), and, between the forward and
the backward pass, what autograd keeps to compute gradients. That last part
dominates deep networks and is what aggregation changes: a DenseNet layer's
concatenation is kept by its batch norm, and its ReLU's output by the
convolution after it (one tensor, counted once).

What each op keeps is its registry entry's ``saves`` (its input, its output
or nothing) and ``saves_extra`` (batch norm's statistics, max pooling's
indices); a merge keeps its inputs if its entry says ``saves_inputs``
(a maximum, a learned-gate product), and nothing otherwise (sums and
concatenations need only sizes). Values are counted once per storage: an op
whose output is a view of its input (``aliases_input``: flatten) adds none.
``tests/analysis/test_training.py`` checks the prediction against the bytes
autograd actually saves (counted with saved-tensor hooks) for every example.

The peak is then estimated as all of the above plus the largest transient:
twice the largest single value (one being computed, one gradient of its
size) and, in memory-efficient mode, the values of the largest segment
being recomputed; measured on the CPU, the step's peak is 1.07-1.15x over
(default) and 1.06-1.21x over (memory-efficient).

With ``memory_efficient``, the segments the memory-efficient pass recomputes
(``segments``, mirroring ``pytorch/passes/memory_efficient.py`` on the IR,
down to the compiler's sharing of partial sums) keep their inputs and
nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import networkx as nx

from aggspec.analysis.counts import node_parameters
from aggspec.analysis.step_peak import step_peak, storage_of
from aggspec.ir import inputs_of
from aggspec.ir.merges import MERGES
from aggspec.ir.ops import OPS, RECOMPUTED_FAMILIES, SEGMENT_ENDS

__all__ = ["Segment", "TrainingMemory", "merges_by_inputs", "saved_storages", "segments", "training_memory"]

OUTSIDE_STAGES = "(outside stages)"


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes one training step holds at batch ``batch`` (fp32), by kind and, for activations, by stage."""

    batch: int
    parameters: int
    gradients: int
    optimizer: int
    saved: int  # activations autograd keeps for the backward pass, the input batch included
    peak: int  # the most bytes live at once, replaying the step (aggspec.analysis.step_peak)
    saved_by_stage: dict[str, int] = field(default_factory=dict)
    memory_efficient: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "batch": self.batch,
            "memory_efficient": self.memory_efficient,
            "parameters": self.parameters,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "saved": self.saved,
            "peak": self.peak,
            "saved_by_stage": dict(self.saved_by_stage),
        }


Storage = Hashable  # an IR node (its output), or a fold's partial result: ("partial", merge, inputs)


def merges_by_inputs(graph: nx.MultiDiGraph) -> dict[tuple[str, tuple[str, ...]], str]:
    """Every merge node by its kind and inputs: how the compiler finds a fold it can share."""
    return {
        (data["op"], tuple(inputs_of(graph, node))): node
        for node, data in graph.nodes(data=True)
        if data["kind"] == "merge"
    }


def saved_storages(
    graph: nx.MultiDiGraph,
    batch: int,
    merged: dict[tuple[str, tuple[str, ...]], str],
    recomputed: Sequence[Segment] = (),
) -> tuple[dict[Storage, str], dict[Storage, set[str]], dict[str, int]]:
    """What autograd keeps: each storage with the IR node it belongs to, who keeps it, and further bytes.

    Returns ``kept`` (storage -> the node whose value it is), ``keepers``
    (storage -> the nodes whose backward needs it) and ``extra`` (node -> the
    further bytes its backward needs: batch norm's statistics, pooling's
    indices). ``merged`` is ``merges_by_inputs(graph)``; the ``recomputed``
    segments (memory-efficient mode) keep their inputs, for their last node's
    backward, instead of what their ops keep.

    A merge that folds its inputs pairwise and keeps them (``saves_partials``:
    a maximum) also keeps each partial result. The compiler shares a partial
    with every merge of the same kind whose inputs begin the same way, and it
    is the output of a merge whose inputs are exactly that prefix: so it is
    keyed by the prefix, and is that merge's node when there is one.
    """
    kept: dict[Storage, str] = {}
    keepers: dict[Storage, set[str]] = {}
    extra: dict[str, int] = {}

    def keep(storage: Storage, node: str, keeper: str) -> None:
        kept[storage] = node
        keepers.setdefault(storage, set()).add(keeper)

    inside: set[str] = set()
    for segment in recomputed:
        inside.update(segment.nodes)
        for storage, node in segment.inputs.items():
            keep(storage, node, segment.nodes[-1])
    for node, data in graph.nodes(data=True):
        if node in inside:
            continue
        if data["kind"] == "op":
            op = OPS[data["op"]]
            (source,) = inputs_of(graph, node)
            if op.saves == "input":
                storage = storage_of(graph, source)
                keep(storage, storage, node)
            elif op.saves == "output":
                storage = storage_of(graph, node)
                keep(storage, storage, node)
            more = op.saves_extra(
                tuple(graph.nodes[source]["shape"]), tuple(data["shape"]), batch, data["args"]
            )
            if more:
                extra[node] = more
        elif data["kind"] == "merge":
            merge, sources = MERGES[data["op"]], tuple(inputs_of(graph, node))
            if merge.saves_inputs:
                for source in sources:
                    storage = storage_of(graph, source)
                    keep(storage, storage, node)
            if merge.saves_partials:
                for end in range(2, len(sources)):
                    owner = merged.get((data["op"], sources[:end]))
                    key: Storage = owner if owner is not None else ("partial", data["op"], sources[:end])
                    keep(key, node if owner is None else owner, node)
    return kept, keepers, extra


@dataclass(frozen=True)
class Segment:
    """What the memory-efficient pass recomputes: its IR nodes, and the storages it keeps (its inputs)."""

    nodes: tuple[str, ...]
    inputs: dict[Storage, str]


# What ``pytorch/passes/memory_efficient.py`` recomputes, mirrored on the IR:
# ``RECOMPUTED_FAMILIES`` ops before one of ``SEGMENT_ENDS``, and the merge
# before them when the compiler gives it no other reader.


def segments(graph: nx.MultiDiGraph, merged: dict[tuple[str, tuple[str, ...]], str]) -> list[Segment]:
    """The segments the memory-efficient pass makes of ``graph`` (``merged``: merge nodes by inputs)."""
    found = []
    for anchor, data in graph.nodes(data=True):
        if data["kind"] != "op" or data["op"] not in SEGMENT_ENDS:
            continue
        chain: list[str] = []
        reader, (value,) = anchor, inputs_of(graph, anchor)
        while _pointwise(graph, value, reader):
            chain.append(value)
            reader, (value,) = value, inputs_of(graph, value)
        if not chain:
            continue
        head, inputs = _segment_merge(graph, value, reader, merged)
        nodes = (*head, *chain, anchor)
        found.append(Segment(nodes, inputs))
    return found


def _pointwise(graph: nx.MultiDiGraph, node: str, reader: str) -> bool:
    data = graph.nodes[node]
    return (
        data["kind"] == "op"
        and OPS[data["op"]].family in RECOMPUTED_FAMILIES
        and set(graph.successors(node)) == {reader}
    )


def _segment_merge(
    graph: nx.MultiDiGraph, value: str, reader: str, merged: dict[tuple[str, tuple[str, ...]], str]
) -> tuple[tuple[str, ...], dict[Storage, str]]:
    """The merge a segment recomputes (if any) and the storages the segment keeps as its inputs."""
    data = graph.nodes[value]
    alone = set(graph.successors(value)) == {reader}
    if data["kind"] == "merge" and alone:
        sources = tuple(inputs_of(graph, value))
        shared = [  # merges of the same kind whose inputs extend a prefix of these: they share its fold
            inputs for (op, inputs) in merged if op == data["op"] and inputs != sources
        ]
        if data["op"] in ("concat", "weighted") or (
            data["op"] == "sum" and not any(inputs[: len(sources)] == sources for inputs in shared)
        ):
            prefix = 0  # the longest prefix of the inputs another sum folds too: it stays a value
            if data["op"] == "sum":
                prefix = next(
                    (end for end in range(len(sources) - 1, 1, -1)
                     if any(inputs[:end] == sources[:end] for inputs in shared)),
                    0,
                )  # fmt: skip
            kept: dict[Storage, str] = {}
            if prefix:
                owner = merged.get(("sum", sources[:prefix]))
                kept[owner if owner is not None else ("partial", "sum", sources[:prefix])] = owner or value
            for source in sources[prefix:]:
                storage = storage_of(graph, source)
                kept[storage] = storage
            return (value,), kept
    storage = storage_of(graph, value)
    return (), {storage: storage}


def training_memory(
    graph: nx.MultiDiGraph,
    batch: int,
    bytes_per_element: int = 4,
    optimizer_buffers: int = 1,
    memory_efficient: bool = False,
) -> TrainingMemory:
    """What a training step at ``batch`` holds (``optimizer_buffers`` per parameter: 1 for SGD momentum).

    >>> from aggspec import loads
    >>> memory = training_memory(loads("network T(input 3x8x8) { conv(4, 3) bn relu }").graph, batch=2)
    >>> memory.saved  # conv: the input batch; bn: the conv's output and 2 x 4 statistics; relu: its output
    5664
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    merged = merges_by_inputs(graph)
    found = segments(graph, merged) if memory_efficient else []
    kept, keepers, extra = saved_storages(graph, batch, merged, found)
    by_stage: dict[str, int] = {}
    for node in kept.values():
        data = graph.nodes[node]
        size = math.prod(data["shape"]) * batch * bytes_per_element
        stage = data.get("stage") or OUTSIDE_STAGES
        by_stage[stage] = by_stage.get(stage, 0) + size
    weights = {node: node_parameters(graph, node) * bytes_per_element for node in graph}
    parameters = sum(weights.values())
    peak = step_peak(
        graph,
        batch,
        kept,
        keepers,
        extra,
        weights,
        [s.nodes for s in found],
        bytes_per_element,
        optimizer_buffers,
    )
    return TrainingMemory(
        batch=batch,
        parameters=parameters,
        gradients=parameters,
        optimizer=parameters * optimizer_buffers,
        saved=sum(by_stage.values()) + sum(extra.values()),
        peak=peak,
        saved_by_stage=by_stage,
        memory_efficient=memory_efficient,
    )
