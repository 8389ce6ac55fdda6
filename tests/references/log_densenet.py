"""Log-DenseNet written by hand: every feature map numbered across the whole network,
x_i built from x_{i-1}, x_{i-2}, x_{i-4}, ... (newest first), earlier and larger
ones average-pooled to the current size; transitions are layers of that index too."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def log_inputs(i: int) -> list[int]:
    """i - 1, i - 2, i - 4, ... while at least 0: the outputs x_i reads, newest first."""
    found, gap = [], 1
    while i - gap >= 0:
        found.append(i - gap)
        gap *= 2
    return found


class LogLayer(nn.Sequential):
    def __init__(self, inputs: int, growth: int, bottleneck: bool) -> None:
        if bottleneck:
            super().__init__(
                nn.BatchNorm2d(inputs),
                nn.ReLU(),
                nn.Conv2d(inputs, 4 * growth, 1, bias=False),
                nn.BatchNorm2d(4 * growth),
                nn.ReLU(),
                nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False),
            )
        else:
            super().__init__(
                nn.BatchNorm2d(inputs), nn.ReLU(), nn.Conv2d(inputs, growth, 3, padding=1, bias=False)
            )


class Transition(nn.Sequential):
    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__(
            nn.BatchNorm2d(inputs), nn.ReLU(), nn.Conv2d(inputs, outputs, 1, bias=False), nn.AvgPool2d(2)
        )


class LogDenseNet(nn.Module):
    def __init__(
        self, depth: int = 100, growth: int = 12, bottleneck: bool = True, classes: int = 10
    ) -> None:
        super().__init__()
        per_block = (depth - 4) // (6 if bottleneck else 3)
        self.stem = nn.Conv2d(3, 2 * growth, 3, padding=1, bias=False)
        widths = [2 * growth]  # channels of x_0, x_1, ... in global order
        self.steps = nn.ModuleList()  # the layers and transitions, in global order
        for block in range(3):
            for _ in range(per_block):
                self.steps.append(
                    LogLayer(sum(widths[j] for j in log_inputs(len(widths))), growth, bottleneck)
                )
                widths.append(growth)
            width = sum(widths[j] for j in log_inputs(len(widths)))
            if block < 2:
                self.steps.append(Transition(width, width // 2 if bottleneck else width))
                widths.append(width // 2 if bottleneck else width)
        self.norm = nn.BatchNorm2d(width)
        self.linear = nn.Linear(width, classes)

    @staticmethod
    def gather(features: list[torch.Tensor]) -> torch.Tensor:
        taken = [features[j] for j in log_inputs(len(features))]
        size = min(t.shape[-1] for t in taken)
        return torch.cat(
            [F.avg_pool2d(t, t.shape[-1] // size) if t.shape[-1] != size else t for t in taken], 1
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [self.stem(x)]
        for step in self.steps:
            features.append(step(self.gather(features)))
        out = F.relu(self.norm(self.gather(features)))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))
