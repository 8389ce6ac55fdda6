"""DenseNet and SparseNet written by hand: torchvision's DenseNet layout, and the
SparseNet authors' exponential fetch (layer l reads outputs l-1, l-2, l-4, ...)."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class DenseLayer(nn.Module):
    def __init__(self, inputs: int, growth: int, bottleneck: bool) -> None:
        super().__init__()
        width = 4 * growth if bottleneck else growth
        self.norm1 = nn.BatchNorm2d(inputs)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(
            inputs, width, 1 if bottleneck else 3, padding=0 if bottleneck else 1, bias=False
        )
        self.bottleneck = bottleneck
        if bottleneck:
            self.norm2 = nn.BatchNorm2d(width)
            self.relu2 = nn.ReLU()
            self.conv2 = nn.Conv2d(width, growth, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        out = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        if self.bottleneck:
            out = self.conv2(self.relu2(self.norm2(out)))
        return out


def exp_fetch(outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Newest first: outputs[-1], outputs[-2], outputs[-4], ... (the SparseNet authors' order)."""
    fetched, offset = [], 1
    while offset <= len(outputs):
        fetched.append(outputs[len(outputs) - offset])
        offset *= 2
    return fetched


class Block(nn.Module):
    def __init__(self, layers: int, inputs: int, growth: int, bottleneck: bool, sparse: bool) -> None:
        super().__init__()
        self.sparse = sparse
        widths = [inputs]
        for i in range(layers):
            seen = exp_fetch(widths) if sparse else widths
            self.add_module(f"layer{i + 1}", DenseLayer(sum(seen), growth, bottleneck))
            widths.append(growth)
        self.out_channels = sum(exp_fetch(widths) if sparse else widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for layer in self.children():
            outputs.append(layer(exp_fetch(outputs) if self.sparse else outputs))
        return torch.cat(exp_fetch(outputs) if self.sparse else outputs, 1)


class Transition(nn.Sequential):
    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(inputs))
        self.add_module("relu", nn.ReLU())
        self.add_module("conv", nn.Conv2d(inputs, outputs, 1, bias=False))
        self.add_module("pool", nn.AvgPool2d(2, 2))


class CifarNet(nn.Module):
    """DenseNet(-BC) or SparseNet(-BC) for CIFAR: conv0 to 2k channels, 3 blocks, BN-ReLU-pool-linear."""

    def __init__(self, depth: int, growth: int, bottleneck: bool, sparse: bool, classes: int = 10) -> None:
        super().__init__()
        layers = (depth - 4) // (6 if bottleneck else 3)
        channels = 2 * growth
        features: list[tuple[str, nn.Module]] = [("conv0", nn.Conv2d(3, channels, 3, padding=1, bias=False))]
        for i in range(3):
            block = Block(layers, channels, growth, bottleneck, sparse)
            features.append((f"block{i + 1}", block))
            channels = block.out_channels
            if i < 2:
                out = channels // 2 if bottleneck else channels
                features.append((f"transition{i + 1}", Transition(channels, out)))
                channels = out
        features.append(("norm5", nn.BatchNorm2d(channels)))
        self.features = nn.Sequential(OrderedDict(features))
        self.classifier = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.features(x))
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def densenet121(classes: int = 1000) -> nn.Module:
    """torchvision's densenet121 layout: conv0 7x7/2, pool0, blocks (6, 12, 24, 16), growth 32."""
    features = nn.Sequential()
    features.add_module("conv0", nn.Conv2d(3, 64, 7, 2, 3, bias=False))
    features.add_module("norm0", nn.BatchNorm2d(64))
    features.add_module("relu0", nn.ReLU())
    features.add_module("pool0", nn.MaxPool2d(3, 2, 1))
    channels = 64
    for i, layers in enumerate((6, 12, 24, 16)):
        block = Block(layers, channels, 32, bottleneck=True, sparse=False)
        features.add_module(f"denseblock{i + 1}", block)
        channels = block.out_channels
        if i < 3:
            features.add_module(f"transition{i + 1}", Transition(channels, channels // 2))
            channels //= 2
    features.add_module("norm5", nn.BatchNorm2d(channels))

    class DenseNet121(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = features
            self.classifier = nn.Linear(channels, classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.features(x))
            return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    return DenseNet121()
