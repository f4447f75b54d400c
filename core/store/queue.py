"""The job queue's rows: comparisons waiting for the device, claimed, cancelled and closed.

Runners on several machines may share one PostgreSQL store: each claims a different job
(``claim_next``) and recovers only what it claimed itself (``recover_abandoned``). What runs a
claimed job is core/engine/jobs.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, Row, case, func, insert, or_, select, update

from core.records import UNFINISHED, Job, JobStatus
from core.store.database import claimant, comparisons, jobs, runs
from core.store.queries import Store, new_id

# A job claimed on another machine sharing the store, silent this long, was left by a runner that died.
ABANDONED_AFTER_SECONDS = 30 * 60.0

# A job with the owner of its comparison, for the per-visitor limits of public mode.
_JOB_WITH_OWNER = select(jobs, comparisons.c.owner).join(comparisons, comparisons.c.id == jobs.c.comparison_id)


def _job(row: Row[Any]) -> Job:
    return Job(id=row.id, comparison_id=row.comparison_id, status=row.status, created_at=row.created_at,
               started_at=row.started_at, finished_at=row.finished_at, cancel_requested=bool(row.cancel_requested),
               progress=json.loads(row.progress_json or "null"), message=row.message, claimed_by=row.claimed_by,
               heartbeat_at=row.heartbeat_at, owner=row.owner)


def add_job(store: Store, comparison_id: str) -> str:
    """Queue a stored comparison for the device; returns the job's id."""
    job_id = new_id()
    with store.transaction() as db:
        db.execute(insert(jobs).values(id=job_id, comparison_id=comparison_id, status="queued", created_at=time.time()))
    return job_id


def get_job(store: Store, job_id: str) -> Job | None:
    with store.reading() as db:
        row = db.execute(_JOB_WITH_OWNER.where(jobs.c.id == job_id)).first()
    return _job(row) if row else None


def active_jobs(store: Store) -> list[Job]:
    """Running first, then queued in the order they will run."""
    with store.reading() as db:
        rows = db.execute(_JOB_WITH_OWNER.where(jobs.c.status.in_(UNFINISHED))
                          .order_by(case((jobs.c.status == "queued", 1), else_=0), jobs.c.created_at, jobs.c.id)).all()
    return [_job(row) for row in rows]


def queue_position(store: Store, job_id: str) -> int | None:
    """How many jobs run before this one (0 = it is next or running)."""
    ids = [job.id for job in active_jobs(store)]
    return ids.index(job_id) if job_id in ids else None


def request_cancel(store: Store, job_id: str) -> None:
    """A queued job is cancelled at once; a running one stops at its worker's next step."""
    with store.transaction() as db:
        job = db.execute(select(jobs.c.status, jobs.c.comparison_id).where(jobs.c.id == job_id).with_for_update()).first()
        if job is None or job.status not in UNFINISHED:
            return
        db.execute(update(jobs).where(jobs.c.id == job_id).values(cancel_requested=1))
        if job.status == "queued":
            _close(store, db, job_id, job.comparison_id, "cancelled", "cancelled before it started")


def cancel_requested(store: Store, job_id: str) -> bool:
    with store.reading() as db:
        return bool(db.execute(select(jobs.c.cancel_requested).where(jobs.c.id == job_id)).scalar())


def close_job(store: Store, job: Job, status: JobStatus, message: str) -> None:
    """End a job and fail whatever of its comparison did not finish (cancelled, or crashed with it)."""
    with store.transaction() as db:
        _close(store, db, job.id, job.comparison_id, status, message)


def _close(store: Store, db: Connection, job_id: str, comparison_id: str, status: JobStatus, message: str) -> None:
    db.execute(update(jobs).where(jobs.c.id == job_id).values(status=status, finished_at=time.time(), message=message))
    store.fail_unfinished_runs(comparison_id, "cancelled" if status == "cancelled" else "crashed", message, db)


def record_progress(store: Store, job_id: str, progress: dict[str, Any]) -> None:
    """The latest event of a job's run in progress; also the job's heartbeat."""
    with store.transaction() as db:
        db.execute(update(jobs).where(jobs.c.id == job_id)
                   .values(progress_json=json.dumps(progress), heartbeat_at=time.time()))


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
            _close(store, db, job_id, comparison_id, "failed",
                   "the app stopped while this comparison was running; start it again")
        # Runs a CLI `compare` left running, which no job tracks.
        stranded = db.execute(select(runs.c.comparison_id).distinct().where(
            runs.c.status == "running", or_(runs.c.claimed_by == here, runs.c.claimed_by.is_(None)))).scalars().all()
        for comparison_id in stranded:
            store.fail_unfinished_runs(comparison_id, "crashed",
                                       "the process training this comparison stopped before it ended (killed or "
                                       "crashed); start it again", db)
    return len(abandoned) + len(stranded)


def claim_next(store: Store) -> Job | None:
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
