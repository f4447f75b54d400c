"""The worker's event stream: one JSON object per line, each with a type and a time."""

from __future__ import annotations

import json
import math
import os
import time
from typing import IO, Any

# "ready" and "exited" come from a framework host (core.engine.worker --host): its framework is
# imported, and the process it forked for a run has ended.
EVENT_TYPES = ("started", "progress", "epoch", "finished", "failed", "ready", "exited")


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity; send null instead of an unparseable line."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value


class EventWriter:
    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def emit(self, event_type: str, **fields: Any) -> None:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type}")
        record = {"type": event_type, "time": time.time(), **_clean(fields)}
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()


def claim_stdout_for_events() -> IO[str]:
    """Keep file descriptor 1 for events only, and send everything else printed to stderr.

    Frameworks and their native libraries print to standard output on their own; moving fd 1
    aside first means no stray line can break the parent's JSON parsing.
    """
    events_fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(events_fd, "w", buffering=1)


def parse_event(line: str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(event, dict) or event.get("type") not in EVENT_TYPES:
        return None
    return event
