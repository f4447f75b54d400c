"""The parity audit: the same weights in every framework must give the same outputs.

The reference framework (PyTorch) builds the model and saves its initial weights with one
batch's logits (inference mode), loss and gradients (training mode); every other framework (Keras
on TensorFlow, Keras on JAX), each in its own process, loads those weights through
core.models.convert and computes the same. Equal parameter counts and logits within 1e-4 mean
they are one model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from core.engine.device_lock import BUSY, device_lock
from core.engine.runner import Executor, ProcessExecutor
from core.engine.work import ParityCheckJob, ParityReferenceJob
from core.errors import TwinbenchError
from core.frameworks import REFERENCE, REGISTRY, Framework
from core.models.registry import check_input_shape

LOGIT_TOLERANCE = 1e-4


DEFAULT_INPUT_SHAPE = (32, 32, 3)  # every architecture takes it, mobilenetv2's minimum included


def run_parity(architecture: str, input_shape: tuple[int, int, int] | None = None, num_classes: int = 10,
               seed: int = 0, batch: int = 32) -> dict[str, Any]:
    return run_parity_many([architecture], input_shape or DEFAULT_INPUT_SHAPE, num_classes, seed, batch)[0]


def audited_frameworks() -> list[Framework]:
    """Every installed framework besides the reference, each checked against it."""
    return [f for f in REGISTRY.values() if f is not REFERENCE and f.installed]


def run_parity_many(architectures: list[str], input_shape: tuple[int, int, int], num_classes: int = 10,
                    seed: int = 0, batch: int = 32, executor: Executor | None = None) -> list[dict[str, Any]]:
    """Audit several architectures with one worker process per framework.

    Each report has the figures per framework (``frameworks``) and, at the top level, the worst
    of them, so that one line can say whether every framework builds the reference's model.
    """
    for architecture in architectures:
        check_input_shape(architecture, input_shape)
    with device_lock(wait=False) as free:
        if not free:
            raise TwinbenchError(f"parity audit: {BUSY}")
        return _audit(architectures, input_shape, num_classes, seed, batch, executor or ProcessExecutor())


def _audit(architectures: list[str], input_shape: tuple[int, int, int], num_classes: int, seed: int, batch: int,
           executor: Executor) -> list[dict[str, Any]]:
    names = tuple(architectures)
    checks: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="twinbench-parity-") as folder:
        paths = tuple(str(Path(folder) / f"{name}.npz") for name in architectures)
        reference = executor.run(ParityReferenceJob(architectures=names, paths=paths, input_shape=input_shape,
                                                    num_classes=num_classes, seed=seed, batch=batch))
        if reference.status != "finished" or reference.result is None:
            raise TwinbenchError(f"{REFERENCE.label} side failed: {(reference.error or {}).get('message')}")
        for framework in audited_frameworks():
            check = executor.run(ParityCheckJob(framework=framework.name, architectures=names, references=paths,
                                                input_shape=input_shape, num_classes=num_classes))
            if check.status != "finished" or check.result is None:
                raise TwinbenchError(f"{framework.label} side failed: {(check.error or {}).get('message')}")
            checks[framework.name] = check.result["models"]
    reports = []
    for index, (architecture, reference_side) in enumerate(zip(architectures, reference.result["models"], strict=True)):
        sides = {name: models[index] for name, models in checks.items()}
        report: dict[str, Any] = {
            "architecture": architecture,
            "input_shape": list(input_shape),
            "reference": REFERENCE.name,
            "params": {REFERENCE.name: reference_side["params"], **{n: s["params"] for n, s in sides.items()}},
            "non_trainable_params": {REFERENCE.name: reference_side["non_trainable_params"],
                                     **{n: s["non_trainable_params"] for n, s in sides.items()}},
            "frameworks": {name: {key: side[key] for key in FIGURES} for name, side in sides.items()},
            "batch": batch,
        }
        # The largest gradient difference relative to the largest gradient: BatchNorm over a small
        # batch amplifies float32 rounding in deep networks, so absolute figures alone mislead.
        for key in FIGURES:
            values = [side[key] for side in sides.values() if side[key] is not None]
            report[key] = max(values) if values else None
        report["passed"] = passed(report)
        reports.append(report)
    return reports


FIGURES = ("max_abs_logit_diff", "loss_diff", "max_abs_grad_diff", "max_rel_grad_diff")


def passed(report: dict[str, Any]) -> bool:
    """Every framework has the reference's trainable parameter count and logits within tolerance."""
    counts = set(report["params"].values())
    logits = [figures["max_abs_logit_diff"] for figures in report["frameworks"].values()]
    return len(counts) == 1 and bool(logits) and all(diff <= LOGIT_TOLERANCE for diff in logits)
