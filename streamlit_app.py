"""Twinbench dashboard (`streamlit run streamlit_app.py`): the pages in pages/, their navigation
and the job runner, all set up by ``run_app`` in dashboard_state.py (see ``PAGES`` there)."""

from dashboard_state import run_app

run_app()
