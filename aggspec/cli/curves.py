"""``aggspec plot RUN... -o curves.png``: the training curves of one or several runs, side by side.

A run folder (``aggspec train --out DIR``) holds ``metrics.jsonl``, one JSON
object per epoch. Every run is read and checked before anything is drawn, so a
mistake is one line and exit 2, never a half-written figure. The figure has
three panels: loss and accuracy per epoch (train dashed, validation solid) and
the learning rate (log scale), one colour per run.

NaN (or infinite) figures, as a diverged run leaves, are kept: matplotlib
leaves a gap where they are.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aggspec.errors import AggSpecError
from aggspec.span import Span

__all__ = ["METRICS", "Run", "default_labels", "plot_curves", "read_run", "read_runs"]

METRICS = "metrics.jsonl"
FORMATS = ("png", "svg", "pdf")
# The keys a record must hold to be drawn; aggspec train writes these and more.
CURVES = ("train_loss", "train_acc", "val_loss", "val_acc", "lr")
_COMMAND_LINE = "<command line>"


@dataclass
class Run:
    """One run's curves: its folder, the label it is drawn with, and a value per epoch."""

    path: str
    label: str
    epochs: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=lambda: {key: [] for key in CURVES})


def default_labels(paths: Sequence[str]) -> list[str]:
    """Each run's folder name; where names clash, the shortest path suffix that tells them apart.

    >>> default_labels(["runs/a", "runs/b"])
    ['a', 'b']
    >>> default_labels(["x/sparse/seed0", "x/dense/seed0", "x/dense/other"])
    ['sparse/seed0', 'dense/seed0', 'other']
    """
    parts = [_components(path) for path in paths]
    labels = []
    for index, mine in enumerate(parts):
        others = [theirs for other, theirs in enumerate(parts) if other != index]
        for length in range(1, len(mine) + 1):
            suffix = mine[-length:]
            if all(theirs[-length:] != suffix for theirs in others):
                break
        labels.append("/".join(suffix))
    return labels


def _components(path: str) -> list[str]:
    absolute = os.path.abspath(path)
    drive, rest = os.path.splitdrive(absolute)
    names = [name for name in rest.replace(os.sep, "/").split("/") if name]
    return [drive + "/", *names] if drive or not names else names


def read_runs(paths: Sequence[str], labels: str | None = None) -> list[Run]:
    """Read and check every run folder in ``paths``; ``labels`` is ``--labels A,B,...`` or None."""
    if not paths:
        raise AggSpecError("give at least one run folder", filename=_COMMAND_LINE)
    seen: dict[str, str] = {}
    for path in paths:
        key = os.path.normcase(os.path.abspath(path))
        if key in seen:
            raise AggSpecError(
                f"the run {path!r} is given twice (as {seen[key]!r} too)", filename=_COMMAND_LINE
            )
        seen[key] = path
    if labels is None:
        names = default_labels(paths)
    else:
        names = labels.split(",")
        if len(names) != len(paths):
            raise AggSpecError(
                f"--labels gives {_plural(len(names), 'label')} for {_plural(len(paths), 'run')}",
                filename=_COMMAND_LINE,
            )
        if any(not name.strip() for name in names):
            raise AggSpecError(f"--labels has an empty label: {labels!r}", filename=_COMMAND_LINE)
        names = [name.strip() for name in names]
    return [read_run(path, name) for path, name in zip(paths, names, strict=True)]


