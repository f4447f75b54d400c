"""``bench --find-max-batch`` as work: per framework, the largest batch that trains a few steps
without running out of memory, each probe in a worker of its own (the search itself is
core.engine.max_batch.search_max_batch, pure).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from core.engine.max_batch import (
    PROBE_STEPS,
    PROBE_WARMUP,
    BatchSearch,
    Fit,
    ProbeFailed,
    is_memory_failure,
    peak_memory,
    search_max_batch,
    worker_memory_limit,
)
from core.engine.runner import Executor, ProcessExecutor
from core.engine.work import BenchJob
from core.spec import RunSpec

# Without a limit of its own, a probe on the CPU may take this share of the memory available when
# the search starts: a batch beyond it fails as out of memory instead of the machine swapping.
DEFAULT_SHARE_OF_AVAILABLE_MEMORY = 0.8

ProbeCallback = Callable[[str, int, Fit], None]


def probe_memory_limit(given: int | None, device: str) -> int | None:
    """The host memory each probe's worker may use: ``given``, else on the CPU a share of what is
    available now, else (a GPU's memory is the device's) none."""
    if given is None and device == "cpu":
        return int(DEFAULT_SHARE_OF_AVAILABLE_MEMORY * psutil.virtual_memory().available)
    return given


@dataclass(frozen=True)
class FrameworkSearch:
    """One framework's search: what it found (or the probe that failed otherwise) and how long it took."""

    framework: str
    found: BatchSearch | ProbeFailed
    seconds: float

    def as_json(self) -> dict[str, Any]:
        if isinstance(self.found, ProbeFailed):
            return {"framework": self.framework, "largest_fit": None, "first_failure": None, "probes": [],
                    "seconds": self.seconds, "peak_memory_bytes": None, "peak_memory_kind": None,
                    "error": self.found.error}
        found = self.found
        fitted = found.probe_at(found.largest_fit)
        peak, where = peak_memory(fitted.detail if fitted else None)
        return {"framework": self.framework, "largest_fit": found.largest_fit, "first_failure": found.first_failure,
                "seconds": self.seconds, "peak_memory_bytes": peak, "peak_memory_kind": where, "error": None,
                "probes": [{"batch": probe.batch, "fits": probe.fits,
                            **({"peak_memory_bytes": peak_memory(probe.detail)[0]} if probe.fits else {"error": probe.detail})}
                           for probe in found.probes]}


def _probe_batch(executor: Executor, job: BenchJob, on_probe: ProbeCallback | None, batch: int) -> Fit:
    """One probe of the search: does ``job`` at ``batch`` train a few steps? A failure that is
    not about memory ends the search (ProbeFailed); Ctrl-C ends the command."""
    outcome = executor.run(job.model_copy(update={"spec": job.spec.replace(batch_size=batch)}))
    if outcome.interrupted:
        raise KeyboardInterrupt
    if outcome.status == "finished":
        fit = Fit(True, outcome.result)
    elif is_memory_failure(outcome.error):
        fit = Fit(False, outcome.error)
    else:
        raise ProbeFailed(batch, outcome.error)
    if on_probe:
        on_probe(job.framework, batch, fit)
    return fit


def find_max_batch(spec: RunSpec, frameworks: list[str], input_shape: tuple[int, int, int], classes: int, upper: int,
                   start: int, memory_limit: int | None, on_probe: ProbeCallback | None = None,
                   ) -> tuple[list[FrameworkSearch], bool]:
    """Each framework's search, in order; and whether Ctrl-C ended them early (the searches that had
    finished are kept)."""
    searches: list[FrameworkSearch] = []
    with worker_memory_limit(memory_limit):
        for framework in frameworks:
            # Each probe in a fresh worker, as every bench run: a process forked from a framework
            # host would start with the host's memory (and its preloads) already counted.
            probe = functools.partial(_probe_batch, ProcessExecutor(), BenchJob(
                spec=spec.replace(framework=framework, dataset="shapes", epochs=1), input_shape=input_shape,
                num_classes=classes, steps=PROBE_STEPS, warmup=PROBE_WARMUP, pool_batches=1), on_probe)
            began = time.perf_counter()
            try:
                found: BatchSearch | ProbeFailed = search_max_batch(probe, upper, start)
            except ProbeFailed as failure:
                found = failure
            except KeyboardInterrupt:
                return searches, True
            searches.append(FrameworkSearch(framework, found, time.perf_counter() - began))
    return searches, False
