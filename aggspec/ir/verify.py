"""``verify``: the IR's invariants (documented in ``graph.py``) checked, not assumed.

The elaborator calls it on every graph it builds; a failure is a bug in
aggspec, reported as ``IRError`` naming the broken invariant and node, never
as a user error. Made of explicit checks rather than asserts, so it holds
under ``python -O``, and linear in nodes plus edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import networkx as nx

from aggspec.ir.graph import IRError, StageInfo
from aggspec.ir.merges import MERGES
from aggspec.ir.ops import OPS
from aggspec.ir.shapes import OpError, Shape
from aggspec.span import Span

__all__ = ["verify"]


_GRAPH_ATTRIBUTES: tuple[tuple[str, type], ...] = (
    ("name", str),
    ("filename", str),
    ("input", str),
    ("output", str),
    ("params", dict),
    ("stages", list),
)
_NODE_ATTRIBUTES = (
    "kind",
    "op",
    "args",
    "shape",
    "role",
    "stage",
    "stages",
    "layer",
    "unit",
    "group",
    "span",
)
_KIND_OF_ROLE = {
    "input": "input",
    "op": "op",
    "project": "op",
    "resample": "op",
    "aggregate": "merge",
    "emit": "merge",
    "join": "merge",
    "residual": "merge",
    "graph": "merge",
}
_ARITY = {"input": "no inputs", "op": "exactly one input", "merge": "at least two inputs"}


def verify(graph: nx.MultiDiGraph) -> None:
    """Check every invariant the module docstring states; raise ``IRError`` on the first broken one.

    Linear in nodes plus edges, and made of explicit checks rather than
    asserts so that it holds under ``python -O`` too. The op and merge
    registries are looked up when called, so entries registered later count.

    >>> from aggspec import loads
    >>> graph = loads("network T(input 3x8x8) { relu }").graph
    >>> verify(graph)  # the elaborator already did; nothing to report
    >>> graph.nodes["relu1"]["shape"] = (0, 8, 8)
    >>> verify(graph)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    aggspec.ir.graph.IRError: IR invariant 'shape' violated at node 'relu1': shape must be ...
    """
    if not isinstance(graph, nx.MultiDiGraph):  # a merge may take one value twice: edges need keys
        raise IRError("graph type", f"the IR is a networkx.MultiDiGraph, got {type(graph).__name__}")
    for name, expected in _GRAPH_ATTRIBUTES:
        if not isinstance(graph.graph.get(name), expected):
            raise IRError(
                "graph attributes",
                f"graph.graph[{name!r}] must be a {expected.__name__}, got {graph.graph.get(name)!r}",
            )
    input_node, output_node = graph.graph["input"], graph.graph["output"]
    if input_node not in graph or graph.nodes[input_node].get("kind") != "input":
        raise IRError("one input", f"graph.graph['input'] = {input_node!r} is not an input node in the graph")
    if output_node not in graph:
        raise IRError("output exists", f"graph.graph['output'] = {output_node!r} is not in the graph")
    stages = _stage_table(graph.graph["stages"])
    registries: Mapping[str, Mapping[str, object]] = {"op": OPS, "merge": MERGES, "input": {"input": None}}
    input_nodes: list[str] = []
    aggregates: dict[tuple[str, int], str] = {}
    merge_inputs: dict[str, list[str]] = {}  # of aggregate and emit merges, for the stage checks
    seen: set[str] = set()
    # networkx's own {target: {source: {key: edge data}}}: its read-only views cost
    # several times more per edge, and stages with dense takes have millions of edges.
    adjacency = graph._pred
    for node, data in graph.nodes(data=True):
        if type(node) is not str:
            raise IRError("node ids", f"node ids are dotted strings, got {node!r}")
        missing = [name for name in _NODE_ATTRIBUTES if name not in data]
        if missing:
            raise IRError("node attributes", f"missing {', '.join(missing)}", node)
        kind = data["kind"]
        if kind not in registries:
            raise IRError("kind", f"kind must be input, op or merge, got {kind!r}", node)
        if data["op"] not in registries[kind]:
            raise IRError("op", f"{data['op']!r} is not a registered {kind}", node)
        _check_attributes(node, data, stages)
        inputs = _ordered_inputs(graph, node, adjacency[node], seen)
        seen.add(node)
        count = len(inputs)
        if (kind == "input") != (count == 0) or (kind == "op") != (count == 1):
            raise IRError("arity", f"a {kind} node takes {_ARITY[kind]}, this one has {count}", node)
        if kind != "input":
            _check_rule(node, data, [graph.nodes[source]["shape"] for source in inputs])
        role = data["role"]
        if kind == "input":
            input_nodes.append(node)
        elif role == "aggregate":
            key = (data["stage"], data["layer"])
            if key in aggregates:
                raise IRError("stage takes", f"layer {key[1]} of {key[0]} has two aggregate merges", node)
            aggregates[key] = node
            merge_inputs[node] = inputs
        elif role == "emit":
            merge_inputs[node] = inputs
    if input_nodes != [input_node]:
        raise IRError("one input", f"the IR must have one input node, {input_node!r}; it has {input_nodes}")
    for info in stages.values():
        _check_stage(graph, info, stages, aggregates, merge_inputs)


def _ordered_inputs(
    graph: nx.MultiDiGraph, node: str, sources: Mapping[str, Mapping[Any, Mapping[str, Any]]], seen: set[str]
) -> list[str]:
    """The node's inputs in ``index`` order, checking that they come first and are indexed 0..n-1.

    Each edge is put in the slot its index names: linear, where sorting by
    index would not be.
    """
    for source in sources:
        if source not in seen:
            _raise_order(graph, node, source)
    count = sum(map(len, sources.values()))
    ordered: list[str | None] = [None] * count
    for source, keyed in sources.items():
        for edge in keyed.values():
            index = edge.get("index")
            if type(index) is not int or not 0 <= index < count or ordered[index] is not None:
                indices = [e.get("index") for k in sources.values() for e in k.values()]
                raise IRError("edge indices", f"input edges must be indexed 0..n-1, got {indices}", node)
            ordered[index] = source
    return cast(list[str], ordered)  # count edges with count distinct indices: every slot is filled


def _stage_table(stages: list[Any]) -> dict[str, StageInfo]:
    table: dict[str, StageInfo] = {}
    for info in stages:
        if not isinstance(info, StageInfo):
            raise IRError("graph attributes", f"graph.graph['stages'] holds {info!r}, not a StageInfo")
        if info.name in table:
            raise IRError("graph attributes", f"two stages are named {info.name!r}")
        table[info.name] = info
    return table


def _check_attributes(node: str, data: Mapping[str, Any], stages: Mapping[str, StageInfo]) -> None:
    """Types and agreement of one node's attributes (its kind and op already checked)."""
    kind, role = data["kind"], data["role"]
    if _KIND_OF_ROLE.get(role) != kind:
        raise IRError("role", f"role {role!r} does not belong to a {kind} node", node)
    args = data["args"]
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise IRError("args", f"args must be a dict keyed by argument name, got {args!r}", node)
    if args and kind != "op":
        raise IRError("args", f"a {kind} node has no args, got {args!r}", node)
    shape = data["shape"]
    if (
        not isinstance(shape, tuple)
        or len(shape) not in (1, 3)
        or not all(type(d) is int and d > 0 for d in shape)
    ):
        raise IRError("shape", f"shape must be a tuple of 1 or 3 positive ints, got {shape!r}", node)
    if not isinstance(data["span"], Span):
        raise IRError("span", f"span must be a Span, got {data['span']!r}", node)
    group = data["group"]
    if not isinstance(group, str) or node.partition(".")[0] != group:
        raise IRError("group", f"group must be the first component of the id, got {group!r}", node)
    _check_stage_attributes(node, data, stages)


