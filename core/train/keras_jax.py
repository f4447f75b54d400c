"""Keras 3 on JAX: the Trainer the shared loop drives. Imported only in a worker whose
``KERAS_BACKEND`` is ``jax`` (set from the framework registry before Keras is imported).

The same keras_*.py models, optimiser settings, data order and measurements as the TensorFlow
side; the training step is Keras' stateless API under ``jax.jit``, the way Keras' own JAX
trainer runs (JAX compiles every step function with XLA, so there is no uncompiled mode to
offer). JAX dispatches asynchronously: ``synchronize`` blocks until the state is computed, so
the loop's timing windows close only after the device has finished.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import keras
import numpy as np

from core import frameworks
from core.errors import FrameworkUnavailable
from core.train import keras_common
from core.train.loop import EvaluationCache, batch_grid, mean_loss_and_hits
from core.train.measure import cpu_name, usable_cpu_count

if TYPE_CHECKING:
    from core.spec import RunSpec

FRAMEWORK = frameworks.JAX.name

# Keras' stateless API passes variables as lists of arrays: trainable, non-trainable, optimiser.
Weights = list[jax.Array]
# The training state a step takes and returns: the three lists, then the epoch's loss sum and hits.
State = tuple[Weights, Weights, Weights, jax.Array, jax.Array]


def configure_jax(threads: int, precision: str, seed: int) -> list[Any]:
    """Threads, precision policy and seed; returns the GPUs JAX sees.

    XLA's CPU backend reads its thread settings when it starts, which in a forked run is after
    this: one thread turns its thread pool off; more threads confine the process to that many
    cores, so it uses what the other frameworks use.
    """
    if threads == 1:
        os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"),
                                                          "--xla_cpu_multi_thread_eigen=false",
                                                          "intra_op_parallelism_threads=1"]))
    if threads < usable_cpu_count() and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[-threads:])
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    keras_common.set_policy_and_seed(precision, seed)
    return gpus


class JaxTrainer(keras_common.KerasTrainerParts):
    framework = FRAMEWORK

    def __init__(self, spec: RunSpec, input_shape: tuple[int, int, int], num_classes: int,
                 train_labels: np.ndarray, threads: int, init_weights: str | None = None) -> None:
        if spec.data_pipeline == "native":
            raise FrameworkUnavailable("JAX has no native input pipeline here; use data_pipeline device")
        gpus = configure_jax(threads, spec.precision, spec.seed)
        if spec.device == "cuda" and not gpus:
            raise FrameworkUnavailable(
                f"device cuda was requested but JAX {jax.__version__} sees no GPU; use device auto or cpu")
        self.threads = threads
        self.device = gpus[0] if gpus and spec.device != "cpu" else jax.devices("cpu")[0]
        self.device_kind = "cuda" if self.device.platform == "gpu" else "cpu"
        super().__init__(spec, input_shape)
        with jax.default_device(self.device):
            self.build_model_and_optimizer(spec, num_classes, init_weights)
            self.y_train = jax.device_put(train_labels.astype(np.int32), self.device)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        # Placed on the device explicitly, as the step's outputs are: an argument placed otherwise
        # would make jit compile the step again on the second call and after every reset.
        self.state: State = jax.device_put((
            [v.value for v in self.model.trainable_variables],
            [v.value for v in self.model.non_trainable_variables],
            [v.value for v in self.optimizer.variables],
            *self._zero_metrics(),  # loss sum and correct predictions of the epoch
        ), self.device)
        self.x_train: jax.Array | None = None
        self.batches: list[jax.Array] = []
        self._evaluation_batches = EvaluationCache(self._put_evaluation_batches)
        # Donating the state lets XLA update the weights in place, as the other frameworks do.
        self._train_step = jax.jit(self._train_step_pure, donate_argnums=0)
        self._eval_step = jax.jit(self._eval_step_pure)
        self._predict = jax.jit(self._predict_pure)

    def _zero_metrics(self) -> tuple[jax.Array, jax.Array]:
        return jax.device_put((np.zeros((), np.float32), np.zeros((), np.int32)), self.device)

    def _loss_and_updates(self, trainable: Weights, non_trainable: Weights, x: jax.Array,
                          y: jax.Array) -> tuple[jax.Array, tuple[jax.Array, Weights]]:
        logits, non_trainable = self.model.stateless_call(trainable, non_trainable, x, training=True)
        logits = logits.astype(jnp.float32)
        return self.loss_fn(y, logits), (logits, non_trainable)

    def _train_step_pure(self, state: State, images: jax.Array, labels: jax.Array, indices: jax.Array) -> State:
        trainable, non_trainable, optimizer_variables, loss_sum, correct = state
        x, y = jnp.take(images, indices, axis=0), jnp.take(labels, indices, axis=0)
        gradient_of = jax.value_and_grad(self._loss_and_updates, has_aux=True)
        (loss, (logits, non_trainable)), grads = gradient_of(trainable, non_trainable, x, y)
        trainable, optimizer_variables = self.optimizer.stateless_apply(optimizer_variables, grads, trainable)
        hits = jnp.sum(jnp.argmax(logits, axis=1).astype(jnp.int32) == y)
        return trainable, non_trainable, optimizer_variables, loss_sum + loss * y.shape[0], correct + hits

    def _eval_step_pure(self, trainable: Weights, non_trainable: Weights, x: jax.Array,
                        y: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits, _ = self.model.stateless_call(trainable, non_trainable, x, training=False)
        logits = logits.astype(jnp.float32)
        losses = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return jnp.sum(losses), jnp.argmax(logits, axis=1).astype(jnp.int32) == y

    def _predict_pure(self, trainable: Weights, non_trainable: Weights, x: jax.Array) -> jax.Array:
        return self.model.stateless_call(trainable, non_trainable, x, training=False)[0]

    def environment(self) -> dict[str, Any]:
        import jaxlib

        return self.describe_environment(
            jax.__version__,
            self.device.device_kind if self.device_kind == "cuda" else cpu_name(),
            jaxlib_version=jaxlib.__version__,
            # XLA sizes its own pools; the process is confined to this many cores (one: no pool).
            threads=self.threads,
        )

    def load_training_images(self, images: np.ndarray) -> None:
        self.x_train = jax.device_put(images, self.device)

    def start_epoch(self, order: np.ndarray) -> None:
        # Each step's indices as an array of its own on the device, made once per epoch. Slicing
        # one device array with the step number instead would compile a new slice for every step.
        self.batches = jax.device_put(list(batch_grid(order, self.batch_size)), self.device)

    def train_step(self, step: int) -> None:
        self.state = self._train_step(self.state, self.x_train, self.y_train, self.batches[step])
        self.seen += self.batch_size

    def synchronize(self) -> None:
        jax.block_until_ready(self.state)

    def take_epoch_metrics(self) -> tuple[float, float]:
        trainable, non_trainable, optimizer_variables, loss_sum, correct = self.state
        means = self.epoch_means(float(loss_sum), int(correct))
        self.state = (trainable, non_trainable, optimizer_variables, *self._zero_metrics())
        return means

    def _put_evaluation_batches(self, images: np.ndarray, labels: np.ndarray) -> list[tuple[jax.Array, jax.Array]]:
        """The evaluation batches on the device, split on the host once (see start_epoch)."""
        size = self.batch_size
        batches = [(images[s : s + size], labels[s : s + size].astype(np.int32)) for s in range(0, len(labels), size)]
        return jax.device_put(batches, self.device)

    def evaluate(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        trainable, non_trainable = self.state[0], self.state[1]
        steps = (self._eval_step(trainable, non_trainable, x, y) for x, y in self._evaluation_batches(images, labels))
        return mean_loss_and_hits(steps, len(labels))

    def prepare_inference(self, images: np.ndarray) -> jax.Array:
        return jax.device_put(images, self.device)

    def infer(self, batch: jax.Array) -> None:
        # The loop synchronises after this; the result must exist by then.
        self._last_output = self._predict(self.state[0], self.state[1], batch)
        jax.block_until_ready(self._last_output)

    def reset_peak_memory(self) -> None:
        """JAX keeps a peak per process that cannot be reset: a forked run starts with none, so
        its peak also covers building the model, which the other frameworks' peaks leave out."""

    def device_memory(self) -> tuple[int | None, int | None]:
        if self.device_kind != "cuda":
            return None, None
        stats = self.device.memory_stats() or {}
        return stats.get("peak_bytes_in_use"), stats.get("pool_bytes") or stats.get("bytes_reserved")


