"""Where a CPU training step's share of the GEMM peak goes: convolutions against everything else.

The summary's "share of the fp32 GEMM peak" counts a step's FLOPs (3 x the
forward's 2 x MACs, nearly all of them convolutions) over its whole time. This
splits the time with ``torch.profiler``: the convolutions' own kernels
(forward and backward) and the rest (batch norm, ReLU, concatenation, their
gradients, the optimiser), so that a low share can be read as slow
convolutions or as a step that spends its time elsewhere. For each layout
(contiguous and channels-last) it prints the step's share, the share the
convolutions reach on their own, and the step time that the goal (60%)
would need. A reading aid: the profiler adds its own cost to every op.

    python benchmarks/gemm_share.py                          # DenseNet-BC-100-12, batch 32
    python benchmarks/gemm_share.py -D depth=100 --spec examples/sparsenet_cifar.agg
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aggspec  # noqa: E402
from benchmarks.specs import load_with_defines  # noqa: E402
from benchmarks.steps import TrainingStep  # noqa: E402
from benchmarks.timing import gemm_flops  # noqa: E402

CONVOLUTIONS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::_slow_conv2d")
GOAL = 0.60


def split(step: TrainingStep, x: torch.Tensor, y: torch.Tensor, steps: int) -> tuple[float, float]:
    """Seconds per step in convolution kernels, and in all (unprofiled, best of ``steps``)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step(x, y)
    conv_us = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key.startswith(CONVOLUTIONS))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - start)
    return conv_us / 1e6 / steps, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spec", default=str(ROOT / "examples" / "densenet_cifar.agg"))
    parser.add_argument("-D", dest="defines", action="append", default=[])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    defines = args.defines or ["depth=100", "bottleneck=true"]
    spec = load_with_defines(args.spec, defines)
    peak = gemm_flops()
    flops = 3 * 2 * aggspec.analyze(spec).macs * args.batch
    print(
        f"{spec.name} {' '.join(defines)}, batch {args.batch}, CPU {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}; fp32 GEMM peak {peak / 1e9:.0f} GFLOP/s; {flops / 1e9:.1f} GFLOP a step"
    )
    print("| layout | step s | share of peak | convolutions s | their share | rest s | step s for 60% |")
    print("|---|---|---|---|---|---|---|")
    for channels_last in (False, True):
        x = torch.randn(args.batch, *spec.input_shape)
        if channels_last:
            x = x.to(memory_format=torch.channels_last)
        y = torch.randint(0, spec.output_shape[0], (args.batch,))
        step = TrainingStep(aggspec.build(spec), "cpu", channels_last=channels_last)
        step(x, y)  # oneDNN picks its kernels, the allocator grows
        conv, total = split(step, x, y, args.steps)
        layout = "channels-last" if channels_last else "contiguous"
        print(
            f"| {layout} | {total:.3f} | {flops / total / peak:.0%} "
            f"| {conv:.3f} | {flops / conv / peak:.0%} | {total - conv:.3f} | {flops / peak / GOAL:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
