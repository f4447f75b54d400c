"""The shortest fast training loop per framework, to measure the harness against.

Each loop trains the registry's model on synthetic batches already on the device, with the same
optimiser, and nothing else: no accumulated metrics, no per-step synchronisation, no events. It
synchronises once before and once after the timed steps. Imported only inside a worker process.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from core.frameworks import PYTORCH, TENSORFLOW
from core.modes import run_mode_label, torch_compile_mode
from core.train.optim import OptimizerSettings

POOL_BATCHES = 8


def _synthetic(input_shape: tuple[int, int, int], batch: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((POOL_BATCHES, batch, *input_shape), dtype=np.float32)
    labels = rng.integers(0, classes, size=(POOL_BATCHES, batch))
    return images, labels


def _result(mode: str, batch: int, steps: int, warmup_seconds: float, seconds: float) -> dict[str, Any]:
    return {"mode": mode, "steady_images_per_second": batch * steps / seconds, "step_ms_mean": 1000 * seconds / steps,
            "warmup_seconds": warmup_seconds}


def torch_loop(spec: Any, input_shape: tuple[int, int, int], classes: int, steps: int, warmup: int, threads: int) -> dict[str, Any]:
    import torch

    from core.models.registry import build_model
    from core.train.pytorch import configure_torch, make_optimizer

    device = configure_torch(threads, spec.seed, spec.device)
    memory_format = torch.channels_last if spec.channels_last else torch.contiguous_format
    model = build_model(PYTORCH.name, spec.architecture, input_shape, classes).to(device).to(memory_format=memory_format).train()
    compile_mode = torch_compile_mode(spec.compile)
    forward = model if compile_mode is None else torch.compile(model, mode=compile_mode)
    optimizer = make_optimizer(list(model.parameters()), OptimizerSettings.from_spec(spec))
    images, labels = _synthetic(input_shape, spec.batch_size, classes, spec.seed)
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 1, 4, 2, 3))).to(device)
    batches = [x[i].contiguous(memory_format=memory_format) for i in range(POOL_BATCHES)]
    y = torch.from_numpy(labels).to(device)
    bf16 = spec.precision == "bf16"

    def step(index: int) -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = forward(batches[index % POOL_BATCHES])
        torch.nn.functional.cross_entropy(logits.float(), y[index % POOL_BATCHES]).backward()
        optimizer.step()

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    start = time.perf_counter()
    for index in range(warmup):
        step(index)
    synchronize()
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for index in range(steps):
        step(index)
    synchronize()
    return _result(run_mode_label(PYTORCH.name, spec), spec.batch_size, steps, warm, time.perf_counter() - start)


def _keras_setup(spec: Any, input_shape: tuple[int, int, int], classes: int, threads: int) -> tuple[Any, Any, Any]:
    import tensorflow as tf

    from core.models.registry import build_model
    from core.train.tensorflow import configure_tensorflow, make_optimizer

    configure_tensorflow(threads, spec.precision, spec.seed)
    model = build_model(TENSORFLOW.name, spec.architecture, input_shape, classes)
    optimizer = make_optimizer(OptimizerSettings.from_spec(spec))
    return tf, model, optimizer


def tf_function_loop(spec: Any, input_shape: tuple[int, int, int], classes: int, steps: int, warmup: int,
                     threads: int) -> dict[str, Any]:
    import keras

    tf, model, optimizer = _keras_setup(spec, input_shape, classes, threads)
    images, labels = _synthetic(input_shape, spec.batch_size, classes, spec.seed)
    batches = [(tf.constant(images[i]), tf.constant(labels[i].astype(np.int32))) for i in range(POOL_BATCHES)]
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=spec.compile != "off")
    def step(x: Any, y: Any) -> None:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)

    start = time.perf_counter()
    for index in range(warmup):
        step(*batches[index % POOL_BATCHES])
    tf.test.experimental.sync_devices()
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for index in range(steps):
        step(*batches[index % POOL_BATCHES])
    tf.test.experimental.sync_devices()
    return _result(run_mode_label(TENSORFLOW.name, spec), spec.batch_size, steps, warm, time.perf_counter() - start)


def keras_fit_loop(spec: Any, input_shape: tuple[int, int, int], classes: int, steps: int, warmup: int,
                   threads: int) -> dict[str, Any]:
    """Keras fit on a cached, prefetched tf.data pipeline: what a Keras user writes."""
    import keras

    tf, model, optimizer = _keras_setup(spec, input_shape, classes, threads)
    images, labels = _synthetic(input_shape, spec.batch_size, classes, spec.seed)
    dataset = (tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
               .cache().repeat().prefetch(tf.data.AUTOTUNE))
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=spec.compile != "off")
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=max(warmup, 1), epochs=1, verbose=0)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return _result("Keras fit" + ("" if spec.compile == "off" else " (XLA)"), spec.batch_size, steps, warm,
                   time.perf_counter() - start)


LOOPS = {"torch": torch_loop, "tf_function": tf_function_loop, "keras_fit": keras_fit_loop}
