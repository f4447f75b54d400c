"""Where unexpected errors go: one line for the person, the traceback in a log file for the owner.

The CLI and the dashboard show ``one_line(error)`` and, to the owner, the log's path; the log
lives in ``$TWINBENCH_HOME/logs/errors.log`` (rotated at 1 MB, three kept).
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from core.paths import twinbench_home
from core.store import is_database_error, is_unreachable

LOG_BYTES = 1 << 20


def log_path() -> Path:
    return twinbench_home() / "logs" / "errors.log"


def record(error: BaseException, where: str) -> Path | None:
    """Append ``error`` with its traceback to the log; the log's path, or None if it cannot be written."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=3, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.Logger("twinbench.errors")
    logger.addHandler(handler)
    try:
        logger.error("%s: %s", where, one_line(error), exc_info=(type(error), error, error.__traceback__))
    finally:
        handler.close()
    return path


def one_line(error: BaseException) -> str:
    """What went wrong, in one line a person can act on."""
    if is_unreachable(error):
        reason = " ".join(str(getattr(error, "orig", error)).split())[:300]
        return f"the results database cannot be reached ({reason}); check its URL (--db / TWINBENCH_DB) and the server"
    if is_database_error(error):
        return (f"the results database is damaged or unreadable ({getattr(error, 'orig', None) or error}); `python -m core runs check` says more, "
                "and `python -m core runs recover NEW.sqlite` copies what is readable")
    text = " ".join(str(error).split()) or "no message"
    return f"unexpected {type(error).__name__}: {text[:300]}"
