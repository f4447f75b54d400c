"""Public mode on the pages, through Streamlit's AppTest: each AppTest is one browser session,
so two of them are two visitors. The job runner is off (TWINBENCH_NO_RUNNER=1): what is queued
stays queued, which is what the limits count."""

import pytest
from streamlit.testing.v1 import AppTest

from core.data.uploads import uploads_dir
from core.engine.jobs import active_jobs, enqueue
from core.spec import RunSpec
from core.store.queries import Store
from tests.test_archives import two_classes, zip_bytes
from tests.test_pages import app_home, open_page, text_of  # noqa: F401  (app_home is a fixture)

UPLOAD_CHOICE = "Upload an image-folder .zip"


@pytest.fixture
def public(app_home, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TWINBENCH_PUBLIC", "1")
    return app_home


@pytest.fixture
def local(app_home, monkeypatch):  # noqa: F811
    monkeypatch.delenv("TWINBENCH_PUBLIC", raising=False)
    monkeypatch.delenv("HOSTNAME", raising=False)  # no Cloud marker; the tests run outside /mount/src
    return app_home


def errors_of(app: AppTest) -> list[str]:
    return [e.value for e in app.error]


def start(app: AppTest) -> AppTest:
    app.button(key="start").click().run()
    assert not app.exception, app.exception
    return app


def visitor_of(app: AppTest) -> str:
    return app.session_state["twinbench_visitor"]


def may_change_script() -> None:
    """Each stored comparison and whether this session may delete it (dashboard_state.may_change)."""
    import streamlit as st

    import dashboard_state
    from core.paths import default_db_path
    from core.store.queries import Store

    for comparison in Store(default_db_path()).list_comparisons():
        st.text(f"{comparison.id} {dashboard_state.may_change(comparison)}")


def may_change_seen(visitor: str | None = None) -> dict[str, bool]:
    app = AppTest.from_function(may_change_script, default_timeout=60)
    if visitor is not None:
        app.session_state["twinbench_visitor"] = visitor
    app.run()
    assert not app.exception, app.exception
    return {line.split()[0]: line.split()[1] == "True" for line in (t.value for t in app.text)}


def test_a_banner_says_the_instance_is_shared_only_in_public_mode(local, monkeypatch):
    assert "Shared instance" not in text_of(open_page("pages/home.py"))
    monkeypatch.setenv("TWINBENCH_PUBLIC", "1")
    shown = text_of(open_page("pages/home.py"))
    assert "Shared instance: everyone sees every comparison" in shown
    assert "up to 1 comparison(s) of yours and 5 in all" in shown


def test_another_sessions_comparison_cannot_be_deleted_or_cancelled(public):
    first = start(open_page("pages/train.py"))
    job_id = first.query_params["job"]
    store = Store(public / "runs.sqlite")
    comparison_id = active_jobs(store)[0].comparison_id
    assert store.comparison(comparison_id).owner == visitor_of(first)

    assert may_change_seen() == {comparison_id: False}  # another session
    assert may_change_seen(visitor_of(first)) == {comparison_id: True}  # the session that queued it

    # The queued comparison is shown to everyone, but only its own session gets Cancel.
    other = open_page("pages/train.py", {"job": job_id})
    assert "Waiting for the device" in [h.value.split(":")[0] for h in other.subheader]
    assert not [b for b in other.button if b.key == "cancel"]
    assert [b for b in first.button if b.key == "cancel"]


def test_locally_every_session_may_change_everything(local):
    first = start(open_page("pages/train.py"))
    comparison_id = active_jobs(Store(local / "runs.sqlite"))[0].comparison_id
    assert may_change_seen() == {comparison_id: True}
    assert [b for b in open_page("pages/train.py", {"job": first.query_params["job"]}).button if b.key == "cancel"]


def test_the_queue_cap_holds(public, monkeypatch):
    monkeypatch.setenv("TWINBENCH_PUBLIC_MAX_QUEUE", "2")
    store = Store(public / "runs.sqlite")
    for owner in ("someone", "someone-else"):
        enqueue(store, RunSpec(epochs=1), ["pytorch"], owner=owner)
    app = start(open_page("pages/train.py"))
    assert "the queue holds 2 comparisons, the most this shared instance takes; try again when one ends" in errors_of(app)
    assert len(store.list_comparisons()) == 2 and "job" not in app.query_params


def test_one_visitor_may_queue_one_comparison_at_a_time(public):
    app = start(open_page("pages/train.py"))
    assert "job" in app.query_params and not errors_of(app)
    start(app)
    assert any(e.startswith("you have 1 comparison(s) waiting or training, the most one visitor may have")
               for e in errors_of(app)), errors_of(app)
    assert len(Store(public / "runs.sqlite").list_comparisons()) == 1
    start(open_page("pages/train.py"))  # another visitor still may
    assert len(Store(public / "runs.sqlite").list_comparisons()) == 2


def test_the_upload_limit_refuses_with_a_message(public, monkeypatch):
    monkeypatch.setenv("TWINBENCH_PUBLIC_MAX_UPLOAD_MIB", "1")
    app = open_page("pages/train.py")
    big = zip_bytes(two_classes(extra=[(f"cats/filler-{n}.png", bytes(range(256)) * 1100) for n in range(5)]),
                    compression=0)  # stored, not deflated: over 1 MiB on the wire
    assert len(big) > 1 << 20
    app.selectbox(key="dataset").set_value(UPLOAD_CHOICE).run()  # the upload box appears
    app.file_uploader(key="dataset_upload").upload("big.zip", big, "application/zip")
    start(app)
    assert any(e.startswith("big.zip is 1.") and e.endswith("uploads are at most 1 MiB on this shared instance")
               for e in errors_of(app)), errors_of(app)
    assert not uploads_dir().exists() or not list(uploads_dir().iterdir())
    assert Store(public / "runs.sqlite").list_comparisons() == []


def test_the_upload_count_per_visitor_holds(public, monkeypatch):
    monkeypatch.setenv("TWINBENCH_PUBLIC_MAX_UPLOADS_PER_VISITOR", "1")
    monkeypatch.setenv("TWINBENCH_PUBLIC_MAX_QUEUED_PER_VISITOR", "5")
    app = open_page("pages/train.py")
    app.selectbox(key="dataset").set_value(UPLOAD_CHOICE).run()  # the upload box appears
    app.number_input(key="batch_size").set_value(2)
    first = zip_bytes(two_classes(per_class=6))
    app.file_uploader(key="dataset_upload").upload("pets.zip", first, "application/zip")
    start(app)
    assert not errors_of(app) and len(Store(public / "runs.sqlite").list_comparisons()) == 1
    start(app)  # the same file sent again with the form is not another upload
    assert not errors_of(app) and len(Store(public / "runs.sqlite").list_comparisons()) == 2
    app.file_uploader(key="dataset_upload").set_value(("more.zip", zip_bytes(two_classes(per_class=7)), "application/zip"))
    start(app)
    assert any(e.startswith("you have uploaded 1 datasets, the most one visitor may upload") for e in errors_of(app))
    assert len(Store(public / "runs.sqlite").list_comparisons()) == 2


def test_epochs_above_the_bound_are_capped_in_the_form_and_never_reach_the_queue(public):
    app = open_page("pages/train.py")
    epochs = app.number_input(key="epochs")
    assert (epochs.proto.has_max, epochs.proto.max) == (True, 10)
    assert "at most 10 on this shared instance" in epochs.help
    assert app.number_input(key="max_images").proto.max == 5000
    assert app.number_input(key="repeats").proto.max == 3
    # What a hand-made request could send. Streamlit puts a value outside the widget's range back
    # to its default on the server; core.engine.public_mode.bounded_spec would refuse it otherwise.
    epochs.set_value(50)
    start(app)
    store = Store(public / "runs.sqlite")
    assert [store.comparison(c.id).settings.epochs for c in store.list_comparisons()] == [5]


def test_queued_from_home_in_public_mode_is_owned_and_bounded(public):
    app = open_page("pages/home.py")
    app.button(key="start").click().run()
    assert not app.exception, app.exception
    comparison = Store(public / "runs.sqlite").list_comparisons()[0]
    assert comparison.owner == visitor_of(app)
    assert Store(public / "runs.sqlite").comparison(comparison.id).settings.max_images == 5000


@pytest.mark.parametrize("shared", [False, True])
def test_the_error_log_path_is_shown_only_locally(local, monkeypatch, shared):  # noqa: ARG001
    if shared:
        monkeypatch.setenv("TWINBENCH_PUBLIC", "1")

    def broken(self):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(Store, "latest_comparison_id", broken)
    app = open_page("pages/home.py")
    banner = [e for e in errors_of(app) if e.startswith("This page could not be shown: ")]
    assert len(banner) == 1 and "the store went away" in banner[0], errors_of(app)
    assert ("Details:" in banner[0]) is not shared
    assert ("errors.log" in banner[0]) is not shared


def test_a_wrong_limit_is_shown_once_and_the_defaults_apply(local, monkeypatch):
    monkeypatch.setenv("TWINBENCH_PUBLIC_MAX_QUEUE", "lots")
    app = open_page("pages/train.py")
    # plain() escapes Markdown: each underscore arrives with a backslash before it.
    assert [e.replace("\\", "") for e in errors_of(app) if e.startswith("Public mode's setting is wrong")] == [
        "Public mode's setting is wrong: TWINBENCH_PUBLIC_MAX_QUEUE must be a whole number (got 'lots'). "
        "The default limits apply."]
    assert "Shared instance" in text_of(app)
    assert app.number_input(key="epochs").proto.max == 10


def history_as(visitor: str, selected: list[str]) -> AppTest:
    from tests.test_pages import APP

    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["twinbench_visitor"] = visitor
    app.query_params["comparisons"] = ",".join(selected)
    app.switch_page("pages/history.py").run()
    assert not app.exception, app.exception
    return app


def owned_comparisons(home, owners):
    store = Store(home / "runs.sqlite")
    settings = RunSpec(epochs=1).comparison_settings()
    return [store.create_comparison(settings, ["pytorch"], [(0, "pytorch", {"epochs": 1})], owner=owner)[0]
            for owner in owners]


def test_history_deletes_and_annotates_only_this_visitors_comparisons(public):
    mine, theirs, from_the_cli = owned_comparisons(public, ["visitor-a", "visitor-b", None])
    app = history_as("visitor-a", [mine, theirs, from_the_cli])
    assert "2 of the selected comparisons were started or imported by other visitors" in text_of(app)
    app.button(key="delete").click().run()  # the popover offers only this visitor's one
    assert [c.id for c in Store(public / "runs.sqlite").list_comparisons()] == [from_the_cli, theirs]

    app = history_as("visitor-a", [theirs])
    assert not [b for b in app.button if b.key == "delete"]
    app.selectbox(key="annotating").set_value(theirs).run()
    assert app.button(key="save_annotations").disabled and "only they can change its tags and note" in text_of(app)
    assert not history_as("visitor-b", [theirs]).button(key="save_annotations").disabled


def test_locally_history_deletes_whatever_is_selected(local):
    ids = owned_comparisons(local, ["visitor-a", None])
    app = history_as("someone-else", ids)
    assert "other visitors" not in text_of(app)
    app.button(key="delete").click().run()
    assert Store(local / "runs.sqlite").list_comparisons() == []
