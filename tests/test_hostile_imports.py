"""Imports of crafted exports: checked before anything is written, all or nothing, one line per
refused comparison, and whatever is imported is shown everywhere without an error.

Hypothesis draws valid exports (every field of the format, with Markdown and HTML in every text
a person can choose, and edge values: zero, tiny and huge numbers, empty lists), and mutates them
(a key missing, a value of the wrong type, JSON text that is not JSON, NaN, huge numbers, ids
with Markdown in them). Each import either takes every comparison or none, and then what it took
goes through everything the pages and the CLI do with a stored comparison.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.analysis.frames import epochs_frame, results_frame, runs_frame, steps_frame
from core.analysis.headline import headlines
from core.analysis.report import comparison_json, comparison_rows, failures
from core.analysis.verdict import comparison_frameworks, findings
from core.cli.output import print_comparison
from core.errors import BadInput
from core.frameworks import LABELS, NAMES
from core.results import RunResult
from core.spec import COMPILE_MODES, DATA_PIPELINES, DEVICES, OPTIMIZERS, PRECISIONS, RunSpec
from core.store import export_rows
from core.store.database import (
    COMPARISON_COLUMNS,
    ENVIRONMENT_COLUMNS,
    EPOCH_COLUMNS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    STEP_COLUMNS,
)
from core.store.queries import Store
from core.text import plain, plain_lines
from core.views.charts import curves_figure, memory_figure, spread_bar_figure, step_time_figure, warmup_figure
from core.views.history import comparisons_frame, diff_many, filter_comparisons

HOSTILE = "[link](http://evil.example) ![x](http://evil.example/t.png) <img src=x>"
HOSTILE_TEXTS = [HOSTILE, "<script>alert(1)</script>", "**bold** _it_ `code` $x^2$ | a | b |", "# heading", "- item",
                 ":red[colour] :material/home:", "www.evil.example", "me@evil.example", "line\nbreak\r\nand\ttab",
                 "\x1b[31mred\x1b[0m", "", " ", "😀 ünïcødé", "a" * 500]
TEXT = st.one_of(st.sampled_from(HOSTILE_TEXTS), st.text(max_size=40))
WORD = st.one_of(st.sampled_from(HOSTILE_TEXTS[:6]), st.text(min_size=1, max_size=20).filter(str.strip))
IDS = st.from_regex(r"[0-9a-f]{12}", fullmatch=True)
TIMES = st.floats(min_value=0.0, max_value=4.1e9)  # up to the year 2100
FIGURE = st.one_of(st.none(), st.sampled_from([0.0, 1e-300, 1e-9, 1.0, 1e12, 1e300]),
                   st.floats(min_value=0.0, max_value=1e9))
WHOLE_FIGURE = st.one_of(st.none(), st.integers(min_value=0, max_value=2**53 - 1))
FRACTION = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0))
LOSS = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))


@st.composite
def run_specs(draw) -> RunSpec:
    repeats = draw(st.integers(1, 50))
    return RunSpec(
        dataset=draw(st.one_of(st.just("digits"), WORD)).strip() or "digits",
        architecture=draw(st.one_of(st.just("cnn"), WORD)).strip() or "cnn",
        epochs=draw(st.integers(1, 1000)), batch_size=draw(st.integers(1, 65536)),
        optimizer=draw(st.sampled_from(OPTIMIZERS)), learning_rate=draw(st.floats(1e-9, 10.0)),
        momentum=draw(st.floats(0.0, 0.999)), weight_decay=draw(st.floats(0.0, 1.0)),
        seed=draw(st.integers(0, 2**31 - repeats)), device=draw(st.sampled_from(DEVICES)),
        precision=draw(st.sampled_from(PRECISIONS)), compile=draw(st.sampled_from(COMPILE_MODES)),
        validation_fraction=draw(st.floats(0.0, 0.5)), augment=draw(st.booleans()), best_of_each=draw(st.booleans()),
        data_pipeline=draw(st.sampled_from(DATA_PIPELINES)), repeats=repeats, same_seed=draw(st.booleans()),
        target_accuracy=draw(st.floats(1e-6, 1.0)), image_size=draw(st.one_of(st.none(), st.integers(4, 512))),
        max_images=draw(st.one_of(st.none(), st.integers(20, 10**9))),
        threads=draw(st.one_of(st.none(), st.integers(1, 1024))), notes=tuple(draw(st.lists(TEXT, max_size=3))),
    )


@st.composite
def results(draw) -> str:
    images = draw(st.one_of(st.none(), st.integers(1, 200)))
    bits = draw(st.binary(min_size=math.ceil(images / 8), max_size=math.ceil(images / 8))).hex() if images else None
    figures = {name: draw(FIGURE) for name, info in RunResult.model_fields.items() if info.annotation == float | None}
    figures.update({name: draw(WHOLE_FIGURE) for name, info in RunResult.model_fields.items() if info.annotation == int | None})
    figures.update(test_accuracy=draw(FRACTION), target_accuracy=draw(FRACTION), test_loss=draw(LOSS),
                   test_images=images, test_correct_bits=bits, mode=draw(st.one_of(st.none(), TEXT)),
                   nvml_memory_scope=draw(st.sampled_from([None, "process", "device"])))
    return json.dumps(RunResult(**figures).as_dict(), sort_keys=True)


@st.composite
def runs(draw, comparison_id: str, spec: RunSpec, position: int, repeat: int, framework: str, created: float) -> dict:
    run_id = draw(IDS)
    status = draw(st.sampled_from(["queued", "running", "finished", "failed"]))
    failed = status == "failed"
    epochs = [
        {"run_id": run_id, "epoch": number, **{c: draw(st.one_of(st.none(), st.floats(0.0, 1e6)))
                                               for c in EPOCH_COLUMNS if c != "epoch"}}
        for number in sorted(draw(st.lists(st.integers(0, 10_000), unique=True, max_size=3)))
    ]
    samples = [
        {"run_id": run_id, "epoch": epoch, "step": step, "steps": draw(st.integers(1, 20)),
         "milliseconds": draw(st.floats(0.0, 1e6)), "warmup": draw(st.integers(0, 1))}
        for epoch, step in sorted(draw(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10_000)), unique=True, max_size=5)))
    ]
    details = {"device": draw(st.sampled_from(["cpu", "cuda", HOSTILE])), "threads": draw(st.integers(1, 64)),
               "cpu_count": draw(st.integers(1, 256)), "cpu": draw(TEXT), "framework": framework}
    environment = draw(st.one_of(st.none(), st.just({
        "run_id": run_id, "framework_version": draw(st.one_of(st.none(), TEXT)), "device_name": draw(st.one_of(st.none(), TEXT)),
        "driver": None, "cpu": draw(st.one_of(st.none(), TEXT)), "threads": draw(st.one_of(st.none(), st.integers(1, 64))),
        "details_json": json.dumps(details, sort_keys=True)})))
    return {
        "id": run_id, "comparison_id": comparison_id, "position": position, "repeat": repeat, "framework": framework,
        "status": status, "spec_json": json.dumps({**spec.to_dict(), "framework": framework}, sort_keys=True),
        "result_json": draw(st.one_of(st.none(), results())) if status == "finished" else None,
        "error_kind": draw(st.sampled_from(["crashed", "cancelled", "out_of_memory", "bad_input", "unavailable"]))
        if failed else None,
        "error_message": draw(TEXT) if failed else None,
        "created_at": created, "started_at": draw(st.one_of(st.none(), TIMES)),
        "finished_at": draw(st.one_of(st.none(), TIMES)),
        "epochs": epochs, "step_samples": samples, "environment": environment,
    }


@st.composite
def comparisons(draw) -> dict:
    comparison_id = draw(IDS)
    spec = draw(run_specs())
    frameworks = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=len(NAMES), unique=True))
    created = draw(TIMES)
    planned = [(repeat, framework) for repeat in range(draw(st.integers(1, 2))) for framework in frameworks]
    data = {"input_shape": [8, 8, 1], "num_classes": 10, "train_images": 100, "notes": draw(st.lists(TEXT, max_size=2)),
            "path": draw(TEXT)}
    if draw(st.booleans()):
        def trial() -> dict:
            return {"mode": draw(TEXT), "status": draw(st.sampled_from(["finished", "failed", HOSTILE])),
                    "steady_images_per_second": draw(FIGURE), "step_ms_median": draw(FIGURE),
                    "compile_seconds": draw(FIGURE), "compile": "off", "precision": "fp32", "error": draw(TEXT)}
        data["best_of_each"] = {framework: {"chosen": {**trial(), "compile_payoff_step": draw(WHOLE_FIGURE)},
                                            "trials": [trial() for _ in range(draw(st.integers(1, 3)))]}
                                for framework in frameworks}
    drawn = [draw(runs(comparison_id, spec, position, repeat, framework, created))
             for position, (repeat, framework) in enumerate(planned)]
    return {
        "id": comparison_id, "created_at": created, "dataset": spec.dataset, "architecture": spec.architecture,
        "device": spec.device, "frameworks": ",".join(frameworks),
        "settings_json": json.dumps(spec.comparison_settings(), sort_keys=True), "data_json": json.dumps(data),
        "sweep_id": draw(st.one_of(st.none(), IDS)),
        "tags_json": json.dumps(draw(st.lists(st.sampled_from(["baseline", "gpu", HOSTILE[:40]]), unique=True, max_size=3))),
        "note": draw(TEXT).strip(),
        "runs": drawn,
    }


def unique_ids(items: list[dict]) -> bool:
    ids = [c["id"] for c in items] + [r["id"] for c in items for r in c["runs"]]
    return len(ids) == len(set(ids)) and len({c["created_at"] for c in items}) == len(items)


# As export_json writes them: oldest comparison first, each run's epochs and steps in order.
EXPORTS = st.lists(comparisons(), min_size=1, max_size=3).filter(unique_ids).map(
    lambda items: {"format": "twinbench-export", "schema_version": SCHEMA_VERSION,
                   "comparisons": sorted(items, key=lambda c: c["created_at"])})


def render_everything(store: Store) -> None:
    """What the pages and the CLI do with every stored comparison (Home, Compare, History, runs show
    and export). Plotly takes a tenth of a second a figure, so only the newest comparison is drawn."""
    summaries = store.list_comparisons()
    frame = comparisons_frame(summaries)
    filter_comparisons(frame, since=frame["created"].min().date() if len(frame) else None)
    for number, summary in enumerate(summaries):
        comparison = store.comparison(summary.id)
        for baseline in comparison_frameworks(comparison):
            findings(comparison, baseline)
            comparison_rows(comparison, baseline)
            json.dumps(comparison_json(comparison, baseline))
        headlines(comparison)
        failures(comparison)
        diff_many([comparison, store.comparison(summaries[0].id)])
        epochs, results_table, steps = epochs_frame(comparison), results_frame(comparison), steps_frame(comparison)
        runs_frame(comparison)
        settings_ = comparison.settings
        plain(f"{settings_.epochs} epochs · batch {settings_.batch_size} · lr {settings_.learning_rate:g}")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            print_comparison(comparison)
        if number == 0:
            for metric in ("accuracy", "loss"):
                curves_figure(epochs, metric, "train_seconds")
            spread_bar_figure(results_table, "time_to_target_seconds", f"Time to {settings_.target_accuracy:.0%}", "s")
            step_time_figure(steps)
            warmup_figure(results_table)
            memory_figure(results_table)
    store.export_csv().encode("utf-8")
    json.dumps(store.export_json()).encode("utf-8")


def snapshot(store: Store) -> dict:
    """Every row of every table the import writes (and the jobs table, which it must not touch)."""
    with store.reading() as db:
        return {table: sorted(map(tuple, db.exec_driver_sql(f"SELECT * FROM {table}").all()), key=repr)
                for table in ("comparisons", "runs", "epochs", "step_samples", "environments", "jobs")}


def existing_store(tmp_path_factory) -> Store:
    """A store that already holds a comparison, so that 'unchanged' means something."""
    store = Store(tmp_path_factory.mktemp("target") / "runs.sqlite")
    spec = RunSpec(epochs=1)
    comparison_id, (run_id,) = store.create_comparison(spec.comparison_settings(), [NAMES[0]],
                                                       [(0, NAMES[0], spec.to_dict())], {"train_images": 10})
    store.finish_run(run_id, RunResult(test_accuracy=0.5, steady_images_per_second=10.0))
    return store


def test_the_models_name_every_exported_column():
    assert set(export_rows.ComparisonRow.model_fields) == {*COMPARISON_COLUMNS, "runs"}
    assert set(export_rows.RunRow.model_fields) == {*RUN_COLUMNS, "epochs", "step_samples", "environment"}
    assert set(export_rows.EpochRow.model_fields) == {"run_id", *EPOCH_COLUMNS}
    assert set(export_rows.StepRow.model_fields) == {"run_id", *STEP_COLUMNS}
    assert set(export_rows.EnvironmentRow.model_fields) == {"run_id", *ENVIRONMENT_COLUMNS}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(EXPORTS)
def test_valid_exports_import_whole_round_trip_and_render_everywhere(tmp_path_factory, export):
    store = Store(tmp_path_factory.mktemp("valid") / "runs.sqlite")
    count = len(export["comparisons"])
    assert store.import_json(json.loads(json.dumps(export))) == (count, 0)
    assert store.export_json() == export
    assert store.import_json(export) == (0, count)
    render_everything(store)


# Values a crafted file puts where another belongs.
WRONG = [None, "", "not json", "{", "[]", "{}", "null", '{"a": NaN}', '{"device": Infinity}', "[" * 5000, float("nan"),
         float("inf"), -1, -1.5, 2**70, 10**400, 1e308, True, [], {}, [1, 2], HOSTILE, "\ud800", "x\x00y",
         "pytorch,pytorch", "mxnet", "9999-01-01", 0]
# Keys whose text is JSON: the mutation may also reach inside it.
JSON_TEXT_KEYS = ("settings_json", "spec_json", "result_json", "data_json", "details_json")


def paths(value, prefix=()):
    """Every place in a JSON value: (path to it) for dict keys and list items, the root excluded."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def mutate(value, path, how, replacement):
    *parents, last = path
    target = value
    for part in parents:
        target = target[part]
    if how == "delete" and isinstance(target, dict):
        del target[last]
    else:
        target[last] = replacement


