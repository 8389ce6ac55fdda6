"""Loss, accuracy and confusion counts of a model on a data set; ``aggspec.evaluate``.

``measure`` is shared by the training loop (validation after every epoch)
and ``evaluate``, which loads a run's weights into a freshly built model and
measures them on the validation split of a data source.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from aggspec.errors import AggSpecError
from aggspec.ir import Limits
from aggspec.options import check_option, collect_params
from aggspec.spec import Spec
from aggspec.train.checkpoint import BEST, LAST, ir_hash, load_weights
from aggspec.train.distributed import Placement, all_sum, resolve_device

__all__ = ["AMP", "Evaluation", "autocast", "evaluate", "format_confusion", "measure", "resolve_spec"]

AMP = ("bf16", "fp16")


@dataclass(frozen=True)
class Evaluation:
    """What ``measure`` found: mean loss, accuracy, and ``confusion[true][predicted]`` counts."""

    loss: float
    accuracy: float
    images: int
    confusion: list[list[int]]

    def __str__(self) -> str:
        return f"loss {self.loss:.4f}, accuracy {self.accuracy:.2%} on {self.images:,} images"


def autocast(device: torch.device, amp: str | None) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision for ``--amp`` (nothing when it is None)."""
    if amp is None:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def check_amp(amp: str | None, device: torch.device) -> None:
    if amp is not None and amp not in AMP:
        raise AggSpecError(f"--amp must be bf16 or fp16, got '{amp}'", filename="<command line>")
    if amp == "fp16" and device.type != "cuda":
        raise AggSpecError("--amp fp16 needs a CUDA device (bf16 works on CPU)", filename="<command line>")


