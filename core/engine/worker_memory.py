"""Out of memory inside a worker: the memory limit it keeps to, and one kind and one message for
every framework's way of saying an allocation was refused.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from core.engine.max_batch import MEMORY_LIMIT_VARIABLE
from core.engine.work import Job
from core.spec import RunSpec
from core.train.backend import Backend


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
