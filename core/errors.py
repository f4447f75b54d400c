"""Errors a person can act on, and the failure kinds a run can end with."""

from __future__ import annotations

# A run that fails says why with one of these kinds, stored with the run and shown to the user
# (docs/errors.md): the kinds of the exceptions below, and those the worker and runner set
# themselves, out_of_memory and cancelled. Unavailable: the framework is missing, or there is no
# GPU where one was asked for.
FAILURE_KINDS = ("bad_input", "out_of_memory", "unavailable", "cancelled", "crashed")


class TwinbenchError(Exception):
    """An error whose message is meant for a person, not a traceback."""

    kind = "crashed"


class BadInput(TwinbenchError):
    """A value the user gave cannot work; the message names the field and what is allowed."""

    kind = "bad_input"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DataUnavailable(BadInput):
    """A dataset can be neither downloaded nor found on disk."""


class FrameworkUnavailable(TwinbenchError):
    """The framework a run asks for is not installed or cannot see the requested device."""

    kind = "unavailable"
