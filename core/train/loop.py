"""The training and benchmark loops, written once for every framework.

A framework module supplies a ``Trainer`` (device transfers, one training step, evaluation,
synchronisation, memory counters); everything that decides *what* is measured and *when* the
clock runs lives here, so the frameworks are timed by the very same code. What the trainers
would otherwise each repeat (the settings they take from the spec, the epoch's means, the
environment they report, the batch grid, the evaluation cache) is here too: ``TrainerBase``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np

from core.correctness import pack_correct
from core.data.augment import augment_epoch
from core.data.order import epoch_order, steps_per_epoch, warmup_steps
from core.data.prepare import PreparedData
from core.modes import run_mode_label
from core.records import StepSample
from core.train.energy import EnergyMeter, energy_counter
from core.train.measure import NvmlSampler, peak_rss_bytes, percentile
from core.train.optim import OptimizerSettings

if TYPE_CHECKING:
    from core.spec import RunSpec

Clock = Callable[[], float]
Emit = Callable[..., None]
PROGRESS_INTERVAL_SECONDS = 0.5
# On a GPU, synchronising after every step would serialise the host and the device and measure
# launch latency instead of throughput; a window of steps is timed between two synchronisations.
GPU_WINDOW_STEPS = 20
# Latency and throughput at inference, half each; repeats add samples of their own.
INFERENCE_BUDGET_SECONDS = 0.5


class Cancelled(Exception):
    """The run was asked to stop."""


class Trainer(Protocol):
    framework: str
    mode: str
    device_kind: str

    def environment(self) -> dict[str, Any]: ...
    def parameter_counts(self) -> tuple[int, int]: ...
    def flops_per_image(self) -> int | None: ...
    def load_training_images(self, images: np.ndarray) -> None: ...
    def start_epoch(self, order: np.ndarray) -> None: ...
    def train_step(self, step: int) -> None: ...
    def synchronize(self) -> None: ...
    def take_epoch_metrics(self) -> tuple[float, float]: ...
    def evaluate(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean loss and, per image, whether the prediction was right."""
    def prepare_inference(self, images: np.ndarray) -> Any: ...
    def infer(self, batch: Any) -> None: ...
    def reset_peak_memory(self) -> None: ...
    def device_memory(self) -> tuple[int | None, int | None]: ...


class TrainerBase:
    """What every framework's trainer keeps and reports alike; each backend's trainer derives from it.

    The loss sum and the count of right predictions stay on the device during an epoch (reading
    them would synchronise every step); ``seen`` counts the images, and ``epoch_means`` turns the
    sums, once read, into the epoch's figures.
    """

    framework: str
    device_kind: str
    optimizer: Any  # the framework's optimiser: only its class name is read here

    def __init__(self, spec: RunSpec, input_shape: tuple[int, int, int]) -> None:
        self.input_shape = input_shape
        self.batch_size = spec.batch_size
        self.bf16 = spec.precision == "bf16"
        self.mode = run_mode_label(self.framework, spec)
        self.settings = OptimizerSettings.from_spec(spec)
        self.seen = 0

    def epoch_means(self, loss_sum: float, correct: int) -> tuple[float, float]:
        """Mean training loss and accuracy of the epoch from its sums; the next epoch counts from zero."""
        seen = max(self.seen, 1)
        self.seen = 0
        return loss_sum / seen, correct / seen

    def describe_environment(self, framework_version: str, device_name: str, **details: Any) -> dict[str, Any]:
        """The ``environment`` a run records: the framework and device, the backend's ``details``
        (CUDA, threads and the like), then how the run executes."""
        return {
            "framework": self.framework,
            "framework_version": framework_version,
            "device": self.device_kind,
            "device_name": device_name,
            # Which machine: the verdict compares timings and memory only between runs of one.
            "hostname": socket.gethostname(),
            **details,
            "mode": self.mode,
            "precision": "bf16" if self.bf16 else "fp32",
            "optimizer": type(self.optimizer).__name__,
            "optimizer_settings": self.settings.as_dict(),
        }


def batch_grid(order: np.ndarray, batch_size: int) -> np.ndarray:
    """The epoch's order as one row of int32 indices per step, full batches only (see steps_per_epoch)."""
    steps = steps_per_epoch(len(order), batch_size)
    return order[: steps * batch_size].astype(np.int32).reshape(steps, batch_size)


