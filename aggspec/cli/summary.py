"""The one-screen summary printed by ``aggspec check``."""

from __future__ import annotations

from aggspec.analysis.counts import parameter_count
from aggspec.cli.tables import format_table
from aggspec.ir import StageInfo
from aggspec.ir.shapes import format_shape
from aggspec.spec import Spec
from aggspec.values import show_value

__all__ = ["summarize"]


def summarize(spec: Spec) -> str:
    graph = spec.graph
    lines = [
        f"network {spec.name}  ({spec.filename})",
        f"  input   {format_shape(spec.input_shape)}",
        f"  output  {format_shape(spec.output_shape)}",
    ]
    if spec.params:
        params = ", ".join(f"{k}={show_value(v)}" for k, v in spec.params.items())
        lines.append(f"  params  {params}")
    stages = spec.stages
    if stages:
        header = ("stage", "L", "unit", "take", "merge", "emit", "in", "out", "connections")
        rows = [
            (
                stage.name,
                str(stage.length),
                stage.unit,
                stage.take,
                stage.merge if _merges(stage) else "-",
                stage.emit,
                format_shape(graph.nodes[stage.input]["shape"]),
                format_shape(graph.nodes[stage.output]["shape"]),
                f"{stage.connections:,}",
            )
            for stage in stages
        ]
        lines.append("")
        lines += format_table(header, rows, right={1, 8})
    layers = graph.number_of_nodes() - 1
    stage_layers = sum(stage.length for stage in stages)
    stage_connections = sum(stage.connections for stage in stages)
    lines.append("")
    lines.append(
        f"  {layers:,} layers ({stage_layers:,} in {len(stages)} stage{'s' if len(stages) != 1 else ''}), "
        f"{graph.number_of_edges():,} connections ({stage_connections:,} between stage outputs), "
        f"{parameter_count(graph):,} parameters"
    )
    return "\n".join(lines)


def _merges(stage: StageInfo) -> bool:
    """Whether any layer (or the output) of the stage combines more than one value."""
    return len(stage.emits) > 1 or any(len(take) > 1 for take in stage.takes)
