"""`analyze --training`'s predicted peak against the peak a real training step holds, every example.

For each example and mode (default, memory-efficient), the model takes one
SGD-with-momentum training step at the given batch, and the most tensor bytes
it held at once (``aggspec.pytorch.memory.training_step_peak``: the resident
parameters, buffers, momentum, batch and labels plus what the step allocated
above them; on CPU from PyTorch's allocation records, on a GPU from
``torch.cuda.max_memory_allocated``) is set beside the prediction
(``aggspec.analysis.training.training_memory(...).peak``). Both are exact
counts, not timings: one step is enough, and the machine's load does not
change them. The issue's goal: within 10% of the GPU's counter.

    python benchmarks/training_memory.py                          # CPU, small batches
    python benchmarks/training_memory.py --device cuda --write    # GPU, batch 64 (8 at 224x224)
    python benchmarks/training_memory.py --render out.json --write
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aggspec  # noqa: E402
from aggspec.analysis.training import training_memory  # noqa: E402
from aggspec.pytorch.memory import training_step_peak  # noqa: E402
from benchmarks.results import add_output_arguments, write_section  # noqa: E402


@dataclass
class Row:
    example: str
    mode: str
    batch: int
    predicted_mib: float
    measured_mib: float

    @property
    def ratio(self) -> float:
        return self.predicted_mib / self.measured_mib


def batch_for(spec: aggspec.Spec, args: argparse.Namespace) -> int:
    """The asked batch for small inputs; an eighth of it (at least 1) for ImageNet-sized ones."""
    return args.batch if spec.input_shape[1] <= 64 else max(1, args.batch // 8)


def measure(path: Path, memory_efficient: bool, args: argparse.Namespace) -> Row:
    spec = aggspec.load(path)
    batch = batch_for(spec, args)
    model = aggspec.build(spec, init_seed=0, memory_efficient=memory_efficient).train().to(args.device)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *spec.input_shape, generator=generator).to(args.device)
    labels = (batch, *spec.output_shape[1:])  # a class per sample, or per position (U-Net)
    y = torch.randint(0, spec.output_shape[0], labels, generator=generator).to(args.device)
    measured = training_step_peak(model, x, y)
    predicted = training_memory(spec.graph, batch, memory_efficient=memory_efficient).peak
    mode = "memory-efficient" if memory_efficient else "default"
    return Row(path.stem, mode, batch, predicted / 2**20, measured / 2**20)


def describe(args: argparse.Namespace) -> str:
    where = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    return f"{where}, torch {torch.__version__}, fp32"


def table(rows: list[Row], setup: str) -> str:
    worst = max(rows, key=lambda r: abs(r.ratio - 1))
    lines = [
        f"One training step (forward, cross-entropy, backward, SGD with momentum) per example and mode on "
        f"{setup}. Measured: the most tensor memory the step held, resident state included. "
        f"Predicted: `analyze --training`'s peak. Furthest from 1: {worst.ratio:.3f} "
        f"({worst.example}, {worst.mode}).",
        "",
        "| example | mode | batch | predicted MiB | measured MiB | predicted / measured |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.example} | {r.mode} | {r.batch} | {r.predicted_mib:,.1f} | {r.measured_mib:,.1f} "
            f"| {r.ratio:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, help="batch for 32x32 inputs (default 64 on a GPU, 8 on CPU)")
    add_output_arguments(parser)
    args = parser.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
        rows, setup = [Row(**r) for r in saved["rows"]], saved["setup"]
    else:
        if args.batch is None:
            args.batch = 64 if args.device == "cuda" else 8
        if args.device == "cuda":
            # cuDNN's own algorithm search allocates workspaces no model predicts; off, as in training.
            torch.backends.cudnn.benchmark = False
        rows = [
            measure(path, lean, args)
            for path in sorted((ROOT / "examples").glob("*.agg"))
            for lean in (False, True)
        ]
        setup = describe(args)
        if args.json:
            args.json.write_text(json.dumps({"setup": setup, "rows": [asdict(r) for r in rows]}, indent=1))
    text = table(rows, setup)
    print(text)
    if args.write:
        device = "GPU" if "CPU" not in setup else "CPU"
        command = "python benchmarks/training_memory.py" + (" --device cuda" if device == "GPU" else "")
        write_section(
            f"Training-memory model against a real step ({device})", f"`{command} --write`\n\n{text}"
        )


if __name__ == "__main__":
    main()
