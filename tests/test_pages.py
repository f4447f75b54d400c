"""Every page through Streamlit's AppTest: renders, validates, queues, follows a job to the end.

The background runner is off here (TWINBENCH_NO_RUNNER=1); tests run the queue themselves with
``run_pending``, which trains in real worker processes. Widgets are found by their keys; the
Train page keys each widget with the RunSpec field it sets.

Each test opens a page as a first visit straight to its address would (a fresh session whose
first run asks for that page). AppTest also forgets between runs that ``st.navigation`` has
run, so every run here is such a first visit as far as Streamlit's routing goes.
"""

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import dashboard_state
from core.engine.job_runner import run_pending
from core.engine.jobs import enqueue, get_job
from core.spec import RunSpec
from core.store.queries import Store
from tests.conftest import PROJECT_ROOT

APP = str(PROJECT_ROOT / "streamlit_app.py")
# Every file in pages/, so that a page added there cannot go untested.
PAGE_FILES = sorted(path.relative_to(PROJECT_ROOT).as_posix() for path in (PROJECT_ROOT / "pages").glob("*.py"))
# The heading each page shows, and the navigation every page is shown in: (title, url path, icon).
HEADINGS = {"pages/home.py": "Twinbench", "pages/train.py": "Train", "pages/compare.py": "Compare",
            "pages/sweep.py": "Sweep", "pages/history.py": "History", "pages/models.py": "Models",
            "pages/system.py": "System"}
NAVIGATION = [("Home", "", ":material/home:"), ("Train", "train", ":material/play_circle:"),
              ("Compare", "compare", ":material/compare_arrows:"), ("Sweep", "sweep", ":material/grid_view:"),
              ("History", "history", ":material/history:"),
              ("Models", "models", ":material/account_tree:"), ("System", "system", ":material/memory:")]
# Building every model starts a worker process per framework.
SLOW_PAGES = {"pages/models.py"}


@pytest.fixture
def app_home(home, monkeypatch):
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    return home


@pytest.fixture
def app_frame(monkeypatch):
    """What was set up around the page in each script run: the navigation shown, the runner started."""
    seen = {"navigation": [], "runner_started": 0}
    navigation, ensure_job_runner = st.navigation, dashboard_state.ensure_job_runner

    def recording_navigation(pages, **options):
        seen["navigation"].append([(page.title, page.url_path, page.icon) for page in pages])
        return navigation(pages, **options)

    def recording_ensure_job_runner():
        seen["runner_started"] += 1
        return ensure_job_runner()

    monkeypatch.setattr(st, "navigation", recording_navigation)
    monkeypatch.setattr(dashboard_state, "ensure_job_runner", recording_ensure_job_runner)
    return seen


def open_page(page: str, query: dict | None = None, timeout: float = 120) -> AppTest:
    """A fresh session whose first run opens ``page``, as a browser opening its address."""
    app = AppTest.from_file(APP, default_timeout=timeout)
    if query:
        app.query_params.update(query)
    return app.switch_page(page).run()


