"""Sweeps: expansion and refusals (pure), the grouped frame and its charts (pure, from made-up
comparisons), queueing through the store, and `python -m core sweep` as a user runs it."""

import pytest

from core.analysis.sweeps import ObservedSpeed, estimate_sweep, summary_rows, sweep_frame, swept_fields
from core.engine.sweep import cancel_sweep, enqueue_sweep, list_sweeps, sweep_comparisons
from core.errors import BadInput
from core.frameworks import DEFAULT_NAMES, LABELS
from core.results import RunResult
from core.spec import MAX_SEED
from core.store.queries import Store
from core.sweep_spec import MAX_CELLS, expand_sweep, split_values
from core.views.sweep_charts import FAILED_SYMBOL, INCONCLUSIVE_SYMBOL, memory_figure, ratio_figure, throughput_figure
from tests.conftest import read_json, run_cli
from tests.records import comparison_record, run_record

FIRST, SECOND = DEFAULT_NAMES
FIRST_LABEL, SECOND_LABEL = LABELS[FIRST], LABELS[SECOND]


# --- expansion ----------------------------------------------------------------------------------


def test_the_cross_product_in_definition_order_with_the_swept_fields_named():
    sweep = expand_sweep({"architecture": ["cnn", "mlp"], "batch_size": ["32", "128", "512"], "precision": ["fp32"]},
                         {"epochs": 2})
    assert len(sweep) == 6
    assert sweep.swept == ("architecture", "batch_size")
    assert sweep.fixed == {"precision": "fp32"}
    assert [(c.spec.architecture, c.spec.batch_size) for c in sweep.cells] == [
        ("cnn", 32), ("cnn", 128), ("cnn", 512), ("mlp", 32), ("mlp", 128), ("mlp", 512)]
    assert [c.index for c in sweep.cells] == [1, 2, 3, 4, 5, 6]
    assert all(c.spec.epochs == 2 for c in sweep.cells)  # the base applies to every cell
    assert sweep.cells[1].values == {"architecture": "cnn", "batch_size": 128}
    assert sweep.cells[1].label == "architecture cnn · batch 128"


def test_repeated_values_count_once_after_validation():
    sweep = expand_sweep({"compile": [" off", "off "], "batch_size": ["32", "32", 32, "64"]})
    assert [c.spec.batch_size for c in sweep.cells] == [32, 64]
    assert sweep.swept == ("batch_size",)


def test_comma_separated_text_splits_into_values():
    assert split_values("32, 128,512,") == ["32", "128", "512"]
    assert split_values(32) == [32]
    assert split_values(["fp32,bf16", "fp32"]) == ["fp32", "bf16", "fp32"]


@pytest.mark.parametrize("axes, field, message", [
    ({"batch_size": ["32", "0"]}, "batch_size", "batch_size must be between 1 and 65536 (got '0')"),
    ({"precision": ["fp32", "fp8"]}, "precision", "precision must be one of fp32, bf16 (got 'fp8')"),
    ({"architecture": ["cnn", "transformer9"]}, "architecture", "unknown architecture"),
    ({"epochs": []}, "epochs", "epochs needs at least one value"),
    ({"framework": [FIRST]}, "framework", "framework cannot be swept"),
    ({"epoch": ["1"]}, "epoch", "epoch cannot be swept"),
])
def test_a_bad_value_is_refused_in_one_line_naming_the_field(axes, field, message):
    with pytest.raises(BadInput) as refused:
        expand_sweep(axes)
    assert refused.value.field == field
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_product_larger_than_the_limit_is_refused_before_any_cell_is_built():
    values = [str(b) for b in range(1, 9)]
    assert len(expand_sweep({"batch_size": values, "seed": values})) == MAX_CELLS == 64
    with pytest.raises(BadInput, match=r"a sweep of 72 comparisons \(9 batch_size × 8 seed\) is more than the limit of 64"):
        expand_sweep({"batch_size": [*values, "9"], "seed": values})


