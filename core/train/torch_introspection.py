"""What the worker learns about a PyTorch model without training it: parameter counts, FLOPs,
the description the Models page shows, and the parity reference (weights laid out for
core.models.convert, plus one batch's logits, loss and gradients). Imported only in a worker.

core/train/pytorch.py trains; it offers ``describe_model`` and ``parity_reference`` to the worker
from here (see core/train/backend.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from core import frameworks
from core.models.convert import Arrays, Layout, array_key
from core.models.flops import attention_flops, conv_flops, dense_flops, elements, recurrent_flops
from core.models.registry import build_model

FRAMEWORK = frameworks.PYTORCH.name

Hook = Callable[[nn.Module, tuple[Any, ...], Any], None]


def to_nchw(images: np.ndarray) -> torch.Tensor:
    """NHWC images (the shared format, and TensorFlow's) as the NCHW tensor PyTorch models take."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """Trainable parameters, and the rest: frozen parameters plus buffers (BatchNorm statistics,
    as Keras counts them among its non-trainable weights; not the batch counter it lacks)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    buffers = sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
    return trainable, frozen + buffers


def count_flops(model: nn.Module, input_shape: tuple[int, int, int], device: torch.device) -> int:
    """Forward FLOPs for one image (see core.models.flops), from the layers a forward pass runs."""
    total = 0

    def count(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        nonlocal total
        out = output[0] if isinstance(output, tuple) else output
        if isinstance(module, nn.Conv2d):
            kernel_h, kernel_w = module.kernel_size
            total += conv_flops(elements(out.shape), module.in_channels // module.groups, kernel_h, kernel_w)
        elif isinstance(module, nn.Linear):
            total += dense_flops(elements(out.shape), module.in_features)
        elif isinstance(module, nn.MultiheadAttention):
            total += attention_flops(inputs[0].shape[1], inputs[1].shape[1], module.embed_dim)
        elif isinstance(module, (nn.LSTM, nn.GRU)):
            kind = "lstm" if isinstance(module, nn.LSTM) else "gru"
            total += recurrent_flops(kind, inputs[0].shape[1], module.input_size, module.hidden_size)

    counted = (nn.Conv2d, nn.Linear, nn.MultiheadAttention, nn.LSTM, nn.GRU)
    # MultiheadAttention calls its output projection functionally, so it is counted once.
    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, counted)]
    height, width, channels = input_shape
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, channels, height, width, device=device))
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    return total


