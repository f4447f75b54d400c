from __future__ import annotations

from torch import nn

from core.models.torch_layers import conv2d, linear


def build(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    height, width, channels = input_shape
    flat = 64 * (height // 4) * (width // 4)
    return nn.Sequential(
        conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        linear(flat, 64), nn.ReLU(),
        linear(64, num_classes),
    )
