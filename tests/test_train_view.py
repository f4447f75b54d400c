"""The Train page's logic without Streamlit: each RunSpec field's widget (core.views.train_form),
what the form queues, and what the queue panel shows of a job (core.views.train_status)."""

import dataclasses
import json
import time

import pytest

from core.analysis.eta import job_status
from core.engine.jobs import enqueue, get_job
from core.engine.public_mode import PublicPolicy
from core.errors import BadInput
from core.frameworks import LABELS, NAMES, REGISTRY
from core.spec import RunSpec
from core.store.queries import Store
from core.views import framework_words, train_form, train_status
from tests.test_archives import two_classes, zip_bytes

LOCAL, PUBLIC = PublicPolicy(), PublicPolicy(enabled=True, max_epochs=7, max_images=900)


class FakeWidgets:
    """Widget functions that record what they were asked and answer with a value of their own."""

    def __init__(self, answers: dict | None = None):
        self.calls: list[tuple[str, str, dict]] = []
        self.answers = answers or {}

    def widgets(self) -> dict:
        def widget(kind):
            def call(label, **arguments):
                self.calls.append((kind, label, arguments))
                start = arguments["options"][arguments["index"]] if "options" in arguments else arguments["value"]
                return self.answers.get(arguments["key"], start)
            return call
        return {kind: widget(kind) for kind in ("number", "choice", "check")}


def test_every_setting_a_comparison_records_has_a_widget_keyed_by_its_field():
    assert set(RunSpec().comparison_settings()) - {"notes"} == set(train_form.FIELDS)
    for name, field in train_form.FIELDS.items():
        label, arguments = train_form.widget_arguments(name, LOCAL)
        assert arguments["key"] == name and label == field.label
        start = arguments["options"][arguments["index"]] if field.options else arguments["value"]
        assert start == (getattr(RunSpec(), name) if getattr(RunSpec(), name) is not None else 0), name


def test_on_a_shared_instance_a_bounded_field_says_and_holds_its_bound():
    label, arguments = train_form.widget_arguments("epochs", PUBLIC)
    assert arguments["max_value"] == 7 and arguments["help"] == "1 to 1000; at most 7 on this shared instance"
    label, arguments = train_form.widget_arguments("max_images", PUBLIC)
    assert label == "Max images (0 = 900)" and arguments["help"] == "at most 900 on this shared instance"
    assert train_form.widget_arguments("max_images", LOCAL) == ("Max images (0 = all)", {"key": "max_images", "value": 0,
                                                                                         "step": 100})
    assert "max_value" not in train_form.widget_arguments("epochs", LOCAL)[1]


def test_the_form_holds_none_for_an_unset_field_and_shows_an_error_below_its_widget():
    fake = FakeWidgets({"epochs": 3, "threads": 0, "image_size": 16})
    places = []
    form = train_form.SpecForm(LOCAL, fake.widgets(), lambda: places.append(object()) or places[-1])
    form.add("epochs", "threads", "image_size", "compile")
    assert form.values == {"epochs": 3, "threads": None, "image_size": 16, "compile": "off"}
    assert [kind for kind, _, _ in fake.calls] == ["number", "number", "number", "choice"]
    assert form.place_for(BadInput("too many", "threads"), "general") is places[1]
    assert form.place_for(BadInput("something else"), "general") == "general"


def test_framework_texts_come_from_the_registry():
    compile_help = train_form.FIELDS["compile"].help
    assert all(framework.label in compile_help for framework in REGISTRY.values())
    with_layout = [f.label for f in REGISTRY.values() if f.channels_last]
    assert train_form.FIELDS["channels_last"].label == f"channels_last ({framework_words.listed(with_layout)})"
    assert all(pipeline in train_form.ABOUT for pipeline in framework_words.NATIVE_PIPELINES)
    assert framework_words.listed(["a"]) == "a" and framework_words.listed(["a", "b", "c"]) == "a, b and c"
    assert framework_words.listed(LABELS.values()) == framework_words.EVERY_FRAMEWORK


def test_a_framework_that_is_not_installed_is_offered_as_such(monkeypatch):
    missing = dataclasses.replace(REGISTRY["jax"], packages=("no_such_package_for_twinbench",))
    monkeypatch.setitem(REGISTRY, "jax", missing)
    assert framework_words.framework_choice("jax") == f"{missing.label} (not installed)"


class Upload:
    def __init__(self, name: str, payload: bytes):
        self.name, self.payload = name, payload

    def getvalue(self) -> bytes:
        return self.payload


def test_an_uploaded_dataset_is_stored_once_per_file_and_a_missing_one_is_refused(home):
    store = Store(home / "runs.sqlite")
    assert train_form.chosen_dataset(store, "digits", None, set(), LOCAL) == "digits"
    with pytest.raises(BadInput, match="choose a .zip to upload") as refused:
        train_form.chosen_dataset(store, train_form.UPLOAD_CHOICE, None, set(), LOCAL)
    assert refused.value.field == "dataset"
    uploads: set[str] = set()
    payload = zip_bytes(two_classes(per_class=6))
    first = train_form.chosen_dataset(store, train_form.UPLOAD_CHOICE, Upload("pets.zip", payload), uploads, LOCAL)
    again = train_form.chosen_dataset(store, train_form.UPLOAD_CHOICE, Upload("pets.zip", payload), uploads, LOCAL)
    assert first == again and first.endswith("pets.zip") and len(uploads) == 1


