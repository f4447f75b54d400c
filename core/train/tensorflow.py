"""TensorFlow/Keras side of a run: the Trainer the shared loop drives. Imported only in a worker.

The training step is a ``tf.function`` (graph mode, the way Keras ``fit`` runs), with XLA when
compile is on. The batch is gathered inside the function from tensors already on the device, as
the PyTorch side gathers with ``index_select``: neither side measures an input pipeline.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from core import frameworks  # noqa: E402
from core.errors import FrameworkUnavailable  # noqa: E402
from core.train import keras_common  # noqa: E402
from core.train.keras_common import make_optimizer as make_optimizer  # noqa: E402  (core/train/minimal_loops.py)
from core.train.loop import EvaluationCache, batch_grid, mean_loss_and_hits  # noqa: E402
from core.train.measure import cpu_name  # noqa: E402

if TYPE_CHECKING:
    from core.spec import RunSpec

FRAMEWORK = frameworks.TENSORFLOW.name


def configure_tensorflow(threads: int, precision: str, seed: int) -> list[Any]:
    """Threads, GPU memory growth, precision policy and seed, set the same way for the harness
    and the minimal loops; returns the GPUs TensorFlow sees."""
    gpus = tf.config.list_physical_devices("GPU")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        for gpu in gpus:
            # Without memory growth TensorFlow reserves nearly all GPU memory up front, and the
            # peak it reports says nothing about the model.
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
        pass  # a second model in the same process: the runtime is already configured
    keras_common.set_policy_and_seed(precision, seed)
    return gpus


class KerasTrainer(keras_common.KerasTrainerParts):
    framework = FRAMEWORK

    def __init__(self, spec: RunSpec, input_shape: tuple[int, int, int], num_classes: int,
                 train_labels: np.ndarray, threads: int, init_weights: str | None = None) -> None:
        gpus = configure_tensorflow(threads, spec.precision, spec.seed)
        if spec.device == "cuda" and not gpus:
            raise FrameworkUnavailable(
                f"device cuda was requested but TensorFlow {tf.__version__} sees no GPU "
                f"(built with CUDA: {tf.test.is_built_with_cuda()}); use device auto or cpu"
            )
        self.device_kind = "cuda" if gpus and spec.device != "cpu" else "cpu"
        self.device_name = "/GPU:0" if self.device_kind == "cuda" else "/CPU:0"
        super().__init__(spec, input_shape)
        self.jit = spec.compile != "off"
        with tf.device(self.device_name):
            self.build_model_and_optimizer(spec, num_classes, init_weights)
            self.y_train = tf.constant(train_labels.astype(np.int32))
            self.loss_sum = tf.Variable(0.0, dtype=tf.float32, trainable=False)
            self.correct = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.x_train: tf.Tensor | None = None
        self.batches: list[tf.Tensor] = []
        self._evaluation_arrays = EvaluationCache(self._put_evaluation_arrays)
        self._train_step = tf.function(self._train_step_graph, jit_compile=self.jit)
        self._train_batch = tf.function(self._fit_batch, jit_compile=self.jit)
        self.native_pipeline = spec.data_pipeline == "native"
        self._eval_step = tf.function(self._eval_step_graph, jit_compile=self.jit, reduce_retracing=True)
        self._predict = tf.function(lambda x: self.model(x, training=False), jit_compile=self.jit)

    def _train_step_graph(self, images: tf.Tensor, labels: tf.Tensor, indices: tf.Tensor) -> None:
        self._fit_batch(tf.gather(images, indices), tf.gather(labels, indices))

    def _fit_batch(self, x: tf.Tensor, y: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)
            loss = self.loss_fn(y, logits)
        gradients = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply(gradients, self.model.trainable_variables)
        self.loss_sum.assign_add(tf.cast(loss, tf.float32) * self.batch_size)
        predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
        self.correct.assign_add(tf.reduce_sum(tf.cast(tf.equal(predicted, y), tf.int64)))

    def _eval_step_graph(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        logits = tf.cast(self.model(x, training=False), tf.float32)
        losses = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
        return tf.reduce_sum(losses), tf.equal(predicted, y)

    def environment(self) -> dict[str, Any]:
        build = tf.sysconfig.get_build_info()
        device_name = cpu_name()
        if self.device_kind == "cuda":
            details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
            device_name = details.get("device_name", "GPU")
        return self.describe_environment(
            tf.__version__,
            device_name,
            cuda_version=build.get("cuda_version"),
            cudnn_version=build.get("cudnn_version"),
            threads=tf.config.threading.get_intra_op_parallelism_threads(),
            interop_threads=tf.config.threading.get_inter_op_parallelism_threads(),
        )

    def load_training_images(self, images: np.ndarray) -> None:
        if self.native_pipeline:
            with tf.device("/CPU:0"):  # the pipeline runs on the host and feeds the device
                self.x_train = tf.constant(images)
            return
        with tf.device(self.device_name):
            self.x_train = tf.constant(images)

    def _native_batches(self, order: np.ndarray) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        grid = batch_grid(order, self.batch_size)
        images, labels = self.x_train, tf.cast(self.y_train, tf.int32)
        with tf.device("/CPU:0"):
            dataset = (tf.data.Dataset.from_tensor_slices(grid)
                       .map(lambda idx: (tf.gather(images, idx), tf.gather(labels, idx)), num_parallel_calls=tf.data.AUTOTUNE)
                       .prefetch(tf.data.AUTOTUNE))
        return iter(dataset)

    def start_epoch(self, order: np.ndarray) -> None:
        if self.native_pipeline:
            self.batch_iterator = self._native_batches(order)
            return
        # Each step's indices as its own tensor, made once per epoch. Passing a step number
        # instead would make XLA treat the slice start as a constant and compile every step anew.
        with tf.device(self.device_name):
            self.batches = tf.unstack(tf.constant(batch_grid(order, self.batch_size)))

    def train_step(self, step: int) -> None:
        if self.native_pipeline:
            self._train_batch(*next(self.batch_iterator))
        else:
            self._train_step(self.x_train, self.y_train, self.batches[step])
        self.seen += self.batch_size

    def synchronize(self) -> None:
        tf.test.experimental.sync_devices()

    def take_epoch_metrics(self) -> tuple[float, float]:
        means = self.epoch_means(float(self.loss_sum.numpy()), int(self.correct.numpy()))
        self.loss_sum.assign(0.0)
        self.correct.assign(0)
        return means

    def _put_evaluation_arrays(self, images: np.ndarray, labels: np.ndarray) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.device(self.device_name):
            return tf.constant(images), tf.constant(labels.astype(np.int32))

    def evaluate(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        x_all, y_all = self._evaluation_arrays(images, labels)
        count, size = int(y_all.shape[0]), self.batch_size
        steps = (self._eval_step(x_all[start : start + size], y_all[start : start + size]) for start in range(0, count, size))
        return mean_loss_and_hits(steps, count)

    def prepare_inference(self, images: np.ndarray) -> tf.Tensor:
        with tf.device(self.device_name):
            return tf.constant(images)

    def infer(self, batch: tf.Tensor) -> None:
        self._predict(batch)

    def reset_peak_memory(self) -> None:
        if self.device_kind == "cuda":
            tf.config.experimental.reset_memory_stats("GPU:0")

    def device_memory(self) -> tuple[int | None, int | None]:
        if self.device_kind != "cuda":
            return None, None
        # TensorFlow's BFC allocator reports current and peak use, not what it holds in reserve.
        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"]), None


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, (tf.errors.ResourceExhaustedError, MemoryError)) or "out of memory" in str(error).lower()


def describe_model(architecture: str, input_shape: tuple[int, int, int], num_classes: int, seed: int) -> dict[str, Any]:
    return keras_common.describe_model(FRAMEWORK, tf.__version__, architecture, input_shape, num_classes, seed)


def gradients(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float, list[np.ndarray]]:
    """Logits in inference mode, then loss and gradients in training mode, for the parity audit."""
    images, labels = tf.constant(images), tf.constant(labels)
    logits_eval = model(images, training=False).numpy()
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, model(images, training=True))
    return logits_eval, float(loss), [g.numpy() for g in tape.gradient(loss, model.trainable_weights)]


def parity_check(architecture: str, input_shape: tuple[int, int, int], num_classes: int, reference: str) -> dict[str, Any]:
    return keras_common.parity_check(FRAMEWORK, gradients, architecture, input_shape, num_classes, reference)


def probe_devices() -> dict[str, Any]:
    """What this TensorFlow build is and which GPUs it sees (for the System page)."""
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "framework": FRAMEWORK,
        "framework_version": tf.__version__,
        "built_with_cuda": tf.sysconfig.get_build_info().get("cuda_version"),
        "gpus": [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus],
        "threads": tf.config.threading.get_intra_op_parallelism_threads(),
    }


def preload() -> None:
    """Nothing beyond the module's own imports: building a Keras trainer imports no more."""


def create_trainer(spec: RunSpec, input_shape: tuple[int, int, int], num_classes: int,
                   train_labels: np.ndarray, threads: int, init_weights: str | None = None) -> KerasTrainer:
    return KerasTrainer(spec, input_shape, num_classes, train_labels, threads, init_weights)
