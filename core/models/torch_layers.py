"""PyTorch layer constructors with the project's explicit initialisation (see registry)."""

from __future__ import annotations

import math

from torch import nn


def he_uniform_(layer: nn.Module) -> nn.Module:
    """U(-sqrt(6/fan_in), sqrt(6/fan_in)) weights and zero bias: Keras' HeUniform exactly."""
    nn.init.kaiming_uniform_(layer.weight, a=0.0, mode="fan_in", nonlinearity="relu")
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def conv2d(in_channels: int, out_channels: int, kernel_size: int, padding: int = 0) -> nn.Conv2d:
    return he_uniform_(nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding))


def linear(in_features: int, out_features: int) -> nn.Linear:
    return he_uniform_(nn.Linear(in_features, out_features))


def he_uniform_limit(fan_in: int) -> float:
    return math.sqrt(6.0 / fan_in)
