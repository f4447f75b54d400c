"""Plotly figures of a sweep (pure: core.engine.sweep.sweep_frame in, figure out, no Streamlit here).

Each chart puts the swept setting on the x axis (``x``); a line per framework, or per framework
and value of the other swept settings when more than one was swept. Cells that failed have no
figure to plot: they are marked with an ``x`` at the bottom of the chart, coloured by framework,
with the failure in their hover label ("out of memory at batch 2048: ...").
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.sweep_spec import describe_values, field_words
from core.views.charts import FRAMEWORK_COLORS, LAYOUT, MARGIN, _empty

FAILED_SYMBOL = "x"
INCONCLUSIVE_SYMBOL = "circle-open"
DECIDED_SYMBOL = "circle"
# Line styles for the values of the other swept settings (the framework keeps its colour).
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def _is_number(value: Any) -> bool:
    # numbers.Number covers the numpy scalars a DataFrame hands back; a switch is a category.
    return isinstance(value, numbers.Number) and not isinstance(value, (bool, np.bool_))


def _x_axis(frame: pd.DataFrame, x: str) -> dict[str, Any]:
    """Numbers on a log axis when they span a factor of 8 or more (batch sizes double), on a
    linear one otherwise; words and switches as categories in the sweep's order."""
    values = [v for v in frame[x].dropna().unique()]
    if values and all(_is_number(v) for v in values):
        low, high = min(values), max(values)
        kind = "log" if low > 0 and high / low >= 8 else "linear"
        # Ticks at the swept values only: a log axis would otherwise label 2, 5, 100, 2, 5, 1000.
        ticks = sorted(values)
        return {"type": kind, "title": field_words(x), "tickvals": ticks, "ticktext": [f"{v:g}" for v in ticks]}
    order = list(dict.fromkeys(str(v) for v in frame[x]))
    return {"type": "category", "categoryorder": "array", "categoryarray": order, "title": field_words(x)}


def _x_values(points: pd.DataFrame, x: str) -> list[Any]:
    return [v if _is_number(v) else str(v) for v in points[x]]


def _groups(frame: pd.DataFrame, x: str, framework_column: str = "framework") -> list[tuple[str, str, str, pd.DataFrame]]:
    """(framework label, line name, dash, rows) per line: the framework, and the other swept settings' values."""
    others = [name for name in frame.attrs.get("swept", []) if name != x and name in frame.columns]
    lines = []
    combos = list(dict.fromkeys(tuple(row) for row in frame[others].itertuples(index=False))) if others else [()]
    for framework in dict.fromkeys(frame[framework_column]):
        for number, combo in enumerate(combos):
            rows = frame[frame[framework_column] == framework]
            for name, value in zip(others, combo, strict=True):
                rows = rows[rows[name] == value]
            if rows.empty:
                continue
            extra = describe_values(dict(zip(others, combo, strict=True))) if others else ""
            name = f"{framework} · {extra}" if extra else str(framework)
            lines.append((str(framework), name, DASHES[number % len(DASHES)], rows))
    return lines


def _sorted(rows: pd.DataFrame, x: str) -> pd.DataFrame:
    if all(_is_number(v) for v in rows[x].dropna()):
        return rows.sort_values(x)
    return rows  # categories keep the sweep's order


def _failure_markers(figure: go.Figure, frame: pd.DataFrame, x: str, y: float) -> None:
    """An x per failed (cell, framework), at ``y`` (the bottom of what is plotted)."""
    failed = frame[frame["status"] == "failed"]
    for framework, rows in failed.groupby("framework", sort=False):
        figure.add_scatter(
            x=_x_values(rows, x), y=[y] * len(rows), mode="markers", name=f"{framework}: failed",
            marker={"symbol": FAILED_SYMBOL, "size": 12, "color": FRAMEWORK_COLORS.get(str(framework)),
                    "line": {"width": 2}},
            text=[str(text) for text in rows["failure"]], hovertemplate="<b>%{fullData.name}</b><br>%{text}<extra></extra>",
        )


