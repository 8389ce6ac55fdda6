"""Image datasets kept compact and made into the spec's input on access.

CIFAR's 60,000 images are 180 MB as uint8 and four times that as float, and an
image folder may not fit in memory at all, so images are kept as uint8 (in
memory, or as files read with Pillow) and each ``__getitem__`` turns one into
the spec's input: channels converted, the paper's augmentation for the
training set (zero-pad, random crop back to the native size, random
horizontal flip), resized, then normalised per channel with the training
set's mean and standard deviation.

The augmentation draws from torch's default generator, which ``DataLoader``
seeds in each worker from the run's seed: a run seeded with
``torch.manual_seed`` is reproducible, and restoring the RNG state resumes it.
torch only (torchvision does not import everywhere aggspec runs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from aggspec.errors import AggSpecError

__all__ = [
    "IMAGE_SUFFIXES",
    "FileImages",
    "Pipeline",
    "StoredImages",
    "UnreadableImage",
    "channel_stats",
    "convert_channels",
    "find_image_folder",
    "random_crop_flip",
    "read_image",
    "sample_batches",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})

# ITU-R 601 luma, the weights Pillow's "L" conversion uses, so CIFAR made grey
# here matches a folder of the same pictures read as grey.
_LUMA = (0.299, 0.587, 0.114)
_STATS_SAMPLE = 512  # images of a folder read to estimate its mean and std


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """``images`` (N, C, H, W) with ``channels`` channels: 1 repeated to any count, 3 to 1 by luminance.

    Other conversions have no meaning that would not surprise a user, so they
    raise ``AggSpecError``.
    """
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1:
        return images.expand(-1, channels, -1, -1)
    if have == 3 and channels == 1:
        weights = torch.tensor(_LUMA, dtype=images.dtype, device=images.device)
        return (images * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    raise AggSpecError(
        f"cannot adapt {have}-channel images to the spec's {channels}-channel input "
        f"(declare 1 or {have} channels)",
        filename="<command line>",
    )


def random_crop_flip(image: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``image`` (C, H, W) zero-padded by ``pad``, cropped back to H x W anywhere, flipped half the time.

    Draws from ``generator``, or torch's default generator when None.
    """
    height, width = image.shape[1:]
    if pad > 0:
        image = F.pad(image, (pad, pad, pad, pad))
        top, left = torch.randint(0, 2 * pad + 1, (2,), generator=generator).tolist()
        image = image[:, top : top + height, left : left + width]
    if torch.rand((), generator=generator).item() < 0.5:
        image = image.flip(-1)
    return image


@dataclass(frozen=True)
class Pipeline:
    """What turns one stored uint8 image (C, H, W) into the spec's input (see the module docstring)."""

    channels: int
    size: tuple[int, int]
    mean: torch.Tensor  # per output channel, of the training set after channel conversion
    std: torch.Tensor
    augment: bool
    pad: int = 4

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        x = convert_channels(image.float().div(255).unsqueeze(0), self.channels)[0]
        if self.augment:
            x = random_crop_flip(x, self.pad)
        if tuple(x.shape[1:]) != self.size:
            x = F.interpolate(x.unsqueeze(0), size=self.size, mode="bilinear", align_corners=False)[0]
        return ((x - self.mean.view(-1, 1, 1)) / self.std.view(-1, 1, 1)).contiguous()

    def describe(self) -> str:
        steps = []
        if self.augment:
            steps.append(f"augmented (pad {self.pad}, random crop, horizontal flip)")
        steps.append("normalised per channel with the training mean/std")
        return ", ".join(steps)


def channel_stats(batches: Iterator[torch.Tensor], channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 image batches (N, C, H, W) after conversion to ``channels``.

    Accumulated batch by batch in float64, so the whole set is never float at
    once. A channel with no spread gets std 1, to normalise without dividing by zero.
    """
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    count = 0
    for batch in batches:
        x = convert_channels(batch.double().div(255), channels)
        total += x.sum(dim=(0, 2, 3))
        squares += x.square().sum(dim=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / max(count, 1)
    std = (squares / max(count, 1) - mean.square()).clamp(min=0).sqrt()
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return mean.float(), std.float()


class StoredImages(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """``(image, label)`` pairs from uint8 images held in memory (N, C, H, W), made by ``pipeline``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, pipeline: Pipeline) -> None:
        self.images = images
        self.labels = labels
        self.pipeline = pipeline

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pipeline(self.images[index]), self.labels[index]


