"""The memory-efficient pass: the same model, outputs, gradients and statistics, in less memory.

A silent error here (gradients slightly off, batch-norm statistics updated
twice) would make networks train worse with nobody noticing, so every example
family is checked bit for bit against the plain graph: outputs, the input's
and every parameter's gradient, and the state_dict after a training step.
"""

from __future__ import annotations

import operator
from pathlib import Path

import pytest
import torch

import aggspec
from aggspec.pytorch import runtime
from aggspec.pytorch.lower import lower
from aggspec.pytorch.memory import peak_bytes
from aggspec.pytorch.passes import PASSES, memory_efficient, resolve_passes, run_passes
from aggspec.pytorch.source import emit_source

from ..conftest import EXAMPLES
from .test_passes import THEN_RELU, assert_bit_identical, assert_same_model, emitted, run_and_differentiate

# Every merge (concat, sum, running sums, max, mean, weighted), every example family.
CASES = [
    ("then_relu", lambda: aggspec.loads(THEN_RELU), (4, 8, 8)),
    ("densenet", lambda: aggspec.load(EXAMPLES / "densenet_cifar.agg", depth=16), (3, 32, 32)),
    (
        "densenet_bc",
        lambda: aggspec.load(EXAMPLES / "densenet_cifar.agg", depth=28, bottleneck=True),
        (3, 32, 32),
    ),
    ("sparsenet_bc", lambda: aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=28), (3, 32, 32)),
    (
        "sparsenet_sum",
        lambda: aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=16, merge="sum", bottleneck=False),
        (3, 32, 32),
    ),
    ("preact_resnet", lambda: aggspec.load(EXAMPLES / "preact_resnet.agg", depth=20), (3, 32, 32)),
    ("resnet18", lambda: aggspec.load(EXAMPLES / "resnet18.agg"), (3, 32, 32)),
    ("plain", lambda: aggspec.load(EXAMPLES / "plain.agg"), (3, 32, 32)),
    ("fractalnet", lambda: aggspec.load(EXAMPLES / "fractalnet.agg", columns=2), (3, 32, 32)),
    # across blocks: merges read pooled outputs of earlier blocks
    ("log_densenet", lambda: aggspec.load(EXAMPLES / "log_densenet.agg", depth=28), (3, 32, 32)),
    (
        "randwire",
        lambda: aggspec.load(EXAMPLES / "randwire.agg", nodes=8, channels=8, classes=10, seed=1),
        (3, 32, 32),
    ),
]


def _segments(model: torch.fx.GraphModule) -> list[torch.fx.Node]:
    return [n for n in model.graph.nodes if n.op == "call_function" and n.target is runtime.recompute]


def test_the_pass_is_named_and_the_flag_adds_it_once() -> None:
    assert PASSES["memory_efficient"] is memory_efficient
    assert resolve_passes(None, memory_efficient=True) == (memory_efficient,)
    assert resolve_passes(["memory_efficient"], memory_efficient=True) == (memory_efficient,)
    assert resolve_passes(["inplace_relu"], memory_efficient=True)[-1] is memory_efficient
    with pytest.raises(TypeError, match=r"build\(memory_efficient=...\) takes true or false"):
        aggspec.build(EXAMPLES / "plain.agg", memory_efficient="yes")


SLOW = {"densenet_bc", "sparsenet_bc", "resnet18", "fractalnet", "randwire"}  # seconds each


@pytest.mark.parametrize(
    ("name", "make", "shape"),
    [pytest.param(*c, id=c[0], marks=(pytest.mark.slow,) if c[0] in SLOW else ()) for c in CASES],
)
def test_outputs_gradients_and_statistics_are_bit_identical(name, make, shape) -> None:
    spec = make()
    plain = aggspec.build(spec)
    efficient = aggspec.build(spec, memory_efficient=True)
    assert _segments(efficient), "the pass found nothing to recompute"
    assert_same_model(efficient, plain)  # the same module tree and state_dict
    assert_bit_identical(run_and_differentiate(efficient, shape), run_and_differentiate(plain, shape))
    # batch norm's running statistics moved once, as in the plain model (not twice)
    assert_same_model(efficient, plain)
    efficient.eval()
    plain.eval()
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        assert torch.equal(efficient(x), plain(x))


def test_densenet_layers_become_one_segment_each() -> None:
    spec = aggspec.load(EXAMPLES / "densenet_cifar.agg", depth=40)
    segments = _segments(aggspec.build(spec, memory_efficient=True))
    # 36 dense layers and 2 transitions: bn relu conv after a concatenation (or the block's input)
    assert len(segments) == 38
    assert [s.kwargs.get("merge", "") for s in segments[:3]] == ["", "cat", "cat"]
    steps, inputs = segments[2].args
    assert [m.target for m in steps] == [f"stage1.layer3.{p}" for p in ("bn1", "relu1", "conv1")]
    assert len(inputs) == 3  # conv1 and the first two layers: the concatenation is recomputed
    assert segments[2].name == "stage1_layer3_conv1"


