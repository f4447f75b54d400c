"""The Compare page's chart view: log scale, smoothing and the curves' axis, kept in the address.

Comparisons are written into the store directly (no training), so each test is a few page runs.
"""

import json

import pytest

from core.frameworks import NAMES
from core.results import RunResult
from core.spec import RunSpec
from core.store.queries import Store
from tests.records import comparison_record, run_record
from tests.test_pages import open_page

LOSSES = [1.0, 0.4, 0.7, 0.2]  # a noisy validation loss, so smoothing shows


def store_comparisons(home, names, repeats=2, count=2):
    """``count`` comparisons of ``names`` (the last one the latest), each with ``repeats`` repeats."""
    store = Store(home / "runs.sqlite")
    spec = RunSpec(epochs=len(LOSSES), repeats=repeats, target_accuracy=0.8)
    ids = []
    for _ in range(count):
        planned = [(repeat, name, {**spec.to_dict(), "framework": name}) for repeat in range(repeats) for name in names]
        comparison_id, runs = store.create_comparison(spec.comparison_settings(), names, planned, {"train_images": 10})
        for number, run in enumerate(runs):
            store.mark_running(run)
            for epoch, loss in enumerate(LOSSES, start=1):
                store.add_epoch(run, {
                    "epoch": epoch, "train_loss": loss, "train_accuracy": 0.5 + epoch / 10, "val_loss": loss,
                    "val_accuracy": 0.5 + epoch / 20, "epoch_seconds": 1.0 + 10 * number, "step_samples": [
                        {"epoch": epoch - 1, "step": step, "steps": 1, "milliseconds": 1.0 + step * (number + 1),
                         "warmup": False} for step in range(5)]})
            store.finish_run(run, RunResult(
                test_accuracy=0.7, steady_images_per_second=100.0 * (number + 1), peak_host_rss_bytes=2**20 * (number + 1),
                warmup_seconds=0.5, compile_seconds=0.1, target_accuracy=0.8,
                time_to_target_seconds=3.0 if number % 2 == 0 else None))
        ids.append(comparison_id)
    store.close()
    return ids


@pytest.fixture
def stored(home, monkeypatch):
    """Two comparisons (the second the latest), each of two frameworks and two repeats."""
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    return store_comparisons(home, list(NAMES[:2]))


def value_axes(app) -> dict[str, str]:
    """The value axis type of every speed and memory chart, and of the curves' x axis."""
    figures = {chart_key(chart): json.loads(chart.proto.spec) for chart in app.get("plotly_chart")}
    axes = {key: figures[key]["layout"]["yaxis"].get("type") for key in ("throughput", "steps", "warmup", "target", "memory")}
    axes.update({key: figures[key]["layout"]["xaxis"].get("type") for key in ("accuracy", "loss")})
    return axes


def chart_key(chart) -> str:
    """The key a chart was given on the page (Streamlit puts it at the end of the element id)."""
    return next(key for key in ("accuracy", "loss", "throughput", "steps", "warmup", "target", "memory")
                if chart.proto.id.endswith(key))


def figure(app, key: str) -> dict:
    return next(json.loads(chart.proto.spec) for chart in app.get("plotly_chart") if chart_key(chart) == key)


def test_toggling_log_scale_changes_every_speed_and_memory_axis(stored):
    app = open_page("pages/compare.py")
    assert not app.exception, app.exception
    assert set(value_axes(app).values()) <= {None, "linear"}
    assert figure(app, "accuracy")["layout"]["xaxis"]["dtick"] == 1  # whole epochs
    assert "log_scale" not in app.query_params

    app.toggle(key="log_scale").set_value(True).run()
    assert not app.exception, app.exception
    axes = value_axes(app)
    assert {key: axes[key] for key in ("throughput", "steps", "warmup", "target", "memory")} == dict.fromkeys(
        ("throughput", "steps", "warmup", "target", "memory"), "log")
    assert app.query_params["log_scale"] == "1"

    app.radio(key="x_axis").set_value("train_seconds").run()
    assert value_axes(app)["accuracy"] == "log" and app.query_params["x_axis"] == "train_seconds"

    # A reload, or the link opened elsewhere: a new session from the address the page wrote.
    reloaded = open_page("pages/compare.py", dict(app.query_params))
    assert (reloaded.radio(key="x_axis").value, reloaded.toggle(key="log_scale").value) == ("train_seconds", True)
    assert value_axes(reloaded) == value_axes(app)


