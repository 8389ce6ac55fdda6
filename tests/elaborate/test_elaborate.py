"""Elaboration: the IR each construct produces, on small hand-checked specs."""

from __future__ import annotations

import networkx as nx
import pytest

from aggspec import AggSpecError, Limits, loads
from aggspec.analysis.counts import parameter_count
from aggspec.ir import inputs_of

from ..conftest import EXAMPLES


def stage_net(
    take: str, merge: str = "concat", emit: str = "last", L: int = 4, unit: str = "conv(4, 3)"
) -> str:
    return f"network N(input 4x8x8) {{ stage {L} * {unit} {{ take {take}; merge {merge}; emit {emit} }} }}"


def layer_inputs(graph: nx.MultiDiGraph, stage) -> list[list[int]]:
    """For each layer, which stage outputs its merge reads, in order, read off the IR edges."""
    index_of = {node: j for j, node in enumerate(stage.outputs)}
    result = []
    for l in range(1, stage.length + 1):
        in_layer = [
            n for n, data in graph.nodes(data=True) if data["stage"] == stage.name and data["layer"] == l
        ]
        aggregates = [n for n in in_layer if graph.nodes[n]["role"] == "aggregate"]
        if aggregates:
            result.append([index_of[s] for s in inputs_of(graph, aggregates[0])])
        else:  # a single input: the layer's first op reads a stage output directly
            sources = {p for n in in_layer for p in graph.predecessors(n) if p not in in_layer}
            result.append([index_of[s] for s in sources])
    return result


def test_ops_chain_with_readable_ids_and_shapes() -> None:
    graph = loads("network N(input 3x32x32) { conv(16, 3, stride=2) bn relu gap flatten linear(10) }").graph
    assert list(nx.topological_sort(graph)) == [
        "input",
        "conv1",
        "bn1",
        "relu1",
        "gap1",
        "flatten1",
        "linear1",
    ]
    shapes = dict(graph.nodes(data="shape"))
    assert shapes["conv1"] == (16, 16, 16) and shapes["flatten1"] == (16,) and shapes["linear1"] == (10,)
    assert graph.nodes["conv1"]["args"] == {
        "out": 16,
        "k": 3,
        "stride": 2,
        "groups": 1,
        "bias": False,
        "padding": 1,
        "dilation": 1,
    }
    assert graph.nodes["conv1"]["span"].line == 1
    assert graph.graph["output"] == "linear1"


def test_sparsenet_depth_40_takes_and_emits_exponentially() -> None:
    spec = loads((EXAMPLES / "sparsenet_cifar.agg").read_text(), depth=40, bottleneck=False)
    assert [stage.length for stage in spec.stages] == [12, 12, 12]
    for stage in spec.stages:
        expected = [[l - 2**k for k in range(l.bit_length()) if l - 2**k >= 0] for l in range(1, 13)]
        assert [list(t) for t in stage.takes] == expected
        assert layer_inputs(spec.graph, stage) == expected
        assert stage.emits == (12, 11, 9, 5)
        emit = spec.graph.nodes[stage.output]
        assert emit["op"] == "concat" and emit["role"] == "emit"
        index_of = {node: j for j, node in enumerate(stage.outputs)}
        assert [index_of[n] for n in inputs_of(spec.graph, stage.output)] == [12, 11, 9, 5]


def test_dense_concat_emit_all_is_densenet() -> None:
    spec = loads(stage_net("dense", "concat", "all", L=3))
    (stage,) = spec.stages
    assert layer_inputs(spec.graph, stage) == [[0], [0, 1], [0, 1, 2]]
    # widths: x0 = 4, each layer adds 4 channels to its input's concat
    shapes = [spec.graph.nodes[n]["shape"] for n in stage.outputs]
    assert shapes == [(4, 8, 8)] * 4
    assert spec.output_shape == (16, 8, 8)


def test_dense_sum_is_unrolled_resnet() -> None:
    spec = loads(stage_net("dense", "sum", "all", L=3))
    (stage,) = spec.stages
    assert layer_inputs(spec.graph, stage) == [[0], [0, 1], [0, 1, 2]]
    assert spec.graph.nodes[stage.output]["op"] == "sum"
    assert spec.output_shape == (4, 8, 8)


def test_chain_is_a_plain_network() -> None:
    spec = loads(stage_net("chain", L=3))
    assert not [n for n, kind in spec.graph.nodes(data="kind") if kind == "merge"]
    assert nx.dag_longest_path_length(spec.graph) == 3


