"""Smoothing for noisy curves, as TensorBoard does it (pure functions, no plotting here).

TensorBoard's smoothing slider is an exponential moving average whose start is debiased: a plain
EMA that starts from 0 would drag the first points towards 0, so each value is divided by the
weight the EMA has actually accumulated so far, ``1 - weight ** n`` after ``n`` finite points.
Missing values (None, NaN, ±inf) are passed through and do not move the average.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# The slider's range: 0 is no smoothing, 1 would be a flat line at the first value.
MAX_SMOOTHING = 0.99


def clamp_smoothing(weight: float) -> float:
    """A smoothing weight within [0, MAX_SMOOTHING]; anything that is not a number reads as 0."""
    try:
        value = float(weight)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(value):
        return 0.0
    return min(max(value, 0.0), MAX_SMOOTHING)


def ema(values: Iterable[float | None], weight: float) -> list[float]:
    """TensorBoard's debiased exponential moving average of ``values`` with smoothing ``weight``.

    ``weight`` 0 returns the values unchanged; a missing value stays missing (as NaN) and is
    skipped by the average.
    """
    weight = clamp_smoothing(weight)
    smoothed: list[float] = []
    last = 0.0
    accumulated = 0
    for value in values:
        number = math.nan if value is None else float(value)
        if not math.isfinite(number):
            smoothed.append(math.nan)
            continue
        last = last * weight + (1 - weight) * number
        accumulated += 1
        smoothed.append(last / (1 - weight**accumulated))
    return smoothed
