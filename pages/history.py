"""History: every comparison with each framework's figures, filters and sort, tags and a note on
each, a diff of any number, the chosen ones opened together on Compare, delete, and import/export.

The whole view (filters, sort, selection) lives in the address, so a reload or a link shows the same.
"""

import datetime as dt
import hashlib
import json

import streamlit as st

from core.engine.public_mode import check_import
from core.errors import BadInput
from core.store.export_format import parse_export
from core.store.queries import Store
from core.text import plain, plain_lines
from core.views.history import (
    comparisons_frame,
    diff_many,
    filter_comparisons,
    frame_tags,
    framework_figures,
    merge_selection,
    sort_comparisons,
    sort_options,
)
from core.views.query import dates_param, flag_param, list_param, write_params
from dashboard_state import may_change, open_store, page_setup, public_policy, visitor

page_setup()


# --- What changes the stored comparisons wholesale (import, delete), kept together here so that
# --- who may do it can be decided in one place.

def import_upload(container) -> bool:
    """The import form in ``container``; True when something was imported. On a shared instance
    an import is bounded like an upload and belongs to this visitor, who alone may delete it."""
    policy = public_policy()
    uploaded = container.file_uploader("Import a Twinbench JSON export", type=["json"], key="import_file",
                                       max_upload_size=policy.max_upload_mib if policy.enabled else None)
    if uploaded is None or not container.button("Import", key="import"):
        return False
    try:
        check_import(uploaded.name, uploaded.size, policy)
        imported, skipped = store.import_json(parse_export(uploaded.getvalue(), uploaded.name), owner=visitor())
    except BadInput as error:
        message = str(error) if str(error).startswith("nothing was imported") else f"nothing was imported: {error}"
        container.error(plain_lines(message[0].upper() + message[1:]))
        return False
    container.success(f"Imported {imported} comparison(s)" + (f"; {skipped} were already here." if skipped else "."))
    return True


def delete_offer(selected: list[str]) -> None:
    """A popover that deletes the selected comparisons this session may change, once confirmed
    (on a shared instance: those it started or imported)."""
    chosen = [comparison_id for comparison_id in selected if may_change(summaries[comparison_id])]
    others = len(selected) - len(chosen)
    if others:
        st.caption(f"{others} of the selected comparisons were started or imported by other visitors of this shared "
                   "instance: only they can delete them.")
    if not chosen:
        return
    with st.popover(f"Delete {len(chosen)} selected", icon=":material/delete:"):
        st.write("This removes the comparisons with all their runs, epochs and step times. It cannot be undone.")
        if st.button("Yes, delete", type="primary", key="delete"):
            for comparison_id in chosen:
                store.delete_comparison(comparison_id)
            st.toast(f"Deleted {len(chosen)} comparison(s)")
            st.rerun()


# --- The page ------------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=5000)
def figures_of(_store: Store, database: str, comparison_id: str, progress: tuple) -> dict[str, float]:
    """Each framework's figures for one comparison; recomputed when its runs' progress changes."""
    return framework_figures(_store.comparison(comparison_id))


def load_frame():
    summaries = store.list_comparisons()
    figures = {s.id: figures_of(store, store.location, s.id, (s.runs, s.finished, s.failed))
               for s in summaries}
    return comparisons_frame(summaries, figures), {s.id: s for s in summaries}


def describe(comparison_id: str) -> str:
    summary = summaries[comparison_id]
    when = dt.datetime.fromtimestamp(summary.created_at).strftime("%Y-%m-%d %H:%M")
    return f"{comparison_id} · {summary.architecture} on {summary.dataset} · {when}"


st.title("History")
store = open_store()
frame, summaries = load_frame()

with st.expander("Import or export", icon=":material/swap_vert:"):
    left, right = st.columns(2)
    # Built only when clicked: an export holds every step time.
    left.download_button("Export all as JSON", lambda: json.dumps(store.export_json(), indent=1),
                         file_name="twinbench-export.json", mime="application/json", disabled=frame.empty, key="export_json")
    left.download_button("Export all as CSV (one row per run)", lambda: store.export_csv(),
                         file_name="twinbench-runs.csv", mime="text/csv", disabled=frame.empty, key="export_csv")
    if import_upload(right):
        frame, summaries = load_frame()

if frame.empty:
    st.info("No comparisons yet: start one on the Train page, or import an export above.")
    st.stop()

# The address seeds the filters, the sort and the selection on a first run; the widgets rewrite it after.
options = {"datasets": sorted(frame["dataset"].unique()), "architectures": sorted(frame["architecture"].unique()),
           "devices": sorted(frame["device"].unique()), "tags": frame_tags(frame)}
sorts = sort_options(frame)
first_day, last_day = frame["created"].min().date(), frame["created"].max().date()
seeds = {**{key: list_param(st.query_params, key, allowed) for key, allowed in options.items()},
         "selected": list_param(st.query_params, "comparisons", summaries),
         "sort": st.query_params.get("sort") if st.query_params.get("sort") in sorts else "created",
         "descending": flag_param(st.query_params, "descending") if "sort" in st.query_params else True,
         "dates": dates_param(st.query_params, first_day, last_day)}
for key, value in seeds.items():
    if key not in st.session_state:
        st.session_state[key] = value
# What another run or a deletion left behind that is no longer here.
for key, allowed in options.items():
    st.session_state[key] = [v for v in st.session_state[key] if v in allowed]
st.session_state.selected = [i for i in st.session_state.selected if i in summaries]
if st.session_state.sort not in sorts:
    st.session_state.sort = "created"

