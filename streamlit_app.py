"""Twinbench dashboard entry point: navigation between the pages in pages/."""

import streamlit as st

st.set_page_config(page_title="Twinbench", page_icon="⚖️", layout="wide")

navigation = st.navigation([st.Page("pages/home.py", title="Home", icon="🏠", url_path="", default=True)])
navigation.run()
