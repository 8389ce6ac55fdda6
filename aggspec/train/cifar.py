"""``cifar10:DIR`` and ``cifar100:DIR``: the python-format batches a user already has on disk.

The files are those of ``cifar-10-python.tar.gz`` and ``cifar-100-python.tar.gz``
once extracted (``DIR`` may be the extracted folder or the folder that holds
it). Each batch is a pickled dict, read through ``unpickle.load_restricted``
and then checked for exactly the shape the real files have, so a truncated,
foreign or hostile file is a one-line error naming it rather than a traceback
(or worse) in the middle of training.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aggspec.errors import AggSpecError
from aggspec.train.unpickle import load_restricted

__all__ = ["CIFAR", "CifarLayout", "CifarSplits", "read_cifar"]

_PIXELS = 3 * 32 * 32


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant keeps its batches and what they are keyed by."""

    name: str
    folder: str  # what the archive extracts to
    archive: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    label_key: str
    names_key: str
    classes: int


CIFAR = {
    "cifar10": CifarLayout(
        "cifar10",
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "batches.meta",
        "labels",
        "label_names",
        10,
    ),
    "cifar100": CifarLayout(
        "cifar100",
        "cifar-100-python",
        "cifar-100-python.tar.gz",
        ("train",),
        ("test",),
        "meta",
        "fine_labels",  # the 100 classes; "coarse_labels" are the 20 superclasses
        "fine_label_names",
        100,
    ),
}


@dataclass(frozen=True)
class CifarSplits:
    """The images (uint8, N x 3 x 32 x 32), labels (int64) and class names of both splits."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    class_names: tuple[str, ...]
    directory: Path

    def train_batches(self, size: int = 4096) -> Iterator[torch.Tensor]:
        for start in range(0, len(self.train_images), size):
            yield self.train_images[start : start + size]


def read_cifar(layout: CifarLayout, directory: Path) -> CifarSplits:
    """Every batch of ``layout`` under ``directory``, checked; ``AggSpecError`` on anything amiss."""
    folder = _batch_folder(layout, directory)
    train_images, train_labels = _read_batches(layout, [folder / name for name in layout.train])
    val_images, val_labels = _read_batches(layout, [folder / name for name in layout.test])
    meta = folder / layout.meta
    names = _class_names(layout, meta) if meta.exists() else tuple(str(i) for i in range(layout.classes))
    return CifarSplits(train_images, train_labels, val_images, val_labels, names, folder)


def _batch_folder(layout: CifarLayout, directory: Path) -> Path:
    """``directory`` itself, or its extracted ``cifar-10-batches-py`` / ``cifar-100-python`` inside."""
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "no such directory"
        raise AggSpecError(f"{layout.name}: {what}", filename=str(directory))
    for folder in (directory, directory / layout.folder):
        if folder.is_dir() and all((folder / name).is_file() for name in (*layout.train, *layout.test)):
            return folder
    missing = [name for name in (*layout.train, *layout.test) if not (directory / name).is_file()]
    hint = (
        f"; extract {layout.archive} first"
        if (directory / layout.archive).exists()
        else f" (the python-format batches, as {layout.archive} extracts them to {layout.folder}/)"
    )
    raise AggSpecError(f"{layout.name}: no {', '.join(missing)} here{hint}", filename=str(directory))


def _entries(obj: object, path: Path, what: str) -> dict[str, object]:
    """The dict a CIFAR file holds, keys as text (the real files' keys are Python 2 byte strings)."""
    if not isinstance(obj, dict):
        raise AggSpecError(f"not a {what}: it holds a {type(obj).__name__}, not a dict", filename=str(path))
    return {
        (key.decode("latin-1") if isinstance(key, bytes) else str(key)): value for key, value in obj.items()
    }


def _read_batches(layout: CifarLayout, paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for path in paths:
        entries = _entries(load_restricted(path, "CIFAR batch"), path, "CIFAR batch")
        data = entries.get("data")
        raw_labels = entries.get(layout.label_key)
        absent = [key for key, value in (("data", data), (layout.label_key, raw_labels)) if value is None]
        if absent:
            raise AggSpecError(
                f"not a {layout.name} batch: no {' or '.join(absent)} key "
                f"(it has {', '.join(sorted(entries)) or 'no keys'})",
                filename=str(path),
            )
        rows = isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
        if not (rows and isinstance(data, np.ndarray) and data.shape[1] == _PIXELS):
            found = (
                f"{data.dtype} {' x '.join(map(str, data.shape))}"
                if isinstance(data, np.ndarray)
                else type(data).__name__
            )
            raise AggSpecError(
                f"malformed {layout.name} batch: data is {found}, expected uint8 N x {_PIXELS}",
                filename=str(path),
            )
        images.append(data)
        labels.append(_labels(layout, raw_labels, len(data), path))
    stacked = np.concatenate(images).reshape(-1, 3, 32, 32)  # rows are 1024 red, 1024 green, 1024 blue
    return torch.from_numpy(stacked), torch.from_numpy(np.concatenate(labels))


def _labels(layout: CifarLayout, raw: object, count: int, path: Path) -> np.ndarray:
    try:
        labels = np.asarray(raw)
    except (ValueError, TypeError):
        labels = np.asarray([], dtype=object)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != count:
        raise AggSpecError(
            f"malformed {layout.name} batch: {layout.label_key} should be {count:,} integers, one per image",
            filename=str(path),
        )
    if count and (labels.min() < 0 or labels.max() >= layout.classes):
        raise AggSpecError(
            f"malformed {layout.name} batch: labels outside 0..{layout.classes - 1}", filename=str(path)
        )
    return labels.astype(np.int64)


def _class_names(layout: CifarLayout, path: Path) -> tuple[str, ...]:
    entries = _entries(load_restricted(path, "CIFAR meta file"), path, "CIFAR meta file")
    names = entries.get(layout.names_key)
    if not (isinstance(names, list) and len(names) == layout.classes):
        raise AggSpecError(
            f"malformed {layout.name} meta file: {layout.names_key} should list {layout.classes} names",
            filename=str(path),
        )
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names)
