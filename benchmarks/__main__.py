"""Every performance figure of the performance issue, measured here, beside its reference and goal.

    python -m benchmarks            # the full run (15-20 minutes on two cores, about half torch.compile)
    python -m benchmarks --quick    # a few minutes: smaller batches, fewer repeats, no torch.compile
    python -m benchmarks --write    # also write the summary into benchmarks/results.md

Each figure comes from the benchmark that owns it (``memory_efficient.py``,
``compiled_vs_reference.py``) or is timed here (building very deep specs,
the training-memory model against autograd). Times are medians of repeats
in one process, compared with a reference run beside them where there is
one; the load average before and after says how noisy the machine was. GPU
figures come from ``train_gpu.py`` and ``memory_efficient.py --device cuda``
on a GPU machine (see results.md).
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aggspec  # noqa: E402
from aggspec.analysis.training import training_memory  # noqa: E402
from aggspec.pytorch.memory import saved_bytes, training_step_peak  # noqa: E402
from benchmarks import build_speed as build_speeds  # noqa: E402
from benchmarks import compiled_vs_reference, memory_efficient  # noqa: E402
from benchmarks.results import write_section  # noqa: E402

T = TypeVar("T")
Figure = tuple[str, str, str, str, bool | None]  # what, measured, before, goal, met (None: no goal)


def build_speed(quick: bool) -> list[Figure]:
    deep, points, wheres = build_speeds.run(quick)
    total = deep.load + deep.build
    figures: list[Figure] = [
        (
            "SparseNet 3 x 1,000 layers: load + build (shape check included)",
            f"{total:.2f} s (load {deep.load:.2f}, build {deep.build:.2f} "
            f"[{deep.build_low:.2f}-{deep.build_high:.2f}], of which the shape check {deep.check:.2f})",
            "load 0.3 s + build 6.8 s (check about 70%)",
            "at most 2 s",
            total <= 2.0,
        )
    ]
    largest = points[-1]
    figures.append(
        (
            f"one {largest.layers:,}-layer stage: load + build",
            f"{largest.load + largest.build:.2f} s (load {largest.load:.2f}, build {largest.build:.2f}); "
            f"{points[0].per_connection_us:.0f} to {largest.per_connection_us:.0f} µs per connection "
            f"from {points[0].layers:,} layers up",
            "1.8 s + 25.5 s at 10,000 layers",
            "at most 20 s at 10,000 layers" if largest.layers >= 10_000 else "-",
            largest.load + largest.build <= 20.0 if largest.layers >= 10_000 else None,
        )
    )
    for layers, r in wheres.items():
        figures.append(
            (
                f"`where` rule / named rule, same connections, {layers:,} layers: load time",
                str(r),
                "more than 10 (64.5 s against 4.8 s at 3 x 3,000)",
                "at most 2",
                r.median <= 2.0,
            )
        )
    return figures


def memory_mode(quick: bool) -> list[Figure]:
    args = memory_efficient.arguments().parse_args(
        ["--batch", "16" if quick else "64", "--steps", "1", "--repeats", "3" if quick else "7"]
    )
    figures: list[Figure] = []
    for case in memory_efficient.CASES[: 1 if quick else 3]:
        row = isolated(memory_efficient.measure, case, args)
        goal = row.network == "DenseNet-BC-100-12"
        figures.append(
            (
                f"{row.network}, memory-efficient / default, batch {row.batch}: peak step memory",
                f"{row.memory_ratio:.2f} ({row.efficient_mib:,.0f} / {row.default_mib:,.0f} MiB)",
                "1.00 (no such mode)",
                "at most 0.35" if goal else "-",
                row.memory_ratio <= 0.35 if goal else None,
            )
        )
        figures.append(
            (
                f"{row.network}, memory-efficient / default, batch {row.batch}: step time",
                f"{row.time_ratio:.2f} (pairs {row.time_ratio_min:.2f}-{row.time_ratio_max:.2f})",
                "-",
                "at most 1.15" if goal else "-",
                row.time_ratio <= 1.15 if goal else None,
            )
        )
    return figures


def isolated(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``work(*args, **kwargs)`` in a fresh Python process, its result sent back.

    Each measurement starts from an empty heap: in one process, what earlier
    networks left in the allocator and in dynamo's caches added up past this
    machine's 24 GiB by the third compiled network.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(work, *args, **kwargs).result()


def compiled_speed(quick: bool) -> list[Figure]:
    run = compiled_vs_reference.run
    rows = isolated(run, quick)[0]
    if not quick:  # inductor on two cores: several minutes per model
        # oneDNN's CPU convolutions prefer channels-last: the best share of the peak found here
        rows += isolated(run, quick, networks=["DenseNet-BC-100-12"], channels_last=True)[0]
        for network in ("DenseNet-BC-100-12", "SparseNet-BC-100-24", "PreAct-ResNet-110"):  # 1202: too long
            rows += isolated(run, quick, compile=True, networks=[network])[0]
    figures: list[Figure] = []
    for row in rows:
        mode = compiled_vs_reference.mode(row)
        figures.append(
            (
                f"{row.network} ({mode}, batch {row.batch}): compiled / hand-written training step",
                f"{row.step} ({row.step.a:.3f} s / {row.step.b:.3f} s)",
                "1.00-1.06 (eager)",
                "at most 1.00",
                row.step.median <= 1.00,
            )
        )
        if not row.compiled and not row.channels_last:
            figures.append(
                (
                    f"{row.network}: first step of a new model, compiled / hand-written",
                    str(row.first),
                    "1.27 at depth 1202 (3.3 s / 2.6 s)",
                    "at most 1.1",
                    row.first.median <= 1.1,
                )
            )
        goal = row.compiled and row.network == "DenseNet-BC-100-12"  # the goal names this one
        if row.compiled or row.channels_last or row.network == "DenseNet-BC-100-12":
            figures.append(
                (
                    f"{row.network} ({mode}): share of the fp32 GEMM peak",
                    f"{row.peak_fraction:.0%} (hand-written {row.reference_peak_fraction:.0%})",
                    "48% (DenseNet-BC-100-12, eager)",
                    "at least 60%" if goal else "-",
                    row.peak_fraction >= 0.60 if goal else None,
                )
            )
    return figures


def training_model() -> list[Figure]:
    figures: list[Figure] = []
    for lean in (False, True):
        worst, where = 0.0, ""
        worst_peak, where_peak = 1.0, ""
        for path in sorted((ROOT / "examples").glob("*.agg")):
            spec = aggspec.load(path)
            batch = 1 if spec.input_shape[1] > 64 else 2
            model = aggspec.build(spec, memory_efficient=lean).train()
            x = torch.randn(batch, *spec.input_shape)
            predicted = training_memory(spec.graph, batch, memory_efficient=lean)
            measured = saved_bytes(model, x)
            error = abs(predicted.saved - measured) / measured
            if error >= worst:
                worst, where = error, path.name
            y = torch.randint(
                0, spec.output_shape[0], (batch, *spec.output_shape[1:])
            )  # per position for U-Net
            peak = predicted.peak / training_step_peak(model, x, y)
            if abs(peak - 1) >= abs(worst_peak - 1):
                worst_peak, where_peak = peak, path.name
        mode = " --memory-efficient" if lean else ""
        figures.append(
            (
                f"analyze --training{mode}: activations kept, predicted vs counted by autograd hooks "
                "(worst example)",
                f"{worst:.2%} ({where})",
                "no model",
                "within 5%",
                worst <= 0.05,
            )
        )
        figures.append(
            (
                f"analyze --training{mode}: step peak, predicted / measured on CPU (furthest example)",
                f"{worst_peak:.3f} ({where_peak})",
                "1.04-1.24 (everything summed)",
                "-",
                None,
            )
        )
    return figures


def table(figures: list[Figure]) -> str:
    lines = ["| figure | measured | before | goal | met |", "|---|---|---|---|---|"]
    for what, measured, before, goal, met in figures:
        mark = "-" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {what} | {measured} | {before} | {goal} | {mark} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller batches and fewer repeats")
    parser.add_argument("--write", action="store_true", help="write the summary into benchmarks/results.md")
    args = parser.parse_args()
    start, load_before = time.perf_counter(), os.getloadavg()[0]
    figures = [
        *build_speed(args.quick),
        *training_model(),
        *memory_mode(args.quick),
        *compiled_speed(args.quick),
    ]
    minutes = (time.perf_counter() - start) / 60
    setup = (
        f"{datetime.date.today().isoformat()}, `python -m benchmarks{' --quick' if args.quick else ''}`, "
        f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads), torch {torch.__version__}; "
        f"{minutes:.1f} minutes; load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after "
        "(above about 1, other work shared the cores and time ratios spread widely)"
    )
    text = f"{setup}\n\n{table(figures)}"
    print(text)
    if args.write:
        write_summary(text)


def write_summary(text: str) -> None:
    """The summary goes first in results.md, under its title."""
    write_section("Summary: every figure against its goal", text, first=True)


if __name__ == "__main__":
    main()
