"""RunSpec: everything that defines one training run, validated before any work starts."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from core.errors import BadInput
from core.frameworks import NAMES as FRAMEWORKS
from core.frameworks import REFERENCE

OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")
# "on" is each framework's default compiler (XLA; torch.compile's default mode); the other two
# are torch.compile modes (TensorFlow compiles with XLA for them too).
COMPILE_MODES = ("off", "on", "max-autotune", "reduce-overhead")
DATA_PIPELINES = ("device", "native")

# (low, high) inclusive bounds for numeric fields; None means unbounded on that side.
INT_RANGES: dict[str, tuple[int, int | None]] = {
    "epochs": (1, 1000),
    "batch_size": (1, 65536),
    "seed": (0, 2**31 - 1),
    "repeats": (1, 50),
    "image_size": (4, 512),
    "max_images": (20, None),
    "unfreeze_blocks": (0, 19),
    "threads": (1, 1024),
}
FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {
    # name: (low, high, low_inclusive)
    "learning_rate": (0.0, 10.0, False),
    "momentum": (0.0, 0.999, True),
    "weight_decay": (0.0, 1.0, True),
    "validation_fraction": (0.0, 0.5, True),
    "target_accuracy": (0.0, 1.0, False),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "framework": FRAMEWORKS,
    "optimizer": OPTIMIZERS,
    "device": DEVICES,
    "precision": PRECISIONS,
    "compile": COMPILE_MODES,
    "data_pipeline": DATA_PIPELINES,
}


@dataclass(frozen=True)
class RunSpec:
    """One run of one framework. A comparison is a set of RunSpecs equal apart from framework."""

    dataset: str = "digits"
    architecture: str = "cnn"
    framework: str = REFERENCE.name
    epochs: int = 5
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    compile: str = "off"
    validation_fraction: float = 0.1
    augment: bool = False
    pretrained: bool = False
    unfreeze_blocks: int = 0
    same_init: bool = False
    channels_last: bool = False
    best_of_each: bool = False
    # "device": the training set sits on the device and each step gathers its batch there, so
    # the input pipeline is not measured; "native": tf.data / DataLoader feed batches from the host.
    data_pipeline: str = "device"
    # Repeat i trains with seed + i (initial weights, data order, augmentation) in every
    # framework, so repeats measure how much results vary; same_seed keeps one seed for all.
    repeats: int = 3
    same_seed: bool = False
    target_accuracy: float = 0.9
    image_size: int | None = None
    max_images: int | None = None
    # CPU threads per framework (intra- and inter-op); None: every usable core but one.
    threads: int | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["notes"] = list(self.notes)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        """Build and validate a spec from plain values (JSON, a form, or CLI strings)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadInput(f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {name: coerce_field(name, value) for name, value in data.items()}
        spec = cls(**values)
        spec.validate()
        return spec

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        return cls.from_dict(json.loads(text))

    def with_framework(self, framework: str) -> RunSpec:
        return dataclasses.replace(self, framework=framework)

    def comparison_settings(self) -> dict[str, Any]:
        """The settings every run of a comparison shares (all but the framework)."""
        data = self.to_dict()
        data.pop("framework")
        return data

    def validate(self) -> None:
        """Refuse impossible values, naming the field and the allowed range."""
        from core.data.registry import validate_dataset_name
        from core.models.registry import validate_architecture_name

        validate_dataset_name(self.dataset)
        validate_architecture_name(self.architecture)
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise BadInput(f"{name} must be one of {', '.join(allowed)} (got {value!r})", name)
        for name, (low, high) in INT_RANGES.items():
            value = getattr(self, name)
            if value is None and name in ("image_size", "max_images", "threads"):
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise BadInput(f"{name} must be a whole number (got {value!r})", name)
            if value < low or (high is not None and value > high):
                allowed = f"between {low} and {high}" if high is not None else f"at least {low}"
                raise BadInput(f"{name} must be {allowed} (got {value})", name)
        if not self.same_seed and self.seed + self.repeats - 1 > INT_RANGES["seed"][1]:  # type: ignore[operator]
            raise BadInput(f"seed must be at most {INT_RANGES['seed'][1] - self.repeats + 1} with {self.repeats} repeats "
                           f"(repeat i uses seed + i; got {self.seed})", "seed")
        for name, (low, high, low_inclusive) in FLOAT_RANGES.items():
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise BadInput(f"{name} must be a finite number (got {value!r})", name)
            too_low = value < low if low_inclusive else value <= low
            if too_low or value > high:
                bracket = "[" if low_inclusive else "("
                raise BadInput(f"{name} must be in {bracket}{low}, {high}] (got {value})", name)


def _field_types() -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(RunSpec)}


def coerce_field(name: str, value: Any) -> Any:
    """Turn a CLI string or JSON value into the field's type, or say what was expected."""
    kind = _field_types()[name]
    if value is None:
        if "None" in kind:
            return None
        raise BadInput(f"{name} needs a value", name)
    if kind.startswith("tuple"):
        if isinstance(value, str):
            return (value,)
        return tuple(str(item) for item in value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise BadInput(f"{name} must be true or false (got {value!r})", name)
    if kind.startswith("int"):
        if isinstance(value, bool):
            raise BadInput(f"{name} must be a whole number (got {value!r})", name)
        if isinstance(value, float):
            if not value.is_integer():
                raise BadInput(f"{name} must be a whole number (got {value!r})", name)
            return int(value)
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text.lower() in ("", "none", "native") and "None" in kind:
            return None
        try:
            return int(text)
        except ValueError:
            raise BadInput(f"{name} must be a whole number (got {value!r})", name) from None
    if kind == "float":
        if isinstance(value, bool):
            raise BadInput(f"{name} must be a number (got {value!r})", name)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BadInput(f"{name} must be a number (got {value!r})", name) from None
        if not math.isfinite(number):
            raise BadInput(f"{name} must be a finite number (got {value!r})", name)
        return number
    if not isinstance(value, str):
        raise BadInput(f"{name} must be text (got {value!r})", name)
    return value.strip()
