"""Aggregation at a matched parameter budget: SparseNet's comparison (Zhu et al., ECCV 2018), small.

Five networks that differ only in how each stage's layers aggregate earlier
outputs, all written by one spec, ``experiments/specs/aggregation.agg``:

    chain         take chain                                          plain
    dense-sum     take dense; merge sum; emit all                     ResNet, unrolled
    dense-concat  take dense; merge concat; emit all                  DenseNet
    exp-concat    take exponential; merge concat; emit exponential    SparseNet
    exp-sum       take exponential; merge sum; emit exponential       SparseNet, summation

Each variant's ``width`` (its growth rate when it concatenates) is chosen by
bisection so that its parameter count is the closest to ``--budget``; the
script stops if one is off by more than ``--tolerance``. Every variant is then
trained with ``aggspec.train`` (the paper's recipe: SGD, Nesterov momentum 0.9,
weight decay 1e-4, lr divided by 10 at 50% and 75% of the epochs) once per
seed. Seed s fixes the digits train/validation split, the initial weights and
the order of the batches, and is the same for every variant, so the variants
are compared on the same splits.

    python experiments/aggregation.py                      # the defaults: digits, 3 seeds, 30 epochs
    python experiments/aggregation.py --seeds 5 --write    # update docs/results.md and its plot
    python experiments/aggregation.py --quick              # a smoke run: 1 seed, 1 epoch, writes nothing
    python experiments/aggregation.py --data cifar10:DIR --stages 3 --layers 12 --budget 300000

Without ``--write`` nothing under docs/ changes; ``--json`` and ``--plot``
write the raw records and the figure wherever you ask.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    COLOURS,
    IMAGES,
    SPEC,
    VARIANTS,
    Stopwatch,
    Variant,
    command_line,
    data_shape,
    hardware,
    markdown_table,
    one_thread,
    parse_variants,
    plural,
    short,
    write_section,
)

import aggspec

SECTION = "aggregation"
PLOT = IMAGES / "results_aggregation.png"
REACH = 0.95  # how fast a variant learns: the first epoch at this validation accuracy


@dataclass(frozen=True)
class Setup:
    data: str
    channels: int
    size: int
    classes: int
    stages: int
    layers: int
    budget: int
    epochs: int
    batch_size: int
    lr: float
    schedule: str
    seeds: list[int]


@dataclass
class Sized:
    """A variant at the width that meets the budget, and its figures from ``aggspec.analyze``."""

    variant: Variant
    width: int
    params: int
    macs: int
    connections: int


@dataclass
class Outcome:
    """One variant trained once per seed."""

    sized: Sized
    final_val_acc: list[float] = field(default_factory=list)  # the last epoch's, one per seed
    best_val_acc: list[float] = field(default_factory=list)
    final_train_loss: list[float] = field(default_factory=list)
    images_per_second: list[float] = field(default_factory=list)  # median over a run's epochs
    seconds: list[float] = field(default_factory=list)  # one run, start to end
    curves: list[list[dict[str, float]]] = field(default_factory=list)  # per seed, per epoch


def spec_params(setup: Setup, variant: Variant, width: int) -> dict[str, Any]:
    return {
        "rule": variant.rule,
        "merge": variant.merge,
        "width": width,
        "layers": setup.layers,
        "stages": setup.stages,
        "channels": setup.channels,
        "size": setup.size,
        "classes": setup.classes,
    }


def size_variant(setup: Setup, variant: Variant, tolerance: float) -> Sized:
    """The width (1..1024) whose parameter count is closest to the budget (counts grow with width)."""

    def measure(width: int) -> Sized:
        report = aggspec.analyze(aggspec.load(SPEC, spec_params(setup, variant, width)))
        connections = sum(stage.connections for stage in report.stages)
        return Sized(variant, width, report.params, report.macs, connections)

    low, high = 1, 1024  # invariant: params(low) < budget <= params(high), or low is already enough
    if measure(low).params >= setup.budget:
        high = low
    while high - low > 1:
        middle = (low + high) // 2
        if measure(middle).params < setup.budget:
            low = middle
        else:
            high = middle
    best = min((measure(low), measure(high)), key=lambda sized: abs(sized.params - setup.budget))
    off = best.params / setup.budget - 1
    if abs(off) > tolerance:
        raise SystemExit(
            f"{variant.key}: no width meets the budget of {setup.budget:,} parameters within "
            f"{tolerance:.0%} (closest: width {best.width}, {best.params:,}, {off:+.1%}); "
            "change --budget or --tolerance"
        )
    return best


def train_once(setup: Setup, sized: Sized, seed: int, outcome: Outcome) -> None:
    params = spec_params(setup, sized.variant, sized.width)
    clock = Stopwatch()
    with tempfile.TemporaryDirectory(prefix="aggspec-aggregation-") as out:
        result = aggspec.train(
            SPEC,
            params,
            data=setup.data,
            epochs=setup.epochs,
            batch_size=setup.batch_size,
            lr=setup.lr,
            schedule=setup.schedule,
            out=out,
            seed=seed,
            device="cpu",
            verbose=False,
        )
    history = result.history
    outcome.seconds.append(clock.seconds())
    outcome.final_val_acc.append(float(history[-1]["val_acc"]))
    outcome.best_val_acc.append(float(result.best_val_acc))
    outcome.final_train_loss.append(float(history[-1]["train_loss"]))
    outcome.images_per_second.append(statistics.median(float(h["images_per_second"]) for h in history))
    keys = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_second")
    outcome.curves.append([{key: float(h[key]) for key in keys} for h in history])


def spread(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± std`` (sample std; ``± -`` for one value) of ``values`` times ``scale``."""
    mean = statistics.fmean(values) * scale
    if len(values) < 2:
        return f"{mean:.{digits}f} ± -"
    return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def first_epoch(outcome: Outcome) -> str:
    """The first epoch whose validation accuracy reaches ``REACH``: mean over seeds (min-max)."""
    epochs = [
        next((index for index, record in enumerate(curve, start=1) if record["val_acc"] >= REACH), None)
        for curve in outcome.curves
    ]
    if None in epochs:
        return f"not reached by {sum(e is None for e in epochs)} of {len(epochs)} seeds"
    reached = [e for e in epochs if e is not None]
    return f"{statistics.fmean(reached):.1f} ({min(reached)}-{max(reached)})"


