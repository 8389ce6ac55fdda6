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


def _torchrun(args: list[str], log_dir: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """Two processes under torchrun; the result and the tail of what each rank printed.

    torchrun's own stderr ends in its traceback, which only says that a rank
    died: each rank's output goes to files so that a failure shows its cause.
    """
    # faulthandler prints a rank's Python stack if it dies of a signal (an abort in gloo, say)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"),
        *("--log-dir", str(log_dir), "--tee", "3"),  # to files and to our pipes
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    parts = [
        f"--- {path.relative_to(log_dir)}\n{path.read_text(errors='replace')[-3000:]}"
        for path in sorted(log_dir.rglob("*.log"))
        if path.stat().st_size
    ]
    summary = done.stderr.rfind("Root Cause")  # torchrun's account of which rank died how
    parts.append(f"--- torchrun\n{done.stderr[summary:] if summary >= 0 else done.stderr[-1500:]}")
    return done, "\n".join(parts)


def _skip_unless_gloo_runs(log_dir: Path) -> None:
    """Skip when two bare gloo processes fail here too: the machine, not aggspec, is the cause."""
    probe, logs = _torchrun([str(Path(__file__).with_name("gloo_probe.py"))], log_dir)
    if probe.returncode != 0:
        pytest.skip(f"this machine cannot run two gloo processes under torchrun:\n{logs}")


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
    two, logs = _torchrun(
        ["-m", "aggspec", *common, *flags, "--out", str(tmp_path / "two")], tmp_path / "logs"
    )
    if two.returncode != 0:
        _skip_unless_gloo_runs(tmp_path / "probe")
        pytest.fail(f"torchrun exited {two.returncode}; what each process printed:\n{logs}")
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
