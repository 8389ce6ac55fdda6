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
size), an upper-bound style guess that the measured figures in
``benchmarks/results.md`` put in context. Memory-efficient mode is not
modelled yet.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field

import networkx as nx

from aggspec.analysis.counts import node_parameters
from aggspec.ir import inputs_of
from aggspec.ir.merges import MERGES
from aggspec.ir.ops import OPS

__all__ = ["TrainingMemory", "saved_storages", "training_memory"]

OUTSIDE_STAGES = "(outside stages)"


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes one training step holds at batch ``batch`` (fp32), by kind and, for activations, by stage."""

    batch: int
    parameters: int
    gradients: int
    optimizer: int
    saved: int  # activations autograd keeps for the backward pass, the input batch included
    transient: int
    saved_by_stage: dict[str, int] = field(default_factory=dict)

    @property
    def peak(self) -> int:
        """The estimated peak: everything held at once."""
        return self.parameters + self.gradients + self.optimizer + self.saved + self.transient

    def to_dict(self) -> dict[str, object]:
        return {
            "batch": self.batch,
            "parameters": self.parameters,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "saved": self.saved,
            "transient": self.transient,
            "peak": self.peak,
            "saved_by_stage": dict(self.saved_by_stage),
        }


def _storage(graph: nx.MultiDiGraph, node: str) -> str:
    """The node whose output ``node``'s value lives in (itself unless its op aliases its input)."""
    while True:
        data = graph.nodes[node]
        if data["kind"] != "op" or not OPS[data["op"]].aliases_input:
            return node
        (node,) = inputs_of(graph, node)


Storage = Hashable  # an IR node (its output), or a fold's partial result: ("partial", merge, inputs)


def saved_storages(graph: nx.MultiDiGraph, batch: int) -> tuple[dict[Storage, str], int]:
    """What autograd keeps: each storage with the IR node it belongs to, and the further bytes it keeps.

    A merge that folds its inputs pairwise and keeps them (``saves_partials``:
    a maximum) also keeps each partial result. The compiler shares a partial
    with every merge of the same kind whose inputs begin the same way, and it
    is the output of a merge whose inputs are exactly that prefix: so it is
    keyed by the prefix, and is that merge's node when there is one.
    """
    kept: dict[Storage, str] = {}
    extra = 0
    merged = {
        (data["op"], tuple(inputs_of(graph, node))): node
        for node, data in graph.nodes(data=True)
        if data["kind"] == "merge"
    }
    for node, data in graph.nodes(data=True):
        if data["kind"] == "op":
            op = OPS[data["op"]]
            (source,) = inputs_of(graph, node)
            if op.saves == "input":
                storage = _storage(graph, source)
                kept[storage] = storage
            elif op.saves == "output":
                storage = _storage(graph, node)
                kept[storage] = storage
            extra += op.saves_extra(tuple(graph.nodes[source]["shape"]), tuple(data["shape"]), batch)
        elif data["kind"] == "merge":
            merge, sources = MERGES[data["op"]], tuple(inputs_of(graph, node))
            if merge.saves_inputs:
                kept.update((_storage(graph, s), _storage(graph, s)) for s in sources)
            if merge.saves_partials:
                for end in range(2, len(sources)):
                    owner = merged.get((data["op"], sources[:end]))
                    key: Storage = owner if owner is not None else ("partial", data["op"], sources[:end])
                    kept[key] = node if owner is None else owner
    return kept, extra


def training_memory(
    graph: nx.MultiDiGraph, batch: int, bytes_per_element: int = 4, optimizer_buffers: int = 1
) -> TrainingMemory:
    """What a training step at ``batch`` holds (``optimizer_buffers`` per parameter: 1 for SGD momentum).

    >>> from aggspec import loads
    >>> memory = training_memory(loads("network T(input 3x8x8) { conv(4, 3) bn relu }").graph, batch=2)
    >>> memory.saved  # conv: the input batch; bn: the conv's output and 2 x 4 statistics; relu: its output
    5664
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    kept, extra = saved_storages(graph, batch)
    by_stage: dict[str, int] = {}
    for node in kept.values():
        data = graph.nodes[node]
        size = math.prod(data["shape"]) * batch * bytes_per_element
        stage = data.get("stage") or OUTSIDE_STAGES
        by_stage[stage] = by_stage.get(stage, 0) + size
    parameters = sum(node_parameters(graph, node) for node in graph) * bytes_per_element
    largest = max(math.prod(data["shape"]) for _, data in graph.nodes(data=True))
    return TrainingMemory(
        batch=batch,
        parameters=parameters,
        gradients=parameters,
        optimizer=parameters * optimizer_buffers,
        saved=sum(by_stage.values()) + extra,
        transient=2 * largest * batch * bytes_per_element,
        saved_by_stage=by_stage,
    )
