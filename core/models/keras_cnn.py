from __future__ import annotations

import keras

from core.models.keras_layers import classifier, conv2d, dense


def build(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            conv2d(32, 3, padding="same"), keras.layers.MaxPooling2D(2),
            conv2d(64, 3, padding="same"), keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            dense(64),
            classifier(num_classes),
        ],
        name="cnn",
    )
