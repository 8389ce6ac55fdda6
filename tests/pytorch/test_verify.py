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
