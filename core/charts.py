"""Plotly figures for the dashboard: DataFrame in, figure out, no Streamlit here."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.frameworks import REGISTRY

# Frames carry each framework's label; every chart colours it the same way.
FRAMEWORK_COLORS = {framework.label: framework.colour for framework in REGISTRY.values()}
LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "legend_title_text": ""}


def _empty(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_layout(title=title, xaxis_visible=False, yaxis_visible=False, **LAYOUT)
    return figure


def curves_figure(epochs: pd.DataFrame, metric: str = "accuracy", x: str = "epoch") -> go.Figure:
    """Train (dashed) and validation (solid) curves per framework and repeat.

    ``metric`` is "accuracy" or "loss"; ``x`` is "epoch" or "train_seconds" (wall time spent
    training, which is where speed and accuracy meet).
    """
    title = f"{metric.capitalize()} by {'epoch' if x == 'epoch' else 'training time (s)'}"
    if epochs.empty:
        return _empty(title, "No epochs recorded yet")
    long = epochs.melt(
        id_vars=["framework", "repeat", "epoch", "train_seconds"],
        value_vars=[f"train_{metric}", f"val_{metric}"], var_name="split", value_name=metric,
    ).dropna(subset=[metric])
    if long.empty:
        return _empty(title, f"No {metric} recorded")
    long["split"] = long["split"].str.split("_").str[0].map({"train": "train", "val": "validation"})
    long["line"] = long["framework"] + " " + long["split"] + long["repeat"].map(lambda r: f" #{r}" if r > 1 else "")
    figure = px.line(
        long.sort_values(x), x=x, y=metric, color="framework", line_dash="split", line_group="line",
        markers=True, color_discrete_map=FRAMEWORK_COLORS,
        line_dash_map={"train": "dash", "validation": "solid"}, hover_data=["repeat", "epoch"],
    )
    figure.update_layout(title=title, xaxis_title="epoch" if x == "epoch" else "training seconds", **LAYOUT)
    if metric == "accuracy":
        figure.update_yaxes(tickformat=".0%")
    return figure


def spread_bar_figure(results: pd.DataFrame, column: str, title: str, axis_title: str) -> go.Figure:
    """Median per framework as a bar, min-max over repeats as the error bar, repeats as dots."""
    data = results.dropna(subset=[column])
    if data.empty:
        return _empty(title, "Not measured in this comparison")
    stats = data.groupby("framework")[column].agg(["median", "min", "max", "count"]).reset_index()
    figure = go.Figure()
    for _, row in stats.iterrows():
        figure.add_bar(
            x=[row["framework"]], y=[row["median"]], name=row["framework"],
            marker_color=FRAMEWORK_COLORS.get(row["framework"]),
            error_y={"type": "data", "symmetric": False, "array": [row["max"] - row["median"]],
                     "arrayminus": [row["median"] - row["min"]], "visible": row["count"] > 1},
            hovertemplate=f"%{{x}}: %{{y:,.4g}} (median of {int(row['count'])})<extra></extra>",
        )
    if data.groupby("framework").size().max() > 1:
        figure.add_scatter(x=data["framework"], y=data[column], mode="markers", name="each repeat",
                           marker={"color": "black", "size": 6, "opacity": 0.6})
    figure.update_layout(title=title, yaxis_title=axis_title, showlegend=False, **LAYOUT)
    return figure


def step_time_figure(steps: pd.DataFrame) -> go.Figure:
    title = "Step time distribution (steady state)"
    if steps.empty:
        return _empty(title, "No steady-state steps recorded")
    figure = px.box(steps, x="framework", y="milliseconds", color="framework", points="outliers",
                    color_discrete_map=FRAMEWORK_COLORS)
    figure.update_layout(title=title, yaxis_title="ms per step", showlegend=False, **LAYOUT)
    return figure


def memory_figure(results: pd.DataFrame) -> go.Figure:
    """Peak device memory (allocator, NVML) and peak host memory, grouped per framework."""
    title = "Peak memory"
    kinds = {"peak_device_memory_bytes": "device (allocator)", "nvml_memory_used_bytes": "device (NVML)",
             "peak_host_rss_bytes": "host (worker RSS)"}
    long = results.melt(id_vars=["framework"], value_vars=list(kinds), var_name="kind", value_name="bytes").dropna()
    if long.empty:
        return _empty(title, "Not measured in this comparison")
    long["MiB"] = long["bytes"].astype(float) / 2**20
    long["kind"] = long["kind"].map(kinds)
    stats = long.groupby(["framework", "kind"], as_index=False)["MiB"].median()
    figure = px.bar(stats, x="kind", y="MiB", color="framework", barmode="group", color_discrete_map=FRAMEWORK_COLORS)
    figure.update_layout(title=title, xaxis_title="", yaxis_title="MiB (median over repeats)", **LAYOUT)
    return figure


def warmup_figure(results: pd.DataFrame) -> go.Figure:
    """One-off costs: the warm-up window and, within it, the first step's extra time."""
    title = "Warm-up and compile cost"
    long = results.melt(id_vars=["framework"], value_vars=["warmup_seconds", "compile_seconds"],
                        var_name="kind", value_name="seconds").dropna()
    if long.empty:
        return _empty(title, "Not measured in this comparison")
    long["kind"] = long["kind"].map({"warmup_seconds": "warm-up steps", "compile_seconds": "first-step overhead"})
    stats = long.groupby(["framework", "kind"], as_index=False)["seconds"].median()
    figure = px.bar(stats, x="kind", y="seconds", color="framework", barmode="group", color_discrete_map=FRAMEWORK_COLORS)
    figure.update_layout(title=title, xaxis_title="", yaxis_title="seconds (median over repeats)", **LAYOUT)
    return figure
