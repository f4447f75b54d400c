"""Progress bars for the command line: one bar per run, driven by worker events.

Each bar shows its run's own rate and time left (tqdm's); while a comparison trains, its postfix
also says how long the whole comparison has run and has left (core.analysis.eta, as the Train page).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from core.analysis.eta import CurrentRun, FinishedRun, PlannedRun, estimate_remaining, format_duration, format_left
from core.frameworks import label


class RunProgress:
    """Keeps one tqdm bar per run; safe to feed events from any run in any order."""

    def __init__(self, enabled: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self.clock = clock
        self.bars: dict[str, tqdm] = {}
        self.status: dict[str, str] = {}  # run id: what its postfix says about the run itself
        self.began: float | None = None  # the first event of any run
        self.run_began: dict[str, float] = {}
        self.finished: list[FinishedRun] = []

    def _bar(self, info: dict[str, Any]) -> tqdm:
        key = info["run_id"]
        if key not in self.bars:
            repeat = f" #{info['repeat'] + 1}" if info.get("repeat") else ""
            self.bars[key] = tqdm(
                desc=f"{label(info['framework'])}{repeat}".ljust(14), total=None, unit="step", file=sys.stderr,
                disable=not self.enabled, leave=True, dynamic_ncols=True,
            )
        return self.bars[key]

    def callback(self, info: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
        """The events of the one run ``info`` describes."""
        return lambda event: self.update(info, event)

    def comparison_summary(self, info: dict[str, Any], event: dict[str, Any]) -> str | None:
        """Elapsed and time left for the whole comparison, e.g. "all runs: 1 min 05 s elapsed, 3 min 10 s left";
        None for a run that is not part of a comparison (bench, the best-of-each trials)."""
        if self.began is None or "runs" not in info or "position" not in info or not info.get("epochs"):
            return None
        now = self.clock()
        steps = event.get("steps_per_epoch") if event["type"] == "progress" else None
        epoch = event.get("epoch", 0)
        current = CurrentRun(info["framework"], info["epochs"], epoch, event.get("step", 0) if steps else 0, steps,
                             now - self.run_began.get(info["run_id"], now))
        later = [PlannedRun(None, info["epochs"])] * max(info["runs"] - info["position"] - 1, 0)
        estimate = estimate_remaining(current, later, self.finished)
        return f"all runs: {format_duration(now - self.began)} elapsed, {format_left(estimate)} left"

    def _postfix(self, bar: tqdm, info: dict[str, Any], event: dict[str, Any]) -> None:
        parts = [self.status.get(info["run_id"], ""), self.comparison_summary(info, event) or ""]
        bar.set_postfix_str(" | ".join(part for part in parts if part))

    def update(self, info: dict[str, Any], event: dict[str, Any]) -> None:
        bar = self._bar(info)
        kind = event["type"]
        now = self.clock()
        if self.began is None:
            self.began = now
        self.run_began.setdefault(info["run_id"], now)
        if kind == "started":
            self.status[info["run_id"]] = event.get("environment", {}).get("device", "")
            self._postfix(bar, info, event)
        elif kind == "progress":
            bar.total = event["steps_per_epoch"] * event["epochs"]
            bar.n = event["epoch"] * event["steps_per_epoch"] + event["step"]
            self._postfix(bar, info, event)
        elif kind == "epoch":
            accuracy = event.get("val_accuracy")
            if accuracy is None:
                accuracy = event.get("train_accuracy")
            if bar.total and info.get("epochs"):
                bar.n = event["epoch"] * (bar.total // info["epochs"])
            if accuracy is not None:
                self.status[info["run_id"]] = f"epoch {event['epoch']} acc {100 * accuracy:.1f}%"
            self._postfix(bar, info, event)
        elif kind == "finished":
            if "runs" in info:  # a run of the comparison, not a best-of-each trial or a bench
                self.finished.append(FinishedRun(info["framework"], now - self.run_began[info["run_id"]]))
            if bar.total:
                bar.n = bar.total
            bar.set_postfix_str("done")
            bar.close()
        elif kind == "failed":
            bar.set_postfix_str(f"failed: {event.get('kind')}")
            bar.close()

    def write(self, line: str) -> None:
        """A line of its own on stderr, above the bars (nothing when the bars are off: --quiet)."""
        if self.enabled:
            tqdm.write(line, file=sys.stderr)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
