"""Export and import: a store's comparisons as the JSON export format (core/store/export_format.py)
and back, and as CSV, one flat row per run.

The JSON holds every table's rows as stored, nested by comparison, so that an import rebuilds
them exactly; the CSV reads the comparisons as the store's records hand them out.
"""

from __future__ import annotations

import csv
import io
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from core.errors import BadInput
from core.provenance import PROVENANCE_FIELDS
from core.records import Comparison, ComparisonSummary
from core.store.database import (
    COMPARISON_COLUMNS,
    ENVIRONMENT_COLUMNS,
    EPOCH_COLUMNS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    STEP_COLUMNS,
    comparisons,
    environments,
    epochs,
    runs,
    step_samples,
)
from core.store.export_format import EXPORT_FORMAT, check_export, comparison_label
from core.store.export_rows import ComparisonRow, complete_settings, complete_spec


class Store(Protocol):
    """What export and import use of core.store.queries.Store (named here, so that the store's
    module, which hands its export and import over to this one, is not imported back)."""

    def list_comparisons(self) -> list[ComparisonSummary]: ...
    def comparison(self, comparison_id: str) -> Comparison: ...
    def reading(self) -> AbstractContextManager[Connection]: ...
    def transaction(self) -> AbstractContextManager[Connection]: ...


def _dicts(rows: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in rows]


def export_json(store: Store, comparison_ids: list[str] | None = None) -> dict[str, Any]:
    """Every table's rows, nested by comparison: ``import_json`` rebuilds them exactly.

    Settings and specs stored with fewer than all RunSpec fields are written out complete
    (the missing ones at their defaults, as the app reads them), as ``import_json`` stores them."""

    ids = comparison_ids or [summary.id for summary in reversed(store.list_comparisons())]
    exported = []
    with store.reading() as db:
        for comparison_id in ids:
            row = db.execute(select(*(comparisons.c[c] for c in COMPARISON_COLUMNS))
                             .where(comparisons.c.id == comparison_id)).first()
            if row is None:
                raise BadInput(f"no comparison with id {comparison_id!r}")
            comparison = dict(row._mapping)
            comparison["settings_json"] = complete_settings(comparison["settings_json"])
            comparison["runs"] = [_exported_run(db, run) for run in _dicts(db.execute(
                select(*(runs.c[c] for c in RUN_COLUMNS)).where(runs.c.comparison_id == comparison_id)
                .order_by(runs.c.position)))]
            exported.append(comparison)
    return {"format": EXPORT_FORMAT, "schema_version": SCHEMA_VERSION, "comparisons": exported}


def _exported_run(db: Connection, run: dict[str, Any]) -> dict[str, Any]:
    run["spec_json"] = complete_spec(run["spec_json"], run["framework"])
    run["epochs"] = _dicts(db.execute(select(epochs).where(epochs.c.run_id == run["id"]).order_by(epochs.c.epoch)))
    run["step_samples"] = _dicts(db.execute(select(step_samples).where(step_samples.c.run_id == run["id"])
                                            .order_by(step_samples.c.epoch, step_samples.c.step)))
    environment = db.execute(select(environments).where(environments.c.run_id == run["id"])).first()
    run["environment"] = dict(environment._mapping) if environment else None
    return run


def import_json(store: Store, payload: dict[str, Any], *, owner: str | None = None) -> tuple[int, int]:
    """Insert exported comparisons in one transaction; returns (imported, already present).

    Every comparison is checked first (core/store/export_format.py), and against this database
    (a run id it already holds under another comparison): if any is refused, nothing is
    written and the BadInput says why in one line per refused comparison. ``owner``: the
    visitor who imports, the owner of what is imported (public mode)."""

    checked, refused = check_export(payload)
    imported = skipped = 0
    with store.transaction() as db:
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
                _insert_exported(db, comparison, owner)
                imported += 1
        except IntegrityError as error:  # what the checks above should already have refused
            raise BadInput(f"nothing was imported: the export does not fit this database ({error.orig})") from None
    return imported, skipped


def _insert_exported(db: Connection, comparison: ComparisonRow, owner: str | None) -> None:
    """One checked comparison and its runs' rows, as exported."""
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


def export_csv(store: Store) -> str:
    """One row per run: its comparison's sweep, tags and note, settings, status, error and every result figure."""
    rows = []
    for summary in reversed(store.list_comparisons()):
        comparison = store.comparison(summary.id)
        for run in comparison.runs:
            row = {
                "comparison_id": comparison.id, "run_id": run.id, "created_at": comparison.created_at,
                "sweep_id": comparison.sweep_id, "tags": ";".join(comparison.tags), "note": comparison.note,
                "framework": run.framework, "repeat": run.repeat, "status": run.status,
                "error_kind": run.error_kind, "error_message": run.error_message,
            }
            row.update({f"spec_{k}": v for k, v in run.spec.stored().items() if k not in ("framework", "notes")})
            row.update(run.result.as_dict() if run.result else {})
            if run.environment:
                row.update({f"env_{k}": run.environment.get(k)
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
