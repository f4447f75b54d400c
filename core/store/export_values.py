"""The values of an export file, one at a time: the types its columns take, the JSON kept as text,
and the one line that says why a value is refused (core/store/export_format.py says what the
format holds)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from core.frameworks import NAMES as FRAMEWORKS
from core.spec import RunSpec, bad_input

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


def registered_framework(value: str) -> str:
    if value not in FRAMEWORKS:
        raise PydanticCustomError("twinbench_framework", "must be one of {known} (got {value})",
                                  {"known": ", ".join(FRAMEWORKS), "value": shown(value)})
    return value


Text = Annotated[str, AfterValidator(_valid_unicode)]
Id = Annotated[str, Field(pattern=ID_PATTERN)]
Whole = Annotated[int, Field(ge=0, le=MAX_WHOLE)]
Timestamp = Annotated[float, Field(ge=0.0, le=MAX_TIMESTAMP)]
FrameworkName = Annotated[str, AfterValidator(registered_framework)]


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


class StrictSpec(RunSpec):
    """RunSpec as stored: strict types (a number is a JSON number, not text that reads as one, since
    the pages format it as a number; no switch where a number belongs), notes a JSON list."""

    model_config = ConfigDict(strict=True)
    notes: list[Text] = []  # type: ignore[assignment]


def check_run_spec(fields: dict[str, Any]) -> None:
    """The RunSpec fields among ``fields``, checked with a new comparison's types, ranges and words.
    Keys RunSpec does not know are kept as they are (a newer or older version's settings)."""
    known = {key: value for key, value in fields.items() if key in RunSpec.model_fields}
    try:
        StrictSpec.model_validate(known)
    except ValidationError as error:
        raise PydanticCustomError("twinbench_spec", "{why}", {"why": str(bad_input(error))}) from None



def inconsistent(why: str) -> PydanticCustomError:
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