def table(outcomes: list[Outcome]) -> str:
    header = [
        "variant", "network", "stage clauses", "width", "params", "MACs", "connections",
        "final val acc % (mean ± std)", "min-max %", "best-epoch val acc %",
        f"first epoch at {REACH:.0%} val acc", "final train loss",
        "train img/s", "s / run",
    ]  # fmt: skip
    rows = []
    for outcome in outcomes:
        sized, variant = outcome.sized, outcome.sized.variant
        rows.append([
            f"`{variant.key}`", variant.network, f"`{variant.clauses}`",
            f"{sized.width} (growth)" if variant.concat else str(sized.width),
            f"{sized.params:,}", short(sized.macs), sized.connections,
            spread(outcome.final_val_acc),
            f"{min(outcome.final_val_acc) * 100:.2f}-{max(outcome.final_val_acc) * 100:.2f}",
            spread(outcome.best_val_acc),
            first_epoch(outcome),
            spread(outcome.final_train_loss, scale=1.0, digits=4),
            f"{statistics.fmean(outcome.images_per_second):,.0f}",
            f"{statistics.fmean(outcome.seconds):.1f}",
        ])  # fmt: skip
    return markdown_table(header, rows)


def plot(outcomes: list[Outcome], setup: Setup, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.4))
    for index, outcome in enumerate(outcomes):
        key, colour = outcome.sized.variant.key, COLOURS[outcome.sized.variant.key]
        finals = [value * 100 for value in outcome.final_val_acc]
        left.scatter([index] * len(finals), finals, color=colour, alpha=0.6, s=22)
        std = statistics.stdev(finals) if len(finals) > 1 else 0.0
        left.errorbar(
            [index + 0.18], [statistics.fmean(finals)], yerr=[std], fmt="D", color=colour, capsize=4
        )
        epochs = range(1, len(outcome.curves[0]) + 1)
        for axis, metric, scale in ((middle, "val_acc", 100.0), (right, "train_loss", 1.0)):
            mean = [statistics.fmean(c[e - 1][metric] for c in outcome.curves) * scale for e in epochs]
            axis.plot(
                epochs,
                mean,
                color=colour,
                marker=".",
                markersize=3,
                label=f"{key} ({outcome.sized.params / 1e3:.1f}k)",
            )
    left.set_xticks(range(len(outcomes)), [o.sized.variant.key for o in outcomes], rotation=20)
    left.set_ylabel("final validation accuracy (%)")
    left.set_title(f"each seed (dots), mean ± std (diamonds); {plural(len(setup.seeds), 'seed')}")
    middle.set_xlabel("epoch")
    middle.set_ylabel("validation accuracy (%), mean over seeds")
    middle.set_ylim(bottom=max(0.0, middle.get_ylim()[0]))
    middle.legend(fontsize=8, loc="lower right")
    right.set_xlabel("epoch")
    right.set_ylabel("training loss, mean over seeds")
    right.set_yscale("log")
    for axis in (left, middle, right):
        axis.grid(alpha=0.3)
    figure.suptitle(
        f"{setup.data}: {setup.stages} stages x {setup.layers} layers at about {setup.budget:,} parameters, "
        f"{plural(setup.epochs, 'epoch')}"
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def section(outcomes: list[Outcome], setup: Setup, command: str, seconds: float) -> str:
    runs = len(outcomes) * len(setup.seeds)
    return "\n".join([
        f"Command: `{command}`",
        "",
        f"Setup: `{setup.data}`, input {setup.channels}x{setup.size}x{setup.size}, "
        f"{setup.classes} classes; {plural(setup.stages, 'stage')} of {plural(setup.layers, 'layer')} "
        f"(`bn relu conv(width, 3)`), budget {setup.budget:,} parameters; "
        f"{plural(setup.epochs, 'epoch')}, batch {setup.batch_size}, lr {setup.lr:g} ({setup.schedule}), "
        f"seeds {', '.join(map(str, setup.seeds))}. {hardware()}.",
        "",
        table(outcomes),
        "",
        f"Wall time: {seconds:.0f} s for {runs} runs (width search and plot included).",
        "",
        f"![aggregation at a matched budget](img/{PLOT.name})",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default="digits", help="digits (default), synthetic, cifar10:DIR or cifar100:DIR"
    )
    parser.add_argument(
        "--variants", default="all", help=f"comma-separated, from {', '.join(v.key for v in VARIANTS)}"
    )
    parser.add_argument("--stages", type=int, default=2, help="stages (default 2)")
    parser.add_argument("--layers", type=int, default=8, help="layers per stage (default 8)")
    parser.add_argument("--budget", type=int, default=70_000, help="parameters per network (default 70,000)")
    parser.add_argument(
        "--tolerance", type=float, default=0.10, help="largest relative miss of the budget (0.10)"
    )
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run (default 30)")
    parser.add_argument("--batch-size", type=int, default=64, help="default 64")
    parser.add_argument("--lr", type=float, default=0.1, help="initial learning rate (default 0.1)")
    parser.add_argument("--schedule", default="step", choices=["step", "cosine"], help="default step")
    parser.add_argument("--seeds", type=int, default=3, help="runs per variant, seeds 0..N-1 (default 3)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 seed, 1 epoch, 4 layers per stage"
    )
    parser.add_argument(
        "--write", action="store_true", help="update docs/results.md and docs/img/results_aggregation.png"
    )
    parser.add_argument("--json", type=Path, help="also write every record to this JSON file")
    parser.add_argument("--plot", type=Path, help="write the figure here (with --write: docs/img/...)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.layers = 1, 1, 4
    try:
        variants = parse_variants(args.variants)
    except ValueError as error:
        parser.error(str(error))
    if args.seeds < 1 or args.epochs < 1 or args.stages < 1 or args.layers < 1 or args.budget < 1:
        parser.error("--seeds, --epochs, --stages, --layers and --budget must be positive")

    one_thread()
    clock = Stopwatch()
    channels, size, classes = data_shape(args.data)
    setup = Setup(
        args.data, channels, size, classes, args.stages, args.layers, args.budget, args.epochs,
        args.batch_size, args.lr, args.schedule, list(range(args.seeds)),
    )  # fmt: skip
    outcomes = []
    for variant in variants:
        sized = size_variant(setup, variant, args.tolerance)
        print(
            f"{variant.key:13} width {sized.width:3}  {sized.params:8,} params "
            f"({sized.params / setup.budget - 1:+.1%})  {short(sized.macs)} MACs",
            flush=True,
        )
        outcomes.append(Outcome(sized))
    for outcome in outcomes:
        for seed in setup.seeds:
            train_once(setup, outcome.sized, seed, outcome)
            print(
                f"{outcome.sized.variant.key:13} seed {seed}: final val acc {outcome.final_val_acc[-1]:.2%}, "
                f"{outcome.seconds[-1]:.1f} s",
                flush=True,
            )
    plot_path = PLOT if args.write else args.plot
    if plot_path is not None:
        plot(outcomes, setup, plot_path)
    seconds = clock.seconds()
    command = command_line("aggregation.py", sys.argv[1:] if argv is None else argv)
    text = section(outcomes, setup, command, seconds)
    print()
    print(text)
    if args.json is not None:
        records = [
            {**asdict(outcome), "sized": {**asdict(outcome.sized), "variant": asdict(outcome.sized.variant)}}
            for outcome in outcomes
        ]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"setup": asdict(setup), "seconds": seconds, "outcomes": records}, indent=1)
        )
    if args.write:
        write_section(SECTION, text)
        print(f"\nwrote docs/results.md (section '{SECTION}') and {PLOT.relative_to(SPEC.parents[2])}")


if __name__ == "__main__":
    main()
