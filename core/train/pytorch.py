"""PyTorch side of a run: the Trainer the shared loop drives. Imported only in a worker."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np
import torch
from torch import nn

from core.errors import FrameworkUnavailable
from core.models.flops import attention_flops, conv_flops, dense_flops, elements, recurrent_flops
from core.models.registry import build_model
from core.modes import run_mode_label, torch_compile_mode
from core.train.measure import cpu_name, usable_cpu_count
from core.train.optim import OptimizerSettings


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise FrameworkUnavailable(
            f"device cuda was requested but PyTorch {torch.__version__} sees no GPU "
            f"(CUDA build: {torch.version.cuda or 'none'}); use device auto or cpu"
        )
    if requested in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", 0)
    return torch.device("cpu")


def make_optimizer(params: list[nn.Parameter], settings: OptimizerSettings) -> torch.optim.Optimizer:
    if settings.name == "adam":
        return torch.optim.AdamW(
            params, lr=settings.learning_rate, betas=(settings.beta_1, settings.beta_2),
            eps=settings.epsilon, weight_decay=settings.weight_decay,
        )
    # weight_decay=0 here: PyTorch's SGD decay is L2 on the gradient; the decoupled decay is
    # applied in train_step instead, as Keras does.
    return torch.optim.SGD(params, lr=settings.learning_rate, momentum=settings.momentum, nesterov=settings.nesterov)


def count_flops(model: nn.Module, input_shape: tuple[int, int, int], device: torch.device) -> int:
    """Forward FLOPs for one image (see core.models.flops), from the layers a forward pass runs."""
    total = 0

    def count(module: nn.Module, inputs: tuple, output: Any) -> None:
        nonlocal total
        out = output[0] if isinstance(output, tuple) else output
        if isinstance(module, nn.Conv2d):
            total += conv_flops(elements(out.shape), module.in_channels // module.groups, *module.kernel_size)
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


def to_nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def configure_torch(threads: int, seed: int, device_setting: str) -> torch.device:
    """Threads, seed and GPU arithmetic, set the same way for the harness and the minimal loop."""
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only once per process, before any inter-op work
        torch.set_num_interop_threads(threads)
    torch.manual_seed(seed)
    device = resolve_device(device_setting)
    if device.type == "cuda":
        # TensorFlow uses TF32 for matmuls and convolutions on Ampere and later by default;
        # PyTorch only for convolutions unless told. Match TensorFlow.
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.benchmark = True
    return device


class EpochBatches(torch.utils.data.Sampler):
    """The epoch's batches in the shared order, for a DataLoader whose worker processes persist
    across epochs (starting them every epoch would be measured as data time)."""

    def __init__(self, pin_memory: bool) -> None:
        self.batches: list[list[int]] = []
        self.dataset: torch.utils.data.Dataset | None = None
        self.pin_memory = pin_memory
        self._loader: torch.utils.data.DataLoader | None = None

    def set_order(self, order: np.ndarray, batch_size: int) -> None:
        steps = len(order) // batch_size
        self.batches = order[: steps * batch_size].reshape(steps, batch_size).tolist()

    def __iter__(self) -> Any:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def loader(self) -> torch.utils.data.DataLoader:
        if self._loader is None or self._loader.dataset is not self.dataset:
            workers = min(2, usable_cpu_count())
            self._loader = torch.utils.data.DataLoader(
                self.dataset, batch_sampler=self, num_workers=workers, pin_memory=self.pin_memory,
                persistent_workers=workers > 0,
            )
        return self._loader


class TorchTrainer:
    framework = "pytorch"

    def __init__(self, spec: Any, input_shape: tuple[int, int, int], num_classes: int,
                 train_labels: np.ndarray, threads: int) -> None:
        self.device = configure_torch(threads, spec.seed, spec.device)
        self.device_kind = self.device.type
        self.input_shape = input_shape
        self.batch_size = spec.batch_size
        self.model = build_model("pytorch", spec.architecture, input_shape, num_classes, pretrained=spec.pretrained,
                                 unfreeze_blocks=spec.unfreeze_blocks).to(self.device)
        # channels_last (NHWC in memory, as TensorFlow always uses) lets cuDNN and oneDNN pick
        # faster convolution kernels for some models; it is an option, measured like the others.
        self.memory_format = torch.channels_last if spec.channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.model.train()
        compile_mode = torch_compile_mode(spec.compile)
        self.forward = self.model if compile_mode is None else torch.compile(self.model, mode=compile_mode)
        self.mode = run_mode_label("pytorch", spec)
        self.bf16 = spec.precision == "bf16"
        self.settings = OptimizerSettings.from_spec(spec)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(self.params, self.settings)
        self.decoupled_sgd_decay = self.settings.name == "sgd" and self.settings.weight_decay > 0
        self.loss_fn = nn.CrossEntropyLoss()
        self.eval_loss_fn = nn.CrossEntropyLoss(reduction="sum")
        self.y_train = torch.from_numpy(train_labels.astype(np.int64)).to(self.device)
        self.x_train: torch.Tensor | None = None
        self.order: torch.Tensor | None = None
        self.loss_sum = torch.zeros((), device=self.device)
        self.correct = torch.zeros((), dtype=torch.int64, device=self.device)
        self.seen = 0
        self._eval_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.native_pipeline = spec.data_pipeline == "native"
        if self.native_pipeline:
            self.batches = EpochBatches(self.device_kind == "cuda")

    def _autocast(self) -> Any:
        return torch.autocast(self.device_kind, dtype=torch.bfloat16, enabled=self.bf16)

    def environment(self) -> dict[str, Any]:
        on_gpu = self.device_kind == "cuda"
        return {
            "framework": "pytorch",
            "framework_version": torch.__version__,
            "device": self.device_kind,
            "device_name": torch.cuda.get_device_name(self.device) if on_gpu else cpu_name(),
            "cuda_version": torch.version.cuda,
            "cudnn_version": torch.backends.cudnn.version() if on_gpu else None,
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "mode": self.mode,
            "precision": "bf16" if self.bf16 else "fp32",
            "optimizer": type(self.optimizer).__name__,
            "optimizer_settings": self.settings.as_dict(),
        }

    def parameter_counts(self) -> tuple[int, int]:
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in self.model.parameters() if not p.requires_grad)
        buffers = sum(b.numel() for name, b in self.model.named_buffers() if not name.endswith("num_batches_tracked"))
        return trainable, frozen + buffers

    def flops_per_image(self) -> int | None:
        return count_flops(self.model, self.input_shape, self.device)

    def load_training_images(self, images: np.ndarray) -> None:
        if self.native_pipeline:
            self.batches.dataset = torch.utils.data.TensorDataset(to_nchw(images), self.y_train.cpu())
        else:
            self.x_train = to_nchw(images).to(self.device)

    def start_epoch(self, order: np.ndarray) -> None:
        if self.native_pipeline:
            self.batches.set_order(order, self.batch_size)
            self.batch_iterator = iter(self.batches.loader())
        else:
            self.order = torch.from_numpy(order.astype(np.int64)).to(self.device)

    def _next_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.native_pipeline:
            images, labels = next(self.batch_iterator)
            return images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
        batch = self.batch_size
        indices = self.order[step * batch : (step + 1) * batch]
        return self.x_train.index_select(0, indices), self.y_train.index_select(0, indices)

    def train_step(self, step: int) -> None:
        batch = self.batch_size
        images, labels = self._next_batch(step)
        images = images.contiguous(memory_format=self.memory_format)
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            logits = self.forward(images)
        loss = self.loss_fn(logits.float(), labels)
        loss.backward()
        if self.decoupled_sgd_decay:
            with torch.no_grad():
                torch._foreach_mul_(self.params, 1.0 - self.settings.learning_rate * self.settings.weight_decay)
        self.optimizer.step()
        with torch.no_grad():
            self.loss_sum += loss.detach() * batch
            self.correct += (logits.argmax(dim=1) == labels).sum()
        self.seen += batch

    def synchronize(self) -> None:
        if self.device_kind == "cuda":
            torch.cuda.synchronize(self.device)

    def take_epoch_metrics(self) -> tuple[float, float]:
        seen = max(self.seen, 1)
        loss, correct = self.loss_sum.item() / seen, self.correct.item() / seen
        self.loss_sum.zero_()
        self.correct.zero_()
        self.seen = 0
        return loss, correct

    def _on_device(self, images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        key = id(images)
        if key not in self._eval_cache:
            self._eval_cache[key] = (to_nchw(images).to(self.device), torch.from_numpy(labels.astype(np.int64)).to(self.device))
        return self._eval_cache[key]

    def evaluate(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        x_all, y_all = self._on_device(images, labels)
        total_loss = torch.zeros((), device=self.device)
        hits = []
        self.model.eval()
        with torch.no_grad(), self._autocast():
            for start in range(0, len(y_all), self.batch_size):
                logits = self.forward(x_all[start : start + self.batch_size]).float()
                target = y_all[start : start + self.batch_size]
                total_loss += self.eval_loss_fn(logits, target)
                hits.append(logits.argmax(dim=1) == target)
        self.model.train()
        correct = torch.cat(hits).cpu().numpy() if hits else np.zeros(0, dtype=bool)
        return total_loss.item() / max(len(y_all), 1), correct

    def prepare_inference(self, images: np.ndarray) -> torch.Tensor:
        return to_nchw(images).to(self.device).contiguous(memory_format=self.memory_format)

    def infer(self, batch: torch.Tensor) -> None:
        self.model.eval()
        with torch.no_grad(), self._autocast():
            self.forward(batch)
        self.model.train()

    def reset_peak_memory(self) -> None:
        if self.device_kind == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def device_memory(self) -> tuple[int | None, int | None]:
        if self.device_kind != "cuda":
            return None, None
        return int(torch.cuda.max_memory_allocated(self.device)), int(torch.cuda.max_memory_reserved(self.device))


def is_out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, (torch.cuda.OutOfMemoryError, MemoryError)) or "out of memory" in text or "not enough memory" in text


def describe_model(architecture: str, input_shape: tuple[int, int, int], num_classes: int, seed: int) -> dict[str, Any]:
    """Parameter counts, FLOPs and per-layer initial weight statistics, for parity checks."""
    torch.manual_seed(seed)
    model = build_model("pytorch", architecture, input_shape, num_classes)
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

    def record(module: nn.Module, _inputs: Any, output: Any, name: str) -> None:
        first = output[0] if isinstance(output, tuple) else output  # recurrent layers return (output, state)
        summary.append({"layer": name, "type": type(module).__name__, "output_shape": list(first.shape),
                        "params": sum(p.numel() for p in module.parameters(recurse=False))})

    hooks = [module.register_forward_hook(lambda m, i, o, name=name: record(m, i, o, name))
             for name, module in model.named_modules() if name and not list(module.children())]
    height, width, channels = input_shape
    with torch.no_grad():
        model.eval()(torch.zeros(1, channels, height, width))
    for hook in hooks:
        hook.remove()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "framework": "pytorch",
        "framework_version": torch.__version__,
        "summary": summary,
        "architecture": architecture,
        "trainable_params": int(trainable),
        "flops_per_image": count_flops(model, input_shape, torch.device("cpu")),
        "layers": layers,
    }


def export_layout(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """The model's weights as numpy, with what core.models.convert needs to place them in Keras."""
    from core.models.convert import array_key

    flatten_inputs: dict[str, list[int]] = {}
    pending: list[int] | None = None

    def on_flatten(_module: nn.Module, inputs: tuple, _output: torch.Tensor) -> None:
        nonlocal pending
        pending = list(inputs[0].shape[1:]) if inputs[0].dim() == 4 else None

    def on_linear(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: tuple, _output: torch.Tensor) -> None:
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

    layout, arrays = [], {}
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


def gradient_arrays(model: nn.Module, layout: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    from core.models.convert import array_key

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
    model = build_model("pytorch", architecture, input_shape, num_classes, pretrained=pretrained)
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
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    buffers = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    return {"params": int(trainable), "non_trainable_params": int(frozen + buffers), "path": path}


def probe_devices() -> dict[str, Any]:
    """What this PyTorch build is and which GPUs it sees (for the System page)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {
        "framework": "pytorch",
        "framework_version": torch.__version__,
        "built_with_cuda": torch.version.cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(count)],
        "threads": torch.get_num_threads(),
    }


def preload() -> None:
    """Import, without running anything, what building a trainer would import (see core.worker.serve)."""
    import torch._dynamo  # noqa: F401  (torch.optim imports it on first use: seconds on a small CPU)


def create_trainer(spec: Any, input_shape: tuple[int, int, int], num_classes: int,
                   train_labels: np.ndarray, threads: int, init_weights: str | None = None) -> TorchTrainer:
    # init_weights were exported from this very model (same seed), so PyTorch needs nothing more.
    return TorchTrainer(spec, input_shape, num_classes, train_labels, threads)
