"""The runs table of several comparisons at once: one row per run, its figures side by side, the
settings that differ between the comparisons, and the table's filters and sort (pure functions).

Like a runs table in an experiment tracker: every run of every chosen comparison is a row, so
runs of different comparisons can be sorted and filtered together. Figures stay numbers (NaN
where missing) so that sorting is numeric; how a missing time to target should read is in its
own column (reached, not reached, not measured).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.analysis.figures import PEAK_MEMORY, metric_named, metric_value
from core.analysis.frames import target_status
from core.frameworks import label
from core.results import peak_memory

# The figure columns, in the order shown, each headed by its Metric's run_column.
FIGURES = tuple(metric_named(key) for key in ("steady_images_per_second", "test_accuracy", PEAK_MEMORY.key,
                                              "time_to_target_seconds", "warmup_seconds", "compile_seconds"))
FIGURE_COLUMNS = tuple(figure.run_column for figure in FIGURES)
LEADING_COLUMNS = ("comparison", "run", "framework", "repeat", "status", "tags")
TRAILING_COLUMNS = ("target", "memory measured", "mode")
# Columns the table can be sorted by, besides the settings that differ.
SORTABLE = (*FIGURE_COLUMNS, "comparison", "run", "framework", "status")
# What a run can be, as the store says it.
RUN_STATUSES = ("finished", "failed", "running", "queued")
# Settings that name where a comparison came from rather than how it trained.
UNCOMPARED_SETTINGS = frozenset({"notes"})


def differing_settings(comparisons: Iterable[Mapping[str, Any]]) -> list[str]:
    """The settings whose values are not all equal across ``comparisons`` (a setting one of them
    lacks counts as differing), sorted by name."""
    settings = [dict(c.get("settings") or {}) for c in comparisons]
    if len(settings) < 2:
        return []
    keys = sorted(set().union(*settings) - UNCOMPARED_SETTINGS)
    return [key for key in keys if len({repr(s.get(key)) for s in settings}) > 1]


def _setting_text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def run_table(comparisons: list[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run of each comparison (as ``Store.comparison`` returns it), in the order given.

    Columns: LEADING_COLUMNS, FIGURE_COLUMNS (numbers; NaN where a run has no such figure) with
    ``target`` after the time to target, one column per setting that differs between the
    comparisons, then the rest of TRAILING_COLUMNS. ``run`` reads
    as a legend does ("PyTorch #2").
    """
    settings = differing_settings(comparisons)
    rows = []
    for comparison in comparisons:
        target = (comparison.get("settings") or {}).get("target_accuracy")
        tags = ", ".join(comparison.get("tags") or [])
        for run in comparison["runs"]:
            result = run["result"] if run["status"] == "finished" else None
            framework = label(run["framework"])
            _, where = peak_memory(result)
            row: dict[str, Any] = {
                "comparison": comparison["id"], "run": f"{framework} #{run['repeat'] + 1}", "framework": framework,
                "repeat": run["repeat"] + 1, "status": run["status"], "tags": tags,
            }
            for figure in FIGURES:
                value = metric_value(figure, result)
                row[figure.run_column] = float(value) if value is not None else float("nan")
            row.update({setting: _setting_text((comparison.get("settings") or {}).get(setting)) for setting in settings})
            row["target"] = target_status(run, target) if result else ""
            row["memory measured"] = where
            row["mode"] = (result.figure("mode") if result else None) or ""
            rows.append(row)
    # Whether the target was reached sits beside the time it took, which reads as blank otherwise.
    columns = [*LEADING_COLUMNS, *FIGURE_COLUMNS[:4], "target", *FIGURE_COLUMNS[4:], *settings,
               *[c for c in TRAILING_COLUMNS if c != "target"]]
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class RunFilter:
    """What the runs table keeps: runs of these frameworks (labels) and statuses, containing this text."""

    frameworks: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    text: str = ""


def filter_runs(table: pd.DataFrame, runs: RunFilter) -> pd.DataFrame:
    """The rows that pass every part of ``runs``; an empty part keeps everything. The text matches,
    ignoring case, anywhere in a row's text cells (comparison id, run, tags, settings, mode)."""
    mask = pd.Series(True, index=table.index)
    if runs.frameworks:
        mask &= table["framework"].isin(runs.frameworks)
    if runs.statuses:
        mask &= table["status"].isin(runs.statuses)
    needle = runs.text.strip().casefold()
    if needle:
        text_columns = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
        haystack = table[text_columns].astype(str).agg(" ".join, axis=1).str.casefold() if text_columns else None
        mask &= haystack.str.contains(needle, regex=False) if haystack is not None else False
    return table[mask]


def sort_runs(table: pd.DataFrame, column: str | None, descending: bool = False) -> pd.DataFrame:
    """``table`` sorted by ``column`` (missing values last either way); an unknown column leaves it as it is."""
    if not column or column not in table.columns:
        return table
    return table.sort_values(column, ascending=not descending, na_position="last", kind="stable")


def sort_choices(table: pd.DataFrame) -> list[str]:
    """The columns a person may sort by: the figures and names first, then the differing settings."""
    settings = [c for c in table.columns if c not in (*LEADING_COLUMNS, *FIGURE_COLUMNS, *TRAILING_COLUMNS, "repeat")]
    return [*[c for c in SORTABLE if c in table.columns], *settings]


@dataclass(frozen=True)
class RunsView:
    """The Compare page's view of several comparisons, kept in the address so that a link shows
    the same: which comparisons, how the overlaid curves are coloured and which split they show,
    and the runs table's filters and sort."""

    comparisons: tuple[str, ...] = ()
    colour_by: str = "comparison"
    split: str = "validation"
    runs: RunFilter = RunFilter()
    sort: str = ""
    descending: bool = False

    @classmethod
    def from_query(cls, params: Mapping[str, Any], known_ids: Iterable[str]) -> RunsView:
        """The view the address asks for; comparisons not here, and values that make no sense, are dropped."""
        from core.views.charts import OVERLAY_COLOURINGS, OVERLAY_SPLITS
        from core.views.query import flag_param, list_param

        colour_by = str(params.get("colour_by") or cls.colour_by)
        split = str(params.get("split") or cls.split)
        return cls(
            comparisons=tuple(list_param(params, "comparisons", allowed=known_ids)),
            colour_by=colour_by if colour_by in OVERLAY_COLOURINGS else cls.colour_by,
            split=split if split in OVERLAY_SPLITS else cls.split,
            runs=RunFilter(frameworks=tuple(list_param(params, "run_frameworks")),
                           statuses=tuple(list_param(params, "run_statuses")),
                           text=str(params.get("run_text") or "")),
            sort=str(params.get("run_sort") or ""),
            descending=flag_param(params, "run_descending"),
        )

    def to_query(self) -> dict[str, str | list[str] | bool | None]:
        """Every parameter this view owns, None or empty where at its default (for ``write_params``)."""
        return {
            "comparisons": list(self.comparisons),
            "colour_by": None if self.colour_by == RunsView.colour_by else self.colour_by,
            "split": None if self.split == RunsView.split else self.split,
            "run_frameworks": list(self.runs.frameworks), "run_statuses": list(self.runs.statuses),
            "run_text": self.runs.text.strip(), "run_sort": self.sort, "run_descending": self.descending,
        }
