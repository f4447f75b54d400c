"""Made-up store records for the tests of pure functions: only what a test cares about is given,
everything else takes a plain default. Specs, settings, epochs and samples may be written as the
dicts a worker reports; they become the records ``Store.comparison`` hands out."""

from __future__ import annotations

from typing import Any

from core.records import Comparison, ComparisonSummary, Epoch, Job, Run, StepSample, StoredSpec


def run_record(framework: str = "pytorch", *, id: str | None = None, repeat: int = 0, position: int | None = None,
               status: str = "finished", spec: dict[str, Any] | None = None,
               epochs: list[dict[str, Any]] | tuple[Epoch, ...] = (),
               step_samples: list[dict[str, Any]] | tuple[StepSample, ...] = (), **fields: Any) -> Run:
    return Run(id=id or f"{framework}{repeat}", comparison_id=fields.pop("comparison_id", "c1"),
               position=repeat if position is None else position, repeat=repeat, framework=framework,
               status=status, spec=StoredSpec.model_validate(spec or {}), created_at=fields.pop("created_at", 0.0),
               epochs=tuple(e if isinstance(e, Epoch) else Epoch(**e) for e in epochs),
               step_samples=tuple(s if isinstance(s, StepSample) else StepSample(**s) for s in step_samples),
               **fields)


def comparison_record(runs: list[Run] | tuple[Run, ...] = (), *, id: str = "c1",
                      frameworks: str | tuple[str, ...] | None = None, settings: dict[str, Any] | None = None,
                      tags: list[str] | tuple[str, ...] = (), **fields: Any) -> Comparison:
    named = frameworks if frameworks is not None else ",".join(dict.fromkeys(run.framework for run in runs))
    stored = StoredSpec.model_validate(settings or {})
    return Comparison(id=id, created_at=fields.pop("created_at", 0.0), dataset=fields.pop("dataset", stored.dataset),
                      architecture=fields.pop("architecture", stored.architecture),
                      device=fields.pop("device", stored.device),
                      frameworks=tuple(named.split(",")) if isinstance(named, str) else named,
                      settings=stored, tags=tuple(tags), runs=tuple(runs), **fields)


def summary_record(*, id: str = "c1", frameworks: str = "pytorch,tensorflow", tags: list[str] | tuple[str, ...] = (),
                   runs: int = 0, finished: int | None = None, failed: int | None = None, **fields: Any) -> ComparisonSummary:
    return ComparisonSummary(id=id, created_at=fields.pop("created_at", 0.0), dataset=fields.pop("dataset", "digits"),
                             architecture=fields.pop("architecture", "cnn"), device=fields.pop("device", "auto"),
                             frameworks=tuple(frameworks.split(",")), sweep_id=fields.pop("sweep_id", None),
                             owner=fields.pop("owner", None), tags=tuple(tags), note=fields.pop("note", ""), runs=runs,
                             finished=finished, failed=failed, resolved_device=fields.pop("resolved_device", None))


def job_record(*, id: str = "j1", comparison_id: str = "c1", status: str = "running", created_at: float = 0.0,
               **fields: Any) -> Job:
    return Job(id=id, comparison_id=comparison_id, status=status, created_at=created_at, **fields)
