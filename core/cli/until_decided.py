"""``compare --until-decided``: after the planned repeats, one more repeat at a time until every
speed, memory and warm-up ratio is decided (core.analysis.settling) or the budget would run out."""

from __future__ import annotations

import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence

from core.analysis.settling import (
    FigureLook,
    all_decided,
    comparison_looks,
    most_pairs_needed,
    progress_line,
    seconds_per_repeat,
    why_undecided,
)
from core.records import Comparison
from core.store.queries import Store

DEFAULT_BUDGET_SECONDS = 120.0


class RepeatUntilDecided:
    """Asked after each repeat whether to train another (core.engine.training.compare_now's
    ``another_repeat``); says where each figure stands on every ask."""

    def __init__(self, store: Store, margin: float, budget_seconds: float, report: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.margin, self.budget_seconds = store, margin, budget_seconds
        self.report, self.clock = report, clock
        self.deadline: float | None = None  # the budget starts when the planned repeats have trained
        self.looks: list[FigureLook] = []
        self.repeat_seconds: float | None = None
        self.out_of_budget = False

    def __call__(self, comparison_id: str) -> bool:
        now = self.clock()
        if self.deadline is None:
            self.deadline = now + self.budget_seconds
        comparison = self.store.comparison(comparison_id)
        self.looks = comparison_looks(comparison, self.margin)
        self.repeat_seconds = seconds_per_repeat(comparison)
        self.report(progress_line(self.looks, self.margin))
        if all_decided(self.looks):
            return False
        self.out_of_budget = now + (self.repeat_seconds or 0.0) > self.deadline
        return not self.out_of_budget


def settle_command(argv: Sequence[str], budget_seconds: float) -> str:
    """The command line again, with --budget set to ``budget_seconds``."""
    kept: list[str] = []
    skip = False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--budget":
            skip = True
        elif not argument.startswith("--budget="):
            kept.append(argument)
    return shlex.join(["python", "-m", "core", *kept, "--budget", f"{math.ceil(budget_seconds)}s"])


def report_undecided(until: RepeatUntilDecided, argv: Sequence[str] | None = None) -> list[str]:
    """Why each figure still undecided is, and the command that would settle them, as lines."""
    undecided = [figure for figure in until.looks if not figure.decided]
    if not undecided:
        return []
    lines = [why_undecided(figure) for figure in undecided]
    more = most_pairs_needed(undecided)
    if more is None or not until.repeat_seconds:
        lines.append("no budget would settle every figure at these spreads: the runs vary too much")
    else:
        command = settle_command(sys.argv[1:] if argv is None else argv,
                                 until.budget_seconds + max(more, 1) * until.repeat_seconds)
        lines.append(f"to settle it: {command}")
    return lines


def describe(comparison: Comparison, until: RepeatUntilDecided) -> str:
    """'decided after 7 repeats' or 'undecided after 12 repeats (the budget ran out)'."""
    repeats = 1 + max((run.repeat for run in comparison.runs), default=-1)
    if all_decided(until.looks):
        return f"until decided: every figure decided after {repeats} repeats"
    why = "the budget ran out" if until.out_of_budget else "no more repeats were possible"
    return f"until decided: still undecided after {repeats} repeats ({why})"
