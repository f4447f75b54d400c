"""LSTM and GRU classifiers in Keras, as core/models/torch_recurrent.py."""

from __future__ import annotations

import math

import keras

from core.models.keras_layers import classifier

HIDDEN = 128


def build_recurrent(kind: str, input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    height, width, channels = input_shape
    limit = 1.0 / math.sqrt(HIDDEN)
    uniform = keras.initializers.RandomUniform(-limit, limit)
    common = {"kernel_initializer": uniform, "recurrent_initializer": uniform, "bias_initializer": "zeros", "name": "rnn"}
    if kind == "lstm":
        # unit_forget_bias would add 1 to the forget gate's bias; PyTorch starts it at 0 here too.
        recurrent = keras.layers.LSTM(HIDDEN, unit_forget_bias=False, **common)
    else:
        # reset_after=True applies the reset gate after the recurrent matmul and keeps a second
        # bias vector: exactly PyTorch's GRU.
        recurrent = keras.layers.GRU(HIDDEN, reset_after=True, **common)
    inputs = keras.Input(shape=input_shape)
    rows = keras.layers.Reshape((height, width * channels))(inputs)
    return keras.Model(inputs, classifier(num_classes, name="head")(recurrent(rows)), name=kind)
