"""Ratios and their intervals as a person reads them; the JSON export keeps the full floats."""

from __future__ import annotations

from core.analysis.uncertainty import Interval

# An interval whose top is more than this many times its bottom bounds nothing worth reading
# ("0.00–4398×"): it says that there are too few runs, and is shown as that.
READABLE_SPREAD = 10.0


def ratio_number(ratio: float) -> str:
    """Two decimals below 10 (1.28), whole numbers above (18, 4398), two significant digits
    below 0.1 (0.043), where two decimals would round to nothing."""
    if ratio >= 10:
        return f"{ratio:.0f}"
    if ratio >= 0.1:
        return f"{ratio:.2f}"
    return f"{ratio:.2g}"


def format_ratio(ratio: float) -> str:
    """1.28×, or 18× once the hundredths stop meaning anything."""
    return f"{ratio_number(ratio)}×"


def ratio_range(low: float, high: float) -> str:
    """'1.50–1.60'."""
    return f"{ratio_number(low)}–{ratio_number(high)}"


def bounded(interval: Interval) -> bool:
    """Whether the interval is narrow enough to be worth printing as numbers."""
    if interval.low is None or interval.high is None:
        return False
    return interval.low > 0 and interval.high <= READABLE_SPREAD * interval.low


def readable_interval(interval: Interval) -> str:
    """'95 % CI 1.50–1.60×', 'too few runs to bound (n = 2 each)', or 'no interval'."""
    if interval.low is None or interval.high is None:
        return "no interval"
    if not bounded(interval):
        return f"too few runs to bound (n = {interval.samples} each)"
    return f"{confidence_percent(interval.confidence)} % CI {ratio_range(interval.low, interval.high)}×"


def confidence_percent(confidence: float) -> str:
    """95, 99.58, 99.998: enough digits that a confidence short of 100 % never reads as 100."""
    digits = 4
    while confidence < 1 and f"{100 * confidence:.{digits}g}" == "100" and digits < 17:
        digits += 1
    return f"{100 * confidence:.{digits}g}"
