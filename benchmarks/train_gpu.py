"""Training steps on a GPU: compiled models against hand-written PyTorch, per configuration.

For each network and each configuration of ``aggspec train`` (fp32; ``--amp
bf16``; ``--amp bf16 --channels-last``; the same with ``--compile``), the
aggspec-compiled model and the hand-written reference from tests/references/
(weights ported, so both compute the same function) take full training steps
(forward under autocast, cross-entropy, backward, SGD with Nesterov momentum)
on the same synthetic batch. The two alternate, block by block (A/B
interleaved, in one process); a block is ``--steps`` steps between two device
synchronisations. Reported: images/s of each model (median over blocks), the
ratio of the medians with the spread of the per-pair ratios (min to max), and
the peak memory a step allocates above the resident model and optimiser
state.

    python benchmarks/train_gpu.py                        # print the table
    python benchmarks/train_gpu.py --json out.json        # also the raw numbers
    python benchmarks/train_gpu.py --write                # also update benchmarks/results.md
    python benchmarks/train_gpu.py --render out.json --write   # the table of an earlier run

Needs a CUDA GPU. ``--budget-s`` bounds the whole run: configurations that
would start after it are listed as not run, so a lease never ends mid-table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aggspec  # noqa: E402
from aggspec.pytorch.memory import peak_bytes  # noqa: E402
from benchmarks.results import add_output_arguments, write_section  # noqa: E402
from benchmarks.steps import TrainingStep  # noqa: E402
from tests.references import densenet, resnet  # noqa: E402


@dataclass(frozen=True)
class Case:
    label: str
    file: str
    overrides: dict[str, Any]
    reference: Callable[[], nn.Module]
    shape: tuple[int, int, int]
    batch: int
    classes: int


CASES = [
    Case("DenseNet-BC-100-12", "densenet_cifar.agg", {"depth": 100, "bottleneck": True},
         lambda: densenet.CifarNet(100, 12, True, False), (3, 32, 32), 64, 10),
    Case("SparseNet-BC-100-24", "sparsenet_cifar.agg", {"classes": 100},
         lambda: densenet.CifarNet(100, 24, True, True, 100), (3, 32, 32), 64, 100),
    Case("PreAct-ResNet-110", "preact_resnet.agg", {"depth": 110},
         lambda: resnet.PreActResNet(110), (3, 32, 32), 128, 10),
    Case("ResNet-18", "resnet18.agg", {}, resnet.resnet18, (3, 224, 224), 64, 1000),
]  # fmt: skip

# (label, amp, channels_last, compile), in the order they are worth the lease
CONFIGS = [
    ("fp32", None, False, False),
    ("bf16", torch.bfloat16, False, False),
    ("bf16 + channels-last", torch.bfloat16, True, False),
    ("bf16 + channels-last + compile", torch.bfloat16, True, True),
]


@dataclass
class Row:
    network: str
    config: str
    batch: int
    ours_images_per_s: float
    reference_images_per_s: float
    ratio: float  # our step time over the reference's (1.00: as fast; below 1: faster)
    ratio_min: float
    ratio_max: float
    ours_step_mib: float
    reference_step_mib: float
    compile_s: float


def measure(case: Case, config: tuple[str, torch.dtype | None, bool, bool], steps: int, repeats: int) -> Row:
    label, amp, channels_last, compile = config
    torch.manual_seed(0)
    reference = case.reference()
    ours = aggspec.build(ROOT / "examples" / case.file, **case.overrides)
    aggspec.port_state_dict(ours, reference.state_dict())
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(case.batch, *case.shape, device="cuda").contiguous(memory_format=layout)
    y = torch.randint(0, case.classes, (case.batch,), device="cuda")
    a = TrainingStep(ours, "cuda", amp, channels_last, compile)
    b = TrainingStep(reference, "cuda", amp, channels_last, compile)
    start = time.perf_counter()
    for trainer in (a, b):  # warm up: cuDNN's choices, and the compilation under --compile
        for _ in range(3):
            trainer(x, y)
    torch.cuda.synchronize()
    compile_s = time.perf_counter() - start if compile else 0.0
    pairs = [(a.seconds(x, y, steps), b.seconds(x, y, steps)) for _ in range(repeats)]
    ratios = [ta / tb for ta, tb in pairs]
    t_a = statistics.median(ta for ta, _ in pairs)
    t_b = statistics.median(tb for _, tb in pairs)
    memory = tuple(peak_bytes(lambda t=t: t(x, y), "cuda") / 2**20 for t in (a, b))
    del a, b
    torch.cuda.empty_cache()
    return Row(
        case.label, label, case.batch, case.batch / t_a, case.batch / t_b, t_a / t_b,
        min(ratios), max(ratios), memory[0], memory[1], compile_s,
    )  # fmt: skip


def table(rows: list[Row], skipped: list[str], device: str) -> str:
    lines = [
        f"Training steps (forward, cross-entropy, backward, SGD) on {device}; synthetic batch; "
        "medians of interleaved blocks; ratio = our step time / the hand-written model's "
        "(min-max over the pairs); step memory = peak allocated above the resident model.",
        "",
        "| network | configuration | batch | compiled img/s | hand-written img/s | time ratio "
        "| compiled step MiB | hand-written step MiB | compile s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.network} | {r.config} | {r.batch} | {r.ours_images_per_s:,.0f} "
            f"| {r.reference_images_per_s:,.0f} | {r.ratio:.2f} ({r.ratio_min:.2f}-{r.ratio_max:.2f}) "
            f"| {r.ours_step_mib:,.0f} | {r.reference_step_mib:,.0f} "
            f"| {r.compile_s:.0f} |"
        )
    if skipped:
        lines += ["", "Not run (time budget): " + "; ".join(skipped) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10, help="steps per timed block (10)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved block pairs (7)")
    parser.add_argument("--budget-s", type=float, default=600.0, help="start no configuration after this")
    parser.add_argument("--networks", nargs="*", help="labels to run (default: all)")
    parser.add_argument("--no-compile", action="store_true", help="skip the --compile configuration")
    add_output_arguments(parser)
    args = parser.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
        rows = [Row(**row) for row in saved["rows"]]
        finish(table(rows, saved["skipped"], saved["device"]), args.write)
        return
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    device = f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    print(device, flush=True)
    start = time.perf_counter()
    rows = []
    skipped: list[str] = []
    for config in CONFIGS:  # every network's fp32 before any network's compile
        for case in CASES:
            if (args.networks and case.label not in args.networks) or (args.no_compile and config[3]):
                continue
            if time.perf_counter() - start > args.budget_s:
                skipped.append(f"{case.label} {config[0]}")
                continue
            row = measure(case, config, args.steps, args.repeats)
            rows.append(row)
            print(json.dumps(asdict(row)), flush=True)
            if args.json:
                saved = {"device": device, "rows": [asdict(r) for r in rows], "skipped": skipped}
                args.json.write_text(json.dumps(saved, indent=1))
    if args.json:
        saved = {"device": device, "rows": [asdict(r) for r in rows], "skipped": skipped}
        args.json.write_text(json.dumps(saved, indent=1))
    finish(table(rows, skipped, device), args.write)


def finish(text: str, write: bool) -> None:
    print(text)
    if write:
        write_section("Training on a GPU", f"`python benchmarks/train_gpu.py --write`\n\n{text}")


if __name__ == "__main__":
    main()
