"""Connectivity matrices: each stage's L x (L+1) take lists as an array and as heat maps."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from aggspec.ir import StageInfo
from aggspec.spec import Spec

__all__ = ["FORMATS", "connectivity_image", "connectivity_matrix", "matrix_figure"]

# The most panels in a row: a network of hundreds of stages (a loop of them) would otherwise
# make a picture hundreds of thousands of pixels wide and many gigabytes to draw.
MAX_PANELS = 24

# The most cells a stage's heat map has along either side: about the pixels it
# is drawn in, so each cell is a pixel or more and no connection is skipped.
IMAGE_SIDE = 300

FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")  # what matplotlib writes here (jpg through pillow)


def connectivity_matrix(stage: StageInfo) -> np.ndarray:
    """L x (L+1): row l-1, column j is the position (1-based) of x_j in layer l's merge, else 0.

    A stage that reaches ``across`` earlier stages has a column for each of
    their outputs first (its global indices): L x (offset + L + 1).

    >>> from aggspec import loads
    >>> (stage,) = loads("network T(input 4x8x8) { stage 3 * relu { take exponential } }").stages
    >>> connectivity_matrix(stage)
    array([[1, 0, 0, 0],
           [2, 1, 0, 0],
           [0, 2, 1, 0]])
    """
    matrix = np.zeros((stage.length, stage.offset + stage.length + 1), dtype=np.int64)
    for row, take in enumerate(stage.takes):
        for position, source in enumerate(take, start=1):
            matrix[row, source] = position
    return matrix


def connectivity_image(stage: StageInfo, side: int = IMAGE_SIDE) -> np.ndarray:
    """The connectivity as at most ``side`` x ``side`` cells: a cell is on if any connection falls in it.

    Made from the take lists in O(connections) time and O(side^2) memory, so
    a 20,000-layer stage (a 3.2 GB matrix) draws like a 20-layer one, and
    its diagonals stay unbroken where resampling the full matrix would drop
    rows.

    >>> from aggspec import loads
    >>> (stage,) = loads("network T(input 4x8x8) { stage 3 * relu { take exponential } }").stages
    >>> connectivity_image(stage).astype(int)
    array([[1, 0, 0, 0],
           [1, 1, 0, 0],
           [0, 1, 1, 0]])
    >>> connectivity_image(stage, side=2).astype(int)
    array([[1, 0],
           [1, 1]])
    """
    width = stage.offset + stage.length + 1
    rows, columns = min(stage.length, side), min(width, side)
    image = np.zeros((rows, columns), dtype=bool)
    targets = np.repeat(np.arange(stage.length, dtype=np.int64), [len(take) for take in stage.takes])
    sources = np.fromiter((j for take in stage.takes for j in take), dtype=np.int64, count=len(targets))
    image[targets * rows // stage.length, sources * columns // width] = True
    return image


def matrix_figure(specs: Sequence[Spec], path: str | os.PathLike[str]) -> tuple[int, int]:
    """Heat maps of every stage's connectivity, one row per spec; returns the image size (w, h).

    At most ``MAX_PANELS`` stages per spec are drawn, the last panel saying how many are left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for spec in specs:
        if not spec.stages:  # nothing to draw: say so rather than write a blank picture
            raise spec.error(
                f"network {spec.name} has no stages, so --matrix has no connectivity to draw "
                "(draw the network itself with `aggspec viz` without --matrix)"
            )
    columns = min(max(len(spec.stages) for spec in specs), MAX_PANELS)
    figure, axes = plt.subplots(
        len(specs), columns, figsize=(4 * columns, 4 * len(specs)), squeeze=False, constrained_layout=True
    )
    for row, spec in enumerate(specs):
        for column in range(columns):
            axis = axes[row][column]
            if column >= len(spec.stages):
                axis.axis("off")
                continue
            stage = spec.stages[column]
            if column == columns - 1 and len(spec.stages) > columns:  # say what is left out
                axis.text(
                    1.02, 0.5, f"... and {len(spec.stages) - columns:,} more stages, not drawn",
                    transform=axis.transAxes, rotation=90, va="center", fontsize=9,
                )  # fmt: skip
            L, last = stage.length, stage.offset + stage.length  # in layer coordinates, whatever the cells
            axis.imshow(
                connectivity_image(stage),
                cmap="Blues",
                interpolation="nearest",
                aspect="auto",
                extent=(-0.5, last + 0.5, L + 0.5, 0.5),
            )
            # a long rule (a where condition) wraps to its panel's width rather than running into the next
            rule = "\n".join(textwrap.wrap(f"take {stage.take}", width=40, break_long_words=True))
            axis.set_title(f"{spec.name} {stage.name}: L={stage.length}\n{rule}", fontsize=9)
            axis.set_ylabel("target layer l")
            axis.set_yticks([1, L], [1, L])
            if stage.offset:
                _mark_blocks(axis, spec, stage)
            else:
                axis.set_xlabel("source output j (0 = stage input)")
                axis.set_xticks([0, L], [0, L])
    figure.savefig(path, dpi=100)
    width, height = (round(float(v)) for v in figure.get_size_inches() * 100)
    plt.close(figure)
    return width, height


def _mark_blocks(axis: Any, spec: Spec, stage: StageInfo) -> None:
    """Columns of a stage that reaches across: a line where each block's outputs begin, named below."""
    by_name = {s.name: s for s in spec.stages}
    starts, names = [], []
    start = 0
    for name in (*stage.across, stage.name):
        block = stage if name == stage.name else by_name[name]
        starts.append(start)
        names.append(f"{name} ({block.label})" if block.label else name)
        start += block.length + 1
    for begin in starts[1:]:
        axis.axvline(begin - 0.5, color="#d62728", linewidth=0.8)
    axis.set_xticks(starts, [f"{n} x0" for n in names], fontsize=7, rotation=30, ha="right")
    axis.set_xlabel("source output, global index\n(red lines: where each stage's outputs begin)", fontsize=9)
