"""The small vision transformer in Keras, layer for layer as core/models/torch_vit.py."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from core.models.convert import keras_name
from core.models.keras_layers import INIT, classifier, dense, layer_norm

PATCH, DIM, DEPTH, HEADS, MLP_DIM = 4, 64, 4, 4, 128
POSITION_STD = 0.02


class ClassTokenAndPositions(keras.layers.Layer):
    """Prepends the learned class token and adds the learned position embedding."""

    def __init__(self, tokens: int, dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tokens, self.dim = tokens, dim

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.cls_token = self.add_weight(shape=(1, 1, self.dim), initializer="zeros", name="cls_token")
        self.pos_embed = self.add_weight(shape=(1, self.tokens + 1, self.dim),
                                         initializer=keras.initializers.TruncatedNormal(stddev=POSITION_STD),
                                         name="pos_embed")

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        batch = ops.shape(x)[0]
        token = ops.broadcast_to(ops.cast(self.cls_token, x.dtype), (batch, 1, self.dim))
        return ops.concatenate([token, x], axis=1) + ops.cast(self.pos_embed, x.dtype)


class ClassTokenOutput(keras.layers.Layer):
    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        return x[:, 0]


def attention(name: str) -> keras.layers.MultiHeadAttention:
    # Glorot-uniform over each E x E projection, as on the PyTorch side. Keras' own
    # glorot_uniform would compute fans from the (E, heads, head_dim) kernel shape instead.
    limit = math.sqrt(6.0 / (DIM + DIM))
    return keras.layers.MultiHeadAttention(
        HEADS, DIM // HEADS, kernel_initializer=keras.initializers.RandomUniform(-limit, limit),
        bias_initializer="zeros", name=name,
    )


def build(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    height, width, _ = input_shape
    tokens = (height // PATCH) * (width // PATCH)
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(DIM, PATCH, strides=PATCH, name="patch_embed", **INIT)(inputs)
    x = keras.layers.Reshape((tokens, DIM))(x)
    x = ClassTokenAndPositions(tokens, DIM, name="tokens")(x)
    for index in range(DEPTH):
        prefix = f"blocks.{index}"
        y = layer_norm(keras_name(f"{prefix}.norm1"))(x)
        x = keras.layers.Add()([x, attention(keras_name(f"{prefix}.attn"))(y, y)])
        y = layer_norm(keras_name(f"{prefix}.norm2"))(x)
        y = dense(MLP_DIM, activation="gelu", name=keras_name(f"{prefix}.fc1"))(y)
        x = keras.layers.Add()([x, dense(DIM, activation=None, name=keras_name(f"{prefix}.fc2"))(y)])
    x = ClassTokenOutput()(layer_norm("norm")(x))
    return keras.Model(inputs, classifier(num_classes, name="head")(x), name="vit")
