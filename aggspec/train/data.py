"""Datasets a spec trains on, adapted to the spec's declared input.

``load_data(source, input_shape)`` takes a data source as the command line
spells it and returns a ``LoadedData``: a training and a validation
``torch.utils.data.Dataset`` of ``(image, label)`` pairs, where every image
is a float tensor of exactly the spec's input shape, the number of classes,
and one line saying what was loaded and how it was adapted.

Sources:

``digits``
    scikit-learn's bundled handwritten digits (1,797 8x8 grey images, 10
    classes; no download), split 80/20 into train and validation,
    stratified by class and deterministic.
``synthetic``
    random images and labels (a fixed seed), for smoke tests and throughput.
``cifar10:DIR``, ``cifar100:DIR``
    the python-format CIFAR batches in ``DIR`` (``aggspec.train.cifar``), read
    through a restricted unpickler that refuses any pickle that could run code;
    the test batch is the validation set.
``folder:DIR``
    one subfolder of images per class, read with Pillow (``aggspec.train.images``);
    ``DIR/train`` and ``DIR/val`` when both exist, else a stratified 20% split.

CIFAR and folder images stay uint8 until asked for; the training set is then
augmented as in the paper (zero-pad, random crop, horizontal flip; off with
``augment=False``) and both sets are normalised per channel with the training
set's mean and std. Colour images fit a 3- or 1-channel (luminance) input,
grey ones any channel count; sizes are resized bilinearly.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from torch.utils.data import Dataset, TensorDataset

from aggspec.errors import AggSpecError
from aggspec.train.images import (
    FileImages,
    Pipeline,
    StoredImages,
    channel_stats,
    convert_channels,
    find_image_folder,
    sample_batches,
)

__all__ = ["SOURCES", "SOURCE_FORMS", "LoadedData", "adapt_images", "load_data"]

SOURCES = ("digits", "synthetic", "cifar10", "cifar100", "folder")
# How each source is spelled on the command line, for help and error messages.
SOURCE_FORMS = ("digits", "synthetic", "cifar10:DIR", "cifar100:DIR", "folder:DIR")
_DIRECTORY_SOURCES = frozenset({"cifar10", "cifar100", "folder"})

_VALIDATION_FRACTION = 0.2
_SYNTHETIC_TRAIN, _SYNTHETIC_VAL, _SYNTHETIC_CLASSES = 512, 128, 10


@dataclass(frozen=True)
class LoadedData:
    """Train and validation sets of ``(image, label)``, images shaped as the spec's input."""

    train: Dataset[Any]
    val: Dataset[Any]
    classes: int
    description: str  # one line, e.g. "digits: 1,437 train / 360 val images, 1x8x8 resized to 3x32x32"
    class_names: tuple[str, ...] = ()  # index -> name where the data names its classes


def load_data(source: str, input_shape: Sequence[int], *, seed: int = 0, augment: bool = True) -> LoadedData:
    """The data named by ``source`` (see the module docstring), adapted to ``input_shape``.

    ``seed`` fixes the digits and folder splits and the synthetic images;
    ``augment=False`` turns off the training-set augmentation of CIFAR and folders.
    Every mistake (an unknown source, a missing or malformed directory, an
    input the data cannot be adapted to) is a one-line ``AggSpecError``.
    """
    name, directory = _parse_source(source)
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise AggSpecError(
            f"data '{source}' holds images; the spec's input is {'x'.join(map(str, shape))} features "
            "(declare an input CxHxW)",
            filename="<command line>",
        )
    if name == "digits":
        return _digits(shape, seed)
    if name == "synthetic":
        return _synthetic(shape, seed)
    assert directory is not None  # _parse_source gives every directory source its directory
    if shape[0] not in (1, 3):
        raise AggSpecError(
            f"cannot adapt colour images to the spec's {shape[0]}-channel input (declare 1 or 3 channels)",
            filename="<command line>",
        )
    if name == "folder":
        return _folder(directory, shape, seed, augment)
    return _cifar(name, directory, shape, augment)


def _parse_source(source: str) -> tuple[str, Path | None]:
    """``source`` split into a source name and its directory, or an ``AggSpecError`` saying what is wrong."""
    name, colon, rest = source.partition(":")
    if name not in SOURCES:
        raise AggSpecError(f"unknown data source '{source}'{_suggestion(source)}", filename="<command line>")
    if name in _DIRECTORY_SOURCES and not rest:
        raise AggSpecError(f"data '{name}' needs a directory: {name}:DIR", filename="<command line>")
    if name not in _DIRECTORY_SOURCES and colon:
        raise AggSpecError(
            f"data '{name}' takes no directory (write just '{name}')", filename="<command line>"
        )
    return name, Path(rest).expanduser() if rest else None


def _suggestion(source: str) -> str:
    """' (did you mean ...? sources: ...)' for an unknown ``source``."""
    listing = f"sources: {', '.join(SOURCE_FORMS)}"
    if Path(source).expanduser().is_dir():
        return f" (did you mean 'folder:{source}' or 'cifar10:{source}'? {listing})"
    name, _, rest = source.partition(":")
    close = difflib.get_close_matches(name.lower(), SOURCES, n=1, cutoff=0.6)
    if close:
        guess = f"{close[0]}:{rest or 'DIR'}" if close[0] in _DIRECTORY_SOURCES else close[0]
        return f" (did you mean '{guess}'? {listing})"
    return f" ({listing})"


