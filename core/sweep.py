"""Sweeps: the cross product of several values per comparison setting, queued as ordinary
comparisons that share one sweep id, and their results gathered into one tidy frame.

A sweep definition maps RunSpec fields to the values to try (``{"batch_size": [32, 128],
"precision": ["fp32", "bf16"]}``); every combination is one comparison, validated like any other
before anything is stored. What a sweep measured is read back from the store by its sweep id:
``sweep_frame`` has one row per (cell, framework) with the swept settings, throughput and memory
with their intervals, and the speed ratio against the first framework with the verdict's
"inconclusive" rule. No Streamlit here; the Sweep page and ``python -m core sweep`` both use it.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.errors import BadInput
from core.eta import Estimate
from core.frameworks import LABELS as FRAMEWORK_LABELS
from core.spec import RunSpec
from core.uncertainty import mean_difference_interval
from core.verdict import comparison_frameworks, finished_results, ratio_decision

# A sweep is meant to map a setting, not to be a week of training: 64 comparisons (of two
# frameworks and three repeats each, 384 runs) is already hours on a small model.
MAX_CELLS = 64
# Fields a sweep may vary: every comparison setting. The framework is the comparison itself and
# notes describe what was done to the data, so neither is swept.
SWEEPABLE: tuple[str, ...] = tuple(name for name in RunSpec.model_fields if name not in ("framework", "notes"))
# How a swept setting reads next to its value in labels and hover text ("batch 2048").
FIELD_WORDS = {"batch_size": "batch", "learning_rate": "lr", "image_size": "image size", "max_images": "max images",
               "data_pipeline": "pipeline", "channels_last": "channels_last", "weight_decay": "weight decay"}
# Rough model of a run's duration before anything is known: a process start, a data load and
# an evaluation cost a few seconds whatever the model; training is epochs × images / speed.
RUN_OVERHEAD_SECONDS = 2.0  # measured about 1 s for a digits run here: fork, data, evaluation
IMPORT_SECONDS = 10.0  # the frameworks' imports when framework hosts start
DEFAULT_IMAGES_PER_SECOND = 1500.0  # a small CNN on a few CPU cores, when nothing was measured here
# Training images of the built-in datasets before the validation split (an uploaded folder is unknown).
DATASET_IMAGES = {"digits": 1797, "shapes": 2000, "mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000,
                  "cifar100": 50000}
UNKNOWN_DATASET_IMAGES = 10000


def field_words(name: str) -> str:
    return FIELD_WORDS.get(name, name.replace("_", " "))


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def describe_values(values: Mapping[str, Any]) -> str:
    """'batch 128 · precision bf16': a cell's swept settings as people read them."""
    return " · ".join(f"{field_words(name)} {format_value(value)}" for name, value in values.items()) or "the one cell"


def split_values(text: Any) -> list[Any]:
    """'32, 128,512' into ['32', '128', '512']; a value that is not text (a default) is one value."""
    if isinstance(text, (list, tuple)):
        return [item for part in text for item in split_values(part)]
    if not isinstance(text, str):
        return [text]
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True)
class Cell:
    """One comparison of the sweep: its settings and the swept ones' values."""

    index: int  # 1-based, in the order the cells train
    spec: RunSpec
    values: dict[str, Any]  # swept field: this cell's value

    @property
    def label(self) -> str:
        return describe_values(self.values)


@dataclass(frozen=True)
class Sweep:
    cells: tuple[Cell, ...]
    swept: tuple[str, ...]  # fields given more than one value, in the definition's order
    fixed: dict[str, Any] = field(default_factory=dict)  # the other fields given, at their one value

    def __len__(self) -> int:
        return len(self.cells)


