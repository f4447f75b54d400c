"""Plotly figures for the dashboard: DataFrame in, figure out, no Streamlit here.

Every speed and memory chart takes ``log_scale`` (a logarithmic value axis, so a framework many
times slower does not flatten the others); the learning curves take ``smoothing`` (TensorBoard's
debiased EMA, the raw curve faint behind) and ``log_scale`` for their training-time axis. Hover
labels name the run as its legend does ("PyTorch #2"), with units and a sensible precision.
``ChartView`` is the page's choice of those, read from and written to the page's address.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd
import plotly.graph_objects as go

from core.analysis.frames import NOT_MEASURED, REACHED, target_note
from core.analysis.smoothing import clamp_smoothing, ema
from core.frameworks import REGISTRY

# Frames carry each framework's label; every chart colours it the same way.
FRAMEWORK_COLORS = {framework.label: framework.colour for framework in REGISTRY.values()}
MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
LAYOUT: dict[str, Any] = {"margin": MARGIN, "legend_title_text": ""}
# What the learning curves can be drawn against.
CURVE_AXES = ("epoch", "train_seconds")
# Repeats of one framework share its colour and differ by marker.
REPEAT_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "pentagon")
# How values read in hover labels (d3 formats).
ACCURACY_FORMAT = ".1%"
LOSS_FORMAT = ".3f"
SECONDS_FORMAT = ",.2f"
MS_FORMAT = ",.2f"
MIB_FORMAT = ",.1f"
RATE_FORMAT = ",.1f"


@dataclass(frozen=True)
class ChartView:
    """How the Compare page draws its charts; kept in the address so that a link shows the same view."""

    x_axis: str = "epoch"
    log_scale: bool = False
    smoothing: float = 0.0

    KEYS: ClassVar[tuple[str, ...]] = ("x_axis", "log_scale", "smoothing")

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> ChartView:
        """The view the address asks for; a value that makes no sense falls back to the default."""
        x_axis = str(params.get("x_axis") or cls.x_axis)
        log_scale = str(params.get("log_scale") or "").strip().lower() in ("1", "true", "yes", "on", "log")
        return cls(x_axis=x_axis if x_axis in CURVE_AXES else cls.x_axis, log_scale=log_scale,
                   smoothing=round(clamp_smoothing(params.get("smoothing") or 0.0), 2))

    def to_query(self) -> dict[str, str]:
        """The address parameters for this view: only what differs from the default, so links stay short."""
        query = {}
        if self.x_axis != ChartView.x_axis:
            query["x_axis"] = self.x_axis
        if self.log_scale:
            query["log_scale"] = "1"
        if self.smoothing:
            query["smoothing"] = f"{self.smoothing:g}"
        return query

    def write_query(self, params: MutableMapping[str, Any]) -> None:
        """Set this view's parameters in ``params`` (st.query_params) and drop those at their default."""
        wanted = self.to_query()
        for key in self.KEYS:
            if key in wanted:
                if params.get(key) != wanted[key]:
                    params[key] = wanted[key]
            elif key in params:
                del params[key]


