from __future__ import annotations

from torch import nn

from core.models.torch_layers import conv2d, linear


def build(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    height, width, channels = input_shape
    flat = 16 * ((height // 2 - 4) // 2) * ((width // 2 - 4) // 2)
    return nn.Sequential(
        conv2d(channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        linear(flat, 120), nn.ReLU(),
        linear(120, 84), nn.ReLU(),
        linear(84, num_classes),
    )
