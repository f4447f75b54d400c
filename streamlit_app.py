"""Twinbench dashboard: navigation between the pages in pages/, and the job runner."""

import streamlit as st

from dashboard_state import ensure_job_runner

st.set_page_config(page_title="Twinbench", page_icon="⚖️", layout="wide")
ensure_job_runner()

navigation = st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/play_circle:", url_path="train"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("pages/history.py", title="History", icon=":material/history:", url_path="history"),
    st.Page("pages/models.py", title="Models", icon=":material/account_tree:", url_path="models"),
    st.Page("pages/system.py", title="System", icon=":material/memory:", url_path="system"),
])
navigation.run()
