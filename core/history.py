"""The History page's logic: the comparisons list, its filters, a diff of comparisons, and the tags
and note a person writes on one (validated here, stored by core.store)."""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import pandas as pd

from core.errors import BadInput
from core.frameworks import LABELS as FRAMEWORK_LABELS
from core.frameworks import REGISTRY
from core.report import METRICS, format_spread, summarize
from core.run_table import peak_memory

# What each framework's columns in the comparisons table hold: (suffix, what the results call it).
# Peak memory is the device allocator's where measured, else the worker's host RSS (core.run_table).
FRAMEWORK_FIGURES = (("images/s", "steady_images_per_second"), ("accuracy", "test_accuracy"),
                     ("peak MiB", None))
BASE_COLUMNS = ["id", "created", "dataset", "architecture", "device", "frameworks", "runs", "tags", "note"]


def figure_column(framework_label: str, suffix: str) -> str:
    """The comparisons table's column for one framework's figure: "PyTorch images/s"."""
    return f"{framework_label} {suffix}"


def framework_figures(comparison: dict[str, Any]) -> dict[str, float]:
    """Each framework's median images/s, test accuracy and peak memory (MiB) over its finished
    runs, keyed by ``figure_column``; a figure no run measured is left out."""
    figures: dict[str, float] = {}
    for framework in dict.fromkeys(run["framework"] for run in comparison["runs"]):
        results = [run["result"] for run in comparison["runs"]
                   if run["framework"] == framework and run["status"] == "finished" and run["result"]]
        name = FRAMEWORK_LABELS.get(framework, framework)
        for suffix, key in FRAMEWORK_FIGURES:
            values = [peak_memory(r)[0] if key is None else r.figure(key) for r in results]
            numbers = [float(v) for v in values if v is not None]
            if numbers:
                figures[figure_column(name, suffix)] = statistics.median(numbers)
    return figures


