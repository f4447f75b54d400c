"""Interruptions as they happen to a user: a killed or interrupted CLI, a killed server, two
comparisons at once. Nothing may keep training, stay marked running or hold the device."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest

from core.store.queries import Store
from tests.conftest import PROJECT_ROOT, run_cli

pytestmark = pytest.mark.frameworks


def start_compare(home, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "core", "compare", "--epochs", "300", "--repeats", "1", "--quiet", *extra],
        cwd=PROJECT_ROOT, env={**os.environ, "TWINBENCH_HOME": str(home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_an_epoch(home, process, timeout=180):
    database = home / "runs.sqlite"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if database.exists():
            with sqlite3.connect(database) as db:
                try:
                    if db.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] >= 1:
                        return
                except sqlite3.OperationalError:  # created, but its tables not yet
                    pass
        time.sleep(0.2)
    raise AssertionError("no epoch was recorded")


def assert_all_gone(processes, timeout=20):
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    assert not alive, [p.cmdline() for p in alive if p.is_running()]


def runs_by_status(home):
    with sqlite3.connect(home / "runs.sqlite") as db:
        return db.execute("SELECT status, error_kind, error_message FROM runs ORDER BY created_at, position").fetchall()


def test_a_killed_compare_leaves_nothing_running_and_the_next_one_starts_at_once(tmp_path):
    home = tmp_path / "home"
    cli = start_compare(home)
    wait_for_an_epoch(home, cli)
    workers = psutil.Process(cli.pid).children(recursive=True)
    assert workers
    cli.kill()
    cli.wait()
    assert_all_gone(workers)

    started = time.monotonic()
    completed = run_cli(["compare", "--epochs", "1", "--repeats", "1", "--quiet"], home, timeout=180)
    assert completed.returncode == 0, completed.stderr
    assert "waiting" not in completed.stderr  # the dead command's lock went with it
    assert time.monotonic() - started < 120
    killed, other, *fresh = runs_by_status(home)
    assert killed[0] == other[0] == "failed" and killed[1] == other[1] == "crashed"
    assert "stopped before it ended" in killed[2]
    assert [status for status, _, _ in fresh] == ["finished", "finished"]
    assert Store(home / "runs.sqlite").check()["problems"] == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_compare_cancels_prints_what_it_has_and_exits_130(tmp_path, signum):
    home = tmp_path / "home"
    cli = start_compare(home)
    wait_for_an_epoch(home, cli)
    workers = psutil.Process(cli.pid).children(recursive=True)
    cli.send_signal(signum)
    stdout, stderr = cli.communicate(timeout=120)
    assert cli.returncode == 130, stderr
    assert "Comparison " in stdout and "interrupted" in stderr and "Traceback" not in stderr
    assert [(status, kind) for status, kind, _ in runs_by_status(home)] == [("failed", "cancelled")] * 2
    assert_all_gone(workers)
    with sqlite3.connect(home / "runs.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] >= 1  # kept, not rolled back


def test_two_compares_at_once_take_turns_and_both_finish(tmp_path):
    home = tmp_path / "home"
    first = start_compare(home, "--epochs", "15")
    wait_for_an_epoch(home, first)
    second = start_compare(home, "--epochs", "1")
    _, second_err = second.communicate(timeout=300)
    first.communicate(timeout=300)
    assert (first.returncode, second.returncode) == (0, 0), second_err
    assert "waiting for it to finish" in second_err
    assert [status for status, _, _ in runs_by_status(home)] == ["finished"] * 4


def test_a_killed_dashboard_runner_fails_its_job_on_the_next_start(home):
    from core.engine.job_runner import run_pending
    from core.engine.jobs import enqueue, get_job
    from core.spec import RunSpec

    env = {**os.environ, "TWINBENCH_HOME": str(home)}
    store = Store(home / "runs.sqlite")
    job_id = enqueue(store, RunSpec(epochs=300, repeats=1), ["pytorch", "tensorflow"])
    server = subprocess.Popen(
        [sys.executable, "-c", "from core.engine.job_runner import run_pending; from core.paths import default_db_path; "
                               "from core.store.queries import Store; run_pending(Store(default_db_path()))"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_for_an_epoch(home, server)
    workers = psutil.Process(server.pid).children(recursive=True)
    server.kill()
    server.wait()
    assert_all_gone(workers)
    assert run_pending(store) == 0
    job = get_job(store, job_id)
    assert job["status"] == "failed" and "the app stopped" in job["message"]
    assert {status for status, _, _ in runs_by_status(home)} == {"failed"}
