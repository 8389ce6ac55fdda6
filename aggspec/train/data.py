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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F
from torch.utils.data import Dataset, TensorDataset

from aggspec.errors import AggSpecError

__all__ = ["SOURCES", "LoadedData", "adapt_images", "load_data"]

SOURCES = ("digits", "synthetic")

_VALIDATION_FRACTION = 0.2
_SYNTHETIC_TRAIN, _SYNTHETIC_VAL, _SYNTHETIC_CLASSES = 512, 128, 10


@dataclass(frozen=True)
class LoadedData:
    """Train and validation sets of ``(image, label)``, images shaped as the spec's input."""

    train: Dataset[Any]
    val: Dataset[Any]
    classes: int
    description: str  # one line, e.g. "digits: 1,437 train / 360 val images, 1x8x8 resized to 3x32x32"


def load_data(source: str, input_shape: Sequence[int], *, seed: int = 0) -> LoadedData:
    """The data named by ``source`` (see the module docstring), adapted to ``input_shape``."""
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise AggSpecError(
            f"data '{source}' holds images; the spec's input is {'x'.join(map(str, shape))} features "
            "(declare an input CxHxW)",
            filename="<command line>",
        )
    if source == "digits":
        return _digits(shape, seed)
    if source == "synthetic":
        return _synthetic(shape, seed)
    raise AggSpecError(
        f"unknown data source '{source}' (sources: {', '.join(SOURCES)})", filename="<command line>"
    )


def adapt_images(images: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``images`` (N, C, H, W) resized bilinearly to ``shape``'s H x W and with its channel count.

    One channel is repeated to any count (grey digits into a 3-channel spec);
    other mismatches cannot be adapted and raise ``AggSpecError``.
    """
    channels, height, width = shape
    if images.shape[1] != channels:
        if images.shape[1] != 1:
            raise AggSpecError(
                f"cannot adapt {images.shape[1]}-channel images to the spec's {channels}-channel input",
                filename="<command line>",
            )
        images = images.expand(-1, channels, -1, -1)
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
    return LoadedData(train, val, 10, description)


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
