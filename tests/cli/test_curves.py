"""``aggspec plot RUN... -o OUT``: training curves from run folders' metrics.jsonl (written by hand here)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from aggspec.cli.curves import default_labels, read_runs
from aggspec.errors import AggSpecError

from ..conftest import run


def _record(epoch: int, /, **changes: Any) -> dict[str, Any]:
    """One epoch's record as aggspec train writes it, with ``changes`` applied."""
    record = {
        "epoch": epoch,
        "train_loss": 2.0 / epoch,
        "train_acc": 1 - 0.5 / epoch,
        "val_loss": 2.2 / epoch,
        "val_acc": 1 - 0.6 / epoch,
        "lr": 0.1 if epoch < 4 else 0.01,
        "seconds": 1.5,
        "images_per_second": 900.0,
        "peak_memory_bytes": 123456,
    }
    record.update(changes)
    return record


def _write_run(folder: Path, epochs: int = 5, lines: list[str] | None = None, **changes: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if lines is None:
        lines = [json.dumps(_record(epoch, **changes)) for epoch in range(1, epochs + 1)]
    (folder / "metrics.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


def _image(path: Path) -> Any:
    import matplotlib.image

    return matplotlib.image.imread(str(path))


def _assert_drawn(path: Path) -> None:
    """A real picture: the figure's size at 100 dpi, and more than one colour in it."""
    pixels = _image(path)
    assert pixels.shape[:2] == (460, 1500)
    assert pixels[..., :3].std() > 0.05  # not blank
    assert len({tuple(p) for p in pixels[::7, ::7, :3].reshape(-1, 3).round(2).tolist()}) > 10


def test_one_run_is_drawn(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = _write_run(tmp_path / "sparse")
    out = tmp_path / "curves.png"
    code, stdout, stderr = run(capsys, "plot", str(folder), "-o", str(out))
    assert (code, stderr) == (0, "")
    assert stdout == f"wrote {out}: 1 run\n"
    _assert_drawn(out)


def test_several_runs_side_by_side(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    runs = [str(_write_run(tmp_path / name, epochs=n)) for name, n in [("a", 3), ("b", 6), ("c", 1)]]
    out = tmp_path / "curves.png"
    code, stdout, _ = run(capsys, "plot", *runs, "-o", str(out), "--labels", "dense, sparse,chain")
    assert code == 0
    assert stdout == f"wrote {out}: 3 runs\n"
    _assert_drawn(out)
    assert [r.label for r in read_runs(runs, "dense, sparse,chain")] == ["dense", "sparse", "chain"]


@pytest.mark.parametrize("extension", ["svg", "pdf"])
def test_vector_formats(capsys: pytest.CaptureFixture[str], tmp_path: Path, extension: str) -> None:
    out = tmp_path / f"curves.{extension}"
    code, _, _ = run(capsys, "plot", str(_write_run(tmp_path / "a")), "-o", str(out))
    assert code == 0
    head = out.read_bytes()[:200]
    assert head.startswith(b"%PDF") if extension == "pdf" else b"<svg" in out.read_bytes()[:2000]


def test_a_diverged_run_with_nan_is_still_drawn(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = _write_run(tmp_path / "good")
    lines = [json.dumps(_record(1)), json.dumps(_record(2))]
    lines += [
        json.dumps(_record(epoch, train_loss=math.nan, val_loss=math.inf, val_acc=math.nan))
        for epoch in (3, 4)
    ]
    assert "NaN" in lines[2] and "Infinity" in lines[2]  # what json.dumps writes, and json.loads reads
    diverged = _write_run(tmp_path / "diverged", lines=lines)
    out = tmp_path / "curves.png"
    code, stdout, stderr = run(capsys, "plot", str(good), str(diverged), "-o", str(out))
    assert (code, stderr) == (0, "")
    assert stdout == f"wrote {out}: 2 runs\n"
    _assert_drawn(out)
    curves = read_runs([str(diverged)])[0].values
    assert curves["train_loss"][:2] == [2.0, 1.0] and math.isnan(curves["train_loss"][3])
    assert math.isnan(curves["val_loss"][2])  # infinity becomes a gap too


def test_default_labels_are_folder_names_or_the_shortest_distinguishing_path() -> None:
    assert default_labels(["runs/sparse", "runs/dense/"]) == ["sparse", "dense"]
    assert default_labels(["a/x/seed0", "b/x/seed0", "a/y/seed0", "z"]) == [
        "a/x/seed0",
        "b/x/seed0",
        "y/seed0",
        "z",
    ]
    assert default_labels(["sparse/seed0", "dense/seed0", "dense/seed1"]) == [
        "sparse/seed0",
        "dense/seed0",
        "seed1",
    ]


def test_clashing_folder_names_are_told_apart(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    paths = [str(_write_run(tmp_path / model / "seed0")) for model in ("sparse", "dense")]
    assert [r.label for r in read_runs(paths)] == ["sparse/seed0", "dense/seed0"]
    code, stdout, _ = run(capsys, "plot", *paths, "-o", str(tmp_path / "c.png"))
    assert code == 0 and stdout.endswith(": 2 runs\n")


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, stdout, stderr = run(capsys, "plot", *argv)
    assert code == 2
    assert stdout == ""
    return stderr


_GOOD_LINE = json.dumps(_record(1))


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "metrics.jsonl: error: no epochs: the file is empty"),
        (["", "   "], "metrics.jsonl: error: no epochs: the file is empty"),
        ([_GOOD_LINE, '{"epoch": 2, "train_loss": '], "metrics.jsonl:2:28: error: not JSON: Expecting value"),
        (["[1, 2]"], "metrics.jsonl:1:1: error: expected one JSON object per epoch, got list"),
        (
            [json.dumps({"epoch": 1, "train_loss": 1.0})],
            "error: the record has no 'train_acc', 'val_loss', 'val_acc', 'lr'",
        ),
        ([json.dumps(_record(1, val_acc="0.9"))], """error: 'val_acc' must be a number, got "0.9\""""),
        ([json.dumps(_record(1, lr=None))], "error: 'lr' must be a number, got null"),
        ([json.dumps(_record(1, train_acc=True))], "error: 'train_acc' must be a number, got true"),
        ([json.dumps(_record(1, epoch=0))], "error: 'epoch' must be a whole number from 1, got 0"),
        ([json.dumps(_record(1, epoch=1.5))], "error: 'epoch' must be a whole number from 1, got 1.5"),
        (
            [_GOOD_LINE, _GOOD_LINE],
            "metrics.jsonl:2:1: error: epoch 1 comes after epoch 1: epochs must increase",
        ),
    ],
    ids=[
        "empty",
        "blank",
        "bad-json",
        "not-object",
        "missing-keys",
        "string",
        "null",
        "bool",
        "epoch-0",
        "epoch-float",
        "repeated",
    ],
)
def test_malformed_metrics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: list[str], message: str
) -> None:
    folder = _write_run(tmp_path / "run", lines=lines)
    out = tmp_path / "curves.png"
    stderr = _error(capsys, str(_write_run(tmp_path / "fine")), str(folder), "-o", str(out))
    first = stderr.splitlines()[0]
    assert first.startswith(str(folder / "metrics.jsonl"))
    assert message in first, stderr
    assert not out.exists()  # checked before drawing


def test_located_error_shows_the_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = _write_run(tmp_path / "run", lines=[_GOOD_LINE, json.dumps(_record(2, val_loss="high"))])
    stderr = _error(capsys, str(folder), "-o", str(tmp_path / "c.png"))
    assert (
        stderr.splitlines()[0]
        == f"{folder / 'metrics.jsonl'}:2:1: error: 'val_loss' must be a number, got \"high\""
    )
    assert stderr.splitlines()[1].startswith('{"epoch": 2')


def test_missing_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert (
        _error(capsys, str(missing), "-o", str(tmp_path / "c.png"))
        == f"{missing}: error: no such run folder\n"
    )


def test_a_file_is_not_a_run_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    file = tmp_path / "metrics.jsonl"
    file.write_text(_GOOD_LINE + "\n")
    stderr = _error(capsys, str(file), "-o", str(tmp_path / "c.png"))
    assert stderr.startswith(f"{file}: error: not a run folder") and stderr.count("\n") == 1


def test_folder_without_metrics(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    stderr = _error(capsys, str(tmp_path / "empty"), "-o", str(tmp_path / "c.png"))
    assert stderr == (
        f"{tmp_path / 'empty'}: error: no metrics.jsonl in this folder: "
        "is it a run folder written by aggspec train?\n"
    )


def test_metrics_not_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "metrics.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    stderr = _error(capsys, str(folder), "-o", str(tmp_path / "c.png"))
    assert stderr == f"{folder / 'metrics.jsonl'}: error: not text (UTF-8 JSON lines expected)\n"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("curves.gif", "-o writes .png, .svg or .pdf files; "),
        ("curves", "has no extension"),
        ("no/such/folder/curves.png", "cannot write "),
        ("taken.png", "it is a folder"),
    ],
)
def test_bad_output_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output: str, message: str
) -> None:
    (tmp_path / "taken.png").mkdir()
    stderr = _error(capsys, str(_write_run(tmp_path / "a")), "-o", str(tmp_path / output))
    assert stderr.startswith("<command line>: error: ") and message in stderr
    assert stderr.count("\n") == 1


