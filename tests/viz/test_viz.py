"""Diagrams rendered with the real dot program, parsed back and compared with the IR."""

from __future__ import annotations

import re
import shutil

import matplotlib.image
import pytest

import aggspec
from aggspec import cli
from aggspec.viz.graphviz import LEVELS, draw, render
from aggspec.viz.matrix import connectivity_matrix

from ..conftest import EXAMPLES, example_paths

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")


def svg_titles(svg: str, kind: str) -> list[str]:
    """The <title> of every node or edge group in an SVG that dot wrote."""
    return re.findall(rf'<g id="{kind}\d+" class="{kind}">\s*<title>(.*?)</title>', svg)


def drawn(svg: str) -> tuple[list[str], list[str]]:
    nodes = [t for t in svg_titles(svg, "node") if not t.startswith("legend_")]
    return nodes, svg_titles(svg, "edge")


@needs_dot
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("path", example_paths())
def test_every_example_renders_at_every_level(tmp_path, path, level: str) -> None:
    spec = aggspec.load(path)
    dot = draw(spec, level)
    out = tmp_path / f"{path.stem}.svg"
    render(dot, out)
    nodes, edges = drawn(out.read_text())
    body = [line for line in dot.body if "legend_" not in line]
    assert len(nodes) == sum(1 for line in body if " [label=" in line and "->" not in line)
    assert len(edges) == sum(1 for line in body if "->" in line)


@needs_dot
def test_op_level_svg_matches_the_ir() -> None:
    spec = aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=16, bottleneck=False)
    nodes, edges = drawn(draw(spec, "op").pipe(format="svg").decode())
    graph = spec.graph
    assert len(nodes) == graph.number_of_nodes()
    assert len(edges) == len(set(graph.edges()))


@needs_dot
@pytest.mark.slow
def test_layer_level_has_a_node_per_layer_and_merge() -> None:
    spec = aggspec.load(EXAMPLES / "densenet_cifar.agg")
    nodes, _ = drawn(draw(spec, "layer", full=True).pipe(format="svg").decode())
    merges = sum(1 for s in spec.stages for t in s.takes if len(t) > 1) + len(spec.stages)  # + emit merges
    layers = sum(s.length for s in spec.stages)
    top_level = {n.split(".")[0] for n, d in spec.graph.nodes(data="stage") if d is None}
    assert len(nodes) == merges + layers + len(top_level)


@needs_dot
@pytest.mark.slow
def test_long_stages_collapse(tmp_path) -> None:
    spec = aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=3004, bottleneck=False)
    dot = draw(spec)
    assert "... 994 layers ..." in dot.source
    render(dot, tmp_path / "deep.svg")
    nodes, _ = drawn((tmp_path / "deep.svg").read_text())
    assert len(nodes) < 200
    assert len(draw(spec, full=True).body) > 3000


def test_connectivity_matrix_cells_are_the_connections() -> None:
    for path in sorted(EXAMPLES.glob("*.agg")):
        for stage in aggspec.load(path).stages:
            matrix = connectivity_matrix(stage)
            assert matrix.shape == (stage.length, stage.offset + stage.length + 1)
            assert (matrix > 0).sum() == stage.connections


@pytest.mark.slow
def test_cli_matrix_compare(tmp_path, capsys) -> None:
    out = tmp_path / "m.png"
    code = cli.main(
        [
            "viz",
            str(EXAMPLES / "densenet_cifar.agg"),
            "--matrix",
            "--compare",
            str(EXAMPLES / "sparsenet_cifar.agg"),
            "-o",
            str(out),
        ]
    )
    assert code == 0 and "1200x800" in capsys.readouterr().out
    assert matplotlib.image.imread(out).shape[:2] == (800, 1200)


@needs_dot
@pytest.mark.parametrize("extension", ["svg", "png", "pdf", "dot"])
def test_cli_formats(tmp_path, capsys, extension: str) -> None:
    out = tmp_path / f"net.{extension}"
    code = cli.main(
        ["viz", str(EXAMPLES / "resnet18.agg"), "--level", "stage", "--rankdir", "LR", "-o", str(out)]
    )
    assert code == 0
    head = out.read_bytes()[:8]
    assert {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF", "dot": b"digraph"}[extension] in head
    if extension == "dot":
        assert "rankdir=LR" in out.read_text()


def test_missing_dot_says_how_to_install_and_still_writes_dot(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # hide every program, dot included
    out = tmp_path / "net.png"
    code = cli.main(["viz", str(EXAMPLES / "plain.agg"), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert len(err.splitlines()) == 1 and "apt-get install graphviz" in err
    assert (tmp_path / "net.dot").read_text().startswith("digraph Plain {")
    # .dot needs no dot program at all
    assert cli.main(["viz", str(EXAMPLES / "plain.agg"), "-o", str(tmp_path / "again.dot")]) == 0


@needs_dot
def test_spec_shows_itself_in_jupyter() -> None:
    spec = aggspec.load(EXAMPLES / "plain.agg")
    assert spec._repr_svg_().startswith("<?xml")
    assert set(spec._repr_mimebundle_()) == {"text/plain", "image/svg+xml"}


def test_viz_argument_errors(capsys) -> None:
    assert cli.main(["viz", str(EXAMPLES / "plain.agg"), "--compare", "x.agg", "-o", "x.png"]) == 2
    assert "--compare needs --matrix" in capsys.readouterr().err
    with pytest.raises(ValueError, match="level must be one of"):
        draw(aggspec.load(EXAMPLES / "plain.agg"), "blocks")


def test_colours_and_legend_come_from_the_registries(monkeypatch) -> None:
    from dataclasses import replace

    from aggspec.ir.merges import MERGES
    from aggspec.ir.ops import OPS, family_colour

    monkeypatch.setitem(OPS, "gelu", replace(OPS["gelu"], family="smooth"))  # a family no table lists
    spec = aggspec.loads(
        "network T(input 3x8x8) { conv(4, 3, stride=2) gelu stage 3 * relu { take dense; merge mean } }"
    )
    source = draw(spec, "op").source
    legend = re.findall(r"legend_(\w+) \[label=\w+ fillcolor=\"(#\w+)\" fontsize=9 shape=(\w+)", source)
    assert legend == [
        ("conv", family_colour("conv"), "box"),
        ("activation", family_colour("activation"), "box"),
        ("smooth", family_colour("smooth"), "box"),  # listed families first, then new ones
        ("mean", MERGES["mean"].colour, "ellipse"),
    ]
    assert family_colour("smooth") == family_colour("smooth") and family_colour("smooth").startswith("#")
    assert 'label="conv1\nconv 3x3 /2\n4x4x4"' in source  # the op's own description
    assert f'fillcolor="{family_colour("smooth")}"' in source.split("subgraph")[0]


def test_each_resampling_of_an_across_stage_is_a_box_of_its_own_at_layer_level() -> None:
    spec = aggspec.load(EXAMPLES / "unet_bilinear.agg")
    source = draw(spec, "layer").source
    resampled = [n for n, role in spec.graph.nodes(data="role") if role == "resample"]
    assert len(resampled) == 4  # one bilinear upsampling per decoder layer
    for node in resampled:
        assert re.search(rf'"?{re.escape(node)}"? \[', source), node  # drawn as itself, not in stage2:out
    assert "upsample x2 bilinear" in source