def test_values_fine_alone_but_not_together_are_refused_naming_the_cell():
    with pytest.raises(BadInput) as refused:
        expand_sweep({"seed": ["0", str(MAX_SEED)], "repeats": ["1", "2"]})
    assert str(refused.value).startswith(f"seed {MAX_SEED} · repeats 2: seed must be at most")
    assert refused.value.field == "seed"


def test_a_bad_fixed_setting_is_refused_as_itself():
    with pytest.raises(BadInput) as refused:
        expand_sweep({"batch_size": ["32", "64"]}, {"epochs": 0})
    assert refused.value.field == "epochs"


# --- estimate -----------------------------------------------------------------------------------


def test_the_estimate_grows_with_the_work_and_uses_speeds_measured_here():
    one = expand_sweep({"batch_size": ["32"]}, {"epochs": 1, "repeats": 1})
    four = expand_sweep({"batch_size": ["32", "64"], "epochs": ["1", "4"]}, {"repeats": 1})
    guessed = estimate_sweep(one, [FIRST, SECOND])
    assert guessed.rough and guessed.seconds > 0
    assert estimate_sweep(four, [FIRST, SECOND]).seconds > 4 * guessed.seconds  # two cells of 4 epochs
    fast = [ObservedSpeed(fw, "cnn", "cpu", 32, 1e6) for fw in (FIRST, SECOND)]
    slow = [ObservedSpeed(fw, "cnn", "cpu", 32, 10.0) for fw in (FIRST, SECOND)]
    measured_fast, measured_slow = estimate_sweep(one, [FIRST, SECOND], fast), estimate_sweep(one, [FIRST, SECOND], slow)
    assert not measured_fast.rough and not measured_slow.rough
    # 1,797 digits less a tenth for validation, one epoch at 10 images/s, in each framework.
    assert measured_slow.seconds - measured_fast.seconds == pytest.approx(2 * int(1797 * 0.9) / 10.0, rel=0.01)
    # The CLI imports the frameworks once per sweep, the job runner once per comparison.
    once = estimate_sweep(four, [FIRST, SECOND], fast, imports_per_comparison=False)
    assert once.seconds < estimate_sweep(four, [FIRST, SECOND], fast).seconds


# --- grouping -----------------------------------------------------------------------------------


def _run(framework, repeat, batch, speed=None, memory=None, accuracy=0.9, failure=None, steps=()):
    finished = failure is None
    return run_record(
        framework, id=f"{framework}-{batch}-{repeat}", repeat=repeat,
        status="finished" if finished else "failed", spec={"batch_size": batch, "seed": repeat},
        error_kind=None if finished else failure[0], error_message=None if finished else failure[1],
        result=RunResult(steady_images_per_second=speed, peak_host_rss_bytes=memory, test_accuracy=accuracy,
                         step_ms_median=1000 * batch / speed if speed else None,
                         step_ms_p90=1100 * batch / speed if speed else None) if finished else None,
        step_samples=[{"epoch": 0, "step": i, "steps": 1, "milliseconds": ms, "warmup": False}
                      for i, ms in enumerate(steps)],
    )


def _comparison(batch, first_speeds, second_speeds, second_failure=None, precision=None):
    runs = [_run(FIRST, i, batch, s, 200 * 2**20 + batch * 2**20) for i, s in enumerate(first_speeds)]
    if second_failure:
        runs += [_run(SECOND, i, batch, failure=second_failure) for i in range(len(first_speeds))]
    else:
        runs += [_run(SECOND, i, batch, s, 300 * 2**20) for i, s in enumerate(second_speeds)]
    settings = {"dataset": "digits", "architecture": "cnn", "batch_size": batch, "epochs": 1, "repeats": 3}
    return comparison_record(runs, id=f"c{batch}{precision or ''}", frameworks=f"{FIRST},{SECOND}",
                             created_at=float(batch), settings={**settings, **({"precision": precision} if precision else {})})


OOM = ("out_of_memory", "out of memory at batch 2048: can't allocate memory; try a smaller batch size or bf16")


