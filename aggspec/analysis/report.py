"""``aggspec analyze``: the analysis of a spec as a record, a table and JSON.

``analyze`` assembles a ``Report`` from the pure functions in ``analysis.py``;
``sweep`` analyzes a spec once per value of one parameter; ``format_report``
and ``format_sweep`` render them for a terminal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
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
from aggspec.analysis.hops import stage_hops
from aggspec.api import build_spec, read_source
from aggspec.cli.tables import format_table
from aggspec.ir import Limits
from aggspec.ir.shapes import format_shape
from aggspec.lang.params import Override
from aggspec.options import check_option, collect_params
from aggspec.spec import Spec

__all__ = [
    "Report",
    "Row",
    "StageReport",
    "analyze",
    "format_report",
    "format_sweep",
    "sweep",
    "sweep_table",
    "to_json",
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


@dataclass(frozen=True)
class Row:
    """One line of the per-layer table: a stage layer, a stage's output, or a top-level op or call."""

    name: str
    output: str  # shape, e.g. "48x32x32"
    fan_in: int | None
    params: int
    macs: int
    stage: str | None


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
    totals = _stage_totals(graph, [s.name for s in spec.stages], per_node)
    stages = []
    for stage in spec.stages:
        hops = stage_hops(stage)
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
        rows=_rows(graph, spec, per_node),
    )


def _stage_totals(
    graph: nx.MultiDiGraph, names: Sequence[str], per_node: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    """Parameters and MACs per stage, in one pass over the nodes.

    A node belongs to every stage whose name prefixes its id, so a stage nested
    in another's unit counts in both.
    """
    totals = dict.fromkeys(names, (0, 0))
    for node in graph:
        parts = node.split(".")
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            if prefix in totals:
                params, macs = totals[prefix]
                totals[prefix] = (params + per_node[node][0], macs + per_node[node][1])
    return totals


def _rows(graph: nx.MultiDiGraph, spec: Spec, per_node: dict[str, tuple[int, int]]) -> list[Row]:
    """Group the IR's nodes into table rows, in network order."""
    fan_in = {(s.name, l): len(t) for s in spec.stages for l, t in enumerate(s.takes, start=1)}
    groups: dict[str, list[str]] = {}
    keys: dict[str, tuple[str | None, int | None]] = {}
    for node, data in graph.nodes(data=True):
        if data["kind"] == "input":
            continue
        stage, layer = data["stage"], data["layer"]
        if stage is not None:
            key = f"{stage}.layer{layer}" if layer is not None else f"{stage}.out"
        else:
            key = node.split(".")[0]
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
            )
        )
    return rows


def sweep(
    path: str | os.PathLike[str],
    name: str,
    values: Sequence[Override],
    overrides: Sequence[Override] = (),
    limits: Limits | None = None,
) -> list[tuple[Any, Report]]:
    """Analyze the spec at ``path`` once per value of parameter ``name``."""
    text = read_source(path)
    results = []
    for value in values:
        spec = build_spec(text, os.fspath(path), [*overrides, value], limits)
        results.append((value.value, analyze(spec)))
    return results


# ---------------------------------------------------------------- text


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def format_report(report: Report, *, full: bool = False, keep: int = 4) -> str:
    """A torchinfo-style table per layer, a table per stage, then totals.

    Stages longer than ``2 * keep + 1`` layers show their first and last
    ``keep`` layers unless ``full``.
    """
    lines = [f"{report.network}: {report.input} -> {report.output}", ""]
    body: list[list[str]] = []
    stage_rows: dict[str, list[Row]] = {}
    for row in report.rows:
        if row.stage is not None and row.name.split(".")[-1].startswith("layer"):
            stage_rows.setdefault(row.stage, []).append(row)
    shown_gap: set[str] = set()
    for row in report.rows:
        layers = stage_rows.get(row.stage or "", [])
        if row.stage is not None and row in layers and not full and len(layers) > 2 * keep + 1:
            index = layers.index(row)
            if keep <= index < len(layers) - keep:
                if row.stage not in shown_gap:
                    shown_gap.add(row.stage)
                    body.append([f"  ... {len(layers) - 2 * keep} layers ...", "", "", "", ""])
                continue
        name = f"  {row.name}" if row.stage is not None else row.name
        fan_in = str(row.fan_in) if row.fan_in is not None else ""
        body.append([name, row.output, fan_in, f"{row.params:,}", f"{row.macs:,}"])
    lines += format_table(("layer", "output", "fan-in", "params", "MACs"), body, {2, 3, 4})
    if report.stages:
        lines.append("")
        stage_body = [
            [
                s.name,
                str(s.layers),
                s.take,
                s.merge,
                f"{min(s.fan_in)}/{sum(s.fan_in) / len(s.fan_in):.2f}/{max(s.fan_in)}",
                f"{s.connections:,}",
                str(s.max_hops),
                f"{s.mean_hops:.2f}"
                + (f" ({s.unreachable_pairs:,} pairs unreachable)" if s.unreachable_pairs else ""),
                f"{s.params:,}",
                _si(s.macs),
            ]
            for s in report.stages
        ]
        header = (
            "stage",
            "L",
            "take",
            "merge",
            "fan-in min/mean/max",
            "connections",
            "max hops",
            "mean hops",
            "params",
            "MACs",
        )
        lines += format_table(header, stage_body, {1, 5, 6, 8, 9})
    lines += [
        "",
        f"  params        {report.params:,}",
        f"  MACs          {report.macs:,} per sample ({_si(report.macs)}; conv and linear only)",
        f"  activations   {report.activation_bytes:,} bytes per sample "
        f"({_si(report.activation_bytes)}B, fp32)",
        f"  layers        {report.layers:,} ops and merges, {report.edges:,} edges",
        f"  depth         {report.path.longest_input_to_output} weight layers on the longest "
        f"input-to-output path, {report.path.shortest_input_to_output} on the shortest",
    ]
    return "\n".join(lines)


def sweep_table(name: str, results: Sequence[tuple[Any, Report]]) -> list[dict[str, Any]]:
    """One record per swept value: the figures whose growth the sweep shows."""
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


def format_sweep(name: str, records: Sequence[dict[str, Any]]) -> str:
    """The sweep as a table, one row per value (``records`` from ``sweep_table``)."""
    from aggspec.values import show_value

    header = (
        name,
        "params",
        "MACs",
        "activations",
        "stage layers",
        "connections",
        "fan-in max",
        "fan-in mean",
        "max hops",
        "mean hops",
    )
    body = [
        [
            show_value(r["value"]),
            f"{r['params']:,}",
            _si(r["macs"]),
            _si(r["activation_bytes"]) + "B",
            f"{r['stage_layers']:,}",
            f"{r['connections']:,}",
            str(r["max_fan_in"]),
            f"{r['mean_fan_in']:.2f}",
            str(r["max_hops"]),
            f"{r['mean_hops']:.2f}",
        ]
        for r in records
    ]
    return "\n".join(format_table(header, body, set(range(1, len(header)))))


def to_json(data: Any) -> str:
    """Indented JSON, with lists of numbers kept on one line (a stage's fan-in list can be long)."""
    text = json.dumps(data, indent=2)
    return re.sub(r"\[\s*([-\d.e,\s]*?)\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
