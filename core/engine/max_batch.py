"""The largest batch a framework can train (``bench --find-max-batch``), and the memory limit a
worker may be given (``--memory-limit``).

The search is pure: it asks ``fits(batch)`` and nothing else, so it is tested without any
framework. Like timm's benchmark it halves a batch that ran out of memory, but it also doubles one
that fitted, then bisects between the last batch that fitted and the first that did not: the exact
boundary in about two log2(max) probes, each a few training steps in a worker of its own.

A worker started with ``TWINBENCH_WORKER_MEMORY_LIMIT`` (bytes) in its environment caps its
private writable memory (``RLIMIT_DATA``) just before the run builds its model, after the
framework is imported: an allocation beyond it then fails inside the worker (a MemoryError or the
framework's own out-of-memory error) and the run ends as ``out_of_memory`` instead of being killed.
Why RLIMIT_DATA, and why after the import: docs/benchmarks.md ("Largest batch").
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from core.errors import BadInput
from core.results import RunResult, peak_memory_bytes

MEMORY_LIMIT_VARIABLE = "TWINBENCH_WORKER_MEMORY_LIMIT"
# Each probe: enough steps for the optimizer's state and every buffer to exist, no more.
PROBE_STEPS, PROBE_WARMUP = 2, 1

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30,
          "t": 1 << 40, "tib": 1 << 40, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
# What a worker that died under a memory limit leaves in its last output: C++'s bad_alloc, an mmap
# or a thread's stack refused (ENOMEM, or EAGAIN for pthread_create), a library that cannot be mapped.
MEMORY_MARKERS = ("out of memory", "bad_alloc", "cannot allocate memory", "can't allocate memory", "mmap error: 12",
                  "pthread_create() failed", "failed to map segment", "resource_exhausted")


def parse_memory_size(text: str | int, name: str = "memory_limit") -> int:
    """'1.5GiB', '800MiB', '2g' (binary, as Docker reads it), '2GB' (decimal) or bytes, as bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in _UNITS:
        raise BadInput(f"{name} must be a size such as 1.5GiB, 800MiB or 2000000000 (got {text!r})", name)
    size = int(float(match.group(1)) * _UNITS[match.group(2)])
    if size < 1 << 20:
        raise BadInput(f"{name} must be at least 1 MiB (got {text!r})", name)
    return size


def format_size(size: int | None) -> str:
    if size is None:
        return "–"
    for scale, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= scale:
            return f"{size / scale:.2f}".rstrip("0").rstrip(".") + f" {suffix}"
    return f"{size} B"


@dataclass(frozen=True)
class Fit:
    """What one probe found: whether the batch trained, and what to keep of it (a result, an error)."""

    fits: bool
    detail: Any = None


@dataclass(frozen=True)
class Probe:
    batch: int
    fits: bool
    detail: Any = None


@dataclass
class BatchSearch:
    largest_fit: int | None  # None: not even batch 1 fitted
    first_failure: int | None  # None: the upper bound fitted
    upper: int
    probes: list[Probe] = field(default_factory=list)

    def probe_at(self, batch: int | None) -> Probe | None:
        return next((probe for probe in self.probes if probe.batch == batch), None)


def search_max_batch(fits: Callable[[int], bool | Fit], upper: int, start: int = 1) -> BatchSearch:
    """The largest batch in [1, upper] for which ``fits`` holds, assuming that a batch that fits
    means every smaller one does too.

    From ``start``: double while it fits (up to ``upper``), or halve while it does not (down to 1),
    then bisect between the last batch that fitted and the first that did not. No batch is tried
    twice; at most about 2 log2(upper) + 2 probes. An exception from ``fits`` (a failure that is
    not about memory) ends the search and is the caller's to report.
    """
    if upper < 1:
        raise ValueError(f"upper must be at least 1 (got {upper})")
    search = BatchSearch(largest_fit=None, first_failure=None, upper=upper)

    def probe(batch: int) -> bool:
        answer = fits(batch)
        found = answer if isinstance(answer, Fit) else Fit(bool(answer))
        search.probes.append(Probe(batch, found.fits, found.detail))
        return found.fits

    batch = min(max(1, start), upper)
    low: int | None = None
    high: int | None = None
    if probe(batch):
        low = batch
        while low < upper and high is None:
            batch = min(2 * low, upper)
            if probe(batch):
                low = batch
            else:
                high = batch
    else:
        high = batch
        while high > 1 and low is None:
            batch = high // 2
            if probe(batch):
                low = batch
            else:
                high = batch
    while low is not None and high is not None and high - low > 1:
        batch = (low + high) // 2
        if probe(batch):
            low = batch
        else:
            high = batch
    search.largest_fit, search.first_failure = low, high
    return search


def is_memory_failure(error: dict[str, str] | None) -> bool:
    """A run that ended for want of memory: reported as out_of_memory by the worker, or a worker
    that died with a memory failure in its last output (a native abort or the kernel's OOM killer)."""
    if not error:
        return False
    if error.get("kind") == "out_of_memory":
        return True
    message = error.get("message", "").lower()
    return error.get("kind") == "crashed" and any(marker in message for marker in MEMORY_MARKERS)


# How the search's report names where a probe's peak memory was measured (core.results.PEAK_MEMORY_FIGURES).
MEMORY_MEASURED_WORDS = {"device": "device", "host": "host RSS"}


def peak_memory(result: dict[str, Any] | None) -> tuple[int | None, str | None]:
    """A finished probe's peak memory in bytes and where it was measured: the device's allocator
    on a GPU, the worker's peak resident set on a CPU (core.results.peak_memory_bytes)."""
    peak, where = peak_memory_bytes(RunResult.model_validate(result) if result else None)
    return peak, MEMORY_MEASURED_WORDS.get(where)


# RunSpec's upper bound for batch_size (core/spec.py): the largest batch a probe can ask for.
MAX_BATCH_SIZE = 65536


class ProbeFailed(Exception):
    """A probe that failed for another reason than memory: the search cannot go on."""

    def __init__(self, batch: int, error: dict[str, str] | None) -> None:
        self.batch = batch
        self.error = error or {"kind": "crashed", "message": "the probe ended without a result"}
        super().__init__(f"batch {batch}: {self.error.get('kind')}: {self.error.get('message')}")


@contextlib.contextmanager
def worker_memory_limit(limit: int | None) -> Iterator[None]:
    """Every worker started meanwhile (and every framework host, for the runs it forks) keeps to
    ``limit`` bytes of private writable memory; None leaves them unlimited."""
    before = os.environ.get(MEMORY_LIMIT_VARIABLE)
    if limit is not None:
        os.environ[MEMORY_LIMIT_VARIABLE] = str(limit)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MEMORY_LIMIT_VARIABLE, None)
        else:
            os.environ[MEMORY_LIMIT_VARIABLE] = before
