"""CIFAR-style ResNet-18 in Keras, layer for layer as core/models/torch_resnet18.py.

Stride-2 convolutions pad explicitly by one pixel on every side, as PyTorch does; Keras'
padding="same" with stride 2 would pad only bottom and right.
"""

from __future__ import annotations

import keras

from core.models.convert import keras_name
from core.models.keras_layers import INIT, batch_norm, classifier

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))


def conv(filters: int, kernel_size: int, stride: int, name: str) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(filters, kernel_size, strides=stride, padding="valid", use_bias=False,
                               kernel_initializer=INIT["kernel_initializer"], name=name)


def basic_block(x: keras.KerasTensor, in_channels: int, channels: int, stride: int, prefix: str) -> keras.KerasTensor:
    out = keras.layers.ZeroPadding2D(1)(x)
    out = conv(channels, 3, stride, keras_name(f"{prefix}.conv1"))(out)
    out = keras.layers.ReLU()(batch_norm(keras_name(f"{prefix}.bn1"))(out))
    out = keras.layers.ZeroPadding2D(1)(out)
    out = batch_norm(keras_name(f"{prefix}.bn2"))(conv(channels, 3, 1, keras_name(f"{prefix}.conv2"))(out))
    shortcut = x
    if stride != 1 or in_channels != channels:
        shortcut = conv(channels, 1, stride, keras_name(f"{prefix}.shortcut_conv"))(x)
        shortcut = batch_norm(keras_name(f"{prefix}.shortcut_bn"))(shortcut)
    return keras.layers.ReLU()(keras.layers.Add()([out, shortcut]))


def build(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.ZeroPadding2D(1)(inputs)
    x = conv(64, 3, 1, "stem")(x)
    x = keras.layers.ReLU()(batch_norm("stem_bn")(x))
    in_channels, index = 64, 0
    for width, stride in STAGES:
        for block_stride in (stride, 1):
            x = basic_block(x, in_channels, width, block_stride, f"blocks.{index}")
            in_channels, index = width, index + 1
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = classifier(num_classes, name="head")(x)
    return keras.Model(inputs, outputs, name="resnet18")
