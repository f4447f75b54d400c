"""The process that runs a framework's code: ``python -m core.engine.worker JOB.json`` (or ``-``,
the job on standard input) runs one job; ``--host FRAMEWORK`` imports one framework of the
registry once and forks a process for each job it reads on standard input (``serve``).

A job (core.engine.work) names its framework and what to do: a run of a comparison on the
prepared arrays, a benchmark or a reference loop on a synthetic input, two training steps, a
description, a probe, a half of the parity audit. Events go to standard output as JSON lines;
everything the frameworks print goes to standard error. The last event is ``finished`` or
``failed``; a worker that dies before writing either is marked failed by its parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
from pydantic import BaseModel

from core import frameworks
from core.engine.max_batch import MEMORY_LIMIT_VARIABLE
from core.engine.work import (
    BenchJob,
    DescribeJob,
    Job,
    MinimalJob,
    ParityCheckJob,
    ParityReferenceJob,
    ProbeJob,
    StepsJob,
    TrainJob,
    job_from_json,
)
from core.errors import BadInput, FrameworkUnavailable, TwinbenchError
from core.provenance import provenance
from core.results import checked_result
from core.spec import RunSpec
from core.train.backend import Backend
from core.train.events import EventWriter, claim_stdout_for_events
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


# When a framework host forked this process (see serve); None in a process of its own.
FORKED_AT: float | None = None


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


def run_environment(trainer: Trainer, **details: Any) -> dict[str, Any]:
    """What a run records of where it ran: the host, the harness (core.provenance), the framework
    and device as its trainer reports them, and ``details``."""
    return {**host_environment(), **provenance(), **trainer.environment(), **details}


@contextlib.contextmanager
def out_of_memory_as_memory_error(backend: Backend) -> Iterator[None]:
    """Each framework says "out of memory" its own way; the worker reports them all as one kind.

    The worker's memory limit, if it was given one, starts here: after the framework's import,
    before the run allocates anything of its own (see apply_memory_limit).
    """
    try:
        apply_memory_limit()
        yield
    except BaseException as error:
        if backend.is_out_of_memory(error) or _allocation_refused(error):
            raise MemoryError(str(error)) from error
        raise


# What CPU kernel libraries say, and all they say, when the scratch memory of an operation is
# refused: oneDNN (PyTorch's and TensorFlow's convolutions) and YNNPACK (XLA's, for JAX). Both were
# seen only a few images past the largest batch that fitted under a limit (JAX's batch 608, refused
# so under 1.5 GiB, trained without it); without a limit they are left as crashes.
_REFUSED_UNDER_A_LIMIT = ("could not create a primitive", "ynnpack operation failed")


def _allocation_refused(error: BaseException) -> bool:
    """A refused allocation in words no framework's own check knows: the C library's ENOMEM
    (PyTorch's CPU allocator: "can't allocate memory ... Error code 12 (Cannot allocate memory)"),
    C++'s bad_alloc, and, under a memory limit, the kernel libraries' failures."""
    if not isinstance(error, Exception):
        return False
    text = str(error).lower()
    if any(words in text for words in ("cannot allocate memory", "can't allocate memory", "bad_alloc")):
        return True
    return memory_limit_bytes() is not None and any(words in text for words in _REFUSED_UNDER_A_LIMIT)


def memory_limit_bytes() -> int | None:
    """The limit this worker was asked to keep to (``TWINBENCH_WORKER_MEMORY_LIMIT``, bytes)."""
    text = os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _mapped_data_bytes() -> int | None:
    """What RLIMIT_DATA counts: the process's private writable memory (VmData)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return None


def apply_memory_limit() -> None:
    """Cap this process's private writable memory (RLIMIT_DATA) at the limit it was given, so an
    allocation beyond it fails here, as a MemoryError or the framework's out-of-memory error,
    instead of the kernel killing the process.

    Applied after the framework's import, not at process start: with the limit in place from the
    start, a tight one makes the imports themselves fail (PyTorch cannot map libtorch, TensorFlow
    hung, JAX aborted creating a thread). RLIMIT_AS would count the address space the frameworks
    reserve without using it (PyTorch: 3.1 GiB of it just to import). docs/benchmarks.md has the
    figures.
    """
    import resource

    limit = memory_limit_bytes()
    if limit is None:
        return
    mapped = _mapped_data_bytes()
    if mapped is not None and mapped >= limit:
        raise MemoryError(f"the framework alone maps {mapped / 2**20:,.0f} MiB before the run allocates anything, "
                          f"more than the limit")
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


# Where each framework's words for a refused allocation begin (the rest of its message is where).
_MEMORY_WORDS = re.compile(r"out of memory|oom when allocating|can't allocate memory|cannot allocate memory|"
                           r"unable to allocate|resource_exhausted", re.IGNORECASE)


def out_of_memory_message(job: Job, error: BaseException) -> str:
    """'out of memory at batch 4096 (input 32x32x3; worker memory limit 1.5 GiB): <what the
    framework said>; try a smaller batch size or bf16'."""
    from core.engine.max_batch import format_size

    text = str(error)
    words = _MEMORY_WORDS.search(text)
    # TensorFlow's first line is "Graph execution error:"; its words for the allocation come later.
    lines = text[words.start():].splitlines()[:1] if words else [line for line in text.splitlines() if line.strip()]
    detail = (lines[0].strip() if lines else "")[:300] or type(error).__name__
    spec = getattr(job, "spec", None)
    batch = spec.batch_size if isinstance(spec, RunSpec) else getattr(job, "batch", None)
    shape = getattr(job, "input_shape", None)
    limit = memory_limit_bytes()
    context = "; ".join(part for part in (
        f"input {'x'.join(map(str, shape))}" if shape else "",
        f"worker memory limit {format_size(limit)}" if limit else "") if part)
    where = (f" at batch {batch}" if batch else "") + (f" ({context})" if context else "")
    return f"out of memory{where}: {detail}; try a smaller batch size or bf16"


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


def execute(job: Job, events: EventWriter) -> int:
    """Run one job, reporting how it ended as the last event; returns the exit code."""
    from core.train.loop import Cancelled

    cancel = threading.Event()
    # A cancel request stops the loop at the next step boundary, so the worker can still say why.
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    signal.signal(signal.SIGINT, lambda *_: cancel.set())
    # A run forked from a host starts with these blocked (see serve); from here on they cancel it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        result = JOB_HANDLERS[type(job)](job, events, cancel)
    except Cancelled:
        events.emit("failed", kind="cancelled", message="the run was cancelled")
        return 1
    except MemoryError as error:
        events.emit("failed", kind="out_of_memory", message=out_of_memory_message(job, error))
        return 1
    except TwinbenchError as error:
        events.emit("failed", kind=error.kind, message=str(error))
        return 1
    except Exception as error:
        traceback.print_exc()
        events.emit("failed", kind="crashed", message=f"{type(error).__name__}: {str(error)[:500]}")
        return 1
    events.emit("finished", result=result)
    return 0


# What the framework host spent before forking (import seconds, resident memory); every run
# forked from it inherits these figures and records them with its environment.
HOST_FIGURES: dict[str, Any] = {}


def serve(framework: str, events: EventWriter) -> int:
    """A framework host: import the framework once, then train each job read from standard input
    in a process forked for it.

    The child starts with the framework imported but nothing run: no thread pools of the
    framework, no device context, no allocator, no compiled graphs. It builds its own model,
    measures and exits, so every run is as clean as in a process of its own, without paying the
    imports again (seconds per run on a small CPU). The host runs no framework code itself, which
    is what makes forking it safe. Each run gets a process group of its own, killed when the run
    ends, so nothing it started (compiler or loader processes) lives on into the next run.
    """
    import psutil

    global FORKED_AT
    start = time.perf_counter()
    try:
        module = load_framework(framework)
        module.preload()
        import core.data.prepare  # noqa: F401  (what every run imports, imported once here)
        import core.train.loop  # noqa: F401
    except TwinbenchError as error:
        events.emit("failed", kind=error.kind, message=str(error))
        return 1
    import_seconds = time.perf_counter() - start
    provenance()  # read once here: the runs forked from this host inherit it instead of each starting git
    child = 0

    def forward(signum: int, _frame: Any) -> None:
        # Cancel the run in progress; the host stays. An idle host has nothing to cancel (the
        # runner stops hosts with SIGKILL).
        if child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The imports left hundreds of thousands of objects; frozen, the children's garbage collector
    # never walks them during a measured run (and never copies their pages by touching them).
    gc.collect()
    gc.freeze()
    HOST_FIGURES.update(framework_import_seconds=import_seconds,
                        framework_host_rss_bytes=psutil.Process().memory_info().rss)
    events.emit("ready", framework=framework, **HOST_FIGURES)
    for line in sys.stdin:
        if not line.strip():
            continue
        FORKED_AT = time.time()
        # A cancel arriving while the child is being made waits until ``child`` names it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        host = os.getpid()
        pid = os.fork()
        if pid == 0:
            die_with_parent(host)
            os.setpgid(0, 0)
            code = 1
            try:
                code = execute_text(line, events)
            finally:
                with contextlib.suppress(Exception):  # the parent may be gone
                    events.stream.flush()
                os._exit(code)
        child = pid
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        _, status = os.waitpid(pid, 0)
        child = 0
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # whatever the run started
        events.emit("exited", returncode=os.waitstatus_to_exitcode(status))
    return 0


def die_with_parent(parent: int | None) -> None:
    """Ask Linux to SIGKILL this process when its parent ends, so that no worker trains on for a
    CLI or server that was killed (which had no chance to stop it); end now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    parent = os.environ.get("TWINBENCH_PARENT_PID")
    die_with_parent(int(parent) if parent and parent.isdigit() else None)
    events = EventWriter(claim_stdout_for_events())
    if len(args) == 2 and args[0] == "--host":
        return serve(args[1], events)
    try:
        if len(args) != 1:
            raise BadInput("usage: python -m core.engine.worker JOB.json | - (the job on standard input) | --host FRAMEWORK")
        text = sys.stdin.read() if args[0] == "-" else Path(args[0]).read_text()
    except (TwinbenchError, OSError, ValueError) as error:
        events.emit("failed", kind="bad_input", message=str(error))
        return 1
    return execute_text(text, events)


def execute_text(text: str, events: EventWriter) -> int:
    """Run the job written as JSON in ``text``; a job that does not parse fails as bad input."""
    try:
        job = job_from_json(text)
    except BadInput as error:
        events.emit("failed", kind="bad_input", message=str(error))
        return 1
    return execute(job, events)


if __name__ == "__main__":
    sys.exit(main())
