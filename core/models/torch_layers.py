"""PyTorch layer constructors with the project's explicit initialisation (see registry)."""

from __future__ import annotations

import math
from typing import TypeVar

import torch
from torch import nn

Layer = TypeVar("Layer", bound=nn.Conv2d | nn.Linear)


def he_uniform_(layer: Layer) -> Layer:
    """U(-sqrt(6/fan_in), sqrt(6/fan_in)) weights and zero bias: Keras' HeUniform exactly."""
    nn.init.kaiming_uniform_(layer.weight, a=0.0, mode="fan_in", nonlinearity="relu")
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def conv2d(in_channels: int, out_channels: int, kernel_size: int, padding: int = 0) -> nn.Conv2d:
    return he_uniform_(nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding))


def linear(in_features: int, out_features: int) -> nn.Linear:
    return he_uniform_(nn.Linear(in_features, out_features))


# BatchNorm as both frameworks are told to run it: PyTorch's momentum 0.1 is Keras' 0.9 (they
# weight the running average from opposite ends), and both use epsilon 1e-5.
BATCH_NORM_MOMENTUM_TORCH = 0.1
BATCH_NORM_EPSILON = 1e-5
LAYER_NORM_EPSILON = 1e-6


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM_TORCH)


def layer_norm(features: int) -> nn.LayerNorm:
    return nn.LayerNorm(features, eps=LAYER_NORM_EPSILON)


def conv2d_no_bias(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                   groups: int = 1) -> nn.Conv2d:
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=False)
    return he_uniform_(layer)


def glorot_uniform_(tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(tensor, -limit, limit)
