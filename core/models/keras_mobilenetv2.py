"""MobileNetV2 in Keras, layer for layer as torchvision's, with keras.applications' layer names.

Stride-2 depthwise convolutions pad one pixel on every side as PyTorch does (keras.applications
pads bottom/right only), so from the same weights both give the same outputs. With
``pretrained``, the ImageNet weights come from keras.applications' own download and cache and
are copied in layer by layer; the base is frozen and called with training=False.
"""

from __future__ import annotations

import keras

from core.errors import FrameworkUnavailable
from core.models.keras_layers import INIT, batch_norm, classifier

# (expansion, output channels, repeats, first stride): the standard width-1.0 network.
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
LAST_CHANNELS = 1280
# A depthwise kernel has one input channel per filter; Keras' he_uniform would count all of
# them in the fan-in, so the limit is set from the 3x3 window alone, as PyTorch computes it.
DEPTHWISE_INIT = keras.initializers.RandomUniform(-(6.0 / 9) ** 0.5, (6.0 / 9) ** 0.5)


def _conv(filters: int, name: str) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=INIT["kernel_initializer"], name=name)


def _depthwise(x: keras.KerasTensor, stride: int, name: str) -> keras.KerasTensor:
    if stride == 2:
        x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return keras.layers.DepthwiseConv2D(3, strides=stride, padding="valid" if stride == 2 else "same", use_bias=False,
                                        depthwise_initializer=DEPTHWISE_INIT, name=name)(x)


def _relu6(x: keras.KerasTensor) -> keras.KerasTensor:
    return keras.layers.ReLU(6.0)(x)


def feature_extractor(input_shape: tuple[int, int, int]) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.ZeroPadding2D(1, name="Conv1_pad")(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, use_bias=False, kernel_initializer=INIT["kernel_initializer"], name="Conv1")(x)
    x = _relu6(batch_norm("bn_Conv1")(x))
    channels, block = 32, 0
    for expansion, filters, repeats, first_stride in SETTINGS:
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            prefix = f"block_{block}_" if block else "expanded_conv_"
            shortcut = x
            if expansion != 1:
                x = _relu6(batch_norm(f"{prefix}expand_BN")(_conv(channels * expansion, f"{prefix}expand")(x)))
            x = _relu6(batch_norm(f"{prefix}depthwise_BN")(_depthwise(x, stride, f"{prefix}depthwise")))
            x = batch_norm(f"{prefix}project_BN")(_conv(filters, f"{prefix}project")(x))
            if stride == 1 and channels == filters:
                x = keras.layers.Add(name=f"{prefix}add")([shortcut, x])
            channels, block = filters, block + 1
    x = _relu6(batch_norm("Conv_1_bn")(_conv(LAST_CHANNELS, "Conv_1")(x)))
    return keras.Model(inputs, x, name="mobilenetv2_features")


def load_imagenet_weights(features: keras.Model, input_shape: tuple[int, int, int]) -> None:
    try:
        reference = keras.applications.MobileNetV2(input_shape=input_shape, include_top=False, weights="imagenet")
    except Exception as error:  # no network and no cached file
        raise FrameworkUnavailable(
            f"keras.applications' ImageNet weights for MobileNetV2 could not be loaded ({error}); put "
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5 in Keras' cache "
            "(~/.keras/models or $KERAS_HOME/models), or train from scratch (pretrained off)"
        ) from None
    ours = [layer for layer in features.layers if layer.weights]
    theirs = [layer for layer in reference.layers if layer.weights]
    for mine, source in zip(ours, theirs, strict=True):
        mine.set_weights(source.get_weights())


def build(input_shape: tuple[int, int, int], num_classes: int, pretrained: bool = False, unfreeze_blocks: int = 0) -> keras.Model:
    features = feature_extractor(input_shape)
    inputs = keras.Input(shape=input_shape)
    if pretrained:
        load_imagenet_weights(features, input_shape)
        blocks = block_boundaries(features)
        trainable_from = len(blocks) - unfreeze_blocks
        for index, layers in enumerate(blocks):
            for layer in layers:
                layer.trainable = index >= trainable_from
    # A frozen BatchNormalization layer runs in inference mode in Keras 3, as the frozen
    # PyTorch blocks are kept in eval mode.
    x = keras.layers.GlobalAveragePooling2D()(features(inputs))
    return keras.Model(inputs, classifier(num_classes, name="classifier")(x), name="mobilenetv2")


def _block_key(name: str) -> str | None:
    if name.startswith(("Conv1", "bn_Conv1")):
        return "stem"
    if name.startswith("Conv_1"):
        return "last"
    if name.startswith("expanded_conv"):
        return "block_0"
    if name.startswith("block_"):
        return "_".join(name.split("_")[:2])
    return None  # activations and padding belong to the block they sit in


def block_boundaries(features: keras.Model) -> list[list[keras.layers.Layer]]:
    """Layers grouped as torchvision's features[i]: stem, 17 inverted residual blocks, last conv."""
    groups: list[list[keras.layers.Layer]] = []
    current = None
    for layer in features.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        key = _block_key(layer.name) or current
        if key != current:
            groups.append([])
            current = key
        groups[-1].append(layer)
    return groups
