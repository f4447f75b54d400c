"""Compare: one comparison in charts, a verdict in words and numbers, and downloads; or several
comparisons at once, their curves overlaid and every run in one table."""

import datetime as dt
import json

import pandas as pd
import streamlit as st

from core.analysis.frames import epochs_frame, overlay_epochs_frame, results_frame, runs_frame, steps_frame, target_frame
from core.analysis.report import comparison_json, comparison_rows
from core.analysis.smoothing import MAX_SMOOTHING
from core.analysis.verdict import comparison_frameworks, findings
from core.frameworks import LABELS
from core.modes import NEAR_EQUAL_FRACTION
from core.records import RUN_STATUSES, Comparison, ComparisonSummary
from core.text import plain
from core.views.charts import (
    CURVE_AXES,
    OVERLAY_COLOURINGS,
    OVERLAY_SPLITS,
    ChartView,
    curves_figure,
    memory_figure,
    overlay_curves_figure,
    spread_bar_figure,
    step_time_figure,
    time_to_target_figure,
    warmup_figure,
)
from core.views.query import write_params
from core.views.run_table import (
    FIGURE_COLUMNS,
    RunFilter,
    RunsView,
    filter_runs,
    run_table,
    sort_choices,
    sort_runs,
)
from dashboard_state import open_store, page_setup, show_decision

page_setup()

st.title("Compare")
store = open_store()
comparisons = store.list_comparisons()
if not comparisons:
    st.info("No comparisons yet: start one on the Train page.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/play_circle:")
    st.stop()


def threads_note(comparison: Comparison) -> str:
    """The CPU threads each framework trained with, from the runs' environments."""
    environments = [run.environment for run in comparison.runs if run.environment]
    threads = sorted({env.get("threads") for env in environments if env.get("device") == "cpu" and env.get("threads")})
    if not threads:
        return ""
    cores = environments[0].get("cpu_count")
    return f" · {'/'.join(map(str, threads))} CPU thread(s) per framework" + (f" of {cores} cores" if cores else "")


def describe(summary: ComparisonSummary) -> str:
    when = dt.datetime.fromtimestamp(summary.created_at).strftime("%Y-%m-%d %H:%M")
    device = summary.resolved_device or summary.device
    return f"{summary.architecture} on {summary.dataset} · {device} · {when} · {summary.id}"


def chart_view() -> ChartView:
    """The curves' axis, smoothing and log scale: widgets seeded from the address on a first run,
    which they rewrite after, so a reload or a shared link shows the same (?x_axis=…&log_scale=1&smoothing=…)."""
    for key, value in vars(ChartView.from_query(st.query_params)).items():
        if key not in st.session_state:
            st.session_state[key] = value
    axis_column, smoothing_column, log_column = st.columns([2, 2, 1])
    axis_column.radio("Against", CURVE_AXES, horizontal=True, key="x_axis",
                      format_func=lambda x: "epoch" if x == "epoch" else "training time")
    smoothing_column.slider("Smoothing", 0.0, MAX_SMOOTHING, step=0.01, key="smoothing",
                            help="TensorBoard-style exponential moving average; the raw curve stays faint behind.")
    log_column.toggle("Log scale", key="log_scale",
                      help="Logarithmic axes for training time, speed and memory, so a much slower framework "
                           "does not flatten the others.")
    chosen_view = ChartView(x_axis=st.session_state.x_axis, log_scale=st.session_state.log_scale,
                            smoothing=st.session_state.smoothing)
    chosen_view.write_query(st.query_params)
    return chosen_view


ids = [c.id for c in comparisons]
by_id = {c.id: c for c in comparisons}
# One comparison in depth, or several side by side: ?comparisons=ID,ID,… alone asks for several
# (?show=several without any), ?show=one keeps the single view while the address still names several.
SHOW = {"one": "One comparison", "several": "Several comparisons"}
if "show" not in st.session_state:
    asked_show = st.query_params.get("show")
    st.session_state.show = asked_show if asked_show in SHOW else "several" if "comparisons" in st.query_params else "one"
st.radio("Show", list(SHOW), format_func=SHOW.get, horizontal=True, key="show", label_visibility="collapsed")
write_params(st.query_params, {"show": "several" if st.session_state.show == "several"
                               else "one" if "comparisons" in st.query_params else None})

