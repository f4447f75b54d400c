"""The JSON export format as pydantic models: what ``Store.import_json`` accepts.

An export is ``{"format": "twinbench-export", "schema_version": 1, "comparisons": [...]}`` with
each comparison's row of the ``comparisons`` table, its runs' rows, and each run's epochs, step
samples and environment (``Store.export_json``). A file may come from anywhere, so every
comparison in it is checked here before anything is written, against what the pages, the CLI and
SQLite will later do with it:

- every value has its column's type (no text where a number belongs, no switch for a number),
  numbers are finite and within what SQLite, pandas and the charts take (a timestamp before the
  year 2200, a whole number below 2**53);
- the JSON kept as text (settings, a run's spec and result, data summary, environment details)
  is JSON that Python and SQLite both read: an object, without NaN or Infinity (SQLite's JSON
  functions refuse them; a result may hold them, as a diverged run's loss does);
- settings are a RunSpec's fields without ``framework``, each run's spec is a RunSpec's fields,
  each run's result is a RunResult, with the same ranges and words as a new comparison (fields a
  newer or older version wrote and this one does not know are kept as they are). Settings and
  specs with fewer fields are completed with RunSpec's defaults, on export and on import, since
  the pages read every field by name (``complete_settings``);
- ids are short words (letters, digits, ``-`` and ``_``), frameworks are registered, a run belongs
  to its comparison and names one of its frameworks, every string is valid Unicode.

``check_export`` returns the comparisons that passed and one line for each that did not.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from core.errors import BadInput
from core.frameworks import NAMES as FRAMEWORKS
from core.results import RunResult
from core.spec import Device, RunSpec, bad_input
from core.store.annotations import clean_note, clean_tags
from core.store.database import SCHEMA_VERSION

EXPORT_FORMAT = "twinbench-export"
# pandas holds datetimes up to 2262 and Python up to 9999; a run from after 2200 is a forgery.
MAX_TIMESTAMP = 7258118400.0
# Whole numbers that SQLite (64 bits), JSON readers in the browser and float arithmetic keep exactly.
MAX_WHOLE = 2**53 - 1
ID_PATTERN = r"^[0-9A-Za-z_-]{1,64}$"
ERROR_KIND_PATTERN = r"^[a-z][a-z_]{0,39}$"
SHOWN_CHARACTERS = 60  # of a refused value, in the line that says why


def _valid_unicode(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("twinbench_unicode", "holds text that is not valid Unicode (a lone surrogate)") from None
    return value


def _registered(value: str) -> str:
    if value not in FRAMEWORKS:
        raise PydanticCustomError("twinbench_framework", "must be one of {known} (got {value})",
                                  {"known": ", ".join(FRAMEWORKS), "value": shown(value)})
    return value


Text = Annotated[str, AfterValidator(_valid_unicode)]
Id = Annotated[str, Field(pattern=ID_PATTERN)]
Whole = Annotated[int, Field(ge=0, le=MAX_WHOLE)]
Timestamp = Annotated[float, Field(ge=0.0, le=MAX_TIMESTAMP)]
FrameworkName = Annotated[str, AfterValidator(_registered)]
Status = Literal["queued", "running", "finished", "failed"]


def shown(value: Any) -> str:
    """A value as the line that refuses it shows it: repr (so control characters stay escaped), cut short."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS - 3] + "..."


def json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words: null, true/false, a number, text, a list, an object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_object(text: str, allow_nan: bool = False) -> dict[str, Any]:
    """``text`` parsed as a JSON object that Python and SQLite read alike, or a pydantic error saying why not."""
    try:
        value = json.loads(text) if allow_nan else json.loads(text, parse_constant=_refuse_constant)
        json.dumps(value, ensure_ascii=False, allow_nan=allow_nan).encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("twinbench_json", "holds text that is not valid Unicode (a lone surrogate)") from None
    except (ValueError, RecursionError) as error:
        reason = "it nests too deeply" if isinstance(error, RecursionError) else str(error).splitlines()[0]
        raise PydanticCustomError("twinbench_json", "not JSON ({reason})", {"reason": reason}) from None
    if not isinstance(value, dict):
        raise PydanticCustomError("twinbench_json", "must be a JSON object (got {kind})", {"kind": json_kind(value)})
    return value


