"""System: this machine, its GPUs, the installed frameworks, and which framework sees which GPU."""

import streamlit as st

from core.analysis.figures import format_value
from core.engine.system import probe_frameworks, system_report
from core.text import plain
from core.views import system_view as tables
from dashboard_state import open_store, page_setup, public_policy

page_setup()

st.title("System")
report = system_report()
host = report["host"]

left, middle, right = st.columns(3)
left.metric("CPU cores", host["cpu_count"], help=host["cpu"])
middle.metric("Memory", format_value(host["host_memory_bytes"], "bytes"))
right.metric("GPUs (NVML)", len(report["gpus"]))
st.caption(f"{host['cpu']} · Python {host['python']} · {host['platform']}")
for note in report["notes"]:
    st.info(note)

st.subheader("GPUs")
if report["gpus"]:
    st.dataframe(tables.gpus_frame(report["gpus"]), hide_index=True)
    st.caption(f"NVIDIA driver {report['driver']}")
else:
    st.write("NVML finds no NVIDIA GPU on this machine.")

st.subheader("Installed versions")
st.dataframe(tables.versions_frame(report["versions"]), hide_index=True)

st.subheader("Results database")
database = open_store().check(integrity=False)
st.write(plain(tables.database_line(database, public=public_policy().enabled)))
st.dataframe(tables.table_counts_frame(database["counts"]), hide_index=True)
for problem in database["problems"]:
    st.warning(plain(problem))
st.caption("Set TWINBENCH_DB (a SQLite file or a postgresql:// URL), or [connections.twinbench] url in Streamlit's "
           "secrets, to keep results elsewhere; `python -m core runs check` also runs SQLite's integrity check.")

st.subheader("What each framework sees")
st.caption("Each framework is asked in its own process, as during training (a few seconds each).")
if st.button("Ask the frameworks", key="ask_frameworks"):
    with st.spinner("Starting each framework ..."):
        st.session_state.probe = probe_frameworks()
if "probe" in st.session_state:
    st.dataframe(tables.probe_frame(st.session_state.probe), hide_index=True)
