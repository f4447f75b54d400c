"""The queue: order, one training per device, cancel, and recovery from a runner that died."""

import subprocess
import sys
import time

from sqlalchemy import insert, update

from core.engine.device_lock import device_lock
from core.engine.job_runner import run_pending
from core.engine.jobs import (
    ABANDONED_AFTER_SECONDS,
    active_jobs,
    claim_next,
    enqueue,
    get_job,
    queue_position,
    recover_abandoned,
    request_cancel,
)
from core.spec import RunSpec
from core.store.database import claimant, jobs
from core.store.queries import Store, new_id
from tests.conftest import PROJECT_ROOT


def queue_directly(store: Store, count: int) -> list[str]:
    """``count`` queued jobs without preparing any data (what enqueue adds after its checks)."""
    settings = {"dataset": "digits", "architecture": "cnn", "device": "cpu", "epochs": 1}
    ids = []
    for index in range(count):
        comparison_id, _ = store.create_comparison(settings, ["pytorch"], [(0, "pytorch", {"epochs": 1})])
        ids.append(new_id())
        with store.transaction() as db:
            db.execute(insert(jobs).values(id=ids[-1], comparison_id=comparison_id, status="queued", created_at=1000.0 + index))
    return ids


def set_job(store: Store, job_id: str, **values) -> None:
    with store.transaction() as db:
        db.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def test_jobs_wait_in_order(home, database):
    store = Store(database)
    first = enqueue(store, RunSpec(epochs=1), ["pytorch"])
    second = enqueue(store, RunSpec(epochs=2), ["tensorflow"])
    assert [j["id"] for j in active_jobs(store)] == [first, second]
    assert (queue_position(store, first), queue_position(store, second)) == (0, 1)


def test_a_busy_device_is_never_shared(home):
    import threading

    store = Store(home / "runs.sqlite")
    job_id = enqueue(store, RunSpec(epochs=1), ["pytorch"])
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:  # another runner or CLI, training
        with device_lock(wait=False) as acquired:
            assert acquired
            holding.set()
            release.wait(30)

    other = threading.Thread(target=hold)
    other.start()
    try:
        assert holding.wait(10)
        assert run_pending(store) == 0  # the runner waits its turn
        with device_lock(wait=False) as second:
            assert not second
    finally:
        release.set()
        other.join()
    assert get_job(store, job_id)["status"] == "queued"


def test_cancelling_a_running_job_sets_the_flag_the_runner_polls(database):
    store = Store(database)
    [job_id] = queue_directly(store, 1)
    set_job(store, job_id, status="running")
    request_cancel(store, job_id)
    job = get_job(store, job_id)
    assert job["status"] == "running" and job["cancel_requested"] == 1


def test_a_job_left_running_by_a_dead_runner_is_failed_with_a_reason(home, database):
    store = Store(database)
    job_id = enqueue(store, RunSpec(epochs=1), ["pytorch", "tensorflow"])
    # A runner in another process claims the job and dies before finishing it.
    code = ("import os, sys; from core.store.queries import Store; from core.engine.jobs import claim_next; "
            "claim_next(Store(sys.argv[1])); os._exit(9)")
    subprocess.run([sys.executable, "-c", code, database], cwd=PROJECT_ROOT, check=False)
    assert get_job(store, job_id)["status"] == "running"
    with device_lock():
        assert recover_abandoned(store) == 1
    job = get_job(store, job_id)
    assert job["status"] == "failed" and "app stopped" in job["message"]
    runs = store.comparison(job["comparison_id"])["runs"]
    assert {r["status"] for r in runs} == {"failed"}
    assert store.check()["problems"] == []


CLAIMER = """
import sys
from core.engine.jobs import claim_next
from core.store.queries import Store

store = Store(sys.argv[1])
while (job := claim_next(store)) is not None:
    print(job["id"], flush=True)
"""


def test_runners_sharing_one_database_never_claim_the_same_job(database):
    store = Store(database)
    queued = queue_directly(store, 120)
    claimers = [subprocess.Popen([sys.executable, "-c", CLAIMER, database], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [claimer.communicate(timeout=120) for claimer in claimers]
    assert [claimer.returncode for claimer in claimers] == [0] * 4, [err[-2000:] for _, err in outputs]
    claimed = [line for out, _ in outputs for line in out.split()]
    assert sorted(claimed) == sorted(queued)  # every job once, none twice
    assert sum(bool(out.split()) for out, _ in outputs) >= 2  # and the work was in fact shared
    assert {get_job(store, job_id)["status"] for job_id in queued} == {"running"}


def test_a_job_another_machine_trains_is_left_alone_until_it_falls_silent(database):
    store = Store(database)
    reporting, silent = queue_directly(store, 2)
    now = time.time()
    set_job(store, reporting, status="running", claimed_by="gpu-2:/root/.twinbench", heartbeat_at=now)
    set_job(store, silent, status="running", claimed_by="gpu-3:/root/.twinbench",
            heartbeat_at=now - ABANDONED_AFTER_SECONDS - 60)
    with device_lock():
        assert recover_abandoned(store) == 1
    assert get_job(store, reporting)["status"] == "running"
    assert get_job(store, silent)["status"] == "failed"


def test_a_claimed_job_names_its_runner_and_reports_its_owner(database):
    store = Store(database)
    settings = {"dataset": "digits", "architecture": "cnn", "device": "cpu", "epochs": 1}
    comparison_id, _ = store.create_comparison(settings, ["pytorch"], [(0, "pytorch", {"epochs": 1})], owner="visitor-a")
    with store.transaction() as db:
        db.execute(insert(jobs).values(id="j1", comparison_id=comparison_id, status="queued", created_at=1.0))
    assert active_jobs(store)[0]["owner"] == "visitor-a"
    job = claim_next(store)
    assert job["id"] == "j1" and job["claimed_by"] == claimant() and job["owner"] == "visitor-a"
    assert claim_next(store) is None


def test_the_dashboard_process_never_imports_a_framework(home):
    code = f"""
import os, sys
os.environ["TWINBENCH_NO_RUNNER"] = "1"
from streamlit.testing.v1 import AppTest
app = AppTest.from_file({str(PROJECT_ROOT / 'streamlit_app.py')!r}, default_timeout=240)
app.run()
for page in ("pages/train.py", "pages/compare.py", "pages/history.py", "pages/system.py", "pages/models.py"):
    app.switch_page(page).run()
    assert not app.exception, (page, app.exception)
loaded = [m for m in ("torch", "tensorflow", "keras", "jax") if m in sys.modules]
sys.exit(f"imported {{loaded}}" if loaded else 0)
"""
    completed = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-2000:]
