"""The History page's logic: the comparisons list, its filters, and a diff of two comparisons."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from core.frameworks import LABELS as FRAMEWORK_LABELS
from core.report import METRICS, format_spread, summarize


def comparisons_frame(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "id": s["id"],
            "created": dt.datetime.fromtimestamp(s["created_at"]),
            "dataset": s["dataset"],
            "architecture": s["architecture"],
            "device": s.get("resolved_device") or s["device"],
            "frameworks": ", ".join(FRAMEWORK_LABELS.get(f, f) for f in s["frameworks"].split(",")),
            "runs": f"{s['finished'] or 0}/{s['runs']} finished" + (f", {s['failed']} failed" if s["failed"] else ""),
        }
        for s in summaries
    ]
    return pd.DataFrame(rows, columns=["id", "created", "dataset", "architecture", "device", "frameworks", "runs"])


def filter_comparisons(
    frame: pd.DataFrame,
    datasets: list[str] | None = None,
    architectures: list[str] | None = None,
    devices: list[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """Keep rows matching every filter given; an empty or missing filter keeps everything."""
    mask = pd.Series(True, index=frame.index)
    for column, allowed in (("dataset", datasets), ("architecture", architectures), ("device", devices)):
        if allowed:
            mask &= frame[column].isin(allowed)
    if since:
        mask &= frame["created"].dt.date >= since
    if until:
        mask &= frame["created"].dt.date <= until
    return frame[mask]


def diff_comparisons(first: dict[str, Any], second: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Settings side by side (with a 'differs' flag) and each framework's results side by side."""
    keys = sorted(set(first["settings"]) | set(second["settings"]))
    settings = pd.DataFrame(
        [{"setting": k, first["id"]: str(first["settings"].get(k)), second["id"]: str(second["settings"].get(k)),
          "differs": first["settings"].get(k) != second["settings"].get(k)} for k in keys]
    )
    frameworks = sorted(set(first["frameworks"].split(",")) | set(second["frameworks"].split(",")))
    summary_a = summarize(first["runs"], frameworks)
    summary_b = summarize(second["runs"], frameworks)
    rows = []
    for metric in METRICS:
        for framework in frameworks:
            a, b = summary_a[framework][metric.key], summary_b[framework][metric.key]
            if a is None and b is None:
                continue
            rows.append({"figure": metric.label, "framework": FRAMEWORK_LABELS[framework],
                         first["id"]: format_spread(a, metric.unit), second["id"]: format_spread(b, metric.unit)})
    return settings, pd.DataFrame(rows, columns=["figure", "framework", first["id"], second["id"]])
