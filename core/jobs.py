"""The job queue behind the dashboard: comparisons waiting for the device, kept in the store.

Only one comparison trains on a device at a time, whoever asked for it (two browser tabs, two
people, the CLI): the runner holds an exclusive lock on ``$TWINBENCH_HOME/device.lock`` while
it trains. Because of that lock, a job still marked running when a runner gets the lock was
left behind by a runner that died, and is marked failed rather than waited for forever.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from core.compare import create_comparison, execute_comparison
from core.device_lock import device_lock
from core.errors import BadInput
from core.spec import RunSpec
from core.store import Store, new_id

# A job is queued, running, finished, failed or cancelled.
IDLE_POLL_SECONDS = 0.5
# After a store error (a damaged or unreachable database), the runner tries again this often.
RETRY_SECONDS = 5.0


def enqueue(store: Store, spec: RunSpec, frameworks: list[str]) -> str:
    """Validate, prepare the data and queue a comparison; raises BadInput before any write."""
    comparison_id = create_comparison(store, spec, frameworks)
    job_id = new_id()
    with store.transaction() as db:
        db.execute("INSERT INTO jobs (id, comparison_id, status, created_at) VALUES (?, ?, 'queued', ?)",
                   (job_id, comparison_id, time.time()))
    return job_id


def _job_row(row: Any) -> dict[str, Any]:
    job = dict(row)
    job["progress"] = json.loads(job.pop("progress_json") or "null")
    return job


def get_job(store: Store, job_id: str) -> dict[str, Any] | None:
    row = store.connection.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
    return _job_row(row) if row else None


def active_jobs(store: Store) -> list[dict[str, Any]]:
    """Running first, then queued in the order they will run."""
    rows = store.connection.execute(
        "SELECT * FROM jobs WHERE status IN ('running', 'queued') "
        "ORDER BY status='queued', created_at"
    ).fetchall()
    return [_job_row(row) for row in rows]


def queue_position(store: Store, job_id: str) -> int | None:
    """How many jobs run before this one (0 = it is next or running)."""
    ids = [job["id"] for job in active_jobs(store)]
    return ids.index(job_id) if job_id in ids else None


def request_cancel(store: Store, job_id: str) -> None:
    """A queued job is cancelled at once; a running one stops at its worker's next step."""
    with store.transaction() as db:
        job = db.execute("SELECT status, comparison_id FROM jobs WHERE id=?", (job_id,)).fetchone()
        if job is None or job["status"] not in ("queued", "running"):
            return
        db.execute("UPDATE jobs SET cancel_requested=1 WHERE id=?", (job_id,))
        if job["status"] == "queued":
            _close_job(store, db, job_id, job["comparison_id"], "cancelled", "cancelled before it started")


def _close_job(store: Store, db: Any, job_id: str, comparison_id: str, status: str, message: str) -> None:
    db.execute("UPDATE jobs SET status=?, finished_at=?, message=? WHERE id=?", (status, time.time(), message, job_id))
    store.fail_unfinished_runs(comparison_id, "cancelled" if status == "cancelled" else "crashed", message, db)


def recover_abandoned(store: Store) -> int:
    """Fail what a runner or a CLI that died left running; returns how many comparisons.

    Call only while holding the device lock: whoever trained them is gone, since only the lock's
    holder trains.
    """
    with store.transaction() as db:
        jobs = db.execute("SELECT id, comparison_id FROM jobs WHERE status='running'").fetchall()
        for row in jobs:
            _close_job(store, db, row["id"], row["comparison_id"], "failed",
                       "the app stopped while this comparison was running; start it again")
        stranded = db.execute("SELECT DISTINCT comparison_id FROM runs WHERE status='running'").fetchall()
        for row in stranded:
            store.fail_unfinished_runs(row["comparison_id"], "crashed",
                                       "the process training this comparison stopped before it ended (killed or "
                                       "crashed); start it again", db)
    return len(jobs) + len(stranded)


def claim_next(store: Store) -> dict[str, Any] | None:
    with store.transaction() as db:
        row = db.execute("SELECT * FROM jobs WHERE status='queued' ORDER BY created_at LIMIT 1").fetchone()
        if row is None:
            return None
        db.execute("UPDATE jobs SET status='running', started_at=? WHERE id=?", (time.time(), row["id"]))
    return get_job(store, row["id"])