DeviceArrays = TypeVar("DeviceArrays")


class EvaluationCache(Generic[DeviceArrays]):
    """Evaluation images and labels put on the device once: the loop evaluates the same
    validation set after every epoch. Keyed by the numpy array, which lives for the whole run."""

    def __init__(self, put: Callable[[np.ndarray, np.ndarray], DeviceArrays]) -> None:
        self._put = put
        self._entries: dict[int, DeviceArrays] = {}

    def __call__(self, images: np.ndarray, labels: np.ndarray) -> DeviceArrays:
        key = id(images)
        if key not in self._entries:
            self._entries[key] = self._put(images, labels)
        return self._entries[key]


def mean_loss_and_hits(batches: Iterable[tuple[Any, Any]], count: int) -> tuple[float, np.ndarray]:
    """Mean loss over ``count`` images and, per image, whether it was right, from each batch's
    summed loss and hits (read back batch by batch, added up on the host)."""
    total_loss, hits = 0.0, []
    for loss, correct in batches:
        total_loss += float(loss)
        hits.append(np.asarray(correct))
    return total_loss / max(count, 1), np.concatenate(hits) if hits else np.zeros(0, dtype=bool)


@dataclass
class StepWindows:
    """Opens and closes timing windows; each close synchronises the device first."""

    trainer: Trainer
    clock: Clock
    window_steps: int
    samples: list[StepSample] = field(default_factory=list)
    mark: float = 0.0
    first_step: int = 0

    def open(self, first_step: int = 0) -> float:
        self.trainer.synchronize()
        self.mark = self.clock()
        self.first_step = first_step
        return self.mark

    def after_step(self, epoch: int, done: int, total: int, warmup: int) -> None:
        """Close the window when it is full, at the end, or at a warm-up edge (never straddled)."""
        in_window = done - self.first_step
        edge = epoch == 0 and done in (1, warmup)
        if in_window >= self.window_steps or done == total or edge:
            self.trainer.synchronize()
            now = self.clock()
            is_warmup = epoch == 0 and self.first_step < warmup
            self.samples.append(
                StepSample(epoch, self.first_step, in_window, 1000.0 * (now - self.mark) / in_window, is_warmup)
            )
            self.mark = now
            self.first_step = done

    def steady(self, epoch: int | None = None) -> list[StepSample]:
        return [s for s in self.samples if not s.warmup and (epoch is None or s.epoch == epoch)]


def steady_begins(epoch: int, done: int, warmup: int) -> bool:
    """Whether the steady state starts once ``done`` steps of ``epoch`` have run (the warm-up
    edge of the first epoch, the start of every later one): where energy starts to count."""
    return done == (warmup if epoch == 0 else 0)


def weighted_step_ms(samples: list[StepSample]) -> list[float]:
    """One value per step, so a long window counts as much as its steps."""
    return [s.milliseconds for s in samples for _ in range(s.steps)]


def summarize_steps(samples: list[StepSample], batch_size: int) -> dict[str, float | None]:
    per_step = weighted_step_ms(samples)
    seconds = sum(s.milliseconds * s.steps for s in samples) / 1000.0
    images = sum(s.steps for s in samples) * batch_size
    return {
        "step_ms_median": percentile(per_step, 50),
        "step_ms_p90": percentile(per_step, 90),
        "steady_images_per_second": images / seconds if seconds > 0 else None,
    }


def time_inference(trainer: Trainer, images: np.ndarray, batch_size: int, clock: Clock) -> dict[str, float | None]:
    """Latency at batch 1 and throughput at the training batch size, in evaluation mode."""
    single = trainer.prepare_inference(images[:1])
    repeats = int(np.ceil(batch_size / len(images)))
    full = trainer.prepare_inference(np.concatenate([images] * repeats)[:batch_size])
    results: dict[str, float | None] = {}
    for name, batch, count in (("batch1", single, 1), ("batch", full, batch_size)):
        for _ in range(3):
            trainer.infer(batch)
        trainer.synchronize()
        durations: list[float] = []
        deadline = clock() + INFERENCE_BUDGET_SECONDS / 2
        while len(durations) < 5 or (clock() < deadline and len(durations) < 200):
            start = clock()
            trainer.infer(batch)
            trainer.synchronize()
            durations.append(clock() - start)
        if name == "batch1":
            results["inference_ms_batch1"] = 1000.0 * float(np.median(durations))
        else:
            results["inference_images_per_second"] = count * len(durations) / sum(durations)
    return results


