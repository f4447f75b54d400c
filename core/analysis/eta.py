"""How long a comparison has left (pure functions), for the Train page's status panel and the CLI's bars.

A comparison trains its runs one after another. What is left is

- the run under way: the time it has taken per unit of progress so far (steps, or epochs when
  no step count is known), extrapolated over what it has left, and
- each run not started: the mean duration of the finished runs of its framework; failing that,
  the run under way's projected duration when it is the same framework, then the mean of any
  finished run, then the run under way's projection of another framework (these last two are
  ``rough``: one framework's speed stands in for another's).

Before anything can be timed (no step done, nothing finished) the estimate is unknown and said
as "estimating…". The run under way's time includes its start (loading data, compiling), so its
early estimates run high and settle as it trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from core.frameworks import label

UNKNOWN = "estimating…"


@dataclass(frozen=True)
class PlannedRun:
    """A run not started yet; ``framework`` None when the caller does not know it (the CLI's bars)."""

    framework: str | None
    epochs: int


@dataclass(frozen=True)
class FinishedRun:
    framework: str
    seconds: float


@dataclass(frozen=True)
class CurrentRun:
    """The run under way: ``epoch`` epochs completed and ``step`` steps of the next one done."""

    framework: str
    epochs: int
    epoch: int
    step: int
    steps_per_epoch: int | None  # None until a step count has been reported: only whole epochs count
    elapsed: float  # seconds since the run started

    @property
    def fraction(self) -> float:
        """How much of the run's training is done, 0 to 1."""
        if self.epochs <= 0:
            return 1.0
        within = self.step / self.steps_per_epoch if self.steps_per_epoch else 0.0
        return min(max((self.epoch + min(within, 1.0)) / self.epochs, 0.0), 1.0)


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # None: not known yet
    rough: bool = False  # some run not started was timed by another framework's runs


def estimate_remaining(
    current: CurrentRun | None, planned: Sequence[PlannedRun] = (), finished: Sequence[FinishedRun] = ()
) -> Estimate:
    """Seconds left for ``current`` and the ``planned`` runs, from what ``finished`` runs took."""
    by_framework: dict[str, list[float]] = {}
    for done in finished:
        by_framework.setdefault(done.framework, []).append(max(done.seconds, 0.0))
    means = {name: fmean(seconds) for name, seconds in by_framework.items()}
    overall = fmean([max(done.seconds, 0.0) for done in finished]) if finished else None
    elapsed = max(current.elapsed, 0.0) if current else 0.0

    projected: float | None = None  # the current run's whole duration, extrapolated
    left = 0.0
    rough = False
    if current is not None:
        fraction = current.fraction
        if fraction > 0:
            projected = elapsed / fraction
            left = projected - elapsed
        elif current.framework in means:
            left = max(means[current.framework] - elapsed, 0.0)
        elif overall is not None:
            left, rough = max(overall - elapsed, 0.0), True
        else:
            return Estimate(None)

    for run in planned:
        if run.framework is not None and run.framework in means:
            left += means[run.framework]
        elif projected is not None and current is not None and run.framework == current.framework:
            left += projected * run.epochs / max(current.epochs, 1)
        elif overall is not None:
            left, rough = left + overall, True
        elif projected is not None and current is not None:
            left, rough = left + projected * run.epochs / max(current.epochs, 1), True
        else:
            return Estimate(None)
    return Estimate(max(left, 0.0), rough)


def format_duration(seconds: float | None) -> str:
    """``seconds`` as people read it: 45 s, 3 min 05 s, 1 h 02 min; unknown as "estimating…"."""
    if seconds is None:
        return UNKNOWN
    whole = max(round(seconds), 0)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def format_left(estimate: Estimate) -> str:
    """The time left as the page and the bars say it."""
    if estimate.seconds is None:
        return UNKNOWN
    return ("about " if estimate.rough else "") + format_duration(estimate.seconds)


# --- a queued or running job of the store (core.engine.jobs), as the Train page's status panel shows it ---


@dataclass(frozen=True)
class JobStatus:
    state: str  # waiting, starting, trying modes, training, evaluating, or the job's own end status
    framework: str | None
    repeat: int | None
    run_number: int | None  # 1-based, of ``runs``
    runs: int
    epoch: int | None  # completed epochs of the run under way
    epochs: int | None
    step: int | None
    steps_per_epoch: int | None
    elapsed: float | None  # seconds since the job started training, or since it was queued while waiting
    estimate: Estimate
    fraction: float  # of the comparison's runs done, 0 to 1

    def headline(self, repeats: int = 1) -> str:
        """One line: framework, run, epoch and step, e.g. "PyTorch · run 1 of 2 · epoch 2 of 5 · step 30 of 40"."""
        if self.state == "waiting":
            return "waiting for the device"
        parts = []
        if self.framework:
            parts.append(label(self.framework) + (f" #{self.repeat + 1}" if repeats > 1 and self.repeat is not None else ""))
        if self.state == "trying modes":
            parts.append("trying its modes (best of each)")
        elif self.run_number is not None:
            parts.append(f"run {self.run_number} of {self.runs}")
        if self.state == "starting":
            parts.append("starting (importing the framework, loading the data)")
        elif self.state == "evaluating":
            parts.append(f"epoch {self.epochs} of {self.epochs} done, testing")
        elif self.epochs and self.epoch is not None:
            if self.steps_per_epoch:
                parts.append(f"epoch {min(self.epoch + 1, self.epochs)} of {self.epochs}")
                parts.append(f"step {self.step or 0} of {self.steps_per_epoch}")
            else:
                parts.append(f"epoch {self.epoch} of {self.epochs} done")
        return " · ".join(parts)


def _duration(run: dict[str, Any]) -> float | None:
    started, ended = run.get("started_at"), run.get("finished_at")
    return ended - started if started is not None and ended is not None else None


def job_status(job: dict[str, Any], comparison: dict[str, Any], now: float) -> JobStatus:
    """Where ``job`` (core.engine.jobs.get_job) stands in training ``comparison`` (Store.comparison) at time ``now``."""
    runs = comparison["runs"]
    finished = [FinishedRun(run["framework"], seconds) for run in runs
                if run["status"] == "finished" and (seconds := _duration(run)) is not None]
    done_runs = sum(run["status"] in ("finished", "failed") for run in runs)
    planned = [PlannedRun(run["framework"], run["spec"]["epochs"]) for run in runs if run["status"] == "queued"]
    progress = job.get("progress") or {}
    fraction = done_runs / len(runs) if runs else 0.0
    if job["status"] != "running":
        waited = now - job["created_at"] if job["status"] == "queued" else None
        state = "waiting" if job["status"] == "queued" else job["status"]
        estimate = estimate_remaining(None, planned, finished) if finished else Estimate(None)
        return JobStatus(state, None, None, None, epoch=None, epochs=None, step=None, steps_per_epoch=None,
                         elapsed=waited, estimate=estimate, runs=len(runs), fraction=fraction)
    elapsed = now - job["started_at"] if job.get("started_at") is not None else None
    running = next((run for run in runs if run["status"] == "running"), None)
    if running is None:
        # Before the first run: the frameworks import, or best-of-each tries each framework's modes.
        trying = str(progress.get("run_id", "")).startswith("trial-")
        return JobStatus("trying modes" if trying else "starting", progress.get("framework") if trying else None,
                         None, None, epoch=None, epochs=None, step=None, steps_per_epoch=None, elapsed=elapsed,
                         estimate=Estimate(None), runs=len(runs), fraction=fraction)
    epochs = running["spec"]["epochs"]
    ours = progress if progress.get("run_id") == running["id"] else {}
    steps_per_epoch = ours.get("steps_per_epoch") if ours.get("event") == "progress" else None
    epoch = ours.get("completed_epochs", ours.get("epoch", 0)) if ours else len(running["epochs"])
    step = ours.get("step", 0) if steps_per_epoch else 0
    run_elapsed = now - running["started_at"] if running.get("started_at") is not None else 0.0
    current = CurrentRun(running["framework"], epochs, epoch, step, steps_per_epoch, run_elapsed)
    if not ours or ours.get("event") == "started":
        state = "starting"
    elif current.fraction >= 1.0:
        state = "evaluating"
    else:
        state = "training"
    return JobStatus(state, running["framework"], running["repeat"], running["position"] + 1, epoch=epoch,
                     epochs=epochs, step=step, steps_per_epoch=steps_per_epoch, elapsed=elapsed,
                     estimate=estimate_remaining(current, planned, finished), runs=len(runs),
                     fraction=(done_runs + current.fraction) / len(runs))