@pytest.fixture
def swept():
    """Three cells: the first framework clearly faster at 32, about equal at 128, the second out of memory at 2048."""
    return [_comparison(32, [200, 210, 205], [100, 102, 98]),
            _comparison(128, [400, 300, 350], [330, 390, 360]),
            _comparison(2048, [900, 910, 905], [], second_failure=OOM)]


def test_the_frame_has_a_row_per_cell_and_framework_with_failures_as_such(swept):
    frame = sweep_frame(swept)
    assert swept_fields(swept) == ["batch_size"] == frame.attrs["swept"]
    assert len(frame) == 6
    assert list(frame["batch_size"]) == [32, 32, 128, 128, 2048, 2048]
    assert list(frame["framework"]) == [FIRST_LABEL, SECOND_LABEL] * 3
    assert list(frame["status"]) == ["finished"] * 5 + ["failed"]
    failed = frame.iloc[5]
    assert failed["failure_kind"] == "out_of_memory"
    assert failed["failure"] == OOM[1]  # it names its batch already: said once
    crashed = sweep_frame([_comparison(64, [1.0], [], second_failure=("crashed", "the worker was killed by SIGKILL"))])
    assert crashed.iloc[1]["failure"] == "crashed at this cell: the worker was killed by SIGKILL"
    assert failed["images_per_second"] is None or failed["images_per_second"] != failed["images_per_second"]
    first = frame.iloc[0]
    assert first["images_per_second"] == 205
    assert first["images_per_second_low"] < 205 < first["images_per_second_high"]
    assert first["peak_memory_mib"] == 232 and first["memory_kind"] == "host"
    assert first["test_accuracy"] == pytest.approx(0.9)


def test_the_ratio_reads_first_over_each_other_framework_with_the_verdicts_rule(swept):
    frame = sweep_frame(swept)
    assert frame["baseline"].tolist() == [True, False] * 3
    clear, even, oom = frame.iloc[1], frame.iloc[3], frame.iloc[5]
    assert clear["ratio_of"] == f"{FIRST_LABEL} / {SECOND_LABEL}"
    assert clear["speed_ratio"] == pytest.approx(2.05, rel=0.02)
    assert clear["speed_ratio_low"] < clear["speed_ratio"] < clear["speed_ratio_high"]
    assert clear["speed_ratio_low"] > 1 and not clear["inconclusive"]
    assert even["speed_ratio_low"] < 1 < even["speed_ratio_high"] and even["inconclusive"]
    assert "includes equal" in even["ratio_reason"]
    assert oom["speed_ratio"] is None or oom["speed_ratio"] != oom["speed_ratio"]  # nothing to divide by


def test_a_slower_first_framework_gives_a_ratio_below_one():
    frame = sweep_frame([_comparison(32, [100, 102, 98], [200, 210, 205]), _comparison(64, [1, 1, 1], [1, 1, 1])])
    row = frame.iloc[1]
    assert row["speed_ratio"] == pytest.approx(1 / 2.05, rel=0.02)
    assert row["speed_ratio_low"] < row["speed_ratio"] < row["speed_ratio_high"] < 1


def test_the_summary_table_names_failures_and_inconclusive_ratios(swept):
    headers, rows = summary_rows(sweep_frame(swept))
    assert headers[0] == "cell" and len(rows) == 6
    assert rows[5][3] == "failed: out of memory"
    assert rows[3][-1].endswith("inconclusive") and not rows[1][-1].endswith("inconclusive")


# --- charts -------------------------------------------------------------------------------------


def test_the_throughput_chart_has_a_line_per_framework_with_intervals_and_marks_the_failed_cell(swept):
    figure = throughput_figure(sweep_frame(swept), "batch_size")
    names = [trace.name for trace in figure.data]
    assert names == [FIRST_LABEL, SECOND_LABEL, f"{SECOND_LABEL}: failed"]
    first = figure.data[0]
    assert list(first.x) == [32, 128, 2048] and list(first.y) == [205, 350, 905]
    assert first.error_y.visible and all(v > 0 for v in first.error_y.array)
    assert list(figure.data[1].x) == [32, 128]  # no point where it failed ...
    failed = figure.data[2]
    assert failed.marker.symbol == FAILED_SYMBOL and list(failed.x) == [2048]  # ... an x instead
    assert failed.text[0].startswith("out of memory at batch 2048")
    assert figure.layout.xaxis.type == "log"


