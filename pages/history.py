"""History: every comparison, filters, a diff of two, delete, and import/export."""

import json

import streamlit as st

from core.errors import BadInput
from core.export_format import parse_export
from core.history import comparisons_frame, diff_comparisons, filter_comparisons
from core.paths import default_db_path
from core.store import Store
from core.text import plain, plain_lines
from dashboard_state import open_store, page_setup

page_setup()

st.title("History")
store = open_store()
frame = comparisons_frame(store.list_comparisons())

with st.expander("Import or export", icon=":material/swap_vert:"):
    left, right = st.columns(2)
    # Built only when clicked (with a connection of its own): an export holds every step time.
    left.download_button("Export all as JSON", lambda: json.dumps(Store(default_db_path()).export_json(), indent=1),
                         file_name="twinbench-export.json", mime="application/json", disabled=frame.empty, key="export_json")
    left.download_button("Export all as CSV (one row per run)", lambda: Store(default_db_path()).export_csv(),
                         file_name="twinbench-runs.csv", mime="text/csv", disabled=frame.empty, key="export_csv")
    uploaded = right.file_uploader("Import a Twinbench JSON export", type=["json"], key="import_file")
    if uploaded is not None and right.button("Import", key="import"):
        try:
            imported, skipped = store.import_json(parse_export(uploaded.getvalue(), uploaded.name))
        except BadInput as error:
            message = str(error) if str(error).startswith("nothing was imported") else f"nothing was imported: {error}"
            right.error(plain_lines(message[0].upper() + message[1:]))
        else:
            right.success(f"Imported {imported} comparison(s)" + (f"; {skipped} were already here." if skipped else "."))
            frame = comparisons_frame(store.list_comparisons())

if frame.empty:
    st.info("No comparisons yet: start one on the Train page, or import an export above.")
    st.stop()

a, b, c, d = st.columns(4)
datasets = a.multiselect("Dataset", sorted(frame["dataset"].unique()), key="datasets")
architectures = b.multiselect("Architecture", sorted(frame["architecture"].unique()), key="architectures")
devices = c.multiselect("Device", sorted(frame["device"].unique()), key="devices")
first_day, last_day = frame["created"].min().date(), frame["created"].max().date()
dates = d.date_input("Dates", value=(first_day, last_day), min_value=first_day, max_value=last_day, key="dates")
since, until = (dates + (None, None))[:2] if isinstance(dates, tuple) else (dates, None)
shown = filter_comparisons(frame, datasets, architectures, devices, since, until).reset_index(drop=True)

st.caption(f"{len(shown)} of {len(frame)} comparisons. Select rows to open, compare two, or delete.")
selection = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="multi-row", key="history-table",
                         column_config={"created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
selected = [shown.loc[i, "id"] for i in selection.selection.rows if i < len(shown)]

if len(selected) == 1:
    st.page_link("pages/compare.py", label=f"Open {plain(selected[0])} on the Compare page", icon=":material/compare_arrows:",
                 query_params={"comparison": selected[0]})
if len(selected) == 2:
    st.subheader(f"{plain(selected[0])} versus {plain(selected[1])}")
    settings, results = diff_comparisons(store.comparison(selected[0]), store.comparison(selected[1]))
    only_differences = st.toggle("Only settings that differ", value=True, key="only_differences")
    st.dataframe(settings[settings["differs"]] if only_differences else settings, hide_index=True)
    st.dataframe(results, hide_index=True)
elif len(selected) > 2:
    st.caption("Select exactly two comparisons to see their differences.")

if selected:
    with st.popover(f"Delete {len(selected)} selected", icon=":material/delete:"):
        st.write("This removes the comparisons with all their runs, epochs and step times. It cannot be undone.")
        if st.button("Yes, delete", type="primary", key="delete"):
            for comparison_id in selected:
                store.delete_comparison(comparison_id)
            st.toast(f"Deleted {len(selected)} comparison(s)")
            st.rerun()
