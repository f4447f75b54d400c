"""Every figure a comparison reports, in the order shown, with its label, unit and which way is better,
and how a value of each unit is written: the one list the tables, History, the runs table and exports read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "percent", "bytes", "count", "ms", "s", "per_s", "J", "text"
    better: str | None  # "higher", "lower" or None


METRICS = (
    Metric("test_accuracy", "Test accuracy", "percent", "higher"),
    Metric("steady_images_per_second", "Steady-state images/s", "per_s", "higher"),
    Metric("energy_joules_per_image", "Energy per image", "J", "lower"),
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
