"""How much the live Train page may do while a comparison trains (pure, but for the GPU check).

On a machine with few cores, the page's refreshes and the browser drawing them take CPU from
the run being measured: with the Train page redrawing every 2 s, the default comparison on the
2-core development machine measured about a fifth slower than from the CLI
(docs/benchmarks.md). Training takes every core (core.train.measure.training_threads), so the
page keeps out of its way by refreshing less often and drawing the curves once the comparison
has finished (Plotly redraws were most of what the browser spent).
"""

from __future__ import annotations

from dataclasses import dataclass

# Up to this many usable cores, a watched CPU run shares the machine with the page and browser.
FEW_CORES = 4


@dataclass(frozen=True)
class WatchPolicy:
    refresh_seconds: float
    live_curves: bool  # redraw the curves as epochs arrive, or only once the comparison has ended
    note: str | None  # said on the page when the page holds back


def watch_policy(trains_on_cpu: bool, usable_cores: int) -> WatchPolicy:
    if not trains_on_cpu or usable_cores > FEW_CORES:
        return WatchPolicy(2.0, True, None)
    return WatchPolicy(
        6.0, False,
        f"Training on this machine's {usable_cores} CPU cores: this page updates every 6 s and redraws the curves "
        "only when you reload it or the comparison has finished, so that watching does not slow the runs it measures.",
    )


def trains_on_cpu(device_setting: str) -> bool:
    """Whether a comparison with this device setting trains on the CPU here (NVML, no framework)."""
    if device_setting == "cpu":
        return True
    from core.engine.system import nvml_gpus

    return not nvml_gpus()[0]