if st.session_state.show == "several":
    # The address seeds every widget of this view on a first run; the widgets rewrite it after.
    asked = RunsView.from_query(st.query_params, ids)
    framework_options = list(dict.fromkeys([*LABELS.values(), *asked.runs.frameworks]))
    for key, value in {"comparisons": list(asked.comparisons), "colour_by": asked.colour_by, "split": asked.split,
                       "run_frameworks": list(asked.runs.frameworks), "run_text": asked.runs.text,
                       "run_statuses": [s for s in asked.runs.statuses if s in RUN_STATUSES],
                       "run_descending": asked.descending}.items():
        if key not in st.session_state:
            st.session_state[key] = value
    # A comparison deleted meanwhile (on History, or by someone else) leaves the selection.
    st.session_state.comparisons = [i for i in st.session_state.comparisons if i in by_id]
    picked = st.multiselect("Comparisons", ids, format_func=lambda i: describe(by_id[i]), key="comparisons",
                            placeholder="Choose comparisons to overlay")
    if not picked:
        st.info("Choose one or more comparisons above (or tick them on the History page) to overlay their curves "
                "and list their runs.")
    loaded = [store.comparison(comparison_id) for comparison_id in picked]

    st.subheader("Learning curves")
    view = chart_view()
    colour_column, split_column = st.columns(2)
    colour_column.radio("Colour by", OVERLAY_COLOURINGS, horizontal=True, key="colour_by")
    split_column.radio("Split", OVERLAY_SPLITS, horizontal=True, key="split")
    overlaid = overlay_epochs_frame(loaded)
    left, right = st.columns(2)
    for column, metric in ((left, "accuracy"), (right, "loss")):
        column.plotly_chart(overlay_curves_figure(overlaid, metric, view.x_axis, colour_by=st.session_state.colour_by,
                                                  split=st.session_state.split, smoothing=view.smoothing,
                                                  log_scale=view.log_scale), key=f"overlay_{metric}")

    st.subheader("Runs")
    table = run_table(loaded)
    sorts = ["", *sort_choices(table)]
    if "run_sort" not in st.session_state:
        st.session_state.run_sort = asked.sort if asked.sort in sorts else ""
    elif st.session_state.run_sort not in sorts:  # a setting column gone with a comparison taken off
        st.session_state.run_sort = ""
    frameworks_column, status_column, text_column, sort_column, order_column = st.columns([2, 2, 2, 2, 1])
    frameworks_column.multiselect("Framework", framework_options, key="run_frameworks", placeholder="All")
    status_column.multiselect("Status", RUN_STATUSES, key="run_statuses", placeholder="All")
    text_column.text_input("Search", key="run_text", placeholder="id, tag, setting, mode…")
    sort_column.selectbox("Sort by", sorts, key="run_sort", format_func=lambda c: c or "comparison order")
    order_column.toggle("Descending", key="run_descending")
    chosen_view = RunsView(comparisons=tuple(picked), colour_by=st.session_state.colour_by, split=st.session_state.split,
                           runs=RunFilter(frameworks=tuple(st.session_state.run_frameworks),
                                          statuses=tuple(st.session_state.run_statuses), text=st.session_state.run_text),
                           sort=st.session_state.run_sort, descending=st.session_state.run_descending)
    write_params(st.query_params, chosen_view.to_query())
    shown = sort_runs(filter_runs(table, chosen_view.runs), chosen_view.sort, chosen_view.descending)
    st.caption(f"{len(shown)} of {len(table)} runs. Click a column heading to sort by it too; figures are each run's own "
               "(medians over repeats are on the single-comparison view).")
    st.dataframe(shown, hide_index=True, key="runs_table", column_config={
        "images/s": st.column_config.NumberColumn(format="%.0f"),
        "test accuracy": st.column_config.NumberColumn(format="percent"),
        "peak memory (MiB)": st.column_config.NumberColumn(format="%.1f", help="Device allocator's peak where measured "
                                                           "(see 'memory measured'), else the worker's peak host RSS"),
        **{c: st.column_config.NumberColumn(format="%.2f") for c in FIGURE_COLUMNS[3:]},
        "target": st.column_config.TextColumn(help="Whether the run reached the target validation accuracy: a missing "
                                                   "time is 'not reached' or 'not measured'")})
    st.stop()

# The address names the comparison (?comparison=ID, or ?id=ID); one that is not here is said so.
wanted = st.query_params.get("comparison") or st.query_params.get("id")
if wanted and wanted not in ids:
    st.warning(f"No comparison with id {plain(wanted)} in this database; showing the latest.")
chosen = st.selectbox("Comparison", comparisons, index=ids.index(wanted) if wanted in ids else 0, format_func=describe,
                      key="comparison")
st.query_params["comparison"] = chosen.id
if "id" in st.query_params:
    del st.query_params["id"]
