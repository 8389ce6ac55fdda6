"""Checkpoints: resuming equals never stopping, refusals, and saves a kill cannot break."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import aggspec
from aggspec.errors import AggSpecError
from aggspec.train import checkpoint as ckpt
from aggspec.train.loop import train

from ..conftest import ROOT

TINY = "network T(input 1x8x8) { conv(8, 3) bn relu gap flatten linear(10) }"


def _run(out: Path, text: str = TINY, **options: object) -> aggspec.train.loop.TrainResult:
    settings: dict[str, object] = {"data": "synthetic", "batch_size": 32, "verbose": False, **options}
    return train(aggspec.loads(text), out=out, **settings)  # type: ignore[arg-type]


@pytest.mark.slow  # three short runs
def test_resuming_gives_the_weights_of_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = _run(tmp_path / "whole", epochs=2)
    _run(tmp_path / "parts", epochs=1)
    resumed = _run(tmp_path / "parts", epochs=2, resume=True)
    expected, actual = whole.model.state_dict(), resumed.model.state_dict()
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[name], actual[name]) for name in expected)
    timing = ("seconds", "images_per_second", "peak_memory_bytes")
    strip = [{k: v for k, v in record.items() if k not in timing} for record in whole.history]
    assert [{k: v for k, v in record.items() if k not in timing} for record in resumed.history] == strip
    saved, _ = ckpt.load_weights(tmp_path / "parts" / ckpt.LAST)
    assert all(torch.equal(saved[name], expected[name]) for name in expected)


@pytest.mark.slow
def test_the_state_file_loads_with_weights_only_and_names_its_origin(tmp_path: Path) -> None:
    _run(tmp_path, epochs=1)
    state = torch.load(tmp_path / ckpt.STATE, weights_only=True)
    assert state["epoch"] == 1 and state["spec"]["text"] == TINY
    assert state["spec"]["ir_hash"] == ckpt.ir_hash(aggspec.loads(TINY).graph)
    assert state["versions"]["torch"] == str(torch.__version__)
    tensors, metadata = ckpt.load_weights(tmp_path / ckpt.BEST)
    assert metadata["network"] == "T" and metadata["epoch"] == "1" and "conv1.weight" in tensors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TINY.replace("conv(8, 3)", "conv(8, 3) "), "different spec text"),
        ("param w = 9\n" + TINY.replace("conv(8, 3)", "conv(w, 3)"), "different spec text"),
    ],
)
def test_resume_refuses_another_spec(tmp_path: Path, text: str, message: str) -> None:
    _run(tmp_path, epochs=1)
    with pytest.raises(AggSpecError, match=message):
        _run(tmp_path, text, epochs=2, resume=True)


def test_resume_refuses_other_params(tmp_path: Path) -> None:
    spec = tmp_path / "t.agg"
    spec.write_text("param w = 8\n" + TINY.replace("conv(8, 3)", "conv(w, 3)"))
    options = {"data": "synthetic", "out": tmp_path / "run", "verbose": False, "epochs": 1}
    train(spec, **options)  # type: ignore[arg-type]
    with pytest.raises(AggSpecError, match=r"cannot resume: the checkpoint's params \{\"w\": 8\} differ"):
        train(spec, w=4, resume=True, **options)  # type: ignore[arg-type]


def test_ir_hash_follows_the_computation_not_the_layout() -> None:
    base = ckpt.ir_hash(aggspec.loads(TINY).graph)
    assert base == ckpt.ir_hash(aggspec.loads(TINY.replace(" bn", "\n  bn")).graph)
    assert len(base) == 64
    for changed in ("conv(8, 5)", "conv(9, 3)", "conv(8, 3, stride=2)"):
        assert ckpt.ir_hash(aggspec.loads(TINY.replace("conv(8, 3)", changed)).graph) != base


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    ckpt.atomic_write(target, b"old")
    ckpt.atomic_write(target, b"new" * 1000)
    assert target.read_bytes() == b"new" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


_KILLED_SAVE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import torch
    from aggspec.train import checkpoint as ckpt

    folder = Path(sys.argv[1])
    original = ckpt._write_all

    def slow(handle, data):  # half the bytes, then wait to be killed
        handle.write(data[: len(data) // 2])
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)
        original(handle, data)

    ckpt._write_all = slow
    ckpt.save_state(folder / ckpt.STATE, {"epoch": 2, "model": {"w": torch.ones(1 << 20)}})
    """
)


@pytest.mark.slow
def test_a_save_killed_half_way_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    ckpt.save_state(tmp_path / ckpt.STATE, {"epoch": 1, "model": {"w": torch.zeros(4)}})
    script = tmp_path / "save.py"
    script.write_text(_KILLED_SAVE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "writing"  # the new state is half written
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert len(partial) == 1 and partial[0].stat().st_size > 0
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    state = ckpt.load_state(tmp_path / ckpt.STATE)  # the previous checkpoint, whole
    assert state["epoch"] == 1 and torch.equal(state["model"]["w"], torch.zeros(4))
    # the partial file never appears under the final name
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".tmp")) == [
        ckpt.STATE,
        "save.py",
    ]


def test_a_damaged_state_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / ckpt.STATE).write_bytes(b"not a checkpoint")
    with pytest.raises(AggSpecError, match="cannot read checkpoint") as info:
        ckpt.load_state(tmp_path / ckpt.STATE)
    assert "\n" not in info.value.render()
