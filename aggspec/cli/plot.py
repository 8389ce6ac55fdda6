"""``aggspec analyze --sweep ... --plot OUT.png``: how a spec's figures grow with a parameter."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FORMATS", "plot_sweep"]

FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")  # what matplotlib writes without extras

_PANELS = (  # (record key, title, whether to use a log scale for it)
    ("params", "parameters", True),
    ("macs", "MACs per sample", True),
    ("connections", "connections between stage outputs", True),
    ("mean_fan_in", "mean fan-in", False),  # linear: O(log L) growth shows as a straight line
    ("max_hops", "max hops within a stage", False),
    ("mean_hops", "mean hops within a stage", False),
)


def plot_sweep(
    name: str, tables: Mapping[str, Sequence[dict[str, Any]]], path: str | os.PathLike[str]
) -> None:
    """Draw each figure against the swept parameter, one line per spec (log x when numeric)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 3, figsize=(13, 7.5), constrained_layout=True)
    for label, records in tables.items():
        values = [r["value"] for r in records]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values)
        positions = values if numeric else list(range(len(values)))
        for axis, (key, title, log_y) in zip(axes.flat, _PANELS, strict=True):
            ys = [r[key] for r in records]
            axis.plot(positions, ys, marker="o", label=os.path.basename(label))
            axis.set_title(title)
            axis.set_xlabel(name)
            if numeric:
                axis.set_xscale("log")
            else:
                axis.set_xticks(positions, [str(v) for v in values])
            if log_y and all(y > 0 for y in ys):
                axis.set_yscale("log")
            axis.grid(True, which="both", alpha=0.3)
    if len(tables) > 1:
        axes.flat[0].legend()
    figure.suptitle(f"how the network grows with {name}")
    figure.savefig(path, dpi=100)
    plt.close(figure)
