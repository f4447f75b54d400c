"""The Train page while a comparison is queued or training: the status panel on top, the form folded away.

A job and its live progress are written to the store as core.engine.jobs.execute_job writes them, so no
framework trains here (the runner is off: TWINBENCH_NO_RUNNER=1).
"""

import json
import re
import time

import pytest

from core.engine.jobs import enqueue, get_job
from core.frameworks import LABELS
from core.records import Run
from core.spec import RunSpec
from core.store.queries import Store
from tests.test_pages import open_page, text_of


@pytest.fixture
def app_home(home, monkeypatch):
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    return home


def in_page_order(app) -> list:
    """Every element and block of the main area, in the order the page shows them."""
    found = []

    def walk(node) -> None:
        found.append(node)
        for _, child in sorted(getattr(node, "children", {}).items()):
            walk(child)

    walk(app.main)
    return found


def form_expander(app):
    [expander] = [e for e in app.expander if e.label == "New comparison"]
    return expander


def training_job(home, progress: dict | None, run_seconds: float = 30.0, job_seconds: float = 40.0) -> tuple[str, Run]:
    """A job whose first run has trained ``run_seconds``, with ``progress`` as execute_job keeps it."""
    store = Store(home / "runs.sqlite")
    job_id = enqueue(store, RunSpec(epochs=2, repeats=1), ["pytorch", "tensorflow"])
    first = store.comparison(get_job(store, job_id).comparison_id).runs[0]
    info = {"run_id": first.id, "framework": first.framework, "repeat": 0, "position": 0, "runs": 2, "epochs": 2}
    now = time.time()
    with store.transaction() as db:
        db.exec_driver_sql("UPDATE jobs SET status='running', started_at=?, progress_json=? WHERE id=?",
                           (now - job_seconds, json.dumps({**info, **progress}) if progress else None, job_id))
        db.exec_driver_sql("UPDATE runs SET status='running', started_at=? WHERE id=?", (now - run_seconds, first.id))
    if progress and progress.get("epoch"):
        store.add_epoch(first.id, {"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.8, "val_accuracy": 0.9,
                                      "epoch_seconds": 15.0})
    return job_id, first


def test_a_running_job_shows_its_status_on_top_and_folds_the_form(app_home):
    progress = {"event": "progress", "epoch": 1, "step": 5, "steps_per_epoch": 10}
    job_id, first = training_job(app_home, progress)
    app = open_page("pages/train.py", {"job": job_id})
    assert not app.exception, app.exception

    headline = f"{LABELS[first.framework]} · run 1 of 2 · epoch 2 of 2 · step 5 of 10"
    assert headline in text_of(app)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert re.fullmatch(r"4\d s", metrics["Elapsed"]), metrics  # 40 s, and the time the page took
    # 3/4 of the first run in 30 s: 10 s left, and about 40 s for the other framework's run.
    assert re.fullmatch(r"5\d s", metrics["Time left (rough)"]), metrics
    assert app.button(key="cancel")

    assert form_expander(app).proto.expanded is False
    order = in_page_order(app)
    heading = next(i for i, node in enumerate(order) if getattr(node, "type", None) == "subheader"
                   and node.value.startswith("Training: cnn on digits"))
    assert heading < order.index(form_expander(app))
    # The curves of the epoch done so far, beside the panel (drawn on a full run of the page even
    # where the watch policy holds redraws back until the end).
    charts = app.get("plotly_chart")
    assert len(charts) == 2 and all(order.index(chart) < order.index(form_expander(app)) for chart in charts)
    # The form is still there, folded: its settings keep their keys.
    assert app.number_input(key="epochs").value == RunSpec().epochs


def test_a_job_before_its_first_step_says_it_is_estimating(app_home):
    job_id, first = training_job(app_home, None)
    app = open_page("pages/train.py", {"job": job_id})
    assert not app.exception, app.exception
    assert "starting (importing the framework, loading the data)" in text_of(app)
    assert {metric.label: metric.value for metric in app.metric}["Time left"] == "estimating…"
    assert app.get("plotly_chart") == []  # no epoch yet: nothing to draw


