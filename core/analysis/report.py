"""Turn stored runs into per-framework summaries and a side-by-side text table (pure functions)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.analysis.equivalence import DEFAULT_MARGIN
from core.analysis.figures import METRICS, Metric, format_value
from core.analysis.headline import headlines
from core.analysis.verdict import comparison_frameworks, findings, finished_results, metric_decision
from core.frameworks import label
from core.records import Comparison, Run


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    count: int


def spread(values: list[float]) -> Spread | None:
    numbers = [float(v) for v in values if v is not None]
    if not numbers:
        return None
    return Spread(statistics.median(numbers), min(numbers), max(numbers), len(numbers))


def summarize(runs: Sequence[Run], frameworks: list[str]) -> dict[str, dict[str, Any]]:
    """Per framework, per metric: a Spread over finished repeats (or the text, for text metrics)."""
    summary: dict[str, dict[str, Any]] = {}
    for framework in frameworks:
        results = finished_results(runs, framework)
        summary[framework] = {}
        for metric in METRICS:
            values = [r.figure(metric.key) for r in results]
            if metric.unit == "text":
                summary[framework][metric.key] = next((v for v in values if v), None)
            else:
                summary[framework][metric.key] = spread(values)
    return summary


def format_spread(value: Spread | str | None, unit: str) -> str:
    if value is None or isinstance(value, str):
        return format_value(value, unit)
    text = format_value(value.median, unit)
    if value.count > 1 and value.high != value.low:
        text += f" ({format_value(value.low, unit)}–{format_value(value.high, unit)})"
    return text


def ahead(metric: Metric, runs: Sequence[Run], first: str, second: str, margin: float = DEFAULT_MARGIN) -> str:
    """The table's verdict on one figure: the same rule as the verdict's sentences."""
    if metric.better is None or metric.unit in ("count", "text"):
        return ""
    decision = metric_decision(runs, first, second, metric.key, metric.unit, metric.better == "higher", margin)
    return decision.short if decision else ""


def comparison_rows(comparison: Comparison, baseline: str | None = None,
                    margin: float = DEFAULT_MARGIN) -> tuple[list[str], list[list[str]]]:
    """One row per reported figure, a column per framework, and one column per other framework
    against the baseline, by default the first ("Ahead" when there are two)."""
    frameworks = comparison_frameworks(comparison, baseline)
    summary = summarize(comparison.runs, frameworks)
    others = frameworks[1:]
    headers = ["", *(label(fw) for fw in frameworks)]
    headers += ["Ahead"] if len(others) == 1 else [f"{label(frameworks[0])} vs {label(fw)}" for fw in others]
    rows = []
    for metric in METRICS:
        values = {fw: summary[fw][metric.key] for fw in frameworks}
        cells = [format_spread(values[fw], metric.unit) for fw in frameworks]
        if metric.key == "time_to_target_seconds":
            cells = time_to_target_cells(comparison, frameworks, cells)
            if all(cell in (format_value(None, metric.unit), "not measured") for cell in cells):
                continue
        elif metric.key == "energy_joules_per_image":
            cells = energy_cells(comparison.runs, frameworks, cells)
            if all(cell == format_value(None, metric.unit) for cell in cells):
                continue
        elif all(v is None for v in values.values()):
            continue
        row = [metric.label, *cells]
        row += [ahead(metric, comparison.runs, frameworks[0], fw, margin) for fw in others]
        rows.append(row)
    return headers, rows


def time_to_target_cells(comparison: Comparison, frameworks: list[str], cells: list[str]) -> list[str]:
    """The time-to-target cells with each framework's missing or partial time said in words, as the
    Compare page's chart says it: "not reached (best 70.0%)", "not measured", "1 of 2 runs reached it"."""
    # Imported here: core.analysis.frames builds on this module's METRICS.
    from core.analysis.frames import target_frame, target_note

    targets = target_frame(comparison)
    said = []
    for framework, cell in zip(frameworks, cells, strict=True):
        rows = targets[targets["framework"] == label(framework)]
        note = target_note(rows) if len(rows) else ""
        if not note:
            said.append(cell)
        elif cell == format_value(None, "s"):
            said.append(note)
        else:
            said.append(f"{cell}; {note}")
    return said


def energy_cells(runs: Sequence[Run], frameworks: list[str], cells: list[str]) -> list[str]:
    """The energy cells, a framework whose runs measured none saying why ("not measurable here",
    a window too short for the counter); runs stored before energy was measured say nothing."""
    said = []
    for framework, cell in zip(frameworks, cells, strict=True):
        notes = [r.energy_note for r in finished_results(runs, framework) if r.energy_note]
        said.append(notes[0] if cell == format_value(None, "J") and notes else cell)
    return said


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(line[i])) for line in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def failures(comparison: Comparison) -> list[str]:
    return [
        f"{label(r.framework)} (repeat {r.repeat + 1}) "
        f"{r.error_kind}: {r.error_message}"
        for r in comparison.runs
        if r.status == "failed"
    ]


def comparison_json(comparison: Comparison, baseline: str | None = None,
                    margin: float = DEFAULT_MARGIN) -> dict[str, Any]:
    """The CLI's ``--json`` document: one entry per run with spec, result, epochs and error, and
    the verdict's decisions and the headline's two answers against the baseline."""
    return {
        "comparison_id": comparison.id,
        "settings": comparison.settings.stored(),
        "data": {k: v for k, v in comparison.data.items() if k != "path"},
        "verdict": [decision.as_dict() for decision in findings(comparison, baseline, margin)],
        "headline": {"baseline": next(iter(comparison_frameworks(comparison, baseline)), None),
                     "pairs": [headline.as_dict() for headline in headlines(comparison, baseline, margin)]},
        "runs": [
            {
                "run_id": r.id,
                "framework": r.framework,
                "repeat": r.repeat,
                "status": r.status,
                "spec": r.spec.stored(),
                "result": r.result.as_dict() if r.result else None,
                "epochs": [epoch.as_dict() for epoch in r.epochs],
                "environment": r.environment,
                "error": r.error(),
            }
            for r in comparison.runs
        ],
    }