def comparisons_frame(summaries: list[dict[str, Any]], figures: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """One row per comparison; ``figures`` (comparison id to ``framework_figures``) adds a numeric
    column per framework and figure, in registry order, NaN where a comparison lacks it."""
    figures = figures or {}
    rows = [
        {
            "id": s["id"],
            "created": dt.datetime.fromtimestamp(s["created_at"]),
            "dataset": s["dataset"],
            "architecture": s["architecture"],
            "device": s.get("resolved_device") or s["device"],
            "frameworks": ", ".join(FRAMEWORK_LABELS.get(f, f) for f in s["frameworks"].split(",")),
            "runs": f"{s['finished'] or 0}/{s['runs']} finished" + (f", {s['failed']} failed" if s["failed"] else ""),
            # Older stores and exports have no annotations.
            "tags": ", ".join(s.get("tags") or []),
            "note": s.get("note") or "",
            **figures.get(s["id"], {}),
        }
        for s in summaries
    ]
    present = set().union(*(figures.get(s["id"], {}) for s in summaries)) if summaries else set()
    metric_columns = [figure_column(framework.label, suffix) for framework in REGISTRY.values()
                      for suffix, _ in FRAMEWORK_FIGURES if figure_column(framework.label, suffix) in present]
    return pd.DataFrame(rows, columns=[*BASE_COLUMNS, *metric_columns])


def frame_tags(frame: pd.DataFrame) -> list[str]:
    """Every tag in the table's ``tags`` column, sorted ignoring case."""
    tags = {tag.strip() for cell in frame.get("tags", pd.Series(dtype=str)) for tag in str(cell).split(",") if tag.strip()}
    return sorted(tags, key=str.casefold)


def filter_comparisons(
    frame: pd.DataFrame,
    datasets: list[str] | None = None,
    architectures: list[str] | None = None,
    devices: list[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    tags: list[str] | None = None,
) -> pd.DataFrame:
    """Keep rows matching every filter given; an empty or missing filter keeps everything. A row
    passes ``tags`` when it has any of them."""
    mask = pd.Series(True, index=frame.index)
    for column, allowed in (("dataset", datasets), ("architecture", architectures), ("device", devices)):
        if allowed:
            mask &= frame[column].isin(allowed)
    if since:
        mask &= frame["created"].dt.date >= since
    if until:
        mask &= frame["created"].dt.date <= until
    if tags:
        wanted = {tag.casefold() for tag in tags}
        mask &= frame["tags"].map(lambda cell: bool(wanted & {t.strip().casefold() for t in str(cell).split(",")}))
    return frame[mask]


def sort_comparisons(frame: pd.DataFrame, column: str | None, descending: bool = False) -> pd.DataFrame:
    """``frame`` sorted by ``column``, missing values last; no or an unknown column keeps its order (newest first)."""
    if not column or column not in frame.columns:
        return frame
    return frame.sort_values(column, ascending=not descending, na_position="last", kind="stable")


def sort_options(frame: pd.DataFrame) -> list[str]:
    """What the History page offers to sort by: when made, then each framework's figures."""
    return ["created", *[c for c in frame.columns if c not in BASE_COLUMNS]]


def merge_selection(selected: list[str], previous_rows: list[str], rows: list[str]) -> list[str]:
    """The selection after the table's selected rows went from ``previous_rows`` to ``rows``:
    rows newly ticked are added (at the end), rows unticked removed, anything else kept."""
    removed = set(previous_rows) - set(rows)
    kept = [i for i in selected if i not in removed]
    return kept + [i for i in rows if i not in kept]


def diff_many(comparisons: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Settings side by side (a column per comparison, with a 'differs' flag: not all equal) and
    each framework's results side by side, for any number of comparisons."""
    ids = [c["id"] for c in comparisons]
    keys = sorted(set().union(*(c["settings"] for c in comparisons))) if comparisons else []
    settings = pd.DataFrame(
        [{"setting": k, **{c["id"]: str(c["settings"].get(k)) for c in comparisons},
          "differs": len({repr(c["settings"].get(k)) for c in comparisons}) > 1} for k in keys],
        columns=["setting", *ids, "differs"],
    )
    frameworks = [name for name in REGISTRY if any(name in c["frameworks"].split(",") for c in comparisons)]
    frameworks += sorted({f for c in comparisons for f in c["frameworks"].split(",")} - set(frameworks))
    summaries = [summarize(c["runs"], frameworks) for c in comparisons]
    rows = []
    for metric in METRICS:
        for framework in frameworks:
            values = [summary[framework][metric.key] for summary in summaries]
            if all(v is None for v in values):
                continue
            rows.append({"figure": metric.label, "framework": FRAMEWORK_LABELS.get(framework, framework),
                         **{i: format_spread(v, metric.unit) for i, v in zip(ids, values, strict=True)}})
    return settings, pd.DataFrame(rows, columns=["figure", "framework", *ids])


def diff_comparisons(first: dict[str, Any], second: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``diff_many`` of two comparisons."""
    return diff_many([first, second])


# --- the page's view, kept in the address ---------------------------------------------------------


def list_param(params: Mapping[str, Any], key: str, allowed: Iterable[str] | None = None) -> list[str]:
    """A comma-separated address parameter as a list, without blanks or repeats; with ``allowed``,
    only those values (the address may name a dataset or comparison that is not here)."""
    values = list(dict.fromkeys(v.strip() for v in str(params.get(key) or "").split(",") if v.strip()))
    if allowed is not None:
        known = set(allowed)
        values = [v for v in values if v in known]
    return values


def write_params(params: MutableMapping[str, Any], values: Mapping[str, str | list[str] | bool | None]) -> None:
    """Set each of ``values`` in ``params`` (st.query_params): lists comma-joined, True as "1";
    an empty list, False, None or "" removes the key, so the address holds only what was chosen.
    Unchanged keys are not rewritten (each write updates the browser's address)."""
    for key, value in values.items():
        text = ",".join(value) if isinstance(value, list) else ("1" if value is True else (value or ""))
        if text:
            if params.get(key) != text:
                params[key] = text
        elif key in params:
            del params[key]


def flag_param(params: Mapping[str, Any], key: str) -> bool:
    """An on/off address parameter: "1", "true", "yes" or "on" is on."""
    return str(params.get(key) or "").strip().lower() in ("1", "true", "yes", "on")


# --- tags and notes: what a person writes about a comparison -------------------------------------

MAX_TAGS = 20
MAX_TAG_LENGTH = 40
MAX_NOTE_LENGTH = 2000
# Control characters would break the one-line table cells and CSV rows tags are shown in; a note
# keeps its line breaks and tabs.
_TAG_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_NOTE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_tags(tags: str | Iterable[str] | None) -> list[str]:
    """Tags as stored: from "gpu, baseline" or a list, each stripped (inner runs of spaces made one),
    empty ones dropped, repeats dropped ignoring case (the first spelling stays), in the order given.

    Commas separate tags, so a list element holding one is split too. Raises BadInput naming the
    field when a tag is longer than MAX_TAG_LENGTH or there are more than MAX_TAGS.
    """
    if tags is None:
        return []
    pieces = [tags] if isinstance(tags, str) else list(tags)
    cleaned: list[str] = []
    seen: set[str] = set()
    for piece in pieces:
        if not isinstance(piece, str):
            raise BadInput(f"tags must be text (got {type(piece).__name__})", field="tags")
        for tag in piece.split(","):
            tag = " ".join(_TAG_CONTROL.sub(" ", tag).split())
            if not tag or tag.casefold() in seen:
                continue
            if len(tag) > MAX_TAG_LENGTH:
                raise BadInput(f"a tag must be 1 to {MAX_TAG_LENGTH} characters (got {len(tag)}: {tag[:20]!r}…)",
                               field="tags")
            seen.add(tag.casefold())
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise BadInput(f"at most {MAX_TAGS} tags per comparison (got {len(cleaned)})", field="tags")
    return cleaned


def clean_note(note: str | None) -> str:
    """A note as stored: surrounding blank space and control characters (but line breaks and tabs)
    removed; raises BadInput when it is longer than MAX_NOTE_LENGTH characters."""
    if note is None:
        return ""
    if not isinstance(note, str):
        raise BadInput(f"a note must be text (got {type(note).__name__})", field="note")
    cleaned = _NOTE_CONTROL.sub("", note.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(cleaned) > MAX_NOTE_LENGTH:
        raise BadInput(f"a note must be at most {MAX_NOTE_LENGTH} characters (got {len(cleaned)})", field="note")
    return cleaned


def dates_param(params: Mapping[str, Any], first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """The date range the address asks for (?dates=YYYY-MM-DD,YYYY-MM-DD), kept within [first, last];
    the whole range when it asks for none or for something that is not a pair of dates."""
    try:
        since, until = (dt.date.fromisoformat(part) for part in list_param(params, "dates"))
    except ValueError:
        return first, last
    since, until = min(max(since, first), last), min(max(until, first), last)
    return (since, until) if since <= until else (first, last)
