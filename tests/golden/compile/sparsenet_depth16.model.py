"""SparseNet: compiled by aggspec 0.1.0. It needs only PyTorch.

Input 3x32x32, output 10, 216,874 parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SOURCE = 'examples/sparsenet_cifar.agg'
PARAMS = {'depth': 16, 'growth': 24, 'bottleneck': False, 'classes': 10, 'merge': 'concat'}


def init_weights(model: nn.Module, seed: int | None = 0) -> nn.Module:
    """Initialise as the reference implementations do; ``seed`` makes it reproducible.

    Convolutions, transposed ones too: He-normal (fan_out, ReLU gain), as torchvision's ResNet.
    BatchNorm: weight 1, bias 0. Linear: PyTorch's default weight, bias 0.
    Learned merge weights: 0 (every input starts at sigmoid(0) = 0.5).
    The global RNG is left untouched.
    """
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(
                    module.weight, mode="fan_out", nonlinearity="relu", generator=generator
                )
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif callable(reset_gates := getattr(module, "reset_gates", None)):
                reset_gates()  # WeightedSum, by duck type: an emitted file defines it only if used
    return model


class SparseNet(nn.Module):
    input_shape = (3, 32, 32)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 48, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.stage1 = nn.Module()
        self.stage1.layer1 = nn.Module()
        self.stage1.layer1.bn1 = nn.BatchNorm2d(48)
        self.stage1.layer1.relu1 = nn.ReLU()
        self.stage1.layer1.conv1 = nn.Conv2d(48, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.stage1.layer2 = nn.Module()
        self.stage1.layer2.bn1 = nn.BatchNorm2d(72)
        self.stage1.layer2.relu1 = nn.ReLU()
        self.stage1.layer2.conv1 = nn.Conv2d(72, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.stage1.layer3 = nn.Module()
        self.stage1.layer3.bn1 = nn.BatchNorm2d(48)
        self.stage1.layer3.relu1 = nn.ReLU()
        self.stage1.layer3.conv1 = nn.Conv2d(48, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.stage1.layer4 = nn.Module()
        self.stage1.layer4.bn1 = nn.BatchNorm2d(96)
        self.stage1.layer4.relu1 = nn.ReLU()
        self.stage1.layer4.conv1 = nn.Conv2d(96, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.transition1 = nn.Module()
        self.transition1.bn1 = nn.BatchNorm2d(72)
        self.transition1.relu1 = nn.ReLU()
        self.transition1.conv1 = nn.Conv2d(72, 72, kernel_size=1, stride=1, padding=0, groups=1, bias=False)
        self.transition1.avgpool1 = nn.AvgPool2d(kernel_size=2, stride=2)
        self.stage2 = nn.Module()
        self.stage2.layer1 = nn.Module()
        self.stage2.layer1.bn1 = nn.BatchNorm2d(72)
        self.stage2.layer1.relu1 = nn.ReLU()
        self.stage2.layer1.conv1 = nn.Conv2d(72, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.stage2.layer2 = nn.Module()
        self.stage2.layer2.bn1 = nn.BatchNorm2d(96)
        self.stage2.layer2.relu1 = nn.ReLU()
        self.stage2.layer2.conv1 = nn.Conv2d(96, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.stage2.layer3 = nn.Module()
        self.stage2.layer3.bn1 = nn.BatchNorm2d(48)
        self.stage2.layer3.relu1 = nn.ReLU()
        self.stage2.layer3.conv1 = nn.Conv2d(48, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.stage2.layer4 = nn.Module()
        self.stage2.layer4.bn1 = nn.BatchNorm2d(120)
        self.stage2.layer4.relu1 = nn.ReLU()
        self.stage2.layer4.conv1 = nn.Conv2d(120, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.transition2 = nn.Module()
        self.transition2.bn1 = nn.BatchNorm2d(72)
        self.transition2.relu1 = nn.ReLU()
        self.transition2.conv1 = nn.Conv2d(72, 72, kernel_size=1, stride=1, padding=0, groups=1, bias=False)
        self.transition2.avgpool1 = nn.AvgPool2d(kernel_size=2, stride=2)
        self.stage3 = nn.Module()
        self.stage3.layer1 = nn.Module()
        self.stage3.layer1.bn1 = nn.BatchNorm2d(72)
        self.stage3.layer1.relu1 = nn.ReLU()
        self.stage3.layer1.conv1 = nn.Conv2d(72, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.stage3.layer2 = nn.Module()
        self.stage3.layer2.bn1 = nn.BatchNorm2d(96)
        self.stage3.layer2.relu1 = nn.ReLU()
        self.stage3.layer2.conv1 = nn.Conv2d(96, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.stage3.layer3 = nn.Module()
        self.stage3.layer3.bn1 = nn.BatchNorm2d(48)
        self.stage3.layer3.relu1 = nn.ReLU()
        self.stage3.layer3.conv1 = nn.Conv2d(48, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.stage3.layer4 = nn.Module()
        self.stage3.layer4.bn1 = nn.BatchNorm2d(120)
        self.stage3.layer4.relu1 = nn.ReLU()
        self.stage3.layer4.conv1 = nn.Conv2d(120, 24, kernel_size=3, stride=1, padding=1, groups=1, bias=False)
        self.bn1 = nn.BatchNorm2d(72)
        self.relu1 = nn.ReLU()
        self.gap1 = nn.AdaptiveAvgPool2d(1)
        self.flatten1 = nn.Flatten()
        self.linear1 = nn.Linear(72, 10, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv1 = self.conv1(x)
        stage1_layer1_bn1 = self.stage1.layer1.bn1(conv1)
        stage1_layer1_relu1 = self.stage1.layer1.relu1(stage1_layer1_bn1)
        stage1_layer1_conv1 = self.stage1.layer1.conv1(stage1_layer1_relu1)
        stage1_layer2_concat1 = torch.cat([stage1_layer1_conv1, conv1], dim=1)
        stage1_layer2_bn1 = self.stage1.layer2.bn1(stage1_layer2_concat1)
        stage1_layer2_relu1 = self.stage1.layer2.relu1(stage1_layer2_bn1)
        stage1_layer2_conv1 = self.stage1.layer2.conv1(stage1_layer2_relu1)
        stage1_layer3_concat1 = torch.cat([stage1_layer2_conv1, stage1_layer1_conv1], dim=1)
        stage1_layer3_bn1 = self.stage1.layer3.bn1(stage1_layer3_concat1)
        stage1_layer3_relu1 = self.stage1.layer3.relu1(stage1_layer3_bn1)
        stage1_layer3_conv1 = self.stage1.layer3.conv1(stage1_layer3_relu1)
        stage1_layer4_concat1 = torch.cat([stage1_layer3_conv1, stage1_layer2_conv1, conv1], dim=1)
        stage1_layer4_bn1 = self.stage1.layer4.bn1(stage1_layer4_concat1)
        stage1_layer4_relu1 = self.stage1.layer4.relu1(stage1_layer4_bn1)
        stage1_layer4_conv1 = self.stage1.layer4.conv1(stage1_layer4_relu1)
        stage1_concat1 = torch.cat([stage1_layer4_conv1, stage1_layer3_conv1, stage1_layer1_conv1], dim=1)
        transition1_bn1 = self.transition1.bn1(stage1_concat1)
        transition1_relu1 = self.transition1.relu1(transition1_bn1)
        transition1_conv1 = self.transition1.conv1(transition1_relu1)
        transition1_avgpool1 = self.transition1.avgpool1(transition1_conv1)
        stage2_layer1_bn1 = self.stage2.layer1.bn1(transition1_avgpool1)
        stage2_layer1_relu1 = self.stage2.layer1.relu1(stage2_layer1_bn1)
        stage2_layer1_conv1 = self.stage2.layer1.conv1(stage2_layer1_relu1)
        stage2_layer2_concat1 = torch.cat([stage2_layer1_conv1, transition1_avgpool1], dim=1)
        stage2_layer2_bn1 = self.stage2.layer2.bn1(stage2_layer2_concat1)
        stage2_layer2_relu1 = self.stage2.layer2.relu1(stage2_layer2_bn1)
        stage2_layer2_conv1 = self.stage2.layer2.conv1(stage2_layer2_relu1)
        stage2_layer3_concat1 = torch.cat([stage2_layer2_conv1, stage2_layer1_conv1], dim=1)
        stage2_layer3_bn1 = self.stage2.layer3.bn1(stage2_layer3_concat1)
        stage2_layer3_relu1 = self.stage2.layer3.relu1(stage2_layer3_bn1)
        stage2_layer3_conv1 = self.stage2.layer3.conv1(stage2_layer3_relu1)
        stage2_layer4_concat1 = torch.cat([stage2_layer3_conv1, stage2_layer2_conv1, transition1_avgpool1], dim=1)
        stage2_layer4_bn1 = self.stage2.layer4.bn1(stage2_layer4_concat1)
        stage2_layer4_relu1 = self.stage2.layer4.relu1(stage2_layer4_bn1)
        stage2_layer4_conv1 = self.stage2.layer4.conv1(stage2_layer4_relu1)
        stage2_concat1 = torch.cat([stage2_layer4_conv1, stage2_layer3_conv1, stage2_layer1_conv1], dim=1)
        transition2_bn1 = self.transition2.bn1(stage2_concat1)
        transition2_relu1 = self.transition2.relu1(transition2_bn1)
        transition2_conv1 = self.transition2.conv1(transition2_relu1)
        transition2_avgpool1 = self.transition2.avgpool1(transition2_conv1)
        stage3_layer1_bn1 = self.stage3.layer1.bn1(transition2_avgpool1)
        stage3_layer1_relu1 = self.stage3.layer1.relu1(stage3_layer1_bn1)
        stage3_layer1_conv1 = self.stage3.layer1.conv1(stage3_layer1_relu1)
        stage3_layer2_concat1 = torch.cat([stage3_layer1_conv1, transition2_avgpool1], dim=1)
        stage3_layer2_bn1 = self.stage3.layer2.bn1(stage3_layer2_concat1)
        stage3_layer2_relu1 = self.stage3.layer2.relu1(stage3_layer2_bn1)
        stage3_layer2_conv1 = self.stage3.layer2.conv1(stage3_layer2_relu1)
        stage3_layer3_concat1 = torch.cat([stage3_layer2_conv1, stage3_layer1_conv1], dim=1)
        stage3_layer3_bn1 = self.stage3.layer3.bn1(stage3_layer3_concat1)
        stage3_layer3_relu1 = self.stage3.layer3.relu1(stage3_layer3_bn1)
        stage3_layer3_conv1 = self.stage3.layer3.conv1(stage3_layer3_relu1)
        stage3_layer4_concat1 = torch.cat([stage3_layer3_conv1, stage3_layer2_conv1, transition2_avgpool1], dim=1)
        stage3_layer4_bn1 = self.stage3.layer4.bn1(stage3_layer4_concat1)
        stage3_layer4_relu1 = self.stage3.layer4.relu1(stage3_layer4_bn1)
        stage3_layer4_conv1 = self.stage3.layer4.conv1(stage3_layer4_relu1)
        stage3_concat1 = torch.cat([stage3_layer4_conv1, stage3_layer3_conv1, stage3_layer1_conv1], dim=1)
        bn1 = self.bn1(stage3_concat1)
        relu1 = self.relu1(bn1)
        gap1 = self.gap1(relu1)
        flatten1 = self.flatten1(gap1)
        linear1 = self.linear1(flatten1)
        return linear1


def build(seed: int | None = 0) -> SparseNet:
    """A new SparseNet, initialised reproducibly from ``seed`` (None: at random)."""
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG as it was
        model = SparseNet()
    init_weights(model, seed)
    return model
