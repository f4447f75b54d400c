"""What a person writes about a comparison: its tags and note, checked and cleaned as stored."""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.errors import BadInput

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