def _clean(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value  # " bf16" from "fp32, bf16" typed by hand


def _checked_axis(name: str, values: Sequence[Any], base: Mapping[str, Any]) -> list[Any]:
    """The distinct values of one field, each validated on its own so that a refusal names the
    field and the value (a cross product would only show the first bad combination)."""
    if name not in SWEEPABLE:
        known = ", ".join(SWEEPABLE)
        raise BadInput(f"{name} cannot be swept; sweep one of {known}", name)
    if not values:
        raise BadInput(f"{name} needs at least one value", name)
    checked: list[Any] = []
    for value in values:
        normalised = getattr(RunSpec.from_dict({**base, name: _clean(value)}), name)
        if normalised not in checked:  # "32,32" or "fp32, fp32" is one value
            checked.append(normalised)
    return checked


def expand_sweep(axes: Mapping[str, Sequence[Any]], base: Mapping[str, Any] | None = None) -> Sweep:
    """Every combination of ``axes`` (field: values) over ``base`` (the other settings), as RunSpecs.

    Raises BadInput naming the field for a bad value, an unknown or empty field, or a product
    larger than MAX_CELLS, before anything is prepared or stored.
    """
    base = dict(base or {})
    RunSpec.from_dict(base)  # a bad fixed setting is refused as itself, not as the first axis's problem
    # Each value is checked beside the other fields' first values, as the first cells will hold
    # them: a value is refused alone only when no cell could take it.
    anchor = {**base, **{name: _clean(values[0]) for name, values in axes.items() if name in SWEEPABLE and len(values)}}
    checked = {name: _checked_axis(name, list(values), anchor) for name, values in axes.items()}
    count = math.prod(len(values) for values in checked.values())
    if count > MAX_CELLS:
        sizes = " × ".join(f"{len(v)} {name}" for name, v in checked.items() if len(v) > 1)
        widest = max(checked, key=lambda name: len(checked[name]))
        raise BadInput(f"a sweep of {count} comparisons ({sizes}) is more than the limit of {MAX_CELLS}; "
                       "sweep fewer values", widest)
    swept = tuple(name for name, values in checked.items() if len(values) > 1)
    fixed = {name: values[0] for name, values in checked.items() if len(values) == 1}
    cells = []
    for index, combination in enumerate(itertools.product(*checked.values()), start=1):
        chosen = dict(zip(checked, combination, strict=True))
        try:
            spec = RunSpec.from_dict({**base, **chosen})
        except BadInput as error:  # values fine alone but not together (seed with repeats, say)
            raise BadInput(f"{describe_values({n: chosen[n] for n in swept})}: {error}", error.field) from None
        cells.append(Cell(index, spec, {name: chosen[name] for name in swept}))
    return Sweep(tuple(cells), swept, fixed)


def check_sweep(sweep: Sweep, frameworks: list[str]) -> None:
    """Check every cell against the frameworks and its prepared data, as a comparison is checked
    before it is queued; a refusal names the cell. Nothing is stored."""
    from core.compare import plan_comparison

    for cell in sweep.cells:
        try:
            plan_comparison(cell.spec, frameworks)
        except BadInput as error:
            raise BadInput(f"{cell.label}: {error}" if sweep.swept else str(error), error.field) from None


def new_sweep_id() -> str:
    from core.store import new_id

    return new_id()


def enqueue_sweep(store: Any, sweep: Sweep, frameworks: list[str], *, owner: str | None = None,
                  policy: Any = None) -> tuple[str, list[str]]:
    """Check every cell, then queue each as a comparison for the job runner; (sweep id, job ids).

    All cells are checked before the first is queued, so a refusal leaves no half sweep behind.
    With a public ``policy`` (core.public_mode.PublicPolicy, enabled) the whole sweep must fit
    the queue at once and each cell the public bounds, checked and queued under the public
    queue lock so that two visitors cannot both take the last places.
    """
    from core.jobs import enqueue

    sweep_id = new_sweep_id()
    if policy is None or not policy.enabled:
        check_sweep(sweep, frameworks)
        return sweep_id, [enqueue(store, cell.spec, frameworks, sweep_id=sweep_id, owner=owner) for cell in sweep.cells]
    from core.public_mode import check_many, make_room, queue_lock

    with queue_lock:
        specs = check_many(store, [cell.spec for cell in sweep.cells], owner, policy)
        bounded = Sweep(tuple(Cell(cell.index, spec, cell.values) for cell, spec in zip(sweep.cells, specs, strict=True)),
                        sweep.swept, sweep.fixed)
        try:
            check_sweep(bounded, frameworks)
            return sweep_id, [enqueue(store, cell.spec, frameworks, sweep_id=sweep_id, owner=owner)
                              for cell in bounded.cells]
        finally:  # refused or not, the cells may have prepared their data
            make_room(store, policy)


def cancel_sweep(store: Any, sweep_id: str) -> int:
    """Cancel every comparison of the sweep still waiting or training; returns how many were asked.

    Each is cancelled as the Train page's Cancel does (core.jobs.request_cancel): a queued one at
    once, the one training at its next step."""
    from core.jobs import active_jobs, request_cancel

    ours = {c["id"] for c in store.list_comparisons() if c.get("sweep_id") == sweep_id}
    jobs = [job for job in active_jobs(store) if job["comparison_id"] in ours]
    for job in jobs:
        request_cancel(store, job["id"])
    return len(jobs)


# --- time estimate ----------------------------------------------------------------------------


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


def speed_history(store: Any, limit: int = 20) -> list[ObservedSpeed]:
    """Speeds of the latest ``limit`` comparisons in the store (the estimate's evidence)."""
    latest = store.list_comparisons()[:limit]
    return observed_speeds([store.comparison(c["id"]) for c in latest])


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


# --- results ------------------------------------------------------------------------------------


def list_sweeps(store: Any) -> list[dict[str, Any]]:
    """One entry per sweep in the store, newest first: id, created, cells, runs, finished, failed."""
    sweeps: dict[str, dict[str, Any]] = {}
    for summary in store.list_comparisons():
        sweep_id = summary.get("sweep_id")
        if not sweep_id:
            continue
        entry = sweeps.setdefault(sweep_id, {"sweep_id": sweep_id, "created_at": summary["created_at"], "cells": 0,
                                             "runs": 0, "finished": 0, "failed": 0,
                                             "architectures": set(), "datasets": set()})
        entry["created_at"] = min(entry["created_at"], summary["created_at"])
        entry["cells"] += 1
        for key in ("runs", "finished", "failed"):
            entry[key] += summary.get(key) or 0
        entry["architectures"].add(summary["architecture"])
        entry["datasets"].add(summary["dataset"])
    listed = sorted(sweeps.values(), key=lambda entry: entry["created_at"], reverse=True)
    for entry in listed:
        entry["architectures"] = sorted(entry["architectures"])
        entry["datasets"] = sorted(entry["datasets"])
    return listed


def sweep_comparisons(store: Any, sweep_id: str) -> list[dict[str, Any]]:
    """The sweep's comparisons with their runs, in the order they were queued (cell order)."""
    ids = [c["id"] for c in sorted(store.list_comparisons(), key=lambda c: c["created_at"]) if c.get("sweep_id") == sweep_id]
    if not ids:
        raise BadInput(f"no sweep with id {sweep_id!r}; `python -m core runs list` shows the sweep of each comparison",
                       "sweep")
    return [store.comparison(comparison_id) for comparison_id in ids]


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


def _peak_memory(results: list[Any]) -> tuple[float | None, str | None]:
    """Median peak memory: the device's when the runs measured one, else the process's host RSS."""
    for key, kind in (("peak_device_memory_bytes", "device"), ("peak_host_rss_bytes", "host")):
        values = [float(r.figure(key)) for r in results if r.figure(key)]
        if values:
            return statistics.median(values), kind
    return None, None


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
                "framework": FRAMEWORK_LABELS.get(framework, framework), "framework_name": framework,
                "baseline": baseline, "status": _status(runs), "runs": len(runs), "finished_runs": len(results),
                "failure_kind": failure_kind, "failure": failure,
                "images_per_second": _median(speeds), "images_per_second_low": low, "images_per_second_high": high,
                "peak_memory_bytes": peak, "peak_memory_mib": peak / 2**20 if peak else None, "memory_kind": memory_kind,
                "test_accuracy": _median(accuracies),
                "ratio_of": None if baseline else f"{FRAMEWORK_LABELS.get(frameworks[0], frameworks[0])} / "
                                                  f"{FRAMEWORK_LABELS.get(framework, framework)}",
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
