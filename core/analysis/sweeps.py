"""What a sweep will cost and what it measured (pure functions): the time estimate before it runs,
and afterwards one tidy frame with a row per (cell, framework): the swept settings, throughput and memory
with their intervals, and the speed ratio against the first framework with the verdict's rule."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.analysis.eta import Estimate
from core.analysis.uncertainty import mean_difference_interval
from core.analysis.verdict import comparison_frameworks, finished_results, ratio_decision
from core.frameworks import label
from core.results import MIB, RunResult, peak_memory_figure
from core.spec import RunSpec
from core.sweep_spec import SWEEPABLE, Sweep, describe_values

# Rough model of a run's duration before anything is known: a process start, a data load and
# an evaluation cost a few seconds whatever the model; training is epochs × images / speed.
RUN_OVERHEAD_SECONDS = 2.0  # measured about 1 s for a digits run here: fork, data, evaluation


IMPORT_SECONDS = 10.0  # the frameworks' imports when framework hosts start


DEFAULT_IMAGES_PER_SECOND = 1500.0  # a small CNN on a few CPU cores, when nothing was measured here


# Training images of the built-in datasets before the validation split (an uploaded folder is unknown).
DATASET_IMAGES = {"digits": 1797, "shapes": 2000, "mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000,
                  "cifar100": 50000}


UNKNOWN_DATASET_IMAGES = 10000


@dataclass(frozen=True)
class ObservedSpeed:
    """A finished run's speed, for estimating runs not made yet."""

    framework: str
    architecture: str
    device: str
    batch_size: int
    images_per_second: float


def observed_speeds(comparisons: Sequence[Mapping[str, Any]]) -> list[ObservedSpeed]:
    """The speed of every finished run of ``comparisons`` (Store.comparison dicts)."""
    seen = []
    for comparison in comparisons:
        for run in comparison["runs"]:
            speed = run["result"].steady_images_per_second if run["status"] == "finished" and run["result"] else None
            if speed:
                device = (run.get("environment") or {}).get("device") or run["spec"].get("device", "auto")
                seen.append(ObservedSpeed(run["framework"], run["spec"]["architecture"], device,
                                          int(run["spec"]["batch_size"]), float(speed)))
    return seen


def _speed(spec: RunSpec, framework: str, history: Sequence[ObservedSpeed]) -> tuple[float, bool]:
    """Images/s expected for ``spec`` in ``framework``: the run measured here with the same
    framework and architecture at the nearest batch size; else the default (rough)."""
    same = [s for s in history if s.framework == framework and s.architecture == spec.architecture]
    if not same:
        return DEFAULT_IMAGES_PER_SECOND, True
    nearest = min(same, key=lambda s: abs(math.log(s.batch_size) - math.log(spec.batch_size)))
    return nearest.images_per_second, False


def training_images(spec: RunSpec) -> int:
    total = DATASET_IMAGES.get(spec.dataset, UNKNOWN_DATASET_IMAGES)
    if spec.max_images:
        total = min(total, spec.max_images)
    return max(1, int(total * (1 - spec.validation_fraction)))


def estimate_sweep(sweep: Sweep, frameworks: Sequence[str], history: Sequence[ObservedSpeed] = (),
                   imports_per_comparison: bool = True) -> Estimate:
    """Seconds the sweep will take, from a rough model: the frameworks' imports (once per
    comparison as the job runner starts them, or once for the whole sweep as the CLI does), and
    per run a fixed overhead plus epochs × training images / images per second, the speed taken
    from the nearest run measured here (``history``) or a default. ``rough`` when any speed was
    the default."""
    seconds, rough = (0.0 if imports_per_comparison else IMPORT_SECONDS), False
    for cell in sweep.cells:
        seconds += IMPORT_SECONDS if imports_per_comparison else 0.0
        for framework in frameworks:
            speed, guessed = _speed(cell.spec, framework, history)
            rough = rough or guessed
            per_run = RUN_OVERHEAD_SECONDS + cell.spec.epochs * training_images(cell.spec) / speed
            seconds += per_run * cell.spec.repeats
    return Estimate(seconds, rough)