def run_training(
    trainer: Trainer,
    data: PreparedData,
    spec: RunSpec,
    emit: Emit,
    clock: Clock = time.perf_counter,
    should_stop: Callable[[], bool] = lambda: False,
    energy: EnergyMeter | None = None,
) -> dict[str, Any]:
    """Train for ``spec.epochs`` epochs, emitting an ``epoch`` event after each; return the result."""
    batch_size = spec.batch_size
    count = len(data.y_train)
    steps = steps_per_epoch(count, batch_size)
    warmup = warmup_steps(steps)
    windows = StepWindows(trainer, clock, 1 if trainer.device_kind == "cpu" else GPU_WINDOW_STEPS)
    nvml = NvmlSampler(enabled=trainer.device_kind == "cuda")
    energy = energy or EnergyMeter(energy_counter(trainer.device_kind), clock)
    energy.measure_idle()
    nvml.start()
    trainer.reset_peak_memory()
    order_digest = hashlib.sha256()
    train_seconds = 0.0
    time_to_target = None
    last_progress = clock()
    loop_start = clock()
    if not spec.augment:
        trainer.load_training_images(data.x_train)
    emit("progress", epoch=0, step=0, steps_per_epoch=steps, epochs=spec.epochs)
    for epoch in range(spec.epochs):
        data_start = clock()
        order = epoch_order(count, spec.seed, epoch)
        order_digest.update(order[: steps * batch_size].astype(np.int64).tobytes())
        if spec.augment:
            trainer.load_training_images(augment_epoch(data.x_train, spec.seed, epoch))
        trainer.start_epoch(order)
        epoch_start = windows.open()
        data_seconds = epoch_start - data_start
        if steady_begins(epoch, 0, warmup):
            energy.start()
        for step in range(steps):
            if should_stop():
                raise Cancelled
            trainer.train_step(step)
            windows.after_step(epoch, step + 1, steps, warmup)
            if steady_begins(epoch, step + 1, warmup):
                energy.start()
            if clock() - last_progress >= PROGRESS_INTERVAL_SECONDS:
                last_progress = clock()
                emit("progress", epoch=epoch, step=step + 1, steps_per_epoch=steps, epochs=spec.epochs)
        energy.stop()
        epoch_seconds = windows.mark - epoch_start
        train_seconds += epoch_seconds
        train_loss, train_accuracy = trainer.take_epoch_metrics()
        eval_start = clock()
        val_loss = val_accuracy = None
        if len(data.y_val):
            val_loss, val_correct = trainer.evaluate(data.x_val, data.y_val)
            val_accuracy = float(val_correct.mean())
        if time_to_target is None and val_accuracy is not None and val_accuracy >= spec.target_accuracy:
            time_to_target = train_seconds
        epoch_samples = windows.steady(epoch) or [s for s in windows.samples if s.epoch == epoch]
        epoch_steps = summarize_steps(epoch_samples, batch_size)
        emit(
            "epoch",
            epoch=epoch + 1,
            train_loss=train_loss,
            train_accuracy=train_accuracy,
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            epoch_seconds=epoch_seconds,
            eval_seconds=clock() - eval_start,
            elapsed_seconds=clock() - loop_start,
            images_per_second=steps * batch_size / epoch_seconds if epoch_seconds > 0 else None,
            step_ms_median=epoch_steps["step_ms_median"],
            step_ms_p90=epoch_steps["step_ms_p90"],
            data_wait_fraction=data_seconds / (data_seconds + epoch_seconds) if epoch_seconds > 0 else None,
            step_samples=[s.as_dict() for s in windows.samples if s.epoch == epoch],
        )
    evaluation_start = clock()
    test_loss, test_correct = trainer.evaluate(data.x_test, data.y_test)
    inference_start = clock()
    inference = time_inference(trainer, data.x_test if len(data.x_test) else data.x_train, batch_size, clock)
    inference["test_evaluation_seconds"] = inference_start - evaluation_start
    inference["inference_timing_seconds"] = clock() - inference_start
    result = _final_figures(trainer, windows, batch_size, warmup, nvml, energy)
    result.update(inference)
    result.update(
        test_accuracy=float(test_correct.mean()) if len(test_correct) else None,
        test_loss=test_loss,
        # Which test images this run got right: the paired test of the verdict reads it.
        test_correct_bits=pack_correct(test_correct),
        test_images=len(test_correct),
        train_seconds=train_seconds,
        time_to_target_seconds=time_to_target,
        target_accuracy=spec.target_accuracy,
        steps_per_epoch=steps,
        data_order_sha256=order_digest.hexdigest(),
    )
    return result