def test_the_smoothing_value_is_applied_to_the_curves(stored):
    from core.analysis.smoothing import ema

    app = open_page("pages/compare.py")
    traces = figure(app, "loss")["data"]
    assert traces[0]["y"] == pytest.approx(LOSSES) and len(traces) == 8  # 4 runs, validation and train
    assert [t["name"] for t in traces if t.get("showlegend") is not False] == [
        "PyTorch #1", "PyTorch #2", "TensorFlow #1", "TensorFlow #2"]

    app.slider(key="smoothing").set_value(0.6).run()
    assert not app.exception, app.exception
    traces = figure(app, "loss")["data"]
    assert len(traces) == 16
    raw, smoothed = traces[0], traces[1]
    assert raw["y"] == pytest.approx(LOSSES) and raw["opacity"] == 0.25
    assert smoothed["y"] == pytest.approx(ema(LOSSES, 0.6))
    assert app.query_params["smoothing"] == "0.6"


def test_the_address_restores_the_view_on_a_first_run(stored):
    first, _ = stored
    app = open_page("pages/compare.py", {"comparison": first, "x_axis": "train_seconds", "log_scale": "1",
                                         "smoothing": "0.3"})
    assert not app.exception, app.exception
    assert app.selectbox(key="comparison").value.id == first
    assert app.radio(key="x_axis").value == "train_seconds"
    assert app.toggle(key="log_scale").value is True
    assert app.slider(key="smoothing").value == pytest.approx(0.3)
    assert value_axes(app)["memory"] == "log" and value_axes(app)["loss"] == "log"
    assert figure(app, "loss")["data"][1]["y"] == pytest.approx(ema_of_losses(0.3))
    assert dict(app.query_params) == {"comparison": first, "x_axis": "train_seconds", "log_scale": "1",
                                      "smoothing": "0.3"}

    # Nonsense in the address falls back to the default view, and leaves the address.
    app = open_page("pages/compare.py", {"x_axis": "sideways", "smoothing": "lots", "log_scale": "maybe"})
    assert not app.exception, app.exception
    assert (app.radio(key="x_axis").value, app.slider(key="smoothing").value, app.toggle(key="log_scale").value) == (
        "epoch", 0.0, False)
    assert not {"x_axis", "smoothing", "log_scale"} & set(app.query_params)


def ema_of_losses(weight: float) -> list[float]:
    from core.analysis.smoothing import ema

    return ema(LOSSES, weight)


def test_time_to_target_says_which_runs_did_not_reach_it(stored):
    app = open_page("pages/compare.py")
    notes = [a["text"] for a in figure(app, "target")["layout"]["annotations"]]
    # Even-numbered runs (PyTorch #1, PyTorch #2) reached 80 %; TensorFlow's peaked at 70 %.
    assert notes == ["not reached (best 70.0%)"]


def test_home_and_compare_show_the_headline_as_two_labelled_answers(stored):
    # These runs recorded no training time: the headline says so rather than leaving one answer out.
    for page in ("pages/home.py", "pages/compare.py"):
        app = open_page(page)
        assert not app.exception, app.exception
        shown = [m.value for m in app.markdown]
        assert "**Time to train this:** not measured by these runs." in shown, page
        assert any(text.startswith("**Steady speed:** ") and "TensorFlow is" in text for text in shown), page


def test_the_address_restores_the_comparison_and_the_baseline(home, monkeypatch):
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    first, _ = store_comparisons(home, list(NAMES[:3]), repeats=1)
    app = open_page("pages/compare.py", {"comparison": first, "baseline": NAMES[1]})
    assert not app.exception, app.exception
    assert app.selectbox(key="comparison").value.id == first
    assert app.selectbox(key="baseline").value == NAMES[1]
    app.selectbox(key="baseline").set_value(NAMES[2]).run()
    assert (app.query_params["comparison"], app.query_params["baseline"]) == (first, NAMES[2])
    reloaded = open_page("pages/compare.py", dict(app.query_params))
    assert reloaded.selectbox(key="baseline").value == NAMES[2]
    assert [t["name"] for t in figure(reloaded, "accuracy")["data"] if t.get("showlegend") is not False] == [
        "PyTorch", "TensorFlow", "JAX"]  # one repeat each: no numbers


