from __future__ import annotations

import keras

from core.models.keras_recurrent import build_recurrent


def build(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    return build_recurrent("gru", input_shape, num_classes)
