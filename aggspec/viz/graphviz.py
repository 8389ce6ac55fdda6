"""IR to diagrams: a ``graphviz.Digraph`` at three levels, and connectivity matrices.

``draw`` returns the Digraph and leaves rendering to the caller, as torch.fx's
drawer does; ``render`` writes it (svg, png, pdf, or dot source, which needs no
``dot`` binary). Levels:

* ``op``: every IR node;
* ``layer`` (default): one node per stage layer (its unit's ops collapsed), one
  per merge that aggregates a layer's inputs or a stage's outputs, and one per
  top-level op or definition call;
* ``stage``: one box per stage, between the top-level ops and calls.

Edges carry the shape of the value they carry. Colours and labels come from
the registries: an op is coloured by its family (``ops.family_colour``, which
has a colour for every family, listed or new) and labelled by ``Op.describe``;
a merge by its entry's ``colour``; ``COLOURS`` holds only the drawing's own
categories (the input, stage boxes, collapsed layers). A legend lists the
categories in use. Stages with many layers show their first and last layers
and one "... N layers ..." node for the rest once the drawing would pass
``max_nodes`` nodes.
Connectivity matrices are in ``matrix.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import graphviz
import networkx as nx

from aggspec.analysis.counts import node_parameters, stage_fan_in
from aggspec.ir import StageInfo
from aggspec.ir.merges import MERGES
from aggspec.ir.ops import FAMILY_COLOURS, OPS, family_colour
from aggspec.ir.shapes import format_shape
from aggspec.spec import Spec

__all__ = ["COLOURS", "FORMATS", "LEVELS", "DotMissing", "draw", "render"]

# What `render` writes, by extension: dot's own output formats, or the DOT source itself.
FORMATS = ("svg", "png", "pdf", "jpg", "jpeg", "gif", "ps", "eps", "dot", "gv")

LEVELS = ("layer", "stage", "op")

# The drawing's own categories; ops and merges take their colours from the registries.
COLOURS = {
    "input": "#ffffff",
    "stage": "#c6dbef",
    "more": "#ffffff",
}

_KEEP = 3  # layers kept at each end of a collapsed stage
_MERGE_ROLES = ("aggregate", "emit", "project")  # a stage's merge, drawn with its projections


@dataclass
class _Box:
    """A node of the drawing: one IR node or a group of them."""

    key: str
    label: str
    category: str  # an op family, a merge name or a key of COLOURS (see _colour)
    merge: bool = False
    members: list[str] = field(default_factory=list)


def draw(
    spec: Spec,
    level: str = "layer",
    *,
    rankdir: str = "TB",
    full: bool = False,
    max_nodes: int = 200,
    legend: bool = True,
) -> graphviz.Digraph:
    """The spec's diagram as a ``graphviz.Digraph`` (render it with ``render`` or ``.pipe``).

    >>> from aggspec import loads
    >>> dot = draw(loads("network T(input 3x8x8) { conv(4, 3) relu }"), level="op", legend=False)
    >>> print(dot.source.splitlines()[0])
    digraph T {
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir must be TB or LR, not {rankdir!r}")
    graph = spec.graph
    key_of = {node: _group(graph, node, level) for node in graph}
    boxes = _boxes(graph, key_of, level, spec.stages)
    # dot's layout slows down sharply with many nodes and, for dense stages, edges
    crowded = len(boxes) > max_nodes or len({(key_of[a], key_of[b]) for a, b in graph.edges()}) > max_nodes
    if not full and crowded and level != "stage":
        key_of, boxes = _collapse(graph, key_of, boxes, spec.stages)

    dot = graphviz.Digraph(name=_identifier(spec.name))
    dot.attr(rankdir=rankdir, fontname="Helvetica", label=f"{spec.name} ({level} view)", labelloc="t")
    dot.attr("node", fontname="Helvetica", fontsize="10", style="filled")
    dot.attr("edge", fontname="Helvetica", fontsize="8", color="#555555")
    for box in boxes.values():
        dot.node(
            _identifier(box.key),
            box.label,
            shape="ellipse" if box.merge else "box",
            fillcolor=_colour(box.category),
            style="filled" if box.merge else "filled,rounded",
        )
    seen: set[tuple[str, str]] = set()
    for source, target in graph.edges():
        a, b = key_of[source], key_of[target]
        if a == b or (a, b) in seen:
            continue
        seen.add((a, b))
        dot.edge(_identifier(a), _identifier(b), label=format_shape(graph.nodes[source]["shape"]))
    if legend:
        _legend(dot, boxes)
    return dot


def _identifier(key: str) -> str:
    """A DOT node id: graphviz quotes ids itself, but ':' means a port, so avoid it."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", key)


def _group(graph: nx.MultiDiGraph, node: str, level: str) -> str:
    """Which drawing node an IR node belongs to at ``level``."""
    data = graph.nodes[node]
    if level == "op" or data["kind"] == "input":
        return str(node)
    stage, layer, role = data["stage"], data["layer"], data["role"]
    if stage is not None:
        if level == "stage":
            return str(stage)
        if role == "resample":  # an across clause's pool or upsample: its own box, fed by its source
            return str(node)
        if layer is None:
            return f"{stage}:out"
        if role in ("aggregate", "project"):
            return f"{stage}.layer{layer}:merge"
        return f"{stage}.layer{layer}"
    return str(data["group"])  # a top-level op, or a whole definition call / join / graph


def _boxes(
    graph: nx.MultiDiGraph, key_of: Mapping[str, str], level: str, stages: Sequence[StageInfo]
) -> dict[str, _Box]:
    by_stage = {stage.name: stage for stage in stages}
    boxes: dict[str, _Box] = {}
    for node in graph:
        key = key_of[node]
        if key not in boxes:
            boxes[key] = _Box(key, "", "other")
        boxes[key].members.append(node)
    for key, box in boxes.items():
        members = [graph.nodes[n] for n in box.members]
        last = members[-1]
        shape = format_shape(last["shape"])
        merges = [m for m in members if m["kind"] == "merge"]
        if members[0]["kind"] == "input":
            box.label, box.category = f"input\n{shape}", "input"
        elif level == "stage" and key in by_stage:
            stage = by_stage[key]
            box.label = (
                f"{stage.name} · {stage.length} \u00d7 {stage.unit}\ntake {stage.take} · merge {stage.merge}"
                f" · emit {stage.emit}\n{shape} · {stage.connections:,} connections"
                f" · fan-in up to {max(stage_fan_in(stage))} · {_params(graph, box.members):,} params"
            )
            box.category = "stage"
        elif len(members) == 1 or (merges and all(m["role"] in _MERGE_ROLES for m in members)):
            main = merges[-1] if merges else last
            box.merge = main["kind"] == "merge"
            box.category = _category(main)
            box.label = f"{main['op']}\n{shape}" if box.merge else f"{key}\n{_describe(main)}\n{shape}"
        else:
            ops = [m for m in members if m["kind"] == "op"]
            main = next((m for m in ops if OPS[m["op"]].weight_layer), members[0])
            summary = " ".join(m["op"] for m in members)
            if len(summary) > 40:
                summary = summary[:37] + "..."
            box.label = f"{key}\n{summary}\n{shape}"
            box.category = _category(main)
    return boxes


def _params(graph: nx.MultiDiGraph, nodes: Sequence[str]) -> int:
    return sum(node_parameters(graph, node) for node in nodes)


def _category(data: Mapping[str, Any]) -> str:
    """What colours an IR node: its merge, or its op's family."""
    if data["kind"] == "merge":
        return str(data["op"])
    return OPS[data["op"]].family


def _colour(category: str) -> str:
    if category in COLOURS:
        return COLOURS[category]
    if category in MERGES:
        return MERGES[category].colour
    return family_colour(category)


def _describe(data: Mapping[str, Any]) -> str:
    return OPS[data["op"]].describe(data["args"])


def _collapse(
    graph: nx.MultiDiGraph, key_of: dict[str, str], boxes: dict[str, _Box], stages: Sequence[StageInfo]
) -> tuple[dict[str, str], dict[str, _Box]]:
    """Replace the middle layers of long stages by one "... N layers ..." node."""
    lengths = {stage.name: stage.length for stage in stages}
    new_key = dict(key_of)
    for node, data in graph.nodes(data=True):
        stage, layer = data["stage"], data["layer"]
        if stage is None or layer is None or lengths[stage] <= 2 * _KEEP + 1:
            continue
        if _KEEP < layer <= lengths[stage] - _KEEP:
            new_key[node] = f"{stage}:more"
    kept = {key: box for key, box in boxes.items() if any(new_key[n] == key for n in box.members)}
    for stage in stages:
        more = f"{stage.name}:more"
        if more in new_key.values():
            kept[more] = _Box(more, f"... {stage.length - 2 * _KEEP} layers ...", "more")
    return new_key, kept


def _legend(dot: graphviz.Digraph, boxes: Mapping[str, _Box]) -> None:
    used = {box.category for box in boxes.values()} - {"more", "input"}
    # listed families, new families, stages, then merges (drawn as ellipses)
    families = [*FAMILY_COLOURS, *sorted(used - set(FAMILY_COLOURS) - set(MERGES) - set(COLOURS))]
    with dot.subgraph(name="cluster_legend") as legend:
        legend.attr(label="legend", fontsize="10", style="dashed", color="#999999")
        for name in [*families, *COLOURS, *MERGES]:
            if name not in used:
                continue
            shape = "ellipse" if name in MERGES else "box"
            fill = _colour(name)
            legend.node(f"legend_{name}", name, shape=shape, fillcolor=fill, style="filled", fontsize="9")


class DotMissing(Exception):
    """graphviz's ``dot`` program is not installed."""


def render(dot: graphviz.Digraph, path: str | os.PathLike[str]) -> None:
    """Write ``dot`` to ``path`` in the format its extension names (.svg, .png, .pdf, .dot).

    Raises ``DotMissing`` (after writing the DOT source next to ``path``) when
    the ``dot`` program is needed but not installed.
    """
    path = os.fspath(path)
    base, extension = os.path.splitext(path)
    fmt = extension.lstrip(".").lower()
    if fmt in ("dot", "gv"):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(dot.source)
        return
    try:
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        with open(base + ".dot", "w", encoding="utf-8") as handle:
            handle.write(dot.source)
        raise DotMissing(base + ".dot") from None
    with open(path, "wb") as handle:
        handle.write(data)
