"""``verify``: tiny hand-built IR graphs, each breaking one invariant, and the IRError naming it.

Run as a script (``python -O tests/ir/test_graph.py``) it checks every broken
graph without asserts: the subprocess test below does so to prove that
``verify`` still holds when Python strips assert statements.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable

import networkx as nx
import pytest

from aggspec import AggSpecError, loads
from aggspec.ir import IRBuilder, IRError, Limits, StageInfo, verify
from aggspec.ir.rules import Dense, Last
from aggspec.span import Span

SPAN = Span(1, 1, 1, 2)


def valid() -> nx.MultiDiGraph:
    """input -> conv1 -> a stage of two relu layers under ``take dense; merge sum``.

    Layer 1 takes x_0 (conv1) alone, so it has no merge; layer 2 sums x_0 and x_1.
    """
    builder = IRBuilder(Limits())
    add = builder.add_node
    add("input", kind="input", op="input", shape=(3, 8, 8), span=SPAN, role="input", group="input")
    conv_args = {"out": 4, "k": 3, "stride": 1, "groups": 1, "bias": False, "padding": 1, "dilation": 1}
    add(
        "conv1",
        kind="op",
        op="conv",
        args=conv_args,
        shape=(4, 8, 8),
        span=SPAN,
        role="op",
        group="conv1",
        inputs=("input",),
    )
    in_stage = {"span": SPAN, "group": "stage1", "stage": "stage1", "stages": ("stage1",), "shape": (4, 8, 8)}
    add(
        "stage1.layer1.relu1",
        kind="op",
        op="relu",
        role="op",
        layer=1,
        unit=True,
        inputs=("conv1",),
        **in_stage,
    )
    add(
        "stage1.layer2.sum1",
        kind="merge",
        op="sum",
        role="aggregate",
        layer=2,
        inputs=("conv1", "stage1.layer1.relu1"),
        **in_stage,
    )
    add(
        "stage1.layer2.relu1",
        kind="op",
        op="relu",
        role="op",
        layer=2,
        unit=True,
        inputs=("stage1.layer2.sum1",),
        **in_stage,
    )
    stage = StageInfo(
        name="stage1",
        length=2,
        unit="relu",
        take="dense",
        merge="sum",
        emit="last",
        takes=((0,), (0, 1)),
        emits=(2,),
        outputs=("conv1", "stage1.layer1.relu1", "stage1.layer2.relu1"),
        output="stage1.layer2.relu1",
        span=SPAN,
        take_rule=Dense(),
        emit_rule=Last(),
    )
    builder.graph.graph.update(
        name="N", filename="<test>", input="input", output="stage1.layer2.relu1", params={}, stages=[stage]
    )
    return builder.graph


def _set(node: str, **attributes: object) -> Callable[[nx.MultiDiGraph], None]:
    def mutate(graph: nx.MultiDiGraph) -> None:
        graph.nodes[node].update(attributes)

    return mutate


def _set_graph(**attributes: object) -> Callable[[nx.MultiDiGraph], None]:
    return lambda graph: graph.graph.update(attributes)


def _set_stage(**fields: object) -> Callable[[nx.MultiDiGraph], None]:
    def mutate(graph: nx.MultiDiGraph) -> None:
        graph.graph["stages"] = [dataclasses.replace(graph.graph["stages"][0], **fields)]

    return mutate


def _drop_attribute(graph: nx.MultiDiGraph) -> None:
    del graph.nodes["conv1"]["group"]


def _drop_input(graph: nx.MultiDiGraph) -> None:
    graph.remove_node("input")


def _second_input(graph: nx.MultiDiGraph) -> None:
    graph.add_node("input2", **{**graph.nodes["input"], "group": "input2"})


def _cycle(graph: nx.MultiDiGraph) -> None:
    graph.add_edge("stage1.layer2.relu1", "conv1", index=1)


def _reversed_order(graph: nx.MultiDiGraph) -> None:
    nodes, edges = list(graph.nodes(data=True)), list(graph.edges(data=True))
    graph.clear_edges()
    graph.remove_nodes_from([n for n, _ in nodes])
    graph.add_nodes_from(reversed(nodes))
    graph.add_edges_from(edges)


def _bad_index(graph: nx.MultiDiGraph) -> None:
    for _, _, data in graph.in_edges("stage1.layer2.sum1", data=True):
        if data["index"] == 1:
            data["index"] = 2


def _op_with_two_inputs(graph: nx.MultiDiGraph) -> None:
    graph.add_edge("input", "conv1", index=1)


def _merge_with_one_input(graph: nx.MultiDiGraph) -> None:
    graph.remove_edge("stage1.layer1.relu1", "stage1.layer2.sum1")


def _op_without_input(graph: nx.MultiDiGraph) -> None:
    graph.add_node("relu9", **{**graph.nodes["conv1"], "op": "relu", "args": {}, "group": "relu9"})


# (invariant named by the IRError, node named or None, how the valid graph is broken)
BROKEN: list[tuple[str, str | None, Callable[[nx.MultiDiGraph], None]]] = [
    ("graph attributes", None, _set_graph(stages=None)),
    ("node ids", None, lambda graph: graph.add_node(("conv", 2))),
    ("graph attributes", None, _set_graph(name=3)),
    ("graph attributes", None, _set_graph(stages=["stage1"])),
    ("one input", None, _drop_input),
    ("one input", None, _set_graph(input="conv1")),
    ("one input", None, _second_input),
    ("output exists", None, _set_graph(output="nowhere")),
    ("acyclic", "conv1", _cycle),
    ("topological order", "stage1.layer2.relu1", _reversed_order),
    ("edge indices", "stage1.layer2.sum1", _bad_index),
    ("arity", "conv1", _op_with_two_inputs),
    ("arity", "stage1.layer2.sum1", _merge_with_one_input),
    ("arity", "relu9", _op_without_input),
    ("node attributes", "conv1", _drop_attribute),
    ("kind", "conv1", _set("conv1", kind="layer")),
    ("op", "conv1", _set("conv1", op="frobnicate")),
    ("op", "stage1.layer2.sum1", _set("stage1.layer2.sum1", op="relu")),
    ("role", "conv1", _set("conv1", role="aggregate")),
    ("role", "conv1", _set("conv1", role="sideways")),
    ("args", "conv1", _set("conv1", args=[4, 3])),
    ("args", "stage1.layer2.sum1", _set("stage1.layer2.sum1", args={"weights": 2})),
    ("shape", "conv1", _set("conv1", shape=(0, 8, 8))),
    ("shape", "conv1", _set("conv1", shape=[4, 8, 8])),
    ("shape", "conv1", _set("conv1", shape=(True, 8, 8))),
    ("shape", "conv1", _set("conv1", shape=(4, 8))),
    ("span", "conv1", _set("conv1", span=None)),
    ("group", "conv1", _set("conv1", group="stage1")),
    ("group", "stage1.layer1.relu1", _set("stage1.layer1.relu1", group="stage1.layer1")),
    ("stages", "conv1", _set("conv1", stages=("stage1",))),
    ("stages", "stage1.layer1.relu1", _set("stage1.layer1.relu1", stages=())),
    ("stages", "stage1.layer1.relu1", _set("stage1.layer1.relu1", stage="stage2", stages=("stage2",))),
    ("stage attributes", "conv1", _set("conv1", unit=True)),
    ("stage attributes", "conv1", _set("conv1", layer=1)),
    ("stage attributes", "stage1.layer1.relu1", _set("stage1.layer1.relu1", layer=3)),
    ("stage attributes", "stage1.layer1.relu1", _set("stage1.layer1.relu1", layer=2)),
    ("stage attributes", "stage1.layer1.relu1", _set("stage1.layer1.relu1", unit="yes")),
    ("stage attributes", "stage1.layer1.relu1", _set("stage1.layer1.relu1", layer=True)),
    ("stage attributes", "stage1.layer2.sum1", _set("stage1.layer2.sum1", layer=None)),
    ("stage attributes", "stage1.layer2.sum1", _set("stage1.layer2.sum1", unit=True)),
    ("stage attributes", "stage1.layer2.sum1", _set("stage1.layer2.sum1", role="emit")),
    ("stage takes", None, _set_stage(takes=((0,), (1,)))),
    ("stage takes", "stage1.layer2.sum1", _set_stage(takes=((0,), (1, 0)))),
    ("stage takes", None, _set_stage(length=3)),
    ("stage outputs", None, _set_stage(output="stage1.emit")),
    ("stage emits", None, _set_stage(emits=(1,))),
    ("stage emits", None, _set_stage(emits=(1, 2))),
    ("stage rules", None, _set_stage(take_rule="dense")),
    ("stage across", None, _set_stage(across=("stage9",))),  # a stage that does not exist
    ("stage across", None, _set_stage(across=("stage1",))),  # its outputs are not the prefix (there is none)
    ("role", "stage1.layer2.sum1", _set("stage1.layer2.sum1", role="resample")),  # resamplings are ops
    # arguments are the entry's own, resolved; shapes are what the entry's rule gives
    ("args", "conv1", _set("conv1", args={"out": 4, "k": 3, "stride": 1, "groups": 1})),
    (
        "args",
        "conv1",
        _set(
            "conv1",
            args={
                "out": 4,
                "k": 3,
                "stride": 1,
                "groups": 1,
                "bias": False,
                "padding": 1,
                "dilation": 1,
                "x": 1,
            },
        ),
    ),
    (
        "shape rule",
        "conv1",
        _set(
            "conv1",
            args={"out": 4, "k": 3, "stride": None, "groups": 1, "bias": False, "padding": 1, "dilation": 1},
        ),
    ),
    ("shape rule", "conv1", _set("conv1", shape=(4, 4, 4))),
    ("shape rule", "stage1.layer2.sum1", _set("stage1.layer2.sum1", shape=(8, 8, 8))),
]


def broken_graph(mutate: Callable[[nx.MultiDiGraph], None]) -> nx.MultiDiGraph:
    graph = valid()
    mutate(graph)
    return graph


def test_the_hand_built_graph_is_valid() -> None:
    verify(valid())


@pytest.mark.parametrize(
    ("invariant", "node", "mutate"), BROKEN, ids=[f"{c[0]}-{i}" for i, c in enumerate(BROKEN)]
)
def test_each_broken_invariant_is_named(invariant: str, node: str | None, mutate) -> None:
    with pytest.raises(IRError) as caught:
        verify(broken_graph(mutate))
    assert caught.value.invariant == invariant
    assert caught.value.node == node
    assert f"'{invariant}'" in str(caught.value)
    if node is not None:
        assert repr(node) in str(caught.value)


def test_ir_errors_are_bugs_not_spec_errors() -> None:
    assert not issubclass(IRError, AggSpecError)
    assert not issubclass(IRError, AssertionError)


def test_the_builder_refuses_a_duplicate_id() -> None:
    builder = IRBuilder(Limits())
    builder.add_node("input", kind="input", op="input", shape=(3,), span=SPAN, role="input", group="input")
    with pytest.raises(IRError, match="unique ids"):
        builder.add_node(
            "input", kind="input", op="input", shape=(3,), span=SPAN, role="input", group="input"
        )


def test_elaborated_graphs_verify() -> None:
    spec = loads(
        "def blk(c) { stage 2 * conv(c, 3) { take dense; merge sum(project) } residual { relu } }\n"
        "network N(input 4x8x8) { blk(4) stage 3 * blk(8) { take exponential(base=3); emit all using mean(project) } }"
    )
    verify(spec.graph)


def check_every_case() -> int:
    """Each broken graph raises the right IRError; written without asserts, for ``python -O``."""
    for invariant, node, mutate in BROKEN:
        try:
            verify(broken_graph(mutate))
        except IRError as exc:
            if (exc.invariant, exc.node) != (invariant, node):
                raise RuntimeError(f"expected {invariant!r} at {node!r}, got: {exc}") from exc
        else:
            raise RuntimeError(f"verify accepted a graph breaking {invariant!r}")
    return len(BROKEN)


@pytest.mark.slow
def test_verify_holds_under_python_dash_O() -> None:
    result = subprocess.run(
        [sys.executable, "-O", __file__], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["optimized", str(len(BROKEN))]


if __name__ == "__main__":
    print("optimized" if not __debug__ else "debug", check_every_case())


def test_a_pool_with_an_unresolved_stride_is_refused() -> None:
    from aggspec import loads

    graph = loads("network T(input 3x8x8) { maxpool(2) }").graph
    assert graph.nodes["maxpool1"]["args"]["stride"] == 2  # resolved by the elaborator
    graph.nodes["maxpool1"]["args"]["stride"] = None
    with pytest.raises(IRError, match=r"'args' violated at node 'maxpool1': arguments .* are not resolved"):
        verify(graph)


def test_a_graph_that_is_no_multigraph_is_refused() -> None:
    with pytest.raises(IRError, match="'graph type'"):
        verify(nx.DiGraph(valid()))
