"""Three outcomes for a ratio with its interval: a winner, equivalent within a margin, or undecided.

A margin M says how close two figures must be to count as the same for practical purposes: the
band [1/(1 + M), 1 + M] on the ratio scale, symmetric on the log scale, so that "A within 5 % of
B" and "B within 5 % of A" are the same statement. With the interval of the ratio:

- *winner*: the interval excludes 1 and does not lie entirely inside the band;
- *equivalent*: the whole interval lies inside the band (even when it excludes 1, the difference
  is then real but smaller than anyone asked about);
- *undecided*: neither, because the interval is still wider than the data can settle.

The rule is the confidence-interval form of two one-sided tests. With the 95 % interval each
one-sided test runs at 2.5 %, stricter than the textbook 90 % interval (5 % each): one interval
then answers both questions and is the one the verdict prints, so a reader who sees "95 % CI
0.96–0.98×" and the band ±5 % can check the outcome by eye (docs/statistics.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.errors import BadInput

DEFAULT_MARGIN = 0.05
Outcome = Literal["winner", "equivalent", "undecided"]


def equivalence_band(margin: float = DEFAULT_MARGIN) -> tuple[float, float]:
    """The ratios that count as equal: [1/(1 + margin), 1 + margin]."""
    return 1.0 / (1.0 + margin), 1.0 + margin


def inside_band(low: float | np.ndarray, high: float | np.ndarray, margin: float = DEFAULT_MARGIN) -> bool | np.ndarray:
    """Whether the whole interval [low, high] lies inside the band (elementwise for arrays)."""
    bottom, top = equivalence_band(margin)
    return (np.asarray(low) >= bottom) & (np.asarray(high) <= top)


def excludes_equal(low: float | np.ndarray, high: float | np.ndarray) -> bool | np.ndarray:
    """Whether the interval [low, high] leaves out a ratio of 1 (elementwise for arrays)."""
    return (np.asarray(low) > 1.0) | (np.asarray(high) < 1.0)


@dataclass(frozen=True)
class Classification:
    """The outcome for one interval, and why it is undecided when it is."""

    outcome: Outcome
    reason: str | None = None


def classify_ratio(low: float | None, high: float | None, margin: float = DEFAULT_MARGIN) -> Classification:
    """The outcome for a ratio whose interval is [low, high]; None bounds mean no interval."""
    if low is None or high is None:
        return Classification("undecided", "there is no interval yet")
    if bool(inside_band(low, high, margin)):
        return Classification("equivalent")
    if bool(excludes_equal(low, high)):
        return Classification("winner")
    return Classification("undecided", f"the interval includes equal and reaches beyond ±{format_margin(margin)}")


def format_margin(margin: float) -> str:
    """0.05 as '5 %', 0.025 as '2.5 %'."""
    return f"{100 * margin:g} %"


def parse_margin(text: str | float) -> float:
    """'5%', '5 %', '0.05' and '5' all mean a margin of 0.05: a number of 1 or more is in percent."""
    raw = str(text).strip()
    percent = raw.endswith("%")
    try:
        value = float(raw.rstrip("%").strip())
    except ValueError:
        raise BadInput(f"equivalence margin must be a number such as 5% or 0.05, not {raw!r}", "equivalence") from None
    if percent or value >= 1:
        value /= 100
    if not (math.isfinite(value) and 0 < value < 1):
        raise BadInput(f"equivalence margin must be above 0 and below 100 %, not {raw!r}", "equivalence")
    return value
