import numpy as np
import plotly.graph_objects as go
import pytest

from core.charts import curves_figure, memory_figure, spread_bar_figure, step_time_figure, warmup_figure
from core.frames import epochs_frame, results_frame, runs_frame, steps_frame
from core.results import RunResult
from core.verdict import findings, headline


def make_run(framework, repeat, speed, accuracy, memory, status="finished"):
    return {
        "id": f"{framework}{repeat}", "framework": framework, "repeat": repeat, "status": status, "spec": {"batch_size": 1},
        "error_kind": None if status == "finished" else "crashed", "error_message": None if status == "finished" else "boom",
        "result": RunResult(steady_images_per_second=speed, test_accuracy=accuracy, peak_host_rss_bytes=memory,
                            warmup_seconds=0.5, compile_seconds=0.2) if status == "finished" else None,
        "epochs": [{"epoch": e, "train_loss": 1 / e, "train_accuracy": 0.5 + e / 10, "val_loss": 1.1 / e,
                    "val_accuracy": 0.5 + e / 11, "epoch_seconds": 2.0} for e in (1, 2, 3)],
        "step_samples": [{"epoch": 0, "step": i, "steps": 1, "milliseconds": 10.0 + i, "warmup": i < 2} for i in range(6)],
    }


def update_result(run, **figures):
    run["result"] = run["result"].model_copy(update=figures)


def comparison(speeds_torch, speeds_tf, accuracy=(0.95, 0.95), memory=(100, 100)):
    runs = [make_run("pytorch", i, s, accuracy[0], memory[0]) for i, s in enumerate(speeds_torch)]
    runs += [make_run("tensorflow", i, s, accuracy[1], memory[1]) for i, s in enumerate(speeds_tf)]
    return {"id": "c1", "frameworks": "pytorch,tensorflow", "runs": runs}


def test_frames_are_tidy():
    data = comparison([100, 110], [90, 95])
    epochs = epochs_frame(data)
    assert len(epochs) == 12 and epochs.loc[2, "train_seconds"] == 6.0
    assert len(results_frame(data)) == 4
    steps = steps_frame(data)
    assert len(steps) == 16 and not steps["warmup"].any()
    assert list(runs_frame(data)["status"]) == ["finished"] * 4


def test_every_chart_builds_from_frames_and_from_nothing():
    data = comparison([100, 110], [90, 95])
    figures = [
        curves_figure(epochs_frame(data), "accuracy", "epoch"),
        curves_figure(epochs_frame(data), "loss", "train_seconds"),
        spread_bar_figure(results_frame(data), "steady_images_per_second", "Throughput", "images/s"),
        step_time_figure(steps_frame(data)),
        memory_figure(results_frame(data)),
        warmup_figure(results_frame(data)),
    ]
    assert all(isinstance(f, go.Figure) and f.data for f in figures)
    bar = figures[2]
    torch_bar = next(t for t in bar.data if t.name == "PyTorch")
    assert torch_bar.y[0] == 105 and list(torch_bar.error_y.array) == [5] and list(torch_bar.error_y.arrayminus) == [5]
    empty = {"id": "c", "frameworks": "pytorch,tensorflow", "runs": []}
    assert "No epochs" in curves_figure(epochs_frame(empty)).layout.annotations[0].text
    assert "Not measured" in memory_figure(results_frame(empty)).layout.annotations[0].text


def steady(runs_comparison):
    for run in runs_comparison["runs"]:
        speed = run["result"].steady_images_per_second
        update_result(run, step_ms_median=1000.0 / speed, step_ms_p90=1100.0 / speed)
    return runs_comparison


def test_verdict_names_the_faster_framework_with_its_interval():
    found = {f.topic: f for f in findings(steady(comparison([130, 132, 131], [100, 101, 99], memory=(88, 100))))}
    speed = found["Training speed"]
    assert speed.winner == "pytorch" and speed.interval.low > 1.0
    assert speed.sentence.startswith("Training speed: PyTorch is 1.31× faster than TensorFlow (95 % CI 1.2")
    assert speed.sentence.endswith(", 3 runs each).")
    assert found["Memory"].winner == "pytorch"
    assert found["Memory"].sentence.startswith("Memory: PyTorch uses 12 % less peak host memory than TensorFlow (95 % CI 12–12 %")


def test_overlapping_repeats_are_inconclusive_and_say_why():
    found = {f.topic: f for f in findings(steady(comparison([100, 120, 110], [105, 110, 115])))}
    speed = found["Training speed"]
    assert speed.winner is None and speed.within_noise
    assert speed.sentence.startswith("Training speed: inconclusive, the 95 % interval")
    assert "includes equal" in speed.sentence


def test_a_single_run_each_is_inconclusive_whatever_its_steps_say():
    data = steady(comparison([200], [100]))
    speed = {f.topic: f for f in findings(data)}["Training speed"]
    assert speed.winner is None and "fewer than two runs of each" in speed.reason
    assert "from the steps of one run each" in speed.sentence  # the bootstrap over steps is shown, not trusted


@pytest.mark.parametrize("unsteady, separated, winner", [
    (False, True, "pytorch"), (False, False, None), (True, True, None), (True, False, None),
])
def test_decision_table_steadiness_and_interval(unsteady, separated, winner):
    speeds = ([150, 152, 151], [100, 101, 99]) if separated else ([100, 120, 110], [105, 110, 115])
    data = steady(comparison(*speeds))
    if unsteady:
        update_result(data["runs"][4], step_ms_p90=40 * data["runs"][4]["result"].step_ms_median)
    speed = {f.topic: f for f in findings(data)}["Training speed"]
    assert speed.winner == winner
    if unsteady:
        # Said where the winner would be, not below it.
        assert speed.sentence.startswith("Training speed: inconclusive, the machine was busy during TensorFlow (p90 40×")


