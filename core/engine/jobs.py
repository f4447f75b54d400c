"""The job queue behind the dashboard: comparisons waiting for the device, kept in the store.

Only one comparison trains on a device at a time, whoever asked for it (two browser tabs, two
people, the CLI): the runner holds an exclusive lock on ``$TWINBENCH_HOME/device.lock`` while
it trains. Because of that lock, a job still marked running when a runner gets the lock was
left behind by a runner that died, and is marked failed rather than waited for forever.

Runners on several machines may share one PostgreSQL store: each claims a different job
(``claim_next``), trains it on its own device, and recovers only what it claimed itself.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, case, func, insert, or_, select, update

from core.engine.compare import create_comparison, execute_comparison
from core.spec import RunSpec
from core.store.database import claimant, comparisons, jobs, runs
from core.store.queries import Store, new_id

# A job is queued, running, finished, failed or cancelled.
# A job claimed on another machine sharing the store, silent this long, was left by a runner that died.
ABANDONED_AFTER_SECONDS = 30 * 60.0


def enqueue(store: Store, spec: RunSpec, frameworks: list[str], *, sweep_id: str | None = None,
            owner: str | None = None) -> str:
    """Validate, prepare the data and queue a comparison; raises BadInput before any write.

    ``sweep_id`` groups it with the other cells of a sweep; ``owner`` is the visitor who asked
    (public mode lets only them delete it)."""
    comparison_id = create_comparison(store, spec, frameworks, sweep_id=sweep_id, owner=owner)
    job_id = new_id()
    with store.transaction() as db:
        db.execute(insert(jobs).values(id=job_id, comparison_id=comparison_id, status="queued", created_at=time.time()))
    return job_id


def _job_row(row: Any) -> dict[str, Any]:
    job = dict(row._mapping)
    job["progress"] = json.loads(job.pop("progress_json") or "null")
    return job


# A job with the owner of its comparison, for the per-visitor limits of public mode.
_JOB_WITH_OWNER = select(jobs, comparisons.c.owner).join(comparisons, comparisons.c.id == jobs.c.comparison_id)


def get_job(store: Store, job_id: str) -> dict[str, Any] | None:
    with store.reading() as db:
        row = db.execute(_JOB_WITH_OWNER.where(jobs.c.id == job_id)).first()
    return _job_row(row) if row else None


def active_jobs(store: Store) -> list[dict[str, Any]]:
    """Running first, then queued in the order they will run."""
    with store.reading() as db:
        rows = db.execute(_JOB_WITH_OWNER.where(jobs.c.status.in_(("running", "queued")))
                          .order_by(case((jobs.c.status == "queued", 1), else_=0), jobs.c.created_at, jobs.c.id)).all()
    return [_job_row(row) for row in rows]


def queue_position(store: Store, job_id: str) -> int | None:
    """How many jobs run before this one (0 = it is next or running)."""
    ids = [job["id"] for job in active_jobs(store)]
    return ids.index(job_id) if job_id in ids else None


def request_cancel(store: Store, job_id: str) -> None:
    """A queued job is cancelled at once; a running one stops at its worker's next step."""
    with store.transaction() as db:
        job = db.execute(select(jobs.c.status, jobs.c.comparison_id).where(jobs.c.id == job_id).with_for_update()).first()
        if job is None or job.status not in ("queued", "running"):
            return
        db.execute(update(jobs).where(jobs.c.id == job_id).values(cancel_requested=1))
        if job.status == "queued":
            _close_job(store, db, job_id, job.comparison_id, "cancelled", "cancelled before it started")


def _close_job(store: Store, db: Connection, job_id: str, comparison_id: str, status: str, message: str) -> None:
    db.execute(update(jobs).where(jobs.c.id == job_id).values(status=status, finished_at=time.time(), message=message))
    store.fail_unfinished_runs(comparison_id, "cancelled" if status == "cancelled" else "crashed", message, db)


def recover_abandoned(store: Store) -> int:
    """Fail what a runner or a CLI that died left running; returns how many comparisons.

    Call only while holding the device lock. What this machine and home claimed (``claimant``) is
    abandoned, since only the lock's holder trains here. Several machines may share one
    PostgreSQL store: a job another one claimed is abandoned only once it has not reported for
    ABANDONED_AFTER_SECONDS (its runner died with the machine, say).
    """
    here = claimant()
    stale = time.time() - ABANDONED_AFTER_SECONDS
    mine = or_(jobs.c.claimed_by == here, jobs.c.claimed_by.is_(None))
    silent = func.coalesce(jobs.c.heartbeat_at, jobs.c.started_at, jobs.c.created_at) < stale
    with store.transaction() as db:
        abandoned = db.execute(select(jobs.c.id, jobs.c.comparison_id)
                               .where(jobs.c.status == "running", or_(mine, silent)).with_for_update(skip_locked=True)).all()
        for job_id, comparison_id in abandoned:
            _close_job(store, db, job_id, comparison_id, "failed",
                       "the app stopped while this comparison was running; start it again")
        # Runs a CLI `compare` left running, which no job tracks.
        stranded = db.execute(select(runs.c.comparison_id).distinct().where(
            runs.c.status == "running", or_(runs.c.claimed_by == here, runs.c.claimed_by.is_(None)))).scalars().all()
        for comparison_id in stranded:
            store.fail_unfinished_runs(comparison_id, "crashed",
                                       "the process training this comparison stopped before it ended (killed or "
                                       "crashed); start it again", db)
    return len(abandoned) + len(stranded)


def claim_next(store: Store) -> dict[str, Any] | None:
    """The oldest queued job, now running and claimed by this runner; None when none is queued.

    On PostgreSQL the row is locked with SKIP LOCKED, so runners on several machines sharing one
    store each take a different job without waiting for one another; SQLite's write transaction
    (BEGIN IMMEDIATE) lets one claimer at a time in."""
    now = time.time()
    with store.transaction() as db:
        job_id = db.execute(select(jobs.c.id).where(jobs.c.status == "queued").order_by(jobs.c.created_at, jobs.c.id)
                            .limit(1).with_for_update(skip_locked=True)).scalar()
        if job_id is None:
            return None
        db.execute(update(jobs).where(jobs.c.id == job_id)
                   .values(status="running", started_at=now, heartbeat_at=now, claimed_by=claimant()))
    return get_job(store, job_id)


def cancel_requested(store: Store, job_id: str) -> bool:
    with store.reading() as db:
        return bool(db.execute(select(jobs.c.cancel_requested).where(jobs.c.id == job_id)).scalar())


def execute_job(store: Store, job: dict[str, Any], executor: str | None = None) -> str:
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
        with store.transaction() as db:
            db.execute(update(jobs).where(jobs.c.id == job["id"])
                       .values(progress_json=json.dumps(progress), heartbeat_at=time.time()))

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
