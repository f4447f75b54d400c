"""The worker's job handlers: what each kind of job does once its framework is imported.

``JOB_HANDLERS`` maps each job type to its handler; core.engine.worker runs them (in a process of
its own, or forked from a framework host) and reports how they ended.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
from pydantic import BaseModel

from core import frameworks
from core.engine.work import (
    BenchJob,
    DescribeJob,
    MinimalJob,
    ParityCheckJob,
    ParityReferenceJob,
    ProbeJob,
    StepsJob,
    TrainJob,
)
from core.engine.worker_memory import out_of_memory_as_memory_error
from core.errors import FrameworkUnavailable
from core.provenance import provenance
from core.results import checked_result
from core.spec import RunSpec
from core.train.backend import Backend
from core.train.events import EventWriter
from core.train.loop import Trainer
from core.train.measure import host_environment, training_threads


def load_framework(name: str) -> Backend:
    """Import the framework's trainer module, turning a missing install into a plain message."""
    framework = frameworks.get(name)
    os.environ.update(framework.environment)
    try:
        return cast(Backend, importlib.import_module(framework.trainer_module))
    except ImportError as error:
        missing = (error.name or "").split(".")[0]
        if missing in framework.packages:
            raise FrameworkUnavailable(
                f"{framework.label} is not installed in {sys.executable} "
                f"({error}); install it with: pip install -r requirements.txt"
            ) from None
        raise


# What the framework host spent before forking (import seconds, resident memory); every run
# forked from it inherits these figures and records them with its environment.
HOST_FIGURES: dict[str, Any] = {}
# When a framework host forked this process (core.engine.worker.serve); None in a process of its own.
FORKED_AT: float | None = None


def mark_forked() -> None:
    """The process about to be forked for a run starts its clock now (the fork, not the host's start)."""
    global FORKED_AT
    FORKED_AT = time.time()


def seconds_since_process_start() -> float:
    """Process start to first step: the fork from a framework host (or interpreter start and
    imports, for a process of its own) and model building."""
    if FORKED_AT is not None:
        return time.time() - FORKED_AT
    import psutil  # its start time counts from boot in whole seconds: good to about a second

    return time.time() - psutil.Process().create_time()


def synthetic_inputs(input_shape: tuple[int, int, int], num_classes: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((count, *input_shape), dtype=np.float32)
    labels = rng.integers(0, num_classes, size=count)
    return images, labels


def train_steps(module: Backend, architecture: str, job: StepsJob) -> dict[str, Any]:
    """Two training steps of one architecture on synthetic data: does it train at all?"""
    spec = RunSpec(architecture=architecture, framework=job.framework, batch_size=job.batch, device=job.device)
    images, labels = synthetic_inputs(job.input_shape, job.num_classes, 2 * job.batch, spec.seed)
    trainer = module.create_trainer(spec, job.input_shape, job.num_classes, labels, training_threads(spec.threads))
    trainer.load_training_images(images)
    trainer.start_epoch(np.arange(2 * job.batch))
    trainer.train_step(0)
    trainer.train_step(1)
    loss, _ = trainer.take_epoch_metrics()
    return {"architecture": architecture, "loss": loss, "finite": bool(np.isfinite(loss)), "mode": trainer.mode}


def parity_reference_job(job: ParityReferenceJob, events: EventWriter, cancel: threading.Event) -> dict[str, Any]:
    reference = load_framework(job.framework)
    return {"models": [
        reference.parity_reference(name, job.input_shape, job.num_classes, job.seed, job.batch, path,
                                   job.with_forward, job.pretrained)
        for name, path in zip(job.architectures, job.paths, strict=True)
    ]}


def parity_check_job(job: ParityCheckJob, events: EventWriter, cancel: threading.Event) -> dict[str, Any]:
    backend = load_framework(job.framework)
    return {"models": [
        backend.parity_check(name, job.input_shape, job.num_classes, path)
        for name, path in zip(job.architectures, job.references, strict=True)
    ]}


def minimal_job(job: MinimalJob, events: EventWriter, cancel: threading.Event) -> dict[str, Any]:
    from core.train.minimal_loops import LOOPS

    load_framework(job.framework)  # a missing framework is reported like any other
    return LOOPS[job.loop](job.spec, job.input_shape, job.num_classes, job.steps, job.warmup,
                           training_threads(job.spec.threads))


def steps_job(job: StepsJob, events: EventWriter, cancel: threading.Event) -> dict[str, Any]:
    return {"models": [train_steps(load_framework(job.framework), name, job) for name in job.architectures]}


def probe_job(job: ProbeJob, events: EventWriter, cancel: threading.Event) -> dict[str, Any]:
    return load_framework(job.framework).probe_devices()


def describe_job(job: DescribeJob, events: EventWriter, cancel: threading.Event) -> dict[str, Any]:
    backend = load_framework(job.framework)
    return {"models": [backend.describe_model(name, job.input_shape, job.num_classes, job.seed)
                       for name in job.architectures]}


def bench_run_job(job: BenchJob, events: EventWriter, cancel: threading.Event) -> dict[str, Any]:
    """Steady-state speed on synthetic data (``bench``, mode trials, the zoo table)."""
    from core.models.registry import check_input_shape
    from core.train.loop import run_benchmark

    spec = job.spec
    backend = load_framework(spec.framework)
    with out_of_memory_as_memory_error(backend):
        check_input_shape(spec.architecture, job.input_shape)
        images, labels = synthetic_inputs(job.input_shape, job.num_classes, job.pool_batches * spec.batch_size, spec.seed)
        trainer = backend.create_trainer(spec, job.input_shape, job.num_classes, labels, training_threads(spec.threads))
        events.emit("started", environment=run_environment(trainer))
        trainer.load_training_images(images)
        return checked_result(run_benchmark(trainer, spec.batch_size, job.steps, job.warmup, job.pool_batches,
                                            events.emit, should_stop=cancel.is_set)).as_dict()


def run_environment(trainer: Trainer, **details: Any) -> dict[str, Any]:
    """What a run records of where it ran: the host, the harness (core.provenance), the framework
    and device as its trainer reports them, and ``details``."""
    return {**host_environment(), **provenance(), **trainer.environment(), **details}


def train_job(job: TrainJob, events: EventWriter, cancel: threading.Event) -> dict[str, Any]:
    """One run of a comparison on the prepared data."""
    from core.data.prepare import load_prepared
    from core.train.loop import run_training

    spec = job.spec
    backend = load_framework(spec.framework)
    with out_of_memory_as_memory_error(backend):
        data = load_prepared(Path(job.data_path))
        trainer = backend.create_trainer(spec, data.input_shape, data.num_classes, data.y_train,
                                         training_threads(spec.threads), init_weights=job.init_weights)
        events.emit("started", environment=run_environment(trainer, startup_seconds=seconds_since_process_start(),
                                                           **HOST_FIGURES))
        return checked_result(run_training(trainer, data, spec, events.emit, should_stop=cancel.is_set)).as_dict()




Handler = Callable[[Any, EventWriter, threading.Event], dict[str, Any]]
JOB_HANDLERS: dict[type[BaseModel], Handler] = {
    TrainJob: train_job,
    BenchJob: bench_run_job,
    MinimalJob: minimal_job,
    StepsJob: steps_job,
    DescribeJob: describe_job,
    ProbeJob: probe_job,
    ParityReferenceJob: parity_reference_job,
    ParityCheckJob: parity_check_job,
}

