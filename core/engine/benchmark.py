"""``bench`` as work: steady-state training speed on synthetic data, each run in a fresh worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.engine.max_batch import worker_memory_limit
from core.engine.runner import EventCallback, ProcessExecutor
from core.engine.work import BenchJob
from core.results import RunResult
from core.spec import RunSpec


def run_benchmarks(spec: RunSpec, frameworks: list[str], input_shape: tuple[int, int, int], classes: int, steps: int,
                   warmup: int, memory_limit: int | None = None,
                   events_for: Callable[[dict[str, Any]], EventCallback | None] | None = None) -> list[dict[str, Any]]:
    """One benchmark per framework, in order, as runs the report's tables read (framework, status,
    spec, result, environment, error). ``events_for`` gives the event callback of each run, from
    its description (run id, framework, repeat)."""
    executor = ProcessExecutor()
    runs: list[dict[str, Any]] = []
    for framework in frameworks:
        run_spec = spec.replace(framework=framework, dataset="shapes", epochs=1)
        job = BenchJob(spec=run_spec, input_shape=input_shape, num_classes=classes, steps=steps, warmup=warmup)
        info = {"run_id": framework, "framework": framework, "repeat": 0}
        with worker_memory_limit(memory_limit):
            outcome = executor.run(job, events_for(info) if events_for else None)
        runs.append({
            "framework": framework, "status": outcome.status, "spec": run_spec.to_dict(),
            "result": RunResult.model_validate(outcome.result) if outcome.result else None,
            "environment": outcome.environment, "error": outcome.error,
            "repeat": 0, "error_kind": (outcome.error or {}).get("kind"),
            "error_message": (outcome.error or {}).get("message"),
        })
    return runs


def bench_architecture(name: str, framework: str, input_shape: tuple[int, int, int], batch: int, steps: int,
                       device: str) -> dict[str, Any] | None:
    """A few timed steps of one architecture in one framework (the ``models`` table); None if it failed."""
    spec = RunSpec.from_dict({"architecture": name, "framework": framework, "batch_size": batch, "device": device})
    outcome = ProcessExecutor().run(BenchJob(spec=spec, input_shape=input_shape, steps=steps, warmup=3))
    return outcome.result if outcome.status == "finished" else None
