"""What the Compare page says about its comparisons, in words and tables (pure functions).

The page shows one comparison in depth or several side by side; which one, and how, is read
from the address here, so a link or a reload shows the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from core.analysis import frames
from core.analysis.headline import headlines
from core.analysis.report import comparison_rows
from core.frameworks import LABELS, label
from core.records import RUN_STATUSES, Comparison, ComparisonSummary
from core.text import plain
from core.views import charts
from core.views.environment import code_note
from core.views.run_table import RunFilter, RunsView

# One comparison in depth, or several side by side.
SHOW = {"one": "One comparison", "several": "Several comparisons"}
TRIAL_COLUMNS = ["mode", "steady_images_per_second", "step_ms_median", "compile_seconds", "status"]


def comparison_choice(summary: ComparisonSummary) -> str:
    """A comparison as the selectors list it (Store.list_comparisons' summary)."""
    when = dt.datetime.fromtimestamp(summary.created_at).strftime("%Y-%m-%d %H:%M")
    device = summary.resolved_device or summary.device
    return f"{summary.architecture} on {summary.dataset} · {device} · {when} · {summary.id}"


def first_show(params: Mapping[str, Any]) -> str:
    """The view a first visit shows: ?show=one or ?show=several, else several when the address names
    comparisons (?comparisons=ID,ID,…), else one."""
    asked = params.get("show")
    return asked if asked in SHOW else "several" if "comparisons" in params else "one"


def show_param(show: str, params: Mapping[str, Any]) -> str | None:
    """What ?show= holds: "several", or "one" only where the address still names several (else nothing)."""
    return "several" if show == "several" else "one" if "comparisons" in params else None


def several_seeds(asked: RunsView) -> dict[str, Any]:
    """The widgets of the several-comparisons view, as the address asks for them."""
    return {"comparisons": list(asked.comparisons), "colour_by": asked.colour_by, "split": asked.split,
            "run_frameworks": list(asked.runs.frameworks), "run_text": asked.runs.text,
            "run_statuses": [s for s in asked.runs.statuses if s in RUN_STATUSES],
            "run_descending": asked.descending}


def chosen_runs_view(state: Mapping[str, Any], picked: Sequence[str]) -> RunsView:
    """The several-comparisons view its widgets (``state``, st.session_state) hold, to write to the address."""
    return RunsView(comparisons=tuple(picked), colour_by=state["colour_by"], split=state["split"],
                    runs=RunFilter(frameworks=tuple(state["run_frameworks"]), statuses=tuple(state["run_statuses"]),
                                   text=state["run_text"]),
                    sort=state["run_sort"], descending=state["run_descending"])


def framework_filter_options(asked: RunsView) -> list[str]:
    """Every registered framework, and any other the address filters by (a stored run's framework)."""
    return list(dict.fromkeys([*LABELS.values(), *asked.runs.frameworks]))


def chosen_index(ids: Sequence[str], wanted: str | None) -> tuple[int, str | None]:
    """Where the comparison the address names (?comparison=ID or ?id=ID) is among ``ids``, the latest
    (0) when it names none or one not here, and the warning for one not here."""
    if wanted and wanted not in ids:
        return 0, f"No comparison with id {plain(wanted)} in this database; showing the latest."
    return (ids.index(wanted) if wanted in ids else 0), None


def threads_note(comparison: Comparison) -> str:
    """The CPU threads each framework trained with, from the runs' environments."""
    environments = [run.environment for run in comparison.runs if run.environment]
    threads = sorted({int(env["threads"]) for env in environments if env.get("device") == "cpu" and env.get("threads")})
    if not threads:
        return ""
    cores = environments[0].get("cpu_count")
    return f" · {'/'.join(map(str, threads))} CPU thread(s) per framework" + (f" of {cores} cores" if cores else "")


def settings_caption(comparison: Comparison) -> str:
    """One line of how the comparison trained, as Markdown that shows exactly that text."""
    settings = comparison.settings
    return plain(
        f"{settings.epochs} epochs · batch {settings.batch_size} · {settings.optimizer} lr {settings.learning_rate:g} · "
        f"{settings.precision} · compile {settings.compile} · {settings.repeats} repeat(s) · seed {settings.seed}"
        + "".join(f" · {note}" for note in settings.notes or [])
        + (" · best of each: every framework in its fastest mode (see below)" if settings.best_of_each else "")
        + threads_note(comparison)
        + code_note(comparison)
    )


def unfinished_warning(runs: pd.DataFrame) -> str | None:
    """The runs that did not finish, one line each (core.analysis.frames.runs_frame), or None."""
    if not (runs["status"] != "finished").any():
        return None
    unfinished = runs[runs["status"] != "finished"]
    return "Not every run finished:\n\n" + "\n".join(
        f"- {plain(row.framework)} #{row.repeat}: {plain(row.status)}{' — ' + plain(row.error) if row.error else ''}"
        for row in unfinished.itertuples()
    )


def verdict_table(comparison: Comparison, baseline: str | None = None) -> pd.DataFrame | None:
    """Each figure's medians per framework and who is ahead (core.analysis.report.comparison_rows); None
    before anything has finished."""
    headers, rows = comparison_rows(comparison, baseline)
    return pd.DataFrame(rows, columns=["Figure", *headers[1:]]) if rows else None


def headline_markdown(comparison: Comparison, baseline: str | None = None) -> list[str]:
    """The headline's lines as Markdown, each answer under its bold label ("**Time to train this:** ...",
    "**Steady speed:** ..." and the break-even), for each framework against the baseline."""
    return [f"**{name}:** {plain(answer)}" for headline in headlines(comparison, baseline)
            for name, answer in headline.answers()]


def baseline_index(frameworks: Sequence[str], wanted: str | None) -> int:
    """The framework every other is compared against: the one the address names (?baseline=), else the first."""
    return frameworks.index(wanted) if wanted in frameworks else 0


def best_of_each_line(framework: str, choice: Mapping[str, Any]) -> str:
    """Which mode best of each chose for ``framework``, and when compiling paid for itself."""
    payoff = choice["chosen"].get("compile_payoff_step")
    return (f"**{plain(label(framework))}** trained in **{plain(choice['chosen']['mode'])}**"
            + (f"; compiling pays for itself after step {payoff:,}" if payoff else ""))


def trials_frame(choice: Mapping[str, Any]) -> pd.DataFrame:
    """The modes best of each tried for one framework, one row each."""
    return pd.DataFrame(choice["trials"])[TRIAL_COLUMNS]


def sees_whole_gpu(comparison: Comparison) -> bool:
    """Whether NVML's figure is the whole GPU's memory in use: it could not see the training processes."""
    return any(run.result and run.result.nvml_memory_scope == "device" for run in comparison.runs)


def speed_figures(comparison: Comparison, results: pd.DataFrame, log_scale: bool) -> dict[str, Any]:
    """The speed charts of one comparison, by the key each has on the page, two to a row."""
    return {
        "throughput": charts.spread_bar_figure(results, "steady_images_per_second", "Steady-state throughput", "images/s",
                                               log_scale=log_scale),
        "steps": charts.step_time_figure(frames.steps_frame(comparison), log_scale=log_scale),
        "warmup": charts.warmup_figure(results, log_scale=log_scale),
        "target": charts.time_to_target_figure(frames.target_frame(comparison), comparison.settings.target_accuracy,
                                               log_scale=log_scale),
    }


def curve_figures(epochs: pd.DataFrame, view: charts.ChartView) -> dict[str, Any]:
    """One comparison's accuracy and loss curves, by the key each has on the page."""
    return {metric: charts.curves_figure(epochs, metric, view.x_axis, smoothing=view.smoothing, log_scale=view.log_scale)
            for metric in ("accuracy", "loss")}


def overlay_figures(comparisons: list[Comparison], view: charts.ChartView, colour_by: str,
                    split: str) -> dict[str, Any]:
    """Several comparisons' accuracy and loss curves overlaid, by the key each has on the page."""
    overlaid = frames.overlay_epochs_frame(comparisons)
    return {f"overlay_{metric}": charts.overlay_curves_figure(overlaid, metric, view.x_axis, colour_by=colour_by, split=split,
                                                              smoothing=view.smoothing, log_scale=view.log_scale)
            for metric in ("accuracy", "loss")}
