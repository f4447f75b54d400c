"""The parity audit: the same weights in both frameworks must give the same outputs.

PyTorch builds the model and saves its initial weights with one batch's logits (inference
mode), loss and gradients (training mode); Keras (in its own process) loads those weights through core.models.convert and
computes the same. Equal parameter counts and logits within 1e-4 mean the two are one model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from core.errors import TwinbenchError
from core.models.registry import check_input_shape
from core.runner import run_worker

LOGIT_TOLERANCE = 1e-4


DEFAULT_INPUT_SHAPE = (32, 32, 3)  # every architecture takes it, mobilenetv2's minimum included


def run_parity(architecture: str, input_shape: tuple[int, int, int] | None = None, num_classes: int = 10,
               seed: int = 0, batch: int = 32) -> dict[str, Any]:
    return run_parity_many([architecture], input_shape or DEFAULT_INPUT_SHAPE, num_classes, seed, batch)[0]


def run_parity_many(architectures: list[str], input_shape: tuple[int, int, int], num_classes: int = 10,
                    seed: int = 0, batch: int = 32) -> list[dict[str, Any]]:
    """Audit several architectures with one worker process per framework."""
    for architecture in architectures:
        check_input_shape(architecture, input_shape)
    common = {"architectures": architectures, "input_shape": list(input_shape), "num_classes": num_classes}
    with tempfile.TemporaryDirectory(prefix="twinbench-parity-") as folder:
        paths = [str(Path(folder) / f"{name}.npz") for name in architectures]
        reference = run_worker({"kind": "parity_reference", **common, "seed": seed, "batch": batch, "paths": paths})
        if reference.status != "finished":
            raise TwinbenchError(f"PyTorch side failed: {(reference.error or {}).get('message')}")
        check = run_worker({"kind": "parity_check", **common, "references": paths})
        if check.status != "finished":
            raise TwinbenchError(f"TensorFlow side failed: {(check.error or {}).get('message')}")
    reports = []
    for architecture, torch_side, keras_side in zip(architectures, reference.result["models"], check.result["models"], strict=True):
        report = {
            "architecture": architecture,
            "input_shape": list(input_shape),
            "params": {"pytorch": torch_side["params"], "tensorflow": keras_side["params"]},
            "non_trainable_params": {"pytorch": torch_side["non_trainable_params"],
                                     "tensorflow": keras_side["non_trainable_params"]},
            "max_abs_logit_diff": keras_side["max_abs_logit_diff"],
            "loss_diff": keras_side["loss_diff"],
            "max_abs_grad_diff": keras_side["max_abs_grad_diff"],
            # The largest gradient difference relative to the largest gradient: BatchNorm over a small
            # batch amplifies float32 rounding in deep networks, so absolute figures alone mislead.
            "max_rel_grad_diff": keras_side["max_rel_grad_diff"],
            "batch": batch,
        }
        report["passed"] = passed(report)
        reports.append(report)
    return reports


def passed(report: dict[str, Any]) -> bool:
    return report["params"]["pytorch"] == report["params"]["tensorflow"] and report["max_abs_logit_diff"] <= LOGIT_TOLERANCE
