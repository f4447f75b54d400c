"""The job queue behind the dashboard: comparisons waiting for the device, kept in the store.

Only one comparison trains on a device at a time, whoever asked for it (two browser tabs, two
people, the CLI): the runner holds an exclusive lock on ``$TWINBENCH_HOME/device.lock`` while
it trains. Because of that lock, a job still marked running when a runner gets the lock was
left behind by a runner that died, and is marked failed rather than waited for forever.

Runners on several machines may share one PostgreSQL store: each claims a different job
(``claim_next``), trains it on its own device, and recovers only what it claimed itself.
"""

from __future__ import annotations

from typing import Any

from core.engine.compare import create_comparison, execute_comparison
from core.records import Job, JobStatus
from core.spec import RunSpec
from core.store.queries import Store
from core.store.queue import (
    ABANDONED_AFTER_SECONDS,
    active_jobs,
    add_job,
    cancel_requested,
    claim_next,
    close_job,
    get_job,
    queue_position,
    record_progress,
    recover_abandoned,
    request_cancel,
)

# What the pages, the CLI and the runner (core.engine.job_runner) use of the queue; its SQL is core.store.queue's.
__all__ = ["ABANDONED_AFTER_SECONDS", "active_jobs", "cancel_requested", "claim_next", "enqueue", "execute_job", "get_job",
           "queue_position", "recover_abandoned", "request_cancel"]


def enqueue(store: Store, spec: RunSpec, frameworks: list[str], *, sweep_id: str | None = None,
            owner: str | None = None) -> str:
    """Validate, prepare the data and queue a comparison; raises BadInput before any write.

    ``sweep_id`` groups it with the other cells of a sweep; ``owner`` is the visitor who asked
    (public mode lets only them delete it)."""
    return add_job(store, create_comparison(store, spec, frameworks, sweep_id=sweep_id, owner=owner))


def execute_job(store: Store, job: Job, executor: str | None = None) -> JobStatus:
    """Train a claimed job's comparison, keeping its live progress in the store (``executor``:
    local or ray, see core.engine.compare.execute_comparison)."""

    def on_event(info: dict[str, Any], event: dict[str, Any]) -> None:
        if event["type"] not in ("started", "progress", "epoch"):
            return
        progress = {**info, "event": event["type"]}
        if event["type"] == "progress":
            progress.update(epoch=event["epoch"], step=event["step"], steps_per_epoch=event["steps_per_epoch"])
        elif event["type"] == "epoch":
            progress.update(epoch=event["epoch"], step=0, completed_epochs=event["epoch"])
        record_progress(store, job.id, progress)

    try:
        execute_comparison(store, job.comparison_id, on_event=on_event,
                           should_cancel=lambda: cancel_requested(store, job.id), executor=executor)
    except Exception as error:  # the comparison could not even start (its data vanished, say)
        close_job(store, job, "failed", f"{type(error).__name__}: {error}")
        return "failed"
    runs = store.comparison(job.comparison_id).runs
    status: JobStatus
    if cancel_requested(store, job.id):
        status, message = "cancelled", "cancelled"
    elif all(run.status == "finished" for run in runs):
        status, message = "finished", ""
    else:
        status, message = "failed", f"{sum(run.status == 'failed' for run in runs)} of {len(runs)} runs failed"
    close_job(store, job, status, message)
    return status
