"""The results store: comparisons, their runs, epochs, step samples, environments and jobs.

One interface over SQLAlchemy Core (core/store/database.py): a SQLite file by default (write-ahead
log, so pages read while a worker writes), or a PostgreSQL database that a team or a hosted
dashboard shares. Every write is one transaction, so a worker that dies mid-run leaves its run
marked failed and nothing half-written. Results are kept as JSON next to a few columns that
lists filter on; export/import in JSON is lossless, CSV is one flat row per run.
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

from sqlalchemy import Connection, case, delete, func, insert, select, tuple_, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from core.errors import BadInput
from core.provenance import PROVENANCE_FIELDS
from core.results import RunResult
from core.store import database
from core.store.annotations import clean_note, clean_tags
from core.store.database import SCHEMA_VERSION, comparisons, environments, epochs, runs, step_samples
from core.store.export_format import EXPORT_FORMAT, check_export, comparison_label, complete_settings, complete_spec

__all__ = ["SCHEMA_VERSION", "EXPORT_FORMAT", "Store", "new_id"]

# A run is queued, running, finished or failed (its error_kind says why, "cancelled" included).

EPOCH_COLUMNS = (
    "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_seconds", "eval_seconds",
    "elapsed_seconds", "images_per_second", "step_ms_median", "step_ms_p90", "data_wait_fraction",
)
STEP_COLUMNS = ("epoch", "step", "steps", "milliseconds", "warmup")
# What an export holds of a comparison: not its owner (a visitor's browser session, see core/engine/public_mode.py).
COMPARISON_COLUMNS = (
    "id", "created_at", "dataset", "architecture", "device", "frameworks", "settings_json", "data_json",
    "sweep_id", "tags_json", "note",
)
RUN_COLUMNS = (
    "id", "comparison_id", "position", "repeat", "framework", "status", "spec_json", "result_json",
    "error_kind", "error_message", "created_at", "started_at", "finished_at",
)
ENVIRONMENT_COLUMNS = ("framework_version", "device_name", "driver", "cpu", "threads", "details_json")


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def _dicts(rows: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in rows]


def _annotated(comparison: dict[str, Any]) -> dict[str, Any]:
    """A comparisons row as callers read it: tags as a list."""
    comparison["tags"] = json.loads(comparison.pop("tags_json", None) or "[]")
    return comparison


class Store:
    """``Store(location)``: a SQLite file path or a database URL (core/store/database.py)."""

    def __init__(self, location: Path | str) -> None:
        self._open(location)
        try:
            if self.path is not None:
                database.enable_write_ahead_log(self.engine)
            with database.read_transaction(self.engine) as db:
                version = database.stored_version(db)
            if version > SCHEMA_VERSION:
                raise BadInput(f"{self.shown} was written by a newer Twinbench (schema {version})")
            if version < SCHEMA_VERSION:
                if version > 0 and self.path is not None:
                    self.backup(self.path.with_name(f"{self.path.name}.schema-{version}.bak"))
                with self.transaction() as db:
                    database.lock_schema(db)
                    version = database.stored_version(db)  # another process may have done it meanwhile
                    if version < SCHEMA_VERSION:
                        database.upgrade(db, version)
        except database.DATABASE_ERRORS as error:
            self.engine.dispose()
            raise self._unusable(error) from None

    def _open(self, location: Path | str) -> None:
        self.location = str(location)
        self.shown = database.shown_location(location)
        url = database.database_url(location)
        self.path: Path | None = Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None
        if self.path is not None and not database.is_url(location):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise BadInput(f"the folder for {self.path} cannot be made ({error.strerror or error}); "
                               "set TWINBENCH_HOME (or --db) to a folder you can write") from None
        self.engine = database.create_database_engine(url)

    def _unusable(self, error: BaseException) -> BadInput:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        if self.path is not None:
            return BadInput(f"{self.shown} is not a usable Twinbench database ({reason})")
        return BadInput(f"the results database {self.shown} cannot be reached or used ({reason})")

    @property
    def is_sqlite(self) -> bool:
        return self.path is not None

    @classmethod
    def read_only(cls, location: Path | str) -> Store:
        """The database as it is, for checking or rescuing it: no schema upgrade, no write."""
        store = cls.__new__(cls)
        if database.is_url(location):
            store._open(location)
            return store
        path = Path(location)
        if not path.is_file():
            raise BadInput(f"{path} does not exist")
        store._open(location)
        store.engine.dispose()
        store.engine = database.create_database_engine(make_url(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true"))
        return store

    def backup(self, target: Path) -> None:
        """A consistent copy of the whole SQLite file (its online backup), taken before an upgrade.

        Written beside ``target`` and renamed into place, so that a full disk leaves no partial copy."""
        partial = target.with_name(target.name + ".partial")
        raw = self.engine.raw_connection()
        try:
            copy = sqlite3.connect(partial)
            try:
                raw.driver_connection.backup(copy)  # type: ignore[union-attr]
            finally:
                copy.close()
            partial.replace(target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            raw.close()

    def check(self, integrity: bool = True) -> dict[str, Any]:
        """What ``runs check`` reports: the integrity check (SQLite; skipped with ``integrity=False``),
        the schema version, rows per table, and the backend."""
        report: dict[str, Any] = {"path": self.shown, "backend": "SQLite" if self.is_sqlite else "PostgreSQL",
                                  "counts": {}, "problems": []}
        try:
            with database.read_transaction(self.engine) as db:
                report["schema_version"] = database.stored_version(db)
                if self.is_sqlite and integrity:
                    problems = [row[0] for row in db.exec_driver_sql("PRAGMA integrity_check(20)")]
                    report["problems"] = [] if problems == ["ok"] else problems
        except database.DATABASE_ERRORS as error:
            report["problems"] = [str(getattr(error, "orig", None) or error)]
            report.setdefault("schema_version", None)
        for name in database.TABLES:
            table = database.metadata.tables[name]
            try:
                with database.read_transaction(self.engine) as db:
                    report["counts"][name] = db.execute(select(func.count()).select_from(table)).scalar_one()
            except database.DATABASE_ERRORS as error:
                report["counts"][name] = None
                report["problems"].append(f"{name}: {getattr(error, 'orig', None) or error}")
        report["ok"] = not report["problems"]
        return report

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: all of it or none of it."""
        with database.write_transaction(self.engine) as db:
            yield db

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read transaction: one consistent view for all of its queries."""
        with database.read_transaction(self.engine) as db:
            yield db

    # --- writing -----------------------------------------------------------------------------

    def create_comparison(
        self, settings: dict[str, Any], frameworks: list[str], planned: list[tuple[int, str, dict[str, Any]]],
        data_summary: dict[str, Any] | None = None, *, sweep_id: str | None = None, owner: str | None = None,
    ) -> tuple[str, list[str]]:
        """Record a comparison and its queued runs (repeat, framework, spec) in one transaction."""
        comparison_id = new_id()
        now = time.time()
        run_ids = [new_id() for _ in planned]
        with self.transaction() as db:
            db.execute(insert(comparisons).values(
                id=comparison_id, created_at=now, dataset=settings["dataset"], architecture=settings["architecture"],
                device=settings["device"], frameworks=",".join(frameworks), settings_json=json.dumps(settings, sort_keys=True),
                data_json=json.dumps(data_summary or {}), sweep_id=sweep_id, owner=owner))
            if planned:
                db.execute(insert(runs), [
                    {"id": run_id, "comparison_id": comparison_id, "position": position, "repeat": repeat,
                     "framework": framework, "status": "queued", "spec_json": json.dumps(spec, sort_keys=True), "created_at": now}
                    for position, ((repeat, framework, spec), run_id) in enumerate(zip(planned, run_ids, strict=True))])
        return comparison_id, run_ids

    def add_runs(self, comparison_id: str, planned: list[tuple[int, str, dict[str, Any]]],
                 settings: dict[str, Any]) -> list[str]:
        """Queue more runs (repeat, framework, spec) after a comparison's last, with the settings
        that now describe it (its repeats), in one transaction."""
        now = time.time()
        run_ids = [new_id() for _ in planned]
        with self.transaction() as db:
            last = db.execute(select(func.max(runs.c.position)).where(runs.c.comparison_id == comparison_id)).scalar()
            start = -1 if last is None else int(last)
            db.execute(update(comparisons).where(comparisons.c.id == comparison_id)
                       .values(settings_json=json.dumps(settings, sort_keys=True)))
            db.execute(insert(runs), [
                {"id": run_id, "comparison_id": comparison_id, "position": start + 1 + index, "repeat": repeat,
                 "framework": framework, "status": "queued", "spec_json": json.dumps(spec, sort_keys=True), "created_at": now}
                for index, ((repeat, framework, spec), run_id) in enumerate(zip(planned, run_ids, strict=True))])
        return run_ids

    def update_queued_spec(self, run_id: str, spec: dict[str, Any]) -> None:
        """Change a run's settings before it starts (best-of-each picks its mode first)."""
        with self.transaction() as db:
            db.execute(update(runs).where(runs.c.id == run_id, runs.c.status == "queued")
                       .values(spec_json=json.dumps(spec, sort_keys=True)))

    def update_comparison_data(self, comparison_id: str, data: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(update(comparisons).where(comparisons.c.id == comparison_id).values(data_json=json.dumps(data)))

    def set_annotations(self, comparison_id: str, *, tags: list[str] | None = None, note: str | None = None) -> None:
        """Replace a comparison's tags and/or note (checked by core.views.history.clean_tags / clean_note)."""

        values: dict[str, Any] = {}
        if tags is not None:
            values["tags_json"] = json.dumps(clean_tags(tags))
        if note is not None:
            values["note"] = clean_note(note)
        with self.transaction() as db:
            if db.execute(select(comparisons.c.id).where(comparisons.c.id == comparison_id)).first() is None:
                raise BadInput(f"no comparison with id {comparison_id!r}")
            if values:
                db.execute(update(comparisons).where(comparisons.c.id == comparison_id).values(**values))

    def mark_running(self, run_id: str) -> None:
        with self.transaction() as db:
            db.execute(update(runs).where(runs.c.id == run_id)
                       .values(status="running", started_at=time.time(), claimed_by=database.claimant()))

    def record_environment(self, run_id: str, environment: dict[str, Any]) -> None:
        row = {"framework_version": environment.get("framework_version"), "device_name": environment.get("device_name"),
               "driver": environment.get("driver"), "cpu": environment.get("cpu"), "threads": environment.get("threads"),
               "details_json": json.dumps(environment, sort_keys=True)}
        with self.transaction() as db:
            db.execute(delete(environments).where(environments.c.run_id == run_id))
            db.execute(insert(environments).values(run_id=run_id, **row))

    def add_epoch(self, run_id: str, event: dict[str, Any]) -> None:
        samples = [{"run_id": run_id, "epoch": s["epoch"], "step": s["step"], "steps": s["steps"],
                    "milliseconds": s["milliseconds"], "warmup": int(bool(s["warmup"]))} for s in event.get("step_samples", [])]
        with self.transaction() as db:
            db.execute(delete(epochs).where(epochs.c.run_id == run_id, epochs.c.epoch == event["epoch"]))
            db.execute(insert(epochs).values(run_id=run_id, **{column: event.get(column) for column in EPOCH_COLUMNS}))
            if samples:  # a repeated epoch event replaces its samples
                db.execute(delete(step_samples).where(
                    step_samples.c.run_id == run_id,
                    tuple_(step_samples.c.epoch, step_samples.c.step).in_([(s["epoch"], s["step"]) for s in samples])))
                db.execute(insert(step_samples), samples)

    def finish_run(self, run_id: str, result: RunResult) -> None:
        with self.transaction() as db:
            db.execute(update(runs).where(runs.c.id == run_id).values(
                status="finished", result_json=json.dumps(result.as_dict(), sort_keys=True), finished_at=time.time(),
                error_kind=None, error_message=None))

    def fail_run(self, run_id: str, kind: str, message: str) -> None:
        with self.transaction() as db:
            db.execute(update(runs).where(runs.c.id == run_id).values(
                status="failed", error_kind=kind, error_message=message, finished_at=time.time()))

    def fail_unfinished_runs(self, comparison_id: str, kind: str, message: str, db: Connection | None = None) -> int:
        """Fail every queued or running run of a comparison (inside ``db``'s transaction, if given)."""
        if db is None:
            with self.transaction() as db:
                return self.fail_unfinished_runs(comparison_id, kind, message, db)
        return int(db.execute(
            update(runs).where(runs.c.comparison_id == comparison_id, runs.c.status.in_(("queued", "running")))
            .values(status="failed", error_kind=kind, error_message=message, finished_at=time.time())).rowcount)

    def delete_comparison(self, comparison_id: str) -> bool:
        with self.transaction() as db:
            return db.execute(delete(comparisons).where(comparisons.c.id == comparison_id)).rowcount > 0

    # --- reading -----------------------------------------------------------------------------

    def resolve_comparison_id(self, prefix: str) -> str:
        """Accept any unique prefix of an id, as git does."""
        prefix = prefix.strip()
        with self.reading() as db:
            ids = list(db.execute(select(comparisons.c.id).where(comparisons.c.id.startswith(prefix, autoescape=True))
                                  .order_by(comparisons.c.created_at)).scalars())
        if not ids or not prefix:
            raise BadInput(f"no comparison with id {prefix!r}; `python -m core runs list` shows them")
        if len(ids) > 1:
            raise BadInput(f"id {prefix!r} is ambiguous: {', '.join(ids)}")
        return ids[0]

    def list_comparisons(self) -> list[dict[str, Any]]:
        """Every comparison, newest first, with its run counts and the device its runs used."""
        finished = func.sum(case((runs.c.status == "finished", 1), else_=0))
        failed = func.sum(case((runs.c.status == "failed", 1), else_=0))
        query = (select(comparisons, func.count(runs.c.id).label("runs"), finished.label("finished"), failed.label("failed"))
                 .select_from(comparisons.outerjoin(runs)).group_by(comparisons.c.id)
                 .order_by(comparisons.c.created_at.desc(), comparisons.c.id))
        # The device the runs actually used, where "auto" was asked for: the first run's that says.
        devices = (select(runs.c.comparison_id, environments.c.details_json)
                   .join(environments, environments.c.run_id == runs.c.id).order_by(runs.c.position))
        with self.reading() as db:
            rows = _dicts(db.execute(query))
            resolved: dict[str, str] = {}
            for comparison_id, details in db.execute(devices):
                device = json.loads(details).get("device")
                if device is not None:
                    resolved.setdefault(comparison_id, device)
        for row in rows:
            row["resolved_device"] = resolved.get(row["id"])
            row["finished"] = None if row["runs"] == 0 else int(row["finished"])
            row["failed"] = None if row["runs"] == 0 else int(row["failed"])
            _annotated(row)
        return rows

    def latest_comparison_id(self) -> str | None:
        with self.reading() as db:
            return db.execute(select(comparisons.c.id).order_by(comparisons.c.created_at.desc()).limit(1)).scalar()

    def comparison(self, comparison_id: str) -> dict[str, Any]:
        """A comparison with its runs, each with spec, result, error, epochs, steps, environment."""
        with self.reading() as db:
            row = db.execute(select(comparisons).where(comparisons.c.id == comparison_id)).first()
            if row is None:
                raise BadInput(f"no comparison with id {comparison_id!r}")
            comparison = _annotated(dict(row._mapping))
            comparison["settings"] = json.loads(comparison.pop("settings_json"))
            comparison["data"] = json.loads(comparison.pop("data_json"))
            comparison["runs"] = [self._run(db, run) for run in _dicts(db.execute(
                select(runs).where(runs.c.comparison_id == comparison_id).order_by(runs.c.position)))]
        return comparison

    @staticmethod
    def _run(db: Connection, run: dict[str, Any]) -> dict[str, Any]:
        run.pop("claimed_by", None)
        run["spec"] = json.loads(run.pop("spec_json"))
        result = run.pop("result_json")
        run["result"] = RunResult.model_validate_json(result) if result else None
        run["error"] = {"kind": run["error_kind"], "message": run["error_message"]} if run["error_kind"] else None
        run["epochs"] = _dicts(db.execute(select(*(epochs.c[c] for c in EPOCH_COLUMNS))
                                          .where(epochs.c.run_id == run["id"]).order_by(epochs.c.epoch)))
        run["step_samples"] = _dicts(db.execute(select(*(step_samples.c[c] for c in STEP_COLUMNS))
                                                .where(step_samples.c.run_id == run["id"])
                                                .order_by(step_samples.c.epoch, step_samples.c.step)))
        details = db.execute(select(environments.c.details_json).where(environments.c.run_id == run["id"])).scalar()
        run["environment"] = json.loads(details) if details else None
        return run

    # --- export and import -------------------------------------------------------------------

    def export_json(self, comparison_ids: list[str] | None = None) -> dict[str, Any]:
        """Every table's rows, nested by comparison: ``import_json`` rebuilds them exactly.

        Settings and specs stored with fewer than all RunSpec fields are written out complete
        (the missing ones at their defaults, as the app reads them), as ``import_json`` stores them."""

        ids = comparison_ids or [c["id"] for c in reversed(self.list_comparisons())]
        exported = []
        with self.reading() as db:
            for comparison_id in ids:
                row = db.execute(select(*(comparisons.c[c] for c in COMPARISON_COLUMNS))
                                 .where(comparisons.c.id == comparison_id)).first()
                if row is None:
                    raise BadInput(f"no comparison with id {comparison_id!r}")
                comparison = dict(row._mapping)
                comparison["settings_json"] = complete_settings(comparison["settings_json"])
                comparison["runs"] = [self._exported_run(db, run) for run in _dicts(db.execute(
                    select(*(runs.c[c] for c in RUN_COLUMNS)).where(runs.c.comparison_id == comparison_id)
                    .order_by(runs.c.position)))]
                exported.append(comparison)
        return {"format": EXPORT_FORMAT, "schema_version": SCHEMA_VERSION, "comparisons": exported}

    @staticmethod
    def _exported_run(db: Connection, run: dict[str, Any]) -> dict[str, Any]:

        run["spec_json"] = complete_spec(run["spec_json"], run["framework"])
        run["epochs"] = _dicts(db.execute(select(epochs).where(epochs.c.run_id == run["id"]).order_by(epochs.c.epoch)))
        run["step_samples"] = _dicts(db.execute(select(step_samples).where(step_samples.c.run_id == run["id"])
                                                .order_by(step_samples.c.epoch, step_samples.c.step)))
        environment = db.execute(select(environments).where(environments.c.run_id == run["id"])).first()
        run["environment"] = dict(environment._mapping) if environment else None
        return run

    def import_json(self, payload: dict[str, Any], *, owner: str | None = None) -> tuple[int, int]:
        """Insert exported comparisons in one transaction; returns (imported, already present).

        Every comparison is checked first (core/store/export_format.py), and against this database
        (a run id it already holds under another comparison): if any is refused, nothing is
        written and the BadInput says why in one line per refused comparison. ``owner``: the
        visitor who imports, the owner of what is imported (public mode)."""

        checked, refused = check_export(payload)
        imported = skipped = 0
        with self.transaction() as db:
            fresh = []
            for index, comparison in checked.items():
                if db.execute(select(comparisons.c.id).where(comparisons.c.id == comparison.id)).first():
                    skipped += 1
                    continue
                for run in comparison.runs:
                    holder = db.execute(select(runs.c.comparison_id).where(runs.c.id == run.id)).scalar()
                    if holder:
                        refused[index] = (f"{comparison_label(index, {'id': comparison.id})}: run {run.id} is already "
                                          f"in this database, in comparison {holder}")
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
                    self._insert_exported(db, comparison, owner)
                    imported += 1
            except IntegrityError as error:  # what the checks above should already have refused
                raise BadInput(f"nothing was imported: the export does not fit this database ({error.orig})") from None
        return imported, skipped

    @staticmethod
    def _insert_exported(db: Connection, comparison: Any, owner: str | None) -> None:
        """One checked comparison (an export_format.ComparisonRow) and its runs' rows, as exported."""
        db.execute(insert(comparisons).values(owner=owner, **{c: getattr(comparison, c) for c in COMPARISON_COLUMNS}))
        for run in comparison.runs:
            db.execute(insert(runs).values(**{c: getattr(run, c) for c in RUN_COLUMNS}))
            if run.epochs:
                db.execute(insert(epochs), [{"run_id": run.id, **{c: getattr(epoch, c) for c in EPOCH_COLUMNS}}
                                            for epoch in run.epochs])
            if run.step_samples:
                db.execute(insert(step_samples), [{"run_id": run.id, **{c: getattr(sample, c) for c in STEP_COLUMNS}}
                                                  for sample in run.step_samples])
            if run.environment is not None:
                db.execute(insert(environments).values(
                    run_id=run.id, **{c: getattr(run.environment, c) for c in ENVIRONMENT_COLUMNS}))

    def export_csv(self) -> str:
        """One row per run: its comparison's sweep, tags and note, settings, status, error and every result figure."""
        rows = []
        for summary in reversed(self.list_comparisons()):
            comparison = self.comparison(summary["id"])
            for run in comparison["runs"]:
                row = {
                    "comparison_id": comparison["id"], "run_id": run["id"], "created_at": comparison["created_at"],
                    "sweep_id": comparison["sweep_id"], "tags": ";".join(comparison["tags"]), "note": comparison["note"],
                    "framework": run["framework"], "repeat": run["repeat"], "status": run["status"],
                    "error_kind": run["error_kind"], "error_message": run["error_message"],
                }
                row.update({f"spec_{k}": v for k, v in run["spec"].items() if k not in ("framework", "notes")})
                row.update(run["result"].as_dict() if run["result"] else {})
                if run["environment"]:
                    row.update({f"env_{k}": run["environment"].get(k)
                                for k in ("framework_version", "device_name", "cpu", "threads", *PROVENANCE_FIELDS)})
                rows.append(row)
        columns: list[str] = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()