a, b, c, d, e = st.columns(5)
datasets = a.multiselect("Dataset", options["datasets"], key="datasets")
architectures = b.multiselect("Architecture", options["architectures"], key="architectures")
devices = c.multiselect("Device", options["devices"], key="devices")
tags = d.multiselect("Tags", options["tags"], key="tags", help="Comparisons with any of these tags")
dates = e.date_input("Dates", min_value=first_day, max_value=last_day, key="dates")
since, until = (tuple(dates) + (None, None))[:2] if isinstance(dates, tuple | list) else (dates, None)
left, right = st.columns([3, 1])
left.selectbox("Sort by", sorts, key="sort", help="A column heading in the table sorts it too, until the page reloads.")
right.toggle("Descending", key="descending")
shown = sort_comparisons(filter_comparisons(frame, datasets, architectures, devices, since, until, tags),
                         st.session_state.sort, st.session_state.descending).reset_index(drop=True)

st.caption(f"{len(shown)} of {len(frame)} comparisons. Tick rows (or pick them below) to open, compare, tag or delete them.")
figure_columns = [column for column in frame.columns if column not in ("id", "created", "dataset", "architecture", "device",
                                                                        "frameworks", "runs", "tags", "note")]
# Each framework's figures come before the wide text columns, so that they show without scrolling.
order = ["id", "created", "dataset", "architecture", "device", "runs", *figure_columns, "tags", "note", "frameworks"]
# Ticks are row positions: a table with other rows or another order is a new table, whose ticks start empty.
table_key = "history-table-" + hashlib.sha256(",".join(shown["id"]).encode()).hexdigest()[:12]
table = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="multi-row", key=table_key,
                     column_order=order, column_config={
                         "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                         "note": st.column_config.TextColumn(width="medium"),
                         **{column: st.column_config.NumberColumn(
                             format="percent" if column.endswith("accuracy") else "%.1f" if column.endswith("MiB") else "%.0f",
                             help="Median over the framework's finished repeats" + (
                                 "; device allocator's peak where measured, else the worker's host RSS"
                                 if column.endswith("MiB") else ""))
                            for column in figure_columns}})
# Ticking rows adds them to the selection and unticking removes them; the selection itself is the
# list below, which the address can hold (a table's ticks cannot be set from it).
ticked = [shown.loc[i, "id"] for i in table.selection.rows if i < len(shown)]
previous_key, previous = st.session_state.get("ticked", (None, []))
previous = previous if previous_key == table_key else []
if ticked != previous:
    st.session_state.selected = merge_selection(st.session_state.selected, previous, ticked)
st.session_state.ticked = (table_key, ticked)
selected = st.multiselect("Selected comparisons", list(summaries), format_func=describe, key="selected",
                          placeholder="None: tick rows in the table, or choose here")
write_params(st.query_params, {**{key: st.session_state[key] for key in options}, "comparisons": selected,
                               "sort": None if st.session_state.sort == "created" else st.session_state.sort,
                               "descending": st.session_state.descending if st.session_state.sort != "created"
                               else (None if st.session_state.descending else "0"),
                               "dates": [] if (since, until) == (first_day, last_day) or until is None
                               else [since.isoformat(), until.isoformat()]})

if selected:
    links = st.columns(2)
    if len(selected) == 1:
        links[0].page_link("pages/compare.py", label=f"Open {plain(selected[0])} on the Compare page",
                           icon=":material/compare_arrows:", query_params={"comparison": selected[0]})
    links[-1].page_link("pages/compare.py", label=f"Overlay the {len(selected)} selected on the Compare page",
                        icon=":material/stacked_line_chart:",
                        query_params={"show": "several", "comparisons": ",".join(selected)})

if len(selected) >= 2:
    st.subheader(f"What differs between the {len(selected)} selected")
    settings, results = diff_many([store.comparison(comparison_id) for comparison_id in selected])
    if "only_differences" not in st.session_state:
        st.session_state.only_differences = not flag_param(st.query_params, "all_settings")
    only_differences = st.toggle("Only settings that differ", key="only_differences")
    write_params(st.query_params, {"all_settings": not only_differences})
    st.dataframe(settings[settings["differs"]] if only_differences else settings, hide_index=True, key="diff_settings")
    st.dataframe(results, hide_index=True, key="diff_results")

st.subheader("Tags and note")
annotatable = selected or list(shown["id"])
if st.session_state.get("annotating") not in annotatable:
    st.session_state.pop("annotating", None)
annotating = st.selectbox("Comparison", annotatable, format_func=describe, key="annotating")
if st.session_state.get("annotations_of") != annotating:  # another comparison: its own tags and note in the fields
    st.session_state.annotations_of = annotating
    st.session_state.tags_text = ", ".join(summaries[annotating].tags)
    st.session_state.note_text = summaries[annotating].note
tags_column, note_column = st.columns([1, 2])
tags_column.text_input("Tags, comma-separated", key="tags_text", placeholder="baseline, gpu, after-upgrade")
note_column.text_area("Note", key="note_text", height=80, placeholder="What was tried, what was learnt")
if saved := st.session_state.pop("annotations_saved", None):
    st.success(f"Saved the tags and note of {plain(saved)}.")
editable = may_change(summaries[annotating])
if not editable:
    st.caption("Another visitor of this shared instance started or imported this comparison: only they can change "
               "its tags and note.")
if st.button("Save tags and note", key="save_annotations", disabled=not editable):
    try:
        store.set_annotations(annotating, tags=st.session_state.tags_text.split(","), note=st.session_state.note_text)
    except BadInput as error:
        st.error(plain(str(error)[0].upper() + str(error)[1:]))
    else:
        st.session_state.annotations_saved = annotating
        st.session_state.annotations_of = None  # reload what was stored, as cleaned
        st.rerun()

if selected:
    delete_offer(selected)