# --- several comparisons at once ---------------------------------------------------------------------


def overlay_keys(app) -> dict[str, dict]:
    return {key: json.loads(chart.proto.spec) for chart in app.get("plotly_chart")
            for key in ("overlay_accuracy", "overlay_loss") if chart.proto.id.endswith(key)}


def legend(spec: dict) -> list[str]:
    return [t["name"] for t in spec["data"] if t.get("showlegend") is not False]


def test_several_comparisons_overlay_their_curves_and_list_every_run(home, monkeypatch):
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    ids = store_comparisons(home, list(NAMES[:2]), repeats=2, count=3)
    app = open_page("pages/compare.py")
    assert app.radio(key="show").value == "one" and "show" not in app.query_params
    app.radio(key="show").set_value("several").run()
    assert not app.exception, app.exception
    assert app.query_params["show"] == "several" and not overlay_keys(app).get("overlay_accuracy", {}).get("data")

    app.multiselect(key="comparisons").set_value(ids).run()
    assert not app.exception, app.exception
    assert app.query_params["comparisons"] == ",".join(ids)
    charts = overlay_keys(app)
    # Every run of the three comparisons, each once in the legend, repeats told apart by marker.
    assert len(legend(charts["overlay_loss"])) == 12
    assert legend(charts["overlay_loss"])[:2] == [f"{ids[0]} · PyTorch #1", f"{ids[0]} · PyTorch #2"]
    markers = {t["marker"]["symbol"] for t in charts["overlay_loss"]["data"]}
    assert markers == {"circle", "square"}
    # Coloured by comparison: three colours; by framework: the frameworks' two.
    assert len({t["line"]["color"] for t in charts["overlay_loss"]["data"]}) == 3
    app.radio(key="colour_by").set_value("framework").run()
    assert len({t["line"]["color"] for t in overlay_keys(app)["overlay_loss"]["data"]}) == 2
    assert app.query_params["colour_by"] == "framework"

    table = app.dataframe[0].value
    assert len(table) == 12 and set(table["comparison"]) == set(ids)
    app.radio(key="split").set_value("train").run()
    assert overlay_keys(app)["overlay_loss"]["layout"]["title"]["text"] == "Train loss by epoch"
    assert app.query_params["split"] == "train"
    app.multiselect(key="run_statuses").set_value(["failed"]).run()
    assert app.dataframe[0].value.empty and app.query_params["run_statuses"] == "failed"
    app.multiselect(key="run_statuses").set_value(["finished"]).run()
    assert len(app.dataframe[0].value) == 12

    app.multiselect(key="run_frameworks").set_value(["TensorFlow"]).run()
    app.selectbox(key="run_sort").set_value("images/s").run()
    app.toggle(key="run_descending").set_value(True).run()
    app.toggle(key="log_scale").set_value(True).run()
    assert not app.exception, app.exception
    table = app.dataframe[0].value
    assert set(table["framework"]) == {"TensorFlow"} and len(table) == 6
    assert list(table["images/s"]) == sorted(table["images/s"], reverse=True)
    assert overlay_keys(app)["overlay_accuracy"]["layout"]["xaxis"].get("type") != "log"  # epochs stay whole

    # The link reproduces the view in a new session.
    reloaded = open_page("pages/compare.py", dict(app.query_params))
    assert not reloaded.exception, reloaded.exception
    assert reloaded.radio(key="show").value == "several"
    assert reloaded.multiselect(key="comparisons").value == ids
    assert (reloaded.radio(key="colour_by").value, reloaded.toggle(key="log_scale").value) == ("framework", True)
    assert reloaded.multiselect(key="run_frameworks").value == ["TensorFlow"]
    assert (reloaded.selectbox(key="run_sort").value, reloaded.toggle(key="run_descending").value) == ("images/s", True)
    assert reloaded.dataframe[0].value.equals(table)

    # The comparisons alone in the address ask for them together; the single view can still be chosen.
    linked = open_page("pages/compare.py", {"comparisons": ",".join(ids[:2])})
    assert linked.radio(key="show").value == "several" and linked.multiselect(key="comparisons").value == ids[:2]
    linked.radio(key="show").set_value("one").run()
    assert not linked.exception, linked.exception
    assert linked.query_params["show"] == "one"
    assert open_page("pages/compare.py", dict(linked.query_params)).radio(key="show").value == "one"

    # A text search, and an address naming comparisons that are not here.
    app.text_input(key="run_text").input(ids[1]).run()
    assert set(app.dataframe[0].value["comparison"]) == {ids[1]}
    assert app.query_params["run_text"] == ids[1]
    store = Store(home / "runs.sqlite")
    store.delete_comparison(ids[1])
    store.close()
    app.run()  # the same session, its selection naming a comparison now gone
    assert not app.exception, app.exception
    assert app.multiselect(key="comparisons").value == [ids[0], ids[2]]
    stale = open_page("pages/compare.py", {"show": "several", "comparisons": f"nope,{ids[2]}", "colour_by": "nonsense"})
    assert not stale.exception, stale.exception
    assert stale.multiselect(key="comparisons").value == [ids[2]] and stale.radio(key="colour_by").value == "comparison"
    assert stale.query_params["comparisons"] == ids[2] and "colour_by" not in stale.query_params


