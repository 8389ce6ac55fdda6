"""The text rendering of ``aggspec analyze``: long stages cut the same way as always, in linear time.

The renderer is checked against the obvious formulation it replaced (which
searched each row's stage for the row, quadratic in the stage's length) and,
without timing anything, on a 20,000-layer stage: it never compares two rows,
so it cannot be searching for them.
"""

from __future__ import annotations

import pytest

from aggspec.analysis.report import Path, Report, Row
from aggspec.cli.report_text import format_report, format_si, format_sweep, to_json
from aggspec.cli.tables import format_table


def layer_row(stage: str, l: int) -> Row:
    return Row(f"{stage}.layer{l}", "4x8x8", l.bit_length(), 144 * l, 9216 * l, stage, l)


def top_row(name: str) -> Row:
    return Row(name, "4x8x8", None, 144, 9216, None, None)


def stage_rows(stage: str, L: int) -> list[Row]:
    return [layer_row(stage, l) for l in range(1, L + 1)] + [Row(f"{stage}.out", "8x8x8", None, 0, 0, stage)]


def report_of(rows: list[Row]) -> Report:
    return Report("N", "4x8x8", "10", 1, 2, 3, 4, 5, Path(1, 2), [], rows)


def reference_layer_table(rows: list[Row], full: bool, keep: int) -> list[str]:
    """The per-layer table as the renderer used to build it: find each row in its stage's list."""
    body: list[list[str]] = []
    stage_rows: dict[str, list[Row]] = {}
    for row in rows:
        if row.stage is not None and row.name.split(".")[-1].startswith("layer"):
            stage_rows.setdefault(row.stage, []).append(row)
    shown_gap: set[str] = set()
    for row in rows:
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
    return format_table(("layer", "output", "fan-in", "params", "MACs"), body, {2, 3, 4})


def layer_table(text: str) -> list[str]:
    lines = text.split("\n")
    return lines[2 : lines.index("", 2)]


MIXED = [  # top-level ops, stages of every length around the cut, a stage nested in another's layers
    top_row("conv1"),
    *stage_rows("stage1", 1),
    *stage_rows("stage2", 9),
    top_row("transition1"),
    *stage_rows("stage3", 10),
    layer_row("stage4", 1),
    *stage_rows("stage4.layer1.stage1", 12),
    layer_row("stage4", 2),
    *stage_rows("stage4.layer2.stage1", 12),
    *[layer_row("stage4", l) for l in range(3, 13)],
    Row("stage4.out", "8x8x8", None, 0, 0, "stage4"),
    top_row("gap1"),
]


@pytest.mark.parametrize("keep", [0, 1, 3, 4, 5, 6])
@pytest.mark.parametrize("full", [False, True])
def test_layer_table_is_cut_as_before(full: bool, keep: int) -> None:
    text = format_report(report_of(MIXED), full=full, keep=keep)
    assert layer_table(text) == reference_layer_table(MIXED, full, keep)


def test_a_20000_layer_stage(monkeypatch) -> None:
    L = 20_000
    rows = [top_row("conv1"), *stage_rows("stage1", L), top_row("gap1")]

    def no_comparisons(self: Row, other: object) -> bool:
        raise AssertionError("rendering compared two rows: it is searching for them")

    monkeypatch.setattr(Row, "__eq__", no_comparisons)
    table = layer_table(format_report(report_of(rows)))
    shown = [1, 2, 3, 4, L - 3, L - 2, L - 1, L]
    assert [line.split()[0] for line in table] == [
        "layer",
        "conv1",
        *[f"stage1.layer{l}" for l in shown[:4]],
        "...",
        *[f"stage1.layer{l}" for l in shown[4:]],
        "stage1.out",
        "gap1",
    ]
    assert table[6].strip() == "... 19992 layers ..."
    assert table[-3].split() == ["stage1.layer20000", "4x8x8", "15", "2,880,000", "184,320,000"]

    full = layer_table(format_report(report_of(rows), full=True))
    assert len(full) == 1 + len(rows)
    assert [line.split()[0] for line in full[2:-2]] == [f"stage1.layer{l}" for l in range(1, L + 1)]


def test_format_si() -> None:
    assert [format_si(n) for n in (0, 999, 1_000, 217_650_000, 2.5e9)] == [
        "0",
        "999",
        "1.00k",
        "217.65M",
        "2.50G",
    ]


def test_sweep_table_text() -> None:
    record = {
        "value": [16, 32],
        "params": 1_059_298,
        "macs": 282_917_328,
        "activation_bytes": 30_539_368,
        "stage_layers": 36,
        "connections": 234,
        "max_fan_in": 12,
        "mean_fan_in": 6.5,
        "max_hops": 1,
        "mean_hops": 1.0,
    }
    assert format_sweep("growth", [record]).split("\n") == [
        "  growth       params     MACs  activations  stage layers  connections  fan-in max  fan-in mean  max hops  mean hops",
        "  [16, 32]  1,059,298  282.92M      30.54MB            36          234          12         6.50         1       1.00",
    ]


def test_json_keeps_number_lists_on_one_line() -> None:
    assert to_json({"fan_in": [1, 2], "stages": [{"a": 1}]}).split("\n") == [
        "{",
        '  "fan_in": [1, 2],',
        '  "stages": [',
        "    {",
        '      "a": 1',
        "    }",
        "  ]",
        "}",
    ]