def swept_fields(comparisons: Sequence[Mapping[str, Any]]) -> list[str]:
    """The settings that differ between the sweep's comparisons, in RunSpec's order."""
    swept = []
    for name in SWEEPABLE:
        values = [c["settings"].get(name) for c in comparisons]
        if any(value != values[0] for value in values[1:]):
            swept.append(name)
    return swept


FAILURE_WORDS = {"out_of_memory": "out of memory", "bad_input": "refused", "unavailable": "unavailable",
                 "cancelled": "cancelled", "crashed": "crashed"}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _log_interval(values: list[float]) -> tuple[float | None, float | None]:
    """95 % interval of the geometric mean of positive figures (a t interval on their logarithms,
    as the verdict treats speeds); none with fewer than two."""
    positive = [v for v in values if v and v > 0]
    if len(positive) < 2:
        return None, None
    interval = mean_difference_interval([math.log(v) for v in positive])
    if interval.low is None or interval.high is None:
        return None, None
    return math.exp(interval.low), math.exp(interval.high)


def _peak_memory(results: list[RunResult]) -> tuple[float | None, str | None]:
    """The runs' median peak memory in bytes and where it was measured (core.results.peak_memory_figure)."""
    found = peak_memory_figure(results)
    if found is None:
        return None, None
    key, kind = found
    return statistics.median(float(r.figure(key)) for r in results if r.figure(key) is not None), kind


def _status(runs: list[dict[str, Any]]) -> str:
    statuses = {run["status"] for run in runs}
    if "finished" in statuses:
        return "finished" if statuses == {"finished"} else ("partly failed" if statuses <= {"finished", "failed"}
                                                              else "running")
    if statuses == {"failed"}:
        return "failed"
    return "running" if "running" in statuses or "failed" in statuses else "queued"


def _speed_ratio(runs: list[dict[str, Any]], first: str, second: str) -> dict[str, Any]:
    """first / second steady images/s, its interval and whether the verdict calls it inconclusive."""
    empty = {"speed_ratio": None, "speed_ratio_low": None, "speed_ratio_high": None, "inconclusive": None,
             "ratio_reason": None}
    decision = ratio_decision(runs, first, second, "Training speed", "steady_images_per_second", True,
                              "faster than", True)
    if decision is None or decision.interval is None:
        return empty
    oriented = decision.interval  # leader over trailer, ≥ 1
    if decision.leader == first:
        estimate, low, high = oriented.estimate, oriented.low, oriented.high
    else:  # the decision says second/first: turned round, so every row reads first/second
        estimate = 1 / oriented.estimate
        low = None if oriented.high is None else 1 / oriented.high
        high = None if oriented.low is None else 1 / oriented.low
    return {"speed_ratio": estimate, "speed_ratio_low": low, "speed_ratio_high": high,
            "inconclusive": decision.winner is None, "ratio_reason": decision.reason}


SWEEP_COLUMNS = ["cell", "comparison_id", "setting", "framework", "framework_name", "baseline", "status", "runs",
                 "finished_runs", "failure_kind", "failure", "images_per_second", "images_per_second_low",
                 "images_per_second_high", "peak_memory_bytes", "peak_memory_mib", "memory_kind", "test_accuracy",
                 "ratio_of", "speed_ratio", "speed_ratio_low", "speed_ratio_high", "inconclusive", "ratio_reason"]


