"""Each framework's fast modes, and picking the fastest one for a comparison ("best of each").

Pure functions: the candidates a framework is tried in, and the choice from measured speeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.frameworks import get


def torch_compile_mode(compile_setting: str) -> str | None:
    """torch.compile's mode for a spec's compile setting, or None for eager."""
    return {"off": None, "on": "default"}.get(compile_setting, compile_setting)


def run_mode_label(name: str, spec: Any) -> str:
    """How a run executes, as shown beside every result: compiler, precision, memory layout, input pipeline."""
    framework = get(name)
    mode = torch_compile_mode(spec.compile)
    if mode is None or framework.compiler is None:
        parts = [framework.plain_mode]
    else:
        named = framework.compiler_modes_named and mode != "default"
        parts = [framework.compiler + (f" ({mode})" if named else "")]
    if spec.precision == "bf16":
        parts.append("bf16")
    if framework.channels_last and getattr(spec, "channels_last", False):
        parts.append("channels_last")
    if getattr(spec, "data_pipeline", "device") == "native" and framework.native_pipeline:
        parts.append(framework.native_pipeline)
    return ", ".join(parts)


TRIAL_STEPS = 20
TRIAL_WARMUP = 5
# Trials closer than this to the fastest count as equally fast (see ``fastest``).
NEAR_EQUAL_FRACTION = 0.05


@dataclass(frozen=True)
class Mode:
    """Settings that change how a framework runs the same model, not what it computes."""

    compile: str = "off"
    precision: str = "fp32"
    channels_last: bool = False

    def overrides(self) -> dict[str, Any]:
        return {"compile": self.compile, "precision": self.precision, "channels_last": self.channels_last}

    def label(self, framework: str) -> str:
        return run_mode_label(framework, self)


def candidate_modes(framework: str, device_kind: str = "cpu") -> list[Mode]:
    """Compilation on or off, fp32 or bf16, and for PyTorch channels_last memory too; on a GPU
    also CUDA graphs (torch.compile's reduce-overhead), which cut launch overhead for small models.

    Simplest first: the plain mode, then a different memory layout, then other arithmetic (bf16),
    then compilation alone and combined; ``fastest`` prefers the earlier of two near-equal modes.
    """
    details = get(framework)
    modes = [Mode()]
    if details.channels_last:
        modes.append(Mode(channels_last=True))
    modes.append(Mode(precision="bf16"))
    if details.compiler is None:
        return modes  # it always compiles: "on" would be the same mode again
    modes.append(Mode("on"))
    if details.channels_last:
        modes.append(Mode("on", channels_last=True))
    modes.append(Mode("on", "bf16"))
    if details.cuda_graphs and device_kind == "cuda":
        modes.append(Mode("reduce-overhead"))
    return modes


def fastest(trials: list[dict[str, Any]], tolerance: float = NEAR_EQUAL_FRACTION) -> dict[str, Any]:
    """The simplest trial within ``tolerance`` of the highest steady-state throughput.

    Trials come simplest first (as ``candidate_modes`` orders them). A short trial varies by a
    few percent from run to run, so a mode that is only as fast within that noise should not
    displace a simpler one: it would bring compile time or other arithmetic for no sure gain,
    and the choice would flip from one comparison to the next. Failed trials never win.
    """
    finished = [t for t in trials if t.get("steady_images_per_second")]
    if not finished:
        raise ValueError("no mode finished its trial")
    top = max(t["steady_images_per_second"] for t in finished)
    return next(t for t in finished if t["steady_images_per_second"] >= top * (1 - tolerance))


def compile_payoff_step(compile_seconds: float | None, compiled_step_ms: float | None,
                        uncompiled_step_ms: float | None) -> int | None:
    """The step at which compiling has paid for itself, or None if it never does."""
    if not compile_seconds or not compiled_step_ms or not uncompiled_step_ms or compiled_step_ms >= uncompiled_step_ms:
        return None
    saved_per_step = (uncompiled_step_ms - compiled_step_ms) / 1000.0
    return int(compile_seconds / saved_per_step) + 1


def chosen_mode_payoff_step(best: dict[str, Any], trials: list[dict[str, Any]]) -> int | None:
    """For a compiled choice (XLA, torch.compile, CUDA graphs), the step at which compiling pays
    for itself against the same mode uncompiled; None for an uncompiled choice."""
    if best["compile"] == "off":
        return None
    uncompiled = next((t for t in trials if t["compile"] == "off" and t["precision"] == best["precision"]
                       and t["channels_last"] == best["channels_last"]), {})
    return compile_payoff_step(best["compile_seconds"], best["step_ms_median"], uncompiled.get("step_ms_median"))
