"""Sweep: several values for any setting, one comparison per combination, and the results
against the swept setting (speed, memory, the speed ratio with its interval, a sortable table).

Every widget of the form is keyed ``sweep_<RunSpec field>`` and the tests find them by key. The
chosen sweep is kept in the address (?sweep=ID)."""

import streamlit as st

from core.analysis.eta import format_left
from core.analysis.sweeps import estimate_sweep, sweep_frame
from core.engine.sweep import cancel_sweep, enqueue_sweep, list_sweeps, speed_history, sweep_comparisons
from core.errors import BadInput
from core.frameworks import DEFAULT_NAMES, REGISTRY, parse_frameworks
from core.spec import RunSpec
from core.sweep_spec import MAX_CELLS, expand_sweep, field_words, setting_text, split_values
from core.text import plain
from core.views import sweep_view as view_of
from core.views.framework_words import framework_choice
from core.views.sweep_charts import memory_figure, ratio_figure, throughput_figure
from dashboard_state import may_change, open_store, page_setup, public_policy, show_figures, visitor

page_setup()

DEFAULTS = RunSpec()


@st.cache_data(ttl=60, show_spinner=False)
def measured_speeds(_store, latest_comparison: str | None) -> list:
    """What runs here measured, for the estimate; read again when a comparison is added (or after a minute)."""
    return speed_history(_store)


def sweep_form(store) -> None:
    st.caption("Tick or type several values for any setting: every combination is trained as an ordinary "
               f"comparison, one after another, all under one sweep id (at most {MAX_CELLS} comparisons).")
    axes: dict[str, list] = {}
    columns = st.columns(3)
    for number, (field, (title, options)) in enumerate(view_of.CHOICES.items()):
        default = getattr(DEFAULTS, field)
        axes[field] = columns[number % 3].multiselect(title, options, default=[default], key=f"sweep_{field}",
                                                      format_func=setting_text)
    columns = st.columns(4)
    for number, (field, title) in enumerate(view_of.TYPED.items()):
        default = getattr(DEFAULTS, field)
        text = columns[number % 4].text_input(title, value="" if default is None else setting_text(default),
                                              key=f"sweep_{field}", help="comma-separated, e.g. 32, 128, 512")
        if split_values(text):
            axes[field] = split_values(text)
    frameworks = st.multiselect("Frameworks", list(REGISTRY), default=list(DEFAULT_NAMES), key="sweep_frameworks",
                                format_func=framework_choice)
    try:
        chosen = parse_frameworks(frameworks)
        sweep = expand_sweep(view_of.in_field_order(axes))
    except BadInput as error:
        st.error(plain(error), icon=":material/error:")
        st.button("Start sweep", key="start_sweep", disabled=True)
        return
    estimate = estimate_sweep(sweep, chosen, measured_speeds(store, store.latest_comparison_id()))
    count_column, time_column, swept_column = st.columns(3)
    count_column.metric("Comparisons", len(sweep))
    time_column.metric("Estimated time" + (" (rough)" if estimate.rough else ""), format_left(estimate),
                       help="per run: a few seconds to start and evaluate, plus epochs × images ÷ the speed of the "
                            "nearest run measured here (rough: a default speed, nothing like it has run here)")
    swept_column.metric("Swept", ", ".join(field_words(name) for name in sweep.swept) or "nothing")
    error_place = st.empty()
    if st.button("Start sweep", key="start_sweep", type="primary"):
        try:
            with st.spinner(f"Checking {len(sweep)} comparisons and preparing their data ..."):
                sweep_id, _ = enqueue_sweep(store, sweep, chosen, owner=visitor(), policy=public_policy())
        except BadInput as error:
            error_place.error(plain(error), icon=":material/error:")
        else:
            st.query_params["sweep"] = sweep_id
            st.session_state.pop("sweep", None)  # the selector below follows the address to the new sweep
            st.session_state.sweep_queued = len(sweep)
            st.rerun()