def test_values_read_elsewhere_are_not_recomputed() -> None:
    # dense sums share running sums: each layer's sum is also the next one's start, so it stays
    spec = aggspec.load(EXAMPLES / "preact_resnet.agg", depth=20)
    model = aggspec.build(spec, memory_efficient=True)
    assert all(s.kwargs.get("merge", "") == "" for s in _segments(model))
    adds = [n for n in model.graph.nodes if n.target is operator.add]
    assert len(adds) == len([n for n in aggspec.build(spec).graph.nodes if n.target is operator.add])


@pytest.mark.slow
def test_memory_efficient_densenet_needs_a_fraction_of_the_memory() -> None:
    spec = aggspec.load(EXAMPLES / "densenet_cifar.agg", depth=40)
    x = torch.randn(8, 3, 32, 32)
    peaks = []
    for flag in (False, True):
        model = aggspec.build(spec, memory_efficient=flag)
        peaks.append(peak_bytes(lambda model=model: model(x).sum().backward()))
    # measured: 0.27 (allocation sizes are deterministic, so this is no timing test)
    assert peaks[1] < 0.4 * peaks[0], peaks


def test_the_emitted_file_recomputes_readably_and_equals_build(tmp_path: Path) -> None:
    spec = aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=28)
    text = emit_source(spec, memory_efficient=True)
    assert "def recompute(" in text
    assert (
        "stage1_layer2_conv2 = recompute((self.stage1.layer2.bn2, self.stage1.layer2.relu2, "
        "self.stage1.layer2.conv2), [stage1_layer2_conv1])"
    ) in text
    assert "merge='cat'" in text
    ours = emitted(tmp_path, spec, ["memory_efficient"])
    theirs = aggspec.build(spec, memory_efficient=True)
    assert_same_model(ours, theirs)
    shape = (3, 32, 32)
    assert_bit_identical(run_and_differentiate(ours, shape), run_and_differentiate(theirs, shape))


def test_bf16_autocast_recomputes_in_bf16() -> None:
    spec = aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=16)
    x = torch.randn(2, 3, 32, 32)
    results = []
    for flag in (False, True):
        model = aggspec.build(spec, memory_efficient=flag)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
        out.float().square().sum().backward()
        results.append((out.detach(), *(p.grad for p in model.parameters())))
    assert_bit_identical(results[1], results[0])


@pytest.mark.slow
def test_it_composes_with_torch_compile() -> None:
    spec = aggspec.load(EXAMPLES / "densenet_cifar.agg", depth=16)
    plain = aggspec.build(spec)
    compiled = torch.compile(aggspec.build(spec, memory_efficient=True))
    x = torch.randn(2, 3, 32, 32)
    expected = run_and_differentiate(plain, (3, 32, 32))
    got = run_and_differentiate(compiled, (3, 32, 32))  # type: ignore[arg-type]
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), plain(x), rtol=1e-5, atol=1e-5)


def test_a_segment_keeps_its_modules_in_the_module_table_in_order() -> None:
    spec = aggspec.load(EXAMPLES / "densenet_cifar.agg", depth=16)
    plain = run_passes(lower(spec.graph), [])
    efficient = run_passes(lower(spec.graph), [memory_efficient])
    assert list(efficient.modules) == list(plain.modules)


def test_sync_batch_norm_recomputes_through_its_module_and_plain_batch_norm_by_hand() -> None:
    """SyncBatchNorm's statistics span processes: recomputing it from the local batch would
    differentiate another function, so its module runs again; a plain BatchNorm2d is recomputed
    from the batch alone. (On one process SyncBatchNorm computes what BatchNorm2d does.)"""
    spec = aggspec.load(EXAMPLES / "densenet_cifar.agg", depth=10)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    runs: dict[str, list[int]] = {}
    results = {}
    for kind in ("plain", "sync"):
        model = aggspec.build(spec, memory_efficient=True, init_seed=0)
        if kind == "sync":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        calls: list[int] = []
        for norm in norms:
            norm.register_forward_hook(lambda *_, calls=calls: calls.append(1))
        y = model(x)
        forward = len(calls)
        y.sum().backward()
        runs[kind] = [forward, len(calls) - forward]
        results[kind] = (y.detach(), [p.grad for p in model.parameters()])
    assert runs["plain"] == [9, 0]  # recomputed by hand: the modules do not run in the backward pass
    assert runs["sync"] == [9, 8]  # every batch norm of a segment runs again (the head's is not in one)
    torch.testing.assert_close(results["sync"][0], results["plain"][0], rtol=0, atol=0)
    for a, b in zip(results["sync"][1], results["plain"][1], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_parametrized_layer_is_recomputed_by_checkpoint_with_the_same_gradients() -> None:
    """weight_norm puts a conv's weight in a submodule, which the hand-made backward does not know."""
    from torch.nn.utils.parametrizations import weight_norm

    spec = aggspec.load(EXAMPLES / "densenet_cifar.agg", depth=10)
    plain = aggspec.build(spec)
    efficient = aggspec.build(spec, memory_efficient=True)
    for model in (plain, efficient):
        weight_norm(model.get_submodule("stage1.layer2.conv1"))  # the last layer of a segment
        weight_norm(model.get_submodule("stage1.layer2.bn1"), name="weight", dim=0)  # one before it
    ours, theirs = run_and_differentiate(efficient, (3, 32, 32)), run_and_differentiate(plain, (3, 32, 32))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert_same_model(efficient, plain)  # running statistics moved once
