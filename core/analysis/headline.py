"""The headline: two answers that are always shown together, because they answer different questions.

*Time to train this* is the end-to-end training time for the chosen epochs, warm-up and compile
included; *steady speed* is what a longer run converges to. On a short run warm-up and compile can
dominate, so the framework with the higher steady speed may still finish later. When both answers
have a winner and the winners differ, the break-even says for how many steps the quicker starter
stays ahead. Both answers are the verdict's own ratio decisions (core.analysis.verdict), so winner,
equivalent and undecided mean what they mean everywhere else (docs/statistics.md).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.analysis.equivalence import DEFAULT_MARGIN
from core.analysis.ratio_text import format_ratio
from core.analysis.verdict import Decision, comparison_frameworks, finished_runs, ratio_decision
from core.frameworks import label
from core.records import Comparison, Run

TIME_TO_TRAIN = "Time to train this"
STEADY_SPEED = "Steady speed"
BREAK_EVEN = "Break-even"


@dataclass(frozen=True)
class Cost:
    """A framework's training time as a straight line in steps: a fixed cost (warm-up and compile,
    the part of its training time its steady steps do not explain) plus a time per steady step."""

    fixed_seconds: float
    step_seconds: float


@dataclass(frozen=True)
class BreakEven:
    """The run length beyond which the steady-speed winner also finishes first."""

    steps: int
    images: int
    sentence: str

    def as_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "images": self.images, "sentence": self.sentence}


@dataclass(frozen=True)
class Headline:
    """The two answers for one pair of frameworks, and the break-even when their winners differ."""

    first: str
    second: str
    time_to_train: Decision | None
    steady_speed: Decision | None
    break_even: BreakEven | None

    def answers(self) -> list[tuple[str, str]]:
        """(label, answer) for each line: both answers, then the break-even when there is one."""
        lines = [(TIME_TO_TRAIN, _answer(self.time_to_train, TIME_TO_TRAIN)),
                 (STEADY_SPEED, _answer(self.steady_speed, STEADY_SPEED))]
        if self.break_even is not None:
            lines.append((BREAK_EVEN, self.break_even.sentence))
        return lines

    def lines(self) -> list[str]:
        """'Time to train this: PyTorch is 1.25× quicker end to end than TensorFlow (...).' and the rest."""
        return [f"{name}: {answer}" for name, answer in self.answers()]

    def as_dict(self) -> dict[str, Any]:
        return {
            "frameworks": [self.first, self.second],
            "time_to_train": self.time_to_train.as_dict() if self.time_to_train else None,
            "steady_speed": self.steady_speed.as_dict() if self.steady_speed else None,
            "break_even": self.break_even.as_dict() if self.break_even else None,
        }


def _answer(decision: Decision | None, topic: str) -> str:
    """The decision's sentence without its topic, which the line's label already says."""
    if decision is None:
        return "not measured by these runs."
    return decision.sentence.removeprefix(f"{topic}: ")


def pair_headline(runs: Sequence[Run], first: str, second: str, margin: float = DEFAULT_MARGIN) -> Headline | None:
    """Both answers for ``first`` against ``second``; None when neither could be given."""
    time_to_train = ratio_decision(runs, first, second, TIME_TO_TRAIN, "train_seconds", False,
                                   "quicker end to end than", True, margin)
    steady_speed = ratio_decision(runs, first, second, STEADY_SPEED, "steady_images_per_second", True,
                                  "faster than", True, margin)
    if time_to_train is None and steady_speed is None:
        return None
    return Headline(first, second, time_to_train, steady_speed, break_even(runs, time_to_train, steady_speed))


def headlines(comparison: Comparison, baseline: str | None = None, margin: float = DEFAULT_MARGIN) -> list[Headline]:
    """One headline per other framework, each against the baseline (by default the first framework)."""
    frameworks = comparison_frameworks(comparison, baseline)
    found = (pair_headline(comparison.runs, frameworks[0], other, margin) for other in frameworks[1:])
    return [headline for headline in found if headline is not None]


def cost(runs: Sequence[Run], framework: str) -> Cost | None:
    """The framework's fixed cost and steady step time from the medians of its finished runs: the
    steady step is batch / steady images/s (the mean step, as the speed answer measures it), and
    the fixed cost is the median training time less the run's steps at that pace."""
    finished = finished_runs(runs, framework)
    results = [run.result for run in finished if run.result]
    train = [result.train_seconds for result in results if result.train_seconds]
    speed = [result.steady_images_per_second for result in results if result.steady_images_per_second]
    steps = [run.result.steps_per_epoch * run.spec.epochs for run in finished if run.result and run.result.steps_per_epoch]
    if not train or not speed or not steps:
        return None
    step_seconds = finished[0].spec.batch_size / statistics.median(speed)
    return Cost(statistics.median(train) - statistics.median(steps) * step_seconds, step_seconds)


def break_even(runs: Sequence[Run], time_to_train: Decision | None, steady_speed: Decision | None) -> BreakEven | None:
    """How many steps the steady-speed winner needs before it also finishes first.

    Only when both answers name a winner and the winners differ: a break-even drawn from an
    equivalent or undecided difference would be a number the runs do not support."""
    if time_to_train is None or steady_speed is None or steady_speed.interval is None:
        return None
    if not time_to_train.winner or not steady_speed.winner:
        return None
    steady, starter = steady_speed.winner, time_to_train.winner
    if steady == starter:
        return None
    steady_cost, starter_cost = cost(runs, steady), cost(runs, starter)
    if steady_cost is None or starter_cost is None:
        return None
    extra_fixed = steady_cost.fixed_seconds - starter_cost.fixed_seconds
    saved_per_step = starter_cost.step_seconds - steady_cost.step_seconds
    if extra_fixed <= 0 or saved_per_step <= 0:
        return None  # the medians do not draw two lines that cross
    steps = math.ceil(extra_fixed / saved_per_step)
    batch = finished_runs(runs, steady)[0].spec.batch_size
    sentence = (f"{label(steady)}'s steady speed is {format_ratio(steady_speed.interval.estimate)} {label(starter)}'s, "
                f"but its warm-up and compile take {extra_fixed:.2g} s longer, so {label(starter)} finishes first for "
                f"runs under ~{rounded(steps):,} steps (~{rounded(steps * batch):,} images).")
    return BreakEven(steps, steps * batch, sentence)


def rounded(count: int) -> int:
    """Two significant digits (3,967 → 4,000; 47 stays 47): a break-even is an estimate, not a count."""
    if count < 100:
        return count
    magnitude = 10 ** (len(str(count)) - 2)
    return round(count / magnitude) * magnitude
