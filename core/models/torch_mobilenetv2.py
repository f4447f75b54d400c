"""MobileNetV2 as torchvision defines it, initialised and normalised as the project does.

With ``pretrained``: torchvision's ImageNet weights (through torch.hub's download and cache),
the feature extractor frozen and in inference mode, global average pooling and a new dense head;
``unfreeze_blocks`` trains that many of the top blocks as well.
"""

from __future__ import annotations

import torch
from torch import nn

from core.errors import FrameworkUnavailable
from core.models.torch_layers import BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM_TORCH, he_uniform_, linear


class MobileNetV2(nn.Module):
    def __init__(self, channels: int, num_classes: int, pretrained: bool = False, unfreeze_blocks: int = 0) -> None:
        super().__init__()
        from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

        if pretrained:
            try:
                base = mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1)
            except Exception as error:  # no network and no cached file
                raise FrameworkUnavailable(
                    f"torchvision's ImageNet weights for MobileNetV2 could not be loaded ({error}); put "
                    f"{MobileNet_V2_Weights.IMAGENET1K_V1.url.rsplit('/', 1)[-1]} in torch.hub's cache "
                    "(~/.cache/torch/hub/checkpoints or $TORCH_HOME/hub/checkpoints), or train from scratch (pretrained off)"
                ) from None
        else:
            base = mobilenet_v2(dropout=0.0)
            base.features[0][0] = nn.Conv2d(channels, 32, 3, stride=2, padding=1, bias=False)  # grey or colour input
            for module in base.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    he_uniform_(module)
                elif isinstance(module, nn.BatchNorm2d):
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)
        for module in base.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eps, module.momentum = BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM_TORCH
        self.features = base.features
        self.classifier = linear(1280, num_classes)
        self.frozen_blocks = 0
        if pretrained:
            self.frozen_blocks = max(0, len(self.features) - unfreeze_blocks)
            for block in self.features[: self.frozen_blocks]:
                block.requires_grad_(False)

    def train(self, mode: bool = True) -> MobileNetV2:
        # Frozen blocks stay in inference mode, as Keras' base_model(x, training=False) does:
        # their BatchNorm statistics are ImageNet's and must not drift.
        super().train(mode)
        for block in self.features[: self.frozen_blocks]:
            block.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def build(input_shape: tuple[int, int, int], num_classes: int, pretrained: bool = False, unfreeze_blocks: int = 0) -> nn.Module:
    return MobileNetV2(input_shape[2], num_classes, pretrained, unfreeze_blocks)
