"""LSTM and GRU classifiers that read an image row by row (shared by torch_lstm and torch_gru)."""

from __future__ import annotations

import math

import torch
from torch import nn

from core.models.torch_layers import linear

HIDDEN = 128


class RowRecurrent(nn.Module):
    """Each image row (width x channels values, in NHWC order) is one step of the sequence;
    the last step's hidden state goes to a dense classifier."""

    def __init__(self, kind: str, input_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        height, width, channels = input_shape
        layer = nn.LSTM if kind == "lstm" else nn.GRU
        self.rnn = layer(width * channels, HIDDEN, batch_first=True)
        limit = 1.0 / math.sqrt(HIDDEN)
        with torch.no_grad():
            for name, parameter in self.rnn.named_parameters():
                if name.startswith("weight"):
                    nn.init.uniform_(parameter, -limit, limit)
                else:
                    nn.init.zeros_(parameter)
        if kind == "lstm":
            # PyTorch's LSTM has two bias vectors per gate where Keras has one; their sum is what
            # counts, so the recurrent one stays zero and frozen and the trainable counts match.
            self.rnn.bias_hh_l0.requires_grad_(False)
        self.head = linear(HIDDEN, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(batch, height, width * channels)
        out, _ = self.rnn(rows)
        return self.head(out[:, -1])
