"""The History page's logic: the comparisons list, its filters, a diff of comparisons, and the tags
and note a person writes on one (validated here, stored by core.store.queries)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping
from typing import Any

import pandas as pd

from core.analysis.figures import METRICS, PEAK_MEMORY, metric_named, metric_value
from core.analysis.report import format_spread, summarize
from core.frameworks import REGISTRY, label

# What each framework's columns in the comparisons table hold, each headed by its Metric's framework_column.
FRAMEWORK_FIGURES = tuple(metric_named(key) for key in ("steady_images_per_second", "test_accuracy", PEAK_MEMORY.key))
BASE_COLUMNS = ["id", "created", "dataset", "architecture", "device", "frameworks", "runs", "tags", "note"]


def figure_column(framework_label: str, suffix: str) -> str:
    """The comparisons table's column for one framework's figure: "PyTorch images/s"."""
    return f"{framework_label} {suffix}"


def framework_figures(comparison: dict[str, Any]) -> dict[str, float]:
    """Each framework's median images/s, test accuracy and peak memory (MiB) over its finished
    runs, keyed by ``figure_column``; a figure no run measured is left out."""
    figures: dict[str, float] = {}
    for framework in dict.fromkeys(run["framework"] for run in comparison["runs"]):
        results = [run["result"] for run in comparison["runs"]
                   if run["framework"] == framework and run["status"] == "finished" and run["result"]]
        name = label(framework)
        for figure in FRAMEWORK_FIGURES:
            values = [metric_value(figure, r) for r in results]
            numbers = [float(v) for v in values if v is not None]
            if numbers:
                figures[figure_column(name, figure.framework_column)] = statistics.median(numbers)
    return figures


def comparisons_frame(summaries: list[dict[str, Any]], figures: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """One row per comparison; ``figures`` (comparison id to ``framework_figures``) adds a numeric
    column per framework and figure, in registry order, NaN where a comparison lacks it."""
    figures = figures or {}
    rows = [
        {
            "id": s["id"],
            "created": dt.datetime.fromtimestamp(s["created_at"]),
            "dataset": s["dataset"],
            "architecture": s["architecture"],
            "device": s.get("resolved_device") or s["device"],
            "frameworks": ", ".join(label(f) for f in s["frameworks"].split(",")),
            "runs": f"{s['finished'] or 0}/{s['runs']} finished" + (f", {s['failed']} failed" if s["failed"] else ""),
            # Older stores and exports have no annotations.
            "tags": ", ".join(s.get("tags") or []),
            "note": s.get("note") or "",
            **figures.get(s["id"], {}),
        }
        for s in summaries
    ]
    present = set().union(*(figures.get(s["id"], {}) for s in summaries)) if summaries else set()
    metric_columns = [figure_column(framework.label, figure.framework_column) for framework in REGISTRY.values()
                      for figure in FRAMEWORK_FIGURES if figure_column(framework.label, figure.framework_column) in present]
    return pd.DataFrame(rows, columns=[*BASE_COLUMNS, *metric_columns])


def frame_tags(frame: pd.DataFrame) -> list[str]:
    """Every tag in the table's ``tags`` column, sorted ignoring case."""
    tags = {tag.strip() for cell in frame.get("tags", pd.Series(dtype=str)) for tag in str(cell).split(",") if tag.strip()}
    return sorted(tags, key=str.casefold)


def filter_comparisons(
    frame: pd.DataFrame,
    datasets: list[str] | None = None,
    architectures: list[str] | None = None,
    devices: list[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    tags: list[str] | None = None,
) -> pd.DataFrame:
    """Keep rows matching every filter given; an empty or missing filter keeps everything. A row
    passes ``tags`` when it has any of them."""
    mask = pd.Series(True, index=frame.index)
    for column, allowed in (("dataset", datasets), ("architecture", architectures), ("device", devices)):
        if allowed:
            mask &= frame[column].isin(allowed)
    if since:
        mask &= frame["created"].dt.date >= since
    if until:
        mask &= frame["created"].dt.date <= until
    if tags:
        wanted = {tag.casefold() for tag in tags}
        mask &= frame["tags"].map(lambda cell: bool(wanted & {t.strip().casefold() for t in str(cell).split(",")}))
    return frame[mask]


def sort_comparisons(frame: pd.DataFrame, column: str | None, descending: bool = False) -> pd.DataFrame:
    """``frame`` sorted by ``column``, missing values last; no or an unknown column keeps its order (newest first)."""
    if not column or column not in frame.columns:
        return frame
    return frame.sort_values(column, ascending=not descending, na_position="last", kind="stable")


def sort_options(frame: pd.DataFrame) -> list[str]:
    """What the History page offers to sort by: when made, then each framework's figures."""
    return ["created", *[c for c in frame.columns if c not in BASE_COLUMNS]]


def merge_selection(selected: list[str], previous_rows: list[str], rows: list[str]) -> list[str]:
    """The selection after the table's selected rows went from ``previous_rows`` to ``rows``:
    rows newly ticked are added (at the end), rows unticked removed, anything else kept."""
    removed = set(previous_rows) - set(rows)
    kept = [i for i in selected if i not in removed]
    return kept + [i for i in rows if i not in kept]


def diff_many(comparisons: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Settings side by side (a column per comparison, with a 'differs' flag: not all equal) and
    each framework's results side by side, for any number of comparisons."""
    ids = [c["id"] for c in comparisons]
    keys = sorted(set().union(*(c["settings"] for c in comparisons))) if comparisons else []
    settings = pd.DataFrame(
        [{"setting": k, **{c["id"]: str(c["settings"].get(k)) for c in comparisons},
          "differs": len({repr(c["settings"].get(k)) for c in comparisons}) > 1} for k in keys],
        columns=["setting", *ids, "differs"],
    )
    frameworks = [name for name in REGISTRY if any(name in c["frameworks"].split(",") for c in comparisons)]
    frameworks += sorted({f for c in comparisons for f in c["frameworks"].split(",")} - set(frameworks))
    summaries = [summarize(c["runs"], frameworks) for c in comparisons]
    rows = []
    for metric in METRICS:
        for framework in frameworks:
            values = [summary[framework][metric.key] for summary in summaries]
            if all(v is None for v in values):
                continue
            rows.append({"figure": metric.label, "framework": label(framework),
                         **{i: format_spread(v, metric.unit) for i, v in zip(ids, values, strict=True)}})
    return settings, pd.DataFrame(rows, columns=["figure", "framework", *ids])
