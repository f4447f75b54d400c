"""Shared fixtures: every test gets its own TWINBENCH_HOME, so no test sees another's data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the commands the tests start, and with the suite in several processes
    (pytest-xdist), each takes its own share of the cores.

    A shell without job control starts a background command with SIGINT ignored, and the children
    of a process that ignores a signal ignore it too: the tests that press Ctrl-C on a compare or a
    sweep would then see it go on. Python's own handler here is reset in every child it starts.

    Frameworks train with every core they may use (core.train.measure.training_threads reads the
    process's CPU affinity), so two test processes that each let their workers take the whole
    machine would run twice as many threads as cores, and timed runs would measure the crowding.
    Each test process, and everything it starts, keeps to its own cores instead."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    if worker and count > 1 and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        share = cores[int(worker.removeprefix("gw")) % count::count]
        if share:
            os.sched_setaffinity(0, share)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "twinbench-home"
    monkeypatch.setenv("TWINBENCH_HOME", str(folder))
    return folder


def run_cli(args: list[str], home: Path, extra_env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m core`` as a user would, in a fresh process."""
    env = {**os.environ, "TWINBENCH_HOME": str(home), **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=PROJECT_ROOT, env=env,
        capture_output=True, text=True, timeout=timeout,
    )


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the whole test run (tests/postgres_server.py)."""
    from tests.postgres_server import PostgresServer

    server = PostgresServer().start()
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store under test lives: a new SQLite file, then a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "runs.sqlite")
    return request.getfixturevalue("postgres_server").new_database()
