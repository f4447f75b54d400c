"""Energy per image from a cumulative energy counter: the arithmetic, with no counter in sight.

A counter (NVML's total energy of a GPU, Linux RAPL's per-package energy) only ever grows, in
fixed units, except that RAPL's wraps to zero past its range. What a run spent on its images is
the counter's growth over the steady-state windows, less what the machine draws when idle over
the same seconds, divided by the images trained in those windows. ``core.train.energy`` reads
the counters inside the worker and hands the readings here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

# The counters update every ~20-100 ms (NVML) or ~1 ms (RAPL): over a window of 2 s, one update
# more or less moves the figure by 5 % at most. Shorter windows are refused rather than guessed.
MIN_WINDOW_SECONDS = 2.0
# Idle power is read over this long just before training starts (a few counter updates).
IDLE_SECONDS = 1.0
NOT_MEASURABLE = "not measurable here"


@dataclass(frozen=True)
class CounterReading:
    """A counter read at ``seconds`` (the run's clock): one raw count per zone (one for a GPU)."""

    seconds: float
    counts: tuple[int, ...]


def counts_between(start: int, end: int, wrap_range: int | None) -> int:
    """How far one zone's counter grew from ``start`` to ``end``, across at most one wrap-around.

    ``wrap_range`` is the count at which the counter starts again from zero (RAPL's
    ``max_energy_range_uj``), None for a counter that never wraps.
    """
    if end >= start:
        return end - start
    if wrap_range is None:
        raise ValueError(f"the energy counter went backwards ({start} to {end}) and does not wrap")
    return wrap_range - start + end


def joules_between(start: CounterReading, end: CounterReading, wrap_ranges: Sequence[int | None],
                   joules_per_count: float) -> float:
    """The energy all zones together took from ``start`` to ``end``, in joules."""
    if not len(start.counts) == len(end.counts) == len(wrap_ranges):
        raise ValueError("the two readings do not cover the same zones")
    grown = sum(counts_between(a, b, wrap) for a, b, wrap in zip(start.counts, end.counts, wrap_ranges, strict=True))
    return grown * joules_per_count


def average_watts(joules: float, seconds: float) -> float | None:
    return joules / seconds if seconds > 0 else None


@dataclass(frozen=True)
class EnergyFigures:
    """What a run reports about energy; ``energy_note`` says which counter measured it, or why nothing was."""

    energy_joules_per_image: float | None
    energy_idle_watts: float | None
    energy_window_seconds: float | None
    energy_note: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def not_measured(note: str = NOT_MEASURABLE, idle_watts: float | None = None,
                 window_seconds: float | None = None) -> EnergyFigures:
    return EnergyFigures(None, idle_watts, window_seconds, note)


def energy_per_image(window_joules: float, window_seconds: float, idle_watts: float | None, images: int,
                     counter_name: str) -> EnergyFigures:
    """Joules per image over the steady windows, idle power subtracted.

    Refused (None, with the reason) when the windows are too short for the counter's updates,
    when idle power is unknown, or when the run drew no more than idle: then the counter's
    resolution, not the training, would be what the figure measures.
    """
    if idle_watts is None:
        return not_measured(f"{counter_name}: idle power unknown", None, window_seconds)
    if window_seconds < MIN_WINDOW_SECONDS or images <= 0:
        return not_measured(f"{counter_name}: steady window {window_seconds:.2f} s, under the "
                            f"{MIN_WINDOW_SECONDS:.0f} s its updates need", idle_watts, window_seconds)
    above_idle = window_joules - idle_watts * window_seconds
    if above_idle <= 0:
        return not_measured(f"{counter_name}: training drew no more than the idle {idle_watts:.1f} W",
                            idle_watts, window_seconds)
    return EnergyFigures(above_idle / images, idle_watts, window_seconds,
                         f"{counter_name}, {window_seconds:.1f} s steady, idle {idle_watts:.1f} W subtracted")
