from __future__ import annotations

import math

from torch import nn

from core.models.torch_layers import linear


def build(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    features = math.prod(input_shape)
    return nn.Sequential(
        nn.Flatten(),
        linear(features, 256), nn.ReLU(),
        linear(256, 128), nn.ReLU(),
        linear(128, num_classes),
    )
