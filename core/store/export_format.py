"""The JSON export format, and the check of a whole file before ``Store.import_json`` writes any of it.

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
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.errors import BadInput
from core.store.database import SCHEMA_VERSION
from core.store.export_rows import ComparisonRow
from core.store.export_values import describe, shown

EXPORT_FORMAT = "twinbench-export"


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