def like(value) -> st.SearchStrategy:
    """A value of the same JSON type as ``value``: a mutation that is often still valid."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(0, 2**53 - 1)
    if isinstance(value, float):
        return st.floats(min_value=0.0, max_value=1e300)
    if isinstance(value, str):
        return TEXT
    return st.sampled_from(WRONG)


def parses(text) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (TypeError, ValueError, RecursionError):
        return False


def at(value, path):
    for part in path:
        value = value[part]
    return value


@st.composite
def mutated_exports(draw):
    export = draw(EXPORTS)
    for _ in range(draw(st.integers(1, 3))):
        places = list(paths(export["comparisons"]))
        json_places = [p for p in places if p[-1] in JSON_TEXT_KEYS and parses(at(export["comparisons"], p))]
        how = draw(st.sampled_from(["delete", "replace", "replace"]))
        wrong = st.one_of(st.sampled_from(WRONG), TEXT, st.integers(), st.floats())
        if json_places and draw(st.booleans()):
            where = draw(st.sampled_from(json_places))
            inner = json.loads(at(export["comparisons"], where))
            inner_places = list(paths(inner))
            if inner_places:
                place = draw(st.sampled_from(inner_places))
                mutate(inner, place, how, draw(st.one_of(wrong, like(at(inner, place)))))
                mutate(export["comparisons"], where, "replace", json.dumps(inner))
                event("mutated inside JSON text")
                continue
        place = draw(st.sampled_from(places))
        mutate(export["comparisons"], place, how, draw(st.one_of(wrong, like(at(export["comparisons"], place)))))
    return export


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(mutated_exports())
def test_mutated_exports_import_whole_or_are_refused_whole_one_line_each(tmp_path_factory, export):
    store = existing_store(tmp_path_factory)
    before = snapshot(store)
    count = len(export["comparisons"])
    try:
        imported, skipped = store.import_json(export)
    except BadInput as error:
        event("refused")
        header, *lines = str(error).splitlines()
        heading = re.fullmatch(rf"nothing was imported: (\d+) of {count} comparisons? refused", header)
        assert heading, header
        refused = int(heading.group(1))
        assert 1 <= refused <= count and len(lines) == refused
        numbers = [int(re.match(r"comparison (\d+)[ :]", line).group(1)) for line in lines]
        assert numbers == sorted(set(numbers)) and all(1 <= n <= count for n in numbers)
        assert snapshot(store) == before
        return
    event("imported")
    assert imported + skipped == count
    for comparison in export["comparisons"]:
        stored = store.comparison(comparison["id"])
        assert len(stored.runs) == len(comparison["runs"])
    render_everything(store)


def test_a_refusal_says_why_for_each_comparison_and_writes_nothing(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    spec = RunSpec(epochs=1, notes=(HOSTILE,))
    comparison_id, _ = store.create_comparison(spec.comparison_settings(), list(NAMES[:2]),
                                               [(0, name, spec.replace(framework=name).to_dict()) for name in NAMES[:2]])
    good = store.export_json()["comparisons"][0]
    store.delete_comparison(comparison_id)

    def variant(new_id: str, **changes) -> dict:
        comparison = json.loads(json.dumps(good))
        comparison.update(id=new_id, **changes)
        for number, run in enumerate(comparison["runs"]):
            run.update(comparison_id=new_id, id=f"{new_id}-{number}")
        return comparison

    export = {"format": "twinbench-export", "schema_version": 1, "comparisons": [
        variant("fine"),
        variant("notjson", settings_json="{'epochs': 1}"),
        variant("[x](http://evil.example)"),
        variant("nan", created_at=float("nan")),
        variant("fine"),
    ]}
    export["comparisons"][2]["runs"][0]["result_json"] = "<img src=x>"
    before = snapshot(store)
    with pytest.raises(BadInput) as refusal:
        store.import_json(export)
    header, *lines = str(refusal.value).splitlines()
    assert header == "nothing was imported: 4 of 5 comparisons refused"
    assert lines == [
        "comparison 2 (id 'notjson'): settings_json: not JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1))",
        "comparison 3 (id '[x](http://evil.example)'): id must be an id of 1 to 64 letters, digits, '-' or '_' "
        "(got '[x](http://evil.example)'); and 5 more problems",
        "comparison 4 (id 'nan'): created_at: input should be a finite number (got nan)",
        "comparison 5 (id 'fine'): the same id as comparison 1",
    ]
    assert snapshot(store) == before
    assert store.import_json({**export, "comparisons": export["comparisons"][:1]}) == (1, 0)


@pytest.mark.parametrize(("change", "why"), [
    ({"settings_json": '{"dataset": "digits", "architecture": "cnn", "device": "cpu", "epochs": "5"}'},
     "settings_json: epochs must be a whole number (got '5')"),
    ({"settings_json": '{"dataset": "digits", "architecture": "cnn", "device": "cpu", "learning_rate": "0.1"}'},
     "settings_json: learning_rate must be a number (got '0.1')"),
    ({"settings_json": '{"dataset": "digits", "architecture": "cnn", "device": "cpu", "epochs": true}'},
     "settings_json: epochs must be a whole number (got True)"),
    ({"settings_json": '{"dataset": "other", "architecture": "cnn", "device": "cpu"}'},
     "its dataset is 'digits' but its settings say 'other'"),
    ({"settings_json": "[1, 2]"}, "settings_json: must be a JSON object (got a list)"),
    ({"data_json": json.dumps({"best_of_each": {NAMES[0]: {"chosen": {"mode": "x"}, "trials": []}}})},
     f"data_json: best_of_each.{NAMES[0]}.chosen.status is missing; and 4 more problems"),
    ({"frameworks": "mxnet"}, f"frameworks: must be one of {', '.join(NAMES)} (got 'mxnet')"),
    ({"created_at": 1e300}, "created_at: input should be less than or equal to 7258118400 (got 1e+300)"),
    ({"device": "tpu"}, "device: input should be 'auto', 'cpu' or 'cuda' (got 'tpu')"),
    ({"runs": {}}, "runs: input should be a valid list (got dict)"),
    ({"extra": 1}, "extra is not part of the export format"),
])
def test_each_kind_of_damage_is_named(tmp_path, change, why):
    store = Store(tmp_path / "runs.sqlite")
    spec = RunSpec(epochs=1, device="cpu")
    store.create_comparison(spec.comparison_settings(), [NAMES[0]], [(0, NAMES[0], spec.replace(framework=NAMES[0]).to_dict())])
    export = store.export_json()
    store.delete_comparison(export["comparisons"][0]["id"])
    export["comparisons"][0].update(change)
    with pytest.raises(BadInput) as refusal:
        store.import_json(export)
    assert str(refusal.value).splitlines()[1] == f"comparison 1 (id {export['comparisons'][0]['id']!r}): {why}"


@pytest.mark.parametrize(("field", "value", "why"), [
    ("status", "done", "runs[0].status: input should be 'queued', 'running', 'finished' or 'failed' (got 'done')"),
    ("position", 2**70, "runs[0].position: input should be less than or equal to 9007199254740991 (got 1180591620717411303424)"),
    ("repeat", 1.5, "runs[0].repeat: input should be a valid integer (got 1.5)"),
    ("framework", NAMES[-1], f"runs[0]: its spec names framework {NAMES[0]!r}, the run {NAMES[-1]!r}"),
    ("comparison_id", "elsewhere", "run {run} belongs to comparison elsewhere"),
    ("error_kind", "crashed", "runs[0]: a queued run with error kind 'crashed'"),
    ("spec_json", '{"epochs": 0}', "runs[0].spec_json: epochs must be between 1 and 1000 (got 0)"),
    ("result_json", '{"test_accuracy": 2}', "runs[0].result_json: test_accuracy must be at most 1 (got 2.0)"),
    ("result_json", '{"steady_images_per_second": -1}',
     "runs[0].result_json: steady_images_per_second must be a finite number from 0 (got -1.0)"),
    ("result_json", '{"test_correct_bits": "zz"}', "runs[0].result_json: test_correct_bits must be lowercase hexadecimal bytes"),
    ("result_json", '{"params": "many"}', "runs[0].result_json: params: input should be a valid integer (got 'many')"),
    ("epochs", [{"epoch": 1}], "runs[0].epochs[0].train_loss is missing; and 10 more problems"),
    ("step_samples", [{"run_id": "r", "epoch": 0, "step": 0, "steps": 1, "milliseconds": 1.0, "warmup": 2}],
     "runs[0].step_samples[0].warmup: input should be less than or equal to 1 (got 2)"),
    ("environment", {"run_id": None, "framework_version": None, "device_name": None, "driver": None, "cpu": None,
                     "threads": None, "details_json": '{"device": NaN}'},
     "runs[0].environment.details_json: not JSON (NaN is not a JSON number)"),
    ("environment", {"run_id": None, "framework_version": None, "device_name": None, "driver": None, "cpu": None,
                     "threads": None, "details_json": '{"threads": [1]}'},
     "runs[0].environment.details_json: threads: input should be a valid integer (got list)"),
    ("error_message", "\ud800", "runs[0].error_message: holds text that is not valid Unicode (a lone surrogate)"),
])
def test_each_kind_of_damage_to_a_run_is_named(tmp_path, field, value, why):
    store = Store(tmp_path / "runs.sqlite")
    spec = RunSpec(epochs=1, device="cpu")
    store.create_comparison(spec.comparison_settings(), [NAMES[0]], [(0, NAMES[0], spec.replace(framework=NAMES[0]).to_dict())])
    export = store.export_json()
    store.delete_comparison(export["comparisons"][0]["id"])
    run = export["comparisons"][0]["runs"][0]
    run[field] = value
    with pytest.raises(BadInput) as refusal:
        store.import_json(export)
    assert str(refusal.value).splitlines()[1] == \
        f"comparison 1 (id {export['comparisons'][0]['id']!r}): {why.format(run=run['id'])}"


def test_a_run_already_in_the_database_under_another_comparison_is_refused(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    spec = RunSpec(epochs=1)
    store.create_comparison(spec.comparison_settings(), [NAMES[0]], [(0, NAMES[0], spec.replace(framework=NAMES[0]).to_dict())])
    export = store.export_json()
    copy = json.loads(json.dumps(export["comparisons"][0]))
    copy["id"] = "another"
    for run in copy["runs"]:
        run["comparison_id"] = "another"
    before = snapshot(store)
    with pytest.raises(BadInput, match=r"comparison 1 \(id 'another'\): run \w+ is already in this database, in comparison"):
        store.import_json({**export, "comparisons": [copy]})
    assert snapshot(store) == before


def test_what_is_not_an_export_is_one_line(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    for payload, why in [
        ([], "missing format marker"), ({"format": "other"}, "missing format marker"),
        ({"format": "twinbench-export", "schema_version": "1", "comparisons": []}, "schema_version must be a whole number"),
        ({"format": "twinbench-export", "schema_version": 99, "comparisons": []}, "newer Twinbench"),
        ({"format": "twinbench-export", "schema_version": 1}, "comparisons must be a list"),
        ({"format": "twinbench-export", "schema_version": 1, "comparisons": {"a": 1}}, "comparisons must be a list"),
    ]:
        with pytest.raises(BadInput, match=why) as refusal:
            store.import_json(payload)
        assert "\n" not in str(refusal.value)
    assert store.import_json({"format": "twinbench-export", "schema_version": 1, "comparisons": []}) == (0, 0)


def test_an_imported_comparison_with_markdown_everywhere_still_renders(tmp_path):
    """A hostile but valid comparison (text everywhere a person can choose) goes through every page's logic."""
    store = Store(tmp_path / "runs.sqlite")
    spec = RunSpec(epochs=1, dataset=HOSTILE, architecture=HOSTILE, notes=(HOSTILE,))
    names = list(NAMES[:2])
    comparison_id, run_ids = store.create_comparison(
        spec.comparison_settings(), names, [(0, name, {**spec.to_dict(), "framework": name}) for name in names],
        {"notes": [HOSTILE], "path": HOSTILE})
    store.finish_run(run_ids[0], RunResult(test_accuracy=0.5, steady_images_per_second=10.0, mode=HOSTILE))
    store.fail_run(run_ids[1], "crashed", HOSTILE)
    export = store.export_json()
    target = Store(tmp_path / "target.sqlite")
    assert target.import_json(export) == (1, 0)
    render_everything(target)
    assert LABELS[names[0]] in "".join(runs_frame(target.comparison(comparison_id))["framework"])


