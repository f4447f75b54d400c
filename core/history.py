"""The History page's logic: the comparisons list, its filters, a diff of comparisons, and the tags
and note a person writes on one (validated here, stored by core.store)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

from core.errors import BadInput
from core.frameworks import LABELS as FRAMEWORK_LABELS
from core.report import METRICS, format_spread, summarize


def comparisons_frame(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "id": s["id"],
            "created": dt.datetime.fromtimestamp(s["created_at"]),
            "dataset": s["dataset"],
            "architecture": s["architecture"],
            "device": s.get("resolved_device") or s["device"],
            "frameworks": ", ".join(FRAMEWORK_LABELS.get(f, f) for f in s["frameworks"].split(",")),
            "runs": f"{s['finished'] or 0}/{s['runs']} finished" + (f", {s['failed']} failed" if s["failed"] else ""),
        }
        for s in summaries
    ]
    return pd.DataFrame(rows, columns=["id", "created", "dataset", "architecture", "device", "frameworks", "runs"])


def filter_comparisons(
    frame: pd.DataFrame,
    datasets: list[str] | None = None,
    architectures: list[str] | None = None,
    devices: list[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """Keep rows matching every filter given; an empty or missing filter keeps everything."""
    mask = pd.Series(True, index=frame.index)
    for column, allowed in (("dataset", datasets), ("architecture", architectures), ("device", devices)):
        if allowed:
            mask &= frame[column].isin(allowed)
    if since:
        mask &= frame["created"].dt.date >= since
    if until:
        mask &= frame["created"].dt.date <= until
    return frame[mask]


def diff_comparisons(first: dict[str, Any], second: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Settings side by side (with a 'differs' flag) and each framework's results side by side."""
    keys = sorted(set(first["settings"]) | set(second["settings"]))
    settings = pd.DataFrame(
        [{"setting": k, first["id"]: str(first["settings"].get(k)), second["id"]: str(second["settings"].get(k)),
          "differs": first["settings"].get(k) != second["settings"].get(k)} for k in keys]
    )
    frameworks = sorted(set(first["frameworks"].split(",")) | set(second["frameworks"].split(",")))
    summary_a = summarize(first["runs"], frameworks)
    summary_b = summarize(second["runs"], frameworks)
    rows = []
    for metric in METRICS:
        for framework in frameworks:
            a, b = summary_a[framework][metric.key], summary_b[framework][metric.key]
            if a is None and b is None:
                continue
            rows.append({"figure": metric.label, "framework": FRAMEWORK_LABELS[framework],
                         first["id"]: format_spread(a, metric.unit), second["id"]: format_spread(b, metric.unit)})
    return settings, pd.DataFrame(rows, columns=["figure", "framework", first["id"], second["id"]])


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
