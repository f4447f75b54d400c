from __future__ import annotations

import keras

from core.models.keras_layers import classifier, dense


def build(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    return keras.Sequential(
        [keras.Input(shape=input_shape), keras.layers.Flatten(), dense(256), dense(128), classifier(num_classes)],
        name="mlp",
    )
