"""Compiled models against hand-written PyTorch, side by side in one process.

For each network, the aggspec-compiled model (weights ported from the
reference, so both compute the same function) and the hand-written reference
from tests/references/ take full training steps (forward, cross-entropy,
backward, SGD: ``benchmarks/steps.py``) on the same batch, interleaved with
the order alternating (``benchmarks/timing.py``). Reported per network:

* the step time ratio compiled / hand-written: the median of per-pair ratios,
  with their min-max;
* the first-step ratio: freshly built models' first step (oneDNN picks its
  kernels and the allocator grows), also interleaved;
* the activation memory ratio (bytes autograd saves for backward, each
  storage once, parameters and buffers left out: ``saved_bytes``);
* the fraction of this CPU's fp32 matrix-multiply peak (a 2048-cube ``mm``
  timed in the same process) that our step reaches, counting a training
  step as 3 x the forward's 2 x MACs.

With ``--compile`` both models go through ``torch.compile`` (inductor) first;
on two cores that takes minutes per network, so only the networks named by
``--networks`` (default: DenseNet-BC-100-12) are compiled. With
``--channels-last`` both models and the batch are in channels-last layout,
which oneDNN's CPU convolutions prefer.

    python benchmarks/compiled_vs_reference.py                # eager, every network
    python benchmarks/compiled_vs_reference.py --quick        # fewer pairs, no depth-1202 network
    python benchmarks/compiled_vs_reference.py --compile      # torch.compile, DenseNet-BC-100-12
    python benchmarks/compiled_vs_reference.py --channels-last --networks DenseNet-BC-100-12
    python benchmarks/compiled_vs_reference.py --write        # also update benchmarks/results.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aggspec  # noqa: E402
from aggspec.pytorch.memory import saved_bytes  # noqa: E402
from benchmarks.results import write_section  # noqa: E402
from benchmarks.steps import TrainingStep  # noqa: E402
from benchmarks.timing import Ratio, gemm_flops, interleaved, ratio  # noqa: E402
from tests.references import densenet, resnet  # noqa: E402


@dataclass(frozen=True)
class Case:
    label: str
    file: str
    overrides: dict[str, Any]
    reference: Callable[[], nn.Module]
    batch: int
    classes: int = 10
    deep: bool = False  # left out of --quick


CASES = [
    Case("ResNet-18", "resnet18.agg", {}, resnet.resnet18, 8, 1000),
    Case(
        "DenseNet-BC-100-12",
        "densenet_cifar.agg",
        {"depth": 100, "bottleneck": True},
        lambda: densenet.CifarNet(100, 12, True, False),
        32,
    ),
    Case(
        "SparseNet-BC-100-24",
        "sparsenet_cifar.agg",
        {"classes": 100},
        lambda: densenet.CifarNet(100, 24, True, True, 100),
        32,
        100,
    ),
    Case("PreAct-ResNet-110", "preact_resnet.agg", {"depth": 110}, lambda: resnet.PreActResNet(110), 32),
    Case(
        "PreAct-ResNet-1202",
        "preact_resnet.agg",
        {"depth": 1202},
        lambda: resnet.PreActResNet(1202),
        32,
        deep=True,
    ),
]


@dataclass(frozen=True)
class Row:
    network: str
    batch: int
    compiled: bool
    channels_last: bool
    step: Ratio  # compiled model / hand-written, seconds per step
    first: Ratio  # the first step of freshly built models (eager) or the compile + first step
    memory_ratio: float
    peak_fraction: float  # of the GEMM peak, our model's median step
    reference_peak_fraction: float


def _pair(case: Case) -> tuple[nn.Module, nn.Module, Any]:
    """Our model and the reference, with the reference's weights; and our spec."""
    torch.manual_seed(0)
    reference = case.reference()
    spec = aggspec.load(ROOT / "examples" / case.file, case.overrides)
    ours = aggspec.build(spec)
    aggspec.port_state_dict(ours, reference.state_dict())
    return ours, reference, spec


def _first_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, channels_last: bool) -> float:
    """The first training step of a model just built (its construction not timed)."""
    step = TrainingStep(model, "cpu", channels_last=channels_last)
    return _timed(lambda: step(x, y))