def test_start_comparison_queues_what_the_form_holds_or_names_the_field(home):
    store = Store(home / "runs.sqlite")
    values = {**RunSpec().comparison_settings(), "epochs": 2}
    values.pop("notes")
    job_id = train_form.start_comparison(store, values, None, set(), list(NAMES[:2]), "me", LOCAL)
    comparison = store.comparison(get_job(store, job_id)["comparison_id"])
    assert comparison["settings"] == RunSpec(epochs=2).comparison_settings()
    assert {run["framework"] for run in comparison["runs"]} == set(NAMES[:2])
    with pytest.raises(BadInput) as refused:
        train_form.start_comparison(store, {**values, "epochs": 0}, None, set(), list(NAMES[:2]), "me", LOCAL)
    assert refused.value.field == "epochs"
    with pytest.raises(BadInput) as refused:
        train_form.start_comparison(store, values, None, set(), [], "me", LOCAL)
    assert refused.value.field == "frameworks"


# --- the queue panel ---

def running(home, progress: dict | None, repeats: int = 1) -> tuple[Store, dict, dict]:
    """A job whose first run trains, with ``progress`` as core.engine.jobs.execute_job keeps it."""
    store = Store(home / "runs.sqlite")
    job_id = enqueue(store, RunSpec(epochs=2, repeats=repeats), list(NAMES[:2]))
    first = store.comparison(get_job(store, job_id)["comparison_id"])["runs"][0]
    now = time.time()
    with store.transaction() as db:
        db.exec_driver_sql("UPDATE jobs SET status='running', started_at=?, progress_json=? WHERE id=?",
                           (now - 40, json.dumps({"run_id": first["id"], **progress}) if progress else None, job_id))
        db.exec_driver_sql("UPDATE runs SET status='running', started_at=? WHERE id=?", (now - 30, first["id"]))
    job = get_job(store, job_id)
    return store, job, store.comparison(job["comparison_id"])


def test_a_runs_bar_and_the_time_left_come_from_one_progress_model(home):
    store, job, comparison = running(home, {"event": "progress", "epoch": 1, "step": 5, "steps_per_epoch": 10})
    bars = train_status.run_bars(comparison, job)
    assert bars[0] == (0.75, f"{LABELS[NAMES[0]]}: epoch 2 of 2")
    assert [fraction for fraction, _ in bars[1:]] == [0.0] and bars[1][1].endswith("waiting")
    # The whole comparison's fraction is the mean of the runs' bars.
    assert job_status(job, comparison, time.time()).fraction == pytest.approx(sum(f for f, _ in bars) / len(bars))


def test_a_run_without_steps_counts_whole_epochs_and_one_not_begun_is_starting(home):
    _, job, comparison = running(home, {"event": "epoch", "completed_epochs": 1})
    assert train_status.run_bars(comparison, job)[0] == (0.5, f"{LABELS[NAMES[0]]}: epoch 1 of 2 done")
    _, job, comparison = running(home, None, repeats=2)
    first, *_ = train_status.run_bars(comparison, job)
    assert first == (0.0, rf"{LABELS[NAMES[0]]} \#1: starting (importing the framework)")  # shown as text, not Markdown


def test_the_status_panel_says_what_trains_and_how_long_is_left(home):
    store, job, comparison = running(home, {"event": "progress", "epoch": 1, "step": 5, "steps_per_epoch": 10})
    panel = train_status.status_panel(store, job, comparison, yours=True, now=time.time())
    assert panel.title == "Training: cnn on digits (yours)"
    assert panel.headline == f"**{LABELS[NAMES[0]]} · run 1 of 2 · epoch 2 of 2 · step 5 of 10**"
    assert [metric.label for metric in panel.metrics] == ["Elapsed", "Time left (rough)"]
    assert panel.metrics[1].help == train_status.TIME_LEFT_HELP and panel.caption is None


def test_the_page_follows_the_named_job_else_the_one_training_and_lists_the_others(home):
    store = Store(home / "runs.sqlite")
    first = enqueue(store, RunSpec(epochs=1), list(NAMES[:2]))
    second = enqueue(store, RunSpec(epochs=1, dataset="shapes"), list(NAMES[:2]))
    watch = train_status.followed(store, None)
    assert watch.job is None and watch.shown["id"] == first and watch.live
    assert train_status.waiting_lines(store, watch.jobs, watch.shown) == ["**cnn on shapes**: waiting, 1 ahead"]
    named = train_status.followed(store, second)
    assert named.job["id"] == second and named.comparison["id"] == named.job["comparison_id"]
    assert train_status.waiting_lines(store, named.jobs, named.shown) == ["**cnn on digits**: waiting, 0 ahead"]
    nothing = train_status.followed(Store(home / "empty.sqlite"), "nope")
    assert (nothing.job, nothing.shown, nothing.live) == (None, None, False)


def test_an_ended_job_says_how_it_ended():
    queued_at = time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1))
    assert train_status.ended_caption({"created_at": queued_at, "status": "failed", "message": "out of *memory*"}) \
        == r"Queued at 03:04:05 · failed: out of \*memory\*"
    assert train_status.is_live([], {"status": "finished"}) is False
    assert train_status.is_live([], {"status": "running"}) is True
