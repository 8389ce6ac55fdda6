"""aggspec analyze: the report, its JSON, sweeps and plots, through the command line."""

from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib.image
import networkx as nx
import pytest

import aggspec
from aggspec.analysis.report import stage_totals, table_rows
from aggspec.cli.report_text import format_report

from ..conftest import EXAMPLES, run


def test_json_report_fields(capsys) -> None:
    code, out, _ = run(
        capsys,
        "analyze",
        str(EXAMPLES / "sparsenet_cifar.agg"),
        "-D",
        "depth=40",
        "-D",
        "bottleneck=false",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"network", "params", "macs", "activation_bytes", "layers", "edges", "path", "stages"}
    assert data["params"] == aggspec.analysis.counts.parameter_count(
        aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=40, bottleneck=False).graph
    )
    assert data["path"] == {"shortest_input_to_output": 10, "longest_input_to_output": 40}
    stage = data["stages"][0]
    assert set(stage) >= {"name", "layers", "take", "merge", "fan_in", "connections", "max_hops", "mean_hops"}
    assert stage["layers"] == 12 and stage["fan_in"] == [l.bit_length() for l in range(1, 13)]
    assert stage["connections"] == 37 and stage["max_hops"] == 3


def test_text_report(capsys, golden) -> None:
    code, out, _ = run(capsys, "analyze", str(EXAMPLES / "densenet_cifar.agg"))
    assert code == 0
    golden("analyze_densenet40.txt", out)
    assert "... 4 layers ..." in out and "1,059,298" in out


def test_full_lists_every_layer() -> None:
    report = aggspec.analyze(EXAMPLES / "densenet_cifar.agg")
    text = format_report(report, full=True)
    assert all(f"stage2.layer{l} " in text for l in range(1, 13))


def test_sweep_table_and_json(capsys) -> None:
    path = str(EXAMPLES / "sparsenet_cifar.agg")
    code, out, _ = run(capsys, "analyze", path, "-D", "bottleneck=false", "--sweep", "depth=40,100,250")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == path and lines[1].split()[:3] == ["depth", "params", "MACs"] and len(lines) == 5
    code, out, _ = run(
        capsys, "analyze", path, "-D", "bottleneck=false", "--sweep", "depth=40,100,250", "--json"
    )
    records = json.loads(out)
    assert [(r["param"], r["value"]) for r in records] == [("depth", 40), ("depth", 100), ("depth", 250)]
    assert [r["max_fan_in"] for r in records] == [4, 6, 7]  # floor(log2 L) + 1 for L = 12, 32, 82


@pytest.mark.slow
def test_sweep_plot_compares_specs(capsys, tmp_path) -> None:
    out_png = tmp_path / "sweep.png"
    dense, sparse = str(EXAMPLES / "densenet_cifar.agg"), str(EXAMPLES / "sparsenet_cifar.agg")
    code, out, _ = run(
        capsys,
        "analyze",
        dense,
        sparse,
        "-D",
        "bottleneck=false",
        "--sweep",
        "depth=40,52,64",
        "--plot",
        str(out_png),
    )
    assert code == 0 and out.count("depth  ") == 2
    image = matplotlib.image.imread(out_png)
    assert image.shape[:2] == (750, 1300)


def test_sweep_with_list_values(capsys) -> None:
    code, out, _ = run(
        capsys, "analyze", str(EXAMPLES / "sparsenet_cifar.agg"), "--sweep", "growth=12,[16,32,64]", "--json"
    )
    assert code == 0 and [r["value"] for r in json.loads(out)] == [12, [16, 32, 64]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--plot", "x.png"], "--plot needs --sweep"),
        (["--sweep", "depth=4.5"], "parameter 'depth' takes int, got float 4.5"),
        (["--sweep", "dpeth=40"], "unknown parameter 'dpeth'"),
        (
            ["--sweep", "depth=40,52", "--plot", "x.foo"],
            "--plot writes .png, .svg, .pdf, .jpg or .jpeg files",
        ),
        (["--sweep", "depth=40,52", "--plot", "/nonexistent/x.png"], "no folder"),
        ([str(EXAMPLES / "plain.agg")], "several specs can be compared only with --sweep"),
    ],
)
def test_analyze_errors(capsys, argv: list[str], message: str) -> None:
    code, _, err = run(capsys, "analyze", str(EXAMPLES / "densenet_cifar.agg"), *argv)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.slow
def test_sweep_of_a_param_named_like_a_figure(tmp_path, capsys) -> None:
    spec = tmp_path / "layers.agg"
    spec.write_text(
        "param layers = 6\nnetwork Net(input 3x8x8) { conv(8, 3) stage layers * conv(8, 3) { take dense; merge sum; emit all } }\n"
    )
    plot = tmp_path / "p.png"
    code, out, err = run(
        capsys, "analyze", str(spec), "--sweep", "layers=6,12", "--json", "--plot", str(plot)
    )
    records = json.loads(out)  # the plot's "wrote" line goes to stderr, so stdout stays JSON
    assert code == 0 and f"wrote {plot}" in err
    assert [(r["value"], r["stage_layers"], r["layers"]) for r in records] == [(6, 6, 13), (12, 12, 25)]


def test_nested_stages_count_in_the_outer_stage() -> None:
    spec = aggspec.loads("network N(input 4x8x8) { stage 2 * { stage 2 * conv(4, 3) } { take chain } }")
    outer = aggspec.analyze(spec).stages[-1]
    assert outer.name == "stage1" and outer.params == 4 * 4 * 4 * 9


def test_stage_totals_and_rows_read_node_attributes_not_ids() -> None:
    # Ids that say nothing: membership, layers and top-level groups come from the attributes alone.
    graph = nx.MultiDiGraph()
    nodes = [  # id, stages, stage, layer, group, shape, role
        ("n0", (), None, None, "input", (4,), "input"),
        ("n1", (), None, None, "conv1", (4,), "op"),
        ("n2", ("outer",), "outer", 1, "stage1", (5,), "op"),
        ("n3", ("outer", "inner"), "inner", 1, "stage1", (6,), "op"),
        ("n4", ("outer", "inner"), "inner", 1, "stage1", (7,), "op"),
        ("n5", ("outer",), "outer", None, "stage1", (8,), "emit"),
        ("n6", (), None, None, "gap1", (9,), "op"),
        ("n7", (), None, None, "gap1", (10,), "op"),
        ("n8", ("outer",), "outer", None, "stage1", (11,), "resample"),
    ]
    for node, stages, stage, layer, group, shape, role in nodes:
        kind = "input" if node == "n0" else "op"
        graph.add_node(
            node, kind=kind, stages=stages, stage=stage, layer=layer, group=group, shape=shape, role=role
        )
    per_node = {node: (10 ** int(node[1]), 1) for node, *_ in nodes}
    outer = SimpleNamespace(name="outer", takes=((0,),))
    inner = SimpleNamespace(name="inner", takes=((0,),))
    assert stage_totals(graph, [inner, outer], per_node) == {"inner": (11000, 2), "outer": (100111100, 5)}
    rows = table_rows(graph, [inner, outer], per_node)
    assert [(r.name, r.output, r.fan_in, r.params, r.stage, r.layer) for r in rows] == [
        ("conv1", "4", None, 10, None, None),
        ("outer.layer1", "5", 1, 100, "outer", 1),
        ("inner.layer1", "7", 1, 11000, "inner", 1),
        ("outer.out", "8", None, 100000, "outer", None),
        ("gap1", "10", None, 11000000, None, None),
        ("outer.resample", "11", None, 100000000, "outer", None),  # what an across clause resampled
    ]
