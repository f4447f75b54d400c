"""What every dashboard page shares: the results store and the background job runner.

Kept beside streamlit_app.py rather than in core/, because it uses Streamlit's caching; the
logic it calls lives in core/.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core.errors import BadInput
from core.jobs import JobRunner
from core.paths import default_db_path
from core.store import Store
from core.verdict import Decision


def open_store() -> Store:
    """A connection per script run: SQLite connections must not be shared between reruns' threads."""
    try:
        return Store(default_db_path())
    except BadInput as error:
        st.error(f"The results database cannot be opened: {error}")
        st.stop()


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


def page_setup() -> None:
    """First lines of every page.

    Streamlit treats a folder named ``pages/`` as an old-style multipage app until the entry
    script has called ``st.navigation`` in this server process; a first visit straight to
    /train would then run pages/train.py alone, without streamlit_app.py (no navigation, no job
    runner). On a session's first run, switch the process to ``st.navigation`` and rerun
    through the entry script, which opens the same page. Later runs never rerun here, so no
    click is lost.
    """
    from streamlit.runtime.pages_manager import PagesManager

    first_run = not st.session_state.get("_navigation_checked")
    st.session_state["_navigation_checked"] = True
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if first_run:
            st.rerun()


def show_decision(decision: Decision) -> None:
    """One sentence of the verdict: a winner, an inconclusive answer, or a disturbed run (in amber)."""
    if decision.disturbed:
        st.warning(decision.sentence, icon=":material/warning:")
        return
    icon = ":material/arrow_forward:" if decision.winner else ":material/drag_handle:"
    st.markdown(f"{icon} {decision.sentence}")
