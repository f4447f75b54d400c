"""The rows of an export as pydantic models, one per table: what ``Store.import_json`` accepts.

Each model carries its table's columns (tests/test_hostile_imports.py checks them against
core/store/database.py) with the ranges and words a new comparison would have.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from core.errors import BadInput
from core.records import RunStatus
from core.results import RunResult
from core.spec import Device, RunSpec
from core.store.annotations import clean_note, clean_tags
from core.store.export_values import (
    ERROR_KIND_PATTERN,
    MAX_WHOLE,
    FrameworkName,
    Id,
    Text,
    Timestamp,
    Whole,
    check_run_spec,
    checked_json_object,
    describe,
    inconsistent,
    json_object,
    registered_framework,
    shown,
)


def _completed(text: Any, defaults: dict[str, Any]) -> Any:
    """JSON text of an object with the keys of ``defaults`` it lacks added; anything else as it is."""
    if not isinstance(text, str):
        return text
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    if not isinstance(value, dict) or defaults.keys() <= value.keys():
        return text
    return json.dumps({**defaults, **value}, sort_keys=True)


def complete_settings(text: Any) -> Any:
    """A comparison's settings JSON with every RunSpec field but framework: a missing one gets its default.

    The pages and the CLI read settings by key (``settings["batch_size"]``); settings written with
    fewer fields (by an older version, or a caller that gave only some) mean the defaults for the
    rest, as ``RunSpec.from_dict`` reads them. Complete settings are returned unchanged."""
    return _completed(text, RunSpec().comparison_settings())


def complete_spec(text: Any, framework: Any) -> Any:
    """A run's spec JSON with every RunSpec field, as ``complete_settings`` (its framework: the run's)."""
    return _completed(text, {**RunSpec().to_dict(), "framework": framework})


class _Row(BaseModel):
    """One row of a table as exported: every column present, each of its type, nothing else."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class _Loose(BaseModel):
    """JSON kept as text: the keys the app reads are checked, any other key is kept as it is."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)


class EpochRow(_Row):
    run_id: Id | None = None
    epoch: Whole
    train_loss: float | None
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    epoch_seconds: Annotated[float, Field(ge=0.0)] | None
    eval_seconds: Annotated[float, Field(ge=0.0)] | None
    elapsed_seconds: Annotated[float, Field(ge=0.0)] | None
    images_per_second: Annotated[float, Field(ge=0.0)] | None
    step_ms_median: Annotated[float, Field(ge=0.0)] | None
    step_ms_p90: Annotated[float, Field(ge=0.0)] | None
    data_wait_fraction: float | None


class StepRow(_Row):
    run_id: Id | None = None
    epoch: Whole
    step: Whole
    steps: Annotated[int, Field(ge=1, le=MAX_WHOLE)]
    milliseconds: Annotated[float, Field(ge=0.0)]
    warmup: Annotated[int, Field(ge=0, le=1)]


class EnvironmentDetails(_Loose):
    """What the pages read of a run's environment (``list_comparisons`` reads ``device`` in SQL)."""

    device: Text | None = None
    threads: Whole | None = None
    cpu_count: Whole | None = None


class EnvironmentRow(_Row):
    run_id: Id | None = None
    framework_version: Text | None
    device_name: Text | None
    driver: Text | None
    cpu: Text | None
    threads: Whole | None
    details_json: Text

    @field_validator("details_json")
    @classmethod
    def _details(cls, value: str) -> str:
        return checked_json_object(value, EnvironmentDetails, "twinbench_details")


class ModeTrial(_Loose):
    """One mode that best-of-each tried; the Compare page tabulates these columns."""

    mode: Text
    status: Text
    steady_images_per_second: Annotated[float, Field(ge=0.0)] | None
    step_ms_median: Annotated[float, Field(ge=0.0)] | None
    compile_seconds: Annotated[float, Field(ge=0.0)] | None


class ChosenMode(ModeTrial):
    compile_payoff_step: Whole | None = None


class BestOfEach(_Loose):
    chosen: ChosenMode
    trials: Annotated[list[ModeTrial], Field(min_length=1)]


class DataSummary(_Loose):
    input_shape: list[Annotated[int, Field(ge=1, le=MAX_WHOLE)]] | None = None
    num_classes: Whole | None = None
    notes: list[Text] | None = None
    path: Text | None = None
    best_of_each: dict[FrameworkName, BestOfEach] | None = None


