"""Where a node belongs, as attributes: ``group``, ``stage``, ``stages``, ``layer``, ``unit``;
and each stage's rules as objects in its ``StageInfo``."""

from __future__ import annotations

import pytest

from aggspec import load, loads
from aggspec.ir.rules import Chain, Dense, Exponential, Last, Offsets, Sinks, TakeAtEnd, Where

from ..conftest import EXAMPLES


def attributes(graph, node: str) -> tuple:
    data = graph.nodes[node]
    return data["group"], data["stage"], data["stages"], data["layer"], data["unit"]


def test_group_is_the_top_level_construct() -> None:
    graph = loads(
        "def down(c) { conv(c, 1) avgpool(2) }\n"
        "network N(input 4x8x8) {\n"
        "  conv(4, 3)\n"
        "  residual(project) { conv(8, 3, 2) }\n"
        "  join concat { relu | conv(4, 1) }\n"
        "  down(8)\n"
        "  graph(x) { a = x -> relu\n b = sum(a, x) }\n"
        "  stage 2 * conv(C, 3) { take dense; merge sum }\n"
        "}"
    ).graph
    groups = dict(graph.nodes(data="group"))
    assert groups == {
        "input": "input",
        "conv1": "conv1",
        "conv2": "conv2",  # a residual opens no scope: its body's ops,
        "shortcut1.conv1": "shortcut1",  # its shortcut projection
        "shortcut1.bn1": "shortcut1",
        "add1": "add1",  # and its sum are groups of their own
        "join1.branch1.relu1": "join1",
        "join1.branch2.conv1": "join1",
        "join1.concat1": "join1",
        "down1.conv1": "down1",
        "down1.avgpool1": "down1",
        "graph1.a.relu1": "graph1",
        "graph1.b.sum1": "graph1",
        "stage1.layer1.conv1": "stage1",
        "stage1.layer2.sum1": "stage1",
        "stage1.layer2.conv1": "stage1",
    }
    assert all(graph.nodes[n]["stages"] == () for n in graph if not n.startswith("stage1."))


def test_a_stage_layers_aggregation_comes_before_its_unit() -> None:
    spec = loads(
        "network N(input 4x8x8) { stage 3 * conv(4, 3) { take dense; merge sum(project) then relu; emit all } }"
    )
    graph = spec.graph
    layer2 = [n for n, data in graph.nodes(data=True) if data["layer"] == 2]
    assert layer2 == ["stage1.layer2.sum1", "stage1.layer2.relu1", "stage1.layer2.conv1"]
    assert [graph.nodes[n]["unit"] for n in layer2] == [False, False, True]
    assert attributes(graph, "stage1.layer2.relu1") == ("stage1", "stage1", ("stage1",), 2, False)
    assert attributes(graph, "stage1.layer2.conv1") == ("stage1", "stage1", ("stage1",), 2, True)
    assert attributes(graph, "stage1.sum1") == ("stage1", "stage1", ("stage1",), None, False)
    assert graph.nodes["stage1.sum1"]["role"] == "emit"


def test_a_stage_inside_another_stages_unit() -> None:
    graph = loads(
        "network N(input 4x8x8) { stage 2 * { stage 2 * conv(4, 3) { take dense; merge sum } relu } { take dense; merge sum } }"
    ).graph
    outer, inner = "stage1", "stage1.layer2.stage1"
    assert attributes(graph, "stage1.layer2.sum1") == ("stage1", outer, (outer,), 2, False)
    assert attributes(graph, f"{inner}.layer1.conv1") == ("stage1", inner, (outer, inner), 1, True)
    assert attributes(graph, f"{inner}.layer2.sum1") == ("stage1", inner, (outer, inner), 2, False)
    # the inner stage's output feeds the rest of the outer unit, which is the outer layer's again
    assert attributes(graph, "stage1.layer2.relu1") == ("stage1", outer, (outer,), 2, True)
    stages = {n: data["stages"] for n, data in graph.nodes(data=True)}
    assert sum(1 for s in stages.values() if inner in s) == 3  # conv, then sum and conv; it emits its last
    assert sum(1 for s in stages.values() if outer in s) == len(graph) - 1


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.agg")), ids=lambda p: p.name)
def test_attributes_agree_with_the_ids_readers_used_to_parse(path) -> None:
    # what report.py and viz.py recovered from ids: the first component, and stage-name prefixes
    spec = load(path)
    names = {stage.name for stage in spec.stages}
    for node, data in spec.graph.nodes(data=True):
        parts = node.split(".")
        prefixes = tuple(p for p in (".".join(parts[:d]) for d in range(1, len(parts))) if p in names)
        assert data["group"] == parts[0]
        assert data["stages"] == prefixes


def test_stage_info_keeps_the_rule_objects() -> None:
    spec = load(EXAMPLES / "sparsenet_cifar.agg", depth=40, bottleneck=False)
    stage = spec.stages[0]
    assert stage.take == "exponential" and stage.emit == "exponential"
    assert stage.take_rule == Exponential(base=2)
    assert stage.emit_rule == TakeAtEnd(Exponential(base=2))
    assert stage.emit_rule.emit(stage.length, stage.takes) == list(stage.emits)


@pytest.mark.parametrize(
    ("clauses", "take_rule", "emit_rule"),
    [
        ("", Chain(), Last()),
        ("{ take dense; emit sinks }", Dense(), Sinks()),
        ("{ take offsets(1, 3); emit offsets(1, 2) using sum }", Offsets((1, 3)), TakeAtEnd(Offsets((1, 2)))),
    ],
)
def test_rule_objects_for_each_clause(clauses: str, take_rule, emit_rule) -> None:
    (stage,) = loads(f"network N(input 4x8x8) {{ stage 4 * conv(4, 3) {clauses} }}").stages
    assert stage.take_rule == take_rule
    assert stage.emit_rule == emit_rule


def test_a_where_rule_is_kept_as_its_object() -> None:
    (stage,) = loads("network N(input 4x8x8) { stage 4 * conv(4, 3) { take where j == 0 } }").stages
    assert isinstance(stage.take_rule, Where)
    assert stage.take == "where j == 0"
    assert [stage.take_rule.take(l, 4) for l in range(1, 5)] == [list(t) for t in stage.takes]
