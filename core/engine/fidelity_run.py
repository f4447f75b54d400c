"""``bench --against-minimal`` as work: the harness and each framework's minimal loop
(core/train/minimal_loops.py), alternating, each run in a worker of its own; the arithmetic is
core.analysis.fidelity's.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.analysis.fidelity import Fidelity, alternating_plan, fidelity
from core.engine.runner import ProcessExecutor
from core.engine.work import BenchJob, MinimalJob
from core.frameworks import get
from core.spec import RunSpec


@dataclass(frozen=True)
class FrameworkFidelity:
    """One framework's speeds (images per second) in the harness, in its minimal loop and, where it
    has one, in Keras fit on tf.data (what many Keras users write: timed too, as a reference)."""

    framework: str
    mode: str
    minimal_mode: str
    harness: list[float]
    minimal: list[float]
    keras_fit: list[float]

    @property
    def fidelity(self) -> Fidelity:
        return fidelity(self.harness, self.minimal)

    @property
    def keras_fit_median(self) -> float | None:
        return statistics.median(self.keras_fit) if self.keras_fit else None

    def as_json(self) -> dict[str, Any]:
        result = self.fidelity
        return {"framework": self.framework, "mode": self.mode, "minimal_mode": self.minimal_mode,
                "harness_images_per_second": self.harness, "minimal_images_per_second": self.minimal,
                "keras_fit_images_per_second": self.keras_fit or None,
                "ratio": result.ratio, "ratio_low": result.ratio_low, "ratio_high": result.ratio_high,
                "meets_target": result.meets_target}


def run_against_minimal(spec: RunSpec, frameworks: list[str], input_shape: tuple[int, int, int], classes: int,
                        steps: int, warmup: int, repeats: int, *,
                        on_skip: Callable[[str], None] | None = None,
                        on_start: Callable[[str, str], None] | None = None,
                        on_failure: Callable[[str, str, dict[str, str] | None], None] | None = None,
                        ) -> tuple[list[FrameworkFidelity], bool]:
    """Per framework that has a minimal loop, ``repeats`` alternating pairs of harness and minimal
    runs (and its further reference loops); and whether a run failed. A framework whose run failed
    is left out; ``on_skip`` hears of a framework without a minimal loop, ``on_start`` of each run
    (framework, harness/minimal/loop), ``on_failure`` of a run that failed (with its error)."""
    executor = ProcessExecutor()
    measured: list[FrameworkFidelity] = []
    failed = False
    for framework in frameworks:
        run_spec = spec.replace(framework=framework, dataset="shapes", epochs=1)
        harness = BenchJob(spec=run_spec, input_shape=input_shape, num_classes=classes, steps=steps, warmup=warmup)
        details = get(framework)
        if details.minimal_loop is None:
            if on_skip:
                on_skip(framework)
            continue
        figures: dict[str, list[float]] = {"harness": [], "minimal": [], "keras_fit": []}
        modes = {}
        plan = alternating_plan(repeats) + [loop for loop in details.extra_minimal_loops for _ in range(repeats)]
        for which in plan:
            loop = {"harness": None, "minimal": details.minimal_loop}.get(which, which)
            job = harness if loop is None else MinimalJob.like(harness, loop)
            if on_start:
                on_start(framework, which)
            outcome = executor.run(job)
            if outcome.status != "finished" or outcome.result is None:
                if on_failure:
                    on_failure(framework, which, outcome.error)
                failed = True
                break
            figures[which].append(outcome.result["steady_images_per_second"])
            modes[which] = outcome.result["mode"]
        if len(figures["harness"]) != repeats or len(figures["minimal"]) != repeats:
            continue
        measured.append(FrameworkFidelity(framework, modes["harness"], modes["minimal"], figures["harness"],
                                          figures["minimal"], figures["keras_fit"]))
    return measured, failed
