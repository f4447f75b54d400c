"""How many more runs would settle a ratio: a projection from the spreads seen so far.

The projection assumes the spreads and the estimate stay what they are and asks when the t
interval of the log ratio, narrowing as 1/√n, would settle the question the estimate points at:
exclude 1 when the estimate lies outside the equivalence band, fit inside the band when it lies
inside. It is a planning figure ("about N more"), not a promise: the next runs move both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from scipy import stats

from core.analysis.equivalence import DEFAULT_MARGIN
from core.analysis.uncertainty import CONFIDENCE

# Beyond this many more runs the answer is "not within N runs": the projection is too rough to
# count that far, and nobody would queue so many.
RUNS_NEEDED_LIMIT = 200


def _degrees_of_freedom(variances: Sequence[float], runs: int) -> float:
    """Welch-Satterthwaite for equal run counts per side; n − 1 for one (paired) spread."""
    if len(variances) == 1:
        return runs - 1.0
    total, squares = sum(variances), sum(v * v for v in variances)
    return (runs - 1.0) * total * total / squares


def _half_width(variances: Sequence[float], runs: int, confidence: float) -> float:
    quantile = stats.t.ppf(0.5 + confidence / 2, _degrees_of_freedom(variances, runs))
    return float(quantile * math.sqrt(sum(variances) / runs))


def _constant(confidence: float) -> Callable[[int], float]:
    return lambda _runs: confidence


def runs_needed(log_ratio: float, spreads: Sequence[float], runs: int, margin: float = DEFAULT_MARGIN,
                confidence: float | Callable[[int], float] = CONFIDENCE,
                limit: int = RUNS_NEEDED_LIMIT) -> int | None:
    """More runs of each side (or more pairs) after ``runs`` until the interval would decide;
    None when not within ``limit``.

    ``log_ratio`` is the log of the current estimate; ``spreads`` the standard deviations of the
    log figures, one per framework (independent runs, Welch) or one of the paired log
    differences. ``confidence`` may depend on the number of runs, as a sequential plan's does.
    """
    if runs < 2:
        raise ValueError("a projection needs the spread of at least two runs")
    variances = [float(s) ** 2 for s in spreads]
    band = math.log1p(margin)
    distance = abs(log_ratio)
    # Inside the band the interval must fit inside it; outside, it must stop short of equal.
    room = band - distance if distance < band else distance
    if sum(variances) == 0:
        return 0 if room > 0 else None
    if room <= 0:
        return None
    level = confidence if callable(confidence) else _constant(confidence)
    for more in range(limit + 1):
        total = runs + more
        if _half_width(variances, total, level(total)) < room:
            return more
    return None


def describe_runs_needed(more: int | None, limit: int = RUNS_NEEDED_LIMIT, paired: bool = True) -> str:
    """'about 6 more paired runs would settle it', or 'not within 200 more runs'."""
    kind = "paired runs" if paired else "runs of each"
    if more is None:
        return f"not within {limit} more {kind}"
    more = max(more, 1)  # asked while still undecided, so at least one more
    return f"about {more} more {kind if more > 1 else kind.replace('runs', 'run')} would settle it"