def test_the_memory_chart_plots_megabytes_per_framework(swept):
    figure = memory_figure(sweep_frame(swept), "batch_size")
    assert list(figure.data[0].y) == [232, 328, 2248]
    assert "host" in figure.layout.yaxis.title.text


def test_the_ratio_chart_shades_the_interval_and_marks_inconclusive_points(swept):
    figure = ratio_figure(sweep_frame(swept), "batch_size")
    by_name = {trace.name: trace for trace in figure.data}
    line_name = f"{FIRST_LABEL} / {SECOND_LABEL}"
    band = by_name[f"{line_name}: 95 % interval"]
    assert band.fill == "toself" and len(band.x) == 4  # two cells with an interval, there and back
    line = by_name[line_name]
    assert list(line.x) == [32, 128]
    assert list(line.marker.symbol) == ["circle", INCONCLUSIVE_SYMBOL]
    assert list(by_name[f"{line_name}: inconclusive"].x) == [128]
    assert by_name[f"{SECOND_LABEL}: failed"].marker.symbol == FAILED_SYMBOL
    assert any(shape.y0 == 1.0 == shape.y1 for shape in figure.layout.shapes)  # the "equal" line


def test_with_two_swept_settings_each_framework_has_a_line_per_value_of_the_other():
    comparisons = []
    for precision in ("fp32", "bf16"):
        for batch in (32, 64):
            comparisons.append(_comparison(batch, [100, 110, 105], [90, 95, 92], precision=precision))
    frame = sweep_frame(comparisons)
    assert frame.attrs["swept"] == ["batch_size", "precision"]
    names = [trace.name for trace in throughput_figure(frame, "batch_size").data]
    assert names == [f"{FIRST_LABEL} · precision fp32", f"{FIRST_LABEL} · precision bf16",
                     f"{SECOND_LABEL} · precision fp32", f"{SECOND_LABEL} · precision bf16"]
    by_precision = throughput_figure(frame, "precision")
    assert by_precision.layout.xaxis.type == "category" and list(by_precision.data[0].x) == ["fp32", "bf16"]


def test_charts_of_nothing_say_so():
    empty = sweep_frame([])
    for figure in (throughput_figure(empty, "batch_size"), memory_figure(empty, "batch_size"),
                   ratio_figure(empty, "batch_size")):
        assert figure.layout.annotations[0].text == "No cells in this sweep"


# --- the store ----------------------------------------------------------------------------------


def test_a_queued_sweep_is_one_sweep_id_over_ordinary_comparisons_and_exports_it(home):
    from core.engine.jobs import active_jobs

    store = Store(home / "runs.sqlite")
    store.create_comparison({"dataset": "digits", "architecture": "cnn", "device": "cpu"}, [FIRST], [])  # not a sweep
    sweep = expand_sweep({"batch_size": ["16", "32"]}, {"epochs": 1, "repeats": 1})
    sweep_id, jobs = enqueue_sweep(store, sweep, [FIRST, SECOND])
    assert len(jobs) == 2 and [job.id for job in active_jobs(store)] == jobs
    comparisons = sweep_comparisons(store, sweep_id)
    assert [c.settings.batch_size for c in comparisons] == [16, 32]
    assert all(c.sweep_id == sweep_id for c in comparisons)
    assert [(s["sweep_id"], s["cells"], s["runs"]) for s in list_sweeps(store)] == [(sweep_id, 2, 4)]
    exported = {c["id"]: c for c in store.export_json()["comparisons"]}
    assert {exported[c.id]["sweep_id"] for c in comparisons} == {sweep_id}
    frame = sweep_frame(comparisons)
    assert list(frame["status"]) == ["queued"] * 4
    with pytest.raises(BadInput, match="no sweep with id 'nope'"):
        sweep_comparisons(store, "nope")


