"""The verdict's statistics against values worked out independently of scipy."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.analysis.uncertainty import mcnemar_exact, mean_difference_interval, ratio_interval, step_bootstrap_ratio
from core.correctness import pack_correct, unpack_correct


def exact_mcnemar_by_hand(only_first: int, only_second: int) -> float:
    """Two-sided exact p: twice the smaller binomial tail, capped at 1."""
    n, k = only_first + only_second, min(only_first, only_second)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def correctness(both: int, only_first: int, only_second: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    first = [True] * both + [True] * only_first + [False] * only_second + [False] * neither
    second = [True] * both + [False] * only_first + [True] * only_second + [False] * neither
    return np.array(first), np.array(second)


def test_mcnemar_on_a_small_table_matches_the_hand_computation():
    # 1 image only the first got right, 6 only the second: p = 2 * (C(7,0) + C(7,1)) / 2^7 = 0.125.
    test = mcnemar_exact(*correctness(50, 1, 6, 3))
    assert (test.only_first, test.only_second) == (1, 6)
    assert test.p_value == pytest.approx(0.125)


def test_mcnemar_on_the_textbook_table():
    # The classic 2x2 table (101 / 121 / 59 / 33): 121 discordant one way, 59 the other.
    test = mcnemar_exact(*correctness(101, 121, 59, 33))
    assert test.p_value == pytest.approx(exact_mcnemar_by_hand(121, 59), rel=1e-9)
    assert test.p_value < 1e-4


def test_mcnemar_without_discordant_images_finds_no_difference():
    assert mcnemar_exact(*correctness(10, 0, 0, 5)).p_value == 1.0


def test_mcnemar_refuses_different_test_sets():
    with pytest.raises(ValueError, match="different test sets"):
        mcnemar_exact([True, False], [True])


@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40))
def test_mcnemar_is_symmetric_and_agrees_with_the_binomial_by_hand(both, only_first, only_second, neither):
    first, second = correctness(both, only_first, only_second, neither)
    forward, backward = mcnemar_exact(first, second), mcnemar_exact(second, first)
    assert forward.p_value == pytest.approx(backward.p_value)
    expected = exact_mcnemar_by_hand(only_first, only_second) if only_first + only_second else 1.0
    assert forward.p_value == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_paired_t_interval_matches_the_table_value():
    # Mean 2, standard deviation 1, n 3: 2 ± t(0.975, 2) / sqrt(3), t = 4.302653 from tables.
    interval = mean_difference_interval([1.0, 2.0, 3.0])
    half = 4.302653 / math.sqrt(3)
    assert interval.estimate == 2.0
    assert interval.low == pytest.approx(2 - half, abs=1e-5) and interval.high == pytest.approx(2 + half, abs=1e-5)
    assert not interval.excludes(0.0)
    assert mean_difference_interval([1.0, 1.2, 0.9, 1.1]).excludes(0.0)


def test_one_pair_has_no_interval():
    interval = mean_difference_interval([1.5])
    assert interval.estimate == 1.5 and not interval.known and not interval.excludes(0.0)


def test_ratio_interval_covers_a_known_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    true_ratio, covered, trials = 1.3, 0, 400
    for _ in range(trials):
        first = true_ratio * 1000 * np.exp(rng.normal(0, 0.1, size=3))
        second = 1000 * np.exp(rng.normal(0, 0.1, size=3))
        interval = ratio_interval(first, second)
        covered += interval.low <= true_ratio <= interval.high
    assert 0.90 <= covered / trials <= 0.99


def test_ratio_interval_of_identical_repeats_is_exact_and_of_single_runs_unknown():
    exact = ratio_interval([200.0, 200.0], [100.0, 100.0])
    assert exact.estimate == pytest.approx(2.0) and exact.low == exact.high == exact.estimate
    single = ratio_interval([200.0], [100.0])
    assert single.estimate == pytest.approx(2.0) and not single.known


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1.0, 1e6), min_size=2, max_size=6), st.lists(st.floats(1.0, 1e6), min_size=2, max_size=6))
def test_ratio_interval_contains_its_estimate_and_inverts_with_the_order(first, second):
    forward, backward = ratio_interval(first, second), ratio_interval(second, first)
    assert forward.low <= forward.estimate * (1 + 1e-9) and forward.estimate <= forward.high * (1 + 1e-9)
    assert forward.estimate == pytest.approx(1 / backward.estimate)
    assert forward.low == pytest.approx(1 / backward.high) and forward.high == pytest.approx(1 / backward.low)


def test_step_bootstrap_contains_the_known_speed_ratio_of_two_runs():
    rng = np.random.default_rng(3)
    fast = rng.gamma(20, 0.1, size=400)  # mean step 2 ms
    slow = rng.gamma(20, 0.15, size=400)  # mean step 3 ms: the first run is 1.5x faster
    interval = step_bootstrap_ratio(fast, slow)
    assert interval.low < 1.5 < interval.high and interval.high - interval.low < 0.2
    assert interval.samples == 1 and interval.method == "bootstrap over steps"


@given(st.lists(st.booleans(), max_size=300))
def test_per_image_correctness_round_trips_through_text(values):
    correct = np.array(values, dtype=bool)
    assert unpack_correct(pack_correct(correct), len(correct)).tolist() == correct.tolist()
