"""Keras layer constructors with the project's explicit initialisation (see registry)."""

from __future__ import annotations

import keras

INIT = {"kernel_initializer": "he_uniform", "bias_initializer": "zeros"}


def conv2d(filters: int, kernel_size: int, padding: str = "valid") -> keras.layers.Conv2D:
    # padding="same" is symmetric here because every convolution has stride 1 (with stride 2
    # TensorFlow pads asymmetrically and PyTorch does not).
    return keras.layers.Conv2D(filters, kernel_size, padding=padding, activation="relu", **INIT)


def dense(units: int, activation: str | None = "relu", name: str | None = None) -> keras.layers.Dense:
    return keras.layers.Dense(units, activation=activation, name=name, **INIT)


def classifier(num_classes: int, name: str | None = None) -> keras.layers.Dense:
    """Logits in float32 even under a mixed-precision policy, as the loss needs."""
    return keras.layers.Dense(num_classes, dtype="float32", name=name, **INIT)


# PyTorch's BatchNorm momentum 0.1 weights the new batch; Keras' momentum weights the old
# average, so the same behaviour is 0.9 here. Epsilon 1e-5 in both (Keras' default is 1e-3).
BATCH_NORM_MOMENTUM_KERAS = 0.9
BATCH_NORM_EPSILON = 1e-5
LAYER_NORM_EPSILON = 1e-6


def batch_norm(name: str | None = None) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM_KERAS, epsilon=BATCH_NORM_EPSILON, name=name)


def layer_norm(name: str | None = None) -> keras.layers.LayerNormalization:
    return keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=name)
