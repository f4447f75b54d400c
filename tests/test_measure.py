import os
from types import SimpleNamespace

from core.train.measure import NvmlSampler, nvml_handle_for_cuda_device


class FakeNvml:
    """Stands in for pynvml: GPUs by index and UUID, and the processes NVML lists on each."""

    def __init__(self, processes: list, used: int) -> None:
        self.processes, self.used = processes, used

    def nvmlDeviceGetHandleByIndex(self, index):  # noqa: N802 (pynvml's names)
        return ("index", index)

    def nvmlDeviceGetHandleByUUID(self, uuid):  # noqa: N802
        return ("uuid", uuid)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):  # noqa: N802
        return self.processes

    def nvmlDeviceGetMemoryInfo(self, handle):  # noqa: N802
        return SimpleNamespace(used=self.used)


def test_nvml_reads_the_gpu_that_cuda_calls_device_zero():
    nvml = FakeNvml([], 0)
    assert nvml_handle_for_cuda_device(nvml, None) == ("index", 0)
    assert nvml_handle_for_cuda_device(nvml, "2,3") == ("index", 2)
    assert nvml_handle_for_cuda_device(nvml, "GPU-8a1f,GPU-77c2") == ("uuid", "GPU-8a1f")


def test_the_peak_is_this_processes_when_nvml_lists_it():
    nvml = FakeNvml([SimpleNamespace(pid=os.getpid() + 1, usedGpuMemory=9_000),
                     SimpleNamespace(pid=os.getpid(), usedGpuMemory=1_000)], used=10_000)
    sampler = NvmlSampler(nvml=nvml)
    sampler.sample()
    nvml.processes[1].usedGpuMemory = 3_000
    sampler.sample()
    nvml.processes.pop()  # the process released the GPU
    assert sampler.stop() == 3_000 and sampler.scope == "process"


def test_a_hidden_process_falls_back_to_the_whole_device_and_says_so():
    sampler = NvmlSampler(nvml=FakeNvml([], used=12_000))
    assert sampler.stop() == 12_000 and sampler.scope == "device"


def test_cpu_runs_and_machines_without_nvml_report_nothing():
    disabled = NvmlSampler(enabled=False, nvml=FakeNvml([], used=12_000))
    assert not disabled.available and disabled.stop() is None and disabled.scope is None