def read_run(path: str, label: str | None = None) -> Run:
    """One run folder's ``metrics.jsonl``, checked: every line an object with numeric curves."""
    if not os.path.exists(path):
        raise AggSpecError("no such run folder", filename=path)
    if not os.path.isdir(path):
        raise AggSpecError(
            f"not a run folder (a folder written by aggspec train holds {METRICS})", filename=path
        )
    metrics = os.path.join(path, METRICS)
    if not os.path.isfile(metrics):
        raise AggSpecError(
            f"no {METRICS} in this folder: is it a run folder written by aggspec train?", filename=path
        )
    try:
        with open(metrics, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise AggSpecError(f"cannot read: {exc.strerror or exc}", filename=metrics) from None
    except UnicodeDecodeError:
        raise AggSpecError("not text (UTF-8 JSON lines expected)", filename=metrics) from None
    run = Run(path, label if label is not None else default_labels([path])[0])
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            _add_record(run, _parse_line(line, number, metrics, text), number, line, metrics, text)
    if not run.epochs:
        raise AggSpecError("no epochs: the file is empty", filename=metrics)
    return run


def _parse_line(line: str, number: int, metrics: str, text: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        span = Span(number, exc.colno, number, exc.colno + 1)
        raise AggSpecError(f"not JSON: {exc.msg}", span, filename=metrics, source=text) from None
    if not isinstance(record, dict):
        raise AggSpecError(
            f"expected one JSON object per epoch, got {type(record).__name__}",
            _whole(number, line), filename=metrics, source=text,
        )  # fmt: skip
    return record


def _add_record(run: Run, record: dict[str, Any], number: int, line: str, metrics: str, text: str) -> None:
    def fail(message: str) -> AggSpecError:
        return AggSpecError(message, _whole(number, line), filename=metrics, source=text)

    missing = [key for key in ("epoch", *CURVES) if key not in record]
    if missing:
        raise fail(f"the record has no {', '.join(repr(key) for key in missing)}")
    epoch = record["epoch"]
    if not _is_int(epoch) or epoch < 1:
        raise fail(f"'epoch' must be a whole number from 1, got {json.dumps(epoch)}")
    if run.epochs and epoch <= run.epochs[-1]:
        raise fail(f"epoch {epoch} comes after epoch {run.epochs[-1]}: epochs must increase")
    for key in CURVES:
        value = record[key]
        if not _is_number(value):
            raise fail(f"{key!r} must be a number, got {json.dumps(value)}")
    run.epochs.append(epoch)
    for key in CURVES:
        value = float(record[key])
        run.values[key].append(value if math.isfinite(value) else math.nan)  # a gap in the curve


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole(number: int, line: str) -> Span:
    stripped = line.rstrip()
    start = len(line) - len(line.lstrip()) + 1
    return Span(number, start, number, max(len(stripped) + 1, start + 1))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


_PANELS = (  # (title, train key, validation key, y label)
    ("loss", "train_loss", "val_loss", "cross-entropy"),
    ("accuracy", "train_acc", "val_acc", "accuracy"),
)


def plot_curves(runs: Sequence[Run], path: str) -> None:
    """Draw the runs' loss, accuracy and learning rate per epoch to ``path`` (png, svg or pdf)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, PercentFormatter

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    loss_axis, acc_axis, lr_axis = axes
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    run_handles = []
    for index, run in enumerate(runs):
        many = len(runs) > len(colours)  # then spread the runs over one colour map
        colour = plt.get_cmap("turbo")(index / (len(runs) - 1)) if many else colours[index]
        marker = "o" if len(run.epochs) <= 40 else None  # a one-epoch run is still a visible point
        style: dict[str, Any] = {"color": colour, "marker": marker, "markersize": 3.5, "linewidth": 1.6}
        for axis, (_title, train_key, val_key, _ylabel) in zip((loss_axis, acc_axis), _PANELS, strict=True):
            axis.plot(run.epochs, run.values[train_key], linestyle="--", alpha=0.8, **style)
            axis.plot(run.epochs, run.values[val_key], linestyle="-", **style)
        # Runs often share a schedule: the earlier runs' steps are drawn wider, to show beneath.
        wider = 2.5 * (len(runs) - 1 - index) / max(len(runs) - 1, 1)
        lr_style = {**style, "linewidth": style["linewidth"] + wider}
        lr_axis.plot(run.epochs, run.values["lr"], drawstyle="steps-post", **lr_style)
        run_handles.append(Line2D([], [], color=colour, linewidth=2.5))
    for axis, (title, _train_key, _val_key, ylabel) in zip((loss_axis, acc_axis), _PANELS, strict=True):
        axis.set_title(title)
        axis.set_ylabel(ylabel)
    losses = [value for run in runs for key in ("train_loss", "val_loss") for value in run.values[key]]
    if all(value > 0 for value in losses if not math.isnan(value)):
        loss_axis.set_yscale("log")  # the late epochs, where runs differ, stay readable
        loss_axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        loss_axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        loss_axis.yaxis.set_minor_formatter(NullFormatter())
        loss_axis.set_ylabel("cross-entropy (log scale)")
    acc_axis.yaxis.set_major_formatter(PercentFormatter(1.0))
    lr_axis.set_title("learning rate")
    rates = [value for run in runs for value in run.values["lr"] if not math.isnan(value)]
    if rates and all(value > 0 for value in rates):
        lr_axis.set_yscale("log")
    for axis in axes:
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(True, which="major", alpha=0.3)
    styles = [
        Line2D([], [], color="0.3", linestyle="--", label="train"),
        Line2D([], [], color="0.3", linestyle="-", label="validation"),
    ]
    loss_axis.legend(handles=styles, loc="best", fontsize="small")
    acc_axis.legend(run_handles, [run.label for run in runs], loc="best", fontsize="small")
    try:
        figure.savefig(path, dpi=100)
    except OSError as exc:
        raise AggSpecError(f"cannot write file: {exc.strerror or exc}", filename=path) from None
    finally:
        plt.close(figure)