class FileImages(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """``(image, label)`` pairs from image files, each read with Pillow when asked for.

    Pillow does the decoding, the conversion to the spec's channels ("L" for
    one, "RGB" for three) and the resize, which it does better than a tensor
    resize for photographs of any size; ``pipeline`` does the rest.
    """

    def __init__(self, paths: Sequence[Path], labels: torch.Tensor, pipeline: Pipeline) -> None:
        self.paths = list(paths)
        self.labels = labels
        self.pipeline = pipeline

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = read_image(self.paths[index], self.pipeline.channels, self.pipeline.size)
        return self.pipeline(image), self.labels[index]


class UnreadableImage(AggSpecError):
    """An image file Pillow cannot read, named by its path.

    Raised while an epoch runs, in a ``DataLoader`` worker, it reaches the main
    process rebuilt by torch as ``UnreadableImage(<the worker's whole traceback>)``;
    this constructor recovers the one line from that text, so the command line
    still prints one line and no traceback.
    """

    _WHAT = ": error: not a readable image ("

    def __init__(self, path: str, reason: str | None = None) -> None:
        if reason is None:  # rebuilt from a worker's traceback: its last line holds ours
            last = path.rstrip().rpartition("\n")[2]
            where, found, rest = last.rpartition(self._WHAT)
            prefix = f"{type(self).__module__}.{type(self).__qualname__}: "
            if found and where.startswith(prefix):
                path, reason = where[len(prefix) :], rest.removesuffix(")")
            else:
                path, reason = "<data loader>", last
        super().__init__(f"not a readable image ({reason})", filename=path)


def read_image(path: Path, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """The image at ``path`` as uint8 (channels, *size), or an ``AggSpecError`` naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            image = opened.convert("L" if channels == 1 else "RGB")
            if image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.array(image, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
        # Pillow reports a broken file as any of these (SyntaxError from some decoders).
        raise UnreadableImage(str(path), _reason(error)) from None
    tensor = torch.from_numpy(array)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:117] + "..." if len(text) > 120 else text


@dataclass(frozen=True)
class ImageFolder:
    """The files of ``folder:DIR``: class names (sorted) and each split's paths and labels."""

    classes: tuple[str, ...]
    train: tuple[list[Path], list[int]]
    val: tuple[list[Path], list[int]]
    layout: str  # how the split was made, for the description


def find_image_folder(
    root: Path, fraction: float, split: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
) -> ImageFolder:
    """The images under ``root``, one subfolder per class, split into train and validation.

    ``root/train`` and ``root/val`` are used as they are when both exist;
    otherwise ``split`` (deterministic, stratified) holds out ``fraction``.
    Every image is opened once (its header only) so that a file Pillow cannot
    read is reported now, by name, and not in the middle of an epoch.
    """
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "no such directory"
        raise AggSpecError(f"folder: {what}", filename=str(root))
    if (root / "train").is_dir() and (root / "val").is_dir():
        classes, train_paths, train_labels = _classes_of(root / "train")
        _, val_paths, val_labels = _classes_of(root / "val", known=classes)
        _check_readable([*train_paths, *val_paths])
        return ImageFolder(classes, (train_paths, train_labels), (val_paths, val_labels), "train/ and val/")
    classes, paths, labels = _classes_of(root)
    _check_readable(paths)
    train_index, val_index = split(torch.tensor(labels))
    if len(val_index) == 0:
        raise AggSpecError(
            f"folder: too few images ({len(paths)}) to hold out {fraction:.0%} of each class for validation; "
            "add images, or give DIR/train/ and DIR/val/",
            filename=str(root),
        )
    train = ([paths[i] for i in train_index.tolist()], [labels[i] for i in train_index.tolist()])
    val = ([paths[i] for i in val_index.tolist()], [labels[i] for i in val_index.tolist()])
    return ImageFolder(classes, train, val, f"a stratified {fraction:.0%} validation split")


def _classes_of(
    root: Path, known: tuple[str, ...] | None = None
) -> tuple[tuple[str, ...], list[Path], list[int]]:
    """Class names (sorted subfolders) and every image's path and class index under ``root``."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise AggSpecError(
            "folder: no class subfolders (expected DIR/<class>/<image>, or DIR/train/ and DIR/val/)",
            filename=str(root),
        )
    names = tuple(p.name for p in folders)
    if known is not None:
        unknown = [name for name in names if name not in known]
        if unknown:
            raise AggSpecError(
                f"folder: validation classes {', '.join(unknown)} are not among the training classes",
                filename=str(root),
            )
    index = {name: i for i, name in enumerate(known if known is not None else names)}
    paths: list[Path] = []
    labels: list[int] = []
    for folder in folders:
        images = sorted(
            p
            for p in folder.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
        )
        if not images:
            raise AggSpecError(
                f"folder: class '{folder.name}' holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})",
                filename=str(folder),
            )
        paths.extend(images)
        labels.extend([index[folder.name]] * len(images))
    return names if known is None else known, paths, labels


def _check_readable(paths: Sequence[Path]) -> None:
    from PIL import Image, UnidentifiedImageError

    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
            raise UnreadableImage(str(path), _reason(error)) from None


def sample_batches(
    paths: Sequence[Path], channels: int, size: tuple[int, int], batch: int = 64
) -> Iterator[torch.Tensor]:
    """Up to ``_STATS_SAMPLE`` of ``paths``, evenly spaced (so deterministic), read in batches."""
    step = max(1, len(paths) // _STATS_SAMPLE)
    chosen = list(paths)[::step][:_STATS_SAMPLE]
    for start in range(0, len(chosen), batch):
        yield torch.stack([read_image(p, channels, size) for p in chosen[start : start + batch]])