def test_output_checked_before_the_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stderr = _error(capsys, str(tmp_path / "nope"), "-o", str(tmp_path / "curves.txt"))
    assert stderr.startswith("<command line>: error: -o writes")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("one", "--labels gives 1 label for 2 runs"),
        ("a,b,c", "--labels gives 3 labels for 2 runs"),
        ("a,", "--labels has an empty label: 'a,'"),
    ],
)
def test_labels_must_match_the_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, labels: str, message: str
) -> None:
    runs = [str(_write_run(tmp_path / name)) for name in ("a", "b")]
    stderr = _error(capsys, *runs, "-o", str(tmp_path / "c.png"), "--labels", labels)
    assert stderr == f"<command line>: error: {message}\n"
    assert not (tmp_path / "c.png").exists()


def test_the_same_run_twice(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = str(_write_run(tmp_path / "a"))
    stderr = _error(capsys, folder, folder + "/", "-o", str(tmp_path / "c.png"))
    assert stderr.startswith("<command line>: error: the run ") and "is given twice" in stderr


def test_read_runs_api_errors_name_the_file(tmp_path: Path) -> None:
    folder = _write_run(tmp_path / "run", lines=["{}"])
    with pytest.raises(AggSpecError) as caught:
        read_runs([str(folder)])
    assert caught.value.filename == str(folder / "metrics.jsonl") and caught.value.line == 1


def test_run_needs_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        run(capsys, "plot", str(tmp_path))
    assert exited.value.code == 2
    assert "-o/--output" in capsys.readouterr().err


def test_zero_loss_and_learning_rate_fall_back_to_linear_axes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A loss of 0 or a cosine schedule ending at lr 0 cannot go on a log scale: drawn linear."""
    lines = [json.dumps(_record(1)), json.dumps(_record(2, train_loss=0.0, lr=0.0))]
    out = tmp_path / "curves.png"
    code, _, stderr = run(capsys, "plot", str(_write_run(tmp_path / "a", lines=lines)), "-o", str(out))
    assert (code, stderr) == (0, "")
    _assert_drawn(out)
