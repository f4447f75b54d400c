"""The Sweep page through Streamlit's AppTest: the live count and estimate, refusals next to the
form, Start queueing a sweep, and a stored sweep's charts and table with its failed cell.

As in tests/test_pages.py, the background runner is off and widgets are found by their keys
(``sweep_<RunSpec field>``); each test opens the page as a first visit to its address would.
"""

import pytest

import dashboard_state
from core.engine.compare import run_specs
from core.engine.jobs import active_jobs
from core.engine.sweep import sweep_comparisons
from core.frameworks import DEFAULT_NAMES, LABELS
from core.results import RunResult
from core.spec import RunSpec
from core.store.queries import Store, new_id
from core.sweep_spec import MAX_CELLS
from tests.test_pages import open_page, text_of

PAGE = "pages/sweep.py"
FIRST, SECOND = DEFAULT_NAMES


@pytest.fixture
def app_home(home, monkeypatch):
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    # The navigation must hold the page for a visit to reach it; dashboard_state.PAGES lists it
    # once the page is part of the app, and until then the test adds it for itself.
    if not any(script == PAGE for script, *_ in dashboard_state.PAGES):
        monkeypatch.setattr(dashboard_state, "PAGES", (*dashboard_state.PAGES, (PAGE, "Sweep", ":material/grid_view:", "sweep")))
    return home


def metrics(app) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def stored_sweep(home, precisions=("fp32",)) -> str:
    """A finished sweep over batch 32, 128 and 2048 (and ``precisions``) in which the second
    framework ran out of memory at 2048."""
    store = Store(home / "runs.sqlite")
    sweep_id = new_id()
    cells = [(batch, speeds, precision) for precision in precisions
             for batch, speeds in ((32, (200, 100)), (128, (400, 360)), (2048, (900, None)))]
    for batch, speeds, precision in cells:
        spec = RunSpec(batch_size=batch, epochs=1, repeats=2, device="cpu", precision=precision)
        planned = run_specs(spec, [FIRST, SECOND])
        _, run_ids = store.create_comparison(spec.comparison_settings(), [FIRST, SECOND], planned, sweep_id=sweep_id)
        for (repeat, framework, _), run_id in zip(planned, run_ids, strict=True):
            speed = speeds[0] if framework == FIRST else speeds[1]
            if speed is None:
                store.fail_run(run_id, "out_of_memory", f"out of memory at batch {batch}: try a smaller batch size")
                continue
            speed *= 1 + 0.02 * repeat
            store.finish_run(run_id, RunResult(steady_images_per_second=speed, step_ms_median=1000 * batch / speed,
                                               step_ms_p90=1100 * batch / speed, peak_host_rss_bytes=(300 + batch) * 2**20,
                                               test_accuracy=0.9))
    return sweep_id


def test_the_form_counts_the_comparisons_and_estimates_the_time_as_values_are_chosen(app_home):
    app = open_page(PAGE)
    assert not app.exception
    keys = [w.key for w in [*app.multiselect, *app.text_input]]
    assert {"sweep_architecture", "sweep_precision", "sweep_compile", "sweep_batch_size", "sweep_epochs",
            "sweep_frameworks"} <= set(keys)
    assert metrics(app)["Comparisons"] == "1"
    assert "No sweeps yet" in text_of(app)
    app.text_input(key="sweep_batch_size").set_value("32, 128, 512").run()
    app.multiselect(key="sweep_precision").set_value(["fp32", "bf16"]).run()
    shown = metrics(app)
    assert shown["Comparisons"] == "6"
    assert shown["Swept"] == "batch, precision"
    estimate = next(value for label, value in shown.items() if label.startswith("Estimated time"))
    assert "min" in estimate  # six comparisons of three repeats in two frameworks take minutes