def describe_model(architecture: str, input_shape: tuple[int, int, int], num_classes: int, seed: int) -> dict[str, Any]:
    """Parameter counts, FLOPs and per-layer initial weight statistics, for parity checks."""
    torch.manual_seed(seed)
    model = build_model(FRAMEWORK, architecture, input_shape, num_classes)
    layers = []
    for module in model.modules():
        # The attention block's output projection is initialised with the attention (Glorot).
        if isinstance(module, nn.modules.linear.NonDynamicallyQuantizableLinear):
            continue
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            values = module.weight.detach().numpy()
            depthwise = isinstance(module, nn.Conv2d) and module.groups > 1
            layers.append({
                "kind": "depthwise" if depthwise else ("conv" if isinstance(module, nn.Conv2d) else "dense"),
                "fan_in": int(np.prod(values.shape[1:])),
                "units": int(values.shape[0]),
                "weight_max_abs": float(np.abs(values).max()),
                "weight_std": float(values.std()),
                "bias_max_abs": float(module.bias.detach().abs().max()) if module.bias is not None else None,
            })
    summary = []

    def recorder(name: str) -> Hook:
        def record(module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> None:
            first = output[0] if isinstance(output, tuple) else output  # recurrent layers return (output, state)
            summary.append({"layer": name, "type": type(module).__name__, "output_shape": list(first.shape),
                            "params": sum(p.numel() for p in module.parameters(recurse=False))})
        return record

    hooks = [module.register_forward_hook(recorder(name))
             for name, module in model.named_modules() if name and not list(module.children())]
    height, width, channels = input_shape
    with torch.no_grad():
        model.eval()(torch.zeros(1, channels, height, width))
    for hook in hooks:
        hook.remove()
    return {
        "framework": FRAMEWORK,
        "framework_version": torch.__version__,
        "summary": summary,
        "architecture": architecture,
        "trainable_params": parameter_counts(model)[0],
        "flops_per_image": count_flops(model, input_shape, torch.device("cpu")),
        "layers": layers,
    }


def export_layout(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[Layout, Arrays]:
    """The model's weights as numpy, with what core.models.convert needs to place them in Keras."""
    flatten_inputs: dict[str, list[int]] = {}
    pending: list[int] | None = None

    def on_flatten(_module: nn.Module, inputs: tuple[Any, ...], _output: torch.Tensor) -> None:
        nonlocal pending
        pending = list(inputs[0].shape[1:]) if inputs[0].dim() == 4 else None

    def on_linear(name: str) -> Hook:
        def hook(_module: nn.Module, _inputs: tuple[Any, ...], _output: torch.Tensor) -> None:
            nonlocal pending
            if pending is not None:
                flatten_inputs[name] = pending
            pending = None
        return hook

    hooks = [m.register_forward_hook(on_flatten) for m in model.modules() if isinstance(m, nn.Flatten)]
    hooks += [m.register_forward_hook(on_linear(n)) for n, m in model.named_modules() if type(m) is nn.Linear]
    height, width, channels = input_shape
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, channels, height, width))
    for hook in hooks:
        hook.remove()

    layout: Layout = []
    arrays: Arrays = {}
    attention_prefixes = [n + "." for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]
    for name, module in model.named_modules():
        if any(name.startswith(prefix) for prefix in attention_prefixes):
            continue  # part of an attention block, exported with it
        recurse = isinstance(module, nn.MultiheadAttention)
        owned = dict(module.named_parameters(recurse=recurse))
        owned.update((n, b) for n, b in module.named_buffers(recurse=recurse) if not n.endswith("num_batches_tracked"))
        if not owned:
            continue
        kind = type(module).__name__
        meta: dict[str, Any] = {}
        if isinstance(module, nn.Conv2d):
            meta = {"groups": module.groups, "has_bias": module.bias is not None}
        elif isinstance(module, nn.Linear):
            meta = {"has_bias": module.bias is not None, "flatten_from": flatten_inputs.get(name)}
        elif isinstance(module, nn.MultiheadAttention):
            meta = {"embed_dim": module.embed_dim, "num_heads": module.num_heads}
        elif not isinstance(module, (nn.BatchNorm2d, nn.LayerNorm, nn.LSTM, nn.GRU)):
            kind, meta = "parameters", {"order": list(owned)}
        layout.append({"name": name, "kind": kind, "meta": meta})
        for parameter, value in owned.items():
            # A copy: numpy() shares memory, and the audit's training-mode pass updates BatchNorm statistics.
            arrays[array_key(name, parameter)] = value.detach().cpu().numpy().copy()
    return layout, arrays


def gradient_arrays(model: nn.Module, layout: Layout) -> Arrays:
    """The gradients of the exported parameters, keyed as core.models.convert reads them."""
    modules = dict(model.named_modules())
    grads = {}
    for entry in layout:
        module = modules[entry["name"]]
        recurse = isinstance(module, nn.MultiheadAttention)
        for parameter, value in module.named_parameters(recurse=recurse):
            if value.grad is not None:
                grads[array_key(entry["name"], parameter, "g")] = value.grad.detach().cpu().numpy()
    return grads


def parity_reference(architecture: str, input_shape: tuple[int, int, int], num_classes: int, seed: int,
                     batch: int, path: str, with_forward: bool = True, pretrained: bool = False) -> dict[str, Any]:
    """Build the PyTorch model, save its initial weights and (for the audit) one batch's
    logits, loss and gradients, for the Keras side to reproduce."""
    torch.manual_seed(seed)
    model = build_model(FRAMEWORK, architecture, input_shape, num_classes, pretrained=pretrained)
    layout, arrays = export_layout(model, input_shape)
    payload: dict[str, Any] = {"layout": np.array(json.dumps(layout)), **arrays}
    if with_forward:
        rng = np.random.default_rng(seed)
        images = rng.standard_normal((batch, *input_shape)).astype(np.float32)
        labels = rng.integers(0, num_classes, size=batch)
        inputs = to_nchw(images)
        model.eval()
        with torch.no_grad():
            logits_eval = model(inputs).numpy()
        model.train()
        loss = nn.functional.cross_entropy(model(inputs), torch.from_numpy(labels))
        loss.backward()
        payload.update(images=images, labels=labels, logits_eval=logits_eval, loss=np.array(float(loss)),
                       **gradient_arrays(model, layout))
    np.savez(path, **payload)
    trainable, non_trainable = parameter_counts(model)
    return {"params": trainable, "non_trainable_params": non_trainable, "path": path}
