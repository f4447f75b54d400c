"""The job runner: works through the store's queue (core.engine.jobs), one comparison after another
on this device, or as many at once as a Ray cluster has devices.

The dashboard runs it as a daemon thread (``JobRunner``); ``run_pending`` is one pass over the queue.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from core.engine.jobs import claim_next, execute_job
from core.engine.training import train_now
from core.errors import BadInput
from core.store.queries import Store

IDLE_POLL_SECONDS = 0.5
# After a store error (a damaged or unreachable database), the runner tries again this often.
RETRY_SECONDS = 5.0


def run_pending(store: Store, wait_for_lock: bool = False, executor: str | None = None) -> int:
    """Run queued jobs until none is left; returns how many ran. Skips if the device is busy.

    With ``executor`` ray (default: ``$TWINBENCH_EXECUTOR``) the jobs train on a Ray cluster,
    as many at once as it has devices (core.engine.ray_executor.parallel_comparisons); the lock is still
    held, so that only this runner drives the store's jobs and recovers what a dead one left.
    """
    from core.engine.ray_executor import executor_setting

    executor = executor_setting(executor)
    done = 0
    with train_now(store, wait=wait_for_lock) as training:
        if training is None:
            return 0
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

    def drive(job: dict[str, Any]) -> None:
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
