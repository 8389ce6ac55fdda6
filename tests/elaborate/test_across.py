"""``stage name = ...`` and ``across``: rules that index the outputs of earlier stages."""

from __future__ import annotations

import pytest
import torch

import aggspec
from aggspec import AggSpecError, loads
from aggspec.ir import inputs_of

NET = "def unit {{ conv(4, 3) }}\nnetwork N(input 4x16x16) {{\n{body}\n}}\n"


def test_the_rules_index_the_stages_reached_across_first() -> None:
    spec = loads(NET.format(body="stage a = 3 * unit\nstage b = 2 * unit { across a; take dense }"))
    a, b = spec.stages
    assert (a.label, b.label, b.offset, b.across) == ("a", "b", 4, (a.name,))
    assert b.outputs[:4] == a.outputs  # a's x_0 .. x_3, then b's own
    assert b.input == a.output == b.outputs[4]
    assert b.takes == ((0, 1, 2, 3, 4), (0, 1, 2, 3, 4, 5))
    assert b.take == "dense across a"


def test_l_and_L_in_a_rule_are_global_and_local_in_the_unit() -> None:
    spec = loads(
        NET.format(
            body="stage a = 3 * unit\n"
            "stage b = 2 * conv(4 * l, 3) { across a; take where j == l - 1 or j == L - l - 1 }"
        )
    )
    b = spec.stages[1]
    # global l = 5, 6 and L = 6: layer 1 takes 4 and 0, layer 2 takes 5 (and -1: nothing)
    assert b.takes == ((0, 4), (5,))
    widths = [spec.graph.nodes[b.outputs[b.offset + l]]["shape"][0] for l in (1, 2)]
    assert widths == [4, 8]  # the unit's l is its own layer index


def test_a_name_reused_in_a_loop_reaches_every_earlier_stage_of_that_name() -> None:
    body = """
    for i in range(3) {
        stage block = 2 * unit { across block; take dense; emit last }
    }"""
    spec = loads(NET.format(body=body))
    first, second, third = spec.stages
    assert (first.offset, second.offset, third.offset) == (0, 3, 6)
    assert third.across == (first.name, second.name)
    assert third.takes[-1] == tuple(range(8))  # global l = 8: all of the first two, and its own 6, 7


def test_pooled_brings_larger_outputs_down_once_per_output() -> None:
    body = """stage a = 2 * unit
    maxpool(2)
    stage b = 3 * unit { across a pooled(mode="max"); take dense }"""
    spec = loads(NET.format(body=body))
    graph = spec.graph
    resampled = [n for n, d in graph.nodes(data=True) if d["role"] == "resample"]
    # a's three outputs are 16x16: each pooled once, though three layers take it
    assert len(resampled) == 3
    assert {graph.nodes[n]["op"] for n in resampled} == {"maxpool"}
    assert all(graph.nodes[n]["args"]["k"] == 2 and graph.nodes[n]["shape"] == (4, 8, 8) for n in resampled)
    assert all(
        graph.nodes[n]["stage"] == spec.stages[1].name and graph.nodes[n]["layer"] is None for n in resampled
    )


def test_upsampled_brings_smaller_outputs_up_to_the_largest() -> None:
    body = """stage down = 2 * { conv(4, 3, stride=2) }
    stage up = 2 * { upsample(2) conv(4, 3) } { across down upsampled(mode="bilinear"); take where j == l - 1 or j == L - l }"""
    spec = loads(NET.format(body=body))
    up = spec.stages[1]
    assert up.takes == ((1, 3), (0, 4))  # global l = 4, 5 of L = 5: the mirror output, the predecessor
    for l in (1,):  # (layer 2's inputs are both 16x16)
        merge = next(
            n
            for n, d in spec.graph.nodes(data=True)
            if d["stage"] == up.name and d["layer"] == l and d["role"] == "aggregate"
        )
        sources = inputs_of(spec.graph, merge)
        # the mirror output is at the layer's size already; the predecessor is upsampled to it
        assert sources[0] == up.outputs[up.takes[l - 1][0]]
        assert spec.graph.nodes[sources[1]]["op"] == "upsample"
        assert spec.graph.nodes[sources[1]]["args"] == {
            "scale": 2,
            "mode": "bilinear",
            "align_corners": False,
        }


