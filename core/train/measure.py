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


def training_threads(requested: int | None = None, usable: int | None = None) -> int:
    """Threads each framework trains with: ``requested``, or every usable core.

    Every core is what each framework would use on its own, so a person timing their own training
    loop and a Twinbench run measure the same thing, and a comparison gets the whole machine.
    What else runs while a comparison trains (the dashboard redrawing its page, the browser, the
    CLI's progress bar) must then keep out of the way rather than be given a core: on a machine
    with few cores the Train page refreshes rarely and draws its curves at the end
    (core.views.watching), and a run that was disturbed all the same is flagged unsteady by the
    verdict. ``--threads`` still leaves cores free where that is wanted. Both frameworks get the
    same number, for intra-op and inter-op work alike, and every run records it.
    """
    if requested:
        return requested
    cores = usable_cpu_count() if usable is None else usable
    return max(1, cores)


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


def nvml_handle_for_cuda_device(nvml: Any, visible_devices: str | None) -> Any:
    """The NVML handle of the GPU that CUDA calls device 0.

    CUDA numbers GPUs after ``CUDA_VISIBLE_DEVICES``; NVML always by physical index, or by UUID.
    """
    first = (visible_devices or "").split(",")[0].strip()
    if not first:
        return nvml.nvmlDeviceGetHandleByIndex(0)
    if first.isdigit():
        return nvml.nvmlDeviceGetHandleByIndex(int(first))
    return nvml.nvmlDeviceGetHandleByUUID(first)


class NvmlSampler:
    """Samples this process's GPU memory through NVML every 50 ms and keeps the peak.

    NVML sees what the driver gives the process (allocator pools, CUDA context, cuDNN and
    cuBLAS workspaces), which the frameworks' own counters leave out; both are reported.
    ``scope`` says what the peak is: "process", or "device" when NVML never listed this process
    (containers often hide PIDs) and the whole GPU's use, other programs included, stands in.
    """

    def __init__(self, enabled: bool = True, interval_seconds: float = 0.05, nvml: Any = None) -> None:
        self.interval_seconds = interval_seconds
        self.scope: str | None = None
        self._process_peak: int | None = None
        self._device_peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle = None
        if not enabled:
            return
        try:
            if nvml is None:
                import pynvml

                pynvml.nvmlInit()
                nvml = pynvml
            self._nvml = nvml
            self._handle = nvml_handle_for_cuda_device(nvml, os.environ.get("CUDA_VISIBLE_DEVICES"))
        except Exception:  # no NVIDIA driver: NVML figures are simply absent
            self._handle = None

    @property
    def available(self) -> bool:
        return self._handle is not None

    def sample(self) -> None:
        if self._handle is None:
            return
        try:
            pid = os.getpid()
            for process in self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle):
                if process.pid == pid and process.usedGpuMemory is not None:
                    self._process_peak = max(self._process_peak or 0, int(process.usedGpuMemory))
            self._device_peak = max(self._device_peak or 0, int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used))
        except Exception:
            return

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self.sample()

    def start(self) -> None:
        if self.available:
            self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
            self._thread.start()

    def stop(self) -> int | None:
        """The peak: this process's if NVML ever listed it, else the whole device's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self.sample()
        if self._process_peak is not None:
            self.scope = "process"
            return self._process_peak
        if self._device_peak is not None:
            self.scope = "device"
        return self._device_peak