def text_of(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [c.value for c in app.caption] + [e.value for e in app.error]
    parts += [s.value for s in app.success] + [i.value for i in app.info] + [w.value for w in app.warning]
    return "\n".join(str(p) for p in parts)


def widget_keys(app: AppTest) -> list[str]:
    widgets = [*app.selectbox, *app.multiselect, *app.number_input, *app.checkbox, *app.radio, *app.toggle,
               *app.text_input, *app.slider, *app.button]
    return [widget.key for widget in widgets]


def test_the_navigation_holds_every_file_in_pages():
    assert [script for script, *_ in dashboard_state.PAGES] == list(HEADINGS)
    assert sorted(HEADINGS) == PAGE_FILES


@pytest.mark.parametrize("page", [pytest.param(page, marks=[pytest.mark.frameworks] if page in SLOW_PAGES else [])
                                  for page in PAGE_FILES])
def test_a_first_visit_to_any_page_shows_the_whole_app_with_an_empty_store(app_home, app_frame, page):
    app = open_page(page, timeout=300 if page in SLOW_PAGES else 120)
    assert not app.exception, app.exception
    assert app_frame["navigation"] == [NAVIGATION]
    assert app_frame["runner_started"] == 1
    assert [title.value for title in app.title] == [HEADINGS[page]]  # the page ran once, inside the app


def test_every_setting_on_the_train_page_is_keyed_by_its_run_spec_field(app_home):
    app = open_page("pages/train.py")
    app.selectbox(key="architecture").set_value("mobilenetv2").run()  # the one with ImageNet weights to offer
    keys = widget_keys(app)
    assert len(keys) == len(set(keys)), keys
    fields = set(RunSpec().comparison_settings()) - {"notes"}  # notes say what was done to the data
    assert fields <= set(keys), sorted(fields - set(keys))
    app.selectbox(key="architecture").set_value(RunSpec().architecture).run()

    app.number_input(key="epochs").set_value(2)
    app.number_input(key="threads").set_value(2)
    app.selectbox(key="optimizer").set_value("sgd")
    app.checkbox(key="same_seed").check()
    app.button(key="start").click().run()
    assert not app.exception, app.exception
    store = Store(app_home / "runs.sqlite")
    comparison = store.comparison(get_job(store, app.query_params["job"])["comparison_id"])
    wanted = RunSpec.from_dict({"epochs": 2, "threads": 2, "optimizer": "sgd", "same_seed": True})
    assert comparison["settings"] == wanted.comparison_settings()


def test_form_validation_is_shown_next_to_the_field(app_home):
    app = open_page("pages/train.py")
    app.number_input(key="epochs").set_value(0)
    app.button(key="start").click().run()
    assert not app.exception
    assert any("epochs must be between 1 and 1000 (got 0)" in e.value for e in app.error)
    assert Store(app_home / "runs.sqlite").list_comparisons() == []

    app = open_page("pages/train.py")
    app.number_input(key="batch_size").set_value(5000)  # larger than the 1,293 training images
    app.button(key="start").click().run()
    assert any("at most the training split's 1293 images" in e.value for e in app.error)

    app = open_page("pages/train.py")
    app.selectbox(key="dataset").set_value("Upload an image-folder .zip").run()
    app.button(key="start").click().run()
    assert any("choose a .zip to upload" in e.value for e in app.error)


@pytest.mark.frameworks
def test_start_comparison_queues_a_job_and_the_queue_view_follows_it_to_the_end(app_home):
    app = open_page("pages/train.py")
    app.number_input(key="epochs").set_value(2)
    app.button(key="start").click().run()
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

    for page in PAGE_FILES:
        rendered = open_page(page, timeout=300 if page in SLOW_PAGES else 120)
        assert not rendered.exception, (page, rendered.exception)
    compare = open_page("pages/compare.py")
    assert "Training speed:" in text_of(compare)
    home = open_page("pages/home.py")
    assert "Latest comparison" in [h.value for h in home.subheader]


def test_cancel_removes_a_queued_job(app_home):
    store = Store(app_home / "runs.sqlite")
    job_id = enqueue(store, RunSpec(epochs=1), ["pytorch", "tensorflow"])
    app = open_page("pages/train.py", {"job": job_id})
    app.button(key="cancel").click().run()
    assert get_job(store, job_id)["status"] == "cancelled"
    runs = store.comparison(get_job(store, job_id)["comparison_id"])["runs"]
    assert {r["error_kind"] for r in runs} == {"cancelled"}


def test_an_unknown_job_in_the_address_is_explained(app_home):
    app = open_page("pages/train.py", {"job": "nope"})
    assert not app.exception
    assert any("No job nope" in w.value for w in app.warning)


def test_home_start_button_queues_the_default_comparison(app_home):
    app = open_page("pages/home.py")
    app.button(key="start").click().run()
    assert not app.exception
    store = Store(app_home / "runs.sqlite")
    comparisons = store.list_comparisons()
    assert len(comparisons) == 1 and comparisons[0]["dataset"] == "digits" and comparisons[0]["architecture"] == "cnn"


# --- text from a file, the address or the store is shown as text, never as Markdown or HTML ---------

EVIL = "[link](http://evil.example) ![x](http://evil.example/t.png) <img src=x>"
# Element fields Streamlit renders as Markdown (st.text and st.code show theirs as they are).
MARKDOWN_FIELDS = ("body", "label", "help", "text")
PLAIN_ELEMENTS = {"text", "code"}


def import_hostile_comparison(home) -> str:
    """A comparison whose notes, dataset, architecture, modes, error and environment all hold EVIL,
    made in another database, exported, and imported into the dashboard's: the way it would arrive."""
    import tempfile

    from core.frameworks import NAMES
    from core.results import RunResult

    source = Store(tempfile.mkdtemp() + "/source.sqlite")
    spec = RunSpec(epochs=1, repeats=2, dataset=EVIL, architecture=EVIL, notes=(EVIL,), best_of_each=True)
    names = list(NAMES[:2])
    planned = [(repeat, name, {**spec.to_dict(), "framework": name}) for repeat in range(2) for name in names]
    comparison_id, runs = source.create_comparison(spec.comparison_settings(), names, planned, {"notes": [EVIL], "path": EVIL})
    for number, run in enumerate(runs[:2]):
        source.record_environment(run, {"device": "cpu", "threads": 2, "cpu_count": 4, "cpu": EVIL, "framework_version": EVIL})
        source.add_epoch(run, {"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.8, "val_accuracy": 0.9, "epoch_seconds": 1.0})
        source.finish_run(run, RunResult(test_accuracy=0.5 + number / 10, steady_images_per_second=100.0 * (number + 1),
                                         mode=EVIL))
    source.fail_run(runs[2], "crashed", EVIL)
    trial = {"mode": EVIL, "status": EVIL, "steady_images_per_second": 1.0, "step_ms_median": 1.0, "compile_seconds": None}
    source.update_comparison_data(comparison_id, {"notes": [EVIL], "best_of_each": {
        name: {"chosen": {**trial, "compile_payoff_step": 5}, "trials": [trial]} for name in names}})
    assert Store(home / "runs.sqlite").import_json(source.export_json()) == (1, 0)
    return comparison_id


def markdown_shown(app: AppTest) -> list[str]:
    """Every string of the page that Streamlit renders as Markdown: bodies, labels, help, progress text."""
    found = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and getattr(node, "type", None) not in PLAIN_ELEMENTS and hasattr(proto, "ListFields"):
            found.extend(value for field, value in proto.ListFields()
                         if field.name in MARKDOWN_FIELDS and isinstance(value, str))
        for child in getattr(node, "children", {}).values():
            walk(child)

    # The main area and the sidebar hold every element but the toasts, which AppTest lists apart.
    for node in (app.main, app.sidebar, *app.toast):
        walk(node)
    return found


def links_and_images(markdown: str) -> list[str]:
    """What a Markdown string would link to or load once rendered: link and image addresses, raw
    HTML tags, and the bare addresses that GitHub-flavoured Markdown turns into links by itself."""
    import html
    import re

    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(markdown)
    found = []
    for tag in re.findall(r"<[a-zA-Z][^>]*>", rendered):
        found += re.findall(r"""(?:href|src)\s*=\s*["']?([^"'\s>]*)""", tag, flags=re.IGNORECASE)
        found += [tag] if re.match(r"<(?:img|a|script|iframe)\b", tag, flags=re.IGNORECASE) else []
    text = html.unescape(re.sub(r"<[^>]*>", " ", rendered))
    found += re.findall(r"(?i)(?:https?://|www\.)[-.\w]+|[-.\w+]+@[-\w]+(?:\.[-\w]+)+", text)
    return found


def assert_nothing_links_out(app: AppTest) -> list[str]:
    assert not app.exception, app.exception
    shown = markdown_shown(app)
    assert not any("could not be shown" in text for text in shown), shown  # the app's banner for a failed page
    for text in shown:
        assert not [found for found in links_and_images(text) if "evil" in found or found.startswith("<")], text
    for chart in app.get("plotly_chart"):
        assert "evil.example" not in chart.proto.spec
    return shown


def test_the_link_checker_finds_what_markdown_would_link():
    from core.text import plain

    assert {"http://evil.example", "http://evil.example/t.png", "<img src=x>"} <= set(links_and_images(EVIL))
    assert links_and_images("see www.evil.example or me@evil.example") == ["www.evil.example", "me@evil.example"]
    assert links_and_images(plain(EVIL)) == []


def test_imported_text_is_shown_as_text_on_every_page(app_home):
    comparison_id = import_hostile_comparison(app_home)
    for page, query in [("pages/home.py", None), ("pages/compare.py", None), ("pages/compare.py", {"comparison": comparison_id})]:
        shown = assert_nothing_links_out(open_page(page, query))
        assert any("evil.example" in text for text in shown), (page, shown)  # it is shown, as text
    assert_nothing_links_out(open_page("pages/history.py"))  # which shows it in tables and filters only


def test_the_address_is_shown_as_text(app_home):
    import_hostile_comparison(app_home)
    train = open_page("pages/train.py", {"job": EVIL})
    shown = assert_nothing_links_out(train)
    assert any(text.startswith("No job ") and "evil.example" in text for text in shown)
    for key in ("comparison", "id"):
        compare = open_page("pages/compare.py", {key: EVIL})
        assert_nothing_links_out(compare)
        assert [w.value for w in compare.warning if w.value.startswith("No comparison with id")], key


def test_an_unknown_comparison_in_the_address_is_explained(app_home):
    comparison_id = import_hostile_comparison(app_home)
    app = open_page("pages/compare.py", {"comparison": "nope"})
    assert not app.exception
    assert [w.value for w in app.warning][:1] == ["No comparison with id nope in this database; showing the latest."]
    assert app.query_params["comparison"] == comparison_id
    app = open_page("pages/compare.py", {"id": comparison_id})
    assert not [w.value for w in app.warning if w.value.startswith("No comparison")]
    assert app.selectbox(key="comparison").value["id"] == comparison_id and "id" not in app.query_params


def test_the_form_offers_only_what_applies_to_the_chosen_dataset_and_architecture(app_home):
    app = open_page("pages/train.py")
    assert not app.get("file_uploader") and "pretrained" not in [c.key for c in app.checkbox]
    app.selectbox(key="dataset").set_value("Upload an image-folder .zip").run()
    assert [u.key for u in app.get("file_uploader")] == ["dataset_upload"]
    app.selectbox(key="architecture").set_value("mobilenetv2").run()
    assert "pretrained" in [c.key for c in app.checkbox] and "unfreeze_blocks" in [n.key for n in app.number_input]
    app.checkbox(key="pretrained").check()
    app.selectbox(key="architecture").set_value("cnn").run()  # weights ticked for another architecture are not sent
    assert "pretrained" not in [c.key for c in app.checkbox] and not app.exception