class _StoredSpec(RunSpec):
    """RunSpec as stored: strict types (a number is a JSON number, not text that reads as one, since
    the pages format it as a number; no switch where a number belongs), notes a JSON list."""

    model_config = ConfigDict(strict=True)
    notes: list[Text] = []  # type: ignore[assignment]


def _run_spec(fields: dict[str, Any]) -> None:
    """The RunSpec fields among ``fields``, checked with a new comparison's types, ranges and words.
    Keys RunSpec does not know are kept as they are (a newer or older version's settings)."""
    known = {key: value for key, value in fields.items() if key in RunSpec.model_fields}
    try:
        _StoredSpec.model_validate(known)
    except ValidationError as error:
        raise PydanticCustomError("twinbench_spec", "{why}", {"why": str(bad_input(error))}) from None


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
    status: Status
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
        _run_spec(json_object(value))
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
            raise _inconsistent(f"its spec names framework {shown(spec['framework'])}, the run {self.framework!r}")
        if (self.status == "failed") != (self.error_kind is not None):
            raise _inconsistent(f"a {self.status} run " + ("without an error kind" if self.error_kind is None
                                                              else f"with error kind {self.error_kind!r}"))
        if self.error_message is not None and self.error_kind is None:
            raise _inconsistent("an error message without an error kind")
        named = [row.run_id for row in (*self.epochs, *self.step_samples, self.environment) if row is not None]
        if any(run_id not in (None, self.id) for run_id in named):
            raise _inconsistent("an epoch, step sample or environment names another run")
        epochs = [row.epoch for row in self.epochs]
        if len(set(epochs)) != len(epochs):
            raise _inconsistent("an epoch is listed twice")
        steps = [(row.epoch, row.step) for row in self.step_samples]
        if len(set(steps)) != len(steps):
            raise _inconsistent("a step sample is listed twice")
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
            _registered(name)
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
        _run_spec(settings)
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
                raise _inconsistent(f"its {column} is {getattr(self, column)!r} but its settings say "
                                    f"{shown(settings.get(column))}")
        frameworks = self.frameworks.split(",")
        run_ids = [run.id for run in self.runs]
        if len(set(run_ids)) != len(run_ids):
            raise _inconsistent("two of its runs have the same id")
        for run in self.runs:
            if run.comparison_id != self.id:
                raise _inconsistent(f"run {run.id} belongs to comparison {run.comparison_id}")
            if run.framework not in frameworks:
                raise _inconsistent(f"run {run.id} trains {run.framework}, which the comparison does not name")
        return self


def _inconsistent(why: str) -> PydanticCustomError:
    return PydanticCustomError("twinbench_inconsistent", "{why}", {"why": why})


