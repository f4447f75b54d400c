"""A damaged or unreachable store: one line from the CLI, a banner on the pages, a way back."""

import hashlib
import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.engine.job_runner import JobRunner
from core.results import RunResult
from core.store import queries as store_module
from core.store.queries import Store
from tests.conftest import PROJECT_ROOT, run_cli

# Every page that reads stored results (the Models page builds models and reads none).
PAGES = sorted(path.relative_to(PROJECT_ROOT).as_posix() for path in (PROJECT_ROOT / "pages").glob("*.py")
               if path.name != "models.py")


def fill(path, comparisons=60):
    store = Store(path)
    ids = []
    for _ in range(comparisons):
        settings = {"dataset": "digits", "architecture": "cnn", "device": "cpu", "epochs": 1, "notes": ["n" * 200]}
        planned = [(0, "pytorch", {"epochs": 1, "padding": "p" * 300}), (0, "tensorflow", {"epochs": 1})]
        comparison_id, runs = store.create_comparison(settings, ["pytorch", "tensorflow"], planned, {"train_images": 10})
        for run in runs:
            store.mark_running(run)
            store.add_epoch(run, {"epoch": 1, "train_loss": 0.5, "step_samples": [
                {"epoch": 0, "step": step, "steps": 1, "milliseconds": 1.0, "warmup": False} for step in range(20)]})
            store.finish_run(run, RunResult(test_accuracy=0.5, steady_images_per_second=10.0))
        ids.append(comparison_id)
    raw = store.engine.raw_connection()  # a checkpoint runs outside any transaction
    raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    store.close()
    return ids


def damage(path):
    """Overwrite one 4 KiB page in the middle of the file, as a failing disk would."""
    pages = path.stat().st_size // 4096
    with path.open("r+b") as file:
        file.seek(4096 * (pages // 2))
        file.write(bytes(range(256)) * 16)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def damaged(home):
    path = home / "runs.sqlite"
    ids = fill(path)
    damage(path)
    return path, ids


def assert_one_line(completed, codes=(0, 1)):
    assert completed.returncode in codes, completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) <= 1


def test_the_cli_answers_every_command_on_a_damaged_store_in_a_line(damaged, home):
    path, ids = damaged
    before = digest(path)
    assert_one_line(run_cli(["runs", "list"], home))
    shows = [run_cli(["runs", "show", comparison_id], home) for comparison_id in ids[::6]]
    for completed in shows:
        assert_one_line(completed)
    exported = run_cli(["runs", "export", str(home / "all.csv")], home)
    assert_one_line(exported)
    if exported.returncode:
        assert "runs check" in exported.stderr and "runs recover" in exported.stderr
    assert digest(path) == before  # reading never changes the damaged file


def test_check_finds_the_damage_and_recover_copies_every_readable_comparison(damaged, home):
    path, ids = damaged
    before = digest(path)
    check = run_cli(["runs", "check"], home)
    assert check.returncode == 1 and "problem:" in check.stdout and "runs recover" in check.stdout
    copy = home / "recovered.sqlite"
    recovered = run_cli(["runs", "recover", str(copy)], home)
    assert_one_line(recovered)
    assert digest(path) == before
    store = Store(copy)
    copied = [c["id"] for c in store.list_comparisons()]
    assert 0 < len(copied) <= len(ids) and set(copied) <= set(ids)
    assert store.check()["problems"] == []
    assert all(len(store.comparison(comparison_id)["runs"]) == 2 for comparison_id in copied)
    lost = len(ids) - len(copied)
    assert recovered.returncode == (1 if lost else 0) and recovered.stderr.count("lost:") >= (1 if lost else 0)
    assert run_cli(["runs", "check", "--db", str(copy)], home).returncode == 0
    again = run_cli(["runs", "recover", str(copy)], home)
    assert again.returncode == 2 and "never replaced" in again.stderr


@pytest.mark.parametrize("page", PAGES)
def test_every_page_stays_up_on_a_damaged_store(damaged, monkeypatch, page):
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    app = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=60)
    app.switch_page(page).run()
    assert not app.exception, [e.message for e in app.exception]


def test_the_job_runner_survives_an_unreachable_store_and_says_why(tmp_path):
    path = tmp_path / "runs.sqlite"
    path.mkdir()  # a folder where the database should be: cannot be opened
    runner = JobRunner(path)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while runner.last_error is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runner.last_error and "runs.sqlite" in runner.last_error
        assert runner.is_alive()
        os.rmdir(path)
        deadline = time.monotonic() + 15
        while runner.last_error is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert runner.last_error is None and path.is_file()  # it came back by itself
    finally:
        runner.stopping.set()
        runner.join(timeout=10)


def test_a_schema_upgrade_first_keeps_a_copy_of_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    ids = fill(path, comparisons=2)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", store_module.SCHEMA_VERSION + 1)
    Store(path).close()
    backup = tmp_path / f"runs.sqlite.schema-{store_module.SCHEMA_VERSION - 1}.bak"
    assert backup.exists()
    monkeypatch.undo()
    assert [c["id"] for c in Store.read_only(backup).list_comparisons()] == ids[::-1]
