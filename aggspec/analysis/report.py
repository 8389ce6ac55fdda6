"""``aggspec analyze``: the analysis of a spec as a record.

``analyze`` assembles a ``Report`` (plain dataclasses: per stage, per table
row, totals) from the pure functions in ``counts`` and ``hops``;
``sweep_table`` turns reports at several values of one param into records.
Rendering them (tables, JSON) is the command line's job: see
``aggspec.cli.report_text``. Nothing here imports the parser or the CLI; only
``analyze`` given a path loads it, lazily.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import networkx as nx

from aggspec.analysis.counts import (
    activation_bytes,
    node_macs,
    node_parameters,
    stage_fan_in,
    weight_layer_path_lengths,
)
from aggspec.analysis.hops import SEARCH_BUDGET, closed_form_hops, stage_hops
from aggspec.ir import Limits, StageInfo
from aggspec.ir.shapes import format_shape
from aggspec.options import check_option, collect_params
from aggspec.spec import Spec

__all__ = [
    "Path",
    "Report",
    "Row",
    "StageReport",
    "analyze",
    "sweep_table",
]


@dataclass(frozen=True)
class StageReport:
    name: str
    layers: int  # L
    take: str
    merge: str
    emit: str
    fan_in: list[int]  # one per layer 1..L
    connections: int
    max_hops: int
    mean_hops: float
    unreachable_pairs: int
    params: int
    macs: int
    hops_sampled_sources: int | None = None  # the hops are estimated from this many outputs


@dataclass(frozen=True)
class Row:
    """One line of the per-layer table: a stage layer, a stage's output, or a top-level construct.

    ``stage`` and ``layer`` say which: a stage layer has both (``layer`` is
    1..L), a stage's output only ``stage``, a top-level op or call neither.
    """

    name: str
    output: str  # shape, e.g. "48x32x32"
    fan_in: int | None
    params: int
    macs: int
    stage: str | None
    layer: int | None = None


@dataclass(frozen=True)
class Path:
    shortest_input_to_output: int  # weight layers (convolutions, linear) on the path
    longest_input_to_output: int


@dataclass(frozen=True)
class Report:
    network: str
    input: str  # shape, e.g. "3x32x32"
    output: str
    params: int
    macs: int
    activation_bytes: int
    layers: int  # IR nodes: ops and merges
    edges: int
    path: Path
    stages: list[StageReport]
    rows: list[Row]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (without the per-layer rows unless ``rows`` is kept by the caller)."""
        data = asdict(self)
        data.pop("rows")
        return data


def analyze(
    spec: Spec | str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
    *,
    limits: Limits | None = None,
    **overrides: Any,
) -> Report:
    """Analyze a spec (a ``Spec``, or the path of a .agg file whose params ``params`` override).

    >>> from aggspec import loads
    >>> spec = loads("network T(input 4x8x8) { stage 8 * conv(4, 3) { take exponential; merge sum } }")
    >>> report = analyze(spec)
    >>> report.stages[0].fan_in, report.stages[0].max_hops, report.params
    ([1, 2, 2, 3, 3, 3, 3, 4], 3, 1152)
    """
    check_option("analyze", "limits", limits, (Limits, type(None)), "an aggspec.Limits")
    values = collect_params("analyze", params, overrides)
    if not isinstance(spec, Spec):
        from aggspec.api import load  # a path: only then is the parser needed

        spec = load(spec, values, limits=limits)
    elif values:
        raise TypeError("parameter overrides apply when analyzing a file; pass them to aggspec.load")
    graph = spec.graph
    per_node = {node: (node_parameters(graph, node), node_macs(graph, node)) for node in graph}
    totals = stage_totals(graph, spec.stages, per_node)
    stages = []
    # One search budget for the whole report, shared by the stages that must be searched
    # (those without a closed form), so that hundreds of them stay bounded too.
    searched = sum(1 for stage in spec.stages if closed_form_hops(stage) is None)
    budget = SEARCH_BUDGET // max(searched, 1)
    for stage in spec.stages:
        hops = stage_hops(stage, search_budget=budget, stages=spec.stages, graph=graph)
        stages.append(
            StageReport(
                name=stage.name,
                layers=stage.length,
                take=stage.take,
                merge=stage.merge,
                emit=stage.emit,
                fan_in=stage_fan_in(stage),
                connections=stage.connections,
                max_hops=hops.max_hops,
                mean_hops=hops.mean_hops,
                unreachable_pairs=hops.unreachable_pairs,
                params=totals[stage.name][0],
                macs=totals[stage.name][1],
                hops_sampled_sources=hops.sampled_sources,
            )
        )
    shortest, longest = weight_layer_path_lengths(graph)
    return Report(
        network=spec.name,
        input=format_shape(spec.input_shape),
        output=format_shape(spec.output_shape),
        params=sum(p for p, _ in per_node.values()),
        macs=sum(m for _, m in per_node.values()),
        activation_bytes=activation_bytes(graph),
        layers=graph.number_of_nodes() - 1,
        edges=graph.number_of_edges(),
        path=Path(shortest, longest),
        stages=stages,
        rows=table_rows(graph, spec.stages, per_node),
    )


