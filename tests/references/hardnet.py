"""HarDNet-68 written by hand, laid out as the authors' hardnet.py (registration order included).

Layer l of a harmonic dense block (1-based) reads outputs l - 2^n for every
2^n dividing l, newest first, concatenated; it is growth x 1.7^n wide for
the largest such n, rounded to an even width. The block's output
concatenates its odd layers and its last.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_layer(inputs: int, outputs: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, k, stride, k // 2, bias=False), nn.BatchNorm2d(outputs), nn.ReLU6()
    )


def links(layer: int) -> list[int]:
    return [layer - 2**n for n in range(10) if layer % 2**n == 0]


def width(layer: int, growth: int, grmul: float) -> int:
    out = float(growth)
    for _ in links(layer)[1:]:
        out *= grmul
    return int(int(out + 1) / 2) * 2


class HarDBlock(nn.Module):
    def __init__(self, inputs: int, growth: int, grmul: float, layers: int) -> None:
        super().__init__()
        widths = [inputs] + [width(l, growth, grmul) for l in range(1, layers + 1)]
        self.layers = nn.ModuleList(
            conv_layer(sum(widths[j] for j in links(l)), widths[l]) for l in range(1, layers + 1)
        )
        self.out_channels = sum(widths[l] for l in range(1, layers + 1) if l % 2 == 1 or l == layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for l, layer in enumerate(self.layers, start=1):
            taken = [outputs[j] for j in links(l)]
            outputs.append(layer(torch.cat(taken, 1) if len(taken) > 1 else taken[0]))
        last = len(outputs) - 1
        return torch.cat([outputs[l] for l in range(1, last + 1) if l % 2 == 1 or l == last], 1)


class HarDNet68(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        widths, growths, layers, pools = (
            [128, 256, 320, 640, 1024],
            [14, 16, 20, 40, 160],
            [8, 16, 16, 16, 4],
            [1, 0, 1, 1, 0],
        )
        base: list[nn.Module] = [conv_layer(3, 32, stride=2), conv_layer(32, 64), nn.MaxPool2d(3, 2, 1)]
        channels = 64
        for i, layer_count in enumerate(layers):
            block = HarDBlock(channels, growths[i], 1.7, layer_count)
            base += [block, conv_layer(block.out_channels, widths[i], 1)]
            channels = widths[i]
            if pools[i]:
                base.append(nn.MaxPool2d(2, 2))
        base.append(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(channels, classes)
            )
        )
        self.base = nn.ModuleList(base)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.base:
            x = module(x)
        return x
