"""The Compare, History, Sweep, Models and System pages' logic without Streamlit (core.views):
what each reads from the address, says in words and puts in its tables."""

import datetime as dt

import pandas as pd

from core.errors import BadInput
from core.frameworks import LABELS, NAMES, REGISTRY
from core.results import RunResult
from core.spec import RunSpec
from core.store.queries import Store
from core.views import compare_view, history_view, model_table, query, sweep_view, system_view
from core.views.history import comparisons_frame, sort_options
from core.views.run_table import RunFilter, RunsView
from tests.test_compare_view import store_comparisons

FIRST, SECOND = NAMES[:2]
NOON = dt.datetime(2026, 3, 4, 12, 0).timestamp()


def summary(comparison_id: str, days_ago: int = 0, **extra) -> dict:
    """A comparison as Store.list_comparisons lists it."""
    return {"id": comparison_id, "created_at": NOON - days_ago * 86400, "dataset": "digits", "architecture": "cnn",
            "device": "auto", "resolved_device": "cpu", "frameworks": f"{FIRST},{SECOND}", "runs": 2, "finished": 2,
            "failed": 0, **extra}


def test_seed_sets_only_what_the_state_does_not_hold_yet():
    state = {"sort": "created"}
    query.seed(state, {"sort": "images/s", "descending": True})
    assert state == {"sort": "created", "descending": True}


# --- Compare ---

def test_which_compare_view_a_first_visit_shows_and_how_the_address_keeps_it():
    assert compare_view.first_show({}) == "one"
    assert compare_view.first_show({"comparisons": "a,b"}) == "several"
    assert compare_view.first_show({"show": "one", "comparisons": "a,b"}) == "one"
    assert compare_view.first_show({"show": "nonsense"}) == "one"
    assert compare_view.show_param("several", {}) == "several"
    assert compare_view.show_param("one", {"comparisons": "a"}) == "one"
    assert compare_view.show_param("one", {}) is None


def test_the_address_picks_a_comparison_or_says_it_is_not_here():
    assert compare_view.chosen_index(["b", "a"], "a") == (1, None)
    assert compare_view.chosen_index(["b", "a"], None) == (0, None)
    index, warning = compare_view.chosen_index(["b", "a"], "[x](http://evil.example)")
    assert index == 0 and warning.startswith("No comparison with id \\[x\\]")
    assert compare_view.baseline_index([FIRST, SECOND], SECOND) == 1
    assert compare_view.baseline_index([FIRST, SECOND], "nope") == 0


def test_the_several_view_seeds_its_widgets_from_the_address_and_writes_them_back():
    asked = RunsView(comparisons=("a",), colour_by="framework", runs=RunFilter(frameworks=("Mine",), statuses=("failed", "odd")),
                     sort="images/s", descending=True)
    seeds = compare_view.several_seeds(asked)
    assert seeds["run_statuses"] == ["failed"] and seeds["comparisons"] == ["a"]
    chosen = compare_view.chosen_runs_view({**seeds, "run_sort": "images/s"}, ["a"])
    assert chosen.to_query() == RunsView(comparisons=("a",), colour_by="framework", runs=RunFilter(frameworks=("Mine",),
                                         statuses=("failed",)), sort="images/s", descending=True).to_query()
    assert compare_view.framework_filter_options(asked) == [*LABELS.values(), "Mine"]


def run(framework: str, status: str = "finished", environment: dict | None = None, scope: str | None = None) -> dict:
    result = RunResult(steady_images_per_second=100.0, nvml_memory_scope=scope) if status == "finished" else None
    return {"framework": framework, "status": status, "environment": environment, "result": result}


def test_the_settings_line_says_the_threads_and_notes_as_text():
    settings = {"epochs": 5, "batch_size": 64, "optimizer": "adam", "learning_rate": 0.001, "precision": "fp32",
                "compile": "off", "repeats": 3, "seed": 0, "notes": ["resized to *16*"], "best_of_each": False}
    cpu = {"device": "cpu", "threads": 3, "cpu_count": 4}
    comparison = {"settings": settings, "runs": [run(FIRST, environment=cpu), run(SECOND, environment=cpu)]}
    assert compare_view.settings_caption(comparison) == (
        "5 epochs · batch 64 · adam lr 0.001 · fp32 · compile off · 3 repeat(s) · seed 0 · resized to \\*16\\* · "
        "3 CPU thread(s) per framework of 4 cores")
    assert compare_view.threads_note({"runs": [run(FIRST, environment={"device": "cuda", "threads": 3})]}) == ""


def test_unfinished_runs_and_the_whole_gpu_note_are_said_only_when_they_apply():
    runs = pd.DataFrame([{"framework": FIRST, "repeat": 1, "status": "finished", "error": None},
                         {"framework": SECOND, "repeat": 1, "status": "failed", "error": "out of memory"}])
    assert compare_view.unfinished_warning(runs) == f"Not every run finished:\n\n- {SECOND} #1: failed — out of memory"
    assert compare_view.unfinished_warning(runs[:1]) is None
    assert compare_view.sees_whole_gpu({"runs": [run(FIRST, scope="device"), run(SECOND, "failed")]})
    assert not compare_view.sees_whole_gpu({"runs": [run(FIRST, scope="process")]})


