"""Intervals a person can read; the JSON keeps what the display rounds."""

from core.analysis.ratio_text import confidence_percent, format_ratio, ratio_range, readable_interval
from core.analysis.uncertainty import Interval


def test_precision_follows_the_size_of_the_ratio():
    assert [format_ratio(r) for r in (1.284, 0.9649, 18.49, 4398.2, 0.0431)] == ["1.28×", "0.96×", "18×", "4398×", "0.043×"]


def test_an_interval_that_bounds_something_is_printed_with_its_confidence():
    assert readable_interval(Interval(1.55, 1.501, 1.603, 3, "t")) == "95 % CI 1.50–1.60×"
    assert ratio_range(0.96, 0.98) == "0.96–0.98"


def test_an_interval_wider_than_a_factor_of_ten_says_there_are_too_few_runs():
    interval = Interval(1.1, 0.0003, 4398.0, 2, "t")
    assert readable_interval(interval) == "too few runs to bound (n = 2 each)"
    assert interval.as_dict()["high"] == 4398.0  # the export keeps the figure


def test_a_confidence_short_of_100_percent_never_reads_as_100():
    assert [confidence_percent(c) for c in (0.95, 0.975, 0.99583, 0.999976)] == ["95", "97.5", "99.58", "99.998"]


def test_no_interval_says_so():
    assert readable_interval(Interval(1.2, None, None, 1, "t")) == "no interval"
