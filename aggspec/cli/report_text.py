"""``aggspec analyze`` for people and programs: a report as tables, a sweep as a table, JSON.

The numbers come from ``aggspec.analysis.report``; this module only lays
them out. Rendering is linear in the number of rows: a report with a
20,000-layer stage prints as fast as its rows can be formatted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from aggspec.analysis.report import Report, Row, StageReport
from aggspec.analysis.training import TrainingMemory
from aggspec.cli.tables import format_table
from aggspec.values import show_value

__all__ = ["format_report", "format_si", "format_sweep", "format_training", "to_json"]


def format_si(n: float) -> str:
    """A number with an SI suffix and two decimals, for figures people compare by magnitude.

    >>> format_si(312_054_720), format_si(20_196_136), format_si(1_500), format_si(999)
    ('312.05M', '20.20M', '1.50k', '999')
    """
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
    body = _layer_cells(report.rows, full=full, keep=keep)
    lines += format_table(("layer", "output", "fan-in", "params", "MACs"), body, {2, 3, 4})
    if report.stages:
        lines.append("")
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
        lines += format_table(header, [_stage_cells(s) for s in report.stages], {1, 5, 6, 8, 9})
    lines += [
        "",
        f"  params        {report.params:,}",
        f"  MACs          {report.macs:,} per sample ({format_si(report.macs)}; conv and linear only)",
        f"  activations   {report.activation_bytes:,} bytes per sample "
        f"({format_si(report.activation_bytes)}B, fp32)",
        f"  layers        {report.layers:,} ops and merges, {report.edges:,} edges",
        f"  depth         {report.path.longest_input_to_output} weight layers on the longest "
        f"input-to-output path, {report.path.shortest_input_to_output} on the shortest",
    ]
    return "\n".join(lines)


def _layer_cells(rows: Sequence[Row], *, full: bool, keep: int) -> list[list[str]]:
    """The per-layer table's cells, long stages cut to their first and last ``keep`` layers.

    Two passes over the rows, each O(1) per row: count every stage's layer
    rows, then number them as they come, so a row's place in its stage is
    known without searching for it.
    """
    stage_length = Counter(row.stage for row in rows if row.layer is not None)
    seen: Counter[str | None] = Counter()
    body: list[list[str]] = []
    for row in rows:
        if row.layer is not None and not full:
            index, length = seen[row.stage], stage_length[row.stage]
            seen[row.stage] += 1
            if length > 2 * keep + 1 and keep <= index < length - keep:
                if index == keep:  # the first hidden layer stands for all of them
                    body.append([f"  ... {length - 2 * keep} layers ...", "", "", "", ""])
                continue
        name = f"  {row.name}" if row.stage is not None else row.name
        fan_in = str(row.fan_in) if row.fan_in is not None else ""
        body.append([name, row.output, fan_in, f"{row.params:,}", f"{row.macs:,}"])
    return body


def _stage_cells(stage: StageReport) -> list[str]:
    fan_in = stage.fan_in
    unreachable = f" ({stage.unreachable_pairs:,} pairs unreachable)" if stage.unreachable_pairs else ""
    sampled = stage.hops_sampled_sources
    estimate = f" (from {sampled:,} of {stage.layers + 1:,} outputs)" if sampled is not None else ""
    approx = "~" if sampled is not None else ""
    return [
        stage.name,
        str(stage.layers),
        stage.take,
        stage.merge,
        f"{min(fan_in)}/{sum(fan_in) / len(fan_in):.2f}/{max(fan_in)}",
        f"{stage.connections:,}",
        f"{approx}{stage.max_hops}",
        f"{approx}{stage.mean_hops:.2f}{unreachable}{estimate}",
        f"{stage.params:,}",
        format_si(stage.macs),
    ]


def format_training(memory: TrainingMemory) -> str:
    """What a training step holds: activations per stage, then the totals and the estimated peak."""
    mib = 2**20

    def show(count: int) -> str:
        return f"{count / mib:,.1f} MiB"

    header = ("kept for backward", "bytes", "share")
    saved = max(memory.saved, 1)
    body = [
        [stage, show(size), f"{size / saved:.0%}"]
        for stage, size in sorted(memory.saved_by_stage.items(), key=lambda item: -item[1])
    ]
    lines = [
        f"Training memory at batch {memory.batch:,}"
        f"{', memory-efficient' if memory.memory_efficient else ''}"
        " (fp32, SGD with momentum; predicted from the registry):",
        *format_table(header, body, {1, 2}),
        f"  parameters    {show(memory.parameters)}",
        f"  gradients     {show(memory.gradients)}",
        f"  optimizer     {show(memory.optimizer)} (momentum)",
        f"  activations   {show(memory.saved)} kept for the backward pass (the input batch included)",
        f"  peak          {show(memory.peak)} (the step replayed node by node: forward, then backward)",
    ]
    return "\n".join(lines)


def format_sweep(name: str, records: Sequence[dict[str, Any]]) -> str:
    """The sweep as a table, one row per value (``records`` from ``sweep_table``)."""
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
            format_si(r["macs"]),
            format_si(r["activation_bytes"]) + "B",
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
    """Indented JSON, with lists of numbers kept on one line (a stage's fan-in list can be long).

    >>> print(to_json({"fan_in": [1, 2, 2], "name": "stage1"}))
    {
      "fan_in": [1, 2, 2],
      "name": "stage1"
    }
    """
    text = json.dumps(data, indent=2)
    return re.sub(r"\[\s*([-\d.e,\s]*?)\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