def _check_stage_attributes(node: str, data: Mapping[str, Any], stages: Mapping[str, StageInfo]) -> None:
    """``stage``, ``stages``, ``layer`` and ``unit`` agree with each other and with the stage table."""
    stage, nested, layer, unit, role = (
        data["stage"],
        data["stages"],
        data["layer"],
        data["unit"],
        data["role"],
    )
    if not isinstance(nested, tuple) or (nested[-1] if nested else None) != stage:
        raise IRError("stages", f"stages must be a tuple ending with stage {stage!r}, got {nested!r}", node)
    if type(unit) is not bool or (layer is not None and type(layer) is not int):
        raise IRError(
            "stage attributes", f"unit must be a bool and layer an int or None: {unit!r}, {layer!r}", node
        )
    if stage is None:
        if layer is not None or unit or role in ("aggregate", "emit"):
            raise IRError(
                "stage attributes", f"a node outside stages has layer {layer!r}, unit {unit!r}", node
            )
        return
    outer = ""
    for name in nested:
        if name not in stages or not name.startswith(outer):
            raise IRError("stages", f"{name!r} is not a stage enclosing this node (stages {nested!r})", node)
        outer = name + "."
    if not node.startswith(outer):
        raise IRError("stages", f"a node of {stage!r} is named outside it", node)
    if layer is None:  # the stage's emit merge, the projections and resamplings feeding it
        if unit or role == "aggregate":
            raise IRError("stage attributes", f"a {role} node of {stage!r} needs a layer", node)
        return
    if not 1 <= layer <= stages[stage].length or not node.startswith(f"{outer}layer{layer}."):
        raise IRError(
            "stage attributes", f"layer {layer} is not a layer of {stage!r} holding this node", node
        )
    if role == "emit" or (unit and role == "aggregate"):
        raise IRError("stage attributes", f"a {role} node cannot be in layer {layer}'s unit", node)