def stage_totals(
    graph: nx.MultiDiGraph,
    stages: Iterable[StageInfo],
    per_node: Mapping[str, tuple[int, int]],
) -> dict[str, tuple[int, int]]:
    """Parameters and MACs per stage, in one pass over the nodes.

    A node counts towards every stage in its ``stages`` attribute, so a stage
    nested in another's unit counts in both. ``per_node`` maps each node to
    its (parameters, MACs).

    >>> from aggspec import loads
    >>> spec = loads("network T(input 4x8x8) { stage 2 * { stage 3 * conv(4, 3) } }")
    >>> per_node = {node: (1, 10) for node in spec.graph}
    >>> stage_totals(spec.graph, spec.stages, per_node)
    {'stage1.layer1.stage1': (3, 30), 'stage1.layer2.stage1': (3, 30), 'stage1': (6, 60)}
    """
    totals = {stage.name: [0, 0] for stage in stages}
    for node, enclosing in graph.nodes(data="stages"):
        params, macs = per_node[node]
        for name in enclosing:
            total = totals[name]
            total[0] += params
            total[1] += macs
    return {name: (params, macs) for name, (params, macs) in totals.items()}


def table_rows(
    graph: nx.MultiDiGraph,
    stages: Iterable[StageInfo],
    per_node: Mapping[str, tuple[int, int]],
) -> list[Row]:
    """The per-layer table: the IR's nodes grouped into rows, in network order.

    A row is a stage layer (the nodes with that ``stage`` and ``layer``), a
    stage's output (its emit merge: ``stage`` without ``layer``), a stage's
    resamplings (``stage.resample``: what an ``across`` clause pooled or
    upsampled, also without ``layer``), or a top-level construct (its
    ``group``). ``per_node`` maps each node to its (parameters, MACs).

    >>> from aggspec import loads
    >>> spec = loads("network T(input 4x8x8) { conv(4, 3) stage 2 * relu { take dense } }")
    >>> rows = table_rows(spec.graph, spec.stages, {node: (0, 0) for node in spec.graph})
    >>> [(row.name, row.stage, row.layer, row.fan_in) for row in rows]
    [('conv1', None, None, None), ('stage1.layer1', 'stage1', 1, 1), ('stage1.layer2', 'stage1', 2, 2)]
    """
    fan_in = {(s.name, l): len(t) for s in stages for l, t in enumerate(s.takes, start=1)}
    groups: dict[str, list[str]] = {}
    keys: dict[str, tuple[str | None, int | None]] = {}
    for node, data in graph.nodes(data=True):
        if data["kind"] == "input":
            continue
        stage, layer = data["stage"], data["layer"]
        if stage is not None and data["role"] == "resample":
            key = f"{stage}.resample"  # what an across clause pooled or upsampled, for all its layers
        elif stage is not None:
            key = f"{stage}.layer{layer}" if layer is not None else f"{stage}.out"
        else:
            key = data["group"]
        groups.setdefault(key, []).append(node)
        keys[key] = (stage, layer)
    rows = []
    for key, nodes in groups.items():
        stage, layer = keys[key]
        rows.append(
            Row(
                name=key,
                output=format_shape(graph.nodes[nodes[-1]]["shape"]),
                fan_in=fan_in.get((stage, layer)) if stage is not None and layer is not None else None,
                params=sum(per_node[n][0] for n in nodes),
                macs=sum(per_node[n][1] for n in nodes),
                stage=stage,
                layer=layer,
            )
        )
    return rows


def sweep_table(name: str, results: Sequence[tuple[Any, Report]]) -> list[dict[str, Any]]:
    """One record per swept value: the figures whose growth the sweep shows.

    ``results`` pairs each value of the param ``name`` with the report at it.
    """
    records = []
    for value, report in results:
        fan_ins = [f for s in report.stages for f in s.fan_in]
        records.append(
            {
                "param": name,  # separate keys: a param may be called "params" or "layers"
                "value": value,
                "params": report.params,
                "macs": report.macs,
                "activation_bytes": report.activation_bytes,
                "layers": report.layers,
                "edges": report.edges,
                "stage_layers": sum(s.layers for s in report.stages),
                "connections": sum(s.connections for s in report.stages),
                "max_fan_in": max(fan_ins, default=0),
                "mean_fan_in": sum(fan_ins) / len(fan_ins) if fan_ins else 0.0,
                # hops of the stage where they are largest (stages of one spec are usually alike)
                "max_hops": max((s.max_hops for s in report.stages), default=0),
                "mean_hops": max((s.mean_hops for s in report.stages), default=0.0),
            }
        )
    return records