def show_results(store, sweep_id: str) -> None:
    comparisons = sweep_comparisons(store, sweep_id)
    frame = sweep_frame(comparisons)
    swept = frame.attrs["swept"]
    ended, runs = view_of.runs_ended(comparisons)
    if ended < runs:
        st.progress(ended / runs)
        st.caption(f"{ended} of {runs} runs ended; the charts fill in as the comparisons finish.")
        st.page_link("pages/train.py", label="Follow the queue on Train", icon=":material/play_circle:")
        # On a shared instance only the visitor who started them may cancel them.
        if all(may_change(c) for c in comparisons) and st.button("Cancel the rest of this sweep", key="cancel_sweep"):
            cancelled = cancel_sweep(store, sweep_id)
            st.toast(f"Cancelled {cancelled} comparison(s)")
            st.rerun()
    st.caption(plain(f"Swept: {', '.join(field_words(name) for name in swept) or 'nothing (one comparison)'}"))
    axis_column, log_column = st.columns([3, 1])
    x = axis_column.selectbox("Against", swept or ["cell"], key="sweep_x", format_func=field_words)
    log_scale = log_column.toggle("Log scale", key="sweep_log", help="logarithmic speed, memory and ratio axes")
    if warning := view_of.failed_warning(frame):
        st.warning(warning)
    show_figures({"sweep_throughput": throughput_figure(frame, x, log_scale), "sweep_memory": memory_figure(frame, x, log_scale)})
    st.plotly_chart(ratio_figure(frame, x, log_scale), key="sweep_ratio")
    st.subheader("Every cell")
    st.caption("Click a column heading to sort. Figures are medians over each comparison's repeats; the ratio is "
               "the first framework's images/s over the row's, inconclusive where its 95 % interval includes 1, "
               "a run was unsteady, or there was one run each.")
    st.dataframe(frame[[*swept, *view_of.TABLE_COLUMNS]], hide_index=True, key="sweep_table", column_config={
        "images_per_second": st.column_config.NumberColumn("images/s", format="%.0f"),
        "images_per_second_low": st.column_config.NumberColumn("images/s low", format="%.0f"),
        "images_per_second_high": st.column_config.NumberColumn("images/s high", format="%.0f"),
        "peak_memory_mib": st.column_config.NumberColumn("peak memory (MiB)", format="%.1f"),
        "test_accuracy": st.column_config.NumberColumn("test accuracy", format="percent"),
        "speed_ratio": st.column_config.NumberColumn("speed ratio", format="%.2f"),
        "speed_ratio_low": st.column_config.NumberColumn("ratio low", format="%.2f"),
        "speed_ratio_high": st.column_config.NumberColumn("ratio high", format="%.2f"),
    })


st.title("Sweep")
store = open_store()
sweeps = list_sweeps(store)
with st.expander("New sweep", expanded=not sweeps, icon=":material/tune:"):
    sweep_form(store)
if (queued := st.session_state.pop("sweep_queued", None)) is not None:
    st.toast(f"Sweep of {queued} comparisons queued")

st.subheader("Results")
if not sweeps:
    st.info("No sweeps yet: open New sweep above, or run `python -m core sweep --batch-size 32,128,512`.")
    st.stop()
by_id = {entry["sweep_id"]: entry for entry in sweeps}
index, missing = view_of.chosen_index(list(by_id), st.query_params.get("sweep"))
if missing:
    st.warning(missing)
chosen = by_id[st.selectbox("Sweep", list(by_id), index=index, format_func=lambda sweep_id: view_of.sweep_choice(by_id[sweep_id]),
                            key="sweep")]
st.query_params["sweep"] = chosen["sweep_id"]
# While its comparisons train, the results refresh on their own; once all have ended, they stay still.
st.fragment(run_every=10 if view_of.unfinished(chosen) else None)(show_results)(store, chosen["sweep_id"])