def _bottom(values: list[float], log_scale: bool) -> float:
    """Where failure markers sit: under the lowest figure plotted (0 on a linear axis)."""
    if not log_scale:
        return 0.0
    positive = [v for v in values if v and v > 0]
    return min(positive) / 2 if positive else 1.0


def _figure_by_setting(frame: pd.DataFrame, x: str, column: str, low: str | None, high: str | None, title: str,
                       axis_title: str, value_format: str, unit: str, log_scale: bool) -> go.Figure:
    if frame.empty or x not in frame.columns:
        return _empty(title, "No cells in this sweep")
    figure = go.Figure()
    plotted: list[float] = []
    for framework, name, dash, rows in _groups(frame, x):
        points = _sorted(rows[rows[column].notna()], x)
        if points.empty:
            continue
        values = points[column].astype(float).tolist()
        plotted += values
        error: dict[str, Any] = {"visible": False}
        if low and high and points[low].notna().any():
            upper = [(h - v) if pd.notna(h) else 0.0 for h, v in zip(points[high], values, strict=True)]
            lower = [(v - lo) if pd.notna(lo) else 0.0 for lo, v in zip(points[low], values, strict=True)]
            error = {"type": "data", "array": upper, "arrayminus": lower, "visible": True, "thickness": 1.5}
        colour = FRAMEWORK_COLORS.get(framework)
        figure.add_scatter(
            x=_x_values(points, x), y=values, mode="lines+markers", name=name, legendgroup=name, error_y=error,
            line={"color": colour, "dash": dash}, marker={"color": colour, "symbol": DECIDED_SYMBOL},
            customdata=points["setting"].tolist(),
            hovertemplate=f"<b>%{{fullData.name}}</b><br>%{{customdata}}<br>%{{y:{value_format}}} {unit}<extra></extra>",
        )
    if not plotted and not (frame["status"] == "failed").any():
        return _empty(title, "No cell has finished yet")
    _failure_markers(figure, frame, x, _bottom(plotted, log_scale))
    figure.update_layout(title={"text": title, "subtitle": {"text": "median of the runs, bars: 95 % interval · x: failed"}},
                         xaxis=_x_axis(frame, x), yaxis={"type": "log" if log_scale else "linear", "title": axis_title},
                         **{**LAYOUT, "margin": {**MARGIN, "t": 60}})
    return figure


def throughput_figure(frame: pd.DataFrame, x: str, log_scale: bool = False) -> go.Figure:
    """Steady images/s against the swept setting ``x``, a line per framework with its 95 % interval."""
    return _figure_by_setting(frame, x, "images_per_second", "images_per_second_low", "images_per_second_high",
                              f"Training speed by {field_words(x)}", "steady images/s", ",.0f", "images/s", log_scale)


def memory_figure(frame: pd.DataFrame, x: str, log_scale: bool = False) -> go.Figure:
    """Peak memory (MiB; the device's where measured, else the process's) against the swept setting."""
    kinds = sorted({str(kind) for kind in frame.get("memory_kind", pd.Series(dtype=object)).dropna()})
    axis = f"peak {'/'.join(kinds) or 'memory'} MiB"
    return _figure_by_setting(frame, x, "peak_memory_mib", None, None, f"Peak memory by {field_words(x)}", axis,
                              ",.1f", "MiB", log_scale)


