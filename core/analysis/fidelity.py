"""The harness against a minimal loop: how much of the frameworks' speed the harness keeps.

Pure functions for planning and arithmetic; ``core.engine.fidelity_run`` runs the workers.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

TARGET_RATIO = 0.95


def alternating_plan(repeats: int) -> list[str]:
    """Harness and minimal loop one after the other, swapping which goes first each repeat."""
    plan: list[str] = []
    for repeat in range(repeats):
        plan += ["harness", "minimal"] if repeat % 2 == 0 else ["minimal", "harness"]
    return plan


@dataclass(frozen=True)
class Fidelity:
    harness_images_per_second: float
    minimal_images_per_second: float
    ratio: float
    ratio_low: float
    ratio_high: float

    @property
    def meets_target(self) -> bool:
        return self.ratio >= TARGET_RATIO


def fidelity(harness: list[float], minimal: list[float]) -> Fidelity:
    """Ratio of medians, with the range from each repeat's own pair (harness i over minimal i)."""
    if not harness or len(harness) != len(minimal):
        raise ValueError("need one minimal-loop figure per harness figure")
    pairs = [h / m for h, m in zip(harness, minimal, strict=True)]
    harness_median, minimal_median = statistics.median(harness), statistics.median(minimal)
    return Fidelity(harness_median, minimal_median, harness_median / minimal_median, min(pairs), max(pairs))
