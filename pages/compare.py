"""Compare: one comparison in charts, a verdict in words and numbers, and downloads; or several
comparisons at once, their curves overlaid and every run in one table."""

import json

import streamlit as st

from core.analysis import frames
from core.analysis.equivalence import DEFAULT_MARGIN, format_margin
from core.analysis.report import comparison_json
from core.analysis.smoothing import MAX_SMOOTHING
from core.analysis.verdict import comparison_frameworks, findings
from core.frameworks import label
from core.modes import NEAR_EQUAL_FRACTION
from core.records import RUN_STATUSES
from core.views import charts
from core.views import compare_view as view_of
from core.views import run_table as runs_table
from core.views.query import seed, write_params
from dashboard_state import open_store, page_setup, show_decision, show_figures

page_setup()


def chart_view() -> charts.ChartView:
    """The curves' axis, smoothing and log scale: widgets seeded from the address on a first run,
    which they rewrite after, so a reload or a shared link shows the same (?x_axis=…&log_scale=1&smoothing=…)."""
    seed(st.session_state, vars(charts.ChartView.from_query(st.query_params)))
    axis_column, smoothing_column, log_column = st.columns([2, 2, 1])
    axis_column.radio("Against", charts.CURVE_AXES, horizontal=True, key="x_axis",
                      format_func=lambda x: "epoch" if x == "epoch" else "training time")
    smoothing_column.slider("Smoothing", 0.0, MAX_SMOOTHING, step=0.01, key="smoothing",
                            help="TensorBoard-style exponential moving average; the raw curve stays faint behind.")
    log_column.toggle("Log scale", key="log_scale",
                      help="Logarithmic axes for training time, speed and memory, so a much slower framework "
                           "does not flatten the others.")
    chosen_view = charts.ChartView(x_axis=st.session_state.x_axis, log_scale=st.session_state.log_scale,
                                   smoothing=st.session_state.smoothing)
    chosen_view.write_query(st.query_params)
    return chosen_view


def show_several(store, comparisons: list[dict]) -> None:
    """Several comparisons: their curves overlaid, every run in one table; the address seeds every
    widget of this view on a first run, and the widgets rewrite it after."""
    by_id = {c.id: c for c in comparisons}
    asked = runs_table.RunsView.from_query(st.query_params, list(by_id))
    seed(st.session_state, view_of.several_seeds(asked))
    # A comparison deleted meanwhile (on History, or by someone else) leaves the selection.
    st.session_state.comparisons = [i for i in st.session_state.comparisons if i in by_id]
    picked = st.multiselect("Comparisons", list(by_id), format_func=lambda i: view_of.comparison_choice(by_id[i]),
                            key="comparisons", placeholder="Choose comparisons to overlay")
    if not picked:
        st.info("Choose one or more comparisons above (or tick them on the History page) to overlay their curves "
                "and list their runs.")
    loaded = [store.comparison(comparison_id) for comparison_id in picked]

    st.subheader("Learning curves")
    view = chart_view()
    colour_column, split_column = st.columns(2)
    colour_column.radio("Colour by", charts.OVERLAY_COLOURINGS, horizontal=True, key="colour_by")
    split_column.radio("Split", charts.OVERLAY_SPLITS, horizontal=True, key="split")
    show_figures(view_of.overlay_figures(loaded, view, st.session_state.colour_by, st.session_state.split))

    st.subheader("Runs")
    table = runs_table.run_table(loaded)
    sorts = ["", *runs_table.sort_choices(table)]
    seed(st.session_state, {"run_sort": asked.sort if asked.sort in sorts else ""})
    if st.session_state.run_sort not in sorts:  # a setting column gone with a comparison taken off
        st.session_state.run_sort = ""
    frameworks_column, status_column, text_column, sort_column, order_column = st.columns([2, 2, 2, 2, 1])
    frameworks_column.multiselect("Framework", view_of.framework_filter_options(asked), key="run_frameworks", placeholder="All")
    status_column.multiselect("Status", RUN_STATUSES, key="run_statuses", placeholder="All")
    text_column.text_input("Search", key="run_text", placeholder="id, tag, setting, mode…")
    sort_column.selectbox("Sort by", sorts, key="run_sort", format_func=lambda c: c or "comparison order")
    order_column.toggle("Descending", key="run_descending")
    chosen_view = view_of.chosen_runs_view(st.session_state, picked)
    write_params(st.query_params, chosen_view.to_query())
    shown = runs_table.sort_runs(runs_table.filter_runs(table, chosen_view.runs), chosen_view.sort, chosen_view.descending)
    st.caption(f"{len(shown)} of {len(table)} runs. Click a column heading to sort by it too; figures are each run's own "
               "(medians over repeats are on the single-comparison view).")
    st.dataframe(shown, hide_index=True, key="runs_table", column_config={
        "images/s": st.column_config.NumberColumn(format="%.0f"),
        "test accuracy": st.column_config.NumberColumn(format="percent"),
        "peak memory (MiB)": st.column_config.NumberColumn(format="%.1f", help="Device allocator's peak where measured "
                                                           "(see 'memory measured'), else the worker's peak host RSS"),
        **{c: st.column_config.NumberColumn(format="%.2f") for c in runs_table.FIGURE_COLUMNS[3:]},
        "target": st.column_config.TextColumn(help="Whether the run reached the target validation accuracy: a missing "
                                                   "time is 'not reached' or 'not measured'")})


