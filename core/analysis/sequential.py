"""Run until decided: a look after every new pair of runs, with the error rate spread over the looks.

Looking at a 95 % interval after every pair and stopping at the first that excludes 1 would
name a false winner far more often than 5 % of the time: every look is another chance for the
noise to cross. The plan spends the error rate instead: look k (k = 1 at the first pair count
looked at) uses alpha_k = alpha / (k (k + 1)). These sum to alpha over any number of looks
(1/(k (k + 1)) = 1/k − 1/(k + 1) telescopes to 1), so by the union bound the chance that any
look's interval misses the true ratio, and so the chance of a false winner, stays under alpha
however long the comparison runs. The price is wider intervals at later looks, slowly: alpha_k
shrinks as 1/k², the t quantile only as √log k.

Each look's interval is a paired t interval on the log ratios of the pairs (both frameworks back
to back, same seed and order), which removes whatever the two runs of a pair share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from core.analysis.equivalence import DEFAULT_MARGIN, Classification, classify_ratio
from core.analysis.runs_needed import RUNS_NEEDED_LIMIT, runs_needed
from core.analysis.uncertainty import CONFIDENCE, Interval

ALPHA = 1 - CONFIDENCE
FIRST_LOOK = 2  # pairs: the first count with a spread
METHOD = "paired t on log ratios, error rate spent over looks"


def alpha_at(pairs: int | np.ndarray) -> float | np.ndarray:
    """The error rate the look at ``pairs`` pairs may spend."""
    look = np.asarray(pairs) - FIRST_LOOK + 1
    return ALPHA / (look * (look + 1.0))


def confidence_at(pairs: int) -> float:
    """The confidence of the interval at the look after ``pairs`` pairs."""
    return float(1 - alpha_at(pairs))


def look_bounds(log_differences: np.ndarray | Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The ratio's interval at every look, from FIRST_LOOK pairs up to all of them.

    ``log_differences`` holds log(first / second) of each pair in the order they ran, along the
    last axis; leading axes (simulated trials, say) are kept. Returns the lower and upper bounds,
    on the ratio scale, with one entry per look along the last axis.
    """
    differences = np.asarray(log_differences, dtype=float)
    pairs = np.arange(1, differences.shape[-1] + 1, dtype=float)
    mean = np.cumsum(differences, axis=-1) / pairs
    # Variance of the first n differences for every n, from running sums of the deviations from
    # the first difference (shifting keeps the subtraction well conditioned).
    shifted = differences - differences[..., :1]
    shifted_mean = np.cumsum(shifted, axis=-1) / pairs
    squares = np.cumsum(shifted * shifted, axis=-1)
    looked = slice(FIRST_LOOK - 1, None)
    n = pairs[looked]
    variance = np.maximum(squares[..., looked] - n * shifted_mean[..., looked] ** 2, 0.0) / (n - 1)
    quantile = stats.t.ppf(1 - alpha_at(n) / 2, n - 1)
    half_width = quantile * np.sqrt(variance / n)
    return np.exp(mean[..., looked] - half_width), np.exp(mean[..., looked] + half_width)


def sequential_interval(first: Sequence[float], second: Sequence[float]) -> Interval:
    """first / second over paired runs, at the confidence of the look after all of them."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.size != b.size:
        raise ValueError(f"paired runs need as many of each ({a.size} and {b.size})")
    differences = np.log(a) - np.log(b)
    estimate = float(np.exp(differences.mean()))
    if a.size < FIRST_LOOK:
        return Interval(estimate, None, None, int(a.size), METHOD)
    low, high = look_bounds(differences)
    return Interval(estimate, float(low[-1]), float(high[-1]), int(a.size), METHOD, confidence_at(int(a.size)))


@dataclass(frozen=True)
class Look:
    """Where one figure stands after the pairs so far."""

    interval: Interval
    classification: Classification
    runs_needed: int | None  # more pairs the projection asks for; 0 once decided

    @property
    def decided(self) -> bool:
        return self.classification.outcome != "undecided"


def look(first: Sequence[float], second: Sequence[float], margin: float = DEFAULT_MARGIN,
         limit: int = RUNS_NEEDED_LIMIT) -> Look:
    """The sequential interval of paired figures, its outcome and the pairs still needed."""
    interval = sequential_interval(first, second)
    classification = classify_ratio(interval.low, interval.high, margin)
    if classification.outcome != "undecided":
        return Look(interval, classification, 0)
    if interval.samples < FIRST_LOOK:
        return Look(interval, classification, FIRST_LOOK - interval.samples)
    differences = np.log(np.asarray(first, dtype=float)) - np.log(np.asarray(second, dtype=float))
    needed = runs_needed(float(differences.mean()), [float(differences.std(ddof=1))], interval.samples, margin,
                         confidence_at, limit)
    return Look(interval, classification, needed)
