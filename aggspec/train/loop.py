"""``aggspec.train``: a spec trained on a data source, with checkpoints, resume and metrics.

The recipe is the SparseNet/DenseNet papers' (``optim``). One run lives in
one folder (``--out``, by default ``runs/<network>``, ``runs/<network>-2``
if that is taken): ``metrics.jsonl`` (one JSON object per epoch) and the
checkpoints of ``checkpoint``.

Reproducible on CPU: the weights are initialised by ``build(init_seed=seed)``,
the order of the training images is a function of ``(seed, epoch)`` (as
``DistributedSampler`` draws it, in one process as under torchrun), and the
global RNG (dropout, augmentation) is seeded once and saved in every
checkpoint, so an interrupted and resumed run ends with the same weights as
an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, DistributedSampler, Subset

from aggspec.errors import AggSpecError
from aggspec.ir import Limits
from aggspec.options import check_option
from aggspec.spec import Spec
from aggspec.train import checkpoint as ckpt
from aggspec.train.distributed import Placement, all_sum, setup, teardown
from aggspec.train.evaluate import batches, check_amp, check_classes, measure, resolve_spec
from aggspec.train.optim import SCHEDULES, learning_rate, make_optimizer
from aggspec.train.progress import EpochProgress, peak_memory_bytes, reset_peak_memory

__all__ = ["TrainResult", "default_out", "train"]

DEFAULT_EPOCHS, DEFAULT_BATCH, DEFAULT_LR = 10, 64, 0.1


@dataclass
class TrainResult:
    """A finished run: its folder, the trained model, and one metrics record per epoch."""

    out: Path
    model: fx.GraphModule
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_acc: float = 0.0


@dataclass(frozen=True)
class _Options:
    data: str
    epochs: int
    batch_size: int
    lr: float
    schedule: str
    resume: bool
    device: str
    amp: str | None
    channels_last: bool
    compile: bool
    sync_bn: bool
    memory_efficient: bool
    workers: int
    seed: int
    split_seed: int
    decay_bn_bias: bool
    verbose: bool


def train(
    spec: Spec | str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
    *,
    data: str = "digits",
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH,
    lr: float = DEFAULT_LR,
    schedule: str = "step",
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    device: str = "auto",
    amp: str | None = None,
    channels_last: bool = False,
    compile: bool = False,
    sync_bn: bool = False,
    memory_efficient: bool = False,
    workers: int = 0,
    seed: int = 0,
    split_seed: int | None = None,
    decay_bn_bias: bool = True,
    verbose: bool = True,
    limits: Limits | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train ``spec`` (a ``Spec`` or a .agg path; ``params`` override its ``param`` values).

    The options are those of ``aggspec train`` (``out=None``: ``runs/<network>``);
    ``verbose=False`` prints nothing. Returns the run's folder, the model
    (on its device, with the last epoch's weights) and the metrics history.

    >>> import aggspec, tempfile
    >>> spec = aggspec.loads("network T(input 1x8x8) { conv(4, 3) relu gap flatten linear(10) }")
    >>> result = aggspec.train(spec, data="synthetic", epochs=1, out=tempfile.mkdtemp(), verbose=False)
    >>> sorted(result.history[0])[:4], result.history[0]["epoch"]
    (['epoch', 'images_per_second', 'lr', 'peak_memory_bytes'], 1)
    """
    checks: list[tuple[str, Any, type | tuple[type, ...], str]] = [
        ("data", data, str, "a data source name"),
        ("epochs", epochs, int, "an int"),
        ("batch_size", batch_size, int, "an int"),
        ("lr", lr, (int, float), "a number"),
        ("schedule", schedule, str, "'step' or 'cosine'"),
        ("out", out, (str, os.PathLike, type(None)), "a path or None"),
        ("resume", resume, bool, "true or false"),
        ("device", device, str, "'auto', 'cpu' or 'cuda'"),
        ("amp", amp, (str, type(None)), "'bf16', 'fp16' or None"),
        ("channels_last", channels_last, bool, "true or false"),
        ("compile", compile, bool, "true or false"),
        ("sync_bn", sync_bn, bool, "true or false"),
        ("memory_efficient", memory_efficient, bool, "true or false"),
        ("workers", workers, int, "an int"),
        ("seed", seed, int, "an int"),
        ("split_seed", split_seed, (int, type(None)), "an int or None"),
        ("decay_bn_bias", decay_bn_bias, bool, "true or false"),
        ("verbose", verbose, bool, "true or false"),
    ]
    for name, value, kind, what in checks:
        check_option("train", name, value, kind, what)
    options = _Options(
        data, epochs, batch_size, float(lr), schedule, resume, device, amp, channels_last, compile,
        sync_bn, memory_efficient, workers, seed, seed if split_seed is None else split_seed,
        decay_bn_bias, verbose,
    )  # fmt: skip
    _check_numbers(options)
    spec = resolve_spec("train", spec, params, overrides, limits)
    placement = setup(device)
    try:
        result = _Run(spec, options, placement, out).run()
    except BaseException:
        teardown(placement, finished=False)
        raise
    teardown(placement)
    return result


