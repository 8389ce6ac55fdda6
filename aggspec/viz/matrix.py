"""Connectivity matrices: each stage's L x (L+1) take lists as an array and as heat maps."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from aggspec.ir import StageInfo
from aggspec.spec import Spec

__all__ = ["FORMATS", "connectivity_matrix", "matrix_figure"]

FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")  # what matplotlib writes here (jpg through pillow)


def connectivity_matrix(stage: StageInfo) -> np.ndarray:
    """L x (L+1): row l-1, column j is the position (1-based) of x_j in layer l's merge, else 0.

    >>> from aggspec import loads
    >>> (stage,) = loads("network T(input 4x8x8) { stage 3 * relu { take exponential } }").stages
    >>> connectivity_matrix(stage)
    array([[1, 0, 0, 0],
           [2, 1, 0, 0],
           [0, 2, 1, 0]])
    """
    matrix = np.zeros((stage.length, stage.length + 1), dtype=np.int64)
    for row, take in enumerate(stage.takes):
        for position, source in enumerate(take, start=1):
            matrix[row, source] = position
    return matrix


def matrix_figure(specs: Sequence[Spec], path: str | os.PathLike[str]) -> tuple[int, int]:
    """Heat maps of every stage's connectivity, one row per spec; returns the image size (w, h)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(max(len(spec.stages) for spec in specs), 1)
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
            axis.imshow(connectivity_matrix(stage) > 0, cmap="Blues", interpolation="nearest", aspect="auto")
            axis.set_title(f"{spec.name} {stage.name}: L={stage.length}\ntake {stage.take}", fontsize=9)
            axis.set_xlabel("source output j (0 = stage input)")
            axis.set_ylabel("target layer l")
            axis.set_yticks([0, stage.length - 1], [1, stage.length])
            axis.set_xticks([0, stage.length], [0, stage.length])
    figure.savefig(path, dpi=100)
    width, height = (round(float(v)) for v in figure.get_size_inches() * 100)
    plt.close(figure)
    return width, height
