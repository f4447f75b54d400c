"""The results store: comparisons, their runs, epochs, step samples, environments and jobs.

One interface over SQLAlchemy Core (core/store/database.py): a SQLite file by default (write-ahead
log, so pages read while a worker writes), or a PostgreSQL database that a team or a hosted
dashboard shares. Every write is one transaction, so a worker that dies mid-run leaves its run
marked failed and nothing half-written. Results are kept as JSON next to a few columns that
lists filter on; export/import in JSON is lossless, CSV is one flat row per run.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, case, delete, func, insert, select, tuple_, update
from sqlalchemy.engine import make_url

import core.store.database as database
import core.store.exchange as exchange
from core.errors import BadInput, FailureKind
from core.records import UNFINISHED, Comparison, ComparisonSummary, Epoch, Run, StepSample, StoredSpec
from core.results import RunResult
from core.store.annotations import clean_note, clean_tags
from core.store.database import (
    EPOCH_COLUMNS,
    SCHEMA_VERSION,
    STEP_COLUMNS,
    comparisons,
    environments,
    epochs,
    runs,
    step_samples,
)

__all__ = ["SCHEMA_VERSION", "Store", "new_id"]


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def _tags(tags_json: str | None) -> tuple[str, ...]:
    return tuple(json.loads(tags_json or "[]"))


def _frameworks(column: str) -> tuple[str, ...]:
    return tuple(column.split(","))


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

    def fail_run(self, run_id: str, kind: FailureKind, message: str) -> None:
        with self.transaction() as db:
            db.execute(update(runs).where(runs.c.id == run_id).values(
                status="failed", error_kind=kind, error_message=message, finished_at=time.time()))

    def fail_unfinished_runs(self, comparison_id: str, kind: FailureKind, message: str, db: Connection | None = None) -> int:
        """Fail every queued or running run of a comparison (inside ``db``'s transaction, if given)."""
        if db is None:
            with self.transaction() as db:
                return self.fail_unfinished_runs(comparison_id, kind, message, db)
        return int(db.execute(
            update(runs).where(runs.c.comparison_id == comparison_id, runs.c.status.in_(UNFINISHED))
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

    def list_comparisons(self) -> list[ComparisonSummary]:
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
            rows = db.execute(query).all()
            resolved: dict[str, str] = {}
            for comparison_id, details in db.execute(devices):
                device = json.loads(details).get("device")
                if device is not None:
                    resolved.setdefault(comparison_id, device)
        return [ComparisonSummary(
            id=row.id, created_at=row.created_at, dataset=row.dataset, architecture=row.architecture, device=row.device,
            frameworks=_frameworks(row.frameworks), sweep_id=row.sweep_id, owner=row.owner, tags=_tags(row.tags_json),
            note=row.note, runs=row.runs, finished=None if row.runs == 0 else int(row.finished),
            failed=None if row.runs == 0 else int(row.failed), resolved_device=resolved.get(row.id)) for row in rows]

    def latest_comparison_id(self) -> str | None:
        with self.reading() as db:
            return db.execute(select(comparisons.c.id).order_by(comparisons.c.created_at.desc()).limit(1)).scalar()

    def comparison(self, comparison_id: str) -> Comparison:
        """A comparison with its runs, each with spec, result, error, epochs, steps, environment."""
        with self.reading() as db:
            row = db.execute(select(comparisons).where(comparisons.c.id == comparison_id)).first()
            if row is None:
                raise BadInput(f"no comparison with id {comparison_id!r}")
            run_rows = db.execute(select(runs).where(runs.c.comparison_id == comparison_id).order_by(runs.c.position)).all()
            return Comparison(
                id=row.id, created_at=row.created_at, dataset=row.dataset, architecture=row.architecture,
                device=row.device, frameworks=_frameworks(row.frameworks),
                settings=StoredSpec.model_validate_json(row.settings_json), data=json.loads(row.data_json),
                sweep_id=row.sweep_id, owner=row.owner, tags=_tags(row.tags_json), note=row.note,
                runs=tuple(self._run(db, run) for run in run_rows))

    @staticmethod
    def _run(db: Connection, row: Row[Any]) -> Run:
        epoch_rows = db.execute(select(*(epochs.c[c] for c in EPOCH_COLUMNS))
                                .where(epochs.c.run_id == row.id).order_by(epochs.c.epoch))
        sample_rows = db.execute(select(*(step_samples.c[c] for c in STEP_COLUMNS))
                                 .where(step_samples.c.run_id == row.id)
                                 .order_by(step_samples.c.epoch, step_samples.c.step))
        details = db.execute(select(environments.c.details_json).where(environments.c.run_id == row.id)).scalar()
        return Run(
            id=row.id, comparison_id=row.comparison_id, position=row.position, repeat=row.repeat,
            framework=row.framework, status=row.status, spec=StoredSpec.model_validate_json(row.spec_json),
            result=RunResult.model_validate_json(row.result_json) if row.result_json else None,
            error_kind=row.error_kind, error_message=row.error_message, created_at=row.created_at,
            started_at=row.started_at, finished_at=row.finished_at,
            epochs=tuple(Epoch(**epoch._mapping) for epoch in epoch_rows),
            step_samples=tuple(StepSample(epoch=sample.epoch, step=sample.step, steps=sample.steps,
                                          milliseconds=sample.milliseconds, warmup=bool(sample.warmup))
                               for sample in sample_rows),
            environment=json.loads(details) if details else None)

    # --- export and import (core/store/exchange.py) -------------------------------------------

    def export_json(self, comparison_ids: list[str] | None = None) -> dict[str, Any]:
        """Every table's rows, nested by comparison, that ``import_json`` rebuilds exactly."""
        return exchange.export_json(self, comparison_ids)

    def import_json(self, payload: dict[str, Any], *, owner: str | None = None) -> tuple[int, int]:
        """Insert exported comparisons in one transaction; returns (imported, already present)."""
        return exchange.import_json(self, payload, owner=owner)

    def export_csv(self) -> str:
        """One row per run: its comparison's sweep, tags and note, settings, status, error and every result figure."""
        return exchange.export_csv(self)
