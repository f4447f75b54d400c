"""What the History page reads from the address and shows of its table (pure functions).

The whole view (filters, sort, selection, dates) lives in the address: ``view_seeds`` reads it for
a first run, ``still_here`` drops what is no longer stored, and ``history_query`` writes it back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from core.errors import BadInput
from core.text import plain
from core.views.history import filter_comparisons, frame_tags, merge_selection, sort_comparisons
from core.views.query import dates_param, flag_param, list_param

DEFAULT_SORT = "created"
# The table's columns besides each framework's figures: those before them, then the wide text ones.
LEADING_COLUMNS = ["id", "created", "dataset", "architecture", "device", "runs"]
TRAILING_COLUMNS = ["tags", "note", "frameworks"]


def comparison_choice(summary: Mapping[str, Any]) -> str:
    """A comparison as the selectors list it (Store.list_comparisons' summary)."""
    when = dt.datetime.fromtimestamp(summary["created_at"]).strftime("%Y-%m-%d %H:%M")
    return f"{summary['id']} · {summary['architecture']} on {summary['dataset']} · {when}"


def filter_options(frame: pd.DataFrame) -> dict[str, list[str]]:
    """What each filter offers: the values the stored comparisons have."""
    return {"datasets": sorted(frame["dataset"].unique()), "architectures": sorted(frame["architecture"].unique()),
            "devices": sorted(frame["device"].unique()), "tags": frame_tags(frame)}


def date_bounds(frame: pd.DataFrame) -> tuple[dt.date, dt.date]:
    return frame["created"].min().date(), frame["created"].max().date()


def view_seeds(params: Mapping[str, Any], frame: pd.DataFrame, summaries: Iterable[str], sorts: Sequence[str]) -> dict[str, Any]:
    """The filters, sort, selection and dates the address asks for, keeping only what is here."""
    first_day, last_day = date_bounds(frame)
    return {**{key: list_param(params, key, allowed) for key, allowed in filter_options(frame).items()},
            "selected": list_param(params, "comparisons", summaries),
            "sort": params.get("sort") if params.get("sort") in sorts else DEFAULT_SORT,
            "descending": flag_param(params, "descending") if "sort" in params else True,
            "dates": dates_param(params, first_day, last_day)}


def still_here(state: Mapping[str, Any], frame: pd.DataFrame, summaries: Iterable[str], sorts: Sequence[str]) -> dict[str, Any]:
    """The filters and selection without what another run or a deletion left behind that is no
    longer stored, and the default sort where the chosen column has gone."""
    stored = set(summaries)
    kept: dict[str, Any] = {key: [v for v in state[key] if v in allowed] for key, allowed in filter_options(frame).items()}
    kept["selected"] = [i for i in state["selected"] if i in stored]
    if state["sort"] not in sorts:
        kept["sort"] = DEFAULT_SORT
    return kept


def date_range(dates: Any) -> tuple[dt.date | None, dt.date | None]:
    """The date input's value as (since, until): a range, one day picked so far, or nothing."""
    return (tuple(dates) + (None, None))[:2] if isinstance(dates, tuple | list) else (dates, None)


def history_query(state: Mapping[str, Any], frame: pd.DataFrame, since: dt.date | None,
                  until: dt.date | None) -> dict[str, Any]:
    """What the address holds of the view (core.views.query.write_params): defaults are left out."""
    first_day, last_day = date_bounds(frame)
    return {**{key: state[key] for key in filter_options(frame)}, "comparisons": state["selected"],
            "sort": None if state["sort"] == DEFAULT_SORT else state["sort"],
            "descending": state["descending"] if state["sort"] != DEFAULT_SORT else (None if state["descending"] else "0"),
            "dates": [] if (since, until) == (first_day, last_day) or until is None
            else [since.isoformat(), until.isoformat()] if since is not None else []}


def shown_comparisons(frame: pd.DataFrame, state: Mapping[str, Any], since: dt.date | None,
                      until: dt.date | None) -> pd.DataFrame:
    """The comparisons the filters let through, in the chosen order, numbered from 0 (the table's rows)."""
    kept = filter_comparisons(frame, state["datasets"], state["architectures"], state["devices"], since, until, state["tags"])
    return sort_comparisons(kept, state["sort"], state["descending"]).reset_index(drop=True)


def figure_columns(frame: pd.DataFrame) -> list[str]:
    """Each framework's figure columns (core.views.history.framework_figures)."""
    return [column for column in frame.columns if column not in (*LEADING_COLUMNS, *TRAILING_COLUMNS)]


def column_order(frame: pd.DataFrame) -> list[str]:
    """Each framework's figures come before the wide text columns, so that they show without scrolling."""
    return [*LEADING_COLUMNS, *figure_columns(frame), *TRAILING_COLUMNS]


def figure_format(column: str) -> dict[str, str]:
    """How a figure column shows its numbers, and its help."""
    return {"format": "percent" if column.endswith("accuracy") else "%.1f" if column.endswith("MiB") else "%.0f",
            "help": "Median over the framework's finished repeats" + (
                "; device allocator's peak where measured, else the worker's host RSS" if column.endswith("MiB") else "")}


def table_key(shown: pd.DataFrame) -> str:
    """Ticks are row positions: a table with other rows or another order is a new table, whose ticks start empty."""
    return "history-table-" + hashlib.sha256(",".join(shown["id"]).encode()).hexdigest()[:12]


def ticked_ids(shown: pd.DataFrame, rows: Iterable[int]) -> list[str]:
    return [shown.loc[i, "id"] for i in rows if i < len(shown)]


def selection_after_ticks(selected: list[str], last_ticks: tuple[str | None, list[str]], key: str,
                          ticked: list[str]) -> list[str]:
    """The selection once the table's ticks are taken in: ticking rows adds them and unticking removes
    them. ``last_ticks`` is (table key, ids) as the last run left them; ticks of another table count as none."""
    previous_key, previous = last_ticks
    previous = previous if previous_key == key else []
    return merge_selection(selected, previous, ticked) if ticked != previous else selected


def compare_links(selected: Sequence[str]) -> list[dict[str, Any] | None]:
    """The links to the Compare page, one per column: the one selected comparison, and all selected overlaid."""
    one = {"label": f"Open {plain(selected[0])} on the Compare page", "icon": ":material/compare_arrows:",
           "query_params": {"comparison": selected[0]}} if len(selected) == 1 else None
    overlay = {"label": f"Overlay the {len(selected)} selected on the Compare page", "icon": ":material/stacked_line_chart:",
               "query_params": {"show": "several", "comparisons": ",".join(selected)}}
    return [one, overlay]


def annotation_fields(summary: Mapping[str, Any]) -> dict[str, str]:
    """The tags and note fields as one comparison's stored annotations fill them."""
    return {"tags_text": ", ".join(summary.get("tags") or []), "note_text": summary.get("note") or ""}


def capitalised(text: object) -> str:
    words = str(text)
    return words[:1].upper() + words[1:]


def import_failure(error: BadInput) -> str:
    """An import's refusal as one message that says nothing was imported."""
    message = str(error) if str(error).startswith("nothing was imported") else f"nothing was imported: {error}"
    return capitalised(message)


def deletable(selected: Sequence[str], summaries: Mapping[str, Any],
              may_change: Callable[[Any], bool]) -> tuple[list[str], int]:
    """The selected comparisons this session may delete, and how many others were selected."""
    chosen = [comparison_id for comparison_id in selected if may_change(summaries[comparison_id])]
    return chosen, len(selected) - len(chosen)
