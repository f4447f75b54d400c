"""Sweep: several values for any setting, one comparison per combination, and the results
against the swept setting (speed, memory, the speed ratio with its interval, a sortable table).

Every widget of the form is keyed ``sweep_<RunSpec field>`` and the tests find them by key. The
chosen sweep is kept in the address (?sweep=ID)."""

import datetime as dt

import streamlit as st

from core.analysis.eta import format_left
from core.analysis.sweeps import estimate_sweep, sweep_frame
from core.data.registry import BUILTIN_DATASETS
from core.engine.sweep import cancel_sweep, enqueue_sweep, list_sweeps, speed_history, sweep_comparisons
from core.errors import BadInput
from core.frameworks import DEFAULT_NAMES, LABELS, REGISTRY, parse_frameworks
from core.models.registry import ARCHITECTURES
from core.records import ENDED
from core.spec import COMPILE_MODES, DATA_PIPELINES, DEVICES, OPTIMIZERS, PRECISIONS, RunSpec
from core.sweep_spec import MAX_CELLS, SWEEPABLE, expand_sweep, field_words, format_value, split_values
from core.text import plain
from core.views.sweep_charts import memory_figure, ratio_figure, throughput_figure
from dashboard_state import may_change, open_store, page_setup, public_policy, visitor

page_setup()

DEFAULTS = RunSpec()
# Settings chosen from a list: several may be ticked. Each starts at RunSpec's default.
CHOICES = {
    "dataset": ("Datasets", list(BUILTIN_DATASETS)),
    "architecture": ("Architectures", list(ARCHITECTURES)),
    "optimizer": ("Optimisers", list(OPTIMIZERS)),
    "device": ("Devices", list(DEVICES)),
    "precision": ("Precisions", list(PRECISIONS)),
    "compile": ("Compile modes", list(COMPILE_MODES)),
    "data_pipeline": ("Input pipelines", list(DATA_PIPELINES)),
    "channels_last": ("channels_last (PyTorch)", [False, True]),
}
# Settings typed as comma-separated numbers ("32, 128, 512"); empty leaves the default.
TYPED = {
    "batch_size": "Batch sizes", "epochs": "Epochs", "repeats": "Repeats", "learning_rate": "Learning rates",
    "seed": "Seeds", "max_images": "Max images (empty = all)", "image_size": "Image sizes (empty = as stored)",
    "threads": "CPU threads per framework (empty = all cores but one)",
}
TABLE_COLUMNS = ["setting", "framework", "status", "images_per_second", "images_per_second_low", "images_per_second_high",
                 "peak_memory_mib", "memory_kind", "test_accuracy", "ratio_of", "speed_ratio", "speed_ratio_low",
                 "speed_ratio_high", "inconclusive", "failure", "comparison_id"]


@st.cache_data(ttl=60, show_spinner=False)
def measured_speeds(latest_comparison: str | None) -> list:
    """What runs here measured, for the estimate; read again when a comparison is added (or after a minute)."""
    return speed_history(open_store())


def sweep_form() -> None:
    st.caption("Tick or type several values for any setting: every combination is trained as an ordinary "
               f"comparison, one after another, all under one sweep id (at most {MAX_CELLS} comparisons).")
    axes: dict[str, list] = {}
    columns = st.columns(3)
    for number, (field, (title, options)) in enumerate(CHOICES.items()):
        default = getattr(DEFAULTS, field)
        axes[field] = columns[number % 3].multiselect(title, options, default=[default], key=f"sweep_{field}",
                                                      format_func=format_value)
    columns = st.columns(4)
    for number, (field, title) in enumerate(TYPED.items()):
        default = getattr(DEFAULTS, field)
        text = columns[number % 4].text_input(title, value="" if default is None else format_value(default),
                                              key=f"sweep_{field}", help="comma-separated, e.g. 32, 128, 512")
        if split_values(text):
            axes[field] = split_values(text)
    frameworks = st.multiselect("Frameworks", list(REGISTRY), default=list(DEFAULT_NAMES), key="sweep_frameworks",
                                format_func=lambda name: LABELS[name] + ("" if REGISTRY[name].installed
                                                                         else " (not installed)"))
    # In RunSpec's order, as the CLI names them, whichever widget they came from.
    axes = {name: axes[name] for name in SWEEPABLE if name in axes}
    try:
        chosen = parse_frameworks(frameworks)
        sweep = expand_sweep(axes)
    except BadInput as error:
        st.error(plain(error), icon=":material/error:")
        st.button("Start sweep", key="start_sweep", disabled=True)
        return
    store = open_store()
    estimate = estimate_sweep(sweep, chosen, measured_speeds(store.latest_comparison_id()))
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


def describe(entry: dict) -> str:
    when = dt.datetime.fromtimestamp(entry["created_at"]).strftime("%Y-%m-%d %H:%M")
    return (f"{entry['sweep_id']} · {entry['cells']} comparisons · {', '.join(entry['architectures'])} on "
            f"{', '.join(entry['datasets'])} · {entry['finished']}/{entry['runs']} runs finished · {when}")


def show_results(sweep_id: str) -> None:
    store = open_store()
    comparisons = sweep_comparisons(store, sweep_id)
    frame = sweep_frame(comparisons)
    swept = frame.attrs["swept"]
    runs = sum(len(c.runs) for c in comparisons)
    ended = sum(run.status in ENDED for c in comparisons for run in c.runs)
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
    failed = frame[frame["status"] == "failed"]
    if not failed.empty:
        st.warning("Failed cells (marked x in the charts):\n\n" + "\n".join(
            f"- {plain(row.framework)}: {plain(row.failure)}" for row in failed.itertuples()))
    left, right = st.columns(2)
    left.plotly_chart(throughput_figure(frame, x, log_scale), key="sweep_throughput")
    right.plotly_chart(memory_figure(frame, x, log_scale), key="sweep_memory")
    st.plotly_chart(ratio_figure(frame, x, log_scale), key="sweep_ratio")
    st.subheader("Every cell")
    st.caption("Click a column heading to sort. Figures are medians over each comparison's repeats; the ratio is "
               "the first framework's images/s over the row's, inconclusive where its 95 % interval includes 1, "
               "a run was unsteady, or there was one run each.")
    shown = frame[[*swept, *TABLE_COLUMNS]]
    st.dataframe(shown, hide_index=True, key="sweep_table", column_config={
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
    sweep_form()
if (queued := st.session_state.pop("sweep_queued", None)) is not None:
    st.toast(f"Sweep of {queued} comparisons queued")

st.subheader("Results")
if not sweeps:
    st.info("No sweeps yet: open New sweep above, or run `python -m core sweep --batch-size 32,128,512`.")
    st.stop()
ids = [entry["sweep_id"] for entry in sweeps]
wanted = st.query_params.get("sweep")
if wanted and wanted not in ids:
    st.warning(f"No sweep with id {plain(wanted)} in this database; showing the latest.")
by_id = {entry["sweep_id"]: entry for entry in sweeps}
chosen = by_id[st.selectbox("Sweep", ids, index=ids.index(wanted) if wanted in ids else 0,
                            format_func=lambda sweep_id: describe(by_id[sweep_id]), key="sweep")]
st.query_params["sweep"] = chosen["sweep_id"]
unfinished = chosen["finished"] + chosen["failed"] < chosen["runs"]
# While its comparisons train, the results refresh on their own; once all have ended, they stay still.
st.fragment(run_every=10 if unfinished else None)(show_results)(chosen["sweep_id"])