def _check_numbers(options: _Options) -> None:
    problems = [
        (options.epochs < 1, f"--epochs must be at least 1, got {options.epochs}"),
        (options.batch_size < 1, f"--batch-size must be at least 1, got {options.batch_size}"),
        (not (math.isfinite(options.lr) and options.lr > 0), f"--lr must be positive, got {options.lr}"),
        (options.schedule not in SCHEDULES, f"--schedule must be step or cosine, got '{options.schedule}'"),
        (options.workers < 0, f"--workers must be 0 or more, got {options.workers}"),
    ]
    for bad, message in problems:
        if bad:
            raise AggSpecError(message, filename="<command line>")


def default_out(name: str, resume: bool, root: Path = Path("runs")) -> Path:
    """``runs/<name>``, or ``runs/<name>-2``, ``-3``... when taken; with ``resume``, the newest taken one."""
    taken = [root / name]
    while taken[-1].exists():
        taken.append(root / f"{name}-{len(taken) + 1}")
    if resume and len(taken) > 1:
        return taken[-2]
    return taken[-1]


def _prepare_out(out: Path, resume: bool, placement: Placement) -> None:
    """Create the run folder and make sure it can be written, before any training."""
    if not resume and (out / ckpt.STATE).exists():
        raise AggSpecError(
            f"{out} already holds a run; pass --resume to continue it or --out for a new folder",
            filename="<command line>",
        )
    if not placement.main:
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".aggspec-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise AggSpecError(
            f"cannot write to output folder {out}: {reason}", filename="<command line>"
        ) from None