def _final_figures(
    trainer: Trainer, windows: StepWindows, batch_size: int, warmup: int, nvml: NvmlSampler, energy: EnergyMeter
) -> dict[str, Any]:
    steady = summarize_steps(windows.steady(), batch_size)
    steady_images = sum(s.steps for s in windows.steady()) * batch_size
    warm_samples = [s for s in windows.samples if s.warmup]
    first_step_seconds = windows.samples[0].milliseconds / 1000.0 if windows.samples else None
    median_seconds = (steady["step_ms_median"] or 0.0) / 1000.0
    peak_allocated, reserved = trainer.device_memory()
    trainable, non_trainable = trainer.parameter_counts()
    return {
        **steady,
        "warmup_steps": warmup,
        "warmup_seconds": sum(s.milliseconds * s.steps for s in warm_samples) / 1000.0,
        "first_step_seconds": first_step_seconds,
        # The first step's cost beyond a steady step: tracing, XLA or torch.compile, autotuning.
        "compile_seconds": max(0.0, first_step_seconds - median_seconds) if first_step_seconds is not None else None,
        "peak_device_memory_bytes": peak_allocated,
        "device_memory_reserved_bytes": reserved,
        "nvml_memory_used_bytes": nvml.stop(),
        "nvml_memory_scope": nvml.scope,
        "peak_host_rss_bytes": peak_rss_bytes(),
        "params": trainable + non_trainable,
        "trainable_params": trainable,
        "non_trainable_params": non_trainable,
        "flops_per_image": trainer.flops_per_image(),
        "mode": trainer.mode,
        # Other work on the machine slows a CPU run; the load average shows whether there was any.
        "host_load_average_1m": os.getloadavg()[0],
        **energy.figures(steady_images).as_dict(),
    }


def run_benchmark(
    trainer: Trainer,
    batch_size: int,
    steps: int,
    warmup: int,
    pool_batches: int,
    emit: Emit,
    clock: Clock = time.perf_counter,
    should_stop: Callable[[], bool] = lambda: False,
    energy: EnergyMeter | None = None,
) -> dict[str, Any]:
    """Steady-state speed on synthetic data: ``warmup`` untimed-for-throughput steps, then ``steps``."""
    windows = StepWindows(trainer, clock, 1 if trainer.device_kind == "cpu" else GPU_WINDOW_STEPS)
    nvml = NvmlSampler(enabled=trainer.device_kind == "cuda")
    energy = energy or EnergyMeter(energy_counter(trainer.device_kind), clock)
    energy.measure_idle()
    nvml.start()
    trainer.reset_peak_memory()
    trainer.start_epoch(np.arange(pool_batches * batch_size))
    total = warmup + steps
    windows.open()
    if steady_begins(0, 0, warmup):
        energy.start()
    last_progress = clock()
    for step in range(total):
        if should_stop():
            raise Cancelled
        trainer.train_step(step % pool_batches)
        windows.after_step(0, step + 1, total, warmup)
        if steady_begins(0, step + 1, warmup):
            energy.start()
        if clock() - last_progress >= PROGRESS_INTERVAL_SECONDS:
            last_progress = clock()
            emit("progress", epoch=0, step=step + 1, steps_per_epoch=total, epochs=1)
    energy.stop()
    trainer.take_epoch_metrics()
    return _final_figures(trainer, windows, batch_size, warmup, nvml, energy)
