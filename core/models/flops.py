"""Forward FLOPs per image, by one set of formulas for both frameworks.

Each framework module walks its own model's layers and output shapes and calls these; counting
traced graph ops instead gave different answers for the same model (PyTorch's fused attention
and recurrent kernels hide their matmuls from its counter; TensorFlow's loops hide theirs from
the graph). A multiply-add counts as two FLOPs; elementwise work is not counted.
"""

from __future__ import annotations

import math


def conv_flops(output_elements: int, in_channels_per_group: int, kernel_h: int, kernel_w: int) -> int:
    return 2 * output_elements * in_channels_per_group * kernel_h * kernel_w


def dense_flops(output_elements: int, in_features: int) -> int:
    return 2 * output_elements * in_features


def attention_flops(query_tokens: int, key_tokens: int, dim: int) -> int:
    """Query, key, value and output projections plus the two attention matmuls."""
    projections = 2 * dim * dim * (2 * query_tokens + 2 * key_tokens)
    return projections + 2 * 2 * query_tokens * key_tokens * dim


def recurrent_flops(kind: str, steps: int, input_size: int, hidden: int) -> int:
    gates = 4 if kind == "lstm" else 3
    return 2 * steps * gates * hidden * (input_size + hidden)


def elements(shape: tuple[int, ...] | list[int]) -> int:
    """Elements per image: the shape without its batch dimension."""
    return math.prod(int(d) for d in shape[1:])
