"""What every dashboard page shares: the results store and the background job runner.

Kept beside streamlit_app.py rather than in core/, because it uses Streamlit's caching; the
logic it calls lives in core/.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core.jobs import JobRunner
from core.paths import default_db_path
from core.store import Store


def open_store() -> Store:
    """A connection per script run: SQLite connections must not be shared between reruns' threads."""
    return Store(default_db_path())


@st.cache_resource(show_spinner=False)
def _runner(db_path: str) -> JobRunner:
    runner = JobRunner(Path(db_path))
    runner.start()
    return runner


def ensure_job_runner() -> JobRunner | None:
    """Start the one queue runner of this server process (not in tests that drive the queue)."""
    if os.environ.get("TWINBENCH_NO_RUNNER") == "1":
        return None
    return _runner(str(default_db_path()))
