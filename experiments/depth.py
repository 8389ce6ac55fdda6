"""Depth robustness: the five aggregations of SparseNet's comparison as one stage grows to 1,000 layers.

Zhu et al. (ECCV 2018) argue that aggregating exponentially spaced outputs
keeps every layer a few hops from the input and the output, so gradients
still reach the first layers of a very deep network (a plain chain's do not),
while the number of channels a layer reads, and so the parameters, stay
bounded (DenseNet's concatenation grows linearly with depth, and its
parameters quadratically). This script measures both, on one stage of L
layers of ``experiments/specs/aggregation.agg`` (``stages=1``), for every
variant and every depth:

- params, MACs, connections and the largest hop count between two outputs of
  the stage (``aggspec.analyze``);
- at step 1 (the initial weights, one batch), the gradient norm of the first
  convolution (the stem, before the stage), of the first and of the last
  stage layer's convolution;
- the training loss over a fixed number of SGD steps (same seed, batches,
  learning rate and optimiser for every network: the paper's SGD with
  Nesterov momentum 0.9 and weight decay 1e-4, at a constant rate), whether
  it became NaN or infinite, and the validation accuracy afterwards.

A network whose activations (``aggspec.analyze``'s per-sample bytes times the
batch) would exceed ``--max-activation-gb`` is not built: it is reported as
skipped, with the figure, so the whole run stays within a small machine.

    python experiments/depth.py                  # depths 10,40,100,300,1000, 40 steps
    python experiments/depth.py --write          # update docs/results.md and its plot
    python experiments/depth.py --quick          # a smoke run: depths 4 and 8, 3 steps, writes nothing
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
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
    parse_ints,
    parse_variants,
    plural,
    short,
    write_section,
)

import aggspec

SECTION = "depth"
PLOT = IMAGES / "results_depth.png"
LAST_STEPS = 10  # the training loss is the mean over the last this-many steps


@dataclass(frozen=True)
class Setup:
    data: str
    channels: int
    size: int
    classes: int
    width: int  # chain and summing variants
    growth: int  # concatenating variants
    pool: int
    depths: list[int]
    steps: int
    batch_size: int
    lr: float
    seed: int
    max_activation_gb: float


@dataclass
class Trial:
    """One variant at one depth."""

    variant: str
    depth: int
    width: int
    params: int
    macs: int
    activation_gb: float  # per batch, as aggspec.analyze counts it
    connections: int
    max_hops: int
    skipped: str = ""  # why it was not run, or empty
    grad_stem: float = math.nan  # gradient norms at step 1
    grad_first: float = math.nan
    grad_last: float = math.nan
    losses: list[float] = field(default_factory=list)  # one per step run
    diverged_at: int = 0  # the step whose loss was not finite; 0 if none
    val_acc: float = math.nan
    build_seconds: float = 0.0
    step_seconds: float = 0.0  # mean over the steps run

    @property
    def final_loss(self) -> float:
        if self.diverged_at or not self.losses:
            return math.nan
        return statistics.fmean(self.losses[-LAST_STEPS:])


def spec_params(setup: Setup, variant: Variant, depth: int) -> dict[str, Any]:
    return {
        "rule": variant.rule,
        "merge": variant.merge,
        "width": setup.growth if variant.concat else setup.width,
        "layers": depth,
        "stages": 1,
        "channels": setup.channels,
        "size": setup.size,
        "classes": setup.classes,
        "pool": setup.pool,
    }


class Data:
    """The whole training and validation sets as tensors, and a seeded order of training batches."""

    def __init__(self, setup: Setup) -> None:
        import torch

        from aggspec.train.data import load_data

        loaded = load_data(
            setup.data, (setup.channels, setup.size, setup.size), seed=setup.seed, augment=False
        )
        self.description = loaded.description
        self.train = self._stack(loaded.train)
        self.val = self._stack(loaded.val)
        count = len(self.train[1])
        if count < setup.batch_size:
            raise SystemExit(f"--batch-size {setup.batch_size} is larger than the {count} training images")
        generator = torch.Generator().manual_seed(setup.seed)
        per_epoch = count // setup.batch_size
        epochs = -(-setup.steps // per_epoch)
        order = torch.cat([torch.randperm(count, generator=generator) for _ in range(epochs)])
        self.batches = [
            order[start : start + setup.batch_size]
            for epoch in range(epochs)
            for start in range(epoch * count, epoch * count + per_epoch * setup.batch_size, setup.batch_size)
        ][: setup.steps]

    @staticmethod
    def _stack(dataset: Any) -> tuple[Any, Any]:
        import torch

        images, labels = zip(*(dataset[index] for index in range(len(dataset))), strict=True)
        return torch.stack(images), torch.tensor([int(label) for label in labels])


def conv_names(model: Any) -> tuple[str, str, str]:
    """The stem convolution, and the convolutions of the stage's first and last layers."""
    from torch import nn

    convs = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    layered = [(int(m.group(1)), name) for name in convs if (m := re.match(r"stage1\.layer(\d+)\.", name))]
    return convs[0], min(layered)[1], max(layered)[1]


