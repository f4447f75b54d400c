"""Progress bars for the command line: one bar per run, driven by worker events."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from core.frameworks import LABELS as FRAMEWORK_LABELS


class RunProgress:
    """Keeps one tqdm bar per run; safe to feed events from any run in any order."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    def _bar(self, info: dict[str, Any]) -> tqdm:
        key = info["run_id"]
        if key not in self.bars:
            label = FRAMEWORK_LABELS.get(info["framework"], info["framework"])
            repeat = f" #{info['repeat'] + 1}" if info.get("repeat") else ""
            self.bars[key] = tqdm(
                desc=f"{label}{repeat}".ljust(14), total=None, unit="step", file=sys.stderr,
                disable=not self.enabled, leave=True, dynamic_ncols=True,
            )
        return self.bars[key]

    def callback(self, info: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
        """The events of the one run ``info`` describes."""
        return lambda event: self.update(info, event)

    def update(self, info: dict[str, Any], event: dict[str, Any]) -> None:
        bar = self._bar(info)
        kind = event["type"]
        if kind == "started":
            bar.set_postfix_str(event.get("environment", {}).get("device", ""))
        elif kind == "progress":
            bar.total = event["steps_per_epoch"] * event["epochs"]
            bar.n = event["epoch"] * event["steps_per_epoch"] + event["step"]
            bar.refresh()
        elif kind == "epoch":
            accuracy = event.get("val_accuracy")
            if accuracy is None:
                accuracy = event.get("train_accuracy")
            if bar.total and info.get("epochs"):
                bar.n = event["epoch"] * (bar.total // info["epochs"])
                bar.refresh()
            if accuracy is not None:
                bar.set_postfix_str(f"epoch {event['epoch']} acc {100 * accuracy:.1f}%")
        elif kind == "finished":
            if bar.total:
                bar.n = bar.total
            bar.set_postfix_str("done")
            bar.close()
        elif kind == "failed":
            bar.set_postfix_str(f"failed: {event.get('kind')}")
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
