"""Plain CNN, FractalNet and RandWire written by hand in plain PyTorch."""

from __future__ import annotations

import networkx as nx
import torch
from torch import nn


def conv_bn_relu(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU()
    )


class Plain(nn.Module):
    """Three stages of `depth` conv-BN-ReLU layers (16, 32, 64 wide) with max pooling between."""

    def __init__(self, depth: int = 6, classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        inputs = 3
        for i, width in enumerate([16, 32, 64]):
            for _ in range(depth):
                layers.append(conv_bn_relu(inputs, width))
                inputs = width
            if i < 2:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


class Fractal(nn.Module):
    """f_1 = conv; f_(C+1)(z) = mean(f_C(f_C(z)), conv(z))."""

    def __init__(self, inputs: int, width: int, columns: int) -> None:
        super().__init__()
        self.columns = columns
        if columns == 1:
            self.unit = conv_bn_relu(inputs, width)
        else:
            self.deep1 = Fractal(inputs, width, columns - 1)
            self.deep2 = Fractal(width, width, columns - 1)
            self.shallow = conv_bn_relu(inputs, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.columns == 1:
            return self.unit(x)
        return (self.deep2(self.deep1(x)) + self.shallow(x)) / 2


class FractalNet(nn.Module):
    def __init__(self, columns: int = 3, classes: int = 10) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        inputs = 3
        for width in [64, 128, 256, 512, 512]:
            blocks += [Fractal(inputs, width, columns), nn.MaxPool2d(2)]
            inputs = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.blocks(x), 1))


class RandNode(nn.Module):
    """Weighted sum of the predecessors (sigmoid gates), then ReLU, separable conv, BN."""

    def __init__(self, width: int, fan_in: int) -> None:
        super().__init__()
        if fan_in > 1:
            self.weight = nn.Parameter(torch.zeros(fan_in))
        self.op = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, groups=width, bias=False),
            nn.Conv2d(width, width, 1, bias=False),
            nn.BatchNorm2d(width),
        )

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        x = inputs[0]
        if len(inputs) > 1:
            gates = torch.sigmoid(self.weight)
            x = inputs[0] * gates[0]
            for i in range(1, len(inputs)):
                x = x + inputs[i] * gates[i]
        return self.op(x)


class RandStage(nn.Module):
    """A Watts-Strogatz DAG (edges low to high); sources read the input; output = mean of sinks."""

    def __init__(self, width: int, nodes: int, seed: int) -> None:
        super().__init__()
        graph = nx.watts_strogatz_graph(nodes, 4, 0.75, seed=seed)
        self.preds = [sorted(u for u in graph.neighbors(v) if u < v) for v in range(nodes)]
        self.sinks = [v for v in range(nodes) if not any(v in p for p in self.preds)]
        self.nodes = nn.ModuleList(RandNode(width, max(len(p), 1)) for p in self.preds)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor] = []
        for node, preds in zip(self.nodes, self.preds, strict=True):
            outputs.append(node([outputs[u] for u in preds] if preds else [x]))
        result = outputs[self.sinks[0]]
        for v in self.sinks[1:]:
            result = result + outputs[v]
        return result / len(self.sinks) if len(self.sinks) > 1 else result


class RandWire(nn.Module):
    def __init__(self, nodes: int, channels: int, classes: int, seed: int) -> None:
        super().__init__()

        def downsample(inputs: int, outputs: int) -> nn.Sequential:
            return nn.Sequential(
                nn.ReLU(), nn.Conv2d(inputs, outputs, 3, 2, 1, bias=False), nn.BatchNorm2d(outputs)
            )

        self.stem = nn.Sequential(
            nn.Conv2d(3, channels // 2, 3, 2, 1, bias=False), nn.BatchNorm2d(channels // 2)
        )
        self.down = downsample(channels // 2, channels)
        stages: list[nn.Module] = []
        inputs = channels
        for i, width in enumerate([channels, 2 * channels, 4 * channels]):
            stages += [downsample(inputs, width), RandStage(width, nodes, seed + i)]
            inputs = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(inputs, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU()
        )
        self.fc = nn.Linear(1280, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.stages(self.down(self.stem(x))))
        return self.fc(x.mean((2, 3)))