def _raise_order(graph: nx.MultiDiGraph, node: str, source: str) -> None:
    """``source`` feeds ``node`` but does not come before it: a cycle, or a mere ordering slip."""
    if not nx.is_directed_acyclic_graph(graph):
        cycle = [u for u, *_ in nx.find_cycle(graph)]
        raise IRError("acyclic", f"the IR has a cycle through {' -> '.join(cycle)}", node)
    raise IRError("topological order", f"input {source!r} comes after the node in graph.nodes", node)


def _check_stage(
    graph: nx.MultiDiGraph,
    info: StageInfo,
    stages: Mapping[str, StageInfo],
    aggregates: Mapping[tuple[str, int], str],
    merge_inputs: Mapping[str, list[str]],
) -> None:
    """The stage's record agrees with its nodes: layer l's merge reads exactly ``takes[l - 1]``."""
    if (
        len(info.takes) != info.length
        or len(info.outputs) != info.offset + info.length + 1
        or info.length < 1
        or info.offset < 0
    ):
        raise IRError("stage takes", f"{info.name}: L = {info.length} but {len(info.takes)} take lists")
    if not callable(getattr(info.take_rule, "take", None)) or not callable(
        getattr(info.emit_rule, "emit", None)
    ):
        raise IRError("stage rules", f"{info.name}: take_rule and emit_rule must be rule objects")
    reached = [stages[name] for name in info.across if name in stages]
    if len(reached) != len(info.across) or [
        node for source in reached for node in source.outputs[source.offset :]
    ] != list(info.outputs[: info.offset]):
        raise IRError(
            "stage across",
            f"{info.name}: its first {info.offset} outputs are not those of {list(info.across)}",
        )
    for node in (*info.outputs, info.output):
        if node not in graph:
            raise IRError("stage outputs", f"{info.name} names output {node!r}, which is not in the graph")
    for l, taken in enumerate(info.takes, start=1):
        expected = [info.outputs[j] for j in taken]
        merge = aggregates.get((info.name, l))
        if len(expected) == 1 and merge is None:
            continue
        if merge is None or len(expected) < 2:
            raise IRError(
                "stage takes", f"layer {l} of {info.name} takes {list(taken)} but merge is {merge!r}"
            )
        if _unprojected(graph, merge_inputs[merge], expected) != expected:
            raise IRError(
                "stage takes", f"the merge does not read outputs {list(taken)} of {info.name}", merge
            )
    emitted = [info.outputs[j] for j in info.emits]
    if len(emitted) == 1 and info.output == emitted[0]:
        return
    output = graph.nodes[info.output]
    if len(emitted) < 2 or output["role"] != "emit" or output["stage"] != info.name:
        raise IRError(
            "stage emits", f"{info.name} emits {list(info.emits)} but its output is {info.output!r}"
        )
    if _unprojected(graph, merge_inputs[info.output], emitted) != emitted:
        raise IRError("stage emits", f"the emit merge does not read outputs {list(info.emits)}", info.output)


def _unprojected(graph: nx.MultiDiGraph, sources: list[str], expected: list[str]) -> list[str]:
    """A merge's inputs, each seen through a projection (conv, bn) or resampling standing before it."""
    seen_through = list(sources)
    for i, (source, wanted) in enumerate(zip(sources, expected, strict=False)):
        while source != wanted and graph.nodes[source]["role"] in ("project", "resample"):
            (source,) = graph._pred[source]
        seen_through[i] = source
    return seen_through


def _check_rule(node: str, data: Mapping[str, Any], input_shapes: list[Shape]) -> None:
    """The node's arguments are its entry's, resolved, and its shape is what its entry's rule gives."""
    try:
        if data["kind"] == "op":
            op = OPS[data["op"]]
            names = {p.name for p in op.signature.parameters}
            if op.signature.rest is not None:
                names.add(op.signature.rest.name)
            if set(data["args"]) != names:
                raise IRError(
                    "args", f"{data['op']} takes {sorted(names)}, the node has {sorted(data['args'])}", node
                )
            if op.resolve_args(dict(data["args"])) != data["args"]:
                raise IRError("args", f"arguments {data['args']} are not resolved", node)
            expected = op.infer_shape(input_shapes[0], data["args"])
        else:
            expected = MERGES[data["op"]].output_shape(input_shapes)
    except (OpError, TypeError, KeyError, ValueError) as exc:  # unresolved or ill-typed arguments too
        raise IRError("shape rule", f"its entry refuses its inputs: {exc}", node) from None
    if tuple(expected) != data["shape"]:
        raise IRError(
            "shape rule", f"shape {data['shape']} but its entry's rule gives {tuple(expected)}", node
        )
