"""The job queue behind the dashboard: comparisons waiting for the device, kept in the store.

Only one comparison trains on a device at a time, whoever asked for it (two browser tabs, two
people, the CLI): the runner holds an exclusive lock on ``$TWINBENCH_HOME/device.lock`` while
it trains. Because of that lock, a job still marked running when a runner gets the lock was
left behind by a runner that died, and is marked failed rather than waited for forever.

Runners on several machines may share one PostgreSQL store: each claims a different job
(``claim_next``), trains it on its own device, and recovers only what it claimed itself.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from core.engine.compare import create_comparison, execute_comparison
from core.engine.device_lock import device_lock
from core.errors import BadInput
from core.records import Job, JobStatus
from core.spec import RunSpec
from core.store.queries import Store
from core.store.queue import (
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

# What the pages and the CLI use of the queue, with the runner defined here.
__all__ = ["JobRunner", "active_jobs", "device_lock", "enqueue", "execute_job", "get_job", "queue_position",
           "recover_abandoned", "request_cancel", "run_pending"]

IDLE_POLL_SECONDS = 0.5
# After a store error (a damaged or unreachable database), the runner tries again this often.
RETRY_SECONDS = 5.0


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


def run_pending(store: Store, wait_for_lock: bool = False, executor: str | None = None) -> int:
    """Run queued jobs until none is left; returns how many ran. Skips if the device is busy.

    With ``executor`` ray (default: ``$TWINBENCH_EXECUTOR``) the jobs train on a Ray cluster,
    as many at once as it has devices (core.engine.ray_executor.parallel_comparisons); the lock is still
    held, so that only this runner drives the store's jobs and recovers what a dead one left.
    """
    from core.engine.ray_executor import executor_setting

    executor = executor_setting(executor)
    done = 0
    with device_lock(wait=wait_for_lock) as acquired:
        if not acquired:
            return 0
        recover_abandoned(store)
        if executor == "ray":
            return _run_pending_on_cluster(store)
        while (job := claim_next(store)) is not None:
            execute_job(store, job)
            done += 1
    return done


def _run_pending_on_cluster(store: Store) -> int:
    """Claim queued jobs while the cluster has a free device, each driven by a thread with a store
    connection of its own, until the queue is empty and every job has ended."""
    from core.engine.ray_executor import parallel_comparisons

    slots = parallel_comparisons()
    running: list[threading.Thread] = []
    done = 0

    def drive(job: Job) -> None:
        own = Store(store.location)
        try:
            execute_job(own, job, "ray")
        except Exception as error:  # a store error: the job is failed by the next recovery
            from core.engine.error_log import record

            record(error, "job runner (ray)")
        finally:
            own.close()

    while True:
        running = [thread for thread in running if thread.is_alive()]
        job = claim_next(store) if len(running) < slots else None
        if job is not None:
            thread = threading.Thread(target=drive, args=(job,), name=f"twinbench-job-{job.id}", daemon=True)
            thread.start()
            running.append(thread)
            done += 1
        elif not running:
            return done
        else:
            time.sleep(IDLE_POLL_SECONDS)


class JobRunner(threading.Thread):
    """A daemon thread in the dashboard's process that works through the queue.

    Training happens in worker processes it starts; this thread only waits on them, so the
    dashboard's process never imports a framework.
    """

    def __init__(self, location: Path | str, executor: str | None = None) -> None:
        super().__init__(name="twinbench-job-runner", daemon=True)
        self.location = location  # a SQLite file or a database URL
        # local or ray; None: $TWINBENCH_EXECUTOR (and $TWINBENCH_RAY_ADDRESS), read on each pass.
        self.executor = executor
        self.stopping = threading.Event()
        self.last_error: str | None = None

    def run(self) -> None:
        store: Store | None = None
        while not self.stopping.is_set():
            try:
                store = store or Store(self.location)
                ran = run_pending(store, executor=self.executor)
                self.last_error = None
            except Exception as error:  # keep serving the queue: retry, and let the pages say why it waits
                from core.engine.error_log import one_line, record

                if self.last_error is None:
                    record(error, "job runner")
                self.last_error = one_line(error) if not isinstance(error, BadInput) else str(error)
                if store is not None:
                    store.close()
                store, ran = None, 0
                self.stopping.wait(RETRY_SECONDS)
            if not ran:
                self.stopping.wait(IDLE_POLL_SECONDS)
