"""The results store: one SQLite file in WAL mode.

Every write is one transaction, so a worker that dies mid-run leaves its run marked failed and
nothing half-written. Results are kept as JSON next to a few columns that lists filter on;
export/import in JSON is lossless, CSV is one flat row per run.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.results import RunResult

SCHEMA_VERSION = 1
EXPORT_FORMAT = "twinbench-export"
# A run is queued, running, finished or failed (its error_kind says why, "cancelled" included).

SCHEMA = """
CREATE TABLE IF NOT EXISTS comparisons (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    dataset TEXT NOT NULL,
    architecture TEXT NOT NULL,
    device TEXT NOT NULL,
    frameworks TEXT NOT NULL,
    settings_json TEXT NOT NULL,
    data_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    comparison_id TEXT NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    repeat INTEGER NOT NULL,
    framework TEXT NOT NULL,
    status TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    result_json TEXT,
    error_kind TEXT,
    error_message TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS runs_by_comparison ON runs(comparison_id, position);
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    train_loss REAL, train_accuracy REAL, val_loss REAL, val_accuracy REAL,
    epoch_seconds REAL, eval_seconds REAL, elapsed_seconds REAL, images_per_second REAL,
    step_ms_median REAL, step_ms_p90 REAL, data_wait_fraction REAL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS step_samples (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    step INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    milliseconds REAL NOT NULL,
    warmup INTEGER NOT NULL,
    PRIMARY KEY (run_id, epoch, step)
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    comparison_id TEXT NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    progress_json TEXT,
    message TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, created_at);
CREATE TABLE IF NOT EXISTS environments (
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    framework_version TEXT,
    device_name TEXT,
    driver TEXT,
    cpu TEXT,
    threads INTEGER,
    details_json TEXT NOT NULL
);
"""

EPOCH_COLUMNS = (
    "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_seconds", "eval_seconds",
    "elapsed_seconds", "images_per_second", "step_ms_median", "step_ms_p90", "data_wait_fraction",
)
STEP_COLUMNS = ("epoch", "step", "steps", "milliseconds", "warmup")
COMPARISON_COLUMNS = ("id", "created_at", "dataset", "architecture", "device", "frameworks", "settings_json", "data_json")
RUN_COLUMNS = (
    "id", "comparison_id", "position", "repeat", "framework", "status", "spec_json", "result_json",
    "error_kind", "error_message", "created_at", "started_at", "finished_at",
)
ENVIRONMENT_COLUMNS = ("framework_version", "device_name", "driver", "cpu", "threads", "details_json")


BUSY_TIMEOUT_SECONDS = 30.0


def new_id() -> str:
    return uuid.uuid4().hex[:12]


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BadInput(f"the folder for {self.path} cannot be made ({error.strerror or error}); "
                           "set TWINBENCH_HOME (or --db) to a folder you can write") from None
        try:
            self.connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
            self.connection.row_factory = sqlite3.Row
            self._enable_write_ahead_log()
            self.connection.execute("PRAGMA foreign_keys=ON")
            version = self.connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise BadInput(f"{self.path} was written by a newer Twinbench (schema {version})")
            if 0 < version < SCHEMA_VERSION:
                self.backup(self.path.with_name(f"{self.path.name}.schema-{version}.bak"))
            if version < SCHEMA_VERSION:
                # IMMEDIATE takes the write lock up front, so a second process or thread opening
                # the same new file waits its turn (busy timeout) instead of failing on upgrade.
                # executescript commits on its own, hence the script-level transaction.
                self.connection.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        except sqlite3.DatabaseError as error:
            raise BadInput(f"{self.path} is not a usable Twinbench database ({error})") from None

    @classmethod
    def read_only(cls, path: Path | str) -> Store:
        """The file as it is, for checking or rescuing it: no schema upgrade, no write."""
        store = cls.__new__(cls)
        store.path = Path(path)
        if not store.path.is_file():
            raise BadInput(f"{store.path} does not exist")
        store.connection = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro", uri=True,
                                           timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
        store.connection.row_factory = sqlite3.Row
        return store

    def backup(self, target: Path) -> None:
        """A consistent copy of the whole database (SQLite's online backup), taken before an upgrade."""
        with sqlite3.connect(target) as copy:
            self.connection.backup(copy)
        copy.close()

    def check(self) -> dict[str, Any]:
        """What ``runs check`` reports: SQLite's integrity check, the schema version, rows per table."""
        report: dict[str, Any] = {"path": str(self.path), "counts": {}}
        try:
            report["schema_version"] = self.connection.execute("PRAGMA user_version").fetchone()[0]
            problems = [row[0] for row in self.connection.execute("PRAGMA integrity_check(20)")]
        except sqlite3.DatabaseError as error:
            problems = [str(error)]
            report.setdefault("schema_version", None)
        report["problems"] = [] if problems == ["ok"] else problems
        for table in ("comparisons", "runs", "epochs", "step_samples", "environments", "jobs"):
            try:
                report["counts"][table] = self.connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            except sqlite3.DatabaseError as error:
                report["counts"][table] = None
                report["problems"].append(f"{table}: {error}")
        report["ok"] = not report["problems"]
        return report

    def _enable_write_ahead_log(self) -> None:
        # Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is
        # locked" at once instead of waiting when another connection is opening the same file,
        # so the busy timeout does not cover it: retry until the timeout instead.
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                self.connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error: all of a write or none of it."""
        db = self.connection
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # --- writing -----------------------------------------------------------------------------

    def create_comparison(
        self, settings: dict[str, Any], frameworks: list[str], planned: list[tuple[int, str, dict[str, Any]]],
        data_summary: dict[str, Any] | None = None,
    ) -> tuple[str, list[str]]:
        """Record a comparison and its queued runs (repeat, framework, spec) in one transaction."""
        comparison_id = new_id()
        now = time.time()
        run_ids = [new_id() for _ in planned]
        with self.transaction() as db:
            db.execute(
                "INSERT INTO comparisons VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (comparison_id, now, settings["dataset"], settings["architecture"], settings["device"],
                 ",".join(frameworks), json.dumps(settings, sort_keys=True), json.dumps(data_summary or {})),
            )
            for position, ((repeat, framework, spec), run_id) in enumerate(zip(planned, run_ids, strict=True)):
                db.execute(
                    "INSERT INTO runs (id, comparison_id, position, repeat, framework, status, spec_json, created_at)"
                    " VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                    (run_id, comparison_id, position, repeat, framework, json.dumps(spec, sort_keys=True), now),
                )
        return comparison_id, run_ids

    def update_queued_spec(self, run_id: str, spec: dict[str, Any]) -> None:
        """Change a run's settings before it starts (best-of-each picks its mode first)."""
        with self.transaction() as db:
            db.execute("UPDATE runs SET spec_json=? WHERE id=? AND status='queued'", (json.dumps(spec, sort_keys=True), run_id))

    def update_comparison_data(self, comparison_id: str, data: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE comparisons SET data_json=? WHERE id=?", (json.dumps(data), comparison_id))

    def mark_running(self, run_id: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET status='running', started_at=? WHERE id=?", (time.time(), run_id))

    def record_environment(self, run_id: str, environment: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO environments VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, environment.get("framework_version"), environment.get("device_name"),
                 environment.get("driver"), environment.get("cpu"), environment.get("threads"),
                 json.dumps(environment, sort_keys=True)),
            )

    def add_epoch(self, run_id: str, event: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                f"INSERT OR REPLACE INTO epochs (run_id, {', '.join(EPOCH_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' for _ in EPOCH_COLUMNS)})",
                (run_id, *(event.get(column) for column in EPOCH_COLUMNS)),
            )
            db.executemany(
                "INSERT OR REPLACE INTO step_samples VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, s["epoch"], s["step"], s["steps"], s["milliseconds"], int(bool(s["warmup"])))
                 for s in event.get("step_samples", [])],
            )

    def finish_run(self, run_id: str, result: RunResult) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status='finished', result_json=?, finished_at=?, error_kind=NULL, error_message=NULL"
                " WHERE id=?",
                (json.dumps(result.as_dict(), sort_keys=True), time.time(), run_id),
            )

    def fail_run(self, run_id: str, kind: str, message: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status='failed', error_kind=?, error_message=?, finished_at=? WHERE id=?",
                (kind, message, time.time(), run_id),
            )

    def fail_unfinished_runs(self, comparison_id: str, kind: str, message: str, db: Any = None) -> int:
        """Fail every queued or running run of a comparison (inside ``db``'s transaction, if given)."""
        if db is None:
            with self.transaction() as db:
                return self.fail_unfinished_runs(comparison_id, kind, message, db)
        return int(db.execute(
            "UPDATE runs SET status='failed', error_kind=?, error_message=?, finished_at=? "
            "WHERE comparison_id=? AND status IN ('queued', 'running')",
            (kind, message, time.time(), comparison_id),
        ).rowcount)

    def delete_comparison(self, comparison_id: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM comparisons WHERE id=?", (comparison_id,)).rowcount > 0

    # --- reading -----------------------------------------------------------------------------

    def resolve_comparison_id(self, prefix: str) -> str:
        """Accept any unique prefix of an id, as git does."""
        rows = self.connection.execute(
            "SELECT id FROM comparisons WHERE id LIKE ? ORDER BY created_at", (prefix.strip() + "%",)
        ).fetchall()
        if not rows or not prefix.strip():
            raise BadInput(f"no comparison with id {prefix!r}; `python -m core runs list` shows them")
        if len(rows) > 1:
            raise BadInput(f"id {prefix!r} is ambiguous: {', '.join(r['id'] for r in rows)}")
        return rows[0]["id"]

    def list_comparisons(self) -> list[dict[str, Any]]:
        rows = self.connection.execute(
            "SELECT c.*, COUNT(r.id) AS runs, "
            "SUM(r.status='finished') AS finished, SUM(r.status='failed') AS failed, "
            # The device the runs actually used, where "auto" was asked for.
            "(SELECT json_extract(e.details_json, '$.device') FROM environments e JOIN runs r2 ON r2.id = e.run_id "
            " WHERE r2.comparison_id = c.id LIMIT 1) AS resolved_device "
            "FROM comparisons c LEFT JOIN runs r ON r.comparison_id = c.id GROUP BY c.id ORDER BY c.created_at DESC"
        ).fetchall()
        return [dict(row) for row in rows]

    def latest_comparison_id(self) -> str | None:
        row = self.connection.execute("SELECT id FROM comparisons ORDER BY created_at DESC LIMIT 1").fetchone()
        return row["id"] if row else None

    def comparison(self, comparison_id: str) -> dict[str, Any]:
        """A comparison with its runs, each with spec, result, error, epochs, steps, environment."""
        row = self.connection.execute("SELECT * FROM comparisons WHERE id=?", (comparison_id,)).fetchone()
        if row is None:
            raise BadInput(f"no comparison with id {comparison_id!r}")
        comparison = dict(row)
        comparison["settings"] = json.loads(comparison.pop("settings_json"))
        comparison["data"] = json.loads(comparison.pop("data_json"))
        comparison["runs"] = [self._run(dict(r)) for r in self.connection.execute(
            "SELECT * FROM runs WHERE comparison_id=? ORDER BY position", (comparison_id,)
        )]
        return comparison

    def _run(self, run: dict[str, Any]) -> dict[str, Any]:
        run["spec"] = json.loads(run.pop("spec_json"))
        result = run.pop("result_json")
        run["result"] = RunResult.model_validate_json(result) if result else None
        run["error"] = {"kind": run["error_kind"], "message": run["error_message"]} if run["error_kind"] else None
        run["epochs"] = [dict(r) for r in self.connection.execute(
            f"SELECT {', '.join(EPOCH_COLUMNS)} FROM epochs WHERE run_id=? ORDER BY epoch", (run["id"],)
        )]
        run["step_samples"] = [dict(r) for r in self.connection.execute(
            f"SELECT {', '.join(STEP_COLUMNS)} FROM step_samples WHERE run_id=? ORDER BY epoch, step", (run["id"],)
        )]
        environment = self.connection.execute(
            "SELECT details_json FROM environments WHERE run_id=?", (run["id"],)
        ).fetchone()
        run["environment"] = json.loads(environment["details_json"]) if environment else None
        return run

    def integrity_ok(self) -> bool:
        return self.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # --- export and import -------------------------------------------------------------------

    def export_json(self, comparison_ids: list[str] | None = None) -> dict[str, Any]:
        """Every table's rows, nested by comparison: ``import_json`` rebuilds them exactly.

        Settings and specs stored with fewer than all RunSpec fields are written out complete
        (the missing ones at their defaults, as the app reads them), as ``import_json`` stores them."""
        from core.export_format import complete_settings, complete_spec

        ids = comparison_ids or [c["id"] for c in reversed(self.list_comparisons())]
        comparisons = []
        for comparison_id in ids:
            row = dict(self.connection.execute("SELECT * FROM comparisons WHERE id=?", (comparison_id,)).fetchone())
            row["settings_json"] = complete_settings(row["settings_json"])
            runs = []
            for run in self.connection.execute("SELECT * FROM runs WHERE comparison_id=? ORDER BY position", (comparison_id,)):
                run = dict(run)
                run["spec_json"] = complete_spec(run["spec_json"], run["framework"])
                run["epochs"] = [dict(r) for r in self.connection.execute(
                    "SELECT * FROM epochs WHERE run_id=? ORDER BY epoch", (run["id"],))]
                run["step_samples"] = [dict(r) for r in self.connection.execute(
                    "SELECT * FROM step_samples WHERE run_id=? ORDER BY epoch, step", (run["id"],))]
                environment = self.connection.execute("SELECT * FROM environments WHERE run_id=?", (run["id"],)).fetchone()
                run["environment"] = dict(environment) if environment else None
                runs.append(run)
            row["runs"] = runs
            comparisons.append(row)
        return {"format": EXPORT_FORMAT, "schema_version": SCHEMA_VERSION, "comparisons": comparisons}

    def import_json(self, payload: dict[str, Any]) -> tuple[int, int]:
        """Insert exported comparisons in one transaction; returns (imported, already present).

        Every comparison is checked first (core/export_format.py), and against this database
        (a run id it already holds under another comparison): if any is refused, nothing is
        written and the BadInput says why in one line per refused comparison."""
        from core.export_format import check_export, comparison_label

        checked, refused = check_export(payload)
        imported = skipped = 0
        with self.transaction() as db:
            fresh = []
            for index, comparison in checked.items():
                if db.execute("SELECT 1 FROM comparisons WHERE id=?", (comparison.id,)).fetchone():
                    skipped += 1
                    continue
                for run in comparison.runs:
                    owner = db.execute("SELECT comparison_id FROM runs WHERE id=?", (run.id,)).fetchone()
                    if owner:
                        refused[index] = (f"{comparison_label(index, {'id': comparison.id})}: run {run.id} is already "
                                          f"in this database, in comparison {owner[0]}")
                        break
                else:
                    fresh.append(comparison)
            if refused:
                total = len(payload["comparisons"])
                lines = [refused[index] for index in sorted(refused)]
                raise BadInput(f"nothing was imported: {len(refused)} of {total} comparison{'s' * (total != 1)} "
                               "refused\n" + "\n".join(lines))
            try:
                for comparison in fresh:
                    self._insert_exported(db, comparison)
                    imported += 1
            except sqlite3.IntegrityError as error:  # what the checks above should already have refused
                raise BadInput(f"nothing was imported: the export does not fit this database ({error})") from None
        return imported, skipped

    @staticmethod
    def _insert_exported(db: sqlite3.Connection, comparison: Any) -> None:
        """One checked comparison (an export_format.ComparisonRow) and its runs' rows, as exported."""
        db.execute(
            f"INSERT INTO comparisons ({', '.join(COMPARISON_COLUMNS)}) VALUES ({', '.join('?' * len(COMPARISON_COLUMNS))})",
            tuple(getattr(comparison, c) for c in COMPARISON_COLUMNS),
        )
        for run in comparison.runs:
            db.execute(
                f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                tuple(getattr(run, c) for c in RUN_COLUMNS),
            )
            db.executemany(
                f"INSERT INTO epochs (run_id, {', '.join(EPOCH_COLUMNS)}) VALUES (?, {', '.join('?' * len(EPOCH_COLUMNS))})",
                [(run.id, *(getattr(epoch, c) for c in EPOCH_COLUMNS)) for epoch in run.epochs],
            )
            db.executemany(
                f"INSERT INTO step_samples (run_id, {', '.join(STEP_COLUMNS)}) VALUES (?, {', '.join('?' * len(STEP_COLUMNS))})",
                [(run.id, *(getattr(sample, c) for c in STEP_COLUMNS)) for sample in run.step_samples],
            )
            if run.environment is not None:
                db.execute(
                    f"INSERT INTO environments (run_id, {', '.join(ENVIRONMENT_COLUMNS)}) "
                    f"VALUES (?, {', '.join('?' * len(ENVIRONMENT_COLUMNS))})",
                    (run.id, *(getattr(run.environment, c) for c in ENVIRONMENT_COLUMNS)),
                )

    def export_csv(self) -> str:
        """One row per run: settings, status, error and every result figure as columns."""
        rows = []
        for summary in reversed(self.list_comparisons()):
            comparison = self.comparison(summary["id"])
            for run in comparison["runs"]:
                row = {
                    "comparison_id": comparison["id"], "run_id": run["id"], "created_at": comparison["created_at"],
                    "framework": run["framework"], "repeat": run["repeat"], "status": run["status"],
                    "error_kind": run["error_kind"], "error_message": run["error_message"],
                }
                row.update({f"spec_{k}": v for k, v in run["spec"].items() if k not in ("framework", "notes")})
                row.update(run["result"].as_dict() if run["result"] else {})
                if run["environment"]:
                    row.update({f"env_{k}": run["environment"].get(k) for k in ("framework_version", "device_name", "cpu", "threads")})
                rows.append(row)
        columns: list[str] = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()
