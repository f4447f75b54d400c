"""Winner, equivalent or undecided: the band and the rule, and the margin as people write it."""

import math

import pytest

from core.analysis.equivalence import classify_ratio, equivalence_band, format_margin, parse_margin
from core.errors import BadInput


def test_the_band_is_symmetric_on_the_log_scale():
    low, high = equivalence_band(0.05)
    assert high == pytest.approx(1.05) and low == pytest.approx(1 / 1.05)
    assert math.log(high) == pytest.approx(-math.log(low))


@pytest.mark.parametrize(("low", "high", "outcome"), [
    (1.50, 1.60, "winner"),  # clear of 1 and of the band
    (1.02, 1.10, "winner"),  # excludes 1, reaches beyond the band
    (0.60, 0.90, "winner"),  # the other way round
    (0.96, 0.98, "equivalent"),  # a real difference, smaller than the margin
    (0.97, 1.03, "equivalent"),
    (1 / 1.05, 1.05, "equivalent"),  # the band's own edges count as inside
    (0.61, 1.66, "undecided"),
    (0.99, 1.08, "undecided"),  # includes 1, reaches beyond the band
])
def test_three_outcomes(low, high, outcome):
    assert classify_ratio(low, high, 0.05).outcome == outcome


def test_only_undecided_has_a_reason():
    assert classify_ratio(1.5, 1.6).reason is None and classify_ratio(0.97, 1.01).reason is None
    assert "includes equal" in classify_ratio(0.8, 1.3).reason
    assert classify_ratio(None, None).outcome == "undecided"


def test_a_wider_margin_turns_a_narrow_winner_into_equivalent():
    assert classify_ratio(1.02, 1.08, 0.05).outcome == "winner"
    assert classify_ratio(1.02, 1.08, 0.10).outcome == "equivalent"


@pytest.mark.parametrize("text", ["5%", "5 %", " 5% ", "0.05", "5", 0.05, 5])
def test_margins_as_people_write_them(text):
    assert parse_margin(text) == pytest.approx(0.05)


def test_fractional_percent_and_formatting():
    assert parse_margin("2.5%") == pytest.approx(0.025)
    assert format_margin(0.05) == "5 %" and format_margin(0.025) == "2.5 %"


@pytest.mark.parametrize("text", ["five", "0", "-3%", "100%", "150", "nan"])
def test_margins_that_cannot_work_are_refused_in_one_line(text):
    with pytest.raises(BadInput, match="equivalence margin"):
        parse_margin(text)