def test_curves_of_epochs_without_the_metric(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    spec = RunSpec(epochs=1)
    _, (run_id,) = store.create_comparison(spec.comparison_settings(), [NAMES[0]], [(0, NAMES[0], spec.to_dict())])
    store.add_epoch(run_id, {"epoch": 1, "train_loss": 0.5})  # no accuracy, as the store's own tests record
    comparison = store.comparison(store.latest_comparison_id())
    figure = curves_figure(epochs_frame(comparison), "accuracy")
    assert "No accuracy recorded" in figure.layout.annotations[0].text
    assert curves_figure(epochs_frame(comparison), "loss").data  # the loss it did record is drawn


# --- core/text.py: text shown inside Markdown as exactly that text ---------------------------------

def rendered_text(markdown: str) -> tuple[str, str]:
    """CommonMark's HTML for ``markdown``, and the text a reader sees in it."""
    import html

    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(markdown)
    return rendered, html.unescape(re.sub(r"<[^>]*>", "", rendered))


def links_in(markdown: str) -> list[str]:
    """Tags other than a paragraph, and bare addresses GitHub-flavoured Markdown would turn into links."""
    rendered, text = rendered_text(markdown)
    tags = [tag for tag in re.findall(r"<[a-zA-Z][^>]*>", rendered) if tag != "<p>"]
    return tags + re.findall(r"(?i)(?:https?://|www\.)[-.\w]+|[-.\w+]+@[-\w]+(?:\.[-\w]+)+", text)


def test_plain_shows_markdown_html_and_addresses_as_text():
    assert links_in(HOSTILE) and not links_in(plain(HOSTILE))
    assert rendered_text(plain(HOSTILE))[1].replace("\u2060", "").strip() == HOSTILE
    assert plain("- item") == "\\- item" and plain("12. item") == "12\\. item" and plain("# title") == "\\# title"
    assert plain("a\nb\r\nc") == "a b  c"
    assert plain("job-1_x") == "job-1\\_x"
    assert plain("Training speed: 1.31× faster (95 % CI 1.2–1.4×, 3 runs each).") == \
        "Training speed: 1.31× faster (95 % CI 1.2–1.4×, 3 runs each)."


@settings(max_examples=300, deadline=None)
@given(st.text(), st.booleans())
def test_plain_renders_as_the_text_itself_and_never_as_a_link(text, inside):
    from core.text import CONTROL, WORD_JOINER

    markdown = f"Comparison {plain(text)} here" if inside else plain(text)
    assert not links_in(markdown)
    # The word joiners plain() adds are invisible, so they are taken out of both sides (the text may hold its own).
    expected = CONTROL.sub(" ", text).strip().replace(WORD_JOINER, "").strip()
    seen = rendered_text(markdown)[1].replace(WORD_JOINER, "").strip()
    assert seen == (f"Comparison {expected} here" if inside else expected)


def test_plain_lines_keeps_one_paragraph_per_line():
    message = "nothing was imported: 2 of 2 comparisons refused\ncomparison 1 (id 'a'): x\ncomparison 2: [y](http://evil.example)"
    assert plain_lines(message).count("\n\n") == 2 and not links_in(plain_lines(message))


def test_an_export_file_that_cannot_be_read_is_one_line(tmp_path):
    from core.store.export_format import load_export, parse_export

    (tmp_path / "folder").mkdir()
    (tmp_path / "latin1.json").write_bytes(b'{"x": "\xe9"}')
    (tmp_path / "deep.json").write_text("[" * 100_000)
    (tmp_path / "digits.json").write_text("1" * 5000)
    (tmp_path / "broken.json").write_text('{"format": ')
    for name, why in [("missing.json", "does not exist"), ("folder", "is a folder; give the .json file"),
                      ("latin1.json", "not UTF-8 text"), ("deep.json", "nests too deeply"),
                      ("digits.json", "is not a JSON export (Exceeds the limit"), ("broken.json", "Expecting value")]:
        with pytest.raises(BadInput, match=re.escape(why)) as refusal:
            load_export(tmp_path / name)
        assert "\n" not in str(refusal.value)
    assert parse_export(b'{"format": "twinbench-export"}', "upload.json") == {"format": "twinbench-export"}


def test_settings_and_specs_with_fewer_fields_are_completed_with_the_defaults(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    settings = {"dataset": "digits", "architecture": "cnn", "device": "cpu", "epochs": 2, "padding": "kept"}
    store.create_comparison(settings, [NAMES[0]], [(0, NAMES[0], {"epochs": 2})])
    export = store.export_json()
    written = json.loads(export["comparisons"][0]["settings_json"])
    assert written == {**RunSpec().comparison_settings(), **settings}
    spec = json.loads(export["comparisons"][0]["runs"][0]["spec_json"])
    assert spec == {**RunSpec().to_dict(), "framework": NAMES[0], "epochs": 2}
    store.delete_comparison(export["comparisons"][0]["id"])
    export["comparisons"][0]["settings_json"] = json.dumps(settings)  # as an older export would hold them
    export["comparisons"][0]["runs"][0]["spec_json"] = json.dumps({"epochs": 2})
    assert store.import_json(export) == (1, 0)
    comparison = store.comparison(export["comparisons"][0]["id"])
    assert comparison.settings.stored() == written and comparison.runs[0].spec.stored() == spec
    render_everything(store)
