"""The machine as the dashboard reports it: host, GPUs (NVML), framework installs and their views."""

from __future__ import annotations

import importlib.metadata
from typing import Any

from core.engine.device_lock import BUSY, device_lock
from core.engine.runner import Executor, ProcessExecutor
from core.engine.work import ProbeJob
from core.frameworks import REGISTRY
from core.train.measure import host_environment

# Each framework's own packages, then what they and the dashboard build on.
PACKAGES = tuple(dict.fromkeys([*(p for f in REGISTRY.values() for p in f.packages),
                                "torchvision", "jaxlib", "streamlit", "numpy", "nvidia-ml-py"]))
SMALL_HOST_BYTES = 4 * 2**30


def installed_versions() -> dict[str, str | None]:
    """Versions from package metadata: no framework is imported to learn them."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        versions[name] = None
        # A hosted profile installs CPU-only builds, some published as "<name>-cpu".
        for distribution in (name, f"{name}-cpu"):
            try:
                versions[name] = importlib.metadata.version(distribution)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return versions


def nvml_gpus() -> tuple[list[dict[str, Any]], str | None]:
    """(GPUs with name and memory, driver version), or ([], None) without an NVIDIA driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return [], None
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append({"index": index, "name": name.decode() if isinstance(name, bytes) else name,
                         "memory_total_bytes": int(memory.total), "memory_used_bytes": int(memory.used)})
        return gpus, driver.decode() if isinstance(driver, bytes) else driver
    finally:
        pynvml.nvmlShutdown()


def probe_frameworks(executor: Executor | None = None) -> dict[str, dict[str, Any]]:
    """Ask each framework, in its own worker, which devices it sees.

    Under the device lock, like a comparison: a probe starts a framework on the device (and
    takes memory), so it never runs beside a measured run, nor beside another visitor's probe.
    """
    with device_lock(wait=False) as free:
        if not free:
            return {name: {"error": BUSY} for name in REGISTRY}
        return _probe_each(executor or ProcessExecutor())


def _probe_each(executor: Executor) -> dict[str, dict[str, Any]]:
    answers: dict[str, dict[str, Any]] = {}
    for name, framework in REGISTRY.items():
        if not framework.installed:
            answers[name] = {"error": f"not installed (needs {', '.join(framework.packages)})"}
            continue
        outcome = executor.run(ProbeJob(framework=name))
        if outcome.status == "finished" and outcome.result is not None:
            answers[name] = outcome.result
        else:
            answers[name] = {"error": (outcome.error or {}).get("message")}
    return answers


def expectations(host: dict[str, Any], gpus: list[dict[str, Any]]) -> list[str]:
    """Plain notes on what this machine can do, shown on the System page."""
    notes = []
    if not gpus:
        notes.append("No GPU: both frameworks train on the CPU. The default comparison (digits, cnn) takes well under "
                     "a minute; CIFAR-sized models take minutes per epoch, so start with a subset "
                     "(Max images under the Train page's More settings, or --max-images).")
    if host["host_memory_bytes"] < SMALL_HOST_BYTES:
        notes.append(
            f"Only {host['host_memory_bytes'] / 2**30:.1f} GiB of memory (as on Streamlit Community Cloud, about 2.7 GB): "
            "each training worker needs about 0.7 GiB on top of the dashboard, so keep to digits, shapes or small "
            "subsets (Max images, --max-images), one comparison at a time (the queue already ensures that)."
        )
    return notes


def system_report() -> dict[str, Any]:
    host = host_environment()
    gpus, driver = nvml_gpus()
    return {"host": host, "gpus": gpus, "driver": driver, "versions": installed_versions(),
            "notes": expectations(host, gpus)}
