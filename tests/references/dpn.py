"""DPN-68 written by hand, laid out as timm's dpn68 (registration order included).

Between blocks the state is a pair (residual, dense); a block reads their
concatenation, sums the first bw channels of its output into the residual
path and appends the rest to the dense path.
"""

from __future__ import annotations

import torch
from torch import nn


class BnActConv(nn.Module):
    def __init__(self, inputs: int, outputs: int, k: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(inputs)
        self.conv = nn.Conv2d(inputs, outputs, k, stride, k // 2, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.relu(self.bn(x)))


class DualPathBlock(nn.Module):
    def __init__(self, inputs: int, r: int, bw: int, inc: int, groups: int, kind: str) -> None:
        super().__init__()
        self.bw = bw
        stride = 2 if kind == "down" else 1
        self.project = BnActConv(inputs, bw + 2 * inc, 1, stride) if kind != "normal" else None
        self.c1x1_a = BnActConv(inputs, r, 1)
        self.c3x3_b = BnActConv(r, r, 3, stride, groups)
        self.c1x1_c = BnActConv(r, bw + inc, 1)

    def forward(self, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat(state, dim=1)
        if self.project is not None:
            shortcut = self.project(x)
            residual, dense = shortcut[:, : self.bw], shortcut[:, self.bw :]
        else:
            residual, dense = state
        y = self.c1x1_c(self.c3x3_b(self.c1x1_a(x)))
        return residual + y[:, : self.bw], torch.cat([dense, y[:, self.bw :]], dim=1)


class DPN68(nn.Module):
    def __init__(self, classes: int = 1000, k_r: int = 128, groups: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 10, 3, 2, 1, bias=False), nn.BatchNorm2d(10), nn.ReLU())
        self.pool = nn.MaxPool2d(3, 2, 1)
        blocks: list[nn.Module] = []
        inputs = 10
        for stage, (bw, inc, count) in enumerate([(64, 16, 3), (128, 32, 4), (256, 32, 12), (512, 64, 3)]):
            r = k_r * bw // 64
            blocks.append(DualPathBlock(inputs, r, bw, inc, groups, "proj" if stage == 0 else "down"))
            inputs = bw + 3 * inc
            for _ in range(1, count):
                blocks.append(DualPathBlock(inputs, r, bw, inc, groups, "normal"))
                inputs += inc
        self.blocks = nn.ModuleList(blocks)
        self.bn = nn.BatchNorm2d(inputs)
        self.classifier = nn.Conv2d(inputs, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.conv1(x))
        state = (x[:, :0], x)  # before the first block: nothing residual yet, the stem's output
        for block in self.blocks:
            state = block(state)
        x = torch.relu(self.bn(torch.cat(state, dim=1)))
        return torch.flatten(self.classifier(nn.functional.adaptive_avg_pool2d(x, 1)), 1)
