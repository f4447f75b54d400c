from __future__ import annotations

from torch import nn

from core.models.torch_recurrent import RowRecurrent


def build(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return RowRecurrent("lstm", input_shape, num_classes)
