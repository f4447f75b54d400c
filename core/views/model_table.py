"""The Models page's overview table (pure): one compact row per architecture, so that it fits the page.

A column per framework and figure pushed the Keras and parity columns off screen; the row says a
figure once when every framework that built the model agrees on it, and names the frameworks
that differ otherwise. Each framework's own figures stay in the page's per-architecture expanders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from core.analysis.figures import format_value
from core.frameworks import Framework, label

COLUMNS = ("architecture", "description", "parameters", "FLOPs/image", "frameworks", "parity", "max |logit diff|")


def _agreed(models: Mapping[str, Mapping[str, Any]], key: str) -> tuple[Any, str | None]:
    """The figure all ``models`` agree on (None if they do not), and who says what when they differ."""
    values = {name: model.get(key) for name, model in models.items()}
    distinct = set(values.values())
    if len(distinct) == 1:
        return distinct.pop(), None
    return None, " · ".join(f"{label(name)} {format_value(value, 'count')}" for name, value in values.items())


def overview_rows(
    architectures: Iterable[str],
    descriptions: Mapping[str, str],
    catalog: Mapping[str, Any],
    audit: Mapping[str, Mapping[str, Any]],
    frameworks: Iterable[str],
) -> list[dict[str, Any]]:
    """One row per architecture: its parameters and FLOPs per image when every framework that built it
    agrees, which frameworks built it (and what differs), and the parity audit's outcome."""
    names = list(frameworks)
    rows = []
    for architecture in architectures:
        built = {name: model for name in names
                 if (model := catalog.get("frameworks", {}).get(name, {}).get(architecture)) is not None}
        parameters, parameters_differ = _agreed(built, "trainable_params")
        flops, flops_differ = _agreed(built, "flops_per_image")
        missing = [label(name) for name in names if name not in built]
        if not built:
            built_text = "not built"
        elif parameters_differ:
            built_text = f"parameters differ: {parameters_differ}"
        elif flops_differ:
            built_text = f"FLOPs differ: {flops_differ}"
        elif len(built) > 1:
            built_text = "same in " + ", ".join(label(name) for name in built)
        else:
            built_text = "only " + ", ".join(label(name) for name in built)
        if missing and built:
            built_text += f" (not built: {', '.join(missing)})"
        report = audit.get(architecture)
        rows.append({
            "architecture": architecture, "description": descriptions.get(architecture, ""),
            "parameters": parameters, "FLOPs/image": flops, "frameworks": built_text,
            "parity": ("passed" if report["passed"] else "FAILED") if report else "not run",
            "max |logit diff|": report["max_abs_logit_diff"] if report else None,
        })
    return rows


def layers_frame(model: Mapping[str, Any]) -> pd.DataFrame:
    """One framework's layers of one model (core.engine.model_catalog's summary), shapes as "8 × 8 × 1"."""
    layers = pd.DataFrame(model["summary"])
    layers["output_shape"] = layers["output_shape"].map(lambda s: " × ".join(map(str, s)))
    return layers


def model_caption(model: Mapping[str, Any], framework: Framework) -> str:
    """One framework's figures of one model, under its layers."""
    return (f"{format_value(model['trainable_params'], 'count')} parameters · "
            f"{format_value(model['flops_per_image'], 'count')} FLOPs per image ({framework.tensor_layout} layout)")