def ratio_figure(frame: pd.DataFrame, x: str, log_scale: bool = False) -> go.Figure:
    """first framework / each other one in steady images/s against the swept setting, with the 95 %
    interval as a shaded band; a point whose interval includes 1 (or that the verdict could not
    judge) is an open circle and named inconclusive, and a grey band marks 1 ("equal")."""
    title = f"Speed ratio by {field_words(x)}"
    if frame.empty or x not in frame.columns or "speed_ratio" not in frame.columns:
        return _empty(title, "No cells in this sweep")
    others = frame[~frame["baseline"].astype(bool)]
    if others.empty:
        return _empty(title, "One framework only: nothing to compare")
    figure = go.Figure()
    plotted: list[float] = []
    for framework, name, dash, rows in _groups(others, x):
        points = _sorted(rows[rows["speed_ratio"].notna()], x)
        if points.empty:
            continue
        ratio_of = str(points["ratio_of"].iloc[0])
        line_name = name.replace(str(framework), ratio_of, 1)
        colour = FRAMEWORK_COLORS.get(framework)
        xs = _x_values(points, x)
        values = points["speed_ratio"].astype(float).tolist()
        plotted += values
        known = points[points["speed_ratio_low"].notna() & points["speed_ratio_high"].notna()]
        if not known.empty:
            band_x = _x_values(known, x)
            # The interval as a closed shape: along the upper edge, back along the lower one.
            figure.add_scatter(
                x=band_x + band_x[::-1],
                y=known["speed_ratio_high"].astype(float).tolist() + known["speed_ratio_low"].astype(float).tolist()[::-1],
                fill="toself", fillcolor=colour, opacity=0.2, line={"width": 0}, mode="lines",
                name=f"{line_name}: 95 % interval", legendgroup=line_name, hoverinfo="skip",
            )
        # Not judged (no decision) counts as inconclusive: nothing was shown to differ.
        inconclusive = [True if pd.isna(value) else bool(value) for value in points["inconclusive"]]
        reasons = [f"inconclusive: {reason if isinstance(reason, str) else 'not judged'}" if undecided
                   else "interval excludes equal" for undecided, reason in zip(inconclusive, points["ratio_reason"], strict=True)]
        lows = [f"{v:.2f}" if pd.notna(v) else "?" for v in points["speed_ratio_low"]]
        highs = [f"{v:.2f}" if pd.notna(v) else "?" for v in points["speed_ratio_high"]]
        figure.add_scatter(
            x=xs, y=values, mode="lines+markers", name=line_name, legendgroup=line_name,
            line={"color": colour, "dash": dash},
            marker={"color": colour, "size": 10,
                    "symbol": [INCONCLUSIVE_SYMBOL if undecided else DECIDED_SYMBOL for undecided in inconclusive]},
            customdata=list(zip(points["setting"], lows, highs, reasons, strict=True)),
            hovertemplate=("<b>%{fullData.name}</b><br>%{customdata[0]}<br>%{y:.2f}× "
                           "(95 % CI %{customdata[1]}–%{customdata[2]})<br>%{customdata[3]}<extra></extra>"),
        )
        if any(inconclusive):
            undecided_points = points[[bool(v) for v in inconclusive]]
            figure.add_scatter(
                x=_x_values(undecided_points, x), y=undecided_points["speed_ratio"].astype(float).tolist(),
                mode="markers", name=f"{line_name}: inconclusive", legendgroup=line_name, hoverinfo="skip",
                marker={"symbol": INCONCLUSIVE_SYMBOL, "size": 16, "color": "grey"},
            )
    failed = others[others["status"] == "failed"]
    if not plotted and failed.empty:
        return _empty(title, "No ratio yet: no cell has finished in two frameworks")
    _failure_markers(figure, others, x, min([*plotted, 1.0]) * 0.9)
    # The verdict's rule decides each point's marker (its interval including 1); the line shows
    # where "equal" is, so a band crossing it reads as inconclusive at a glance.
    figure.add_hline(y=1.0, line={"color": "grey", "dash": "dash"}, annotation_text="equal",
                     annotation_position="top left")
    figure.update_layout(
        title={"text": title, "subtitle": {"text": "above 1: the first framework is faster · band: 95 % interval · "
                                                   "open circle: inconclusive · x: failed"}},
        xaxis=_x_axis(frame, x), yaxis={"type": "log" if log_scale else "linear", "title": "speed ratio (×)"},
        **{**LAYOUT, "margin": {**MARGIN, "t": 60}},
    )
    return figure
