"""``aggspec train`` and ``aggspec eval``: the defaults, the files a run leaves, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ..conftest import run

TINY = "network T(input 1x8x8) { conv(8, 3) bn relu gap flatten linear(classes) }"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.agg"
    path.write_text("param classes = 10\n" + TINY)
    return path


def test_train_then_eval(capsys: pytest.CaptureFixture[str], spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = run(
        capsys,
        "train",
        str(spec),
        "--data",
        "synthetic",
        "--epochs",
        "2",
        "--out",
        str(out),
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].startswith("synthetic: 512 train") and lines[-1].startswith("epoch 2/2  train loss")
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    code, stdout, stderr = run(capsys, "eval", str(spec), "--weights", str(out), "--data", "synthetic")
    assert code == 0, stderr
    first, header, *rows = stdout.splitlines()
    assert "accuracy" in first and "on 128 images" in first
    assert header.split()[0] == "true\\pred" and len(rows) == 10
    assert sum(int(value) for row in rows for value in row.split()[1:]) == 128
    code, stdout, _ = run(
        capsys, "eval", str(spec), "--weights", str(out / "last.safetensors"), "--data", "synthetic"
    )
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert f"accuracy {last['val_acc']:.2%}" in stdout  # eval agrees with training's validation


def test_memory_efficient_training_gives_the_default_weights(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "two.agg"  # the second bn relu conv is recomputed
    spec.write_text("network T(input 1x8x8) { conv(8, 3) bn relu conv(8, 3) bn relu gap flatten linear(10) }")
    common = ["train", str(spec), "--data", "synthetic", "--epochs", "1", "--device", "cpu"]
    assert run(capsys, *common, "--out", str(tmp_path / "plain"))[0] == 0
    assert run(capsys, *common, "--out", str(tmp_path / "lean"), "--memory-efficient")[0] == 0
    from aggspec.train import checkpoint as ckpt

    plain, _ = ckpt.load_weights(tmp_path / "plain" / ckpt.LAST)
    lean, _ = ckpt.load_weights(tmp_path / "lean" / ckpt.LAST)
    assert list(plain) == list(lean)
    assert all(torch.equal(plain[k], lean[k]) for k in plain)  # bit for bit, statistics included


def test_resume_from_the_command_line(capsys: pytest.CaptureFixture[str], spec: Path, tmp_path: Path) -> None:
    args = ["train", str(spec), "--data", "synthetic", "--out", str(tmp_path / "run")]
    assert run(capsys, *args, "--epochs", "1")[0] == 0
    code, stdout, _ = run(capsys, *args, "--epochs", "2", "--resume")
    assert (
        code == 0
        and "resuming after epoch 1" in stdout
        and "epoch 2/2" in stdout
        and "epoch 1/2" not in stdout
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-D", "classes=7"], "outputs 7 values, but data 'synthetic' has 10 classes (-D classes=10)"),
        (["--resume"], "nothing to resume"),
        (["--device", "cuda"], "CUDA is not available"),
        (["--data", "nonsense"], "unknown data source 'nonsense'"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--sync-bn"], "--sync-bn needs CUDA"),
        (["--amp", "fp16"], "--amp fp16 needs a CUDA device"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    spec: Path,
    tmp_path: Path,
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, stdout, stderr = run(
        capsys, "train", str(spec), "--data", "synthetic", "--out", str(tmp_path / "r"), *extra
    )
    assert code == 2 and message in stderr
    assert len(stderr.strip().splitlines()) == 1 and "aggspec" not in stdout and "Traceback" not in stderr
    assert ": error: " in stderr


def test_unwritable_output_folder(capsys: pytest.CaptureFixture[str], spec: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    code, _, stderr = run(
        capsys, "train", str(spec), "--data", "synthetic", "--out", str(tmp_path / "file" / "r")
    )
    assert code == 2 and "cannot write to output folder" in stderr and len(stderr.strip().splitlines()) == 1


def test_eval_refuses_weights_of_another_network(
    capsys: pytest.CaptureFixture[str], spec: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert run(capsys, "train", str(spec), "--data", "synthetic", "--epochs", "1", "--out", str(out))[0] == 0
    other = tmp_path / "other.agg"
    other.write_text("param classes = 10\n" + TINY.replace("conv(8, 3)", "conv(4, 3)"))
    code, _, stderr = run(capsys, "eval", str(other), "--weights", str(out), "--data", "synthetic")
    assert code == 2 and "belong to a different network" in stderr
    code, _, stderr = run(
        capsys, "eval", str(spec), "--weights", str(tmp_path / "missing"), "--data", "synthetic"
    )
    assert code == 2 and "no such weights file" in stderr


def test_check_still_works(capsys: pytest.CaptureFixture[str], spec: Path) -> None:
    code, stdout, _ = run(capsys, "check", str(spec))
    assert code == 0 and "T" in stdout