def _empty(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_layout(title=title, xaxis_visible=False, yaxis_visible=False, **LAYOUT)
    return figure


def _value_axis(log_scale: bool) -> dict[str, Any]:
    return {"type": "log" if log_scale else "linear"}


def epoch_dtick(last_epoch: float) -> int:
    """Whole-epoch tick spacing: every epoch up to 20, then a round step giving about ten ticks."""
    if not last_epoch or last_epoch <= 20:
        return 1
    return next((step for step in (2, 5, 10, 20, 50, 100, 200, 500) if last_epoch / step <= 10), 1000)


def run_name(framework: str, repeat: int, numbered: bool) -> str:
    """A run as its legend entry and hover label read: "PyTorch", or "PyTorch #2" when there are repeats."""
    return f"{framework} #{repeat}" if numbered else framework


def curves_figure(epochs: pd.DataFrame, metric: str = "accuracy", x: str = "epoch", smoothing: float = 0.0,
                  log_scale: bool = False) -> go.Figure:
    """Validation (solid) and train (dashed) curves, one legend entry per run.

    ``metric`` is "accuracy" or "loss"; ``x`` is "epoch" or "train_seconds" (wall time spent
    training, which is where speed and accuracy meet). ``smoothing`` in [0, 0.99] draws
    TensorBoard's debiased EMA of each curve over the raw curve, which stays faint behind;
    ``log_scale`` makes the training-time axis logarithmic (the epoch axis stays whole epochs).
    """
    title = f"{metric.capitalize()} by {'epoch' if x == 'epoch' else 'training time'}"
    if epochs.empty:
        return _empty(title, "No epochs recorded yet")
    smoothing = clamp_smoothing(smoothing)
    value_format = ACCURACY_FORMAT if metric == "accuracy" else LOSS_FORMAT
    numbered = bool(epochs["repeat"].max() > 1)
    figure = go.Figure()
    order = {framework: position for position, framework in enumerate(dict.fromkeys(epochs["framework"]))}
    runs = sorted(epochs.groupby(["framework", "repeat"], sort=False), key=lambda item: (order[item[0][0]], item[0][1]))
    for (framework, repeat), run in runs:  # the legend lists each framework's repeats together
        name = run_name(str(framework), int(repeat), numbered)
        colour = FRAMEWORK_COLORS.get(str(framework))
        symbol = REPEAT_SYMBOLS[(int(repeat) - 1) % len(REPEAT_SYMBOLS)]
        in_legend = True
        for split, prefix, dash in (("validation", "val", "solid"), ("train", "train", "dash")):
            points = run.dropna(subset=[f"{prefix}_{metric}"]).sort_values("epoch")
            if points.empty:
                continue
            raw = points[f"{prefix}_{metric}"].astype(float).tolist()
            xs = points[x].astype(float).tolist()
            customdata = list(zip(points["epoch"].astype(int), points["train_seconds"].astype(float), raw, strict=True))
            hover = (f"<b>%{{fullData.name}}</b> {split}<br>epoch %{{customdata[0]}} · %{{customdata[1]:,.1f}} s training"
                     f"<br>{metric} %{{y:{value_format}}}")
            line = {"color": colour, "dash": dash}
            if smoothing:
                figure.add_scatter(x=xs, y=raw, mode="lines", line={**line, "width": 1}, opacity=0.25, name=name,
                                   legendgroup=name, showlegend=False, hoverinfo="skip")
                hover += f" (raw %{{customdata[2]:{value_format}}})"
            figure.add_scatter(
                x=xs, y=ema(raw, smoothing) if smoothing else raw, mode="lines+markers", name=name, legendgroup=name,
                showlegend=in_legend, line=line, marker={"color": colour, "symbol": symbol}, customdata=customdata,
                hovertemplate=hover + "<extra></extra>",
            )
            in_legend = False
    if not figure.data:
        return _empty(title, f"No {metric} recorded")
    subtitle = "solid: validation · dashed: train" + (f" · smoothed {smoothing:g}, raw faint" if smoothing else "")
    return _curve_layout(figure, title, subtitle, x, epochs, metric, log_scale)


def _curve_layout(figure: go.Figure, title: str, subtitle: str, x: str, epochs: pd.DataFrame, metric: str,
                  log_scale: bool) -> go.Figure:
    """Title, subtitle and axes of a curves chart: whole-epoch ticks, or seconds on a value axis."""
    figure.update_layout(title={"text": title, "subtitle": {"text": subtitle}}, **{**LAYOUT, "margin": {**MARGIN, "t": 60}})
    if x == "epoch":
        figure.update_xaxes(title="epoch", tick0=1, dtick=epoch_dtick(float(epochs["epoch"].max())))
    else:
        figure.update_xaxes(title="training seconds", **_value_axis(log_scale))
    figure.update_yaxes(title=metric, **({"tickformat": ".0%"} if metric == "accuracy" else {}))
    return figure


# Colours for comparisons when the overlay is coloured by comparison (Plotly's default sequence,
# without the red and blue that read as two frameworks elsewhere on the pages).
COMPARISON_COLORS = ("#636EFA", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52",
                     "#8C564B")
# The other dimension of the overlay (framework when coloured by comparison, and the reverse) is told by dash.
OVERLAY_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
OVERLAY_COLOURINGS = ("comparison", "framework")
OVERLAY_SPLITS = ("validation", "train")


def overlay_curves_figure(epochs: pd.DataFrame, metric: str = "accuracy", x: str = "epoch", colour_by: str = "comparison",
                          split: str = "validation", smoothing: float = 0.0, log_scale: bool = False) -> go.Figure:
    """Learning curves of several comparisons on one chart: one legend entry per run
    ("<comparison> · PyTorch #2"), one split at a time.

    ``epochs`` is ``core.analysis.frames.overlay_epochs_frame``. ``colour_by`` "comparison" gives each
    comparison a colour and each framework a dash; "framework" gives each framework its usual colour
    and each comparison a dash. Repeats differ by marker. ``smoothing`` and ``log_scale`` work as
    in ``curves_figure``.
    """
    title = f"{split.capitalize()} {metric} by {'epoch' if x == 'epoch' else 'training time'}"
    column = f"{'val' if split == 'validation' else 'train'}_{metric}"
    if epochs.empty or column not in epochs.columns or epochs[column].isna().all():
        return _empty(title, f"No {split} {metric} recorded in these comparisons")
    smoothing = clamp_smoothing(smoothing)
    value_format = ACCURACY_FORMAT if metric == "accuracy" else LOSS_FORMAT
    comparisons = list(dict.fromkeys(epochs["comparison"]))
    frameworks = list(dict.fromkeys(epochs["framework"]))
    figure = go.Figure()
    runs = sorted(epochs.groupby(["comparison", "framework", "repeat"], sort=False),
                  key=lambda item: (comparisons.index(item[0][0]), frameworks.index(item[0][1]), item[0][2]))
    for (comparison, framework, repeat), run in runs:  # the legend lists each comparison's frameworks' repeats together
        points = run.dropna(subset=[column]).sort_values("epoch")
        if points.empty:
            continue
        c_index, f_index = comparisons.index(comparison), frameworks.index(framework)
        if colour_by == "framework":
            colour = FRAMEWORK_COLORS.get(str(framework)) or COMPARISON_COLORS[f_index % len(COMPARISON_COLORS)]
            dash = OVERLAY_DASHES[c_index % len(OVERLAY_DASHES)]
        else:
            colour = COMPARISON_COLORS[c_index % len(COMPARISON_COLORS)]
            dash = OVERLAY_DASHES[f_index % len(OVERLAY_DASHES)]
        name = f"{comparison} · {framework} #{int(repeat)}"
        raw = points[column].astype(float).tolist()
        xs = points[x].astype(float).tolist()
        customdata = list(zip(points["epoch"].astype(int), points["train_seconds"].astype(float), raw, strict=True))
        hover = (f"<b>%{{fullData.name}}</b><br>epoch %{{customdata[0]}} · %{{customdata[1]:,.1f}} s training"
                 f"<br>{split} {metric} %{{y:{value_format}}}")
        if smoothing:
            figure.add_scatter(x=xs, y=raw, mode="lines", line={"color": colour, "dash": dash, "width": 1}, opacity=0.25,
                               name=name, legendgroup=name, showlegend=False, hoverinfo="skip")
            hover += f" (raw %{{customdata[2]:{value_format}}})"
        figure.add_scatter(
            x=xs, y=ema(raw, smoothing) if smoothing else raw, mode="lines+markers", name=name, legendgroup=name,
            line={"color": colour, "dash": dash},
            marker={"color": colour, "symbol": REPEAT_SYMBOLS[(int(repeat) - 1) % len(REPEAT_SYMBOLS)]},
            customdata=customdata, hovertemplate=hover + "<extra></extra>",
        )
    other = "comparison" if colour_by == "framework" else "framework"
    subtitle = f"colour: {colour_by} · dash: {other} · marker: repeat" + (f" · smoothed {smoothing:g}, raw faint" if smoothing else "")
    return _curve_layout(figure, title, subtitle, x, epochs, metric, log_scale)


def _spread_bars(figure: go.Figure, data: pd.DataFrame, column: str, unit: str, value_format: str, note: str = "") -> None:
    """Median per framework as a bar, min-max over its rows as the error bar."""
    stats = data.groupby("framework", sort=False)[column].agg(["median", "min", "max", "count"]).reset_index()
    for _, row in stats.iterrows():
        count = int(row["count"])
        said = [f"median of {count} runs"] * (count > 1) + [note] * bool(note)
        notes = f" ({'; '.join(said)})" if said else ""
        figure.add_bar(
            x=[row["framework"]], y=[row["median"]], name=row["framework"],
            marker_color=FRAMEWORK_COLORS.get(row["framework"]),
            error_y={"type": "data", "symmetric": False, "array": [row["max"] - row["median"]],
                     "arrayminus": [row["median"] - row["min"]], "visible": count > 1},
            hovertemplate=f"<b>%{{x}}</b><br>%{{y:{value_format}}} {unit}{notes}<extra></extra>",
        )


def _repeat_dots(figure: go.Figure, data: pd.DataFrame, column: str, unit: str, value_format: str) -> None:
    """Each run as a dot over its framework's bar, when some framework has more than one."""
    if data.groupby("framework").size().max() > 1:
        figure.add_scatter(x=data["framework"], y=data[column], mode="markers", name="each repeat",
                           customdata=data["repeat"], marker={"color": "black", "size": 6, "opacity": 0.6},
                           hovertemplate=f"<b>%{{x}} #%{{customdata}}</b><br>%{{y:{value_format}}} {unit}<extra></extra>")


def spread_bar_figure(results: pd.DataFrame, column: str, title: str, axis_title: str, log_scale: bool = False,
                      unit: str | None = None, value_format: str = RATE_FORMAT) -> go.Figure:
    """Median per framework as a bar, min-max over repeats as the error bar, repeats as dots.

    ``unit`` (the axis title unless given) follows each value in the hover labels.
    """
    data = results.dropna(subset=[column])
    if data.empty:
        return _empty(title, "Not measured in this comparison")
    figure = go.Figure()
    _spread_bars(figure, data, column, unit or axis_title, value_format)
    _repeat_dots(figure, data, column, unit or axis_title, value_format)
    figure.update_layout(title=title, yaxis_title=axis_title, showlegend=False, **LAYOUT)
    figure.update_yaxes(**_value_axis(log_scale))
    return figure


def time_to_target_figure(targets: pd.DataFrame, target: float, log_scale: bool = False) -> go.Figure:
    """Training seconds until validation accuracy first reached ``target``, per framework.

    ``targets`` is ``core.analysis.frames.target_frame``. A framework none of whose runs got there reads
    "not reached" (with its best validation accuracy); one never measured reads "not measured".
    """
    title = f"Time to {target:.0%} validation accuracy"
    if targets.empty or (targets["status"] == NOT_MEASURED).all():
        return _empty(title, "Not measured in this comparison (no validation accuracy was recorded)")
    figure = go.Figure()
    reached = targets[targets["status"] == REACHED]
    for framework, rows in targets.groupby("framework", sort=False):
        note = target_note(rows)
        runs = reached[reached["framework"] == framework]
        if len(runs):
            _spread_bars(figure, runs, "seconds", "s", SECONDS_FORMAT, note)
        else:  # keeps the framework's place on the axis, with the reason written there
            figure.add_bar(x=[framework], y=[None], name=str(framework), showlegend=False, hoverinfo="skip")
        if note:
            figure.add_annotation(x=framework, xref="x", y=0, yref="paper", yanchor="bottom", showarrow=False,
                                  text=note, font={"size": 12})
    if len(reached):
        _repeat_dots(figure, reached, "seconds", "s", SECONDS_FORMAT)
    figure.update_layout(title=title, yaxis_title="training seconds", showlegend=False, **LAYOUT)
    figure.update_yaxes(**_value_axis(log_scale))
    return figure


def step_time_figure(steps: pd.DataFrame, log_scale: bool = False) -> go.Figure:
    title = "Step time distribution (steady state)"
    if steps.empty:
        return _empty(title, "No steady-state steps recorded")
    figure = go.Figure()
    for framework, data in steps.groupby("framework", sort=False):
        figure.add_box(x=data["framework"], y=data["milliseconds"], name=str(framework), boxpoints="outliers",
                       marker_color=FRAMEWORK_COLORS.get(str(framework)), yhoverformat=MS_FORMAT)
    figure.update_layout(title=title, yaxis_title="step time", showlegend=False, **LAYOUT)
    figure.update_yaxes(ticksuffix=" ms", **_value_axis(log_scale))
    return figure


def _grouped_bars(stats: pd.DataFrame, column: str, unit: str, value_format: str) -> go.Figure:
    """One bar per framework and kind (x), in the framework's colour."""
    figure = go.Figure()
    for framework, data in stats.groupby("framework", sort=False):
        figure.add_bar(x=data["kind"], y=data[column], name=str(framework), marker_color=FRAMEWORK_COLORS.get(str(framework)),
                       hovertemplate=f"<b>%{{fullData.name}}</b> · %{{x}}<br>%{{y:{value_format}}} {unit} (median over repeats)"
                                     "<extra></extra>")
    figure.update_layout(barmode="group")
    return figure


def memory_figure(results: pd.DataFrame, log_scale: bool = False) -> go.Figure:
    """Peak device memory (allocator, NVML) and peak host memory, grouped per framework."""
    title = "Peak memory"
    kinds = {"peak_device_memory_bytes": "device (allocator)", "nvml_memory_used_bytes": "device (NVML)",
             "peak_host_rss_bytes": "host (worker RSS)"}
    long = results.melt(id_vars=["framework"], value_vars=list(kinds), var_name="kind", value_name="bytes").dropna()
    if long.empty:
        return _empty(title, "Not measured in this comparison")
    long["MiB"] = long["bytes"].astype(float) / 2**20
    long["kind"] = long["kind"].map(kinds)
    stats = long.groupby(["framework", "kind"], as_index=False, sort=False)["MiB"].median()
    figure = _grouped_bars(stats, "MiB", "MiB", MIB_FORMAT)
    figure.update_layout(title=title, xaxis_title="", yaxis_title="MiB (median over repeats)", **LAYOUT)
    figure.update_yaxes(**_value_axis(log_scale))
    return figure


def warmup_figure(results: pd.DataFrame, log_scale: bool = False) -> go.Figure:
    """One-off costs: the warm-up window and, within it, the first step's extra time."""
    title = "Warm-up and compile cost"
    long = results.melt(id_vars=["framework"], value_vars=["warmup_seconds", "compile_seconds"],
                        var_name="kind", value_name="seconds").dropna()
    if long.empty:
        return _empty(title, "Not measured in this comparison")
    long["kind"] = long["kind"].map({"warmup_seconds": "warm-up steps", "compile_seconds": "first-step overhead"})
    stats = long.groupby(["framework", "kind"], as_index=False, sort=False)["seconds"].median()
    figure = _grouped_bars(stats, "seconds", "s", SECONDS_FORMAT)
    figure.update_layout(title=title, xaxis_title="", yaxis_title="seconds (median over repeats)", **LAYOUT)
    figure.update_yaxes(**_value_axis(log_scale))
    return figure