def test_best_of_each_says_the_mode_chosen_and_when_compiling_paid():
    trial = {"mode": "compiled", "steady_images_per_second": 10.0, "step_ms_median": 1.0, "compile_seconds": 2.0,
             "status": "finished", "extra": 1}
    choice = {"chosen": {**trial, "compile_payoff_step": 1200}, "trials": [trial]}
    assert compare_view.best_of_each_line(FIRST, choice) == (f"**{LABELS[FIRST]}** trained in **compiled**; "
                                                             "compiling pays for itself after step 1,200")
    assert list(compare_view.trials_frame(choice).columns) == compare_view.TRIAL_COLUMNS


# --- History ---

def history_frame() -> tuple[pd.DataFrame, dict]:
    summaries = [summary("new", tags=["gpu"]), summary("old", days_ago=3, dataset="shapes")]
    figures = {"new": {f"{LABELS[FIRST]} images/s": 10.0, f"{LABELS[FIRST]} peak MiB": 5.0}}
    return comparisons_frame(summaries, figures), {s["id"]: s for s in summaries}


def test_the_history_view_goes_from_the_address_to_the_widgets_and_back():
    frame, summaries = history_frame()
    sorts = sort_options(frame)
    asked = {"datasets": "shapes,nope", "comparisons": "old,gone", "sort": f"{LABELS[FIRST]} images/s", "descending": "0",
             "dates": "2026-03-01,2026-03-03"}
    seeds = history_view.view_seeds(asked, frame, summaries, sorts)
    assert seeds["datasets"] == ["shapes"] and seeds["selected"] == ["old"] and seeds["descending"] is False
    assert seeds["dates"] == (dt.date(2026, 3, 1), dt.date(2026, 3, 3))
    written = history_view.history_query(seeds, frame, *seeds["dates"])
    assert {key: value for key, value in written.items() if value} == {
        "datasets": ["shapes"], "comparisons": ["old"], "sort": f"{LABELS[FIRST]} images/s",
        "dates": ["2026-03-01", "2026-03-03"]}
    assert written["descending"] is False  # write_params leaves it out of the address
    defaults = history_view.view_seeds({}, frame, summaries, sorts)
    assert {key: value for key, value in history_view.history_query(defaults, frame, *defaults["dates"]).items()
            if value} == {}


def test_what_is_no_longer_stored_leaves_the_filters_selection_and_sort():
    frame, summaries = history_frame()
    state = {"datasets": ["digits", "gone"], "architectures": [], "devices": [], "tags": ["gpu"], "selected": ["old", "gone"],
             "sort": "a column no more"}
    assert history_view.still_here(state, frame, summaries, sort_options(frame)) == {
        "datasets": ["digits"], "architectures": [], "devices": [], "tags": ["gpu"], "selected": ["old"], "sort": "created"}
    assert "sort" not in history_view.still_here({**state, "sort": "created"}, frame, summaries, sort_options(frame))


def test_the_history_table_shows_figures_before_text_and_filters_by_date():
    frame, _ = history_frame()
    order = history_view.column_order(frame)
    assert order.index(f"{LABELS[FIRST]} images/s") < order.index("tags") and set(order) == set(frame.columns)
    assert history_view.figure_format(f"{LABELS[FIRST]} peak MiB")["format"] == "%.1f"
    assert history_view.figure_format(f"{LABELS[FIRST]} accuracy")["format"] == "percent"
    state = {"datasets": [], "architectures": [], "devices": [], "tags": [], "sort": "created", "descending": True}
    shown = history_view.shown_comparisons(frame, state, dt.date(2026, 3, 4), dt.date(2026, 3, 4))
    assert list(shown["id"]) == ["new"] and list(shown.index) == [0]
    assert history_view.date_range((dt.date(2026, 3, 1),)) == (dt.date(2026, 3, 1), None)


def test_ticks_of_the_same_table_change_the_selection_and_another_tables_do_not_count():
    frame, _ = history_frame()
    key = history_view.table_key(frame)
    assert key != history_view.table_key(frame.iloc[::-1])
    assert history_view.ticked_ids(frame, [1, 5]) == ["old"]
    assert history_view.selection_after_ticks(["x"], (key, []), key, ["old"]) == ["x", "old"]
    assert history_view.selection_after_ticks(["x", "old"], (key, ["old"]), key, []) == ["x"]
    assert history_view.selection_after_ticks(["x", "old"], ("another", ["old"]), key, []) == ["x", "old"]