@pytest.mark.parametrize(
    ("take", "expected"),
    [
        ("offsets(1, 3)", [[0], [1], [2, 0], [3, 1]]),
        ("where j == 0 or j == l - 1", [[0], [0, 1], [0, 2], [0, 3]]),
        ("exponential(base=3)", [[0], [1], [2, 0], [3, 1]]),
    ],
)
def test_rules_reach_the_ir(take: str, expected: list[list[int]]) -> None:
    spec = loads(stage_net(take, L=4))
    assert layer_inputs(spec.graph, spec.stages[0]) == expected


def test_node_ids_in_stages() -> None:
    spec = loads(
        "def unit(k) { bn relu conv(k, 1) bn relu conv(k, 3) }\n"
        "network N(input 4x8x8) { stage 2 * unit(4) { take dense; emit all } }"
    )
    graph = spec.graph
    assert "stage1.layer2.conv2" in graph and "stage1.layer2.concat1" in graph
    assert graph.nodes["stage1.layer2.conv2"]["stage"] == "stage1"
    assert graph.nodes["stage1.layer2.conv2"]["layer"] == 2
    assert "stage1.concat1" in graph and graph.nodes["stage1.concat1"]["role"] == "emit"


def test_l_and_L_vary_the_unit() -> None:
    spec = loads(
        "def unit(w) { conv(w * l, 3, 2 if l == L else 1) }\n"
        "network N(input 4x8x8) { stage 3 * unit(2) { take chain } }"
    )
    assert [spec.graph.nodes[n]["shape"] for n in spec.stages[0].outputs[1:]] == [
        (2, 8, 8),
        (4, 8, 8),
        (6, 4, 4),
    ]


def test_C_H_W_name_the_input_shape() -> None:
    spec = loads(
        "def half { conv(C // 2, 1) avgpool(H // 4) }\nnetwork N(input 8x16x16) { half conv(C * 3, 1) }"
    )
    assert spec.output_shape == (12, 4, 4)


def test_merge_post_op_only_where_a_merge_happens() -> None:
    spec = loads(stage_net("dense", "sum then relu", L=2))
    relus = [n for n, op in spec.graph.nodes(data="op") if op == "relu"]
    assert relus == ["stage1.layer2.relu1"]


def test_sum_of_mismatched_shapes_needs_project() -> None:
    with pytest.raises(
        AggSpecError, match=r"layer 2 of stage1: 'sum' cannot merge values of shapes 4x8x8, 6x8x8"
    ):
        loads(stage_net("dense", "sum", L=2, unit="conv(6, 3)"))
    spec = loads(stage_net("dense", "sum(project)", L=3, unit="conv(6, 3)"))
    projections = [n for n, role in spec.graph.nodes(data="role") if role == "project"]
    # one projection of x0, shared by layers 2 and 3
    assert projections == ["stage1.layer2.project1.conv1", "stage1.layer2.project1.bn1"]
    assert spec.graph.out_degree("stage1.layer2.project1.bn1") == 2


def test_residual_identity_and_projection() -> None:
    graph = loads("network N(input 4x8x8) { residual { conv(4, 3) } }").graph
    assert inputs_of(graph, "add1") == ["input", "conv1"]
    graph = loads("network N(input 4x8x8) { residual(project) { conv(8, 3, 2) } }").graph
    assert inputs_of(graph, "add1") == ["shortcut1.bn1", "conv1"]
    assert graph.nodes["shortcut1.conv1"]["args"]["stride"] == 2
    assert graph.nodes["add1"]["shape"] == (8, 4, 4)


def test_join_branches_and_merge_order() -> None:
    graph = loads("network N(input 4x8x8) { join concat { conv(2, 1) | conv(3, 3) relu } }").graph
    assert inputs_of(graph, "join1.concat1") == ["join1.branch1.conv1", "join1.branch2.relu1"]
    assert graph.nodes["join1.concat1"]["shape"] == (5, 8, 8)


def test_graph_form() -> None:
    graph = loads(
        """network N(input 4x8x8) {
            graph(x) {
                a = x -> conv(4, 3) relu
                b = x -> conv(4, 1)
                c = sum(a, b) -> relu
                d = concat(c, x)
            }
        }"""
    ).graph
    assert inputs_of(graph, "graph1.c.sum1") == ["graph1.a.relu1", "graph1.b.conv1"]
    assert inputs_of(graph, "graph1.d.concat1") == ["graph1.c.relu1", "input"]
    assert graph.graph["output"] == "graph1.d.concat1"


def test_loops_and_conditionals_unroll() -> None:
    spec = loads(
        "network N(input 3x8x8) { for (i, w) in [(0, 4), (1, 8)] { conv(w, 3) if i == 0 { relu } else { bn } } }"
    )
    assert [spec.graph.nodes[n]["op"] for n in nx.topological_sort(spec.graph)] == [
        "input",
        "conv",
        "relu",
        "conv",
        "bn",
    ]


