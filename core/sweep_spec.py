"""A sweep's definition: several values per comparison setting, checked as a RunSpec checks them, and
their cross product as one RunSpec per cell. It is to a sweep what core.spec is to one comparison."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import BadInput
from core.spec import RunSpec

# A sweep is meant to map a setting, not to be a week of training: 64 comparisons (of two
# frameworks and three repeats each, 384 runs) is already hours on a small model.
MAX_CELLS = 64


# Fields a sweep may vary: every comparison setting. The framework is the comparison itself and
# notes describe what was done to the data, so neither is swept.
SWEEPABLE: tuple[str, ...] = tuple(name for name in RunSpec.model_fields if name not in ("framework", "notes"))


# How a swept setting reads next to its value in labels and hover text ("batch 2048").
FIELD_WORDS = {"batch_size": "batch", "learning_rate": "lr", "image_size": "image size", "max_images": "max images",
               "data_pipeline": "pipeline", "channels_last": "channels_last", "weight_decay": "weight decay"}


def field_words(name: str) -> str:
    return FIELD_WORDS.get(name, name.replace("_", " "))


def setting_text(value: Any) -> str:
    """A swept setting's value as people read and type it: "on"/"off", 0.001 as "0.001", "none"."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def describe_values(values: Mapping[str, Any]) -> str:
    """'batch 128 · precision bf16': a cell's swept settings as people read them."""
    return " · ".join(f"{field_words(name)} {setting_text(value)}" for name, value in values.items()) or "the one cell"


def split_values(text: Any) -> list[Any]:
    """'32, 128,512' into ['32', '128', '512']; a value that is not text (a default) is one value."""
    if isinstance(text, (list, tuple)):
        return [item for part in text for item in split_values(part)]
    if not isinstance(text, str):
        return [text]
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True)
class Cell:
    """One comparison of the sweep: its settings and the swept ones' values."""

    index: int  # 1-based, in the order the cells train
    spec: RunSpec
    values: dict[str, Any]  # swept field: this cell's value

    @property
    def label(self) -> str:
        return describe_values(self.values)


@dataclass(frozen=True)
class Sweep:
    cells: tuple[Cell, ...]
    swept: tuple[str, ...]  # fields given more than one value, in the definition's order
    fixed: dict[str, Any] = field(default_factory=dict)  # the other fields given, at their one value

    def __len__(self) -> int:
        return len(self.cells)


def _clean(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value  # " bf16" from "fp32, bf16" typed by hand


def _checked_axis(name: str, values: Sequence[Any], base: Mapping[str, Any]) -> list[Any]:
    """The distinct values of one field, each validated on its own so that a refusal names the
    field and the value (a cross product would only show the first bad combination)."""
    if name not in SWEEPABLE:
        known = ", ".join(SWEEPABLE)
        raise BadInput(f"{name} cannot be swept; sweep one of {known}", name)
    if not values:
        raise BadInput(f"{name} needs at least one value", name)
    checked: list[Any] = []
    for value in values:
        normalised = getattr(RunSpec.from_dict({**base, name: _clean(value)}), name)
        if normalised not in checked:  # "32,32" or "fp32, fp32" is one value
            checked.append(normalised)
    return checked


def expand_sweep(axes: Mapping[str, Sequence[Any]], base: Mapping[str, Any] | None = None) -> Sweep:
    """Every combination of ``axes`` (field: values) over ``base`` (the other settings), as RunSpecs.

    Raises BadInput naming the field for a bad value, an unknown or empty field, or a product
    larger than MAX_CELLS, before anything is prepared or stored.
    """
    base = dict(base or {})
    RunSpec.from_dict(base)  # a bad fixed setting is refused as itself, not as the first axis's problem
    # Each value is checked beside the other fields' first values, as the first cells will hold
    # them: a value is refused alone only when no cell could take it.
    anchor = {**base, **{name: _clean(values[0]) for name, values in axes.items() if name in SWEEPABLE and len(values)}}
    checked = {name: _checked_axis(name, list(values), anchor) for name, values in axes.items()}
    count = math.prod(len(values) for values in checked.values())
    if count > MAX_CELLS:
        sizes = " × ".join(f"{len(v)} {name}" for name, v in checked.items() if len(v) > 1)
        widest = max(checked, key=lambda name: len(checked[name]))
        raise BadInput(f"a sweep of {count} comparisons ({sizes}) is more than the limit of {MAX_CELLS}; "
                       "sweep fewer values", widest)
    swept = tuple(name for name, values in checked.items() if len(values) > 1)
    fixed = {name: values[0] for name, values in checked.items() if len(values) == 1}
    cells = []
    for index, combination in enumerate(itertools.product(*checked.values()), start=1):
        chosen = dict(zip(checked, combination, strict=True))
        try:
            spec = RunSpec.from_dict({**base, **chosen})
        except BadInput as error:  # values fine alone but not together (seed with repeats, say)
            raise BadInput(f"{describe_values({n: chosen[n] for n in swept})}: {error}", error.field) from None
        cells.append(Cell(index, spec, {name: chosen[name] for name in swept}))
    return Sweep(tuple(cells), swept, fixed)
