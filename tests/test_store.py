import json
import sqlite3
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from core.errors import BadInput
from core.results import RunResult
from core.store.database import epochs as epochs_table
from core.store.database import runs as runs_table
from core.store.queries import Store


def fill(store: Store) -> str:
    planned = [(0, "pytorch", {"framework": "pytorch", "epochs": 1}), (0, "tensorflow", {"framework": "tensorflow", "epochs": 1})]
    settings = {"dataset": "digits", "architecture": "cnn", "device": "cpu", "epochs": 1}
    comparison_id, (first, second) = store.create_comparison(settings, ["pytorch", "tensorflow"], planned, {"train_images": 10})
    store.mark_running(first)
    store.record_environment(first, {"framework_version": "1.0", "device_name": "cpu", "threads": 2, "cpu": "x"})
    store.add_epoch(first, {"epoch": 1, "train_loss": 0.5, "val_accuracy": 0.9, "epoch_seconds": 1.0,
                            "step_samples": [{"epoch": 0, "step": 0, "steps": 1, "milliseconds": 12.5, "warmup": True}]})
    store.finish_run(first, RunResult(test_accuracy=0.91, steady_images_per_second=1000.0))
    store.mark_running(second)
    store.fail_run(second, "crashed", "the worker was killed by SIGKILL")
    return comparison_id


def test_runs_keep_results_errors_epochs_and_environment(database):
    store = Store(database)
    comparison = store.comparison(fill(store))
    first, second = comparison["runs"]
    assert first["status"] == "finished" and first["result"].test_accuracy == 0.91
    assert first["epochs"][0]["train_loss"] == 0.5 and first["step_samples"][0]["milliseconds"] == 12.5
    assert first["environment"]["threads"] == 2
    assert store.list_comparisons()[0]["resolved_device"] is None  # the environment above names no device kind
    store.record_environment(first["id"], {"device": "cuda", "threads": 2})
    assert store.list_comparisons()[0]["resolved_device"] == "cuda"
    assert second["status"] == "failed" and second["error"] == {"kind": "crashed", "message": "the worker was killed by SIGKILL"}
    assert store.check()["problems"] == []


