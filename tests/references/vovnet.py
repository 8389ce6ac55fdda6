"""VoVNet-39 with eSE written by hand, laid out as timm's ese_vovnet39b (registration order included)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .common import StagesClassifier


def conv_bn_relu(inputs: int, outputs: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, k, stride, k // 2, bias=False), nn.BatchNorm2d(outputs), nn.ReLU()
    )


class EffectiveSE(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.relu6(self.fc(x.mean((2, 3), keepdim=True)) + 3.0) / 6.0


class OsaBlock(nn.Module):
    def __init__(self, inputs: int, mid: int, outputs: int, residual: bool, gated: bool) -> None:
        super().__init__()
        self.residual = residual
        self.conv_mid = nn.ModuleList(conv_bn_relu(inputs if i == 0 else mid, mid) for i in range(5))
        self.conv_concat = conv_bn_relu(inputs + 5 * mid, outputs, 1)
        self.attn = EffectiveSE(outputs) if gated else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for conv in self.conv_mid:
            outputs.append(conv(outputs[-1]))
        y = self.conv_concat(torch.cat(outputs, 1))
        if self.attn is not None:
            y = self.attn(y)
        return y + x if self.residual else y


class VoVNet39(StagesClassifier):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            conv_bn_relu(3, 64, stride=2), conv_bn_relu(64, 64), conv_bn_relu(64, 128, stride=2)
        )
        stages: list[nn.Module] = []
        inputs = 128
        for i, (mid, outputs, blocks) in enumerate(
            [(128, 256, 1), (160, 512, 1), (192, 768, 2), (224, 1024, 2)]
        ):
            if i > 0:
                stages.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            for b in range(blocks):
                stages.append(OsaBlock(inputs, mid, outputs, residual=b > 0, gated=b == blocks - 1))
                inputs = outputs
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(1024, classes)