class _Run:
    """One training run: the model, its optimiser and data, and the loop over epochs."""

    def __init__(self, spec: Spec, options: _Options, placement: Placement, out: Any) -> None:
        from aggspec.pytorch.build import build
        from aggspec.train.data import load_data

        self.spec, self.options, self.placement = spec, options, placement
        self.device = placement.device
        check_amp(options.amp, self.device)
        if options.sync_bn and self.device.type != "cuda":
            raise AggSpecError(
                "--sync-bn needs CUDA: PyTorch synchronises batch norm only between GPUs",
                filename="<command line>",
            )
        if options.batch_size % placement.world:
            raise AggSpecError(
                f"--batch-size {options.batch_size} does not split evenly over {placement.world} processes",
                filename="<command line>",
            )
        self.loaded = load_data(options.data, spec.input_shape, seed=options.split_seed)
        check_classes(spec, self.loaded.classes, options.data)  # before a run folder is made
        self.out = Path(out) if out is not None else default_out(spec.name, options.resume)
        _prepare_out(self.out, options.resume, placement)
        self.ir_hash = ckpt.ir_hash(spec.graph)
        torch.manual_seed(options.seed)  # dropout and augmentation; saved in every checkpoint
        self.net = build(spec, init_seed=options.seed, memory_efficient=options.memory_efficient)
        self.net = self.net.to(self.device)
        if options.channels_last:
            self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.optimizer = make_optimizer(self.net, options.lr, decay_bn_bias=options.decay_bn_bias)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=options.amp == "fp16")
        self.history: list[dict[str, Any]] = []
        self.best_epoch, self.best_val_acc = 0, -1.0
        self.start_epoch = 0
        if options.resume:
            self._restore(ckpt.load_state(self.out / ckpt.STATE))
        self.runner: nn.Module = self.net
        if placement.distributed:
            from torch.nn.parallel import DistributedDataParallel

            if options.sync_bn:  # statistics over the global batch; the weights keep their names
                self.runner = nn.SyncBatchNorm.convert_sync_batchnorm(self.net)  # type: ignore[no-untyped-call]

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.runner = DistributedDataParallel(self.runner, device_ids=ids)
        if options.compile:
            self.runner = torch.compile(self.runner)  # type: ignore[assignment]
        self._make_loaders()

    def _make_loaders(self) -> None:
        options, placement = self.options, self.placement
        per_process = options.batch_size // placement.world
        if _size(self.loaded.train) < options.batch_size:
            raise AggSpecError(
                f"--batch-size {options.batch_size} is larger than the {_size(self.loaded.train):,} "
                f"training images of '{options.data}'",
                filename="<command line>",
            )
        self.sampler: DistributedSampler[Any] = DistributedSampler(
            self.loaded.train,
            num_replicas=placement.world,
            rank=placement.rank,
            shuffle=True,
            seed=options.seed,
        )
        self.generator = torch.Generator()  # worker seeds; reseeded from (seed, epoch)
        pin = self.device.type == "cuda"
        self.train_loader = DataLoader(
            self.loaded.train,
            batch_size=per_process,
            sampler=self.sampler,
            num_workers=options.workers,
            pin_memory=pin,
            drop_last=True,  # a last batch of one image would break batch norm
            generator=self.generator,
        )
        shard = Subset(self.loaded.val, range(placement.rank, _size(self.loaded.val), placement.world))
        self.val_loader = DataLoader(
            shard, batch_size=per_process, num_workers=options.workers, pin_memory=pin
        )

    def _say(self, text: str) -> None:
        if self.options.verbose and self.placement.main:
            print(text, flush=True)

    def run(self) -> TrainResult:
        options = self.options
        parameters = sum(p.numel() for p in self.net.parameters())
        self._say(self.loaded.description)
        if self.start_epoch >= options.epochs:
            self._say(
                f"{self.out}: already trained {self.start_epoch} of {options.epochs} epochs "
                "(raise --epochs to train longer)"
            )
        else:
            verb = f"resuming after epoch {self.start_epoch}" if self.start_epoch else "training"
            where = f"{self.device.type}" + (
                f" x {_plural(self.placement.world, 'process')}" if self.placement.distributed else ""
            )
            epochs = _plural(options.epochs, "epoch")
            self._say(
                f"{self.spec.name}: {parameters:,} parameters; {verb} on {where}, {epochs} "
                f"of {len(self.train_loader)} steps, batch {options.batch_size}, lr {options.lr:g} "
                f"({options.schedule}); writing {self.out}"
            )
        for epoch in range(self.start_epoch, options.epochs):
            record = self._epoch(epoch)
            self.history.append(record)
            if record["val_acc"] > self.best_val_acc:
                self.best_epoch, self.best_val_acc = record["epoch"], record["val_acc"]
                self._save_weights(self.out / ckpt.BEST, record)
            self._save(record)
            self._say(_summary(record, options.epochs, record["epoch"] == self.best_epoch))
        return TrainResult(self.out, self.net, self.history, self.best_epoch, max(self.best_val_acc, 0.0))

    def _epoch(self, epoch: int) -> dict[str, Any]:
        options, device = self.options, self.device
        rate = learning_rate(options.schedule, options.lr, epoch, options.epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        self.sampler.set_epoch(epoch)
        self.generator.manual_seed(options.seed * 100_003 + epoch)
        reset_peak_memory(device)
        stream = sys.stderr if options.verbose and self.placement.main else open(os.devnull, "w")  # noqa: SIM115
        progress = EpochProgress(epoch + 1, options.epochs, len(self.train_loader), stream=stream)
        self.runner.train()
        try:
            for step, (images, labels) in enumerate(
                batches(self.train_loader, device, options.channels_last)
            ):
                loss, correct = self._step(images, labels)
                if not math.isfinite(loss):
                    self._diverged(epoch, step, rate, loss)
                progress.update(loss, correct, len(labels))
        finally:
            progress.close()
            if stream is not sys.stderr:
                stream.close()
        seconds = progress.seconds
        loss_sum, right, seen = all_sum(
            self.placement, [progress.loss_sum, float(progress.correct), float(progress.images)]
        )
        val = measure(
            self.runner, self.val_loader, self.loaded.classes, self.placement,
            amp=options.amp, channels_last=options.channels_last,
        )  # fmt: skip
        if not math.isfinite(val.loss):
            self._diverged(epoch, None, rate, val.loss)
        return {
            "epoch": epoch + 1,
            "train_loss": loss_sum / max(seen, 1.0),
            "train_acc": right / max(seen, 1.0),
            "val_loss": val.loss,
            "val_acc": val.accuracy,
            "lr": rate,
            "seconds": seconds,
            "images_per_second": seen / seconds if seconds > 0 else 0.0,
            "peak_memory_bytes": peak_memory_bytes(device),
        }

    def _step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
        """One optimiser step; the batch's mean loss and correct predictions."""
        from aggspec.train.evaluate import autocast

        with autocast(self.device, self.options.amp):
            logits = self.runner(images)
            loss = F.cross_entropy(logits.float(), labels)
        self.optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        if not math.isfinite(value):
            return value, 0
        scaled: Any = self.scaler.scale(loss)  # the loss itself unless --amp fp16
        scaled.backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return value, int((logits.argmax(dim=1) == labels).sum())

    def _diverged(self, epoch: int, step: int | None, rate: float, loss: float) -> None:
        where = (
            f"step {step + 1} of epoch {epoch + 1}"
            if step is not None
            else f"validation after epoch {epoch + 1}"
        )
        kept = (
            f"the last good checkpoint (epoch {epoch}) is kept in {self.out}"
            if epoch > 0 and (self.out / ckpt.STATE).exists()
            else "no checkpoint was written"
        )
        raise AggSpecError(
            f"the loss became {loss} at {where} (lr {rate:g}); training stopped and {kept}; try a lower --lr",
            filename="<command line>",
        )

    # checkpoints -----------------------------------------------------------------

    def _metadata(self, record: Mapping[str, Any]) -> dict[str, str]:
        return {
            "network": self.spec.name,
            "ir_hash": self.ir_hash,
            "params": ckpt.canonical_params(self.spec.params),
            "epoch": str(record["epoch"]),
            "val_acc": repr(record["val_acc"]),
            "seed": str(self.options.seed),
            "split_seed": str(self.options.split_seed),
            "data": self.options.data,
        }

    def _save_weights(self, path: Path, record: Mapping[str, Any]) -> None:
        if self.placement.main:
            ckpt.save_weights(path, self.net.state_dict(), self._metadata(record))

    def _save(self, record: Mapping[str, Any]) -> None:
        """metrics.jsonl, last weights, then the resume state: the state is the commit point."""
        if not self.placement.main:
            return
        lines = "".join(json.dumps(entry) + "\n" for entry in self.history).encode("utf-8")
        ckpt.atomic_write(self.out / "metrics.jsonl", lines)
        self._save_weights(self.out / ckpt.LAST, record)
        ckpt.save_state(self.out / ckpt.STATE, self._state(record["epoch"]))

    def _state(self, epoch: int) -> dict[str, Any]:
        import aggspec

        options = self.options
        return {
            "format": 1,
            "epoch": epoch,
            "model": {name: value.detach().cpu() for name, value in self.net.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "schedule": {"name": options.schedule, "lr": options.lr, "epochs": options.epochs},
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
            "seed": options.seed,
            "split_seed": options.split_seed,
            "data": options.data,
            "batch_size": options.batch_size,
            "history": list(self.history),
            "best_epoch": self.best_epoch,
            "best_val_acc": self.best_val_acc,
            "spec": {
                "text": self.spec.module.source,
                "filename": self.spec.filename,
                "network": self.spec.name,
                "params": ckpt.canonical_params(self.spec.params),
                "ir_hash": self.ir_hash,
            },
            "versions": {"aggspec": aggspec.__version__, "torch": str(torch.__version__)},
        }

    def _restore(self, state: dict[str, Any]) -> None:
        where = str(self.out / ckpt.STATE)
        saved = state.get("spec", {})
        if saved.get("text") != self.spec.module.source:
            raise AggSpecError(
                f"cannot resume: the checkpoint was trained from a different spec text "
                f"({saved.get('filename')}, network {saved.get('network')})",
                filename=where,
            )
        params = ckpt.canonical_params(self.spec.params)
        if saved.get("params") != params:
            raise AggSpecError(
                f"cannot resume: the checkpoint's params {saved.get('params')} differ from these, {params}",
                filename=where,
            )
        if saved.get("ir_hash") != self.ir_hash:
            raise AggSpecError(
                "cannot resume: the checkpoint's network (IR hash) differs from this one's "
                "(the same spec elaborates differently in this aggspec version)",
                filename=where,
            )
        split = state.get("split_seed", state.get("seed"))
        if split is not None and split != self.options.split_seed:
            raise AggSpecError(
                f"cannot resume: the checkpoint's train/validation split was drawn with seed {split}, "
                f"not {self.options.split_seed} (pass --split-seed {split})",
                filename=where,
            )
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.history = list(state["history"])
        self.best_epoch, self.best_val_acc = int(state["best_epoch"]), float(state["best_val_acc"])
        self.start_epoch = int(state["epoch"])


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 'es' if noun.endswith('s') else 's'}"


def _size(dataset: Any) -> int:
    """The number of items of a map-style dataset (``Dataset`` itself declares no ``__len__``)."""
    return len(dataset)


def _summary(record: Mapping[str, Any], epochs: int, best: bool) -> str:
    return (
        f"epoch {record['epoch']}/{epochs}  "
        f"train loss {record['train_loss']:.4f} acc {record['train_acc']:.2%}  "
        f"val loss {record['val_loss']:.4f} acc {record['val_acc']:.2%}{' *' if best else ''}  "
        f"lr {record['lr']:.3g}  {record['seconds']:.1f} s  {record['images_per_second']:,.0f} img/s"
    )