def test_a_sweep_with_one_impossible_cell_queues_nothing(home):
    store = Store(home / "runs.sqlite")
    sweep = expand_sweep({"batch_size": ["16", "4000"]}, {"epochs": 1, "repeats": 1})
    with pytest.raises(BadInput) as refused:
        enqueue_sweep(store, sweep, [FIRST, SECOND])
    assert str(refused.value).startswith("batch 4000: batch_size must be at most the training split's")
    assert store.list_comparisons() == []


# --- the command line ---------------------------------------------------------------------------


def test_sweep_dry_run_lists_the_cells_and_the_estimate_and_stores_nothing(home):
    completed = run_cli(["sweep", "--batch-size", "16,32", "--precision", "fp32,bf16", "--epochs", "1", "--dry-run"], home)
    assert completed.returncode == 0, completed.stderr
    assert "Sweep of 4 comparisons" in completed.stdout and "over batch_size, precision" in completed.stdout
    assert "estimated time" in completed.stdout
    lines = completed.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("cell"))
    assert [line.split()[:3] for line in lines[header + 2:header + 6]] == [
        ["1", "16", "fp32"], ["2", "16", "bf16"], ["3", "32", "fp32"], ["4", "32", "bf16"]]
    assert not (home / "runs.sqlite").exists()


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "16,0"], "error: batch_size must be between 1 and 65536 (got '0')"),
    (["--compile", "off,fast"], "error: compile must be one of"),
    (["--seed", ",".join(map(str, range(9))), "--batch-size", ",".join(map(str, range(1, 9)))],
     "error: a sweep of 72 comparisons"),
    (["--batch-size", "16,4000"], "error: batch 4000: batch_size must be at most the training split's"),
])
def test_sweep_bad_input_exits_2_in_one_line(home, args, message):
    completed = run_cli(["sweep", *args, "--dry-run"], home)
    assert completed.returncode == 2
    assert message in completed.stderr and "Traceback" not in completed.stderr


@pytest.mark.frameworks
def test_a_tiny_sweep_trains_every_cell_and_a_failed_cell_does_not_stop_the_rest(tmp_path):
    home, output = tmp_path / "home", tmp_path / "sweep.json"
    # device cuda with every GPU hidden fails in every framework (unavailable); cpu then still trains.
    completed = run_cli(["sweep", "--device", "cuda,cpu", "--epochs", "1", "--repeats", "1", "--json", str(output)],
                        home, extra_env={"CUDA_VISIBLE_DEVICES": ""})
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    result = read_json(output)
    assert result["kind"] == "sweep" and result["swept"] == ["device"]
    first_cell, second_cell = result["comparisons"]
    assert {run["status"] for run in first_cell["runs"]} == {"failed"}
    assert {run["error"]["kind"] for run in first_cell["runs"]} == {"unavailable"}
    assert {run["status"] for run in second_cell["runs"]} == {"finished"}
    table = result["table"]
    assert [(row["device"], row["status"]) for row in table] == [
        ("cuda", "failed"), ("cuda", "failed"), ("cpu", "finished"), ("cpu", "finished")]
    assert table[2]["images_per_second"] > 0 and table[3]["speed_ratio"] > 0
    assert "failed: unavailable" in completed.stdout  # the summary table
    assert "1/2 device cuda: 2 of 2 runs failed (unavailable)" in completed.stderr  # said as it happened
    listed = run_cli(["runs", "list", "--sweep", result["sweep_id"][:6]], home)
    assert listed.returncode == 0 and listed.stdout.count(result["sweep_id"]) == 2
    assert run_cli(["runs", "list", "--sweep", "zzz"], home).returncode == 2
    # A dry run now estimates from the runs measured here, and stores nothing.
    again = run_cli(["sweep", "--batch-size", "16,32", "--epochs", "1", "--repeats", "1", "--dry-run"], home)
    assert again.returncode == 0 and "estimated time" in again.stdout and "rough" not in again.stdout
    assert len(Store(home / "runs.sqlite").list_comparisons()) == 2


