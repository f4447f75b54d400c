"""Intervals and tests behind the verdict (pure functions over numbers; scipy does the distributions).

Three questions, three methods (docs/statistics.md says why each fits):

- *Is one framework faster, leaner, quicker to warm up?* Figures such as images/s are positive and
  vary by a factor from run to run, so they are compared as a ratio: a Welch t interval on the
  logarithms of the per-run figures, turned back into a ratio of geometric means. With a single run
  per framework there is no run-to-run spread to use; a bootstrap over the run's steps then gives
  the step-to-step part of the noise only, and the verdict says so.
- *Did these two trained models score differently on the same test images?* Exact McNemar test
  on the images that exactly one of them got right.
- *Does one framework train more accurate models?* Across seeds, the mean of the paired
  differences (same seed, same test images) with a Student t interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A point estimate with its two-sided interval; ``low``/``high`` are None when there is none."""

    estimate: float
    low: float | None
    high: float | None
    samples: int  # independent observations per side behind the interval (runs or seeds)
    method: str
    confidence: float = CONFIDENCE

    @property
    def known(self) -> bool:
        return self.low is not None and self.high is not None

    def excludes(self, value: float) -> bool:
        return self.known and not (self.low <= value <= self.high)  # type: ignore[operator]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class McNemar:
    """Images only the first model got right, only the second got right, and the exact p-value."""

    only_first: int
    only_second: int
    p_value: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(first_correct: Sequence[bool] | np.ndarray, second_correct: Sequence[bool] | np.ndarray) -> McNemar:
    """Exact (binomial) McNemar test of two classifiers scored on the same images.

    Images both got right or both got wrong say nothing about which is better; under "equally
    accurate" each discordant image is a fair coin, so the count of one kind is Binomial(n, 1/2).
    """
    first, second = np.asarray(first_correct, dtype=bool), np.asarray(second_correct, dtype=bool)
    if first.shape != second.shape:
        raise ValueError(f"the two runs were scored on different test sets ({first.size} and {second.size} images)")
    only_first = int(np.sum(first & ~second))
    only_second = int(np.sum(~first & second))
    discordant = only_first + only_second
    p_value = 1.0 if discordant == 0 else float(stats.binomtest(only_first, discordant, 0.5).pvalue)
    return McNemar(only_first, only_second, p_value)


def mean_difference_interval(differences: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean of paired differences with a Student t interval (no interval from a single pair)."""
    values = np.asarray(differences, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return Interval(mean, None, None, int(values.size), "paired t")
    if np.all(values == values[0]):
        return Interval(mean, mean, mean, int(values.size), "paired t")
    low, high = stats.ttest_1samp(values, 0.0).confidence_interval(confidence)
    return Interval(mean, float(low), float(high), int(values.size), "paired t")


def ratio_interval(first: Sequence[float], second: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """first / second as a ratio of geometric means, with a Welch t interval on the logarithms.

    Needs two or more positive figures on each side; with fewer the interval is left unknown.
    """
    a, b = np.log(np.asarray(first, dtype=float)), np.log(np.asarray(second, dtype=float))
    estimate = float(np.exp(a.mean() - b.mean()))
    samples = int(min(a.size, b.size))
    if samples < 2:
        return Interval(estimate, None, None, samples, "Welch t on log ratios")
    if a.var() == 0 and b.var() == 0:
        # Identical repeats (parameter counts, deterministic memory): the ratio is exact.
        return Interval(estimate, estimate, estimate, samples, "Welch t on log ratios")
    result = stats.ttest_ind(a, b, equal_var=False)
    low, high = result.confidence_interval(confidence)
    return Interval(estimate, math.exp(low), math.exp(high), samples, "Welch t on log ratios")


def step_bootstrap_ratio(first_steps_ms: Sequence[float], second_steps_ms: Sequence[float],
                         confidence: float = CONFIDENCE, resamples: int = BOOTSTRAP_RESAMPLES,
                         seed: int = 0) -> Interval:
    """Speed of one run against another (second's mean step over first's), resampling each run's
    steps: the step-to-step part of the noise within two single runs, not the run-to-run part."""
    a, b = np.asarray(first_steps_ms, dtype=float), np.asarray(second_steps_ms, dtype=float)
    estimate = float(b.mean() / a.mean())
    if a.size < 2 or b.size < 2:
        return Interval(estimate, None, None, 1, "bootstrap over steps")
    result = stats.bootstrap(
        (a, b), lambda x, y, axis=-1: np.mean(y, axis=axis) / np.mean(x, axis=axis),
        n_resamples=resamples, confidence_level=confidence, method="percentile", vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return Interval(estimate, float(result.confidence_interval.low), float(result.confidence_interval.high), 1,
                    "bootstrap over steps")

