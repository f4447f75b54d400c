"""Every figure a comparison reports, in the order shown, with its label, unit and which way is better,
and how a value of each unit is written: the one list the tables, History, the runs table and exports read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.results import RunResult, peak_memory


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "percent", "bytes", "MiB", "count", "ms", "s", "per_s", "J", "text"
    better: str | None  # "higher", "lower" or None
    # Its heading where it is a column of the runs table ("images/s"); empty where it is not one.
    run_column: str = ""
    # Its heading after a framework's label in History's table ("PyTorch accuracy"); empty where it is not one.
    framework_column: str = ""


METRICS = (
    Metric("test_accuracy", "Test accuracy", "percent", "higher", "test accuracy", "accuracy"),
    Metric("steady_images_per_second", "Steady-state images/s", "per_s", "higher", "images/s", "images/s"),
    Metric("energy_joules_per_image", "Energy per image", "J", "lower"),
    Metric("step_ms_median", "Step time, median", "ms", "lower"),
    Metric("step_ms_p90", "Step time, p90", "ms", "lower"),
    Metric("warmup_seconds", "Warm-up", "s", "lower", "warm-up (s)"),
    Metric("compile_seconds", "First-step overhead", "s", "lower", "compile (s)"),
    Metric("train_seconds", "Training time", "s", "lower"),
    Metric("time_to_target_seconds", "Time to target accuracy", "s", "lower", "time to target (s)"),
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
# One figure for a run's memory, whichever was measured (core.results.peak_memory): the tables of
# runs show it; the report above shows the device's and the host's figures each on its own line.
PEAK_MEMORY = Metric("peak_memory", "Peak memory", "MiB", "lower", "peak memory (MiB)", "peak MiB")


def metric_named(key: str) -> Metric:
    """The figure called ``key``: one of METRICS, or PEAK_MEMORY."""
    return next(m for m in (*METRICS, PEAK_MEMORY) if m.key == key)


def metric_value(figure: Metric, result: RunResult | None) -> Any:
    """What ``result`` measured of ``figure``; None where it did not (or there is no result)."""
    if result is None:
        return None
    if figure.key == PEAK_MEMORY.key:
        return peak_memory(result)[0]
    return result.figure(figure.key)


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
    if unit == "J":
        return f"{value:.3g} J" if abs(value) >= 1 else f"{1000 * value:.3g} mJ"
    return str(value)
