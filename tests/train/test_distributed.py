"""Two gloo processes under torchrun train exactly as one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aggspec.train import checkpoint as ckpt

from ..conftest import ROOT

# No batch norm: its statistics are per process under DDP, so only a BN-free
# network computes the same function of the global batch in both layouts.
SPEC = "network T(input 1x8x8) { conv(8, 3) relu gap flatten linear(10) }"
# --memory-efficient recomputes relu1 when conv2's backward needs it, inside DDP's backward
DEEPER = "network T(input 1x8x8) { conv(8, 3) relu conv(8, 3) relu gap flatten linear(10) }"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "flags"), [(SPEC, []), (DEEPER, ["--memory-efficient"])], ids=["plain", "memory_efficient"]
)
def test_two_processes_match_one(tmp_path: Path, text: str, flags: list[str]) -> None:
    spec = tmp_path / "t.agg"
    spec.write_text(text)
    common = [
        "train",
        str(spec),
        "--data",
        "synthetic",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    two = subprocess.run(
        [*torchrun, "-m", "aggspec", *common, *flags, "--out", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("epoch 2/2") == 1  # only rank 0 prints
    assert "on cpu x 2 processes" in two.stdout
    one = subprocess.run(
        [sys.executable, "-m", "aggspec", *common, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    records = {
        name: [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("one", "two")
    }
    for single, double in zip(records["one"], records["two"], strict=True):
        for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
            assert double[key] == pytest.approx(single[key], abs=1e-4), key
    weights = {name: ckpt.load_weights(tmp_path / name / ckpt.LAST)[0] for name in ("one", "two")}
    for key, value in weights["one"].items():
        assert (weights["two"][key] - value).abs().max() < 1e-4, key
