"""Memory-efficient mode against the default, side by side in one process: peak memory and step time.

For each network, the default model and the ``memory_efficient=True`` one
(the same weights) take full training steps (forward, cross-entropy,
backward, SGD) on the same batch, alternating (A/B interleaved). Reported:
the peak tensor memory of one step above the resident model (on CPU, exact
from PyTorch's allocation records; on a GPU, CUDA's peak counter), its ratio,
the median step times and the median of the per-pair ratios with their
spread (the order alternating pair by pair). The issue's target for
DenseNet-BC-100-12 at batch 64 is a memory ratio of at most 0.35 at a time ratio of at most 1.15.

    python benchmarks/memory_efficient.py                      # CPU, print the table
    python benchmarks/memory_efficient.py --write              # also update benchmarks/results.md
    python benchmarks/memory_efficient.py --device cuda --amp bf16 --channels-last --json out.json
    python benchmarks/memory_efficient.py --device cuda --compile --networks DenseNet-BC-100-12
    python benchmarks/memory_efficient.py --render out.json --write
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aggspec  # noqa: E402
from aggspec.pytorch.memory import peak_bytes  # noqa: E402
from benchmarks.results import add_output_arguments, write_section  # noqa: E402
from benchmarks.steps import TrainingStep  # noqa: E402
from benchmarks.timing import interleaved, ratio  # noqa: E402

CASES = [
    ("DenseNet-BC-100-12", "densenet_cifar.agg", {"depth": 100, "bottleneck": True}, 10),
    ("SparseNet-BC-100-24", "sparsenet_cifar.agg", {"classes": 100}, 100),
    ("PreAct-ResNet-110", "preact_resnet.agg", {"depth": 110}, 10),
]


@dataclass
class Row:
    network: str
    batch: int
    default_mib: float
    efficient_mib: float
    memory_ratio: float
    default_s: float
    efficient_s: float
    time_ratio: float
    time_ratio_min: float
    time_ratio_max: float


def measure(case: tuple[str, str, dict[str, Any], int], args: argparse.Namespace) -> Row:
    label, file, overrides, classes = case
    spec = aggspec.load(ROOT / "examples" / file, overrides)
    default = aggspec.build(spec, init_seed=0)
    efficient = aggspec.build(spec, init_seed=0, memory_efficient=True)
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    x = torch.randn(args.batch, *spec.input_shape, device=args.device).contiguous(memory_format=layout)
    y = torch.randint(0, classes, (args.batch,), device=args.device)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[args.amp]
    a = TrainingStep(default, args.device, amp, args.channels_last, compile=args.compile)
    b = TrainingStep(efficient, args.device, amp, args.channels_last, compile=args.compile)
    for stepper in (a, b):
        for _ in range(3 if args.compile else 1):
            stepper(x, y)  # warm up (and compile); the optimiser's state exists from here on
    memory = [peak_bytes(lambda s=s: s(x, y), args.device) / 2**20 for s in (a, b)]
    times = ratio(
        interleaved(lambda: b.seconds(x, y, args.steps), lambda: a.seconds(x, y, args.steps), args.repeats)
    )
    return Row(
        label, args.batch, memory[0], memory[1], memory[1] / memory[0], times.b, times.a, times.median,
        times.low, times.high,
    )  # fmt: skip


def describe(args: argparse.Namespace) -> str:
    if args.device == "cuda":
        where = f"{torch.cuda.get_device_name()}"
    else:
        where = f"CPU, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} at the start"
    extras = [f"--amp {args.amp}"] if args.amp else []
    extras += ["--channels-last"] if args.channels_last else []
    extras += ["--compile"] if args.compile else []
    return (
        f"{where}, torch {torch.__version__}{', ' + ' '.join(extras) if extras else ''}; "
        f"{args.repeats} interleaved pairs of {args.steps} steps"
    )


def table(rows: list[Row], setup: str) -> str:
    lines = [
        f"Training steps (forward, cross-entropy, backward, SGD) on {setup}. Memory: peak tensor "
        "memory of one step above the resident model and optimiser state. Time: median seconds per "
        "step; median of the per-pair ratios (interleaved, order alternating), with their min-max.",
        "",
        "| network | batch | default MiB | memory-efficient MiB | memory ratio | default s "
        "| memory-efficient s | time ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.network} | {r.batch} | {r.default_mib:,.0f} | {r.efficient_mib:,.0f} "
            f"| {r.memory_ratio:.2f} | {r.default_s:.3f} | {r.efficient_s:.3f} "
            f"| {r.time_ratio:.2f} ({r.time_ratio_min:.2f}-{r.time_ratio_max:.2f}) |"
        )
    return "\n".join(lines)


def write_results(text: str, setup_key: str) -> None:
    flags = setup_key.split(", ", 1)[1] if ", " in setup_key else ""
    command = "python benchmarks/memory_efficient.py" + (" --device cuda" if "GPU" in setup_key else "")
    command += f" {flags}" if flags else ""
    write_section(f"Memory-efficient mode ({setup_key})", f"`{command} --write`\n\n{text}")


def arguments() -> argparse.ArgumentParser:
    """The command line; ``python -m benchmarks`` parses its own settings with it too."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1, help="steps per timed block (1 on CPU)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved block pairs (5)")
    parser.add_argument("--amp", choices=["bf16", "fp16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--compile", action="store_true", help="both models through torch.compile (selective recomputation)"
    )
    parser.add_argument("--networks", nargs="*", help="labels to run (default: all)")
    add_output_arguments(parser)
    return parser


def main() -> None:
    parser = arguments()
    args = parser.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
        text = table([Row(**r) for r in saved["rows"]], saved["setup"])
    else:
        if args.device == "cuda" and not torch.cuda.is_available():
            parser.error("--device cuda needs a CUDA GPU")
        setup = describe(args)
        print(setup, flush=True)
        rows = []
        for case in CASES:
            if args.networks and case[0] not in args.networks:
                continue
            rows.append(measure(case, args))
            print(json.dumps(asdict(rows[-1])), flush=True)
            if args.json:
                args.json.write_text(json.dumps({"setup": setup, "device": args.device,
                                                 "rows": [asdict(r) for r in rows]}, indent=1))  # fmt: skip
        text = table(rows, setup)
        saved = {"device": args.device, "setup": setup}
    print(text)
    if args.write:
        key = "GPU" if saved["device"] == "cuda" else "CPU"
        if any(flag in saved["setup"] for flag in ("--amp", "--channels-last", "--compile")):
            key += ", " + saved["setup"].split("; ")[0].split(", ")[-1]  # the flags
        write_results(text, key)


if __name__ == "__main__":
    main()
