"""What every dashboard page shares: the app around the pages, the results store and the job runner.

Kept beside streamlit_app.py rather than in core/, because it uses Streamlit; the logic it calls
lives in core/.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import streamlit as st

from core.analysis.verdict import Decision
from core.engine.error_log import one_line, record
from core.engine.job_runner import RETRY_SECONDS, JobRunner
from core.engine.public_mode import PublicPolicy, may_delete, policy_from_environment
from core.errors import BadInput
from core.store.database import default_location
from core.store.queries import Store
from core.text import plain

# The navigation, in order: (script, title, icon, url path). Home, without a path, is the default page (/).
PAGES = (
    ("pages/home.py", "Home", ":material/home:", None),
    ("pages/train.py", "Train", ":material/play_circle:", "train"),
    ("pages/compare.py", "Compare", ":material/compare_arrows:", "compare"),
    ("pages/sweep.py", "Sweep", ":material/grid_view:", "sweep"),
    ("pages/history.py", "History", ":material/history:", "history"),
    ("pages/models.py", "Models", ":material/account_tree:", "models"),
    ("pages/system.py", "System", ":material/memory:", "system"),
)

# Set while run_app runs the current page, in the thread that runs this session's script.
_inside_app = threading.local()


def run_app() -> None:
    """The whole dashboard: page settings, the job runner, the navigation, then the chosen page."""
    st.set_page_config(page_title="Twinbench", page_icon="⚖️", layout="wide")
    runner = ensure_job_runner()
    page = st.navigation([st.Page(script, title=title, icon=icon, url_path=url_path, default=url_path is None)
                          for script, title, icon, url_path in PAGES])
    policy, problem = _policy_and_problem()
    if problem:
        st.error(plain(f"Public mode's setting is wrong: {problem}. The default limits apply."), icon=":material/error:")
    if policy.enabled:
        st.caption(plain(f"Shared instance: everyone sees every comparison; you can cancel or delete only those you "
                         f"started or imported in this browser tab. Limits: {policy.summary()}."),
                   help=plain(f"Public mode is {policy.reason}."))
    if runner is not None and runner.last_error:
        st.warning(plain(f"Queued comparisons wait: the job runner cannot reach the results database and retries every "
                         f"{RETRY_SECONDS:.0f} s. {runner.last_error}"), icon=":material/sync_problem:")
    _inside_app.active = True
    try:
        page.run()
    except Exception as error:  # one page's failure is a banner, not a broken app
        log = record(error, f"page {page.title}")
        # A shared instance's visitors have no use for (and no business reading) the server's paths.
        details = f" Details: {log}" if log and not policy.enabled else ""
        st.error(plain(f"This page could not be shown: {one_line(error)}{details}"),
                 icon=":material/error:")
    finally:
        _inside_app.active = False


def page_setup() -> None:
    """First line of every page: run the page inside the whole app.

    Normally streamlit_app.py has called ``run_app``, which runs this page, and there is nothing
    to do. But until some session has called ``st.navigation``, Streamlit serves the ``pages/``
    folder as a classic multipage app, so a first visit straight to /train after the server
    started runs pages/train.py alone: no navigation, no job runner. Then run the app here; it
    runs this page inside it, once, with this run's widget values, and ``st.stop`` ends the
    outer copy. From then on Streamlit ignores ``pages/`` in every session (as ``st.navigation``
    is documented to do), so later visits go through streamlit_app.py.
    """
    if getattr(_inside_app, "active", False):
        return
    run_app()
    st.stop()


def _policy_and_problem() -> tuple[PublicPolicy, str | None]:
    """Public mode and its limits, from the environment (core/engine/public_mode.py), and what is wrong
    with the setting, if anything: then the default limits apply, with public mode on (the safe side)."""
    try:
        return policy_from_environment(os.environ), None
    except BadInput as error:
        return PublicPolicy(enabled=True, reason=f"on: {error}"), str(error)


def public_policy() -> PublicPolicy:
    """Public mode and its limits; reading a few variables costs nothing per call (run_app shows
    a wrong setting once per page)."""
    return _policy_and_problem()[0]


def visitor() -> str:
    """This browser session's id, the owner of what it queues or imports. A session is one tab's
    connection: reloading the page starts a new one (Streamlit keeps no cookie of its own)."""
    if "twinbench_visitor" not in st.session_state:
        st.session_state.twinbench_visitor = uuid.uuid4().hex[:12]
    return str(st.session_state.twinbench_visitor)


def may_change(comparison: Mapping[str, Any]) -> bool:
    """Whether this session may delete or cancel ``comparison`` (always, unless public mode is on)."""
    return may_delete(comparison, visitor(), public_policy())


def database_location() -> str:
    """Where results live: ``$TWINBENCH_DB`` (a SQLite path or a PostgreSQL URL), else the URL in
    Streamlit's secrets under ``[connections.twinbench]`` (``url = "postgresql://..."``, the section
    ``st.connection("twinbench")`` would read), else ``$TWINBENCH_HOME/runs.sqlite``."""
    if os.environ.get("TWINBENCH_DB"):
        return os.environ["TWINBENCH_DB"]
    try:
        url = st.secrets.get("connections", {}).get("twinbench", {}).get("url")
    except Exception:  # no secrets file, or one that does not parse: Streamlit reports that itself
        url = None
    return str(url) if url else default_location()


@st.cache_resource(show_spinner=False)
def _store(location: str) -> Store:
    # One store, with its pool of connections, per database for the whole server: a PostgreSQL
    # connection costs a round trip or more to open, and SQLAlchemy's pool is safe across threads.
    return Store(location)


def open_store() -> Store:
    """The results store, or an error on the page (and the page stopped) when it cannot be opened."""
    try:
        return _store(database_location())
    except BadInput as error:
        st.error(plain(f"The results database cannot be opened: {error}"))
        st.stop()
    except Exception as error:  # unreachable or damaged: say so, keep the navigation
        st.error(plain(f"The results database cannot be opened: {one_line(error)}"))
        st.stop()


@st.cache_resource(show_spinner=False)
def _runner(location: str) -> JobRunner:
    runner = JobRunner(location)
    runner.start()
    return runner


def ensure_job_runner() -> JobRunner | None:
    """Start the one queue runner of this server process (not in tests that drive the queue)."""
    if os.environ.get("TWINBENCH_NO_RUNNER") == "1":
        return None
    return _runner(database_location())


def show_decision(decision: Decision) -> None:
    """One sentence of the verdict: a winner, an inconclusive answer, or a disturbed run (in amber).

    The sentence names the stored comparison's frameworks, so it is shown as plain text."""
    if decision.disturbed:
        st.warning(plain(decision.sentence), icon=":material/warning:")
        return
    icon = ":material/arrow_forward:" if decision.winner else ":material/drag_handle:"
    st.markdown(f"{icon} {plain(decision.sentence)}")


def show_figures(figures: Mapping[str, Any], per_row: int = 2) -> None:
    """Charts side by side, ``per_row`` to a row, each keyed by its name in ``figures`` (the tests find
    charts by key)."""
    items = list(figures.items())
    for start in range(0, len(items), per_row):
        for column, (key, figure) in zip(st.columns(per_row), items[start:start + per_row], strict=False):
            column.plotly_chart(figure, key=key)
