"""The results store: what callers may use of it.

``Store`` reads and writes comparisons (core/store/queries.py) and hands them back as the typed
records of core/records.py; the queue's rows are core/store/queue.py; what the database itself
raises is told apart by ``is_database_error`` and ``is_unreachable``.
"""

from core.store.database import DATABASE_ERRORS, claimant, default_location, is_database_error, is_unreachable
from core.store.export_format import load_export, parse_export
from core.store.queries import SCHEMA_VERSION, Store, new_id

__all__ = [
    "DATABASE_ERRORS", "SCHEMA_VERSION", "Store", "claimant", "default_location", "is_database_error",
    "is_unreachable", "load_export", "new_id", "parse_export",
]