comparison = store.comparison(chosen.id)
settings = comparison.settings
st.caption(plain(
    f"{settings.epochs} epochs · batch {settings.batch_size} · {settings.optimizer} lr {settings.learning_rate:g} · "
    f"{settings.precision} · compile {settings.compile} · {settings.repeats} repeat(s) · seed {settings.seed}"
    + "".join(f" · {note}" for note in settings.notes)
    + (" · best of each: every framework in its fastest mode (see below)" if settings.best_of_each else "")
    + threads_note(comparison)
))

runs = runs_frame(comparison)
if (runs["status"] != "finished").any():
    unfinished = runs[runs["status"] != "finished"]
    st.warning("Not every run finished:\n\n" + "\n".join(
        f"- {plain(row.framework)} #{row.repeat}: {plain(row.status)}{' — ' + plain(row.error) if row.error else ''}"
        for row in unfinished.itertuples()
    ))

st.subheader("Verdict")
frameworks = comparison_frameworks(comparison)
baseline = frameworks[0]
if len(frameworks) > 2:
    wanted_baseline = st.query_params.get("baseline")
    baseline = st.selectbox("Compare every framework against", frameworks, format_func=LABELS.get,
                            index=frameworks.index(wanted_baseline) if wanted_baseline in frameworks else 0, key="baseline")
    st.query_params["baseline"] = baseline
verdict = findings(comparison, baseline)
if not verdict:
    st.info("No verdict yet: it needs a finished run of each framework.")
for decision in verdict:
    show_decision(decision)
headers, rows = comparison_rows(comparison, baseline)
if rows:
    st.dataframe(pd.DataFrame(rows, columns=["Figure", *headers[1:]]), hide_index=True)
    st.caption("Figures are medians over repeats, with min–max in brackets. 'Ahead' names a winner only when the "
               "95 % interval of the difference (in square brackets) excludes equal and, for timings, every run was "
               "steady; otherwise it says inconclusive. Repeat i uses seed + i in every framework.")

epochs = epochs_frame(comparison)
results = results_frame(comparison)
st.subheader("Learning curves")
view = chart_view()
left, right = st.columns(2)
for column, metric in ((left, "accuracy"), (right, "loss")):
    column.plotly_chart(curves_figure(epochs, metric, view.x_axis, smoothing=view.smoothing, log_scale=view.log_scale),
                        key=metric)

st.subheader("Speed")
left, right = st.columns(2)
left.plotly_chart(spread_bar_figure(results, "steady_images_per_second", "Steady-state throughput", "images/s",
                                    log_scale=view.log_scale), key="throughput")
right.plotly_chart(step_time_figure(steps_frame(comparison), log_scale=view.log_scale), key="steps")
left, right = st.columns(2)
left.plotly_chart(warmup_figure(results, log_scale=view.log_scale), key="warmup")
right.plotly_chart(time_to_target_figure(target_frame(comparison), settings.target_accuracy, log_scale=view.log_scale),
                   key="target")

choices = comparison.data.get("best_of_each") or {}
if choices:
    st.subheader("Best of each: modes tried")
    st.caption(f"Tried simplest first, briefly each; a mode within {NEAR_EQUAL_FRACTION:.0%} of the fastest counts "
               "as just as fast, so the simplest of those is chosen.")
    for framework, choice in choices.items():
        payoff = choice["chosen"].get("compile_payoff_step")
        st.markdown(f"**{plain(LABELS.get(framework, framework))}** trained in **{plain(choice['chosen']['mode'])}**"
                    + (f"; compiling pays for itself after step {payoff:,}" if payoff else ""))
        st.dataframe(pd.DataFrame(choice["trials"])[["mode", "steady_images_per_second", "step_ms_median",
                                                     "compile_seconds", "status"]], hide_index=True,
                     column_config={"steady_images_per_second": st.column_config.NumberColumn("images/s", format="%.0f"),
                                    "step_ms_median": st.column_config.NumberColumn("median step (ms)", format="%.2f"),
                                    "compile_seconds": st.column_config.NumberColumn("compile (s)", format="%.2f")})

st.subheader("Memory")
st.plotly_chart(memory_figure(results, log_scale=view.log_scale), key="memory")
st.caption("Device memory comes from each framework's allocator and from NVML (GPU only); "
           "host memory is the worker process's peak resident set.")
if any(run.result and run.result.nvml_memory_scope == "device" for run in comparison.runs):
    st.caption("NVML could not see the training processes here (containers often hide them), so its figure is "
               "the whole GPU's memory in use, other programs included.")

st.subheader("Download")
left, right = st.columns(2)
left.download_button("Results as CSV", results.to_csv(index=False), file_name=f"twinbench-{comparison.id}.csv",
                     mime="text/csv", key="download_csv")
right.download_button("Everything as JSON", json.dumps(comparison_json(comparison, baseline), indent=1),
                      file_name=f"twinbench-{comparison.id}.json", mime="application/json", key="download_json")
