"""The queue: order, one training per device, cancel, and recovery from a runner that died."""

import subprocess
import sys

from core.jobs import (
    active_jobs,
    device_lock,
    enqueue,
    get_job,
    queue_position,
    recover_abandoned,
    request_cancel,
    run_pending,
)
from core.spec import RunSpec
from core.store import Store
from tests.conftest import PROJECT_ROOT


def test_jobs_wait_in_order(home):
    store = Store(home / "runs.sqlite")
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


def test_cancelling_a_running_job_sets_the_flag_the_runner_polls(home):
    store = Store(home / "runs.sqlite")
    job_id = enqueue(store, RunSpec(epochs=1), ["pytorch"])
    store.connection.execute("UPDATE jobs SET status='running' WHERE id=?", (job_id,))
    request_cancel(store, job_id)
    job = get_job(store, job_id)
    assert job["status"] == "running" and job["cancel_requested"] == 1


def test_a_job_left_running_by_a_dead_runner_is_failed_with_a_reason(home):
    store = Store(home / "runs.sqlite")
    job_id = enqueue(store, RunSpec(epochs=1), ["pytorch", "tensorflow"])
    # A runner in another process claims the job and dies before finishing it.
    code = ("import os, sys; from core.store import Store; from core.jobs import claim_next; "
            "claim_next(Store(sys.argv[1])); os._exit(9)")
    subprocess.run([sys.executable, "-c", code, str(home / "runs.sqlite")], cwd=PROJECT_ROOT, check=False)
    assert get_job(store, job_id)["status"] == "running"
    with device_lock():
        assert recover_abandoned(store) == 1
    job = get_job(store, job_id)
    assert job["status"] == "failed" and "app stopped" in job["message"]
    runs = store.comparison(job["comparison_id"])["runs"]
    assert {r["status"] for r in runs} == {"failed"}
    assert store.integrity_ok()


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
