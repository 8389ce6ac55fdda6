"""The IR: a ``networkx.MultiDiGraph`` of op applications and merges.

This module is the one place the IR is defined. The elaborator builds it
(through ``IRBuilder``); analysis, drawing and compilation read it and never
mutate it.

Nodes
    Node ids are unique, dotted, readable, stable strings that say where a
    node comes from: ``conv1``, ``stage2.layer7.conv2``, ``stage2.layer7.concat1``,
    ``transition1.avgpool1``, ``stage3.layer1.shortcut1.conv1``. Attributes:

    ``kind``   ``"input"`` (the network input, exactly one), ``"op"`` or ``"merge"``.
    ``op``     the op name (a key of ``ops.OPS``), the merge name (a key of
               ``merges.MERGES``) or ``"input"``.
    ``args``   dict of the op's evaluated arguments, defaults filled in (empty
               for merges and the input).
    ``shape``  output shape without the batch: ``(C, H, W)`` or ``(F,)``, a
               tuple of positive ints.
    ``role``   why the node exists: ``"input"``, ``"op"`` (an op the spec
               wrote), ``"aggregate"`` (a stage layer's input merge),
               ``"emit"`` (a stage's output merge), ``"project"`` (a conv/bn
               inserted by ``project``), ``"resample"`` (a pool or upsample
               an ``across`` clause inserted to bring an output to the
               resolution of a merge, ``aggspec.ir.resample``), ``"join"``,
               ``"residual"`` or ``"graph"`` (merges of those constructs).
               ``input`` nodes have role ``"input"``, ``op`` nodes ``"op"``,
               ``"project"`` or ``"resample"``, merge nodes one of the others.
    ``stage``  the innermost stage that built the node (its ``StageInfo.name``:
               ``"stage2"``, or ``"stage1.layer3.stage1"`` for a stage inside
               another stage's unit), else None.
    ``stages`` every stage the node is inside, outermost first: ``()`` outside
               stages, ``("stage1",)``, ``("stage1", "stage1.layer3.stage1")``.
               ``stages[-1] == stage``; a node counts towards each of them
               (parameters per stage, for instance), so read membership here
               rather than from the id.
    ``layer``  the layer index 1..L within ``stage``, else None (the emit
               merge and projections of the stage input have None).
    ``unit``   True for the nodes a stage's unit built in layer ``layer``;
               False for the layer's aggregation (its ``"aggregate"`` merge,
               the projections feeding it and its ``then`` steps), for the
               stage's emit, and outside stages. The unit boundary: within a
               layer the aggregation nodes come first, then the unit's, so
               layer l's first node with ``unit`` True is where its unit
               begins, and the value entering the unit is the last
               aggregation node (or, for a layer that takes one output, that
               output). Relative to ``stage``: a nested stage's aggregation
               is ``unit`` False though it lies in the outer stage's unit.
    ``group``  the top-level construct of the network body that built the
               node, which is also the first component of its id: a top-level
               op is its own group (``"conv1"``); every node a top-level
               definition call, stage, ``join`` or ``graph`` builds shares that
               construct's scope (``"transition1"``, ``"stage2"``,
               ``"join1"``, ``"graph1"``). A top-level ``residual`` opens no
               scope: its body's ops, its shortcut projection
               (``"shortcut1"``) and its sum (``"add1"``) are groups of their
               own. The input node's group is ``"input"``.
    ``span``   the ``aggspec.span.Span`` of the .agg source that produced the node.

    ``graph.nodes`` iterates in a topological order: every node comes after
    its inputs (the order the spec applies its ops, which is also the order a
    compiled model registers its modules).

Edges
    One edge per data dependency, attribute ``index``: the position of the
    source among the target's inputs. For merges that is the merge order the
    language fixes (concat order); ops have a single input at index 0. A merge
    may take one value twice (``residual { }`` is x + x), hence a multigraph;
    use ``inputs_of`` for a node's inputs in order. Op nodes have exactly one
    input, merge nodes at least two, the input node none.

Graph attributes (``graph.graph``)
    ``name`` (network name), ``filename``, ``input`` (the input node id),
    ``output`` (the node id whose value the network returns), ``params``
    (the evaluated ``param`` values) and ``stages``: a list of ``StageInfo``,
    one per stage in the order they were completed (a nested stage before the
    stage whose unit holds it), recording each stage's connectivity exactly
    as the rules produced it (x_0 is the stage input, x_l the output of layer l;
    a stage that reaches ``across`` earlier stages numbers their outputs first).

``verify`` (``verify.py``) checks all of the above and raises ``IRError`` on the first
violation: a bug in aggspec, never in the spec. The elaborator runs it on
every graph it returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from aggspec.errors import AggSpecError
from aggspec.ir.shapes import Shape, format_shape
from aggspec.span import Span

if TYPE_CHECKING:
    from aggspec.ir.rules import EmitRule, TakeRule

__all__ = ["IRBuilder", "IRError", "Limits", "StageInfo", "inputs_of"]


class IRError(Exception):
    """The IR breaks one of its invariants: a bug in aggspec, not in the spec.

    Deliberately not an ``AggSpecError``: the CLI reports those as the user's
    mistakes without a traceback, and must never do that for a broken IR.
    ``invariant`` names the broken rule, ``node`` the node that breaks it (None
    for rules about the whole graph).
    """

    def __init__(self, invariant: str, message: str, node: str | None = None) -> None:
        where = f" at node {node!r}" if node is not None else ""
        super().__init__(f"IR invariant '{invariant}' violated{where}: {message}")
        self.invariant = invariant
        self.node = node


@dataclass(frozen=True)
class Limits:
    """Size limits checked while elaborating, before anything large is allocated.

    ``max_layers`` bounds the IR's nodes (op applications and merges),
    ``max_connections`` its edges, ``max_recursion`` nested definition calls
    and ``max_steps`` the statements elaboration may run (loops that build
    nothing still take time); ``max_work`` the expressions' own work
    (``aggspec.lang.expressions.Work``); ``max_nesting`` the depth of the parse tree;
    ``max_source_bytes`` the spec text itself, checked as it is read, so
    that a file that never ends is not read into memory;
    ``max_tensor_elements`` each value's size per sample and
    ``max_parameters`` the network's weights, so that a huge kernel or
    channel count fails here, located, rather than inside PyTorch.
    """

    max_layers: int = 100_000
    max_connections: int = 1_000_000  # about 0.5 GB of graph and 5 s of elaboration at the limit
    max_recursion: int = 64
    max_steps: int = 2_000_000
    max_work: int = 10_000_000  # expression work: nodes evaluated plus list elements made or read
    max_nesting: int = 1000  # parse-tree depth (aggspec.lang.parser.MAX_NESTING, which a test keeps equal)
    max_source_bytes: int = 16 * 2**20  # a spec file (or standard input) read at most this far
    max_tensor_elements: int = 2**31 - 1  # one value's C x H x W, per sample (oneDNN's int32 indexing)
    max_parameters: int = 2**32  # the whole network's (16 GiB of fp32 weights)

    def __post_init__(self) -> None:
        # A limit of zero or less would refuse everything or nothing: it is always a mistake.
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Limits.{name} must be an int, got {type(value).__name__} {value!r}")
            if value < 1:
                raise ValueError(f"Limits.{name} must be at least 1, got {value}")


@dataclass(frozen=True)
class StageInfo:
    """One stage: L applications of a unit and who aggregates whom.

    ``take``, ``merge`` and ``emit`` are the display strings reports print;
    ``take_rule`` and ``emit_rule`` are the rule objects (``aggspec.ir.rules``)
    that produced ``takes`` and ``emits``, for readers that need the rule
    itself (closed forms by rule, not by its spelling). The rule objects take
    no part in equality: a ``where`` rule holds a closure.
    """

    name: str
    length: int  # L
    unit: str  # e.g. "unit(24)"
    take: str  # e.g. "exponential"
    merge: str  # e.g. "concat", "sum(project) then relu"
    emit: str  # e.g. "exponential", "last"
    takes: tuple[tuple[int, ...], ...]  # takes[l - 1]: the outputs layer l aggregates, in order
    emits: tuple[int, ...]  # the outputs that leave the stage, in order
    outputs: tuple[str, ...]  # node ids of x_0 .. x_L (after those of the stages reached across)
    output: str  # node id of the stage's result
    span: Span
    take_rule: TakeRule = field(compare=False)  # e.g. Exponential(base=2), Chain()
    emit_rule: EmitRule = field(compare=False)  # e.g. Last(), TakeAtEnd(Exponential(base=2))
    # A stage that reaches ``across`` earlier stages indexes their outputs before its
    # own: ``outputs`` is theirs (each stage's x_0 .. x_L, in the clause's order) and
    # then this stage's, so x_0 is ``outputs[offset]``, layer l's output
    # ``outputs[offset + l]``, and ``takes``/``emits`` hold these global indices.
    label: str | None = None  # the name the spec gave it (`stage b1 = ...`), else None
    offset: int = 0
    across: tuple[str, ...] = ()  # the ``name`` of each stage reached across, in index order
    resample: str | None = None  # the across clause's resampler as written (``pooled``)

    @property
    def input(self) -> str:
        """The node id of the stage's input x_0."""
        return self.outputs[self.offset]

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
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self.limits = limits
        self.layers = 0
        self.connections = 0  # counted here: networkx's number_of_edges() walks every node
        self.parameters = 0

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
        group: str,
        args: dict[str, Any] | None = None,
        stage: str | None = None,
        stages: tuple[str, ...] = (),
        layer: int | None = None,
        unit: bool = False,
        inputs: tuple[str, ...] = (),
    ) -> str:
        """Add one node with every documented attribute, and its input edges in order."""
        if node_id in self.graph:  # networkx would silently merge the two
            raise IRError("unique ids", "a second node was built with this id", node_id)
        if kind != "input":
            self.reserve(1, span)
            self.layers += 1
        self.check_connections(len(inputs), span)
        self._check_size(kind, op, shape, args or {}, inputs, span)
        self.graph.add_node(
            node_id,
            kind=kind,
            op=op,
            args=dict(args or {}),
            shape=tuple(shape),
            role=role,
            stage=stage,
            stages=stages,
            layer=layer,
            unit=unit,
            group=group,
            span=span,
        )
        for index, source in enumerate(inputs):
            self.graph.add_edge(source, node_id, index=index)
        self.connections += len(inputs)
        return node_id

    def _check_size(
        self, kind: str, op: str, shape: Shape, args: dict[str, Any], inputs: tuple[str, ...], span: Span
    ) -> None:
        """Refuse a value or a weight too large for PyTorch before anything is allocated."""
        from aggspec.ir.merges import MERGES  # the registries, which never import this module
        from aggspec.ir.ops import OPS

        elements = math.prod(shape)
        limit = self.limits.max_tensor_elements
        if elements > limit:
            made = "the input has" if kind == "input" else f"{op} would produce"
            raise _size_error(
                f"{made} {format_shape(shape)} = {elements:,} values per sample",
                limit,
                "--max-tensor-elements",
                span,
            )
        if kind == "op":
            params = OPS[op].count_params(self.graph.nodes[inputs[0]]["shape"], args)
        elif kind == "merge":
            params = MERGES[op].count_params(len(inputs))
        else:
            return
        self.parameters += params
        if self.parameters > self.limits.max_parameters:
            raise _size_error(
                f"the network would have {self.parameters:,} parameters with this {op}",
                self.limits.max_parameters,
                "--max-parameters",
                span,
            )


def _size_error(what: str, limit: int, flag: str, span: Span) -> AggSpecError:
    return AggSpecError(f"{what}, more than the limit of {limit:,} (raise it with {flag})", span)


def inputs_of(graph: nx.MultiDiGraph, node: str) -> list[str]:
    """The node's inputs in merge order (by edge ``index``)."""
    # The adjacency directly, not in_edges(): the compiler asks this of every node.
    indexed = [(data["index"], source) for source, keys in graph.pred[node].items() for data in keys.values()]
    indexed.sort()
    return [source for _, source in indexed]
