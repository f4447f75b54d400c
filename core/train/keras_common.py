"""What every Keras 3 backend shares: optimiser, FLOPs, model description, parity, same-init.

Imported only in a worker, after the backend was chosen (``KERAS_BACKEND``, set from the
framework registry); nothing here names a backend. Each backend's trainer module supplies what
differs: the training step, synchronisation, memory counters and gradients.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from core.models.flops import attention_flops, conv_flops, dense_flops, elements, recurrent_flops
from core.models.registry import build_model
from core.train.loop import TrainerBase
from core.train.optim import OptimizerSettings

if TYPE_CHECKING:
    from core.spec import RunSpec

# (model, images, labels) -> (logits in inference mode, loss and gradients in training mode).
GradientFunction = Callable[[keras.Model, np.ndarray, np.ndarray], tuple[np.ndarray, float, list[np.ndarray]]]


def set_policy_and_seed(precision: str, seed: int) -> None:
    """Mixed bf16 (logits cast back to float32 by each trainer) or float32, and every random seed."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")
    keras.utils.set_random_seed(seed)


def make_optimizer(settings: OptimizerSettings) -> keras.optimizers.Optimizer:
    decay = settings.weight_decay or None
    if settings.name == "adam":
        return keras.optimizers.Adam(
            learning_rate=settings.learning_rate, beta_1=settings.beta_1, beta_2=settings.beta_2,
            epsilon=settings.epsilon, weight_decay=decay,
        )
    return keras.optimizers.SGD(
        learning_rate=settings.learning_rate, momentum=settings.momentum, nesterov=settings.nesterov, weight_decay=decay
    )


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer, with nested models (MobileNetV2's feature extractor) opened up."""
    layers: list[keras.layers.Layer] = []
    for layer in model.layers:
        layers.extend(all_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return layers


def count_flops(model: keras.Model) -> int:
    """Forward FLOPs for one image (see core.models.flops), from each layer's weights and output shape."""
    total = 0
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kernel_h, kernel_w = layer.kernel_size
            total += conv_flops(elements(layer.output.shape), 1, kernel_h, kernel_w)
        elif isinstance(layer, keras.layers.Conv2D):
            kernel_h, kernel_w, in_channels, _ = layer.kernel.shape
            total += conv_flops(elements(layer.output.shape), int(in_channels), kernel_h, kernel_w)
        elif isinstance(layer, keras.layers.Dense):
            total += dense_flops(elements(layer.output.shape), int(layer.kernel.shape[0]))
        elif isinstance(layer, keras.layers.MultiHeadAttention):
            tokens = int(layer.output.shape[1])
            total += attention_flops(tokens, tokens, int(layer.output.shape[-1]))
        elif isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
            kind = "lstm" if isinstance(layer, keras.layers.LSTM) else "gru"
            steps, features = (int(d) for d in layer.input.shape[1:])
            total += recurrent_flops(kind, steps, features, layer.units)
    return total


def parameter_counts(model: keras.Model) -> tuple[int, int]:
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    frozen = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
    return trainable, frozen


class KerasTrainerParts(TrainerBase):
    """What a Keras trainer builds and reports the same way on every backend (the base of each backend's trainer)."""

    model: keras.Model
    optimizer: keras.optimizers.Optimizer

    def build_model_and_optimizer(self, spec: RunSpec, num_classes: int, init_weights: str | None) -> None:
        """The model (from the reference framework's initial weights, for same-init) and its
        built optimiser; call within the backend's device scope."""
        self.model = build_model(self.framework, spec.architecture, self.input_shape, num_classes,
                                 pretrained=spec.pretrained, unfreeze_blocks=spec.unfreeze_blocks)
        if init_weights:
            load_initial_weights(self.model, init_weights)
        self.optimizer = make_optimizer(self.settings)
        self.optimizer.build(self.model.trainable_variables)

    def parameter_counts(self) -> tuple[int, int]:
        return parameter_counts(self.model)

    def flops_per_image(self) -> int | None:
        return count_flops(self.model)

    def describe_environment(self, framework_version: str, device_name: str, **details: Any) -> dict[str, Any]:
        return super().describe_environment(framework_version, device_name, **details,
                                            keras_version=keras.__version__, keras_backend=keras.backend.backend())


def describe_model(framework: str, framework_version: str, architecture: str, input_shape: tuple[int, int, int],
                   num_classes: int, seed: int) -> dict[str, Any]:
    """Parameter counts, FLOPs and per-layer initial weight statistics, for parity checks."""
    keras.utils.set_random_seed(seed)
    model = build_model(framework, architecture, input_shape, num_classes)
    layers = []
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            values, kind = keras.ops.convert_to_numpy(layer.kernel), "depthwise"
            fan_in, units = int(np.prod(values.shape[:2])), int(values.shape[2] * values.shape[3])
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            values = keras.ops.convert_to_numpy(layer.kernel)
            kind = "conv" if isinstance(layer, keras.layers.Conv2D) else "dense"
            fan_in, units = int(np.prod(values.shape[:-1])), int(values.shape[-1])
        else:
            continue
        bias = getattr(layer, "bias", None)
        layers.append({
            "kind": kind,
            "fan_in": fan_in,
            "units": units,
            "weight_max_abs": float(np.abs(values).max()),
            "weight_std": float(values.std()),
            "bias_max_abs": float(np.abs(keras.ops.convert_to_numpy(bias)).max()) if bias is not None else None,
        })
    summary = [
        {"layer": layer.name, "type": type(layer).__name__,
         "output_shape": [d if d is not None else 1 for d in layer.output.shape], "params": layer.count_params()}
        for layer in all_layers(model) if not isinstance(layer, keras.layers.InputLayer)
    ]
    return {
        "framework": framework,
        "framework_version": framework_version,
        "summary": summary,
        "architecture": architecture,
        "trainable_params": parameter_counts(model)[0],
        "flops_per_image": count_flops(model),
        "layers": layers,
    }


def parity_check(framework: str, gradients: GradientFunction, architecture: str, input_shape: tuple[int, int, int],
                 num_classes: int, reference: str) -> dict[str, Any]:
    """Load the reference framework's weights into the Keras model and compare the same batch."""
    from core.models.convert import load_torch_weights, torch_gradients_by_variable

    with np.load(reference, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    layout = json.loads(str(arrays.pop("layout")))
    model = build_model(framework, architecture, input_shape, num_classes)
    load_torch_weights(model, layout, arrays)
    logits_eval, loss, computed = gradients(model, arrays["images"], arrays["labels"].astype(np.int32))
    reference_gradients = torch_gradients_by_variable(model, layout, arrays)
    gradient_diffs, largest_gradient = [], 0.0
    for variable, grad in zip(model.trainable_weights, computed, strict=True):
        if variable.path in reference_gradients:
            expected = reference_gradients[variable.path]
            gradient_diffs.append(float(np.abs(np.asarray(grad) - expected).max()))
            largest_gradient = max(largest_gradient, float(np.abs(expected).max()))
    missing = [v.path for v in model.trainable_weights if v.path not in reference_gradients]
    trainable, frozen = parameter_counts(model)
    return {
        "framework": framework,
        "params": trainable,
        "non_trainable_params": frozen,
        "max_abs_logit_diff": float(np.abs(logits_eval - arrays["logits_eval"]).max()),
        "loss_diff": abs(float(loss) - float(arrays["loss"])),
        "max_abs_grad_diff": max(gradient_diffs) if gradient_diffs else None,
        # Relative to the model's largest gradient: some gradients are zero in exact arithmetic
        # (an attention key bias), so a per-weight ratio would compare rounding noise.
        "max_rel_grad_diff": max(gradient_diffs) / largest_gradient if gradient_diffs and largest_gradient else None,
        "weights_without_reference_gradient": missing,
    }


def load_initial_weights(model: keras.Model, path: str) -> None:
    """Start from the reference framework's initial weights (compare --same-init)."""
    from core.models.convert import load_torch_weights

    with np.load(path, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    load_torch_weights(model, json.loads(str(arrays.pop("layout"))), arrays)
