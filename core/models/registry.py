"""Architectures and the inputs they accept. Framework-free: safe to import in the dashboard.

Adding an architecture takes one line here plus ``torch_<name>.py`` and ``keras_<name>.py``
beside this file, each defining ``build(input_shape, num_classes)``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from core.errors import BadInput

# One initialisation scheme for both frameworks, set explicitly in every layer: He (Kaiming)
# uniform weights with fan-in scaling, U(-sqrt(6/fan_in), sqrt(6/fan_in)), and zero biases.
# PyTorch's default (kaiming_uniform with a=sqrt(5), plus random biases) and Keras' default
# (glorot_uniform) differ, so neither default is used.
INIT_SCHEME = "he_uniform weights (fan_in), zero biases"


@dataclass(frozen=True)
class Architecture:
    name: str
    description: str
    min_input_size: int
    max_input_size: int = 512
    pretrained_available: bool = False

    def module_name(self, framework: str) -> str:
        from core.frameworks import get

        return f"core.models.{get(framework).model_family}_{self.name}"


ARCHITECTURES = {
    arch.name: arch
    for arch in (
        Architecture("mlp", "flatten -> dense 256 -> dense 128 -> classes (ReLU)", min_input_size=4),
        Architecture(
            "cnn",
            "conv 32 3x3 -> max-pool -> conv 64 3x3 -> max-pool -> flatten -> dense 64 -> classes",
            min_input_size=4,
        ),
        Architecture(
            "lenet5",
            "conv 6 5x5 (same) -> max-pool -> conv 16 5x5 -> max-pool -> 120 -> 84 -> classes",
            min_input_size=12,
        ),
        Architecture("resnet18", "CIFAR-style ResNet-18: 3x3 stem, no max-pool, basic blocks [2, 2, 2, 2]", min_input_size=8),
        Architecture("mobilenetv2", "MobileNetV2 (width 1.0), global average pooling, dense head", min_input_size=32,
                     pretrained_available=True),
        Architecture("lstm", "image rows as a sequence -> LSTM 128 -> last state -> classes", min_input_size=2),
        Architecture("gru", "image rows as a sequence -> GRU 128 -> last state -> classes", min_input_size=2),
        Architecture("vit", "vision transformer: 4x4 patches, dim 64, 4 pre-norm blocks of 4 heads, class token",
                     min_input_size=8),
    )
}


def validate_architecture_name(name: str) -> None:
    if name not in ARCHITECTURES:
        raise BadInput(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}", "architecture")


def check_input_shape(name: str, input_shape: tuple[int, ...]) -> None:
    """Refuse an input the architecture cannot take, naming the size it needs."""
    validate_architecture_name(name)
    arch = ARCHITECTURES[name]
    if len(input_shape) != 3 or input_shape[2] not in (1, 3):
        raise BadInput(f"{name} takes images of shape HxWxC with C 1 or 3 (got {input_shape})", "input_shape")
    height, width = input_shape[0], input_shape[1]
    if min(height, width) < arch.min_input_size:
        raise BadInput(
            f"{name} needs images of at least {arch.min_input_size}x{arch.min_input_size} "
            f"(got {height}x{width}); set image_size to {arch.min_input_size} or more to upsample explicitly",
            "image_size",
        )
    if max(height, width) > arch.max_input_size:
        raise BadInput(
            f"{name} takes images of at most {arch.max_input_size}x{arch.max_input_size} (got {height}x{width})",
            "image_size",
        )


def check_pretrained(name: str, input_shape: tuple[int, ...], pretrained: bool) -> None:
    if not pretrained:
        return
    with_weights = [a.name for a in ARCHITECTURES.values() if a.pretrained_available]
    if not ARCHITECTURES[name].pretrained_available:
        raise BadInput(f"pretrained weights exist only for {', '.join(with_weights)}, not {name}", "pretrained")
    if input_shape[2] != 3:
        raise BadInput(f"pretrained {name} takes colour (3-channel) images, got {input_shape[2]} channel(s)", "pretrained")


def build_model(framework: str, name: str, input_shape: tuple[int, int, int], num_classes: int,
                pretrained: bool = False, unfreeze_blocks: int = 0) -> Any:
    """Import the framework's module for ``name`` and build the model (call only in a worker)."""
    check_input_shape(name, input_shape)
    check_pretrained(name, input_shape, pretrained)
    module = importlib.import_module(ARCHITECTURES[name].module_name(framework))
    if pretrained:
        return module.build(input_shape, num_classes, pretrained=True, unfreeze_blocks=unfreeze_blocks)
    return module.build(input_shape, num_classes)
