"""Where a training step's time goes, by op: the default model against the memory-efficient one.

Profiles a few training steps (after warming up) of each mode with
``torch.profiler`` and prints, per mode, the ops that take the most host
time (Python and dispatch: what makes a small-batch GPU step launch-bound)
and, on a GPU, the most device time. A reading aid for the memory-efficient
mode's overhead, not a timed benchmark: the profiler adds its own cost.

    python benchmarks/profile_step.py --device cuda                 # DenseNet-BC-100-12, batch 64
    python benchmarks/profile_step.py --batch 8 --rows 15           # on the CPU
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aggspec  # noqa: E402
from benchmarks.specs import load_with_defines  # noqa: E402
from benchmarks.steps import TrainingStep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--spec", default=str(ROOT / "examples" / "densenet_cifar.agg"))
    parser.add_argument(
        "-D", dest="defines", action="append", default=[], help="default: depth=100 bottleneck=true"
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rows", type=int, default=12)
    args = parser.parse_args()
    spec = load_with_defines(args.spec, args.defines or ["depth=100", "bottleneck=true"])
    x = torch.randn(args.batch, *spec.input_shape, device=args.device)
    y = torch.randint(0, spec.output_shape[0], (args.batch,), device=args.device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    for efficient in (False, True):
        step = TrainingStep(aggspec.build(spec, init_seed=0, memory_efficient=efficient), args.device)
        for _ in range(3):
            step(x, y)
        with profile(activities=activities) as prof:
            for _ in range(args.steps):
                step(x, y)
            if args.device == "cuda":
                torch.cuda.synchronize()
        events = prof.key_averages()
        host = sum(e.self_cpu_time_total for e in events) / args.steps / 1e3
        print(f"\n== {'memory-efficient' if efficient else 'default'}: {host:.1f} ms of host time per step")
        print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))
        if args.device == "cuda":
            print(events.table(sort_by="self_cuda_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