def test_a_queued_job_waits_on_top_and_the_form_opens_once_nothing_is_active(app_home):
    store = Store(app_home / "runs.sqlite")
    job_id = enqueue(store, RunSpec(epochs=1), ["pytorch", "tensorflow"])
    app = open_page("pages/train.py", {"job": job_id})
    assert not app.exception, app.exception
    assert any(h.value.startswith("Waiting for the device: cnn on digits (yours)") for h in app.subheader)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics == {"Waiting": metrics["Waiting"], "Ahead in the queue": "0"}
    assert "Time left: estimating…, once it starts" in text_of(app)
    assert form_expander(app).proto.expanded is False

    app.button(key="cancel").click().run()
    assert not app.exception, app.exception
    assert get_job(store, job_id).status == "cancelled"
    assert form_expander(app).proto.expanded is True
    assert not app.metric


def test_with_nothing_queued_the_form_is_open(app_home):
    app = open_page("pages/train.py")
    assert not app.exception, app.exception
    assert form_expander(app).proto.expanded is True
    assert "Nothing is waiting for the device." in text_of(app)


# --- the Models page's overview fits the page: one compact row per architecture ---

def built(params: int, flops: int = 1000) -> dict:
    return {"trainable_params": params, "flops_per_image": flops, "framework_version": "1.0",
            "summary": [{"layer": "dense", "output_shape": [10], "params": params}]}


def test_the_models_overview_says_each_figure_once_and_names_what_differs():
    from core.views.model_table import COLUMNS, overview_rows

    catalog = {"frameworks": {"pytorch": {"cnn": built(100), "mlp": built(50), "rnn": built(7)},
                              "tensorflow": {"cnn": built(100), "mlp": built(52)}}}
    audit = {"cnn": {"passed": True, "max_abs_logit_diff": 2e-6}, "mlp": {"passed": False, "max_abs_logit_diff": 0.5}}
    rows = overview_rows(["cnn", "mlp", "rnn", "vit"], {"cnn": "a CNN"}, catalog, audit, ["pytorch", "tensorflow"])
    assert all(tuple(row) == COLUMNS for row in rows)
    cnn, mlp, rnn, vit = rows
    assert (cnn["parameters"], cnn["FLOPs/image"], cnn["frameworks"], cnn["parity"]) == (100, 1000, "same in PyTorch, TensorFlow", "passed")
    assert cnn["description"] == "a CNN" and cnn["max |logit diff|"] == 2e-6
    assert mlp["parameters"] is None and mlp["frameworks"] == "parameters differ: PyTorch 50 · TensorFlow 52"
    assert mlp["parity"] == "FAILED"
    assert (rnn["parameters"], rnn["frameworks"], rnn["parity"]) == (7, "only PyTorch (not built: TensorFlow)", "not run")
    assert (vit["parameters"], vit["frameworks"]) == (None, "not built")


def test_the_models_page_shows_the_compact_table(app_home, monkeypatch):
    import core.engine.model_catalog as catalog_module
    from core.engine.model_catalog import accepted_architectures
    from core.frameworks import NAMES
    from core.views.model_table import COLUMNS

    accepted, _ = accepted_architectures((32, 32, 3))
    fake = {"frameworks": {name: {arch: built(123) for arch in accepted} for name in NAMES}, "errors": {}}
    monkeypatch.setattr(catalog_module, "describe_architectures", lambda shape, refresh=False: fake)
    app = open_page("pages/models.py")
    assert not app.exception, app.exception
    [table] = app.dataframe[:1]
    assert list(table.value.columns) == list(COLUMNS)
    assert len(table.value) == len(accepted) and set(table.value["parameters"]) == {123}