def adapt_images(images: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``images`` (N, C, H, W) resized bilinearly to ``shape``'s H x W and with its channel count.

    One channel is repeated to any count (grey digits into a 3-channel spec),
    three become one by luminance; other mismatches cannot be adapted and
    raise ``AggSpecError``.
    """
    channels, height, width = shape
    images = convert_channels(images, channels)
    if tuple(images.shape[2:]) != (height, width):
        images = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False)
    return images.contiguous()


def _describe_adaptation(native: tuple[int, ...], shape: tuple[int, ...]) -> str:
    if native == shape:
        return f"{'x'.join(map(str, shape))} as they are"
    return f"{'x'.join(map(str, native))} adapted to {'x'.join(map(str, shape))}"


def _digits(shape: tuple[int, ...], seed: int) -> LoadedData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixel values 0..16
    labels = torch.tensor(digits.target, dtype=torch.long)
    images = (images - images.mean()) / images.std()
    train_index, val_index = _stratified_split(labels, _VALIDATION_FRACTION, seed)
    adapted = adapt_images(images, shape)
    train = TensorDataset(adapted[train_index], labels[train_index])
    val = TensorDataset(adapted[val_index], labels[val_index])
    description = (
        f"digits: {len(train_index):,} train / {len(val_index):,} val images, "
        f"{_describe_adaptation((1, 8, 8), shape)}"
    )
    return LoadedData(train, val, 10, description, tuple(str(digit) for digit in range(10)))


def _stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and validation indices: ``fraction`` of every class held out, deterministic in ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for label in torch.unique(labels):
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        held_out = round(len(members) * fraction)
        val.append(members[:held_out])
        train.append(members[held_out:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(val)).values


def _synthetic(shape: tuple[int, ...], seed: int) -> LoadedData:
    generator = torch.Generator().manual_seed(seed)
    count = _SYNTHETIC_TRAIN + _SYNTHETIC_VAL
    images = torch.randn(count, *shape, generator=generator)
    labels = torch.randint(0, _SYNTHETIC_CLASSES, (count,), generator=generator)
    train = TensorDataset(images[:_SYNTHETIC_TRAIN], labels[:_SYNTHETIC_TRAIN])
    val = TensorDataset(images[_SYNTHETIC_TRAIN:], labels[_SYNTHETIC_TRAIN:])
    description = (
        f"synthetic: {_SYNTHETIC_TRAIN:,} train / {_SYNTHETIC_VAL:,} val random "
        f"{'x'.join(map(str, shape))} images, {_SYNTHETIC_CLASSES} classes"
    )
    return LoadedData(train, val, _SYNTHETIC_CLASSES, description)


def _cifar(name: str, directory: Path, shape: tuple[int, ...], augment: bool) -> LoadedData:
    from aggspec.train.cifar import CIFAR, read_cifar

    layout = CIFAR[name]
    splits = read_cifar(layout, directory)
    channels, height, width = shape
    mean, std = channel_stats(splits.train_batches(), channels)
    plain = Pipeline(channels, (height, width), mean, std, augment=False, pad=4)
    train = StoredImages(splits.train_images, splits.train_labels, replace(plain, augment=augment))
    val = StoredImages(splits.val_images, splits.val_labels, plain)
    description = (
        f"{name}: {len(train):,} train / {len(val):,} val images from {splits.directory}, "
        f"{_describe_adaptation((3, 32, 32), shape)}; train {train.pipeline.describe()}"
    )
    return LoadedData(train, val, layout.classes, description, splits.class_names)


def _folder(directory: Path, shape: tuple[int, ...], seed: int, augment: bool) -> LoadedData:
    channels, height, width = shape
    found = find_image_folder(
        directory, _VALIDATION_FRACTION, lambda labels: _stratified_split(labels, _VALIDATION_FRACTION, seed)
    )
    size = (height, width)
    mean, std = channel_stats(sample_batches(found.train[0], channels, size), channels)
    pad = max(1, round(min(height, width) / 8))  # the paper's 4 for 32x32, in proportion
    plain = Pipeline(channels, size, mean, std, augment=False, pad=pad)
    (train_paths, train_labels), (val_paths, val_labels) = found.train, found.val
    labels = torch.tensor([*train_labels, *val_labels], dtype=torch.long)
    train = FileImages(train_paths, labels[: len(train_paths)], replace(plain, augment=augment))
    val = FileImages(val_paths, labels[len(train_paths) :], plain)
    description = (
        f"folder: {len(train):,} train / {len(val):,} val images in {len(found.classes)} classes from "
        f"{directory} ({found.layout}), read as {'grey' if channels == 1 else 'RGB'} and resized to "
        f"{'x'.join(map(str, shape))}; train {train.pipeline.describe()}"
    )
    return LoadedData(train, val, len(found.classes), description, found.classes)