def test_recursive_definition_expands() -> None:
    spec = loads((EXAMPLES / "fractalnet.agg").read_text(), columns=3)
    convs = [n for n, op in spec.graph.nodes(data="op") if op == "conv"]
    assert len(convs) == 5 * (2**3 - 1)  # 2^C - 1 convs per block
    assert nx.dag_longest_path_length(spec.graph) > 20


def test_random_stage_emits_sinks_with_weighted_merges() -> None:
    spec = loads((EXAMPLES / "randwire.agg").read_text(), nodes=8)
    for stage in spec.stages:
        taken = {j for t in stage.takes for j in t}
        assert list(stage.emits) == [l for l in range(1, 9) if l not in taken]
    assert any(op == "weighted" for _, op in spec.graph.nodes(data="op"))


def test_limits_stop_before_building() -> None:
    with pytest.raises(AggSpecError, match="more than 50 layers"):
        loads(stage_net("chain", L=60), limits=Limits(max_layers=50))
    with pytest.raises(AggSpecError, match="more than 100 connections"):
        loads(stage_net("dense", L=20), limits=Limits(max_connections=100))
    # a huge dense stage fails fast, before its take lists are built
    with pytest.raises(AggSpecError, match="connections"):
        loads(stage_net("dense", L=50_000))


def test_a_loop_that_must_pass_the_layer_limit_fails_before_it_runs() -> None:
    text = (
        "def pair() {{ relu relu }}\nnetwork N(input 3x8x8) {{\n  for i in range({n}) {{ relu pair bn }}\n}}"
    )
    # Two ops a turn (relu, bn; a definition's body is not counted in advance).
    loads(text.format(n=16), limits=Limits(max_layers=64))
    with pytest.raises(AggSpecError, match="more than 64 layers") as caught:
        loads(text.format(n=33), limits=Limits(max_layers=64))
    assert (caught.value.line, caught.value.col) == (3, 3)  # the loop, not a layer inside it
    # Sixteen turns pass the advance check (32 ops) and are then stopped by the
    # definition's layers, at the layer that passes the limit (in the definition).
    with pytest.raises(AggSpecError, match="more than 62 layers") as caught:
        loads(text.format(n=16), limits=Limits(max_layers=62))
    assert caught.value.line == 1


def test_param_overrides_and_types() -> None:
    text = "param w: int | list = 4\nparam p = 0.5\nnetwork N(input 3x8x8) { conv(w if not is_list(w) else w[0], 3) dropout(p) }"
    assert loads(text, w=[6]).output_shape == (6, 8, 8)
    assert loads(text, p=1).graph.nodes["dropout1"]["args"]["p"] == 1.0
    with pytest.raises(AggSpecError, match=r"parameter 'w' takes int or list, got float 2\.5"):
        loads(text, w=2.5)
    with pytest.raises(AggSpecError, match="unknown parameter 'q'"):
        loads(text, q=1)


def test_every_ir_is_valid_and_deterministic() -> None:
    text = (EXAMPLES / "sparsenet_cifar.agg").read_text()
    a, b = loads(text).graph, loads(text).graph
    assert list(a.nodes) == list(b.nodes)
    assert list(a.edges(data=True)) == list(b.edges(data=True))


def test_a_merge_may_take_one_value_twice() -> None:
    graph = loads("network N(input 4x8x8) { residual { } }").graph
    assert inputs_of(graph, "add1") == ["input", "input"]
    graph = loads("network N(input 4x8x8) { graph(x) { a = sum(x, x) } }").graph
    assert inputs_of(graph, "graph1.a.sum1") == ["input", "input"]
    spec = loads("network N(input 4x8x8) { stage 3 * { if l > 1 { conv(4, 3) } } { take dense; merge sum } }")
    assert inputs_of(spec.graph, "stage1.layer2.sum1") == ["input", "input"]


def test_projection_stride_rounds_up() -> None:
    graph = loads("network N(input 4x7x7) { residual(project) { conv(8, 3, 2) } }").graph
    assert graph.nodes["shortcut1.conv1"]["args"]["stride"] == 2
    assert graph.nodes["add1"]["shape"] == (8, 4, 4)


def test_float_param_default_is_a_float() -> None:
    assert loads("param w: float = 16\nnetwork N(input 3x8x8) { relu }").params["w"] == 16.0


def test_shape_names_in_a_merge_post_op_are_the_merged_value() -> None:
    spec = loads(
        "network N(input 8x8x8) { stage 3 * conv(8, 3) { take dense; merge concat then conv(C, 1) } }"
    )
    assert spec.graph.nodes["stage1.layer3.conv1"]["args"]["out"] == 24