def test_a_sqlite_store_keeps_its_write_ahead_log_and_foreign_keys(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    with store.reading() as db:
        assert db.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert db.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_json_export_import_round_trip_is_lossless(database, tmp_path):
    source = Store(database)
    fill(source)
    fill(source)
    source.set_annotations(source.latest_comparison_id(), tags=["baseline", "cpu"], note="first try\non the laptop")
    exported = source.export_json()
    assert exported["comparisons"][1]["tags_json"] == '["baseline", "cpu"]'
    target = Store(tmp_path / "b.sqlite")
    assert target.import_json(json.loads(json.dumps(exported))) == (2, 0)
    assert target.export_json() == exported
    assert target.import_json(exported) == (0, 2)  # importing twice adds nothing


def test_a_sqlite_export_imports_into_postgresql_and_back_unchanged(tmp_path, postgres_server):
    source = Store(tmp_path / "a.sqlite")
    fill(source)
    exported = source.export_json()
    shared = Store(postgres_server.new_database())
    assert shared.import_json(exported, owner="visitor-1") == (1, 0)
    assert shared.export_json() == exported
    assert shared.list_comparisons()[0]["owner"] == "visitor-1"
    assert "owner" not in exported["comparisons"][0]  # a visitor's browser session is not exported


def test_a_damaged_import_changes_nothing(database, tmp_path):
    store = Store(tmp_path / "a.sqlite")
    fill(store)
    exported = store.export_json()
    del exported["comparisons"][0]["runs"][1]["status"]
    target = Store(database)
    with pytest.raises(BadInput, match="nothing was imported"):
        target.import_json(exported)
    assert target.list_comparisons() == []
    with pytest.raises(BadInput, match="not a Twinbench export"):
        target.import_json({"comparisons": []})


def test_csv_has_one_row_per_run_with_result_columns(database):
    store = Store(database)
    store.set_annotations(fill(store), tags=["gpu"], note="n")
    lines = store.export_csv().strip().splitlines()
    header = lines[0].split(",")
    assert len(lines) == 3 and "test_accuracy" in header and "error_kind" in header and "spec_epochs" in header
    assert {"sweep_id", "tags", "note"} <= set(header) and lines[1].split(",")[header.index("tags")] == "gpu"


def test_tags_and_notes_are_checked_stored_and_refused_for_an_unknown_comparison(database):
    store = Store(database)
    comparison_id = fill(store)
    store.set_annotations(comparison_id, tags=[" fast ", "fast", "gpu"])
    store.set_annotations(comparison_id, note="  kept  ")
    comparison = store.comparison(comparison_id)
    assert comparison["tags"] == ["fast", "gpu"] and comparison["note"] == "kept"
    with pytest.raises(BadInput, match="note"):
        store.set_annotations(comparison_id, note="x" * 100_000)
    with pytest.raises(BadInput, match="no comparison"):
        store.set_annotations("nope", tags=["a"])
    assert store.comparison(comparison_id)["note"] == "kept"


def test_ids_resolve_by_unique_prefix_and_delete_cascades(database):
    store = Store(database)
    comparison_id = fill(store)
    assert store.resolve_comparison_id(comparison_id[:6]) == comparison_id
    with pytest.raises(BadInput, match="no comparison"):
        store.resolve_comparison_id("zzzz")
    with pytest.raises(BadInput, match="no comparison"):
        store.resolve_comparison_id("%")  # LIKE's wildcard is an ordinary character here
    assert store.delete_comparison(comparison_id)
    with store.reading() as db:
        assert db.execute(select(func.count()).select_from(epochs_table)).scalar() == 0
        assert db.execute(select(func.count()).select_from(runs_table)).scalar() == 0


def test_a_failed_write_leaves_no_partial_rows(database):
    store = Store(database)
    with pytest.raises(IntegrityError), store.transaction() as db:
        db.execute(text("INSERT INTO comparisons (id, created_at, dataset, architecture, device, frameworks, settings_json)"
                        " VALUES ('x', 0, 'd', 'a', 'cpu', 'pytorch', '{}')"))
        db.execute(text("INSERT INTO runs (id, comparison_id, position, repeat, framework, status, spec_json, created_at)"
                        " VALUES ('r', 'missing', 0, 0, 'pytorch', 'queued', '{}', 0)"))
    assert store.list_comparisons() == []


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("this is not sqlite" * 100)
    with pytest.raises(BadInput, match="not a usable Twinbench database"):
        Store(path)


def test_many_processes_opening_a_new_database_at_once_all_succeed(tmp_path):
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    path = tmp_path / "new.sqlite"
    code = "import sys; from core.store.queries import Store; s = Store(sys.argv[1]); s.list_comparisons(); print('ok')"
    workers = [subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [w.communicate(timeout=60) for w in workers]
    assert [w.returncode for w in workers] == [0] * 6, [err for _, err in results]
    assert Store(path).check()["problems"] == []


def test_threads_opening_one_new_database_at_once_all_succeed(tmp_path):
    # Switching a new file to WAL is refused at once (not waited for) while another connection
    # opens it, so the race shows only now and then: try it on many new files.
    import threading

    errors = []

    def open_and_read(path):
        try:
            Store(path).list_comparisons()
        except Exception as error:  # collected for the assertion below
            errors.append(error)

    for attempt in range(200):
        path = tmp_path / f"threads-{attempt}.sqlite"
        threads = [threading.Thread(target=open_and_read, args=(path,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


WRITER = """
import sys
from core.results import RunResult
from core.store.queries import Store

store = Store(sys.argv[1])
settings = {"dataset": "digits", "architecture": "cnn", "device": "cpu", "epochs": 3}
while True:
    planned = [(0, "pytorch", {"epochs": 3}), (0, "tensorflow", {"epochs": 3})]
    _, runs = store.create_comparison(settings, ["pytorch", "tensorflow"], planned, {"train_images": 10})
    for run in runs:
        store.mark_running(run)
        store.record_environment(run, {"threads": 1})
        for epoch in (1, 2, 3):
            store.add_epoch(run, {"epoch": epoch, "train_loss": 1.0 / epoch, "step_samples": [
                {"epoch": epoch - 1, "step": step, "steps": 1, "milliseconds": 1.0, "warmup": False} for step in range(5)]})
        store.finish_run(run, RunResult(test_accuracy=0.5, steady_images_per_second=100.0))
    print("comparison", flush=True)
"""


def test_a_store_killed_at_random_moments_keeps_every_write_whole(tmp_path):
    import random
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    path = tmp_path / "runs.sqlite"
    moments = random.Random(20261127)
    for _ in range(6):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=PROJECT_ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert writer.stdout is not None
        writer.stdout.readline()  # it is writing
        time.sleep(moments.uniform(0.0, 0.5))
        writer.kill()
        writer.communicate()
        store = Store(path)
        assert store.check()["problems"] == []
        with store.reading() as db:
            # A comparison has both its runs or none; an epoch has all five step samples or none;
            # a finished run has its result, and no run is finished before all its epochs are in.
            assert db.exec_driver_sql("SELECT COUNT(*) FROM comparisons c WHERE (SELECT COUNT(*) FROM runs r "
                                      "WHERE r.comparison_id = c.id) != 2").scalar() == 0
            assert db.exec_driver_sql("SELECT COUNT(*) FROM epochs e WHERE (SELECT COUNT(*) FROM step_samples s "
                                      "WHERE s.run_id = e.run_id AND s.epoch = e.epoch - 1) != 5").scalar() == 0
            assert db.exec_driver_sql("SELECT COUNT(*) FROM runs WHERE status = 'finished' AND (result_json IS NULL OR "
                                      "(SELECT COUNT(*) FROM epochs e WHERE e.run_id = runs.id) != 3)").scalar() == 0
        store.close()
    assert Store(path).list_comparisons()


def test_an_import_takes_what_the_store_itself_wrote_and_refuses_damage_whole(tmp_path):
    # Settings and specs as the store's callers write them: a few fields only, or a key this
    # version does not know (another version's); each comparison copied alone, as `runs recover` does.
    source = Store(tmp_path / "a.sqlite")
    fill(source)
    settings = {"dataset": "digits", "architecture": "cnn", "device": "cpu", "epochs": 1, "notes": ["n" * 200]}
    planned = [(0, "pytorch", {"epochs": 1, "padding": "p" * 300}), (0, "tensorflow", {"epochs": 1})]
    source.create_comparison(settings, ["pytorch", "tensorflow"], planned, {"train_images": 10})
    target = Store(tmp_path / "b.sqlite")
    for summary in reversed(source.list_comparisons()):
        assert target.import_json(source.export_json([summary["id"]])) == (1, 0)
    assert target.export_json() == source.export_json()

    damaged = source.export_json()
    damaged["comparisons"][1]["settings_json"] = "{'epochs': 1}"
    fresh = Store(tmp_path / "c.sqlite")
    with pytest.raises(BadInput) as refusal:
        fresh.import_json(damaged)
    assert str(refusal.value).splitlines()[1:] == [
        f"comparison 2 (id {damaged['comparisons'][1]['id']!r}): settings_json: not JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"]
    assert fresh.list_comparisons() == []


def test_a_database_written_by_schema_1_is_upgraded_without_losing_a_row(tmp_path):
    # tests/data/runs-schema-1.sqlite was written by the version before schema 2 (a finished, a
    # partly failed and a queued comparison), runs-schema-1.json is that version's export of it.
    import shutil

    from tests.conftest import PROJECT_ROOT

    path = tmp_path / "runs.sqlite"
    shutil.copy(PROJECT_ROOT / "tests" / "data" / "runs-schema-1.sqlite", path)
    before = json.loads((PROJECT_ROOT / "tests" / "data" / "runs-schema-1.json").read_text())
    store = Store(path)
    report = store.check()
    assert report["schema_version"] == 2 and report["problems"] == []
    after = store.export_json()
    assert after["schema_version"] == 2
    for comparison in after["comparisons"]:  # what schema 2 added, empty
        assert (comparison.pop("sweep_id"), comparison.pop("tags_json"), comparison.pop("note")) == (None, "[]", "")
    assert after["comparisons"] == before["comparisons"]
    assert (tmp_path / "runs.sqlite.schema-1.bak").exists()
    from core.engine.jobs import active_jobs

    assert [job["id"] for job in active_jobs(store)] == ["job1"]  # the queue survives too
    store.set_annotations(store.latest_comparison_id(), tags=["upgraded"])  # and the new columns work
    store.close()
    assert Store(path).check()["schema_version"] == 2  # opening again changes nothing


def test_a_database_from_a_newer_version_is_refused(database):
    from core.store.database import schema_versions

    store = Store(database)
    with store.transaction() as db:
        db.execute(schema_versions.update().values(version=99))
    with pytest.raises(BadInput, match="newer Twinbench"):
        Store(database)


FULL_DISK_OPEN = """
import resource, signal, sys
from core.errors import BadInput
from core.store.queries import Store

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))
try:
    Store(sys.argv[1])
except BadInput as error:
    print(error)
    sys.exit(2)
"""


def test_an_upgrade_on_a_full_disk_is_refused_in_a_line_and_leaves_no_partial_backup(tmp_path):
    import shutil
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    path = tmp_path / "runs.sqlite"
    shutil.copy(PROJECT_ROOT / "tests" / "data" / "runs-schema-1.sqlite", path)
    completed = subprocess.run([sys.executable, "-c", FULL_DISK_OPEN, str(path)], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr, completed.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if "schema" in p.name) == []  # no backup, whole or partial
    with sqlite3.connect(path) as db:  # and the file is still schema 1, to upgrade once there is room
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 8
    db.close()
