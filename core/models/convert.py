"""PyTorch weights into the matching Keras model: every layout conversion in one place.

The PyTorch side exports a *layout* (one entry per module that owns weights: its path, type
and what the conversion needs to know) and the arrays as numpy. Keras layers are found by name
(builders name them after the PyTorch module path, dots as double underscores) or, for plain
sequential stacks, by position. Only numpy is needed here; the Keras model is passed in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Layout = list[dict[str, Any]]
Arrays = dict[str, np.ndarray]


def array_key(entry_name: str, parameter: str, prefix: str = "p") -> str:
    return f"{prefix}::{entry_name}::{parameter}"


def _get(arrays: Arrays, entry: dict[str, Any], parameter: str, prefix: str) -> np.ndarray | None:
    return arrays.get(array_key(entry["name"], parameter, prefix))


def _gru_order(matrix: np.ndarray) -> np.ndarray:
    """PyTorch stacks GRU gates as (reset, update, new); Keras as (update, reset, new)."""
    reset, update, new = np.split(matrix, 3, axis=0)
    return np.concatenate([update, reset, new], axis=0)


def convert_entry(entry: dict[str, Any], arrays: Arrays, prefix: str = "p") -> list[np.ndarray | None]:
    """Arrays for the Keras layer's weights, in the order of ``layer.weights``.

    With ``prefix="g"`` the same conversion applies to gradients; a missing array (a frozen
    parameter has no gradient) converts to None, or counts as zero where it is summed with another.
    The kernels a layout entry is made of are required: without one, the entry cannot be converted.
    """
    kind, meta = entry["kind"], entry.get("meta", {})

    def get(name: str) -> np.ndarray | None:
        return _get(arrays, entry, name, prefix)

    def need(name: str) -> np.ndarray:
        value = get(name)
        if value is None:
            raise ValueError(f"no array {array_key(entry['name'], name, prefix)!r} for PyTorch {kind}")
        return value

    if kind == "Conv2d":
        # Depthwise (C, 1, kh, kw) -> (kh, kw, C, 1); otherwise (out, in, kh, kw) -> (kh, kw, in, out).
        depthwise = meta.get("groups", 1) > 1
        kernel = need("weight").transpose(2, 3, 0, 1) if depthwise else need("weight").transpose(2, 3, 1, 0)
        return [kernel] + ([get("bias")] if meta.get("has_bias") else [])
    if kind in ("Linear", "NonDynamicallyQuantizableLinear"):
        kernel = need("weight").T
        if meta.get("flatten_from"):
            # PyTorch flattens (C, H, W), Keras (H, W, C): reorder the rows to match.
            channels, height, width = meta["flatten_from"]
            kernel = kernel.reshape(channels, height, width, -1).transpose(1, 2, 0, 3).reshape(kernel.shape)
        return [kernel] + ([get("bias")] if meta.get("has_bias") else [])
    if kind == "BatchNorm2d":
        return [get("weight"), get("bias"), get("running_mean"), get("running_var")]
    if kind == "LayerNorm":
        return [get("weight"), get("bias")]
    if kind == "LSTM":
        # Same gate order (input, forget, cell, output); Keras keeps one bias, the sum of both.
        # The recurrent bias is frozen (see torch_recurrent), so it has no gradient.
        input_bias, recurrent_bias = get("bias_ih_l0"), get("bias_hh_l0")
        if input_bias is None or recurrent_bias is None:
            bias = input_bias if recurrent_bias is None else recurrent_bias
        else:
            bias = input_bias + recurrent_bias
        return [need("weight_ih_l0").T, need("weight_hh_l0").T, bias]
    if kind == "GRU":
        return [_gru_order(need("weight_ih_l0")).T, _gru_order(need("weight_hh_l0")).T,
                np.stack([_gru_order(need("bias_ih_l0")), _gru_order(need("bias_hh_l0"))])]
    if kind == "MultiheadAttention":
        dim, heads = meta["embed_dim"], meta["num_heads"]
        head_dim = dim // heads
        weights, biases = np.split(need("in_proj_weight"), 3), np.split(need("in_proj_bias"), 3)
        converted: list[np.ndarray | None] = []
        for weight, bias in zip(weights, biases, strict=True):  # query, key, value
            converted += [weight.T.reshape(dim, heads, head_dim), bias.reshape(heads, head_dim)]
        out_weight = need("out_proj.weight")
        converted += [out_weight.T.reshape(heads, head_dim, dim), get("out_proj.bias")]
        return converted
    if kind == "parameters":  # loose parameters of a module (class token, position embedding)
        return [get(name) for name in meta["order"]]
    raise ValueError(f"no conversion for PyTorch {kind} ({entry['name']})")


def keras_name(module_path: str) -> str:
    """The Keras layer name for a PyTorch module path: builders name layers with it, so that
    weights can be matched by name."""
    return module_path.replace(".", "__")


def _weighted_layers(model: Any) -> list[Any]:
    """Layers that own weights, with nested models (a feature extractor inside) opened up."""
    layers: list[Any] = []
    for layer in model.layers:
        if hasattr(layer, "layers"):
            layers.extend(_weighted_layers(layer))
        elif layer.weights:
            layers.append(layer)
    return layers


def match_layers(model: Any, layout: Layout) -> list[tuple[dict[str, Any], Any]]:
    """Pair each layout entry with its Keras layer: by name where names agree, else by position."""
    layers = _weighted_layers(model)
    by_name = {layer.name: layer for layer in layers}
    by_weight_names = {tuple(w.name for w in layer.weights): layer for layer in layers}
    pairs: list[tuple[dict[str, Any], Any]] = []
    unmatched = list(layers)
    for entry in layout:
        layer = by_name.get(keras_name(entry["name"]))
        if layer is None and entry["kind"] == "parameters":
            layer = by_weight_names.get(tuple(entry["meta"]["order"]))
        if layer is None:
            layer = unmatched[0] if unmatched else None
        if layer is None:
            raise ValueError(f"no Keras layer left for PyTorch module {entry['name']!r}")
        unmatched.remove(layer)
        pairs.append((entry, layer))
    if unmatched:
        raise ValueError(f"Keras layers without a PyTorch counterpart: {[layer.name for layer in unmatched]}")
    return pairs


def load_torch_weights(model: Any, layout: Layout, arrays: Arrays) -> None:
    """Set every Keras weight from the PyTorch arrays; shapes must agree exactly."""
    for entry, layer in match_layers(model, layout):
        converted = convert_entry(entry, arrays)
        values = [value for value in converted if value is not None]
        if len(values) != len(converted):
            raise ValueError(f"PyTorch {entry['name']} ({entry['kind']}) lacks weights that Keras {layer.name} needs")
        current = layer.get_weights()
        if len(values) != len(current) or any(v.shape != c.shape for v, c in zip(values, current, strict=False)):
            raise ValueError(
                f"PyTorch {entry['name']} ({entry['kind']}) does not fit Keras {layer.name}: "
                f"{[v.shape for v in values]} vs {[c.shape for c in current]}"
            )
        layer.set_weights(values)


def torch_gradients_by_variable(model: Any, layout: Layout, arrays: Arrays) -> dict[str, np.ndarray]:
    """PyTorch gradients in Keras layout, keyed by the Keras variable's path."""
    converted = {}
    for entry, layer in match_layers(model, layout):
        for variable, value in zip(layer.weights, convert_entry(entry, arrays, prefix="g"), strict=True):
            if value is not None and variable.trainable:
                converted[variable.path] = value
    return converted