def test_a_bad_value_or_too_many_comparisons_is_refused_above_a_disabled_start(app_home):
    app = open_page(PAGE)
    app.text_input(key="sweep_batch_size").set_value("32, -4").run()
    assert "batch\\_size must be between 1 and 65536" in text_of(app)
    assert app.button(key="start_sweep").disabled
    app.text_input(key="sweep_batch_size").set_value(",".join(str(b) for b in range(1, MAX_CELLS + 2))).run()
    assert f"more than the limit of {MAX_CELLS}" in text_of(app)
    app.text_input(key="sweep_batch_size").set_value("32").run()
    assert not app.button(key="start_sweep").disabled


def test_start_queues_every_combination_under_one_sweep_id_and_shows_it(app_home):
    app = open_page(PAGE)
    app.text_input(key="sweep_epochs").set_value("1").run()
    app.text_input(key="sweep_repeats").set_value("1").run()
    app.text_input(key="sweep_batch_size").set_value("16, 32").run()
    app.button(key="start_sweep").click().run()
    assert not app.exception, app.exception
    sweep_id = app.query_params["sweep"]
    store = Store(app_home / "runs.sqlite")
    comparisons = sweep_comparisons(store, sweep_id)
    assert [c.settings.batch_size for c in comparisons] == [16, 32]
    assert len(active_jobs(store)) == 2
    assert app.selectbox(key="sweep").value == sweep_id
    assert "0 of 4 runs ended" in text_of(app)
    app.button(key="cancel_sweep").click().run()
    assert not app.exception, app.exception
    assert active_jobs(store) == []
    assert "4 of 4 runs ended" not in text_of(app) and not app.get("progress")  # every run has ended: no bar


def test_a_stored_sweep_shows_its_charts_its_table_and_its_failed_cell(app_home):
    sweep_id = stored_sweep(app_home)
    app = open_page(PAGE, {"sweep": sweep_id})
    assert not app.exception, app.exception
    assert app.selectbox(key="sweep").value == sweep_id
    assert app.selectbox(key="sweep_x").value == "batch_size"
    charts = app.get("plotly_chart")
    assert len(charts) == 3
    assert "out of memory at batch 2048" in text_of(app)
    table = app.dataframe[0].value
    assert len(table) == 6
    assert list(table["status"]) == ["finished"] * 5 + ["failed"]
    assert list(table["framework"]) == [LABELS[FIRST], LABELS[SECOND]] * 3
    assert table["speed_ratio"].iloc[1] == pytest.approx(2.0, rel=0.05)


def test_an_unknown_sweep_in_the_address_is_explained(app_home):
    stored_sweep(app_home)
    app = open_page(PAGE, {"sweep": "<b>nope</b>"})
    assert not app.exception
    assert "No sweep with id" in text_of(app) and "showing the latest" in text_of(app)


def test_on_a_shared_instance_start_is_refused_when_the_sweep_does_not_fit_the_queue(app_home, monkeypatch):
    monkeypatch.setenv("TWINBENCH_PUBLIC", "1")
    app = open_page(PAGE)
    app.text_input(key="sweep_epochs").set_value("1").run()
    app.text_input(key="sweep_batch_size").set_value("16, 32").run()
    app.button(key="start_sweep").click().run()
    assert not app.exception, app.exception
    assert "one visitor may have 1 comparison(s) waiting or training" in text_of(app)
    assert Store(app_home / "runs.sqlite").list_comparisons() == []


def test_a_sweep_over_two_settings_is_drawn_against_either(app_home):
    sweep_id = stored_sweep(app_home, precisions=("fp32", "bf16"))
    app = open_page(PAGE, {"sweep": sweep_id})
    assert app.selectbox(key="sweep_x").options == ["batch", "precision"]  # shown in words
    assert len(app.dataframe[0].value) == 12
    app.selectbox(key="sweep_x").set_value("precision").run()
    assert not app.exception, app.exception
    assert len(app.get("plotly_chart")) == 3
    app.toggle(key="sweep_log").set_value(True).run()
    assert not app.exception, app.exception