def test_on_a_shared_instance_a_sweep_must_fit_the_queue_at_once_and_each_cell_the_bounds(home):
    from core.engine.public_mode import PublicPolicy

    store = Store(home / "runs.sqlite")
    sweep = expand_sweep({"batch_size": ["16", "32"]}, {"epochs": 1, "repeats": 1})
    strict = PublicPolicy(enabled=True, max_queued_per_visitor=1, max_images=500)
    with pytest.raises(BadInput, match="one visitor may have 1 comparison"):
        enqueue_sweep(store, sweep, [FIRST, SECOND], owner="visitor-a", policy=strict)
    assert store.list_comparisons() == []
    too_long = expand_sweep({"epochs": ["1", "50"]}, {"repeats": 1})
    with pytest.raises(BadInput, match="epochs is at most 10 epochs on this shared instance"):
        enqueue_sweep(store, too_long, [FIRST, SECOND], owner="visitor-a",
                      policy=PublicPolicy(enabled=True, max_queued_per_visitor=2))
    roomy = PublicPolicy(enabled=True, max_queued_per_visitor=2, max_images=500)
    sweep_id, jobs = enqueue_sweep(store, sweep, [FIRST, SECOND], owner="visitor-a", policy=roomy)
    comparisons = sweep_comparisons(store, sweep_id)
    assert len(jobs) == 2 and {c.owner for c in comparisons} == {"visitor-a"}
    assert {c.settings.max_images for c in comparisons} == {500}  # "all images" bounded, as a comparison is


def test_cancelling_a_sweep_cancels_its_waiting_comparisons_and_nothing_else(home):
    from core.engine.jobs import active_jobs, enqueue
    from core.spec import RunSpec

    store = Store(home / "runs.sqlite")
    other = enqueue(store, RunSpec(epochs=1, repeats=1), [FIRST, SECOND])
    sweep_id, _ = enqueue_sweep(store, expand_sweep({"batch_size": ["16", "32"]}, {"epochs": 1, "repeats": 1}),
                                [FIRST, SECOND])
    assert cancel_sweep(store, sweep_id) == 2
    assert [job.id for job in active_jobs(store)] == [other]
    runs = [run for c in sweep_comparisons(store, sweep_id) for run in c.runs]
    assert {(run.status, run.error_kind) for run in runs} == {("failed", "cancelled")}
    assert set(sweep_frame(sweep_comparisons(store, sweep_id))["status"]) == {"failed"}
    assert cancel_sweep(store, sweep_id) == 0


@pytest.mark.frameworks
def test_ctrl_c_stops_the_sweep_and_cancels_the_comparisons_not_reached(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    import psutil

    from tests.conftest import PROJECT_ROOT
    from tests.test_interruptions import assert_all_gone, wait_for_an_epoch

    home, output = tmp_path / "home", tmp_path / "sweep.json"
    cli = subprocess.Popen(
        [sys.executable, "-m", "core", "sweep", "--batch-size", "16,32", "--epochs", "300", "--repeats", "1", "--quiet",
         "--json", str(output)],
        cwd=PROJECT_ROOT, env={**os.environ, "TWINBENCH_HOME": str(home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_for_an_epoch(home, cli)
    workers = psutil.Process(cli.pid).children(recursive=True)
    cli.send_signal(signal.SIGINT)
    stdout, stderr = cli.communicate(timeout=120)
    assert cli.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert_all_gone(workers)
    first, second = read_json(output)["comparisons"]
    assert "cancelled" in {run["error"]["kind"] for run in first["runs"] if run["error"]}
    assert {(run["status"], run["error"]["message"]) for run in second["runs"]} == {
        ("failed", "the sweep was interrupted")}
    assert "cell" in stdout  # the summary table of what there is
