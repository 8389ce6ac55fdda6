"""Would avoiding the concatenation before a 1x1 convolution pay? DenseNet-BC's layers, both ways.

A DenseNet-BC layer starts with ``conv1x1(relu(bn(cat(x_1, ..., x_k))))``.
Batch norm and ReLU act per channel, so the same function is
``sum_i conv1x1_i(relu(bn_i(x_i)))``, with ``bn_i`` and ``conv1x1_i`` the
channel slices of the layer's own parameters: no concatenated tensor is ever
made, and the tensors kept for the backward pass are the per-input batch norm
outputs, which together are as large as the one they replace. The
performance issue names it as a way beyond checkpointing; this measures it
before any compiler pass is written.

For each position in a 16-layer dense block of DenseNet-BC-100-12 (k inputs
of 24 + 12 (k - 1) channels in all, 32x32, batch 64), the forward and
backward of the layer's first half are timed both ways on the same inputs and
parameters, interleaved; the outputs and gradients are checked to agree.

    python benchmarks/split_concat.py            # contiguous and channels-last
    python benchmarks/split_concat.py --write    # also update benchmarks/results.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import write_section  # noqa: E402
from benchmarks.timing import Ratio, interleaved, ratio  # noqa: E402

GROWTH, FIRST, WIDTH, SIZE = 12, 24, 48, 32  # DenseNet-BC-100-12's first block: 4 x growth after the 1x1


def concatenated(xs: list[torch.Tensor], bn: nn.BatchNorm2d, conv: nn.Conv2d) -> torch.Tensor:
    return conv(F.relu(bn(torch.cat(xs, 1))))  # type: ignore[no-any-return]


def split(xs: list[torch.Tensor], bn: nn.BatchNorm2d, conv: nn.Conv2d) -> torch.Tensor:
    """The same function, one batch norm, ReLU and 1x1 convolution per input, summed."""
    out: torch.Tensor | None = None
    start = 0
    for x in xs:
        c = x.shape[1]
        y = F.batch_norm(
            x, None, None, bn.weight[start : start + c], bn.bias[start : start + c], True, 0.0, bn.eps
        )
        part = F.conv2d(F.relu(y), conv.weight[:, start : start + c])
        out = part if out is None else out + part
        start += c
    assert out is not None
    return out


def _seconds(work: Callable[[], torch.Tensor], grad: torch.Tensor) -> float:
    start = time.perf_counter()
    work().backward(grad)
    return time.perf_counter() - start


def layer(k: int, batch: int, channels_last: bool, pairs: int) -> Ratio:
    """Split / concatenated, forward and backward, for a layer with ``k`` inputs."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    widths = [FIRST] + [GROWTH] * (k - 1)
    xs = [torch.randn(batch, c, SIZE, SIZE).to(memory_format=layout).requires_grad_() for c in widths]
    bn, conv = nn.BatchNorm2d(sum(widths)), nn.Conv2d(sum(widths), WIDTH, 1, bias=False)
    conv = conv.to(memory_format=layout)  # type: ignore[call-overload]
    grad = torch.randn(batch, WIDTH, SIZE, SIZE).to(memory_format=layout)
    a, b = split(xs, bn, conv), concatenated(xs, bn, conv)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)  # the same function, summed in another order
    return ratio(
        interleaved(
            lambda: _seconds(lambda: split(xs, bn, conv), grad),
            lambda: _seconds(lambda: concatenated(xs, bn, conv), grad),
            pairs,
        )
    )


def run(batch: int, pairs: int) -> str:
    lines = [
        f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}, batch {batch}, {SIZE}x{SIZE}, "
        f"{pairs} interleaved pairs per layer; load average {os.getloadavg()[0]:.1f} at the end. "
        "Time of forward + backward, split / concatenated: the median of per-pair ratios (min-max).",
        "",
        "| inputs | channels | contiguous | channels-last |",
        "|---|---|---|---|",
    ]
    for k in (1, 2, 4, 8, 12, 16):
        cells = [str(layer(k, batch, cl, pairs)) for cl in (False, True)]
        lines.append(f"| {k} | {FIRST + GROWTH * (k - 1)} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--write", action="store_true", help="update the section in benchmarks/results.md")
    args = parser.parse_args()
    text = run(args.batch, args.pairs)
    print(text)
    if args.write:
        write_section(
            "A 1x1 convolution's concatenation split into a sum (CPU)",
            f"`python benchmarks/split_concat.py --write`\n\n{text}",
        )


if __name__ == "__main__":
    main()
