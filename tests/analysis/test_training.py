"""The training-memory model against what autograd and the allocator actually hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

import aggspec
from aggspec.analysis.training import training_memory
from aggspec.pytorch.memory import peak_bytes, saved_bytes

from ..conftest import EXAMPLES, example_paths, run

# Every op and merge the registry has, in one network.
EVERY_OP = """
network T(input 3x16x16) {
    conv(8, 3) bn relu
    stage 3 * {bn gelu conv(8, 3)} { take dense; merge max; emit last }
    stage 3 * {bn silu conv(8, 3)} { take dense; merge mean; emit last }
    stage 3 * {bn sigmoid conv(8, 3)} { take dense; merge weighted; emit last }
    stage 3 * {bn tanh conv(8, 3) dropout(0.1)} { take exponential; merge concat; emit all }
    identity maxpool(2) avgpool(2) gap flatten linear(10)
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


def test_every_op_and_merge_is_modelled() -> None:
    spec = aggspec.loads(EVERY_OP)
    assert training_memory(spec.graph, 4).saved == pytest.approx(_measured(spec, 4), rel=0.05)


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
    assert memory.peak == sum((params * 3, memory.saved, memory.transient))
    # the first dense block, at full resolution, holds the most
    assert max(memory.saved_by_stage, key=memory.saved_by_stage.__getitem__) == "stage1"
    with pytest.raises(ValueError, match="batch must be at least 1"):
        training_memory(spec.graph, 0)


@pytest.mark.slow
@pytest.mark.parametrize("memory_efficient", [False, True], ids=["default", "memory_efficient"])
@pytest.mark.parametrize("name", ["densenet_cifar.agg", "sparsenet_cifar.agg"])
def test_the_step_estimate_bounds_the_measured_peak_closely(name: str, memory_efficient: bool) -> None:
    spec = aggspec.load(EXAMPLES / name, depth=40)
    model = aggspec.build(spec, memory_efficient=memory_efficient)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(8, *spec.input_shape), torch.randint(0, 10, (8,))

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # the momentum buffers exist from here on, as in training
    measured = peak_bytes(step)
    memory = training_memory(spec.graph, 8, memory_efficient=memory_efficient)
    estimate = memory.saved + memory.transient + memory.gradients
    assert measured <= estimate <= 1.25 * measured  # measured: 1.08 and 1.09; memory-efficient 1.06 and 1.20


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
