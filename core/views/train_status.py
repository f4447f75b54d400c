"""What the Train page shows of the queue: the job it follows, each run's bar, the jobs waiting.

How far a run is comes from core.analysis.eta's model (``CurrentRun``), the one the status panel's
time left is computed from, so a bar and the time left never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core.analysis.eta import CurrentRun, format_duration, format_left, job_status
from core.analysis.frames import epochs_frame
from core.engine.jobs import active_jobs, get_job, queue_position
from core.frameworks import label
from core.store.queries import Store
from core.text import plain
from core.train.measure import usable_cpu_count
from core.views.charts import curves_figure
from core.views.watching import WatchPolicy, trains_on_cpu, watch_policy

TIME_LEFT_HELP = ("the time per step so far, extrapolated; a run not started takes the mean of its "
                  "framework's finished runs (rough: another framework's, until its own has run)")


@dataclass(frozen=True)
class Followed:
    job: dict[str, Any] | None  # the job the address names (?job=), when this database has it
    jobs: list[dict[str, Any]]  # queued or training, in the order they run
    shown: dict[str, Any] | None  # the followed job, else the one the device is busy with
    comparison: dict[str, Any] | None  # the shown job's comparison

    @property
    def live(self) -> bool:
        return is_live(self.jobs, self.job)


def followed(store: Store, job_id: str | None) -> Followed:
    """The queue as the page shows it, for the job the address names (``None``: none named)."""
    jobs = active_jobs(store)
    job = get_job(store, job_id) if job_id else None
    # The followed job, else the one the device is busy with (started elsewhere: the CLI, another tab).
    shown = job if job is not None else (jobs[0] if jobs else None)
    comparison = store.comparison(shown["comparison_id"]) if shown is not None else None
    return Followed(job, jobs, shown, comparison)


def page_policy(comparison: dict[str, Any] | None) -> WatchPolicy:
    """How much the page does while ``comparison`` (the one shown, if any) trains here."""
    return watch_policy(trains_on_cpu(comparison["settings"]["device"] if comparison else "auto"), usable_cpu_count())


def is_live(jobs: list[dict[str, Any]], job: dict[str, Any] | None) -> bool:
    """Whether the page refreshes: something is queued or training, or the followed ``job`` still is."""
    return bool(jobs) or bool(job and job["status"] in ("queued", "running"))


def curves_drawn(comparison: dict[str, Any] | None) -> tuple[Any, ...]:
    """What the curves show: the comparison and how many epochs have ended in it."""
    return (comparison["id"], len(epochs_frame(comparison))) if comparison else ()


def live_figures(comparison: dict[str, Any] | None) -> dict[str, Any]:
    """The live accuracy and loss curves beside the status panel, once an epoch has ended."""
    frame = epochs_frame(comparison) if comparison else None
    if frame is None or frame.empty:
        return {}
    figures = {metric: curves_figure(frame, metric) for metric in ("accuracy", "loss")}
    for figure in figures.values():
        figure.update_layout(height=320, margin={"t": 40, "b": 10})
    return figures


def _done(run: dict[str, Any], epoch: int, step: int = 0, steps_per_epoch: int | None = None) -> float:
    return CurrentRun(run["framework"], run["spec"]["epochs"], epoch, step, steps_per_epoch, elapsed=0.0).fraction


def run_progress(run: dict[str, Any], job: dict[str, Any]) -> tuple[float, str]:
    """Fraction done and a caption for one run of ``job``."""
    epochs = run["spec"]["epochs"]
    if run["status"] == "finished":
        return 1.0, "finished"
    if run["status"] == "failed":
        return _done(run, len(run["epochs"])), f"{run['error_kind']}: {run['error_message']}"
    if run["status"] == "queued":
        return 0.0, "waiting"
    progress = job.get("progress") or {}
    if progress.get("run_id") == run["id"] and progress.get("steps_per_epoch"):
        done = _done(run, progress["epoch"], progress["step"], progress["steps_per_epoch"])
        return done, f"epoch {min(progress['epoch'] + 1, epochs)} of {epochs}"
    if progress.get("run_id") == run["id"] and progress.get("completed_epochs"):
        return _done(run, progress["completed_epochs"]), f"epoch {progress['completed_epochs']} of {epochs} done"
    return _done(run, len(run["epochs"])), "starting (importing the framework)"


def run_bars(comparison: dict[str, Any], job: dict[str, Any]) -> list[tuple[float, str]]:
    """Each run's bar: how far it is, and its text (the framework, the repeat where there are several)."""
    bars = []
    for run in comparison["runs"]:
        fraction, caption = run_progress(run, job)
        name = label(run["framework"])
        name += f" #{run['repeat'] + 1}" if comparison["settings"]["repeats"] > 1 else ""
        bars.append((fraction, plain(f"{name}: {caption}")))
    return bars


@dataclass(frozen=True)
class Metric:
    label: str
    value: str | int
    help: str | None = None


@dataclass(frozen=True)
class StatusPanel:
    """The panel on top while a job is queued or training: what trains, how far, for how long, how long to go."""

    title: str
    headline: str
    metrics: tuple[Metric, Metric]
    caption: str | None
    fraction: float  # of the whole comparison


def status_panel(store: Store, job: dict[str, Any], comparison: dict[str, Any], yours: bool, now: float) -> StatusPanel:
    settings = comparison["settings"]
    status = job_status(job, comparison, now)
    waiting = job["status"] == "queued"
    title = "Waiting for the device" if waiting else "Training"
    elapsed = Metric("Waiting" if waiting else "Elapsed", format_duration(status.elapsed))
    if waiting:
        second = Metric("Ahead in the queue", queue_position(store, job["id"]) or 0)
        caption: str | None = f"Time left: {format_left(status.estimate)}, once it starts"
    else:
        second = Metric("Time left" + (" (rough)" if status.estimate.rough else ""), format_duration(status.estimate.seconds),
                        TIME_LEFT_HELP)
        caption = None
    return StatusPanel(f"{title}: {plain(settings['architecture'])} on {plain(settings['dataset'])}" + (" (yours)" if yours else ""),
                       f"**{plain(status.headline(settings.get('repeats', 1)))}**", (elapsed, second), caption, status.fraction)


def ended_caption(job: dict[str, Any]) -> str:
    """When a job that no longer runs was queued, and how it ended."""
    started = dt.datetime.fromtimestamp(job["created_at"]).strftime("%H:%M:%S")
    status_text = {"finished": "finished", "failed": f"failed: {job['message']}",
                   "cancelled": "cancelled"}.get(job["status"], job["status"])
    return f"Queued at {started} · {plain(status_text)}"


def waiting_lines(store: Store, jobs: list[dict[str, Any]], shown: dict[str, Any] | None) -> list[str]:
    """One line per job in the queue other than the one shown above it."""
    lines = []
    for queued in [queued for queued in jobs if shown is None or queued["id"] != shown["id"]]:
        settings = store.comparison(queued["comparison_id"])["settings"]
        position = jobs.index(queued)
        state = "training" if queued["status"] == "running" else f"waiting, {position} ahead"
        lines.append(f"**{plain(settings['architecture'])} on {plain(settings['dataset'])}**: {state}")
    return lines
