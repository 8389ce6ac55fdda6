"""U-Net written by hand, laid out as milesial/Pytorch-UNet's UNet(3, 2, bilinear=False)."""

from __future__ import annotations

import torch
from torch import nn


class DoubleConv(nn.Sequential):
    """milesial's DoubleConv(inputs, outputs, mid): the first conv goes to ``mid`` channels."""

    def __init__(self, inputs: int, outputs: int, mid: int | None = None) -> None:
        mid = outputs if mid is None else mid
        super().__init__(
            nn.Conv2d(inputs, mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(),
            nn.Conv2d(mid, outputs, 3, padding=1, bias=False),
            nn.BatchNorm2d(outputs),
            nn.ReLU(),
        )


class Down(nn.Sequential):
    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__(nn.MaxPool2d(2), DoubleConv(inputs, outputs))


class Up(nn.Module):
    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(inputs, inputs // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(inputs, outputs)

    def forward(self, below: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(below)], dim=1))  # sizes divisible by 16: no padding


class UNet(nn.Module):
    def __init__(self, channels: int = 3, classes: int = 2) -> None:
        super().__init__()
        self.inc = DoubleConv(channels, 64)
        self.down1, self.down2 = Down(64, 128), Down(128, 256)
        self.down3, self.down4 = Down(256, 512), Down(512, 1024)
        self.up1, self.up2 = Up(1024, 512), Up(512, 256)
        self.up3, self.up4 = Up(256, 128), Up(128, 64)
        self.outc = nn.Conv2d(64, classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


class UpBilinear(nn.Module):
    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = DoubleConv(inputs, outputs, inputs // 2)

    def forward(self, below: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(below)], dim=1))


class UNetBilinear(UNet):
    """As milesial's UNet(3, 2, bilinear=True): the bottom halved, bilinear upsampling; UNet's forward."""

    def __init__(self, channels: int = 3, classes: int = 2) -> None:
        nn.Module.__init__(self)
        self.inc = DoubleConv(channels, 64, 64)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(64, 128, 128))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(128, 256, 256))
        self.down3 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(256, 512, 512))
        self.down4 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(512, 512, 512))
        self.up1, self.up2 = UpBilinear(1024, 256), UpBilinear(512, 128)  # type: ignore[assignment]
        self.up3, self.up4 = UpBilinear(256, 64), UpBilinear(128, 64)  # type: ignore[assignment]
        self.outc = nn.Conv2d(64, classes, kernel_size=1)
