"""The IR: a ``networkx.MultiDiGraph`` of op applications and merges.

This module is the one place the IR is defined. The elaborator builds it
(through ``IRBuilder``); analysis, drawing and compilation read it and never
mutate it.

Nodes
    Node ids are dotted, readable, stable names that say where a node comes
    from: ``conv1``, ``stage2.layer7.conv2``, ``stage2.layer7.concat1``,
    ``transition1.avgpool1``, ``stage3.layer1.shortcut1.conv1``. Attributes:

    ``kind``   ``"input"`` (the network input, exactly one), ``"op"`` or ``"merge"``.
    ``op``     the op name (a key of ``ops.OPS``), the merge name (a key of
               ``merges.MERGES``) or ``"input"``.
    ``args``   dict of the op's evaluated arguments, defaults filled in (empty
               for merges and the input).
    ``shape``  output shape without the batch: ``(C, H, W)`` or ``(F,)``.
    ``role``   why the node exists: ``"input"``, ``"op"`` (an op the spec
               wrote), ``"aggregate"`` (a stage layer's input merge),
               ``"emit"`` (a stage's output merge), ``"project"`` (a conv/bn
               inserted by ``project``), ``"join"``, ``"residual"`` or
               ``"graph"`` (merges of those constructs).
    ``stage``  the stage name (``"stage2"``) for nodes built by a stage, else None.
    ``layer``  the layer index 1..L within that stage, else None (the emit
               merge and projections of the stage input have None).
    ``span``   the ``syntax.Span`` of the .agg source that produced the node.

    ``graph.nodes`` iterates in a topological order: every node comes after
    its inputs (the order the spec applies its ops, which is also the order a
    compiled model registers its modules).

Edges
    One edge per data dependency, attribute ``index``: the position of the
    source among the target's inputs. For merges that is the merge order the
    language fixes (concat order); ops have a single input at index 0. A merge
    may take one value twice (``residual { }`` is x + x), hence a multigraph;
    use ``inputs_of`` for a node's inputs in order.

Graph attributes (``graph.graph``)
    ``name`` (network name), ``filename``, ``input`` (the input node id),
    ``output`` (the node id whose value the network returns), ``params``
    (the evaluated ``param`` values) and ``stages``: a list of ``StageInfo``,
    one per stage in order, recording each stage's connectivity exactly as the
    rules produced it (x_0 is the stage input, x_l the output of layer l).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from aggspec.errors import AggSpecError
from aggspec.ir.shapes import Shape
from aggspec.span import Span

__all__ = ["IRBuilder", "Limits", "StageInfo", "inputs_of", "validate"]


@dataclass(frozen=True)
class Limits:
    """Size limits checked while elaborating, before anything large is allocated.

    ``max_layers`` bounds the IR's nodes (op applications and merges),
    ``max_connections`` its edges, ``max_recursion`` nested definition calls
    and ``max_steps`` the statements elaboration may run (loops that build
    nothing still take time).
    """

    max_layers: int = 100_000
    max_connections: int = 10_000_000
    max_recursion: int = 64
    max_steps: int = 2_000_000


@dataclass(frozen=True)
class StageInfo:
    """One stage: L applications of a unit and who aggregates whom."""

    name: str
    length: int  # L
    unit: str  # e.g. "unit(24)"
    take: str  # e.g. "exponential"
    merge: str  # e.g. "concat", "sum(project) then relu"
    emit: str  # e.g. "exponential", "last"
    takes: tuple[tuple[int, ...], ...]  # takes[l - 1]: the outputs layer l aggregates, in order
    emits: tuple[int, ...]  # the outputs that leave the stage, in order
    outputs: tuple[str, ...]  # node ids of x_0 .. x_L
    output: str  # node id of the stage's result
    span: Span

    @property
    def connections(self) -> int:
        """Edges of the stage's layer graph: the total fan-in of its layers."""
        return sum(len(t) for t in self.takes)

    def __repr__(self) -> str:
        return (
            f"StageInfo({self.name}: {self.length} x {self.unit}, take {self.take}, "
            f"merge {self.merge}, emit {self.emit})"
        )


class IRBuilder:
    """Adds nodes and edges while enforcing ``Limits``; used only by the elaborator."""

    def __init__(self, limits: Limits) -> None:
        self.graph = nx.MultiDiGraph()
        self.limits = limits
        self.layers = 0
        self.connections = 0  # counted here: networkx's number_of_edges() walks every node

    def reserve(self, layers: int, span: Span) -> None:
        """Fail early if ``layers`` more nodes would exceed the limit."""
        if self.layers + layers > self.limits.max_layers:
            raise AggSpecError(
                f"network would have more than {self.limits.max_layers:,} layers "
                f"(raise the limit with --max-layers)",
                span,
            )

    def check_connections(self, extra: int, span: Span) -> None:
        if self.connections + extra > self.limits.max_connections:
            raise AggSpecError(
                f"network would have more than {self.limits.max_connections:,} connections "
                f"(raise the limit with --max-connections)",
                span,
            )

    def add_node(
        self,
        node_id: str,
        *,
        kind: str,
        op: str,
        shape: Shape,
        span: Span,
        role: str,
        args: dict[str, Any] | None = None,
        stage: str | None = None,
        layer: int | None = None,
        inputs: tuple[str, ...] = (),
    ) -> str:
        assert node_id not in self.graph, f"duplicate IR node {node_id}"
        if kind != "input":
            self.reserve(1, span)
            self.layers += 1
        self.check_connections(len(inputs), span)
        self.graph.add_node(
            node_id,
            kind=kind,
            op=op,
            args=dict(args or {}),
            shape=tuple(shape),
            role=role,
            stage=stage,
            layer=layer,
            span=span,
        )
        for index, source in enumerate(inputs):
            self.graph.add_edge(source, node_id, index=index)
        self.connections += len(inputs)
        return node_id


def inputs_of(graph: nx.MultiDiGraph, node: str) -> list[str]:
    """The node's inputs in merge order (by edge ``index``)."""
    edges = graph.in_edges(node, data="index")
    return [source for source, _, _ in sorted(edges, key=lambda edge: edge[2])]


def validate(graph: nx.MultiDiGraph) -> None:
    """Check the IR's invariants; a failure is a bug in aggspec, not in the spec."""
    assert nx.is_directed_acyclic_graph(graph), "IR has a cycle"
    inputs = [n for n, kind in graph.nodes(data="kind") if kind == "input"]
    assert inputs == [graph.graph["input"]], f"IR must have one input node, has {inputs}"
    assert graph.graph["output"] in graph, "IR output node missing"
    seen: set[str] = set()
    for node, data in graph.nodes(data=True):
        assert all(p in seen for p in graph.predecessors(node)), f"{node} comes before an input"
        seen.add(node)
        indices = sorted(i for _, _, i in graph.in_edges(node, data="index"))
        assert indices == list(range(len(indices))), f"{node}: edge indices {indices}"
        if data["kind"] == "op":
            assert len(indices) == 1, f"op node {node} has {len(indices)} inputs"
        elif data["kind"] == "merge":
            assert len(indices) >= 2, f"merge node {node} has {len(indices)} inputs"
