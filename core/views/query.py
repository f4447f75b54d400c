"""A page's view kept in the address (st.query_params): lists, flags and date ranges, read and written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any


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


def dates_param(params: Mapping[str, Any], first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """The date range the address asks for (?dates=YYYY-MM-DD,YYYY-MM-DD), kept within [first, last];
    the whole range when it asks for none or for something that is not a pair of dates."""
    try:
        since, until = (dt.date.fromisoformat(part) for part in list_param(params, "dates"))
    except ValueError:
        return first, last
    since, until = min(max(since, first), last), min(max(until, first), last)
    return (since, until) if since <= until else (first, last)


def seed(state: MutableMapping[str, Any], values: Mapping[str, Any]) -> None:
    """Set each of ``values`` in ``state`` (st.session_state) that it does not hold yet: the address
    seeds a widget on a page's first run, after which the widget's own value stands."""
    for key, value in values.items():
        if key not in state:
            state[key] = value
