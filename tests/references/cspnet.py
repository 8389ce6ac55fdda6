"""CSPResNet-50 written by hand, laid out as timm's cspresnet50 (registration order included).

Leaky ReLUs with slope 0.01 throughout, as timm's CSPNets (a side-venv check against timm
found the first version of this reference and the example using plain ReLUs).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .common import StagesClassifier


def conv_bn(inputs: int, outputs: int, k: int = 1, stride: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(inputs, outputs, k, stride, k // 2, bias=False),
        nn.BatchNorm2d(outputs),
    ]
    return nn.Sequential(*layers, *([nn.LeakyReLU(0.01)] if act else []))


class Bottleneck(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = conv_bn(channels, channels // 2)
        self.conv2 = conv_bn(channels // 2, channels // 2, 3)
        self.conv3 = conv_bn(channels // 2, channels, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv3(self.conv2(self.conv1(x))) + x, 0.01)


class CrossStage(nn.Module):
    def __init__(self, inputs: int, outputs: int, blocks: int, stride: int) -> None:
        super().__init__()
        self.conv_down = conv_bn(inputs, inputs, 3, stride) if stride != 1 else nn.Identity()
        self.conv_exp = conv_bn(inputs, 2 * outputs, act=False)
        self.blocks = nn.Sequential(*(Bottleneck(outputs) for _ in range(blocks)))
        self.conv_transition_b = conv_bn(outputs, outputs)
        self.conv_transition = conv_bn(2 * outputs, outputs)
        self.half = outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        crossing, through = self.conv_exp(self.conv_down(x)).split(self.half, dim=1)
        through = self.conv_transition_b(self.blocks(through))
        return self.conv_transition(torch.cat([crossing, through], 1))


class CSPResNet50(StagesClassifier):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1))
        stages, inputs = [], 64
        for outputs, blocks, stride in [(128, 3, 1), (256, 3, 2), (512, 5, 2), (1024, 2, 2)]:
            stages.append(CrossStage(inputs, outputs, blocks, stride))
            inputs = outputs
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(1024, classes)
