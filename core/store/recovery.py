"""``runs recover``: copy every comparison that can still be read from a damaged store into a
new one. The damaged file is only read, never changed or replaced."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import BadInput
from core.store.database import DATABASE_ERRORS
from core.store.queries import Store


@dataclass
class Recovery:
    copied: list[str] = field(default_factory=list)
    lost: dict[str, str] = field(default_factory=dict)  # comparison id (or rowid) -> why it could not be read


def _query(source: Store, sql: str, *parameters: object) -> list[tuple[object, ...]]:
    """One query in a read transaction of its own, so that a damaged page fails only this one."""
    with source.reading() as db:
        return [tuple(row) for row in db.exec_driver_sql(sql, parameters)]


def _comparison_ids(source: Store) -> tuple[list[str], dict[str, str]]:
    """Every id the comparisons table still yields; row by row where a whole scan fails."""
    try:
        return [str(row[0]) for row in _query(source, "SELECT id FROM comparisons ORDER BY created_at")], {}
    except DATABASE_ERRORS:
        pass
    ids, lost = [], {}
    try:
        last = int(_query(source, "SELECT MAX(rowid) FROM comparisons")[0][0] or 0)  # type: ignore[call-overload]
    except DATABASE_ERRORS as error:
        return [], {"comparisons table": _reason(error)}
    for rowid in range(1, last + 1):
        try:
            rows = _query(source, "SELECT id FROM comparisons WHERE rowid=?", rowid)
        except DATABASE_ERRORS as error:
            lost[f"row {rowid}"] = _reason(error)
            continue
        if rows:
            ids.append(str(rows[0][0]))
    return ids, lost


def _reason(error: BaseException) -> str:
    return str(getattr(error, "orig", None) or error)


def recover(source_path: Path, target_path: Path) -> Recovery:
    if target_path.exists():
        raise BadInput(f"{target_path} exists; recover into a new file (the damaged one is never replaced)")
    if source_path.resolve() == target_path.resolve():
        raise BadInput("recover into a new file, not the damaged one")
    source = Store.read_only(source_path)
    target = Store(target_path)
    recovery = Recovery()
    ids, recovery.lost = _comparison_ids(source)
    for comparison_id in ids:
        try:
            payload = source.export_json([comparison_id])
        except (*DATABASE_ERRORS, ValueError, KeyError) as error:
            recovery.lost[comparison_id] = f"{type(getattr(error, 'orig', None) or error).__name__}: {_reason(error)}"
            continue
        target.import_json(payload)
        recovery.copied.append(comparison_id)
    source.close()
    target.close()
    return recovery
