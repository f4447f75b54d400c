"""The projection of runs still needed, against the interval it projects."""

import math

import numpy as np
import pytest

from core.analysis.equivalence import classify_ratio
from core.analysis.runs_needed import describe_runs_needed, runs_needed
from core.analysis.uncertainty import ratio_interval


def figures(ratio: float, spread: float, runs: int) -> tuple[np.ndarray, np.ndarray]:
    """Runs whose log figures have exactly the given mean difference and standard deviation."""
    unit = np.linspace(-1, 1, runs)
    unit = unit / unit.std(ddof=1)
    return np.exp(math.log(ratio) + spread * unit), np.exp(spread * unit)


def test_the_projected_count_of_runs_does_settle_the_interval():
    spread, runs = 0.10, 3
    first, second = figures(1.25, spread, runs)
    assert classify_ratio(ratio_interval(first, second).low, ratio_interval(first, second).high).outcome == "undecided"
    more = runs_needed(math.log(1.25), [spread, spread], runs)
    assert more is not None and more > 0
    settled, short = figures(1.25, spread, runs + more), figures(1.25, spread, runs + more - 1)
    assert ratio_interval(*settled).excludes(1.0)
    assert not ratio_interval(*short).excludes(1.0)


def test_an_estimate_inside_the_band_asks_for_runs_that_fit_the_interval_inside_it():
    spread, runs = 0.03, 3
    more = runs_needed(math.log(1.01), [spread, spread], runs, margin=0.05)
    assert more is not None
    interval = ratio_interval(*figures(1.01, spread, runs + more))
    assert classify_ratio(interval.low, interval.high, 0.05).outcome == "equivalent"


def test_more_noise_or_a_smaller_difference_needs_more_runs():
    base = runs_needed(math.log(1.2), [0.1, 0.1], 2)
    assert base > 1
    assert runs_needed(math.log(1.2), [0.2, 0.2], 2) > base
    assert runs_needed(math.log(1.1), [0.1, 0.1], 2) > base
    assert runs_needed(math.log(1.2), [0.1, 0.1], 3) == base - 1  # runs already made count


def test_far_from_decided_is_not_within_the_limit():
    assert runs_needed(math.log(1.001), [0.3, 0.3], 3, limit=50) is None
    assert describe_runs_needed(None, limit=50) == "not within 50 more paired runs"


def test_identical_repeats_need_nothing_more():
    assert runs_needed(math.log(1.2), [0.0, 0.0], 2) == 0


def test_one_paired_spread_uses_n_minus_one_degrees_of_freedom():
    # With a single spread s, the half-width at n pairs is t(0.975, n-1) s / sqrt(n).
    more = runs_needed(math.log(1.1), [0.1], 2)
    from scipy import stats
    n = 2 + more
    assert stats.t.ppf(0.975, n - 1) * 0.1 / math.sqrt(n) < math.log(1.1) <= stats.t.ppf(0.975, n - 2) * 0.1 / math.sqrt(n - 1)


def test_a_projection_needs_a_spread():
    with pytest.raises(ValueError):
        runs_needed(0.1, [0.1], 1)


def test_the_sentence():
    assert describe_runs_needed(4) == "about 4 more paired runs would settle it"
    assert describe_runs_needed(1, paired=False) == "about 1 more run of each would settle it"
