"""Training on a GPU: --device cuda with --amp, --channels-last and --compile together, and torchrun.

Run where PyTorch sees a CUDA device (``pytest -m cuda``); skipped elsewhere.
One GPU cannot host two nccl processes, so the torchrun test launches one:
it takes the same path as many (the nccl process group, DDP, SyncBatchNorm).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import aggspec
from aggspec.train import checkpoint as ckpt
from aggspec.train.loop import train

from ..conftest import ROOT

pytestmark = pytest.mark.cuda

SMALL = "network S(input 1x8x8) { conv(16, 3) bn relu conv(32, 3) bn relu gap flatten linear(10) }"


def test_cuda_bf16_channels_last_compile_train_together(tmp_path: Path) -> None:
    spec = aggspec.loads(SMALL)
    result = train(
        spec, epochs=4, batch_size=32, lr=0.1, device="cuda", amp="bf16", channels_last=True,
        compile=True, out=tmp_path, verbose=False,
    )  # fmt: skip
    assert next(result.model.parameters()).is_cuda
    last = result.history[-1]
    assert last["val_acc"] > 0.6, result.history  # 10 classes: chance is 0.1
    assert last["peak_memory_bytes"] > 0 and last["images_per_second"] > 0
    # the weights are plain fp32 tensors that a CPU evaluation reads back
    on_cpu = aggspec.evaluate(spec, weights=tmp_path / ckpt.LAST, device="cpu")
    assert on_cpu.accuracy == pytest.approx(last["val_acc"], abs=0.03)


def test_memory_efficient_training_with_bf16_and_channels_last(tmp_path: Path) -> None:
    spec = aggspec.loads(SMALL)
    result = train(
        spec, epochs=4, batch_size=32, device="cuda", amp="bf16", channels_last=True,
        memory_efficient=True, out=tmp_path, verbose=False,
    )  # fmt: skip
    assert result.history[-1]["val_acc"] > 0.6, result.history
    # the checkpoint is the plain model's: it loads without the flag
    assert aggspec.evaluate(spec, weights=tmp_path, device="cuda").images > 0


def test_fp16_scales_the_loss_and_saves_the_scaler(tmp_path: Path) -> None:
    result = train(
        aggspec.loads(SMALL), epochs=2, batch_size=32, device="cuda", amp="fp16", out=tmp_path, verbose=False
    )
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in result.history)
    state = ckpt.load_state(tmp_path / ckpt.STATE)
    assert state["scaler"]["scale"] > 0


def test_resume_on_gpu_differs_no_more_than_two_uninterrupted_runs(tmp_path: Path) -> None:
    # On the CPU a resumed run is bit-identical to an uninterrupted one (test_checkpoint). On a GPU
    # some kernels add in a varying order, so two uninterrupted runs already differ: resuming must
    # add nothing beyond that.
    spec = aggspec.loads(SMALL)

    def run(name: str, epochs: int, resume: bool = False) -> dict[str, torch.Tensor]:
        result = train(
            spec, data="synthetic", epochs=epochs, batch_size=32, lr=0.02, device="cuda",
            out=tmp_path / name, resume=resume, verbose=False,
        )  # fmt: skip
        assert [r["epoch"] for r in result.history] == list(range(1, epochs + 1))
        return {key: value.double() for key, value in result.model.state_dict().items()}

    # interrupted after epoch 1 of 2, as an epoch-1 run stopped by a kill leaves it (the lr schedule
    # is a function of the epoch count, so a shorter run that is resumed longer trains differently)
    first, second = run("a", 2), run("b", 2)
    run("c", 1)
    resumed = run("c", 2, resume=True)
    for key, value in first.items():
        if not value.is_floating_point():
            assert torch.equal(resumed[key], value), key  # BN's step count
            continue
        noise = float((second[key] - value).norm())
        drift = float((resumed[key] - value).norm())
        assert drift <= 10 * noise + 1e-6 * float(value.norm()) + 1e-12, (key, drift, noise)


def test_evaluate_on_gpu_equals_evaluate_on_cpu(tmp_path: Path) -> None:
    spec = aggspec.loads(SMALL)
    train(spec, epochs=1, batch_size=32, device="cpu", out=tmp_path, verbose=False)
    gpu = aggspec.evaluate(spec, weights=tmp_path, device="cuda")
    cpu = aggspec.evaluate(spec, weights=tmp_path, device="cpu")
    assert gpu.images == cpu.images
    assert gpu.accuracy == pytest.approx(cpu.accuracy, abs=2 / cpu.images)
    assert gpu.loss == pytest.approx(cpu.loss, rel=1e-3)


def test_torchrun_on_one_gpu_uses_nccl_ddp_sync_bn_and_memory_efficient(tmp_path: Path) -> None:
    spec = tmp_path / "s.agg"
    spec.write_text(SMALL)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1"]
    command = [
        *torchrun, "-m", "aggspec", "train", str(spec), "--device", "cuda", "--epochs", "2",
        "--batch-size", "32", "--sync-bn", "--amp", "bf16", "--memory-efficient", "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "on cuda x 1 process," in done.stdout
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    weights, _ = ckpt.load_weights(tmp_path / "run" / ckpt.LAST)
    assert not any(key.startswith(("module.", "_orig_mod.")) for key in weights)  # plain names
