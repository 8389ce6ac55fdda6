"""The graph form's loops and conditionals: rebinding inside loops, branches, and their errors."""

from __future__ import annotations

import pytest

from aggspec import AggSpecError, build, loads
from aggspec.analysis.counts import parameter_count

DENSE_BLOCK = """
param bottleneck = false
network G(input 16x8x8) {
    graph(x) {
        features = x -> identity
        for i in range(4) {
            if bottleneck {
                y = features -> bn relu conv(48, 1) bn relu conv(12, 3)
            } else {
                y = features -> bn relu conv(12, 3)
            }
            features = concat(features, y)
        }
    }
}
"""

STAGE_FORM = """
param bottleneck = false
def layer { if bottleneck { bn relu conv(48, 1) bn relu conv(12, 3) } else { bn relu conv(12, 3) } }
network S(input 16x8x8) { stage 4 * layer { take dense; emit all } }
"""


@pytest.mark.parametrize("bottleneck", [False, True])
def test_a_loop_that_rebinds_a_value_unrolls_a_dense_block(bottleneck: bool) -> None:
    graph_form, stage_form = (
        loads(DENSE_BLOCK, bottleneck=bottleneck),
        loads(STAGE_FORM, bottleneck=bottleneck),
    )
    assert graph_form.output_shape == stage_form.output_shape == (16 + 4 * 12, 8, 8)
    assert parameter_count(graph_form.graph) == parameter_count(stage_form.graph)
    names = [n for n in graph_form.graph if n.startswith("graph1.features")]
    assert names[:3] == [
        "graph1.features.identity1",
        "graph1.features_1.concat1",
        "graph1.features_2.concat1",
    ]
    build(graph_form)  # and it compiles


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a = x -> relu\n a = x -> bn", "'a' is already bound in this graph"),
        ("h = x -> relu\n for i in range(2) { h = x -> bn }", "'h' is bound again before it is used"),
        ("for i in 3 { a = x -> relu }", "'for' needs a list"),
        ("if 1 { a = x -> relu }", "condition must be true or false"),
        ("for i in range(2) { a = x -> relu\n return a }", "'return' must be the last line"),
        ("for (m, n) in [1] { a = x -> relu }", "cannot unpack 1 into 2 names"),
        ("if false { a = x -> relu }", "a graph needs at least one binding"),
    ],
)
def test_mistakes_in_graph_control_flow_are_located(body: str, message: str) -> None:
    with pytest.raises(AggSpecError, match=message) as caught:
        loads(f"network G(input 4x8x8) {{\n graph(x) {{\n {body}\n }}\n}}")
    assert caught.value.line is not None and caught.value.line >= 2


def test_a_branch_not_taken_binds_nothing_and_the_last_binding_is_the_result() -> None:
    text = "network G(input 4x8x8) {{ graph(x) {{ a = x -> relu\n if {c} {{ b = a -> conv(8, 1) }} }} }}"
    assert loads(text.format(c="true")).output_shape == (8, 8, 8)
    assert loads(text.format(c="false")).output_shape == (4, 8, 8)