def batches(
    loader: DataLoader[Any], device: torch.device, channels_last: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The loader's batches on ``device`` (images in channels-last layout if asked)."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    for images, labels in loader:
        images = images.to(device, non_blocking=True).contiguous(memory_format=layout)
        yield images, labels.to(device, non_blocking=True)


@torch.no_grad()
def measure(
    model: nn.Module,
    loader: DataLoader[Any],
    classes: int,
    placement: Placement,
    *,
    amp: str | None = None,
    channels_last: bool = False,
) -> Evaluation:
    """Evaluate ``model`` (in eval mode) on every batch of ``loader``, summed over all processes."""
    model.eval()
    device = placement.device
    confusion = torch.zeros(classes, classes, dtype=torch.int64, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    for images, labels in batches(loader, device, channels_last):
        with autocast(device, amp):
            logits = model(images)
        loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").double()
        index = labels * classes + logits.argmax(dim=1)
        confusion += torch.bincount(index, minlength=classes * classes).view(classes, classes)
    counts = all_sum(placement, [float(loss_sum), *map(float, confusion.flatten().tolist())])
    matrix = torch.tensor(counts[1:], dtype=torch.float64).round().long().view(classes, classes)
    total = int(matrix.sum())
    correct = int(matrix.diagonal().sum())
    return Evaluation(
        loss=counts[0] / max(total, 1),
        accuracy=correct / max(total, 1),
        images=total,
        confusion=matrix.tolist(),
    )


def format_confusion(confusion: list[list[int]]) -> str:
    """The confusion counts as a table: one row per true class, one column per prediction.

    >>> print(format_confusion([[5, 1], [0, 7]]))
    true\\pred  0  1
            0  5  1
            1  0  7
    """
    width = max(len(str(value)) for row in confusion for value in [*row, len(confusion) - 1])
    corner = "true\\pred"
    header = corner + "".join(f" {index:>{width}}" for index in range(len(confusion)))
    rows = [
        f"{index:>{len(corner)}}" + "".join(f" {value:>{width}}" for value in row)
        for index, row in enumerate(confusion)
    ]
    return "\n".join([header, *rows])


def resolve_spec(
    function: str,
    spec: Spec | str | os.PathLike[str],
    params: Mapping[str, Any] | None,
    overrides: Mapping[str, Any],
    limits: Limits | None,
) -> Spec:
    """A ``Spec`` from a spec or a path, with params applied (as ``aggspec.build`` takes them)."""
    check_option(function, "limits", limits, (Limits, type(None)), "an aggspec.Limits")
    values = collect_params(function, params, overrides)
    if isinstance(spec, Spec):
        if values:
            raise TypeError("parameter overrides apply when training from a file; pass them to aggspec.load")
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"{function}() takes a Spec or the path of a .agg file, got {type(spec).__name__}")
    from aggspec.api import load

    return load(spec, values, limits=limits)


def weights_file(path: Path) -> Path:
    """``path`` itself, or for a run folder its best weights (else its last)."""
    if path.is_dir():
        for name in (BEST, LAST):
            if (path / name).is_file():
                return path / name
        raise AggSpecError(f"no {BEST} or {LAST} in this folder", filename=str(path))
    return path


def evaluate(
    spec: Spec | str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
    *,
    weights: str | os.PathLike[str],
    data: str = "digits",
    batch_size: int = 256,
    device: str = "auto",
    amp: str | None = None,
    channels_last: bool = False,
    workers: int = 0,
    seed: int | None = None,
    limits: Limits | None = None,
    **overrides: Any,
) -> Evaluation:
    """Measure trained ``weights`` (a run folder or a .safetensors file) on ``data``'s validation split.

    ``seed`` picks the train/validation split of sources that draw one
    (``digits``); ``None`` takes the seed the weights were trained with, so
    that the validation images are the ones training held out.
    """
    from aggspec.pytorch.build import build
    from aggspec.train.data import load_data

    check_option("evaluate", "weights", weights, (str, os.PathLike), "a path")
    check_option("evaluate", "data", data, str, "a data source name")
    check_option("evaluate", "batch_size", batch_size, int, "an int")
    check_option("evaluate", "device", device, str, "'auto', 'cpu' or 'cuda'")
    check_option("evaluate", "seed", seed, (int, type(None)), "an int or None")
    check_option("evaluate", "workers", workers, int, "an int")
    if batch_size < 1:
        raise AggSpecError(f"--batch-size must be at least 1, got {batch_size}", filename="<command line>")
    spec = resolve_spec("evaluate", spec, params, overrides, limits)
    path = weights_file(Path(weights))
    tensors, metadata = load_weights(path)
    expected = metadata.get("ir_hash")
    if expected is not None and expected != ir_hash(spec.graph):
        raise AggSpecError(
            f"these weights belong to a different network than {spec.name} with these params "
            f"(IR hash {expected[:12]}, not {ir_hash(spec.graph)[:12]}); pass the run's spec and -D values",
            filename=str(path),
        )
    if seed is None:  # the split the weights were validated on (checkpoints before split_seed: seed)
        seed = int(metadata.get("split_seed", metadata.get("seed", "0")))
    placement = Placement(resolve_device(device))  # one process measures the whole split
    check_amp(amp, placement.device)
    loaded = load_data(data, spec.input_shape, seed=seed)
    check_classes(spec, loaded.classes, data)
    model = build(spec, init_seed=0)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())
        raise AggSpecError(f"weights do not fit {spec.name}: {reason[:300]}", filename=str(path)) from None
    model.to(placement.device)
    if channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    loader = DataLoader(loaded.val, batch_size=batch_size, shuffle=False, num_workers=workers)
    return measure(model, loader, loaded.classes, placement, amp=amp, channels_last=channels_last)


def check_classes(spec: Spec, classes: int, data: str) -> None:
    """Refuse a spec whose output is not one score per class of the data."""
    if spec.output_shape == (classes,):
        return
    shape = "x".join(map(str, spec.output_shape))
    hint = f"-D classes={classes}" if "classes" in spec.params else f"make its last layer linear({classes})"
    raise AggSpecError(
        f"{spec.name} outputs {shape} values, but data '{data}' has {classes} classes ({hint})",
        filename=spec.filename,
    )
