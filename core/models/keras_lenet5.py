from __future__ import annotations

import keras

from core.models.keras_layers import classifier, conv2d, dense


def build(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            conv2d(6, 5, padding="same"), keras.layers.MaxPooling2D(2),
            conv2d(16, 5), keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            dense(120),
            dense(84),
            classifier(num_classes),
        ],
        name="lenet5",
    )
