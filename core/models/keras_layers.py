"""Keras layer constructors with the project's explicit initialisation (see registry)."""

from __future__ import annotations

import keras

INIT = {"kernel_initializer": "he_uniform", "bias_initializer": "zeros"}


def conv2d(filters: int, kernel_size: int, padding: str = "valid") -> keras.layers.Conv2D:
    # padding="same" is symmetric here because every convolution has stride 1 (with stride 2
    # TensorFlow pads asymmetrically and PyTorch does not).
    return keras.layers.Conv2D(filters, kernel_size, padding=padding, activation="relu", **INIT)


def dense(units: int, activation: str | None = "relu") -> keras.layers.Dense:
    return keras.layers.Dense(units, activation=activation, **INIT)


def classifier(num_classes: int) -> keras.layers.Dense:
    """Logits in float32 even under a mixed-precision policy, as the loss needs."""
    return keras.layers.Dense(num_classes, dtype="float32", **INIT)