def test_the_overlay_draws_one_split_and_says_when_there_is_nothing():
    import pandas as pd

    from core.analysis.frames import overlay_epochs_frame
    from core.views.charts import overlay_curves_figure

    assert overlay_epochs_frame([]).empty
    empty = overlay_curves_figure(pd.DataFrame(), "loss")
    assert "No validation loss recorded" in empty.layout.annotations[0].text
    epochs = pd.DataFrame({"comparison": ["a", "a", "b"], "framework": ["PyTorch", "PyTorch", "PyTorch"], "repeat": [1, 1, 1],
                           "epoch": [1, 2, 1], "train_seconds": [1.0, 2.0, 1.5], "val_loss": [0.5, 0.4, 0.6],
                           "train_loss": [0.7, 0.3, None]})
    validation = overlay_curves_figure(epochs, "loss", colour_by="framework")
    assert [t.name for t in validation.data] == ["a · PyTorch #1", "b · PyTorch #1"]
    assert [t.line.dash for t in validation.data] == ["solid", "dash"]  # comparisons by dash
    assert list(validation.data[0].y) == [0.5, 0.4]
    train = overlay_curves_figure(epochs, "loss", split="train", smoothing=0.5)
    assert [t.name for t in train.data] == ["a · PyTorch #1", "a · PyTorch #1"]  # raw faint, then smoothed
    assert train.data[0].opacity == 0.25


def test_the_cli_table_says_why_a_time_to_target_is_missing():
    from core.analysis.report import comparison_rows

    def run(framework, repeat, seconds, best, target=0.8):
        return run_record(framework, repeat=repeat, spec={"batch_size": 8},
                          epochs=[{"epoch": 1, "val_accuracy": best}] if best is not None else [],
                          result=RunResult(time_to_target_seconds=seconds, target_accuracy=target,
                                           steady_images_per_second=1.0))

    def row(runs):
        comparison = comparison_record(runs, id="c", frameworks=",".join(NAMES[:2]), settings={"target_accuracy": 0.8})
        headers, rows = comparison_rows(comparison)
        return next((r[1:3] for r in rows if r[0] == "Time to target accuracy"), None)

    first, second = NAMES[:2]
    assert row([run(first, 0, 3.0, 0.9), run(second, 0, None, 0.7)]) == ["3.00 s", "not reached (best 70.0%)"]
    assert row([run(first, 0, 3.0, 0.9), run(second, 0, None, None)]) == ["3.00 s", "not measured"]
    assert row([run(first, 0, 3.0, 0.9), run(first, 1, None, 0.75), run(second, 0, 2.0, 0.9)]) == [
        "3.00 s; 1 of 2 runs reached it", "2.00 s"]
    assert row([run(first, 0, None, 0.6), run(second, 0, None, 0.7)]) == ["not reached (best 60.0%)",
                                                                          "not reached (best 70.0%)"]
    assert row([run(first, 0, None, None), run(second, 0, None, None)]) is None  # nothing to say: no row
