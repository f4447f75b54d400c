"""Turn stored runs into per-framework summaries and a side-by-side text table (pure functions)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from core.spec import FRAMEWORK_LABELS


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "percent", "bytes", "count", "ms", "s", "per_s", "text"
    better: str | None  # "higher", "lower" or None


METRICS = (
    Metric("test_accuracy", "Test accuracy", "percent", "higher"),
    Metric("steady_images_per_second", "Steady-state images/s", "per_s", "higher"),
    Metric("step_ms_median", "Step time, median", "ms", "lower"),
    Metric("step_ms_p90", "Step time, p90", "ms", "lower"),
    Metric("warmup_seconds", "Warm-up", "s", "lower"),
    Metric("compile_seconds", "First-step overhead", "s", "lower"),
    Metric("train_seconds", "Training time", "s", "lower"),
    Metric("time_to_target_seconds", "Time to target accuracy", "s", "lower"),
    Metric("peak_device_memory_bytes", "Peak device memory (allocator)", "bytes", "lower"),
    Metric("nvml_memory_used_bytes", "Device memory (NVML)", "bytes", "lower"),
    Metric("peak_host_rss_bytes", "Peak host RSS", "bytes", "lower"),
    Metric("inference_ms_batch1", "Inference latency, batch 1", "ms", "lower"),
    Metric("inference_images_per_second", "Inference images/s", "per_s", "higher"),
    Metric("trainable_params", "Trainable parameters", "count", None),
    Metric("non_trainable_params", "Non-trainable parameters", "count", None),
    Metric("flops_per_image", "FLOPs per image", "count", None),
    Metric("mode", "Mode", "text", None),
)


# Differences smaller than these are within run-to-run noise on a single run (the same run on
# one machine varies by several percent), so the table does not name a winner for them.
NOISE_RATIO = 1.05
NOISE_POINTS = 1.0


def format_value(value: Any, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "text":
        return str(value)
    if unit == "percent":
        return f"{100 * value:.1f} %"
    if unit == "bytes":
        for scale, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if abs(value) >= scale:
                return f"{value / scale:.1f} {suffix}"
        return f"{value:.0f} B"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "per_s":
        return f"{value:,.0f}"
    return str(value)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    count: int


def format_ratio(ratio: float) -> str:
    """1.28×, or 18× once the hundredths stop meaning anything."""
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×"


def spread(values: list[float]) -> Spread | None:
    numbers = [float(v) for v in values if v is not None]
    if not numbers:
        return None
    return Spread(statistics.median(numbers), min(numbers), max(numbers), len(numbers))


def finished_runs(runs: list[dict[str, Any]], framework: str) -> list[dict[str, Any]]:
    return [r for r in runs if r["framework"] == framework and r["status"] == "finished" and r["result"]]


def finished_results(runs: list[dict[str, Any]], framework: str) -> list[dict[str, Any]]:
    return [r["result"] for r in finished_runs(runs, framework)]


def summarize(runs: list[dict[str, Any]], frameworks: list[str]) -> dict[str, dict[str, Any]]:
    """Per framework, per metric: a Spread over finished repeats (or the text, for text metrics)."""
    summary: dict[str, dict[str, Any]] = {}
    for framework in frameworks:
        results = finished_results(runs, framework)
        summary[framework] = {}
        for metric in METRICS:
            values = [r.get(metric.key) for r in results]
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


def leader(metric: Metric, values: dict[str, Spread | None]) -> str:
    """Which framework is ahead on this metric and by how much, from the medians."""
    present = {fw: v.median for fw, v in values.items() if isinstance(v, Spread)}
    if metric.better is None or len(present) < 2:
        return ""
    best = max(present, key=present.get) if metric.better == "higher" else min(present, key=present.get)
    worst = min(present, key=present.get) if metric.better == "higher" else max(present, key=present.get)
    if metric.unit == "percent":
        points = 100 * (present[best] - present[worst])
        return "about equal" if points < NOISE_POINTS else f"{FRAMEWORK_LABELS[best]} +{points:.1f} pts"
    if present[best] <= 0 or present[worst] <= 0:
        return FRAMEWORK_LABELS[best]
    ratio = present[best] / present[worst] if metric.better == "higher" else present[worst] / present[best]
    return "about equal" if ratio < NOISE_RATIO else f"{FRAMEWORK_LABELS[best]} {format_ratio(ratio)}"


def comparison_rows(comparison: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    frameworks = [fw for fw in comparison["frameworks"].split(",") if fw]
    summary = summarize(comparison["runs"], frameworks)
    headers = ["", *(FRAMEWORK_LABELS[fw] for fw in frameworks)]
    if len(frameworks) > 1:
        headers.append("Ahead")
    rows = []
    for metric in METRICS:
        values = {fw: summary[fw][metric.key] for fw in frameworks}
        if all(v is None for v in values.values()):
            continue
        row = [metric.label, *(format_spread(values[fw], metric.unit) for fw in frameworks)]
        if len(frameworks) > 1:
            row.append(leader(metric, values))
        rows.append(row)
    return headers, rows


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(line[i])) for line in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def failures(comparison: dict[str, Any]) -> list[str]:
    return [
        f"{FRAMEWORK_LABELS.get(r['framework'], r['framework'])} (repeat {r['repeat'] + 1}) "
        f"{r['error_kind']}: {r['error_message']}"
        for r in comparison["runs"]
        if r["status"] == "failed"
    ]


def comparison_json(comparison: dict[str, Any]) -> dict[str, Any]:
    """The CLI's ``--json`` document: one entry per run with spec, result, epochs and error."""
    return {
        "comparison_id": comparison["id"],
        "settings": comparison["settings"],
        "data": {k: v for k, v in comparison["data"].items() if k != "path"},
        "runs": [
            {
                "run_id": r["id"],
                "framework": r["framework"],
                "repeat": r["repeat"],
                "status": r["status"],
                "spec": r["spec"],
                "result": r["result"],
                "epochs": r["epochs"],
                "environment": r["environment"],
                "error": r["error"],
            }
            for r in comparison["runs"]
        ],
    }
