"""Home: what Twinbench does, the latest verdict, and one button for the default comparison."""

import datetime as dt

import streamlit as st

from core.analysis.verdict import findings
from core.engine.public_mode import enqueue_public
from core.errors import BadInput
from core.frameworks import DEFAULT_NAMES
from core.records import UNFINISHED
from core.spec import RunSpec
from core.text import plain
from core.views.compare_view import headline_markdown, verdict_table
from core.views.framework_words import DEFAULT_FRAMEWORKS, EVERY_FRAMEWORK
from dashboard_state import open_store, page_setup, public_policy, show_decision, visitor

page_setup()

st.title("Twinbench")
st.write(
    f"Twinbench trains the same image classifier in {EVERY_FRAMEWORK}, with the same data, "
    "order, initialisation and optimiser settings, one framework after the other on this machine. "
    "It then shows which is faster, which needs less memory, and whether accuracy differs."
)

store = open_store()
default = RunSpec()
if st.button("Start comparison", type="primary", key="start",
             help=f"{default.architecture} on {default.dataset}, {DEFAULT_FRAMEWORKS}, "
                  f"{default.epochs} epochs, "
                  f"{default.repeats} seeds each; takes well under a minute on a laptop CPU"):
    try:
        job_id = enqueue_public(store, default, list(DEFAULT_NAMES), visitor(), public_policy())
    except BadInput as error:
        st.error(plain(error))
    else:
        st.switch_page("pages/train.py", query_params={"job": job_id})

latest_id = store.latest_comparison_id()
if latest_id is None:
    st.info("No comparisons yet. Press **Start comparison** for the default one, or choose your own on the Train page.")
else:
    comparison = store.comparison(latest_id)
    settings = comparison.settings
    when = dt.datetime.fromtimestamp(comparison.created_at).strftime("%Y-%m-%d %H:%M")
    st.subheader("Latest comparison")
    st.caption(plain(f"{settings.architecture} on {settings.dataset}, {settings.epochs} epochs, "
                     f"batch {settings.batch_size}, device {settings.device} · {when} · id {latest_id}"))
    for line in headline_markdown(comparison):
        st.markdown(line)
    verdict = findings(comparison)
    if verdict:
        for decision in verdict[:3]:
            show_decision(decision)
    elif any(r.status in UNFINISHED for r in comparison.runs):
        st.info("This comparison is still training; follow it on the Train page.")
    else:
        st.warning("No verdict: a run of this comparison failed. The Compare page shows why.")
    if (table := verdict_table(comparison)) is not None:
        st.dataframe(table, hide_index=True)
    st.page_link("pages/compare.py", label="Charts and details", icon=":material/compare_arrows:",
                 query_params={"comparison": latest_id})
