"""System: this machine, its GPUs, the installed frameworks, and which framework sees which GPU."""

import pandas as pd
import streamlit as st

from core.analysis.figures import format_value
from core.engine.system import probe_frameworks, system_report
from core.frameworks import LABELS
from core.text import plain
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
    gpus = pd.DataFrame(report["gpus"])
    gpus["memory"] = gpus["memory_total_bytes"].map(lambda b: format_value(b, "bytes"))
    gpus["in use"] = gpus["memory_used_bytes"].map(lambda b: format_value(b, "bytes"))
    st.dataframe(gpus[["index", "name", "memory", "in use"]], hide_index=True)
    st.caption(f"NVIDIA driver {report['driver']}")
else:
    st.write("NVML finds no NVIDIA GPU on this machine.")

st.subheader("Installed versions")
st.dataframe(pd.DataFrame([{"package": k, "version": v or "not installed"} for k, v in report["versions"].items()]),
             hide_index=True)

st.subheader("Results database")
database = open_store().check(integrity=False)
# A shared instance's visitors have no business reading the server's paths or database host.
where = "" if public_policy().enabled else f" · {database['path']}"
st.write(plain(f"{database['backend']}{where} · schema version {database['schema_version']}"))
st.dataframe(pd.DataFrame([{"table": table, "rows": "unreadable" if count is None else f"{count:,}"}
                           for table, count in database["counts"].items()]), hide_index=True)
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
    rows = []
    for framework, answer in st.session_state.probe.items():
        if "error" in answer:
            rows.append({"framework": LABELS[framework], "version": "", "GPUs it sees": answer["error"]})
        else:
            rows.append({"framework": LABELS[framework], "version": answer["framework_version"],
                         "built with CUDA": answer["built_with_cuda"] or "no",
                         "GPUs it sees": ", ".join(answer["gpus"]) or "none (CPU only)",
                         "CPU threads": answer["threads"]})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
