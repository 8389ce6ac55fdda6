"""The training loop: metrics, reproducibility, the recipe, and bad input as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import aggspec
from aggspec.errors import AggSpecError
from aggspec.train.loop import default_out, train
from aggspec.train.optim import learning_rate, make_optimizer

TINY = "network T(input 1x8x8) { conv(8, 3) bn relu gap flatten linear(10) }"


def _spec(text: str = TINY) -> aggspec.Spec:
    return aggspec.loads(text)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def test_a_run_writes_one_metrics_record_per_epoch(tmp_path: Path) -> None:
    result = train(_spec(), data="synthetic", epochs=2, batch_size=32, out=tmp_path, verbose=False)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2] and records == result.history
    for record in records:
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_second"):
            assert isinstance(record[key], float), key
        assert record["peak_memory_bytes"] > 0
    assert [r["lr"] for r in records] == pytest.approx([0.1, 0.01])  # step: /10 at 50% and 75%
    assert {p.name for p in tmp_path.iterdir()} == {
        "metrics.jsonl",
        "last.safetensors",
        "best.safetensors",
        "last.state.pt",
    }


def test_the_same_seed_gives_the_same_weights_on_cpu(tmp_path: Path) -> None:
    runs = [
        train(_spec(), data="synthetic", epochs=1, batch_size=64, out=tmp_path / str(i), verbose=False)
        for i in range(2)
    ]
    first, second = (_weights(run.model) for run in runs)
    assert all(torch.equal(first[name], second[name]) for name in first)
    other = train(
        _spec(), data="synthetic", epochs=1, batch_size=64, seed=1, out=tmp_path / "s1", verbose=False
    )
    assert not torch.equal(first["conv1.weight"], _weights(other.model)["conv1.weight"])


@pytest.mark.slow
def test_training_on_digits_learns(tmp_path: Path) -> None:
    result = train(_spec(), epochs=3, batch_size=32, lr=0.2, out=tmp_path, verbose=False)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.history[-1]["val_acc"] > 0.2  # ten classes: chance is 0.1
    assert result.best_epoch in (1, 2, 3)


def test_summary_lines_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train(_spec(), data="synthetic", epochs=1, batch_size=64, out=tmp_path)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("synthetic: 512 train / 128 val")
    assert out[1].startswith("T: 178 parameters; training on cpu, 1 epoch of 8 steps")
    assert out[2].startswith("epoch 1/1  train loss ") and "img/s" in out[2]


def test_learning_rate_schedules() -> None:
    assert [learning_rate("step", 1.0, e, 8) for e in range(8)] == pytest.approx(
        [1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    cosine = [learning_rate("cosine", 1.0, e, 4) for e in range(4)]
    assert cosine[0] == 1.0 and cosine == sorted(cosine, reverse=True) and cosine[-1] > 0


def test_the_optimizer_is_the_papers_and_bn_bias_decay_is_optional() -> None:
    model = aggspec.build(_spec())
    paper = make_optimizer(model, 0.1)
    assert len(paper.param_groups) == 1
    group = paper.param_groups[0]
    assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.9, True, 1e-4)
    modern = make_optimizer(model, 0.1, decay_bn_bias=False)
    decayed, exempt = modern.param_groups
    assert all(p.ndim > 1 for p in decayed["params"]) and exempt["weight_decay"] == 0.0
    assert {p.ndim for p in exempt["params"]} == {1}  # bn weight and bias, linear bias


def test_aggspec_train_is_callable_and_still_the_subpackage(tmp_path: Path) -> None:
    import aggspec.train.data  # binds aggspec.train to the subpackage

    assert aggspec.train.data.load_data is not None
    result = aggspec.train(_spec(), data="synthetic", epochs=1, out=tmp_path, verbose=False)
    assert result.history[0]["epoch"] == 1
    assert aggspec.evaluate(_spec(), weights=tmp_path, data="synthetic").images == 128


@pytest.mark.slow
def test_params_apart_from_options(tmp_path: Path) -> None:
    spec = tmp_path / "t.agg"
    spec.write_text("param classes = 3\nparam epochs = 1\n" + TINY.replace("linear(10)", "linear(classes)"))
    result = train(
        spec, {"epochs": 7}, classes=10, data="synthetic", epochs=1, out=tmp_path / "run", verbose=False
    )
    assert len(result.history) == 1
    with pytest.raises(TypeError, match=r"params=\{'epochs': 'x'\}"):
        train(spec, epochs="x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        (
            TINY.replace("linear(10)", "linear(7)"),
            {},
            "outputs 7 values, but data 'synthetic' has 10 classes",
        ),
        (TINY, {"epochs": 0}, "--epochs must be at least 1"),
        (TINY, {"batch_size": 10_000}, "larger than the 512 training images"),
        (TINY, {"lr": -1.0}, "--lr must be positive"),
        (TINY, {"device": "cuda"}, "CUDA is not available"),
        (TINY, {"amp": "fp16", "device": "cpu"}, "--amp fp16 needs a CUDA device"),
        (TINY, {"resume": True}, "nothing to resume"),
    ],
)
def test_bad_input_is_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, options: dict[str, object], message: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(AggSpecError, match=message) as info:
        train(_spec(spec), data="synthetic", out=tmp_path, verbose=False, **options)  # type: ignore[arg-type]
    assert "\n" not in info.value.render()


def test_classes_hint_names_the_param() -> None:
    text = "param classes = 100\n" + TINY.replace("linear(10)", "linear(classes)")
    with pytest.raises(AggSpecError, match=r"-D classes=10\)"):
        train(aggspec.loads(text), data="synthetic", verbose=False)


def test_an_unwritable_output_folder_fails_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AggSpecError, match="cannot write to output folder"):
        train(_spec(), data="synthetic", out=blocker / "run", verbose=False)


def test_a_folder_holding_a_run_is_not_overwritten(tmp_path: Path) -> None:
    train(_spec(), data="synthetic", epochs=1, out=tmp_path, verbose=False)
    before = (tmp_path / "last.state.pt").read_bytes()
    with pytest.raises(AggSpecError, match="already holds a run; pass --resume"):
        train(_spec(), data="synthetic", epochs=1, out=tmp_path, verbose=False)
    assert (tmp_path / "last.state.pt").read_bytes() == before


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    train(_spec(), data="synthetic", epochs=1, out=tmp_path, verbose=False)
    before = {name: (tmp_path / name).read_bytes() for name in ("last.safetensors", "last.state.pt")}
    with pytest.raises(AggSpecError, match=r"the loss became (nan|inf) at .*epoch 2.*kept in") as info:
        train(_spec(), data="synthetic", epochs=2, lr=1e30, resume=True, out=tmp_path, verbose=False)
    assert "\n" not in info.value.render()
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def test_default_out_counts_up(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    assert default_out("T", False, root) == root / "T"
    (root / "T").mkdir(parents=True)
    (root / "T-2").mkdir()
    assert default_out("T", False, root) == root / "T-3"
    assert default_out("T", True, root) == root / "T-2"


def test_the_split_seed_varies_the_split_alone(tmp_path: Path) -> None:
    runs = {
        name: train(_spec(), epochs=1, batch_size=64, out=tmp_path / name, verbose=False, **options)
        for name, options in {
            "s0": {"seed": 0},
            "s1": {"seed": 1, "split_seed": 0},
            "split1": {"seed": 0, "split_seed": 1},
        }.items()
    }
    weights = {name: _weights(run.model)["conv1.weight"] for name, run in runs.items()}
    assert not torch.equal(weights["s0"], weights["s1"])  # another initialisation on the same split
    assert not torch.equal(weights["s0"], weights["split1"])  # the same initialisation, another split
    # evaluation finds each run's own validation split in its checkpoint
    for name, run in runs.items():
        evaluation = aggspec.evaluate(_spec(), weights=tmp_path / name / "last.safetensors", device="cpu")
        assert evaluation.accuracy == pytest.approx(run.history[-1]["val_acc"])
    with pytest.raises(AggSpecError, match=r"split was drawn with seed 1, not 0 \(pass --split-seed 1\)"):
        train(_spec(), epochs=2, batch_size=64, out=tmp_path / "split1", resume=True, verbose=False)
