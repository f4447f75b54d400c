"""Energy counters read inside the worker, and the meter the training loop drives.

Two counters: NVML's total energy of the GPU CUDA calls device 0 (millijoules since the driver
loaded; ``nvmlDeviceGetTotalEnergyConsumption``) for a GPU run, and Linux RAPL's per-package
counters (``/sys/class/powercap/*/energy_uj``, microjoules, wrapping at ``max_energy_range_uj``)
for a CPU run where the kernel lets this user read them. Both count the whole device or package,
other programs included; the idle power measured just before training is what takes the rest out.
The arithmetic is ``core.analysis.energy``; the counter is injected, so it is tested with a fake.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from core.analysis.energy import (
    IDLE_SECONDS,
    CounterReading,
    EnergyFigures,
    average_watts,
    energy_per_image,
    joules_between,
    not_measured,
)
from core.train.measure import nvml_handle_for_cuda_device

POWERCAP = Path("/sys/class/powercap")


class EnergyCounter(Protocol):
    name: str
    joules_per_count: float
    wrap_ranges: tuple[int | None, ...]

    def read(self) -> tuple[int, ...]: ...


class NvmlEnergyCounter:
    """The GPU's total energy in millijoules; it never wraps (64 bits)."""

    name = "NVML total-energy counter"
    joules_per_count = 1e-3
    wrap_ranges: tuple[int | None, ...] = (None,)

    def __init__(self, nvml: Any, handle: Any) -> None:
        self._nvml = nvml
        self._handle = handle

    def read(self) -> tuple[int, ...]:
        return (int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)),)


class RaplEnergyCounter:
    """The CPU packages' energy in microjoules, one counter per package, each wrapping at its range."""

    name = "RAPL package counters"
    joules_per_count = 1e-6

    def __init__(self, zones: list[Path]) -> None:
        self._files = [zone / "energy_uj" for zone in zones]
        self.wrap_ranges: tuple[int | None, ...] = tuple(int((zone / "max_energy_range_uj").read_text()) for zone in zones)

    def read(self) -> tuple[int, ...]:
        return tuple(int(path.read_text()) for path in self._files)


def rapl_packages(root: Path = POWERCAP) -> list[Path]:
    """The readable package zones (``intel-rapl:0``, ...; their sub-zones are parts of them, and a
    platform zone contains them, so either would count twice)."""
    zones = []
    for zone in sorted(root.glob("*-rapl:*")):
        try:
            if (zone / "name").read_text().startswith("package"):
                int((zone / "energy_uj").read_text())
                int((zone / "max_energy_range_uj").read_text())
                zones.append(zone)
        except (OSError, ValueError):  # since Linux 5.10 only root may read energy_uj
            continue
    return zones


def nvml_energy_counter() -> NvmlEnergyCounter | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        counter = NvmlEnergyCounter(pynvml, nvml_handle_for_cuda_device(pynvml, os.environ.get("CUDA_VISIBLE_DEVICES")))
        counter.read()  # GPUs before Volta have no such counter
        return counter
    except Exception:
        return None


def energy_counter(device_kind: str) -> EnergyCounter | None:
    """The counter for a run on ``device_kind``, or None where none can be read."""
    if device_kind == "cuda":
        return nvml_energy_counter()
    zones = rapl_packages()
    return RaplEnergyCounter(zones) if zones else None


class EnergyMeter:
    """Idle power first, then the counter over each steady stretch of training (``start``/``stop``
    around it, both right after a device synchronisation), then joules per image."""

    def __init__(self, counter: EnergyCounter | None, clock: Callable[[], float],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.counter = counter
        self._clock = clock
        self._sleep = sleep
        self._idle_watts: float | None = None
        self._open: CounterReading | None = None
        self._joules = 0.0
        self._seconds = 0.0

    def _reading(self) -> CounterReading:
        assert self.counter is not None
        return CounterReading(self._clock(), self.counter.read())

    def _joules_since(self, start: CounterReading, end: CounterReading) -> float:
        assert self.counter is not None
        return joules_between(start, end, self.counter.wrap_ranges, self.counter.joules_per_count)

    def measure_idle(self, seconds: float = IDLE_SECONDS) -> None:
        if self.counter is None:
            return
        start = self._reading()
        self._sleep(seconds)
        end = self._reading()
        self._idle_watts = average_watts(self._joules_since(start, end), end.seconds - start.seconds)

    def start(self) -> None:
        if self.counter is not None and self._open is None:
            self._open = self._reading()

    def stop(self) -> None:
        if self._open is None:
            return
        end = self._reading()
        self._joules += self._joules_since(self._open, end)
        self._seconds += end.seconds - self._open.seconds
        self._open = None

    def figures(self, images: int) -> EnergyFigures:
        if self.counter is None:
            return not_measured()
        return energy_per_image(self._joules, self._seconds, self._idle_watts, images, self.counter.name)
