"""The build-time shape check runs each distinct call once and still checks every node."""

from __future__ import annotations

from dataclasses import replace

import pytest

import aggspec
from aggspec.ir.ops import OPS
from aggspec.pytorch.lower import lower
from aggspec.pytorch.verify import LoweringError, _ShapeCheck

from ..conftest import EXAMPLES


def test_a_deep_stage_runs_each_signature_once() -> None:
    spec = aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=304, bottleneck=False)
    check = _ShapeCheck(lower(spec.graph))
    check.run()
    nodes = len(check.lowered.graph.nodes)
    # 300 layers of bn relu conv and their concatenations: one run per distinct input width
    assert nodes > 1_000 and len(check.results) < nodes // 4


def test_every_node_is_still_checked_against_its_shape_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    # a rule that is wrong only for wide inputs: the first layers pass, a later one must fail
    relu = OPS["relu"]

    def wide_wrong(shape, args):
        return (shape[0] + 1, *shape[1:]) if shape[0] >= 60 else shape

    monkeypatch.setitem(OPS, "relu", replace(relu, infer_shape=wide_wrong))
    spec = aggspec.loads(
        "network T(input 3x8x8) {\n  conv(12, 3)\n  stage 6 * {bn relu conv(12, 3)} { take dense; merge concat }\n}",
        filename="t.agg",
    )
    with pytest.raises(
        LoweringError, match=r"^t\.agg:3:\d+: stage1\.layer5\.relu1 produces 60x8x8 in PyTorch"
    ):
        aggspec.build(spec)


def test_learned_weight_merges_are_checked_on_an_empty_cpu_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    from aggspec.ir.merges import MERGES

    spec = aggspec.loads(
        "network T(input 3x8x8) {\n  conv(4, 3)\n  stage 30 * conv(4, 3) { take dense; merge weighted }\n}",
        filename="t.agg",
    )
    check = _ShapeCheck(lower(spec.graph))
    check.run()  # 29 merges of 2 to 30 inputs, on CPU tensors of batch 0, results back on meta
    merges = [node for node in check.lowered.graph.nodes if node.name.endswith("weighted1")]
    assert len(merges) == 29  # layer 1 takes one input: no merge
    assert {r.device.type for r in check.results.values()} == {"meta"}
    # and a wrong shape rule for the merge is still caught
    weighted = MERGES["weighted"]
    monkeypatch.setitem(MERGES, "weighted", replace(weighted, shape_rule=lambda name, shapes: (5, 8, 8)))
    with pytest.raises(
        LoweringError, match=r"weighted1 produces 4x8x8 in PyTorch, but its shape rule says 5x8x8"
    ):
        aggspec.build(aggspec.loads(spec.module.source, filename="t.agg"))