def grad_norm(model: Any, name: str) -> float:
    """The norm of the gradient of module ``name``'s weight (NaN if it has none)."""
    grad = model.get_submodule(name).weight.grad
    return math.nan if grad is None else float(grad.norm())


def run_trial(setup: Setup, variant: Variant, depth: int, data: Data) -> Trial:
    import torch
    from torch.nn import functional as F

    from aggspec.train.optim import make_optimizer

    params = spec_params(setup, variant, depth)
    spec = aggspec.load(SPEC, params)
    report = aggspec.analyze(spec)
    stage = report.stages[0]
    trial = Trial(
        variant.key, depth, params["width"], report.params, report.macs,
        report.activation_bytes * setup.batch_size / 1e9, stage.connections, stage.max_hops,
    )  # fmt: skip
    if trial.activation_gb > setup.max_activation_gb:
        trial.skipped = (
            f"{trial.activation_gb:.1f} GB of activations at batch {setup.batch_size} "
            f"(> --max-activation-gb {setup.max_activation_gb:g})"
        )
        return trial
    clock = Stopwatch()
    model = aggspec.build(spec, init_seed=setup.seed)
    trial.build_seconds = clock.seconds()
    stem, first, last = conv_names(model)
    optimizer = make_optimizer(model, setup.lr)
    images, labels = data.train
    model.train()
    clock = Stopwatch()
    for step, index in enumerate(data.batches, start=1):
        loss = F.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        trial.losses.append(value)
        if not math.isfinite(value):
            trial.diverged_at = step
            break
        torch.autograd.backward(loss)
        if step == 1:
            trial.grad_stem, trial.grad_first, trial.grad_last = (
                grad_norm(model, name) for name in (stem, first, last)
            )
        optimizer.step()
    trial.step_seconds = clock.seconds() / len(trial.losses)
    if not trial.diverged_at:
        model.eval()
        val_images, val_labels = data.val
        with torch.no_grad():
            right = sum(
                int(
                    (
                        model(val_images[start : start + 256]).argmax(1) == val_labels[start : start + 256]
                    ).sum()
                )
                for start in range(0, len(val_labels), 256)
            )
        trial.val_acc = right / len(val_labels)
    return trial


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits; ``NaN`` and ``inf`` as such (an overflow)."""
    return "NaN" if math.isnan(value) else f"{value:.{digits}g}"


def table(trials: list[Trial]) -> str:
    header = [
        "variant", "L", "width", "params", "MACs", "activations (batch)", "connections", "max hops",
        "grad norm: stem conv", "layer 1 conv", "layer L conv", "loss at step 1",
        f"loss, last {LAST_STEPS} steps", "diverged", "val acc %", "s / step", "build s",
    ]  # fmt: skip
    rows = []
    for trial in trials:
        variant = next(v for v in VARIANTS if v.key == trial.variant)
        width = f"{trial.width} (growth)" if variant.concat else str(trial.width)
        head = [
            f"`{trial.variant}`", trial.depth, width, f"{trial.params:,}", short(trial.macs),
            f"{trial.activation_gb:.2f} GB", f"{trial.connections:,}", f"{trial.max_hops:,}",
        ]  # fmt: skip
        if trial.skipped:
            rows.append([*head, f"skipped: {trial.skipped}", *[""] * 8])
            continue
        diverged = f"NaN at step {trial.diverged_at}" if trial.diverged_at else "no"
        rows.append([
            *head, number(trial.grad_stem), number(trial.grad_first), number(trial.grad_last),
            number(trial.losses[0], 4), "-" if trial.diverged_at else number(trial.final_loss, 4), diverged,
            "-" if math.isnan(trial.val_acc) else f"{trial.val_acc * 100:.1f}",
            f"{trial.step_seconds:.3f}", f"{trial.build_seconds:.1f}",
        ])  # fmt: skip
    return markdown_table(header, rows)


def plot(trials: list[Trial], setup: Setup, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    figure, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    panels = [
        (axes[0][0], f"training loss, mean of the last {min(LAST_STEPS, setup.steps)} steps", "final_loss"),
        (axes[0][1], "gradient norm of the stem conv at step 1", "grad_stem"),
        (axes[1][0], "parameters (skipped networks too; chain and the sums coincide)", "params"),
        (axes[1][1], "seconds per training step (1 thread)", "step_seconds"),
    ]
    variants = list(dict.fromkeys(trial.variant for trial in trials))
    for axis, title, attribute in panels:
        for key in variants:
            mine = [t for t in trials if t.variant == key and (attribute == "params" or not t.skipped)]
            values = [float(getattr(t, attribute)) for t in mine]
            axis.plot([t.depth for t in mine], values, marker="o", color=COLOURS[key], label=key)
            if attribute == "final_loss":  # a diverged run has no loss: mark it on the axis
                for t in mine:
                    if t.diverged_at:
                        axis.scatter(
                            [t.depth], [math.log(setup.classes)], marker="x", s=80, color=COLOURS[key]
                        )
        axis.set_xscale("log")
        axis.set_xticks(setup.depths, [str(depth) for depth in setup.depths])
        axis.xaxis.set_minor_locator(NullLocator())
        missing = [
            f"{t.variant} L={t.depth}"
            for t in trials
            if not t.skipped
            and attribute != "final_loss"  # a diverged run is marked x there
            and not math.isfinite(float(getattr(t, attribute)))
        ]
        note = f"\nnot drawn (overflow): {', '.join(missing)}" if missing else ""
        axis.set_title(title + note, fontsize=10)
        axis.set_xlabel("layers in the stage (L)")
        axis.grid(alpha=0.3, which="both")
        if attribute != "final_loss":
            axis.set_yscale("log")
    axes[0][0].axhline(math.log(setup.classes), color="black", lw=0.8, ls=":")
    chance = f" chance (ln {setup.classes}); x: diverged"
    axes[0][0].text(setup.depths[0], math.log(setup.classes), chance, va="bottom", fontsize=8)
    axes[0][0].legend(fontsize=8)
    figure.suptitle(
        f"{setup.data}: one stage of L layers, width {setup.width} (sum, chain) / growth {setup.growth} "
        f"(concat), batch {setup.batch_size}, lr {setup.lr:g}, seed {setup.seed}"
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def section(trials: list[Trial], setup: Setup, data: Data, command: str, seconds: float) -> str:
    ran = sum(1 for trial in trials if not trial.skipped)
    return "\n".join([
        f"Command: `{command}`",
        "",
        f"Setup: {data.description}; one stage of L `bn relu conv(width, 3)` layers after a "
        f"`conv(width, 3)` stem (2 x growth when concatenating) and `avgpool({setup.pool})`; "
        f"width {setup.width} for chain and sums, growth {setup.growth} for concatenation; "
        f"{plural(setup.steps, 'step')} of batch {setup.batch_size}, SGD (Nesterov 0.9, weight decay 1e-4), "
        f"constant lr {setup.lr:g}, seed {setup.seed}; skip above {setup.max_activation_gb:g} GB of "
        f"activations. {hardware()}.",
        "",
        table(trials),
        "",
        f"Wall time: {seconds:.0f} s ({ran} networks trained, {len(trials) - ran} skipped).",
        "",
        f"![depth robustness](img/{PLOT.name})",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default="digits", help="digits (default), synthetic, cifar10:DIR or cifar100:DIR"
    )
    parser.add_argument("--variants", default="all", help="comma-separated variants (default all)")
    parser.add_argument(
        "--depths", default="10,40,100,300,1000", help="layers in the stage (10,40,100,300,1000)"
    )
    parser.add_argument("--width", type=int, default=16, help="layer width of chain and sums (16)")
    parser.add_argument("--growth", type=int, default=4, help="growth rate of concatenation (4)")
    parser.add_argument("--pool", type=int, default=2, help="avgpool after the stem: 8x8 digits to 4x4 (2)")
    parser.add_argument("--steps", type=int, default=40, help="SGD steps per network (40)")
    parser.add_argument("--batch-size", type=int, default=32, help="default 32")
    parser.add_argument("--lr", type=float, default=0.1, help="constant learning rate (0.1)")
    parser.add_argument("--seed", type=int, default=0, help="data split, weights and batches (0)")
    parser.add_argument("--max-activation-gb", type=float, default=2.0, help="skip larger networks (2.0)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: depths 4 and 8, 3 steps")
    parser.add_argument(
        "--write", action="store_true", help="update docs/results.md and docs/img/results_depth.png"
    )
    parser.add_argument("--json", type=Path, help="also write every record to this JSON file")
    parser.add_argument("--plot", type=Path, help="write the figure here (with --write: docs/img/...)")
    args = parser.parse_args(argv)
    if args.quick:
        args.depths, args.steps = "4,8", 3
    try:
        variants = parse_variants(args.variants)
        depths = parse_ints(args.depths)
    except ValueError as error:
        parser.error(str(error))
    if not depths or min(depths) < 1 or args.steps < 1 or args.batch_size < 2:
        parser.error("--depths and --steps must be positive and --batch-size at least 2")

    one_thread()
    clock = Stopwatch()
    channels, size, classes = data_shape(args.data)
    setup = Setup(
        args.data, channels, size, classes, args.width, args.growth, args.pool, depths, args.steps,
        args.batch_size, args.lr, args.seed, args.max_activation_gb,
    )  # fmt: skip
    data = Data(setup)
    trials = []
    for variant in variants:
        for depth in depths:
            trial = run_trial(setup, variant, depth, data)
            trials.append(trial)
            outcome = (
                f"skipped: {trial.skipped}"
                if trial.skipped
                else f"stem grad {number(trial.grad_stem)}, loss {number(trial.final_loss, 4)}"
                + (f", NaN at step {trial.diverged_at}" if trial.diverged_at else "")
                + f", {trial.build_seconds + trial.step_seconds * len(trial.losses):.1f} s"
            )
            print(f"{variant.key:13} L={depth:<5} {trial.params:>11,} params  {outcome}", flush=True)
    plot_path = PLOT if args.write else args.plot
    if plot_path is not None:
        plot(trials, setup, plot_path)
    seconds = clock.seconds()
    command = command_line("depth.py", sys.argv[1:] if argv is None else argv)
    text = section(trials, setup, data, command, seconds)
    print()
    print(text)
    if args.json is not None:
        records = [{**asdict(trial), "final_loss": trial.final_loss} for trial in trials]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"setup": asdict(setup), "seconds": seconds, "trials": records}, indent=1)
        )
    if args.write:
        write_section(SECTION, text)
        print(f"\nwrote docs/results.md (section '{SECTION}') and docs/img/{PLOT.name}")


if __name__ == "__main__":
    main()