def cancel_requested(store: Store, job_id: str) -> bool:
    row = store.connection.execute("SELECT cancel_requested FROM jobs WHERE id=?", (job_id,)).fetchone()
    return bool(row and row["cancel_requested"])


def execute_job(store: Store, job: dict[str, Any], executor: str | None = None) -> str:
    """Train a claimed job's comparison, keeping its live progress in the store (``executor``:
    local or ray, see core.compare.execute_comparison)."""

    def on_event(info: dict[str, Any], event: dict[str, Any]) -> None:
        if event["type"] not in ("started", "progress", "epoch"):
            return
        progress = {**info, "event": event["type"]}
        if event["type"] == "progress":
            progress.update(epoch=event["epoch"], step=event["step"], steps_per_epoch=event["steps_per_epoch"])
        elif event["type"] == "epoch":
            progress.update(epoch=event["epoch"], step=0, completed_epochs=event["epoch"])
        with store.transaction() as db:
            db.execute("UPDATE jobs SET progress_json=? WHERE id=?", (json.dumps(progress), job["id"]))

    try:
        execute_comparison(store, job["comparison_id"], on_event=on_event,
                           should_cancel=lambda: cancel_requested(store, job["id"]), executor=executor)
    except Exception as error:  # the comparison could not even start (its data vanished, say)
        with store.transaction() as db:
            _close_job(store, db, job["id"], job["comparison_id"], "failed", f"{type(error).__name__}: {error}")
        return "failed"
    runs = store.comparison(job["comparison_id"])["runs"]
    if cancel_requested(store, job["id"]):
        status, message = "cancelled", "cancelled"
    elif all(r["status"] == "finished" for r in runs):
        status, message = "finished", ""
    else:
        status, message = "failed", f"{sum(r['status'] == 'failed' for r in runs)} of {len(runs)} runs failed"
    with store.transaction() as db:
        _close_job(store, db, job["id"], job["comparison_id"], status, message)
    return status


def run_pending(store: Store, wait_for_lock: bool = False, executor: str | None = None) -> int:
    """Run queued jobs until none is left; returns how many ran. Skips if the device is busy.

    With ``executor`` ray (default: ``$TWINBENCH_EXECUTOR``) the jobs train on a Ray cluster,
    as many at once as it has devices (core.ray_executor.parallel_comparisons); the lock is still
    held, so that only this runner drives the store's jobs and recovers what a dead one left.
    """
    from core.ray_executor import executor_setting

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
    from core.ray_executor import parallel_comparisons

    slots = parallel_comparisons()
    running: list[threading.Thread] = []
    done = 0

    def drive(job: dict[str, Any]) -> None:
        own = Store(store.path)
        try:
            execute_job(own, job, "ray")
        except Exception as error:  # a store error: the job is failed by the next recovery
            from core.error_log import record

            record(error, "job runner (ray)")
        finally:
            own.close()

    while True:
        running = [thread for thread in running if thread.is_alive()]
        job = claim_next(store) if len(running) < slots else None
        if job is not None:
            thread = threading.Thread(target=drive, args=(job,), name=f"twinbench-job-{job['id']}", daemon=True)
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

    def __init__(self, db_path: Path, executor: str | None = None) -> None:
        super().__init__(name="twinbench-job-runner", daemon=True)
        self.db_path = db_path
        # local or ray; None: $TWINBENCH_EXECUTOR (and $TWINBENCH_RAY_ADDRESS), read on each pass.
        self.executor = executor
        self.stopping = threading.Event()
        self.last_error: str | None = None

    def run(self) -> None:
        store: Store | None = None
        while not self.stopping.is_set():
            try:
                store = store or Store(self.db_path)
                ran = run_pending(store, executor=self.executor)
                self.last_error = None
            except Exception as error:  # keep serving the queue: retry, and let the pages say why it waits
                from core.error_log import one_line, record

                if self.last_error is None:
                    record(error, "job runner")
                self.last_error = one_line(error) if not isinstance(error, BadInput) else str(error)
                if store is not None:
                    store.close()
                store, ran = None, 0
                self.stopping.wait(RETRY_SECONDS)
            if not ran:
                self.stopping.wait(IDLE_POLL_SECONDS)
