"""Sweeps as work: every cell checked against its prepared data before anything is stored, then queued
as ordinary comparisons that share one sweep id; cancelling a sweep; reading a sweep's comparisons back.

The definition (core.sweep_spec) and the figures (core.analysis.sweeps) are pure; this is the part
that touches the store and the queue. No Streamlit here; the Sweep page and ``python -m core sweep``
both use it.
"""

from __future__ import annotations

from typing import Any

from core.analysis.sweeps import ObservedSpeed, observed_speeds
from core.errors import BadInput
from core.sweep_spec import Cell, Sweep


def check_sweep(sweep: Sweep, frameworks: list[str]) -> None:
    """Check every cell against the frameworks and its prepared data, as a comparison is checked
    before it is queued; a refusal names the cell. Nothing is stored."""
    from core.engine.compare import plan_comparison

    for cell in sweep.cells:
        try:
            plan_comparison(cell.spec, frameworks)
        except BadInput as error:
            raise BadInput(f"{cell.label}: {error}" if sweep.swept else str(error), error.field) from None


def new_sweep_id() -> str:
    from core.store.queries import new_id

    return new_id()


def store_sweep(store: Any, sweep: Sweep, frameworks: list[str]) -> tuple[str, list[str]]:
    """Store every cell as a comparison under one new sweep id, to be trained here at once
    (``python -m core sweep``, core.engine.training.sweep_now) rather than by the job runner;
    (sweep id, comparison ids), in the sweep's order."""
    from core.engine.compare import create_comparison

    sweep_id = new_sweep_id()
    return sweep_id, [create_comparison(store, cell.spec, frameworks, sweep_id=sweep_id) for cell in sweep.cells]


def enqueue_sweep(store: Any, sweep: Sweep, frameworks: list[str], *, owner: str | None = None,
                  policy: Any = None) -> tuple[str, list[str]]:
    """Check every cell, then queue each as a comparison for the job runner; (sweep id, job ids).

    All cells are checked before the first is queued, so a refusal leaves no half sweep behind.
    With a public ``policy`` (core.engine.public_mode.PublicPolicy, enabled) the whole sweep must fit
    the queue at once and each cell the public bounds, checked and queued under the public
    queue lock so that two visitors cannot both take the last places.
    """
    from core.engine.jobs import enqueue

    sweep_id = new_sweep_id()
    if policy is None or not policy.enabled:
        check_sweep(sweep, frameworks)
        return sweep_id, [enqueue(store, cell.spec, frameworks, sweep_id=sweep_id, owner=owner) for cell in sweep.cells]
    from core.engine.public_mode import check_many, make_room, queue_lock

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

    Each is cancelled as the Train page's Cancel does (core.engine.jobs.request_cancel): a queued one at
    once, the one training at its next step."""
    from core.engine.jobs import active_jobs, request_cancel

    ours = {c["id"] for c in store.list_comparisons() if c.get("sweep_id") == sweep_id}
    jobs = [job for job in active_jobs(store) if job["comparison_id"] in ours]
    for job in jobs:
        request_cancel(store, job["id"])
    return len(jobs)


def speed_history(store: Any, limit: int = 20) -> list[ObservedSpeed]:
    """Speeds of the latest ``limit`` comparisons in the store (the estimate's evidence)."""
    latest = store.list_comparisons()[:limit]
    return observed_speeds([store.comparison(c["id"]) for c in latest])


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
