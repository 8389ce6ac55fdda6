"""The peak of a training step, by walking the IR forward and then backward as autograd does.

Summing everything a step ever holds (parameters, gradients, momentum, the
saved activations, a transient) overestimates the peak: by the time the
backward pass has made a layer's weight gradients, it has already freed what
the layers after it kept. So the peak is found by replaying the step on the
IR, one node at a time, and keeping the running total of live bytes:

* resident throughout: parameters, momentum buffers, the input batch;
* forward, node by node in topological order: each value lives from the
  node that makes it until its last reader has run, unless the backward
  pass keeps it (``Saved.keepers``); what is kept accumulates;
* backward, in reverse order: a node needs its output's gradient; it makes
  its inputs' gradients (one buffer per value, accumulated in place as
  further readers add to it; a value that aliases its input, such as
  ``flatten``, aliases its gradient too) and its weight gradients; then its
  output's gradient and whatever only it kept are freed. A recomputed
  segment (memory-efficient mode) runs as one unit at its last node, its
  inner values alive again while it runs;
* the optimiser's step ends it, with every weight gradient alive.

What it leaves out, and why it is an estimate: kernels' scratch space (cuDNN
workspaces, batch norm's temporaries) and the allocator's rounding. Measured
against real steps in ``benchmarks/training_memory.py``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import networkx as nx

from aggspec.ir import inputs_of
from aggspec.ir.merges import MERGES
from aggspec.ir.ops import OPS

__all__ = ["step_peak", "storage_of"]

Storage = Hashable  # as in aggspec.analysis.training: a node's value, or a fold's partial result


def step_peak(
    graph: nx.MultiDiGraph,
    batch: int,
    kept: Mapping[Storage, str],
    keepers: Mapping[Storage, set[str]],
    extra: Mapping[str, int],
    parameter_bytes: Mapping[str, int],
    segments: Sequence[tuple[str, ...]] = (),
    bytes_per_element: int = 4,
    optimizer_buffers: int = 1,
) -> int:
    """The most bytes live at once in one training step.

    ``kept``, ``keepers`` and ``extra`` are what ``saved_storages`` returns
    (each kept storage with the node whose value it is, the nodes that keep
    it, and further bytes by node); ``parameter_bytes`` each node's weights;
    ``segments`` the recomputed nodes of memory-efficient mode, each in order.
    """
    order = list(graph.nodes)  # the order the model runs them (the IR keeps it, topological)
    size: dict[str, int] = {
        node: math.prod(graph.nodes[node]["shape"]) * batch * bytes_per_element for node in order
    }
    storage = {node: storage_of(graph, node) for node in order}
    inputs = {node: list(dict.fromkeys(inputs_of(graph, node))) for node in order}
    entry, exit_ = graph.graph["input"], graph.graph["output"]
    parameters = sum(parameter_bytes.values())
    resident = parameters * (1 + optimizer_buffers) + size[entry]
    held = {key: size[node] for key, node in kept.items() if key != storage[entry]}  # storage -> bytes
    kept_by: dict[str, list[Storage]] = {}
    for key, nodes in keepers.items():
        if key in held:
            for node in nodes:
                kept_by.setdefault(node, []).append(key)
    # A kept storage exists from the first node that makes or keeps it.
    born: dict[str, int] = {}
    seen: set[Storage] = set()
    for node in order:
        for key in (storage[node], *kept_by.get(node, ())):
            if key in held and key not in seen:
                seen.add(key)
                born[node] = born.get(node, 0) + held[key]

    # Forward: a value not kept lives until its storage's last reader has run.
    peak = resident
    so_far = loose = 0  # bytes kept so far; bytes of values not kept, still to be read
    readers_left: dict[Storage, int] = {}
    for node in order:
        for reader in graph.successors(node):
            if storage[reader] != storage[node]:
                readers_left[storage[node]] = readers_left.get(storage[node], 0) + 1
    for node in order:
        if node == entry:
            continue
        so_far += born.get(node, 0) + extra.get(node, 0)
        fresh = storage[node] == node and node not in held
        if fresh and readers_left.get(node, 0):
            loose += size[node]
        peak = max(
            peak, resident + so_far + loose + (size[node] if fresh and not readers_left.get(node) else 0)
        )
        for source in inputs[node]:
            key = storage[source]
            if key != storage[node] and key not in held and key != storage[entry] and readers_left.get(key):
                readers_left[key] -= 1
                if readers_left[key] == 0:
                    loose -= size[key]
    live_kept = sum(held.values()) + sum(extra.values())

    # Backward, in reverse: value gradients, weight gradients; a keeper's backward frees what only it kept.
    unit_of = {node: segment for segment in segments for node in segment}
    remaining = {key: len(keepers[key]) for key in held}
    gradients = _Gradients()
    gradients.new(exit_, size[exit_])
    weight_grads = 0
    for node in reversed(order):
        segment = unit_of.get(node)
        if node == entry or (segment is not None and node != segment[-1]):
            continue  # a recomputed node is differentiated with its segment's last node
        members = segment or (node,)
        inside = set(members)
        head = graph.nodes[members[0]]
        passed = (  # flatten's input gradient is a view of its output's; a sum or concat passes it on
            OPS[head["op"]].aliases_input
            if head["kind"] == "op"
            else MERGES[head["op"]].gradient_passes_through
        )
        # A concat hands its inputs slices of its gradient, one buffer that lives until the last
        # slice is gone. A sum's gradient passes on whole: the compiler folds a stage's sums into
        # one running sum, whose gradient the first input carries and the others share.
        slices = head["kind"] == "merge" and not MERGES[head["op"]].elementwise
        merged_buffer: int | None = None  # a recomputed concat's input gradients: slices of one buffer
        first = True
        for source in dict.fromkeys(s for m in members for s in inputs[m] if s not in inside):
            if source == entry:
                continue  # the batch needs no gradient
            if gradients.has(source):  # a second reader adds into the first's gradient
                if slices:
                    gradients.add_to(source, size[source])  # out of place, when the first was a slice
            elif passed and len(members) == 1 and (head["kind"] == "merge" or size[source] == size[node]):
                if slices:
                    gradients.share(source, node, size[source])
                elif first:
                    gradients.move(source, node)  # a view of a whole value (flatten), or a sum's
                else:
                    gradients.new(source, 0)
                first = False
            elif passed and slices:
                if merged_buffer is None:
                    merged_buffer = gradients.buffer(size[members[0]])
                gradients.view(source, merged_buffer)
            else:  # anything else is a new buffer (a slice's input gradient is zeros but for the slice)
                gradients.new(source, size[source])
        # A segment differentiates its recomputed values one by one: two gradients in flight.
        in_flight = 2 * max((size[member] for member in members[:-1]), default=0)
        weight_grads += sum(parameter_bytes.get(member, 0) for member in members)
        recomputed = sum(size[member] for member in members[:-1])
        peak = max(peak, resident + weight_grads + live_kept + gradients.total + recomputed + in_flight)
        for member in members:
            gradients.drop(member)
            live_kept -= extra.get(member, 0)
            for key in kept_by.get(member, ()):
                remaining[key] -= 1
                if remaining[key] == 0:
                    live_kept -= held[key]
    return max(peak, resident + parameters)  # the optimiser's step: every weight gradient at once


class _Gradients:
    """The backward pass's value gradients: buffers, and which node's gradient refers to which.

    A gradient is its own buffer or a view of a shared one: a concat hands each
    input a slice of its output's gradient, and a recomputed segment its
    inputs slices of the concat's gradient. A buffer is freed when the last
    gradient referring to it is; a second reader's contribution is added in
    place into a buffer of its own, but autograd adds out of place to a slice,
    which makes a new buffer.
    """

    def __init__(self) -> None:
        self.total = 0  # bytes of live buffers
        self._buffers: dict[int, list[int]] = {}  # id -> [bytes, references]
        self._of: dict[str, tuple[int, bool]] = {}  # node -> (buffer, whether a view or alias)
        self._next = 0

    def has(self, node: str) -> bool:
        return node in self._of

    def buffer(self, size: int) -> int:
        self.total += size
        self._next += 1
        self._buffers[self._next] = [size, 0]
        return self._next

    def new(self, node: str, size: int) -> None:
        self._refer(node, self.buffer(size), shared=False)

    def view(self, node: str, buffer: int) -> None:
        self._refer(node, buffer, shared=True)

    def share(self, node: str, owner: str, size: int) -> None:
        if owner in self._of:
            self._refer(node, self._of[owner][0], shared=True)
        else:  # (the owner has no gradient: nothing to share)
            self.new(node, size)

    def move(self, node: str, owner: str) -> None:
        """``node``'s gradient is the owner's buffer, which the owner no longer holds."""
        if owner not in self._of:
            self.new(node, 0)
            return
        buffer, shared = self._of.pop(owner)
        self._of[node] = (buffer, shared)

    def add_to(self, node: str, size: int) -> None:
        buffer, shared = self._of[node]
        if shared or self._buffers[buffer][1] > 1:
            self.drop(node)
            self.new(node, size)

    def drop(self, node: str) -> None:
        if node not in self._of:
            return
        buffer, _ = self._of.pop(node)
        entry = self._buffers[buffer]
        entry[1] -= 1
        if entry[1] == 0:
            self.total -= entry[0]
            del self._buffers[buffer]

    def _refer(self, node: str, buffer: int, *, shared: bool) -> None:
        self._of[node] = (buffer, shared)
        self._buffers[buffer][1] += 1


def storage_of(graph: nx.MultiDiGraph, node: str) -> str:
    """The node whose output ``node``'s value lives in (itself unless its op aliases its input)."""
    while True:
        data = graph.nodes[node]
        if data["kind"] != "op" or not OPS[data["op"]].aliases_input:
            return node
        (node,) = inputs_of(graph, node)
