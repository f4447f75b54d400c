"""RunSpec: everything that defines one training run, validated before any work starts.

pydantic checks each field (type, range, allowed words); ``from_dict`` turns its first complaint
into one line that names the field and what is allowed, and then checks what needs the registries
(a dataset name or folder, an architecture).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from core.errors import BadInput
from core.frameworks import NAMES as FRAMEWORKS
from core.frameworks import REFERENCE

Optimizer = Literal["adam", "sgd"]
Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["fp32", "bf16"]
# "on" is each framework's default compiler (XLA; torch.compile's default mode); the other two
# are torch.compile modes (TensorFlow compiles with XLA for them too).
CompileMode = Literal["off", "on", "max-autotune", "reduce-overhead"]
DataPipeline = Literal["device", "native"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
DEVICES: tuple[str, ...] = get_args(Device)
PRECISIONS: tuple[str, ...] = get_args(Precision)
COMPILE_MODES: tuple[str, ...] = get_args(CompileMode)
DATA_PIPELINES: tuple[str, ...] = get_args(DataPipeline)
MAX_SEED = 2**31 - 1
# Words a form or the CLI uses for "not set" in the optional whole-number fields.
UNSET_WORDS = ("", "none", "native")


class RunSpec(BaseModel):
    """One run of one framework. A comparison is a set of RunSpecs equal apart from framework."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, allow_inf_nan=False,
                              validate_default=False)

    dataset: str = "digits"
    architecture: str = "cnn"
    framework: str = REFERENCE.name
    epochs: Annotated[int, Field(ge=1, le=1000)] = 5
    batch_size: Annotated[int, Field(ge=1, le=65536)] = 32
    optimizer: Optimizer = "adam"
    learning_rate: Annotated[float, Field(gt=0.0, le=10.0)] = 1e-3
    momentum: Annotated[float, Field(ge=0.0, le=0.999)] = 0.9
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    device: Device = "auto"
    precision: Precision = "fp32"
    compile: CompileMode = "off"
    validation_fraction: Annotated[float, Field(ge=0.0, le=0.5)] = 0.1
    augment: bool = False
    pretrained: bool = False
    unfreeze_blocks: Annotated[int, Field(ge=0, le=19)] = 0
    same_init: bool = False
    channels_last: bool = False
    best_of_each: bool = False
    # "device": the training set sits on the device and each step gathers its batch there, so
    # the input pipeline is not measured; "native": tf.data / DataLoader feed batches from the host.
    data_pipeline: DataPipeline = "device"
    # Repeat i trains with seed + i (initial weights, data order, augmentation) in every
    # framework, so repeats measure how much results vary; same_seed keeps one seed for all.
    repeats: Annotated[int, Field(ge=1, le=50)] = 3
    same_seed: bool = False
    target_accuracy: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    image_size: Annotated[int | None, Field(ge=4, le=512)] = None
    max_images: Annotated[int | None, Field(ge=20)] = None
    # CPU threads per framework (intra- and inter-op); None: every usable core.
    threads: Annotated[int | None, Field(ge=1, le=1024)] = None
    notes: tuple[str, ...] = ()

    @field_validator("framework")
    @classmethod
    def _registered_framework(cls, value: str) -> str:
        if value not in FRAMEWORKS:
            raise ValueError(f"must be one of {', '.join(FRAMEWORKS)} (got {value!r})")
        return value

    @field_validator("epochs", "batch_size", "seed", "repeats", "unfreeze_blocks", "image_size", "max_images",
                     "threads", "learning_rate", "momentum", "weight_decay", "validation_fraction",
                     "target_accuracy", mode="before")
    @classmethod
    def _numbers_are_not_switches(cls, value: Any) -> Any:
        # pydantic's lax mode reads True as 1; a switch where a number belongs is a mistake.
        if isinstance(value, bool):
            raise PydanticCustomError("switch_for_number", "a switch where a number belongs")
        return value

    @field_validator("image_size", "max_images", "threads", mode="before")
    @classmethod
    def _unset_words_mean_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in UNSET_WORDS:
            return None
        return value

    @field_validator("notes", mode="before")
    @classmethod
    def _one_note_is_a_list_of_one(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _repeats_stay_within_seeds(self) -> RunSpec:
        if not self.same_seed and self.seed + self.repeats - 1 > MAX_SEED:
            raise PydanticCustomError(
                "seed_past_last_repeat", "seed must be at most {highest} with {repeats} repeats (repeat i uses seed + i; "
                "got {seed})", {"highest": MAX_SEED - self.repeats + 1, "repeats": self.repeats, "seed": self.seed})
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        """Build and validate a spec from plain values (JSON, a form, or CLI strings)."""
        try:
            spec = cls.model_validate(data)
        except ValidationError as error:
            raise bad_input(error) from None
        spec.validate_names()
        return spec

    def replace(self, **changes: Any) -> RunSpec:
        """A copy with ``changes``, validated like a new spec."""
        return RunSpec.from_dict({**self.to_dict(), **changes})

    def comparison_settings(self) -> dict[str, Any]:
        """The settings every run of a comparison shares (all but the framework)."""
        data = self.to_dict()
        data.pop("framework")
        return data

    def validate_names(self) -> None:
        """Refuse a dataset or architecture the registries do not know (or a folder that is gone)."""
        from core.data.registry import validate_dataset_name
        from core.models.registry import validate_architecture_name

        validate_dataset_name(self.dataset)
        validate_architecture_name(self.architecture)


def allowed_range(field: str) -> str:
    """A field's bounds in words: "between 1 and 1000", "at least 20", "(0.0, 10.0]"."""
    info = RunSpec.model_fields[field]
    bounds: dict[str, Any] = {}
    for item in info.metadata:
        if isinstance(item, annotated_types.Gt):
            bounds["above"] = item.gt
        elif isinstance(item, annotated_types.Ge):
            bounds["from"] = item.ge
        elif isinstance(item, annotated_types.Le):
            bounds["to"] = item.le
    if info.annotation is float:
        opening = f"({bounds['above']}" if "above" in bounds else f"[{bounds['from']}"
        return f"in {opening}, {bounds['to']}]"
    if "to" in bounds:
        return f"between {bounds['from']} and {bounds['to']}"
    return f"at least {bounds['from']}"


def _message(detail: ErrorDetails) -> tuple[str, str | None]:
    """One pydantic complaint as the sentence a person reads, and the field it is about."""
    field = str(detail["loc"][0]) if detail["loc"] else None
    value, kind = detail.get("input"), detail["type"]
    if kind == "extra_forbidden":
        known = ", ".join(sorted(RunSpec.model_fields))
        return f"unknown setting {field!r}; known: {known}", field
    if kind == "seed_past_last_repeat":
        return detail["msg"], "seed"
    if field is None:
        return detail["msg"], None
    whole = RunSpec.model_fields[field].annotation in (int, int | None) if field in RunSpec.model_fields else False
    if kind in ("int_parsing", "int_from_float", "int_type") or (kind == "switch_for_number" and whole):
        return f"{field} must be a whole number (got {value!r})", field
    if kind in ("float_parsing", "float_type", "switch_for_number"):
        return f"{field} must be a number (got {value!r})", field
    if kind == "finite_number":
        return f"{field} must be a finite number (got {value!r})", field
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{field} must be {allowed_range(field)} (got {value!r})", field
    if kind == "literal_error":
        return f"{field} must be one of {detail['ctx']['expected'].replace(' or ', ', ').replace(chr(39), '')} "\
               f"(got {value!r})", field
    if kind in ("bool_parsing", "bool_type"):
        return f"{field} must be true or false (got {value!r})", field
    if kind in ("string_type", "tuple_type"):
        return f"{field} must be text (got {value!r})", field
    if kind == "value_error":
        return f"{field} {detail['ctx']['error']}", field
    return f"{field}: {detail['msg']} (got {value!r})", field


def bad_input(error: ValidationError) -> BadInput:
    """The first of pydantic's complaints, as one line naming the field (its exit code is 2)."""
    message, field = _message(error.errors()[0])
    return BadInput(message, field)
