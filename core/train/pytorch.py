"""PyTorch side of a run: the Trainer the shared loop drives. Imported only in a worker.

What the worker asks of a model without training it (its description, the parity reference)
lives in core/train/torch_introspection.py and is offered from here under the same names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from core.errors import FrameworkUnavailable
from core.models.registry import build_model
from core.modes import torch_compile_mode
from core.train.loop import EvaluationCache, TrainerBase, batch_grid
from core.train.measure import cpu_name, usable_cpu_count
from core.train.optim import OptimizerSettings
from core.train.torch_introspection import count_flops, parameter_counts, to_nchw
from core.train.torch_introspection import describe_model as describe_model
from core.train.torch_introspection import parity_reference as parity_reference

if TYPE_CHECKING:
    from core.spec import RunSpec


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


class EpochBatches(torch.utils.data.Sampler[list[int]]):
    """The epoch's batches in the shared order, for a DataLoader whose worker processes persist
    across epochs (starting them every epoch would be measured as data time)."""

    def __init__(self, pin_memory: bool) -> None:
        self.batches: list[list[int]] = []
        self.dataset: torch.utils.data.Dataset[tuple[torch.Tensor, ...]] | None = None
        self.pin_memory = pin_memory
        self._loader: torch.utils.data.DataLoader[tuple[torch.Tensor, ...]] | None = None

    def set_order(self, order: np.ndarray, batch_size: int) -> None:
        self.batches = batch_grid(order, batch_size).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def loader(self) -> torch.utils.data.DataLoader[tuple[torch.Tensor, ...]]:
        if self.dataset is None:
            raise RuntimeError("load_training_images comes before start_epoch")
        if self._loader is None or self._loader.dataset is not self.dataset:
            workers = min(2, usable_cpu_count())
            self._loader = torch.utils.data.DataLoader(
                self.dataset, batch_sampler=self, num_workers=workers, pin_memory=self.pin_memory,
                persistent_workers=workers > 0,
            )
        return self._loader


class TorchTrainer(TrainerBase):
    framework = "pytorch"

    def __init__(self, spec: RunSpec, input_shape: tuple[int, int, int], num_classes: int,
                 train_labels: np.ndarray, threads: int) -> None:
        self.device = configure_torch(threads, spec.seed, spec.device)
        self.device_kind = self.device.type
        super().__init__(spec, input_shape)
        self.model = build_model("pytorch", spec.architecture, input_shape, num_classes, pretrained=spec.pretrained,
                                 unfreeze_blocks=spec.unfreeze_blocks).to(self.device)
        # channels_last (NHWC in memory, as TensorFlow always uses) lets cuDNN and oneDNN pick
        # faster convolution kernels for some models; it is an option, measured like the others.
        self.memory_format = torch.channels_last if spec.channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.model.train()
        compile_mode = torch_compile_mode(spec.compile)
        self.forward = self.model if compile_mode is None else torch.compile(self.model, mode=compile_mode)
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
        self._evaluation_arrays = EvaluationCache(self._put_evaluation_arrays)
        self.native_pipeline = spec.data_pipeline == "native"
        if self.native_pipeline:
            self.batches = EpochBatches(self.device_kind == "cuda")

    def _autocast(self) -> Any:
        return torch.autocast(self.device_kind, dtype=torch.bfloat16, enabled=self.bf16)

    def environment(self) -> dict[str, Any]:
        on_gpu = self.device_kind == "cuda"
        return self.describe_environment(
            torch.__version__,
            torch.cuda.get_device_name(self.device) if on_gpu else cpu_name(),
            cuda_version=torch.version.cuda,
            cudnn_version=torch.backends.cudnn.version() if on_gpu else None,
            threads=torch.get_num_threads(),
            interop_threads=torch.get_num_interop_threads(),
            float32_matmul_precision=torch.get_float32_matmul_precision(),
        )

    def parameter_counts(self) -> tuple[int, int]:
        return parameter_counts(self.model)

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
        if self.x_train is None or self.order is None:
            raise RuntimeError("load_training_images and start_epoch come before train_step")
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
        means = self.epoch_means(float(self.loss_sum.item()), int(self.correct.item()))
        self.loss_sum.zero_()
        self.correct.zero_()
        return means

    def _put_evaluation_arrays(self, images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return to_nchw(images).to(self.device), torch.from_numpy(labels.astype(np.int64)).to(self.device)

    def evaluate(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        # The loss is summed on the device and read once; the Keras trainers read it per batch.
        x_all, y_all = self._evaluation_arrays(images, labels)
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
    """Import, without running anything, what building a trainer would import (see core.engine.worker.serve)."""
    import torch._dynamo  # noqa: F401  (torch.optim imports it on first use: seconds on a small CPU)


def create_trainer(spec: RunSpec, input_shape: tuple[int, int, int], num_classes: int,
                   train_labels: np.ndarray, threads: int, init_weights: str | None = None) -> TorchTrainer:
    # init_weights were exported from this very model (same seed), so PyTorch needs nothing more.
    return TorchTrainer(spec, input_shape, num_classes, train_labels, threads)
