"""History: every comparison with each framework's figures, filters and sort, tags and a note on
each, a diff of any number, the chosen ones opened together on Compare, delete, and import/export.

The whole view (filters, sort, selection) lives in the address, so a reload or a link shows the same.
"""

import json

import streamlit as st

from core.engine.public_mode import check_import
from core.errors import BadInput
from core.store.export_format import parse_export
from core.store.queries import Store
from core.text import plain, plain_lines
from core.views import history_view as view_of
from core.views.history import comparisons_frame, diff_many, framework_figures, sort_options
from core.views.query import flag_param, seed, write_params
from dashboard_state import may_change, open_store, page_setup, public_policy, visitor

page_setup()


# --- What changes the stored comparisons wholesale (import, delete), kept together here so that
# --- who may do it can be decided in one place.

def import_upload(store: Store, container) -> bool:
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
        container.error(plain_lines(view_of.import_failure(error)))
        return False
    container.success(f"Imported {imported} comparison(s)" + (f"; {skipped} were already here." if skipped else "."))
    return True


def delete_offer(store: Store, selected: list[str], summaries: dict) -> None:
    """A popover that deletes the selected comparisons this session may change, once confirmed
    (on a shared instance: those it started or imported)."""
    chosen, others = view_of.deletable(selected, summaries, may_change)
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


def load_frame(store: Store):
    summaries = store.list_comparisons()
    figures = {s["id"]: figures_of(store, store.location, s["id"], (s["runs"], s["finished"], s["failed"]))
               for s in summaries}
    return comparisons_frame(summaries, figures), {s["id"]: s for s in summaries}


def annotations(store: Store, shown_ids: list[str], selected: list[str], summaries: dict) -> None:
    """The tags and note of one comparison: the selected ones, else those the table shows."""
    annotatable = selected or shown_ids
    if st.session_state.get("annotating") not in annotatable:
        st.session_state.pop("annotating", None)
    annotating = st.selectbox("Comparison", annotatable, format_func=lambda i: view_of.comparison_choice(summaries[i]),
                              key="annotating")
    if st.session_state.get("annotations_of") != annotating:  # another comparison: its own tags and note in the fields
        st.session_state.update(annotations_of=annotating, **view_of.annotation_fields(summaries[annotating]))
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
            st.error(plain(view_of.capitalised(error)))
        else:
            st.session_state.annotations_saved = annotating
            st.session_state.annotations_of = None  # reload what was stored, as cleaned
            st.rerun()


st.title("History")
store = open_store()
frame, summaries = load_frame(store)

with st.expander("Import or export", icon=":material/swap_vert:"):
    left, right = st.columns(2)
    # Built only when clicked: an export holds every step time.
    left.download_button("Export all as JSON", lambda: json.dumps(store.export_json(), indent=1),
                         file_name="twinbench-export.json", mime="application/json", disabled=frame.empty, key="export_json")
    left.download_button("Export all as CSV (one row per run)", lambda: store.export_csv(),
                         file_name="twinbench-runs.csv", mime="text/csv", disabled=frame.empty, key="export_csv")
    if import_upload(store, right):
        frame, summaries = load_frame(store)

if frame.empty:
    st.info("No comparisons yet: start one on the Train page, or import an export above.")
    st.stop()

# The address seeds the filters, the sort and the selection on a first run; the widgets rewrite it after.
options, sorts, (first_day, last_day) = view_of.filter_options(frame), sort_options(frame), view_of.date_bounds(frame)
seed(st.session_state, view_of.view_seeds(st.query_params, frame, summaries, sorts))
for key, value in view_of.still_here(st.session_state, frame, summaries, sorts).items():
    st.session_state[key] = value

a, b, c, d, e = st.columns(5)
a.multiselect("Dataset", options["datasets"], key="datasets")
b.multiselect("Architecture", options["architectures"], key="architectures")
c.multiselect("Device", options["devices"], key="devices")
d.multiselect("Tags", options["tags"], key="tags", help="Comparisons with any of these tags")
since, until = view_of.date_range(e.date_input("Dates", min_value=first_day, max_value=last_day, key="dates"))
left, right = st.columns([3, 1])
left.selectbox("Sort by", sorts, key="sort", help="A column heading in the table sorts it too, until the page reloads.")
right.toggle("Descending", key="descending")
shown = view_of.shown_comparisons(frame, st.session_state, since, until)

st.caption(f"{len(shown)} of {len(frame)} comparisons. Tick rows (or pick them below) to open, compare, tag or delete them.")
table_key = view_of.table_key(shown)
table = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="multi-row", key=table_key,
                     column_order=view_of.column_order(frame), column_config={
                         "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                         "note": st.column_config.TextColumn(width="medium"),
                         **{column: st.column_config.NumberColumn(**view_of.figure_format(column))
                            for column in view_of.figure_columns(frame)}})
# Ticking rows adds them to the selection and unticking removes them; the selection itself is the
# list below, which the address can hold (a table's ticks cannot be set from it).
ticked = view_of.ticked_ids(shown, table.selection.rows)
st.session_state.selected = view_of.selection_after_ticks(st.session_state.selected, st.session_state.get("ticked", (None, [])),
                                                          table_key, ticked)
st.session_state.ticked = (table_key, ticked)
selected = st.multiselect("Selected comparisons", list(summaries), format_func=lambda i: view_of.comparison_choice(summaries[i]),
                          key="selected", placeholder="None: tick rows in the table, or choose here")
write_params(st.query_params, view_of.history_query(st.session_state, frame, since, until))

if selected:
    for column, link in zip(st.columns(2), view_of.compare_links(selected), strict=True):
        if link:
            column.page_link("pages/compare.py", **link)

if len(selected) >= 2:
    st.subheader(f"What differs between the {len(selected)} selected")
    settings, results = diff_many([store.comparison(comparison_id) for comparison_id in selected])
    seed(st.session_state, {"only_differences": not flag_param(st.query_params, "all_settings")})
    only_differences = st.toggle("Only settings that differ", key="only_differences")
    write_params(st.query_params, {"all_settings": not only_differences})
    st.dataframe(settings[settings["differs"]] if only_differences else settings, hide_index=True, key="diff_settings")
    st.dataframe(results, hide_index=True, key="diff_results")

st.subheader("Tags and note")
annotations(store, list(shown["id"]), selected, summaries)
if selected:
    delete_offer(store, selected, summaries)