def _where(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe(error: ValidationError) -> str:
    """pydantic's first complaint as a short clause: where, what is wrong, and the value refused."""
    problems = error.errors(include_url=False)
    first = problems[0]
    where, kind, message = _where(first["loc"]), first["type"], first["msg"]
    if kind == "missing":
        clause = f"{where} is missing"
    elif kind == "extra_forbidden":
        clause = f"{where} is not part of the export format"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        clause = f"{where + ' ' if where else ''}must be a JSON object (got {json_kind(first.get('input'))})"
    elif kind == "string_pattern_mismatch":
        words = {ID_PATTERN: "an id of 1 to 64 letters, digits, '-' or '_'",
                 ERROR_KIND_PATTERN: "a lowercase word such as crashed"}.get(str((first.get("ctx") or {}).get("pattern")),
                                                                              "text of another form")
        clause = f"{where} must be {words} (got {shown(first.get('input'))})"
    else:
        message = message.removeprefix("Value error, ")
        if kind.startswith("twinbench_"):
            clause = f"{where}: {message}" if where else message
        else:
            value = first.get("input")
            got = f" (got {shown(value)})" if value is None or isinstance(value, str | int | float | bool) else \
                f" (got {type(value).__name__})"
            clause = f"{where}: {message[0].lower()}{message[1:]}{got}" if where else f"{message}{got}"
    more = len(problems) - 1
    return " ".join((clause + (f"; and {more} more problem{'s' * (more > 1)}" if more else "")).split())


def checked_json_object(value: str, model: type[BaseModel], kind: str) -> str:
    """A JSON text column whose object must fit ``model``; returned unchanged, or refused with why."""
    try:
        model.model_validate(json_object(value))
    except ValidationError as error:
        raise PydanticCustomError(kind, "{why}", {"why": describe(error)}) from None
    return value


def comparison_label(index: int, raw: Any) -> str:
    """'comparison 2 (id 'b1dda717cf07')': which one of the file a line is about."""
    identifier = raw.get("id") if isinstance(raw, dict) else None
    return f"comparison {index + 1}" + (f" (id {shown(identifier)})" if identifier is not None else "")


def parse_export(data: bytes | str, name: str) -> Any:
    """The JSON of an export file's contents (``name`` says which file), or a one-line BadInput."""
    try:
        return json.loads(data)
    except UnicodeDecodeError as error:
        raise BadInput(f"{name} is not a JSON export (not UTF-8 text: {error.reason} at byte {error.start})") from None
    except RecursionError:
        raise BadInput(f"{name} is not a JSON export (it nests too deeply)") from None
    except ValueError as error:  # json.JSONDecodeError, or a number too long to read
        raise BadInput(f"{name} is not a JSON export ({str(error).splitlines()[0]})") from None


def load_export(path: Path) -> Any:
    """The JSON in an export file, or a one-line BadInput: missing, a folder, unreadable, not JSON."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{path} does not exist") from None
    except IsADirectoryError:
        raise BadInput(f"{path} is a folder; give the .json file that `runs export` wrote") from None
    except OSError as error:
        raise BadInput(f"{path} cannot be read ({error.strerror or error})") from None
    return parse_export(data, str(path))


def check_export(payload: Any) -> tuple[dict[int, ComparisonRow], dict[int, str]]:
    """Every comparison of an export checked: those that passed and, for each refused one, one
    line saying why; both by position in the file. A file that is not an export is a BadInput."""
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        raise BadInput("not a Twinbench export (missing format marker)")
    version = payload.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise BadInput(f"not a Twinbench export (schema_version must be a whole number, got {shown(version)})")
    if version > SCHEMA_VERSION:
        raise BadInput("this export comes from a newer Twinbench; upgrade to import it")
    comparisons = payload.get("comparisons")
    if not isinstance(comparisons, list):
        raise BadInput(f"not a Twinbench export (comparisons must be a list, got {type(comparisons).__name__})")
    checked: dict[int, ComparisonRow] = {}
    refused: dict[int, str] = {}
    first_with_id: dict[str, int] = {}
    first_with_run: dict[str, int] = {}
    for index, raw in enumerate(comparisons):
        try:
            comparison = ComparisonRow.model_validate(raw)
        except ValidationError as error:
            refused[index] = f"{comparison_label(index, raw)}: {describe(error)}"
            continue
        except RecursionError:
            refused[index] = f"{comparison_label(index, raw)}: it nests too deeply"
            continue
        if comparison.id in first_with_id:
            refused[index] = f"{comparison_label(index, raw)}: the same id as comparison {first_with_id[comparison.id] + 1}"
            continue
        shared = next((run.id for run in comparison.runs if run.id in first_with_run), None)
        if shared is not None:
            refused[index] = (f"{comparison_label(index, raw)}: run {shared} is also in comparison "
                              f"{first_with_run[shared] + 1} of this file")
            continue
        first_with_id[comparison.id] = index
        first_with_run.update((run.id, index) for run in comparison.runs)
        checked[index] = comparison
    return checked, refused