def test_history_offers_links_deletion_and_says_why_an_import_failed():
    one, overlay = history_view.compare_links(["a_b"])
    assert one["query_params"] == {"comparison": "a_b"} and "a\\_b" in one["label"]
    assert history_view.compare_links(["a", "b"])[0] is None
    assert history_view.compare_links(["a", "b"])[1]["query_params"] == {"show": "several", "comparisons": "a,b"}
    summaries = {"mine": {"owner": "me"}, "theirs": {"owner": "you"}}
    assert history_view.deletable(["mine", "theirs"], summaries, lambda c: c["owner"] == "me") == (["mine"], 1)
    assert history_view.import_failure(BadInput("not JSON")) == "Nothing was imported: not JSON"
    assert history_view.import_failure(BadInput("nothing was imported: empty")) == "Nothing was imported: empty"
    assert history_view.comparison_choice(summary("c1")) == "c1 · cnn on digits · 2026-03-04 12:00"
    assert history_view.annotation_fields(summary("c1", tags=["a", "b"], note="n")) == {"tags_text": "a, b", "note_text": "n"}
    assert history_view.annotation_fields(summary("c1")) == {"tags_text": "", "note_text": ""}


# --- Sweep ---

def test_the_sweep_form_lists_settings_in_run_spec_order_and_every_sweepable_kind():
    assert list(sweep_view.in_field_order({"batch_size": [32], "dataset": ["digits"]})) == ["dataset", "batch_size"]
    assert not set(sweep_view.CHOICES) & set(sweep_view.TYPED)


def test_a_sweep_says_how_far_it_is_and_which_cells_failed():
    comparisons = [{"runs": [{"status": "finished"}, {"status": "failed"}]}, {"runs": [{"status": "running"}]}]
    assert sweep_view.runs_ended(comparisons) == (2, 3)
    assert sweep_view.unfinished({"finished": 1, "failed": 1, "runs": 3})
    assert not sweep_view.unfinished({"finished": 2, "failed": 1, "runs": 3})
    frame = pd.DataFrame([{"framework": FIRST, "status": "finished", "failure": None},
                          {"framework": SECOND, "status": "failed", "failure": "out_of_memory"}])
    assert sweep_view.failed_warning(frame) == f"Failed cells (marked x in the charts):\n\n- {SECOND}: out\\_of\\_memory"
    assert sweep_view.failed_warning(frame[:1]) is None
    assert sweep_view.chosen_index(["s2", "s1"], "s1") == (1, None)
    assert sweep_view.chosen_index(["s2", "s1"], "gone")[1] == "No sweep with id gone in this database; showing the latest."


# --- Models and System ---

def test_a_models_layers_show_their_shapes_and_figures():
    model = {"summary": [{"layer": "conv", "output_shape": [8, 8, 4], "params": 40}], "trainable_params": 1234,
             "flops_per_image": 5_000_000}
    assert model_table.layers_frame(model)["output_shape"].tolist() == ["8 × 8 × 4"]
    caption = model_table.model_caption(model, REGISTRY[FIRST])
    assert caption.endswith(f"FLOPs per image ({REGISTRY[FIRST].tensor_layout} layout)") and "parameters" in caption


def test_the_system_tables_hide_the_database_path_on_a_shared_instance():
    database = {"backend": "sqlite", "path": "/srv/runs.sqlite", "schema_version": 2}
    assert system_view.database_line(database, public=False) == "sqlite · /srv/runs.sqlite · schema version 2"
    assert system_view.database_line(database, public=True) == "sqlite · schema version 2"
    assert system_view.table_counts_frame({"runs": 1200, "jobs": None})["rows"].tolist() == ["1,200", "unreadable"]
    probe = {FIRST: {"framework_version": "2.0", "built_with_cuda": None, "gpus": [], "threads": 3},
             SECOND: {"error": "not installed"}}
    rows = system_view.probe_frame(probe).to_dict("records")
    assert rows[0]["framework"] == LABELS[FIRST] and rows[0]["GPUs it sees"] == "none (CPU only)"
    assert rows[0]["built with CUDA"] == "no" and rows[1]["GPUs it sees"] == "not installed"
    gpus = system_view.gpus_frame([{"index": 0, "name": "H200", "memory_total_bytes": 2**30, "memory_used_bytes": 0}])
    assert list(gpus.columns) == ["index", "name", "memory", "in use"]
    assert system_view.versions_frame({"torch": None})["version"].tolist() == ["not installed"]


def test_the_verdict_table_has_a_column_per_framework_once_a_run_has_finished(home):
    [finished] = store_comparisons(home, [FIRST, SECOND], repeats=1, count=1)
    table = compare_view.verdict_table(Store(home / "runs.sqlite").comparison(finished))
    assert list(table.columns) == ["Figure", LABELS[FIRST], LABELS[SECOND], "Ahead"] and len(table) > 3
    store = Store(home / "runs.sqlite")
    spec = RunSpec(epochs=1)
    planned = [(0, name, {**spec.to_dict(), "framework": name}) for name in (FIRST, SECOND)]
    queued, _ = store.create_comparison(spec.comparison_settings(), [FIRST, SECOND], planned, {})
    assert compare_view.verdict_table(store.comparison(queued)) is None
