"""Stored comparisons as tidy DataFrames, the input of every chart and table (pure functions)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from core.analysis.figures import METRICS
from core.frameworks import label


def epochs_frame(comparison: dict[str, Any]) -> pd.DataFrame:
    """One row per run and epoch, with cumulative training seconds for time-based curves."""
    rows = []
    for run in comparison["runs"]:
        train_seconds = 0.0
        for epoch in run["epochs"]:
            train_seconds += epoch.get("epoch_seconds") or 0.0
            rows.append({"framework": label(run["framework"]), "repeat": run["repeat"] + 1, "run_id": run["id"],
                         "train_seconds": train_seconds, **epoch})
    columns = ["framework", "repeat", "run_id", "epoch", "train_seconds", "train_loss", "train_accuracy",
               "val_loss", "val_accuracy", "epoch_seconds", "images_per_second"]
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=[*columns, *[c for c in frame.columns if c not in columns]])


def results_frame(comparison: dict[str, Any]) -> pd.DataFrame:
    """One row per finished run with every result figure."""
    keys = [m.key for m in METRICS]
    rows = [
        {"framework": label(run["framework"]), "repeat": run["repeat"] + 1, "run_id": run["id"],
         **{key: run["result"].figure(key) for key in keys}}
        for run in comparison["runs"]
        if run["status"] == "finished" and run["result"]
    ]
    return pd.DataFrame(rows, columns=["framework", "repeat", "run_id", *keys])


def steps_frame(comparison: dict[str, Any], include_warmup: bool = False) -> pd.DataFrame:
    """Step-time samples (ms per step, averaged over each timed window), steady state by default."""
    rows = [
        {"framework": label(run["framework"]), "repeat": run["repeat"] + 1, "epoch": sample["epoch"] + 1,
         "step": sample["step"], "steps": sample["steps"], "milliseconds": sample["milliseconds"],
         "warmup": bool(sample["warmup"])}
        for run in comparison["runs"]
        for sample in run["step_samples"]
        if include_warmup or not sample["warmup"]
    ]
    return pd.DataFrame(rows, columns=["framework", "repeat", "epoch", "step", "steps", "milliseconds", "warmup"])


def runs_frame(comparison: dict[str, Any]) -> pd.DataFrame:
    """Every run, finished or not, with its status and error, for status tables."""
    return pd.DataFrame(
        [{"framework": label(r["framework"]), "repeat": r["repeat"] + 1, "status": r["status"],
          "error": f"{r['error_kind']}: {r['error_message']}" if r["error_kind"] else ""}
         for r in comparison["runs"]],
        columns=["framework", "repeat", "status", "error"],
    )


# What time to target says of a run: it got there, it finished without getting there, or it was
# never measured (no validation split, or a result from a version that did not record a target).
REACHED, NOT_REACHED, NOT_MEASURED = "reached", "not reached", "not measured"


def target_status(run: dict[str, Any], target: float | None = None) -> str:
    """REACHED, NOT_REACHED or NOT_MEASURED for one finished run; ``target`` is the comparison's,
    used when the result does not say which target it was measured against."""
    result = run["result"]
    if result.figure("time_to_target_seconds") is not None:
        return REACHED
    target = result.figure("target_accuracy") if result.figure("target_accuracy") is not None else target
    validated = [e["val_accuracy"] for e in run.get("epochs") or [] if e.get("val_accuracy") is not None]
    if target is None or not validated or max(validated) >= target:
        return NOT_MEASURED  # nothing to compare, or a recorded reach without its time
    return NOT_REACHED


def target_frame(comparison: dict[str, Any]) -> pd.DataFrame:
    """One row per finished run: its time to the target accuracy, whether it got there
    (``status``: REACHED, NOT_REACHED or NOT_MEASURED) and its best validation accuracy."""
    target = (comparison.get("settings") or {}).get("target_accuracy")
    rows = []
    for run in comparison["runs"]:
        if run["status"] != "finished" or not run["result"]:
            continue
        # Summaries built by hand (tests, other tools) may leave out epochs and ids.
        validated = [e["val_accuracy"] for e in run.get("epochs") or [] if e.get("val_accuracy") is not None]
        rows.append({"framework": label(run["framework"]), "repeat": run.get("repeat", 0) + 1, "run_id": run.get("id"),
                     "seconds": run["result"].figure("time_to_target_seconds"), "status": target_status(run, target),
                     "best_val_accuracy": max(validated) if validated else None})
    return pd.DataFrame(rows, columns=["framework", "repeat", "run_id", "seconds", "status", "best_val_accuracy"])


def overlay_epochs_frame(comparisons: list[dict[str, Any]]) -> pd.DataFrame:
    """``epochs_frame`` of several comparisons stacked, with a ``comparison`` column (its id) first,
    in the order given: the input of the overlaid learning curves."""
    frames = [epochs_frame(c).assign(comparison=c["id"]) for c in comparisons]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["comparison", "framework", "repeat", "run_id", "epoch", "train_seconds"])
    frame = pd.concat(frames, ignore_index=True)
    return frame[["comparison", *[c for c in frame.columns if c != "comparison"]]]


def target_note(rows: pd.DataFrame) -> str:
    """What one framework's rows of ``target_frame`` say about the target beside their times, in
    words ("" when all got there): the Compare page's chart and the CLI table both say it so."""
    reached = int((rows["status"] == REACHED).sum())
    if reached == len(rows):
        return ""
    if reached:
        return f"{reached} of {len(rows)} runs reached it"
    if (rows["status"] == NOT_REACHED).any():
        best = rows["best_val_accuracy"].dropna()
        return "not reached" + (f" (best {best.max():.1%})" if len(best) else "")
    return "not measured"