class ResultFigures(RunResult):
    """RunResult as an import checks it: figures the pages compute with are finite and not negative."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)

    @model_validator(mode="after")
    def _plausible(self) -> ResultFigures:
        for name, field in RunResult.model_fields.items():
            value = getattr(self, name)
            if name == "test_loss" or not isinstance(value, int | float) or isinstance(value, bool):
                continue  # a diverged run's loss may be NaN or infinite
            if not math.isfinite(value) or value < 0 or value > (MAX_WHOLE if field.annotation == int | None else math.inf):
                raise PydanticCustomError("twinbench_result", "{name} must be a finite number from 0 (got {value})",
                                          {"name": name, "value": shown(value)})
        for name in ("test_accuracy", "target_accuracy"):
            value = getattr(self, name)
            if value is not None and value > 1:
                raise PydanticCustomError("twinbench_result", "{name} must be at most 1 (got {value})",
                                          {"name": name, "value": shown(value)})
        bits, images = self.test_correct_bits, self.test_images
        if bits is not None:
            if len(bits) % 2 or any(c not in "0123456789abcdef" for c in bits):
                raise PydanticCustomError("twinbench_result", "test_correct_bits must be lowercase hexadecimal bytes")
            if images is not None and bits and not len(bits) * 4 - 8 < images <= len(bits) * 4:
                raise PydanticCustomError("twinbench_result", "test_correct_bits must hold one bit per test image "
                                          "({images} images, {bits} bits)", {"images": images, "bits": len(bits) * 4})
        return self


class RunRow(_Row):
    id: Id
    comparison_id: Id
    position: Whole
    repeat: Whole
    framework: FrameworkName
    status: RunStatus
    spec_json: Text
    result_json: Text | None
    error_kind: Annotated[str, Field(pattern=ERROR_KIND_PATTERN)] | None
    error_message: Text | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    epochs: list[EpochRow]
    step_samples: list[StepRow]
    environment: EnvironmentRow | None = None

    @model_validator(mode="before")
    @classmethod
    def _complete_spec(cls, data: Any) -> Any:
        if isinstance(data, dict) and "spec_json" in data and isinstance(data.get("framework"), str):
            return {**data, "spec_json": complete_spec(data["spec_json"], data["framework"])}
        return data

    @field_validator("spec_json")
    @classmethod
    def _spec(cls, value: str) -> str:
        check_run_spec(json_object(value))
        return value

    @field_validator("result_json")
    @classmethod
    def _result(cls, value: str | None) -> str | None:
        if value is None:
            return None
        json_object(value, allow_nan=True)
        try:
            ResultFigures.model_validate_json(value)
        except ValidationError as error:
            raise PydanticCustomError("twinbench_result", "{why}", {"why": describe(error)}) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RunRow:
        spec = json.loads(self.spec_json)
        if "framework" in spec and spec["framework"] != self.framework:
            raise inconsistent(f"its spec names framework {shown(spec['framework'])}, the run {self.framework!r}")
        if (self.status == "failed") != (self.error_kind is not None):
            raise inconsistent(f"a {self.status} run " + ("without an error kind" if self.error_kind is None
                                                              else f"with error kind {self.error_kind!r}"))
        if self.error_message is not None and self.error_kind is None:
            raise inconsistent("an error message without an error kind")
        named = [row.run_id for row in (*self.epochs, *self.step_samples, self.environment) if row is not None]
        if any(run_id not in (None, self.id) for run_id in named):
            raise inconsistent("an epoch, step sample or environment names another run")
        epochs = [row.epoch for row in self.epochs]
        if len(set(epochs)) != len(epochs):
            raise inconsistent("an epoch is listed twice")
        steps = [(row.epoch, row.step) for row in self.step_samples]
        if len(set(steps)) != len(steps):
            raise inconsistent("a step sample is listed twice")
        return self


class ComparisonRow(_Row):
    id: Id
    created_at: Timestamp
    dataset: Annotated[Text, Field(min_length=1)]
    architecture: Annotated[Text, Field(min_length=1)]
    device: Device
    frameworks: Text
    settings_json: Text
    data_json: Text
    # Since schema version 2; exports written before then have none.
    sweep_id: Id | None = None
    tags_json: Text = "[]"
    note: Text = ""
    runs: list[RunRow]

    @field_validator("frameworks")
    @classmethod
    def _frameworks(cls, value: str) -> str:
        names = value.split(",")
        for name in names:
            registered_framework(name)
        if len(set(names)) != len(names):
            raise PydanticCustomError("twinbench_framework", "names a framework twice")
        return value

    @model_validator(mode="before")
    @classmethod
    def _complete_settings(cls, data: Any) -> Any:
        if isinstance(data, dict) and "settings_json" in data:
            return {**data, "settings_json": complete_settings(data["settings_json"])}
        return data

    @field_validator("settings_json")
    @classmethod
    def _settings(cls, value: str) -> str:
        settings = json_object(value)
        if "framework" in settings:
            raise PydanticCustomError("twinbench_spec", "settings hold no framework (each run has its own)")
        check_run_spec(settings)
        return value

    @field_validator("data_json")
    @classmethod
    def _data(cls, value: str) -> str:
        return checked_json_object(value, DataSummary, "twinbench_data")

    @field_validator("tags_json")
    @classmethod
    def _tags(cls, value: str) -> str:
        try:
            tags = json.loads(value)
        except ValueError:
            raise PydanticCustomError("twinbench_tags", "must be a JSON list of tags") from None
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise PydanticCustomError("twinbench_tags", "must be a JSON list of tags")
        try:
            if clean_tags(tags) != tags:
                raise PydanticCustomError("twinbench_tags", "holds a tag twice, an empty one or one with spaces around it")
        except BadInput as error:
            raise PydanticCustomError("twinbench_tags", "{why}", {"why": str(error)}) from None
        return value

    @field_validator("note")
    @classmethod
    def _note(cls, value: str) -> str:
        try:
            clean_note(value)
        except BadInput as error:
            raise PydanticCustomError("twinbench_note", "{why}", {"why": str(error)}) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ComparisonRow:
        settings = json.loads(self.settings_json)
        for column in ("dataset", "architecture", "device"):
            if settings.get(column) != getattr(self, column):
                raise inconsistent(f"its {column} is {getattr(self, column)!r} but its settings say "
                                    f"{shown(settings.get(column))}")
        frameworks = self.frameworks.split(",")
        run_ids = [run.id for run in self.runs]
        if len(set(run_ids)) != len(run_ids):
            raise inconsistent("two of its runs have the same id")
        for run in self.runs:
            if run.comparison_id != self.id:
                raise inconsistent(f"run {run.id} belongs to comparison {run.comparison_id}")
            if run.framework not in frameworks:
                raise inconsistent(f"run {run.id} trains {run.framework}, which the comparison does not name")
        return self
