"""The training-memory model against what autograd and the allocator actually hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import aggspec
from aggspec.analysis.training import training_memory
from aggspec.ir.merges import MERGES
from aggspec.ir.ops import OPS
from aggspec.pytorch.memory import saved_bytes, training_step_peak

from ..conftest import EXAMPLES, example_paths, run

# Every op and merge the registry has, in one network.
EVERY_OP = """
network T(input 3x16x16) {
    conv(8, 3) bn relu
    stage 3 * {bn gelu conv(8, 3)} { take dense; merge max; emit last }
    stage 3 * {bn silu conv(8, 3)} { take dense; merge mean; emit last }
    stage 3 * {bn sigmoid conv(8, 3)} { take dense; merge weighted; emit last }
    stage 3 * {bn tanh conv(8, 3) dropout(0.1)} { take exponential; merge concat; emit all }
    conv(8, 1)
    stage 3 * {groupnorm(2) relu6 conv(8, 3, dilation=2)} { take dense; merge sum; emit last }
    stage 2 * {layernorm hardswish conv_transpose(8, 3, padding=1)} { take chain }
    join mul { identity | gap conv(8, 1, bias=true) hardsigmoid }
    join concat { slice(0, 4) | slice(4, 8) upsample(2) avgpool(2) }
    leaky_relu identity maxpool(2) avgpool(2) gap flatten layernorm linear(10)
}
"""


def _measured(spec: aggspec.Spec, batch: int, memory_efficient: bool = False) -> int:
    model = aggspec.build(spec, memory_efficient=memory_efficient).train()
    return saved_bytes(model, torch.randn(batch, *spec.input_shape))


@pytest.mark.parametrize("memory_efficient", [False, True], ids=["default", "memory_efficient"])
@pytest.mark.parametrize("path", example_paths())
def test_saved_activations_are_predicted_for_every_example(path: Path, memory_efficient: bool) -> None:
    spec = aggspec.load(path)
    batch = 1 if spec.input_shape[1] > 64 else 2
    predicted = training_memory(spec.graph, batch, memory_efficient=memory_efficient).saved
    measured = _measured(spec, batch, memory_efficient)
    assert predicted == pytest.approx(measured, rel=0.05)  # measured: equal to the byte


@pytest.mark.parametrize("merge", ["sum", "concat"])
def test_memory_efficient_segments_are_mirrored_exactly(merge: str) -> None:
    # summing SparseNet: partial sums shared between layers stay values the segments keep
    spec = aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=16, merge=merge, bottleneck=False)
    memory = training_memory(spec.graph, 2, memory_efficient=True)
    assert memory.saved == _measured(spec, 2, memory_efficient=True)
    assert memory.saved < training_memory(spec.graph, 2).saved


@pytest.mark.parametrize("memory_efficient", [False, True], ids=["default", "memory_efficient"])
def test_every_op_and_merge_is_modelled(memory_efficient: bool) -> None:
    spec = aggspec.loads(EVERY_OP)
    used = {op for _, op in spec.graph.nodes(data="op")}
    assert used >= set(OPS) | set(MERGES) - {"input"}, "EVERY_OP should use every registered op and merge"
    predicted = training_memory(spec.graph, 4, memory_efficient=memory_efficient)
    assert predicted.saved == pytest.approx(_measured(spec, 4, memory_efficient), rel=0.05)
    peak, measured = _step_peak(spec, 4, memory_efficient, "cpu")
    assert peak == pytest.approx(measured, rel=0.05)


@pytest.mark.parametrize(
    "clauses",
    [
        "take offsets(1, 3, 5); merge max; emit last",  # each partial maximum is a value of its own
        "take dense; merge max; emit all using max",  # partials shared with earlier merges
    ],
)
def test_partial_maxima_are_kept_and_counted_once(clauses: str) -> None:
    spec = aggspec.loads(f"network T(input 3x8x8) {{ stage 6 * conv(3, 1) {{ {clauses} }} }}")
    assert training_memory(spec.graph, 4).saved == _measured(spec, 4)


def test_the_parts_add_up_and_stages_are_named() -> None:
    spec = aggspec.load(EXAMPLES / "densenet_cifar.agg", depth=40)
    memory = training_memory(spec.graph, 64)
    params = 1_059_298 * 4
    assert (memory.parameters, memory.gradients, memory.optimizer) == (params, params, params)
    assert set(memory.saved_by_stage) == {"stage1", "stage2", "stage3", "(outside stages)"}
    assert memory.saved > sum(memory.saved_by_stage.values())  # plus batch norm's statistics
    # the resident state and what is kept for backward are live together at the backward's start
    assert params * 2 + memory.saved < memory.peak
    # the first dense block, at full resolution, holds the most
    assert max(memory.saved_by_stage, key=memory.saved_by_stage.__getitem__) == "stage1"
    with pytest.raises(ValueError, match="batch must be at least 1"):
        training_memory(spec.graph, 0)


def _step_peak(spec: aggspec.Spec, batch: int, memory_efficient: bool, device: str) -> tuple[int, int]:
    """(predicted, measured) peak bytes of one training step."""
    model = aggspec.build(spec, init_seed=0, memory_efficient=memory_efficient).train().to(device)
    x = torch.randn(batch, *spec.input_shape, device=device)
    # a class per sample, or per position for a segmentation network (U-Net)
    y = torch.randint(0, spec.output_shape[0], (batch, *spec.output_shape[1:]), device=device)
    measured = training_step_peak(model, x, y)
    return training_memory(spec.graph, batch, memory_efficient=memory_efficient).peak, measured


@pytest.mark.parametrize("memory_efficient", [False, True], ids=["default", "memory_efficient"])
@pytest.mark.parametrize("path", example_paths())
def test_the_step_peak_is_predicted_for_every_example(path: Path, memory_efficient: bool) -> None:
    spec = aggspec.load(path)
    predicted, measured = _step_peak(spec, 1 if spec.input_shape[1] > 64 else 4, memory_efficient, "cpu")
    assert predicted == pytest.approx(measured, rel=0.05)  # measured: 0.99-1.03


# Measured on an H200 (2026-11-26), the GPU's peak exceeds the CPU's for the same step at the
# same batch, where the model is within 2% of both: cuDNN's convolution workspaces, which no
# model of tensors predicts, outweigh the plain net's activations at batch 64 (+28 and +45
# MiB), and memory-efficient SparseNet needs 110 MiB more on the GPU; memory-efficient
# DenseNet needs 42 MiB less there (unexplained). The other fourteen are within 0.93-1.06.
GPU_APART = {
    ("plain.agg", False): "0.77 on an H200: cuDNN workspaces outweigh this small net's activations",
    ("plain.agg", True): "0.57 on an H200: cuDNN workspaces outweigh this small net's activations",
    ("sparsenet_cifar.agg", True): "0.87 on an H200 (0.98 on CPU at the same batch): workspaces",
    ("densenet_cifar.agg", True): "1.14 on an H200 (1.00 on CPU at the same batch): unexplained",
    # since the backward replay models a concat's gradient as slices of one buffer (closer on CPU):
    ("hardnet.agg", False): "0.85 on an H200 at batch 8 (0.99 on CPU at batch 1): workspaces, likely",
    ("hardnet.agg", True): "0.84 on an H200 at batch 8 (0.99 on CPU at batch 1): workspaces, likely",
    ("mobilenet_v2.agg", True): "1.13 on an H200 at batch 8 (1.00 on CPU at batch 1): unexplained",
}


@pytest.mark.cuda
@pytest.mark.parametrize("memory_efficient", [False, True], ids=["default", "memory_efficient"])
@pytest.mark.parametrize("path", example_paths())
def test_the_step_peak_is_predicted_on_a_gpu(path: Path, memory_efficient: bool) -> None:
    apart = GPU_APART.get((path.name, memory_efficient))
    if apart is not None:
        pytest.xfail(apart)
    torch.backends.cudnn.benchmark = False  # its algorithm search allocates workspaces of its own
    spec = aggspec.load(path)
    predicted, measured = _step_peak(spec, 8 if spec.input_shape[1] > 64 else 64, memory_efficient, "cuda")
    assert predicted == pytest.approx(measured, rel=0.10)


def test_cli_training_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "densenet_cifar.agg")
    code, out, err = run(capsys, "analyze", path, "-D", "depth=40", "--training", "--batch", "32")
    assert code == 0, err
    assert "Training memory at batch 32" in out and "stage1" in out.split("Training memory")[1]
    code, out, _ = run(capsys, "analyze", path, "-D", "depth=40", "--training", "--json")
    training = json.loads(out)["training"]
    assert training["batch"] == 64 and training["peak"] > training["saved"] > 0
    code, _, err = run(capsys, "analyze", path, "--training", "--batch", "0")
    assert code == 2 and "--batch must be at least 1" in err
    code, _, err = run(capsys, "analyze", path, "--batch", "8")
    assert code == 2 and "--batch needs --training" in err
    code, _, err = run(capsys, "analyze", path, "--memory-efficient")
    assert code == 2 and "--memory-efficient needs --training" in err
    code, out, _ = run(
        capsys, "analyze", path, "-D", "depth=40", "--training", "--memory-efficient", "--json"
    )
    lean = json.loads(out)["training"]
    assert lean["memory_efficient"] is True and lean["saved"] < training["saved"] / 4