def test_the_emit_rule_reaches_across_too() -> None:
    body = """stage a = 2 * unit
    avgpool(2)
    stage b = 2 * unit { across a pooled; take chain; emit all }"""
    spec = loads(NET.format(body=body))
    b = spec.stages[1]
    assert b.emits == tuple(range(6))
    assert spec.graph.nodes[b.output]["shape"] == (24, 8, 8)


def test_a_stage_reaching_across_trains_and_matches_its_hand_written_forward() -> None:
    body = """stage a = 2 * unit
    avgpool(2)
    stage b = 1 * unit { across a pooled; take dense }"""
    model = aggspec.build(loads(NET.format(body=body)))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    x = torch.randn(2, 4, 16, 16, requires_grad=True)
    y1 = convs[0](x)
    y2 = convs[1](y1)
    pooled = [torch.nn.functional.avg_pool2d(v, 2) for v in (x, y1, y2)]
    expected = convs[2](torch.cat([*pooled, pooled[2]], 1))  # x_0..x_2 of a, then b's input (y2 pooled)
    torch.testing.assert_close(model(x), expected)
    model(x).sum().backward()
    assert x.grad is not None and all(c.weight.grad is not None for c in convs)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("stage a = 2 * unit\nstage 2 * unit { across a; across a }", "more than one 'across' clause"),
        (
            "stage a = 2 * unit\nmaxpool(2)\nstage b = 1 * unit\ngap flatten\n"
            "stage 2 * identity { across a, b pooled; take dense }",
            "flat features",
        ),
    ],
)
def test_across_mistakes(body: str, message: str) -> None:
    with pytest.raises(AggSpecError, match=message):
        loads(NET.format(body=body))


def test_a_unit_and_a_merges_then_steps_see_the_stages_own_L() -> None:
    body = """stage a = 3 * unit
    stage b = 2 * { conv(L, 3) } { across a; take dense }
    stage c = 2 * unit { across a; take dense; merge concat then conv(L, 1) }"""
    graph = loads(NET.format(body=body)).graph
    b, c = graph.graph["stages"][1:]
    assert graph.nodes[b.output]["shape"][0] == 2  # L = 2 in the unit, not the 6 the rules count to
    then = [
        n for n, d in graph.nodes(data=True) if d["stage"] == c.name and d["op"] == "conv" and not d["unit"]
    ]
    assert then and all(graph.nodes[n]["shape"][0] == 2 for n in then)


def test_sinks_across_are_the_stages_own_layers_no_later_layer_takes() -> None:
    spec = loads(
        NET.format(body="stage a = 2 * unit\nstage b = 3 * unit { across a; take chain; emit sinks }")
    )
    b = spec.stages[1]
    assert b.emits == (6,)  # its last layer: a's outputs are not its layers, whatever takes them


def test_a_stages_name_appears_in_its_errors() -> None:
    body = "stage a = 2 * unit\nmaxpool(2)\nstage late = 2 * unit { across a; take dense }"
    with pytest.raises(AggSpecError, match=r"layer 1 of stage 'late' \(stage2\) takes outputs of sizes"):
        loads(NET.format(body=body))


def test_what_stages_reach_across_in_all_is_bounded_by_the_connection_limit() -> None:
    from aggspec import Limits

    text = "network N(input 4x8x8) {\n    for i in range(100) { stage s = 1 * relu { across s; merge sum } }\n}\n"
    assert len(loads(text).stages) == 100  # 2 + 4 + ... + 198 = 9,900 outputs indexed in all
    with pytest.raises(
        AggSpecError, match="index 1,056 earlier outputs in all, more than the connection limit"
    ) as caught:
        loads(text, limits=Limits(max_connections=1_000))
    assert (caught.value.line, caught.value.col) == (2, 48)  # the across clause