def sweep_frame(comparisons: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (cell, framework) of a sweep's comparisons (Store.comparison dicts, cell order).

    Columns: ``cell`` (1-based), each swept setting, ``setting`` (the cell in words), ``framework``
    (its label, as the charts colour it) and ``framework_name``, ``status`` (finished, partly
    failed, failed, running, queued) with ``failure_kind`` and ``failure`` ("out of memory at
    batch 2048: ...") for runs that failed, steady ``images_per_second`` (median of the runs) with
    its 95 % interval, ``peak_memory_bytes``/``_mib`` and ``memory_kind``, median ``test_accuracy``,
    and for every framework but the first, ``speed_ratio`` = first / this framework with its
    interval and ``inconclusive`` (the verdict's rule: the interval includes 1, one run each, or a
    disturbed run).
    """
    swept = swept_fields(comparisons)
    rows = []
    for cell, comparison in enumerate(comparisons, start=1):
        values = {name: comparison["settings"].get(name) for name in swept}
        frameworks = comparison_frameworks(dict(comparison))
        for framework in frameworks:
            runs = [run for run in comparison["runs"] if run["framework"] == framework]
            results = finished_results(comparison["runs"], framework)
            speeds = [float(r.steady_images_per_second) for r in results if r.steady_images_per_second]
            low, high = _log_interval(speeds)
            peak, memory_kind = _peak_memory(results)
            accuracies = [float(r.test_accuracy) for r in results if r.test_accuracy is not None]
            failed = [run for run in runs if run["status"] == "failed"]
            failure_kind = failed[0]["error_kind"] if failed else None
            failure = None
            if failed:
                where = describe_values(values) if values else "this cell"
                words, message = FAILURE_WORDS.get(failure_kind or "", failure_kind), failed[0]["error_message"] or ""
                # An out-of-memory message already says where ("out of memory at batch 4096 ..."); others do not.
                failure = message if words and message.startswith(f"{words} at ") else f"{words} at {where}: {message}"
                if len(failed) < len(runs):
                    failure += f" ({len(failed)} of {len(runs)} runs)"
            baseline = framework == frameworks[0]
            ratio = ({} if baseline else _speed_ratio(comparison["runs"], frameworks[0], framework))
            rows.append({
                "cell": cell, "comparison_id": comparison["id"], **values, "setting": describe_values(values),
                "framework": label(framework), "framework_name": framework,
                "baseline": baseline, "status": _status(runs), "runs": len(runs), "finished_runs": len(results),
                "failure_kind": failure_kind, "failure": failure,
                "images_per_second": _median(speeds), "images_per_second_low": low, "images_per_second_high": high,
                "peak_memory_bytes": peak, "peak_memory_mib": peak / MIB if peak else None, "memory_kind": memory_kind,
                "test_accuracy": _median(accuracies),
                "ratio_of": None if baseline else f"{label(frameworks[0])} / {label(framework)}",
                **ratio,
            })
    columns = [*SWEEP_COLUMNS[:2], *swept, *SWEEP_COLUMNS[2:]]
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs["swept"] = swept
    return frame


def summary_rows(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The sweep as a text table (the CLI's summary): a row per cell and framework."""
    headers = ["cell", "setting", "framework", "status", "images/s (95 % CI)", "peak memory", "accuracy",
               "speed ratio (95 % CI)"]
    rows = []
    for row in frame.itertuples(index=False):
        speed = "–"
        if row.images_per_second is not None and not pd.isna(row.images_per_second):
            speed = f"{row.images_per_second:,.0f}"
            if row.images_per_second_low is not None and not pd.isna(row.images_per_second_low):
                speed += f" ({row.images_per_second_low:,.0f}–{row.images_per_second_high:,.0f})"
        memory = (f"{row.peak_memory_mib:,.0f} MiB {row.memory_kind}" if row.peak_memory_mib is not None
                  and not pd.isna(row.peak_memory_mib) else "–")
        accuracy = (f"{100 * row.test_accuracy:.1f} %" if row.test_accuracy is not None
                    and not pd.isna(row.test_accuracy) else "–")
        ratio = "–"
        if row.speed_ratio is not None and not pd.isna(row.speed_ratio):
            ratio = f"{row.ratio_of} {row.speed_ratio:.2f}×"
            if row.speed_ratio_low is not None and not pd.isna(row.speed_ratio_low):
                ratio += f" ({row.speed_ratio_low:.2f}–{row.speed_ratio_high:.2f})"
            if row.inconclusive:
                ratio += " inconclusive"
        status = row.status if not row.failure_kind else f"{row.status}: {FAILURE_WORDS.get(row.failure_kind, row.failure_kind)}"
        rows.append([str(row.cell), row.setting, row.framework, status, speed, memory, accuracy, ratio])
    return headers, rows