def _timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure(case: Case, pairs: int, compile: bool, peak: float, channels_last: bool = False) -> Row:
    ours, reference, spec = _pair(case)
    x = torch.randn(case.batch, *spec.input_shape)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, case.classes, (case.batch,))
    a = TrainingStep(ours, "cpu", channels_last=channels_last, compile=compile)
    b = TrainingStep(reference, "cpu", channels_last=channels_last, compile=compile)
    if compile:  # the first step compiles; compiling fresh models again would take many more minutes
        first = ratio([(_timed(lambda: a(x, y)), _timed(lambda: b(x, y)))])
    else:
        first = ratio(
            interleaved(
                lambda: _first_step(aggspec.build(spec), x, y, channels_last),
                lambda: _first_step(case.reference(), x, y, channels_last),
                min(pairs, 9),  # three pairs spread 0.9-1.7 on this machine: too few to judge 1.1
            )
        )
        for stepper in (a, b):
            stepper(x, y)  # warm up
    step = ratio(interleaved(lambda: a.seconds(x, y, 1), lambda: b.seconds(x, y, 1), pairs))
    memory = saved_bytes(ours, x) / saved_bytes(reference, x)
    flops = 3 * 2 * aggspec.analyze(spec).macs * case.batch
    row = Row(
        case.label,
        case.batch,
        compile,
        channels_last,
        step,
        first,
        memory,
        flops / step.a / peak,
        flops / step.b / peak,
    )
    print(f"{case.label}: step {step}, first step {first}, memory {memory:.2f}", flush=True)
    if compile:
        # Dynamo's caches hold the compiled models and their graphs for the life of the
        # process: compiling several networks in one run took it past this machine's 24 GiB.
        torch._dynamo.reset()
    return row


def run(
    quick: bool, compile: bool = False, networks: list[str] | None = None, channels_last: bool = False
) -> tuple[list[Row], float]:
    """The rows for the chosen networks, and the GEMM peak (FLOP/s) they are measured against."""
    peak = gemm_flops()
    if networks is None:
        networks = ["DenseNet-BC-100-12"] if compile else [c.label for c in CASES if not (quick and c.deep)]
    pairs = 5 if quick else 11
    rows = [measure(case, pairs, compile, peak, channels_last) for case in CASES if case.label in networks]
    return rows, peak


def mode(row: Row) -> str:
    """How a row's models ran: eager or torch.compile, and the layout when not the default."""
    return ("torch.compile" if row.compiled else "eager") + (", channels-last" if row.channels_last else "")


def setup(peak: float) -> str:
    return (
        f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}, load average "
        f"{os.getloadavg()[0]:.1f} at the end; fp32 GEMM peak {peak / 1e9:.0f} GFLOP/s "
        "(2048-cube mm, best of 5)"
    )


def table(rows: list[Row], peak: float) -> str:
    lines = [
        f"Training steps (forward, cross-entropy, backward, SGD) on {setup(peak)}. Ratios are "
        "compiled / hand-written: the median of interleaved per-pair ratios (min-max). First step: "
        "freshly built models (with --compile: compiling and the first step, one pair, ours first, "
        "so the hand-written model may reuse inductor's kernel caches). Peak: the share "
        "of the GEMM peak a step reaches (3 x forward FLOPs).",
        "",
        "| network | mode | batch | compiled s | hand-written s | step ratio | first-step ratio "
        "| memory ratio | % of GEMM peak (ours / hand-written) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.network} | {mode(r)} | {r.batch} | {r.step.a:.3f} "
            f"| {r.step.b:.3f} | {r.step} | {r.first} | {r.memory_ratio:.2f} "
            f"| {r.peak_fraction:.0%} / {r.reference_peak_fraction:.0%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5 pairs, no depth-1202 network")
    parser.add_argument("--compile", action="store_true", help="both models through torch.compile")
    parser.add_argument("--channels-last", action="store_true", help="both models in channels-last layout")
    parser.add_argument("--networks", nargs="*", help="labels to run (default: all; DenseNet with --compile)")
    parser.add_argument("--write", action="store_true", help="update the section in benchmarks/results.md")
    args = parser.parse_args()
    rows, peak = run(args.quick, args.compile, args.networks, args.channels_last)
    text = table(rows, peak)
    print(text)
    if args.write:
        flags = (" --compile" if args.compile else "") + (" --channels-last" if args.channels_last else "")
        flags += f" --networks {' '.join(args.networks)}" if args.networks else ""
        title = "Compiled vs hand-written PyTorch" + (" (torch.compile)" if args.compile else "")
        title += " (channels-last)" if args.channels_last else ""
        write_section(title, f"`python benchmarks/compiled_vs_reference.py{flags} --write`\n\n{text}")


if __name__ == "__main__":
    main()
