"""A team's store on PostgreSQL, as a user reaches it: the CLI with --db / TWINBENCH_DB, the
dashboard through the environment or Streamlit's secrets, and one line when it cannot be reached."""

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from core.store.queries import Store
from tests.conftest import PROJECT_ROOT, run_cli

SCHEMA_1 = PROJECT_ROOT / "tests" / "data" / "runs-schema-1.sqlite"


@pytest.fixture
def shared(postgres_server, home, tmp_path):
    """A PostgreSQL database holding the comparisons of tests/data/runs-schema-1.sqlite, and their ids."""
    url = postgres_server.new_database()
    local = tmp_path / "local.sqlite"
    shutil.copy(SCHEMA_1, local)
    export = tmp_path / "export.json"
    assert run_cli(["runs", "export", str(export), "--db", str(local)], home).returncode == 0
    imported = run_cli(["runs", "import", str(export), "--db", url], home)
    assert imported.returncode == 0, imported.stderr
    return url, [c["id"] for c in json.loads(export.read_text())["comparisons"]]


def test_the_cli_lists_shows_and_checks_a_postgresql_store(shared, home):
    url, ids = shared
    listing = run_cli(["runs", "list", "--db", url], home)
    assert listing.returncode == 0 and all(comparison_id in listing.stdout for comparison_id in ids)
    assert run_cli(["runs", "list"], home, {"TWINBENCH_DB": url}).stdout == listing.stdout  # the same through the variable
    shown = run_cli(["runs", "show", ids[0][:6], "--db", url], home)
    assert shown.returncode == 0 and ids[0] in shown.stdout
    checked = run_cli(["runs", "check", "--db", url], home)
    assert checked.returncode == 0 and "schema 2" in checked.stdout and "integrity check: ok" in checked.stdout
    assert "password" not in checked.stdout


def test_an_unreachable_or_foreign_database_gets_one_line(home, postgres_server):
    closed = f"postgresql://twinbench:secret@127.0.0.1:{postgres_server.port + 1}/none"
    for url, words in ((closed, "cannot be reached"), ("mysql://localhost/x", "SQLite file or PostgreSQL")):
        completed = run_cli(["runs", "list", "--db", url], home)
        assert completed.returncode == 2, completed.stderr
        lines = completed.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "secret" not in lines[0] and "Traceback" not in completed.stderr


@pytest.mark.frameworks
def test_a_comparison_trains_into_a_postgresql_store(postgres_server, home):
    url = postgres_server.new_database()
    completed = run_cli(["compare", "--frameworks", "pytorch", "--epochs", "1", "--repeats", "1", "--db", url], home)
    assert completed.returncode == 0, completed.stderr
    [summary] = Store(url).list_comparisons()
    comparison = Store(url).comparison(summary.id)
    [run] = comparison.runs
    assert run.status == "finished" and run.result.test_accuracy > 0.5 and run.epochs
    assert not (home / "runs.sqlite").exists()  # nothing went to the local file


def test_the_dashboard_reads_the_url_from_the_environment_or_from_secrets(shared, monkeypatch):
    url, ids = shared
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    for how in ("environment", "secrets"):
        app = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=60)
        if how == "environment":
            monkeypatch.setenv("TWINBENCH_DB", url)
        else:
            monkeypatch.delenv("TWINBENCH_DB", raising=False)
            app.secrets["connections"] = {"twinbench": {"url": url}}
        app.switch_page("pages/history.py").run()
        assert not app.exception, [e.message for e in app.exception]
        shown = " ".join(str(frame.value.to_csv()) for frame in app.dataframe)
        assert all(comparison_id in shown for comparison_id in ids), how


def test_the_system_page_names_the_database_and_its_rows(shared, monkeypatch):
    url, ids = shared
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    monkeypatch.setenv("TWINBENCH_DB", url.replace("postgres@", "postgres:hunter2@"))
    app = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=60)
    app.switch_page("pages/system.py").run()
    assert not app.exception, [e.message for e in app.exception]
    text = " ".join(str(element.value) for element in app.markdown)
    assert "PostgreSQL" in text and "schema version 2" in text and "hunter2" not in text
    rows = next(frame.value for frame in app.dataframe if "table" in frame.value.columns)
    assert dict(zip(rows["table"], rows["rows"], strict=True))["comparisons"] == str(len(ids))
    monkeypatch.setenv("TWINBENCH_PUBLIC", "1")  # a shared instance does not show where its database is
    app = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=60)
    app.switch_page("pages/system.py").run()
    assert "127.0.0.1" not in " ".join(str(element.value) for element in app.markdown)
