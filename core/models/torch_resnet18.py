"""CIFAR-style ResNet-18: 3x3 stem, no initial max-pool, basic blocks [2, 2, 2, 2]."""

from __future__ import annotations

import torch
from torch import nn

from core.models.torch_layers import batch_norm, conv2d_no_bias, linear

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv2d_no_bias(in_channels, channels, 3, stride=stride, padding=1)
        self.bn1 = batch_norm(channels)
        self.conv2 = conv2d_no_bias(channels, channels, 3, padding=1)
        self.bn2 = batch_norm(channels)
        self.shortcut_conv = conv2d_no_bias(in_channels, channels, 1, stride=stride) if stride != 1 or in_channels != channels else None
        self.shortcut_bn = batch_norm(channels) if self.shortcut_conv is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.shortcut_conv is not None and self.shortcut_bn is not None:
            shortcut = self.shortcut_bn(self.shortcut_conv(x))
        return torch.relu(out + shortcut)


class ResNet18(nn.Module):
    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.stem = conv2d_no_bias(channels, 64, 3, padding=1)
        self.stem_bn = batch_norm(64)
        blocks = []
        in_channels = 64
        for width, stride in STAGES:
            blocks += [BasicBlock(in_channels, width, stride), BasicBlock(width, width, 1)]
            in_channels = width
        self.blocks = nn.Sequential(*blocks)
        self.head = linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem_bn(self.stem(x)))
        x = self.blocks(x)
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def build(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return ResNet18(input_shape[2], num_classes)