def show_one(store, comparisons: list[dict]) -> None:
    """One comparison in depth: the one the address names (?comparison=ID, or ?id=ID), else the latest."""
    index, missing = view_of.chosen_index([c.id for c in comparisons],
                                          st.query_params.get("comparison") or st.query_params.get("id"))
    if missing:
        st.warning(missing)
    chosen = st.selectbox("Comparison", comparisons, index=index, format_func=view_of.comparison_choice, key="comparison")
    write_params(st.query_params, {"comparison": chosen.id, "id": None})
    comparison = store.comparison(chosen.id)
    st.caption(view_of.settings_caption(comparison))
    if warning := view_of.unfinished_warning(frames.runs_frame(comparison)):
        st.warning(warning)

    st.subheader("Verdict")
    frameworks = comparison_frameworks(comparison)
    baseline = frameworks[0]
    if len(frameworks) > 2:
        baseline = st.selectbox("Compare every framework against", frameworks, format_func=label, key="baseline",
                                index=view_of.baseline_index(frameworks, st.query_params.get("baseline")))
        st.query_params["baseline"] = baseline
    for line in view_of.headline_markdown(comparison, baseline):
        st.markdown(line)
    verdict = findings(comparison, baseline)
    if not verdict:
        st.info("No verdict yet: it needs a finished run of each framework.")
    for decision in verdict:
        show_decision(decision)
    if (table := view_of.verdict_table(comparison, baseline)) is not None:
        st.dataframe(table, hide_index=True)
        st.caption("Figures are medians over repeats, with min–max in brackets. 'Ahead' names a winner only when the "
                   "95 % interval of the difference (in square brackets) excludes equal and, for timings, every run was "
                   f"steady, and 'equivalent' when the whole interval lies within ±{format_margin(DEFAULT_MARGIN)}; "
                   "otherwise it says undecided or, for runs it cannot judge, inconclusive. Repeat i uses seed + i "
                   "in every framework.")

    epochs, results = frames.epochs_frame(comparison), frames.results_frame(comparison)
    st.subheader("Learning curves")
    view = chart_view()
    show_figures(view_of.curve_figures(epochs, view))

    st.subheader("Speed")
    show_figures(view_of.speed_figures(comparison, results, view.log_scale))

    choices = comparison.data.get("best_of_each") or {}
    if choices:
        st.subheader("Best of each: modes tried")
        st.caption(f"Tried simplest first, briefly each; a mode within {NEAR_EQUAL_FRACTION:.0%} of the fastest counts "
                   "as just as fast, so the simplest of those is chosen.")
    for framework, choice in choices.items():
        st.markdown(view_of.best_of_each_line(framework, choice))
        st.dataframe(view_of.trials_frame(choice), hide_index=True,
                     column_config={"steady_images_per_second": st.column_config.NumberColumn("images/s", format="%.0f"),
                                    "step_ms_median": st.column_config.NumberColumn("median step (ms)", format="%.2f"),
                                    "compile_seconds": st.column_config.NumberColumn("compile (s)", format="%.2f")})

    st.subheader("Memory")
    st.plotly_chart(charts.memory_figure(results, log_scale=view.log_scale), key="memory")
    st.caption("Device memory comes from each framework's allocator and from NVML (GPU only); "
               "host memory is the worker process's peak resident set.")
    if view_of.sees_whole_gpu(comparison):
        st.caption("NVML could not see the training processes here (containers often hide them), so its figure is "
                   "the whole GPU's memory in use, other programs included.")

    st.subheader("Download")
    left, right = st.columns(2)
    left.download_button("Results as CSV", results.to_csv(index=False), file_name=f"twinbench-{comparison.id}.csv",
                         mime="text/csv", key="download_csv")
    right.download_button("Everything as JSON", json.dumps(comparison_json(comparison, baseline), indent=1),
                          file_name=f"twinbench-{comparison.id}.json", mime="application/json", key="download_json")


st.title("Compare")
store = open_store()
comparisons = store.list_comparisons()
if not comparisons:
    st.info("No comparisons yet: start one on the Train page.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/play_circle:")
    st.stop()
seed(st.session_state, {"show": view_of.first_show(st.query_params)})
st.radio("Show", list(view_of.SHOW), format_func=view_of.SHOW.get, horizontal=True, key="show", label_visibility="collapsed")
write_params(st.query_params, {"show": view_of.show_param(st.session_state.show, st.query_params)})
(show_several if st.session_state.show == "several" else show_one)(store, comparisons)
