"""Which figures a "run until decided" comparison still waits on, and how that reads as it goes.

The figures are those whose verdict more repeats can change: training speed, peak memory and
warm-up, each a ratio of one framework's figure to the baseline's. Each is judged at every look by
the sequential plan (core.analysis.sequential) on the figures of the repeats both frameworks
finished, paired by repeat; the comparison is decided when every one of them is a winner or
equivalent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from core.analysis.equivalence import DEFAULT_MARGIN, format_margin
from core.analysis.ratio_text import format_ratio, readable_interval
from core.analysis.runs_needed import RUNS_NEEDED_LIMIT, describe_runs_needed
from core.analysis.sequential import Look, look
from core.analysis.verdict import comparison_frameworks, finished_runs
from core.frameworks import label
from core.records import Comparison, Run
from core.results import PEAK_MEMORY_FIGURES

# (topic, figure keys in order of preference): memory is the device's where there is one.
SETTLED_FIGURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Training speed", ("steady_images_per_second",)),
    ("Memory", tuple(key for key, _ in PEAK_MEMORY_FIGURES)),
    ("Warm-up", ("warmup_seconds",)),
)


@dataclass(frozen=True)
class FigureLook:
    """One figure of one pair of frameworks at one look."""

    topic: str
    key: str
    first: str  # the baseline: ratios are first / second
    second: str
    look: Look

    @property
    def decided(self) -> bool:
        return self.look.decided


def figure_look(topic: str, key: str, first: str, second: str, first_values: Sequence[float],
                second_values: Sequence[float], margin: float = DEFAULT_MARGIN) -> FigureLook:
    """The sequential look at one figure's paired values (one per repeat both finished)."""
    return FigureLook(topic, key, first, second, look(first_values, second_values, margin))


def paired_figures(runs: Sequence[Run], first: str, second: str, key: str) -> tuple[list[float], list[float]]:
    """``key`` of each repeat that both frameworks finished with it measured, in repeat order."""
    def by_repeat(framework: str) -> dict[int, float]:
        measured = {run.repeat: run.result.figure(key) for run in finished_runs(runs, framework) if run.result}
        return {repeat: float(value) for repeat, value in measured.items() if value is not None and value > 0}

    mine, theirs = by_repeat(first), by_repeat(second)
    repeats = sorted(mine.keys() & theirs.keys())
    return [mine[r] for r in repeats], [theirs[r] for r in repeats]


def comparison_looks(comparison: Comparison, margin: float = DEFAULT_MARGIN,
                     baseline: str | None = None) -> list[FigureLook]:
    """Every settled figure of the baseline against each other framework, at this look."""
    frameworks = comparison_frameworks(comparison, baseline)
    looks = []
    for other in frameworks[1:]:
        for topic, keys in SETTLED_FIGURES:
            named = topic if len(frameworks) == 2 else f"{topic} ({label(other)})"
            for key in keys:
                first_values, second_values = paired_figures(comparison.runs, frameworks[0], other, key)
                if first_values:
                    looks.append(figure_look(named, key, frameworks[0], other, first_values, second_values, margin))
                    break
    return looks


def seconds_per_repeat(comparison: Comparison) -> float | None:
    """How long the latest repeat took, from its first run's start to its last run's end."""
    runs = comparison.runs
    if not runs:
        return None
    latest = max(run.repeat for run in runs)
    spans = [(run.started_at, run.finished_at) for run in runs if run.repeat == latest]
    starts, ends = [start for start, _ in spans if start], [end for _, end in spans if end]
    return max(ends) - min(starts) if starts and ends else None


def all_decided(looks: Sequence[FigureLook]) -> bool:
    return bool(looks) and all(figure.decided for figure in looks)


def most_pairs_needed(looks: Sequence[FigureLook]) -> int | None:
    """The pairs the slowest undecided figure still needs; None when one is not within reach."""
    needed = [figure.look.runs_needed for figure in looks if not figure.decided]
    if any(more is None for more in needed):
        return None
    return max((more for more in needed if more is not None), default=0)


def _state(figure: FigureLook, margin: float) -> str:
    interval, outcome = figure.look.interval, figure.look.classification.outcome
    ratio = format_ratio(interval.estimate) if 0 < interval.estimate < math.inf else "?"
    if outcome == "equivalent":
        return f"{figure.topic} equivalent (±{format_margin(margin)})"
    if outcome == "winner":
        return f"{figure.topic} {ratio} decided"
    more = figure.look.runs_needed
    still = f"{more} more" if more is not None else f"over {RUNS_NEEDED_LIMIT} more"
    return f"{figure.topic} {ratio} ({readable_interval(interval)}; {still})"


def progress_line(looks: Sequence[FigureLook], margin: float = DEFAULT_MARGIN) -> str:
    """'5 pairs, PyTorch / TensorFlow · Training speed 1.02× (99.8 % CI 0.97–1.08×; 3 more) · Memory
    equivalent (±5 %)': the ratios are the baseline's figure over the other's."""
    pairs = min((figure.look.interval.samples for figure in looks), default=0)
    compared = list(dict.fromkeys((figure.first, figure.second) for figure in looks))
    heading = f"{pairs} pairs" + (f", {label(compared[0][0])} / {label(compared[0][1])}" if len(compared) == 1 else "")
    return " · ".join([heading, *(_state(figure, margin) for figure in looks)])


def why_undecided(figure: FigureLook) -> str:
    """'Training speed: undecided after 12 pairs (99.6 % CI 0.97–1.09×), the interval includes equal
    and reaches beyond ±5 %; about 6 more paired runs would settle it'."""
    interval, classification = figure.look.interval, figure.look.classification
    return (f"{figure.topic}: undecided after {interval.samples} pairs ({readable_interval(interval)}), "
            f"{classification.reason}; {describe_runs_needed(figure.look.runs_needed)}")