def is_out_of_memory(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, MemoryError) or "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def describe_model(architecture: str, input_shape: tuple[int, int, int], num_classes: int, seed: int) -> dict[str, Any]:
    return keras_common.describe_model(FRAMEWORK, jax.__version__, architecture, input_shape, num_classes, seed)


def gradients(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float, list[np.ndarray]]:
    """Logits in inference mode, then loss and gradients in training mode, for the parity audit."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    logits_eval = np.asarray(model.stateless_call(trainable, non_trainable, images, training=False)[0])

    def loss_of(weights: Weights) -> jax.Array:
        logits, _ = model.stateless_call(weights, non_trainable, images, training=True)
        return loss_fn(labels, logits)

    loss, grads = jax.value_and_grad(loss_of)(trainable)
    return logits_eval, float(loss), [np.asarray(g) for g in grads]


def parity_check(architecture: str, input_shape: tuple[int, int, int], num_classes: int, reference: str) -> dict[str, Any]:
    return keras_common.parity_check(FRAMEWORK, gradients, architecture, input_shape, num_classes, reference)


def probe_devices() -> dict[str, Any]:
    """What this JAX build is and which GPUs it sees (for the System page)."""
    try:
        gpus = [device.device_kind for device in jax.devices("gpu")]
    except RuntimeError:
        gpus = []
    return {"framework": FRAMEWORK, "framework_version": jax.__version__, "built_with_cuda": None, "gpus": gpus,
            "threads": usable_cpu_count()}


def preload() -> None:
    """Nothing beyond the module's own imports; JAX starts its backend only when first used, in the run."""


def create_trainer(spec: RunSpec, input_shape: tuple[int, int, int], num_classes: int,
                   train_labels: np.ndarray, threads: int, init_weights: str | None = None) -> JaxTrainer:
    return JaxTrainer(spec, input_shape, num_classes, train_labels, threads, init_weights)