def test_unsteady_runs_leave_memory_and_accuracy_decisions_alone():
    data = steady(comparison([150, 152, 151], [100, 101, 99], accuracy=(0.95, 0.90), memory=(50, 100)))
    update_result(data["runs"][0], step_ms_p90=40 * data["runs"][0]["result"].step_ms_median)
    found = {f.topic: f for f in findings(data)}
    assert found["Training speed"].winner is None
    assert found["Memory"].winner == "pytorch"


def seeded(accuracies_torch, accuracies_tf):
    data = comparison([100] * len(accuracies_torch), [100] * len(accuracies_tf))
    for run in data["runs"]:
        run["spec"]["seed"] = run["repeat"]
        update_result(run, test_accuracy=(accuracies_torch if run["framework"] == "pytorch" else accuracies_tf)[run["repeat"]])
    return data


def test_accuracy_across_seeds_uses_the_paired_interval():
    consistent = {f.topic: f for f in findings(seeded([0.97, 0.98, 0.975], [0.95, 0.962, 0.954]))}["Accuracy"]
    assert consistent.winner == "pytorch" and consistent.interval.samples == 3
    assert consistent.sentence.startswith("Accuracy: PyTorch 2.0 points higher on the test set (95 % CI +")
    mixed = {f.topic: f for f in findings(seeded([0.967, 0.986, 0.972], [0.967, 0.975, 0.969]))}["Accuracy"]
    assert mixed.winner is None and "over 3 seeds includes equal" in mixed.reason


def test_one_seed_is_decided_by_mcnemar_on_the_shared_test_images():
    from core.correctness import pack_correct

    data = seeded([0.0], [0.0])
    torch_right = np.ones(400, dtype=bool)
    keras_right = np.ones(400, dtype=bool)
    keras_right[:20] = False  # 20 images only PyTorch got right, none the other way
    for run, correct in zip(data["runs"], (torch_right, keras_right), strict=True):
        update_result(run, test_accuracy=correct.mean(), test_correct_bits=pack_correct(correct), test_images=400)
    decision = {f.topic: f for f in findings(data)}["Accuracy"]
    assert decision.winner == "pytorch" and decision.mcnemar.only_first == 20 and decision.mcnemar.p_value < 1e-5
    assert "exact McNemar p = " in decision.sentence and "one seed" in decision.sentence
    keras_right[20:23] = False
    torch_right[:20] = False  # now 3 against 0: chance alone explains that
    for run, correct in zip(data["runs"], (torch_right, keras_right), strict=True):
        update_result(run, test_accuracy=correct.mean(), test_correct_bits=pack_correct(correct))
    decision = {f.topic: f for f in findings(data)}["Accuracy"]
    assert decision.winner is None and decision.mcnemar.p_value == pytest.approx(0.25)


def test_seeds_that_all_differ_by_the_same_images_count_as_one_seed():
    # +1 image of 360 in every seed: no spread, which must not read as certainty.
    decision = {f.topic: f for f in findings(seeded([0.5 + 1 / 360] * 3, [0.5] * 3))}["Accuracy"]
    assert decision.winner is None and "3 seeds with identical differences, so as one seed" in decision.reason


def test_repeats_of_one_seed_count_as_one_seed():
    data = seeded([0.97, 0.97, 0.97], [0.95, 0.95, 0.95])
    for run in data["runs"]:
        run["spec"]["seed"] = 0  # --same-seed: identical accuracies must not look like certainty
    decision = {f.topic: f for f in findings(data)}["Accuracy"]
    assert decision.winner is None and "one seed" in decision.reason


def test_headline_without_results_says_why():
    failed = {"id": "c", "frameworks": "pytorch,tensorflow", "runs": [make_run("pytorch", 0, 1, 1, 1, status="failed")]}
    assert headline(failed) == "No verdict: a run failed."


def test_large_ratios_and_their_intervals_drop_the_hundredths():
    import re

    speed = {f.topic: f for f in findings(steady(comparison([1500, 1510, 1490], [100, 101, 99])))}["Training speed"]
    assert re.search(r"PyTorch is 15× faster than TensorFlow \(95 % CI \d+–\d+×, 3 runs each\)", speed.sentence)
    assert re.fullmatch(r"PyTorch 15× \[\d+–\d+\]", speed.short)


def test_the_baseline_can_be_any_framework_of_the_comparison():
    from core.report import comparison_rows

    data = steady(comparison([150, 152, 151], [100, 101, 99]))
    against_tensorflow = findings(data, baseline="tensorflow")
    assert {(d.first, d.second) for d in against_tensorflow} == {("tensorflow", "pytorch")}
    speed = next(d for d in against_tensorflow if d.topic == "Training speed")
    assert speed.winner == "pytorch" and speed.sentence.startswith("Training speed: PyTorch is 1.51× faster than TensorFlow")
    headers, _ = comparison_rows(data, baseline="tensorflow")
    assert headers == ["", "TensorFlow", "PyTorch", "Ahead"]
    assert findings(data, baseline="mxnet")[0].first == "pytorch"  # not in the comparison: the first stays


def test_only_timings_spoiled_by_a_busy_machine_are_marked_disturbed():
    data = steady(comparison([150, 152, 151], [100, 101, 99], memory=(50, 100)))
    update_result(data["runs"][0], step_ms_p90=40 * data["runs"][0]["result"].step_ms_median)
    found = {f.topic: f for f in findings(data)}
    assert found["Training speed"].disturbed and not found["Memory"].disturbed
