"""``runs recover``: copy every comparison that can still be read from a damaged store into a
new one. The damaged file is only read, never changed or replaced."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import BadInput
from core.store import Store


@dataclass
class Recovery:
    copied: list[str] = field(default_factory=list)
    lost: dict[str, str] = field(default_factory=dict)  # comparison id (or rowid) -> why it could not be read


def _comparison_ids(source: Store) -> tuple[list[str], dict[str, str]]:
    """Every id the comparisons table still yields; row by row where a whole scan fails."""
    try:
        return [row[0] for row in source.connection.execute("SELECT id FROM comparisons ORDER BY created_at")], {}
    except sqlite3.DatabaseError:
        pass
    ids, lost = [], {}
    try:
        last = source.connection.execute("SELECT MAX(rowid) FROM comparisons").fetchone()[0] or 0
    except sqlite3.DatabaseError as error:
        return [], {"comparisons table": str(error)}
    for rowid in range(1, last + 1):
        try:
            row = source.connection.execute("SELECT id FROM comparisons WHERE rowid=?", (rowid,)).fetchone()
        except sqlite3.DatabaseError as error:
            lost[f"row {rowid}"] = str(error)
            continue
        if row:
            ids.append(row[0])
    return ids, lost


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
        except (sqlite3.DatabaseError, ValueError, KeyError) as error:
            recovery.lost[comparison_id] = f"{type(error).__name__}: {error}"
            continue
        target.import_json(payload)
        recovery.copied.append(comparison_id)
    source.close()
    target.close()
    return recovery
