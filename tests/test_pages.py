"""Every page through Streamlit's AppTest: renders, validates, queues, follows a job to the end.

The background runner is off here (TWINBENCH_NO_RUNNER=1); tests run the queue themselves with
``run_pending``, which trains in real worker processes.
"""

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import enqueue, get_job, run_pending
from core.spec import RunSpec
from core.store import Store
from tests.conftest import PROJECT_ROOT

APP = str(PROJECT_ROOT / "streamlit_app.py")
PAGES = ["pages/home.py", "pages/train.py", "pages/compare.py", "pages/history.py", "pages/system.py", "pages/models.py"]


@pytest.fixture
def app_home(home, monkeypatch):
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    return home


def open_page(page: str, query: dict | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    if query:
        app.query_params.update(query)
    return app.switch_page(page).run()


def text_of(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [c.value for c in app.caption] + [e.value for e in app.error]
    parts += [s.value for s in app.success] + [i.value for i in app.info] + [w.value for w in app.warning]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES[:5])
def test_every_page_renders_with_an_empty_store(app_home, page):
    app = open_page(page)
    assert not app.exception, app.exception


def test_form_validation_is_shown_next_to_the_field(app_home):
    app = open_page("pages/train.py")
    app.number_input[0].set_value(0)  # epochs
    app.button[0].click().run()
    assert not app.exception
    assert any("epochs must be between 1 and 1000 (got 0)" in e.value for e in app.error)
    assert Store(app_home / "runs.sqlite").list_comparisons() == []

    app = open_page("pages/train.py")
    app.number_input[1].set_value(5000)  # batch size larger than the 1,293 training images
    app.button[0].click().run()
    assert any("at most the training split's 1293 images" in e.value for e in app.error)

    app = open_page("pages/train.py")
    app.selectbox[0].set_value("Upload an image-folder .zip")
    app.button[0].click().run()
    assert any("choose a .zip to upload" in e.value for e in app.error)


@pytest.mark.frameworks
def test_start_comparison_queues_a_job_and_the_queue_view_follows_it_to_the_end(app_home):
    app = open_page("pages/train.py")
    app.number_input[0].set_value(2)  # epochs
    app.button[0].click().run()
    assert not app.exception, app.exception
    job_id = app.query_params["job"]
    store = Store(app_home / "runs.sqlite")
    assert get_job(store, job_id)["status"] == "queued"
    assert "waiting" in text_of(app)

    assert run_pending(store) == 1  # what the dashboard's runner thread does, in real workers
    app = open_page("pages/train.py", {"job": job_id})
    assert not app.exception
    assert get_job(store, job_id)["status"] == "finished"
    assert "Finished." in text_of(app)
    assert all(p.proto.value == 100 for p in app.get("progress"))

    for page in PAGES:
        rendered = open_page(page)
        assert not rendered.exception, (page, rendered.exception)
    compare = open_page("pages/compare.py")
    assert "Training speed:" in text_of(compare)
    home = open_page("pages/home.py")
    assert "Latest comparison" in [h.value for h in home.subheader]


def test_cancel_removes_a_queued_job(app_home):
    store = Store(app_home / "runs.sqlite")
    job_id = enqueue(store, RunSpec(epochs=1), ["pytorch", "tensorflow"])
    app = open_page("pages/train.py", {"job": job_id})
    cancel = next(b for b in app.button if b.label == "Cancel")
    cancel.click().run()
    assert get_job(store, job_id)["status"] == "cancelled"
    runs = store.comparison(get_job(store, job_id)["comparison_id"])["runs"]
    assert {r["error_kind"] for r in runs} == {"cancelled"}


def test_an_unknown_job_in_the_address_is_explained(app_home):
    app = open_page("pages/train.py", {"job": "nope"})
    assert not app.exception
    assert any("No job nope" in w.value for w in app.warning)


def test_home_start_button_queues_the_default_comparison(app_home):
    app = open_page("pages/home.py")
    app.button[0].click().run()
    assert not app.exception
    store = Store(app_home / "runs.sqlite")
    comparisons = store.list_comparisons()
    assert len(comparisons) == 1 and comparisons[0]["dataset"] == "digits" and comparisons[0]["architecture"] == "cnn"
