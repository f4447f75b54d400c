"""Framework-free measurement: step-time statistics, host memory, NVML, machine description."""

from __future__ import annotations

import os
import platform
import resource
import sys
import threading
from typing import Any

import numpy as np


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def peak_rss_bytes() -> int:
    """The kernel's record of this process's peak resident set size (exact, unlike sampling)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) * (1 if sys.platform == "darwin" else 1024)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def host_environment() -> dict[str, Any]:
    import psutil

    return {
        "cpu": cpu_name(),
        "cpu_count": usable_cpu_count(),
        "host_memory_bytes": int(psutil.virtual_memory().total),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
    }


class NvmlSampler:
    """Samples this process's GPU memory through NVML every 50 ms and keeps the peak.

    NVML sees what the driver gives the process (allocator pools, CUDA context, cuDNN and
    cuBLAS workspaces), which the frameworks' own counters leave out; both are reported.
    """

    def __init__(self, device_index: int = 0, interval_seconds: float = 0.05) -> None:
        self.interval_seconds = interval_seconds
        self.peak_bytes: int | None = None
        self.driver: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
            driver = pynvml.nvmlSystemGetDriverVersion()
            self.driver = driver.decode() if isinstance(driver, bytes) else driver
        except Exception:  # no NVIDIA driver: NVML figures are simply absent
            self._handle = None

    @property
    def available(self) -> bool:
        return self._handle is not None

    def read_bytes(self) -> int | None:
        if self._handle is None:
            return None
        try:
            pid = os.getpid()
            for process in self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle):
                if process.pid == pid and process.usedGpuMemory is not None:
                    return int(process.usedGpuMemory)
            # Containers often hide other PIDs from NVML; fall back to the whole device.
            return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)
        except Exception:
            return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            reading = self.read_bytes()
            if reading is not None:
                self.peak_bytes = max(self.peak_bytes or 0, reading)

    def start(self) -> None:
        if self.available:
            self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
            self._thread.start()

    def stop(self) -> int | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        reading = self.read_bytes()
        if reading is not None:
            self.peak_bytes = max(self.peak_bytes or 0, reading)
        return self.peak_bytes