def test_deeply_nested_definitions_within_the_limit() -> None:
    text = (
        "def f(n) { if n > 0 { stage 1 * { join sum { residual { f(n - 1) } | identity } } } else { relu } }\n"
        "network T(input 3x8x8) { f(58) }"
    )
    assert loads(text).output_shape == (3, 8, 8)


def test_large_lists_are_summarised_and_giant_ones_refused() -> None:
    from aggspec.cli.summary import summarize

    spec = loads("param p = [[0] * 1000] * 1000\nnetwork N(input 3x8x8) { relu }")
    assert "... 992 more" in summarize(spec)
    # a million references to one million-element list: 10**12 values to compare or print
    with pytest.raises(AggSpecError, match="more than 10,000,000 values") as caught:
        loads("param p = [[0] * 1000000] * 1000000\nnetwork N(input 3x8x8) { relu }")
    assert (caught.value.line, caught.value.col) == (1, 11)


def test_a_costly_where_condition_runs_out_of_work_quickly() -> None:
    text = (
        "network N(input 3x8x8) { stage 1000 * relu "
        "{ take where sum(range(100000)) > 0 and l - j == 1; merge sum } }"
    )
    with pytest.raises(AggSpecError, match="steps of work"):
        loads(text)  # once ran for minutes; the work budget stops it, whatever the machine's speed
    assert loads(text.replace("100000", "10"), limits=Limits(max_work=10**9)).stages[0].length == 1000


def test_iterations_that_build_nothing_count_as_steps() -> None:
    text = "network N(input 3x8x8) { for i in range(1000000) { for k in range(1000000) { } } relu }"
    with pytest.raises(AggSpecError, match="more than 2,000,000 steps") as caught:
        loads(text)  # once an hour of empty iterations
    assert (caught.value.line, caught.value.col) == (1, text.index("for k") + 1)
    with pytest.raises(AggSpecError, match="more than 10 steps"):
        loads("network N(input 3x8x8) { for i in range(11) { } relu }", limits=Limits(max_steps=10))


@pytest.mark.parametrize(
    ("op", "argument"),
    [("maxpool(2, stride=99999999999)", "stride=99999999999"), ("conv(4, 2147483648)", "2147483648")],
)
def test_op_arguments_stay_within_what_pytorch_kernels_take(op: str, argument: str) -> None:
    text = f"network N(input 3x8x8) {{ {op} }}"
    with pytest.raises(AggSpecError, match="beyond 2,147,483,647, the most PyTorch's kernels take") as caught:
        loads(text)  # pooling raised a RuntimeError inside PyTorch
    assert caught.value.col == text.index(argument) + 1


def test_an_explicit_order_sorts_what_a_rule_takes_and_emits() -> None:
    text = """network N(input 8x8x8) {
        stage 6 * conv(8, 3) { take where popcount(l - j) == 1 and l % (l - j) == 0, newest first
                               emit where j % 2 == 1 or j == L, oldest first }
        stage 4 * conv(8, 3) { take dense, newest first; emit exponential, oldest first }
    }"""
    hardnet, dense = loads(text).stages
    assert hardnet.takes == ((0,), (1, 0), (2,), (3, 2, 0), (4,), (5, 4))  # l - 2**n for 2**n dividing l
    assert hardnet.emits == (1, 3, 5, 6)
    assert dense.takes[3] == (3, 2, 1, 0) and dense.emits == (1, 3, 4)
    assert dense.take == "dense, newest first" and dense.emit == "exponential, oldest first"
    # the connections, and so the hops, are the rule's own
    assert dense.take_rule.closed_form_hops() is not None


def test_offsets_take_a_list_so_a_sweep_can_vary_them() -> None:
    text = "param gaps = [1, 2]\nnetwork N(input 8x8x8) { stage 5 * conv(8, 3) { take offsets(gaps); merge sum } }"
    assert loads(text).stages[0].takes[4] == (4, 3)
    assert loads(text, gaps=[1, 4]).stages[0].takes[4] == (4, 1)


def test_a_projection_without_its_batch_norm() -> None:
    text = "network N(input 8x8x8) {{ residual({p}) {{ conv(16, 3, 2) }} stage 3 * conv(16, 3) {{ take dense; merge sum({p}) }} }}"
    with_bn, without = loads(text.format(p="project")), loads(text.format(p="project, bn=false"))
    ops = lambda spec: sorted(op for node, op in spec.graph.nodes(data="op") if "shortcut" in node)  # noqa: E731
    assert ops(with_bn) == ["bn", "conv"] and ops(without) == ["conv"]
    assert (
        parameter_count(with_bn.graph) - parameter_count(without.graph) == 2 * 16
    )  # one BN's weight and bias
    assert without.stages[0].merge == "sum(project, bn=false)"  # the merge as written
