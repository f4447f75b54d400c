"""RunResult: what a finished run measured, the one shape that the verdict, charts, tables and
the store read.

The worker checks each result against it before reporting it, so a backend that misnames or
forgets a figure fails its tests rather than leaving a blank column. Results stored by other
versions may carry figures this one does not know: they are kept (``extra="allow"``), so an
export stays lossless.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import TwinbenchError


class RunResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    # How it ran: "eager", "tf.function", "XLA", "torch.compile", ... with precision and layout.
    mode: str | None = None
    # Speed: steady state (after warm-up), each step window timed between device synchronisations.
    steady_images_per_second: float | None = None
    step_ms_median: float | None = None
    step_ms_p90: float | None = None
    warmup_steps: int | None = None
    warmup_seconds: float | None = None
    first_step_seconds: float | None = None
    compile_seconds: float | None = None
    train_seconds: float | None = None
    steps_per_epoch: int | None = None
    time_to_target_seconds: float | None = None
    target_accuracy: float | None = None
    # Memory: the framework's allocator, NVML beside it, and the worker's peak resident set.
    peak_device_memory_bytes: int | None = None
    device_memory_reserved_bytes: int | None = None
    nvml_memory_used_bytes: int | None = None
    nvml_memory_scope: str | None = None
    peak_host_rss_bytes: int | None = None
    # Energy: joules per steady-state image above idle power, the idle power and the steady
    # seconds behind it, and which counter measured it or why nothing did (core.analysis.energy).
    energy_joules_per_image: float | None = None
    energy_idle_watts: float | None = None
    energy_window_seconds: float | None = None
    energy_note: str | None = None
    # The model as built.
    params: int | None = None
    trainable_params: int | None = None
    non_trainable_params: int | None = None
    flops_per_image: int | None = None
    # Accuracy on the test set; which images it got right (packed bits) feed the paired test.
    test_accuracy: float | None = None
    test_loss: float | None = None
    test_correct_bits: str | None = None
    test_images: int | None = None
    test_evaluation_seconds: float | None = None
    # Inference after training.
    inference_ms_batch1: float | None = None
    inference_images_per_second: float | None = None
    inference_timing_seconds: float | None = None
    # Evidence for the fairness and steadiness checks.
    data_order_sha256: str | None = None
    host_load_average_1m: float | None = None

    def figure(self, key: str) -> Any:
        """A figure by name, None when this run did not measure it (or this version does not know it)."""
        return getattr(self, key, None)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


def checked_result(figures: dict[str, Any]) -> RunResult:
    """A backend's figures as a RunResult, refusing any the contract does not name."""
    try:
        result = RunResult.model_validate(figures)
    except ValidationError as error:
        raise TwinbenchError(f"the run's figures do not fit RunResult: {error.errors()[0]}") from None
    if result.model_extra:
        raise TwinbenchError(f"the run reported figures RunResult does not name: {', '.join(sorted(result.model_extra))}")
    return result


MIB = 2**20
# Which figure is a run's peak memory, and where it was measured, in order of preference: the
# device allocator's peak when the run measured one (a GPU run), else its worker's peak host RSS
# (a CPU run). Every table, chart, verdict and probe that speaks of "peak memory" reads this.
PEAK_MEMORY_FIGURES = (("peak_device_memory_bytes", "device"), ("peak_host_rss_bytes", "host"))


def peak_memory_figure(results: Iterable[RunResult]) -> tuple[str, str] | None:
    """The figure (and where it was measured) that is the peak memory of ``results``: the first of
    PEAK_MEMORY_FIGURES any of them measured; None when none measured any."""
    measured = list(results)
    for key, where in PEAK_MEMORY_FIGURES:
        if any(result.figure(key) is not None for result in measured):
            return key, where
    return None


def peak_memory_bytes(result: RunResult | None) -> tuple[int | None, str]:
    """A run's peak memory in bytes and where it was measured ("device" or "host"); (None, "")
    when it measured neither."""
    found = peak_memory_figure([result]) if result is not None else None
    if result is None or found is None:
        return None, ""
    key, where = found
    return int(result.figure(key)), where


def peak_memory(result: RunResult | None) -> tuple[float | None, str]:
    """A run's peak memory in MiB and where it was measured (see PEAK_MEMORY_FIGURES)."""
    peak, where = peak_memory_bytes(result)
    return (None, "") if peak is None else (peak / MIB, where)
