from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import pytest

from core.analysis.frames import epochs_frame, results_frame, runs_frame, steps_frame
from core.analysis.verdict import findings
from core.records import StoredSpec
from core.results import RunResult
from core.views.charts import curves_figure, memory_figure, spread_bar_figure, step_time_figure, warmup_figure
from tests.records import comparison_record, run_record


def make_run(framework, repeat, speed, accuracy, memory, status="finished"):
    return run_record(
        framework, repeat=repeat, status=status, spec={"batch_size": 1},
        error_kind=None if status == "finished" else "crashed", error_message=None if status == "finished" else "boom",
        result=RunResult(steady_images_per_second=speed, test_accuracy=accuracy, peak_host_rss_bytes=memory,
                         warmup_seconds=0.5, compile_seconds=0.2) if status == "finished" else None,
        epochs=[{"epoch": e, "train_loss": 1 / e, "train_accuracy": 0.5 + e / 10, "val_loss": 1.1 / e,
                 "val_accuracy": 0.5 + e / 11, "epoch_seconds": 2.0} for e in (1, 2, 3)],
        step_samples=[{"epoch": 0, "step": i, "steps": 1, "milliseconds": 10.0 + i, "warmup": i < 2} for i in range(6)],
    )


def with_result(run, **figures):
    """The run with these figures of its result changed."""
    return replace(run, result=run.result.model_copy(update=figures))


def with_runs(data, change, only=None):
    """The comparison with ``change`` applied to each run (or to the one at index ``only``)."""
    return replace(data, runs=tuple(change(run) if only in (None, index) else run for index, run in enumerate(data.runs)))


def comparison(speeds_torch, speeds_tf, accuracy=(0.95, 0.95), memory=(100, 100)):
    runs = [make_run("pytorch", i, s, accuracy[0], memory[0]) for i, s in enumerate(speeds_torch)]
    runs += [make_run("tensorflow", i, s, accuracy[1], memory[1]) for i, s in enumerate(speeds_tf)]
    return comparison_record(runs, frameworks="pytorch,tensorflow")


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
    empty = comparison_record(id="c", frameworks="pytorch,tensorflow")
    assert "No epochs" in curves_figure(epochs_frame(empty)).layout.annotations[0].text
    assert "Not measured" in memory_figure(results_frame(empty)).layout.annotations[0].text


def steady(runs_comparison):
    def timed(run):
        speed = run.result.steady_images_per_second
        return with_result(run, step_ms_median=1000.0 / speed, step_ms_p90=1100.0 / speed)

    return with_runs(runs_comparison, timed)


def test_verdict_names_the_faster_framework_with_its_interval():
    found = {f.topic: f for f in findings(steady(comparison([130, 132, 131], [100, 101, 99], memory=(88, 100))))}
    speed = found["Training speed"]
    assert speed.winner == "pytorch" and speed.interval.low > 1.0
    assert speed.sentence.startswith("Training speed: PyTorch is 1.31× faster than TensorFlow (95 % CI 1.2")
    assert speed.sentence.endswith(", 3 runs each).")
    assert found["Memory"].winner == "pytorch"
    assert found["Memory"].sentence.startswith("Memory: PyTorch uses 12 % less peak host memory than TensorFlow (95 % CI 12–12 %")


def test_runs_from_different_machines_are_never_compared_without_saying_so():
    clear = steady(comparison([130, 132, 131], [100, 101, 99], memory=(88, 100)))
    # One machine, named two ways (a Ray node's hostname, a local worker's): one verdict.
    clear = with_runs(clear, lambda run: replace(
        run, environment={"node_hostname": "gpu-1"} if run.repeat else {"hostname": "gpu-1"}))
    assert {f.topic: f for f in findings(clear)}["Training speed"].winner == "pytorch"
    clear = with_runs(clear, lambda run: replace(run, environment={"node_hostname": "gpu-2", "hostname": "gpu-2"}),
                      only=len(clear.runs) - 1)
    found = {f.topic: f for f in findings(clear)}
    for topic in ("Training speed", "Memory", "Warm-up"):
        assert found[topic].winner is None and "different machines (gpu-1, gpu-2)" in found[topic].sentence, topic
    assert found["Training speed"].short == "inconclusive (machines)"


def test_overlapping_repeats_are_inconclusive_and_say_why():
    found = {f.topic: f for f in findings(steady(comparison([100, 120, 110], [105, 110, 115])))}
    speed = found["Training speed"]
    assert speed.winner is None and speed.as_dict()["decision"] == "inconclusive"
    assert speed.sentence.startswith("Training speed: undecided, the 95 % interval")
    assert "includes equal" in speed.sentence
    assert speed.runs_needed > 0 and f"about {speed.runs_needed} more paired runs would settle it" in speed.sentence


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
        data = with_runs(data, lambda run: with_result(run, step_ms_p90=40 * run.result.step_ms_median), only=4)
    speed = {f.topic: f for f in findings(data)}["Training speed"]
    assert speed.winner == winner
    if unsteady:
        # Said where the winner would be, not below it.
        assert speed.sentence.startswith("Training speed: inconclusive, the machine was busy during TensorFlow (p90 40×")


def test_unsteady_runs_leave_memory_and_accuracy_decisions_alone():
    data = steady(comparison([150, 152, 151], [100, 101, 99], accuracy=(0.95, 0.90), memory=(50, 100)))
    data = with_runs(data, lambda run: with_result(run, step_ms_p90=40 * run.result.step_ms_median), only=0)
    found = {f.topic: f for f in findings(data)}
    assert found["Training speed"].winner is None
    assert found["Memory"].winner == "pytorch"


def seeded(accuracies_torch, accuracies_tf):
    data = comparison([100] * len(accuracies_torch), [100] * len(accuracies_tf))
    return with_runs(data, lambda run: with_result(
        replace(run, spec=StoredSpec(batch_size=1, seed=run.repeat)),
        test_accuracy=(accuracies_torch if run.framework == "pytorch" else accuracies_tf)[run.repeat]))


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
    data = replace(data, runs=tuple(
        with_result(run, test_accuracy=correct.mean(), test_correct_bits=pack_correct(correct), test_images=400)
        for run, correct in zip(data.runs, (torch_right, keras_right), strict=True)))
    decision = {f.topic: f for f in findings(data)}["Accuracy"]
    assert decision.winner == "pytorch" and decision.mcnemar.only_first == 20 and decision.mcnemar.p_value < 1e-5
    assert "exact McNemar p = " in decision.sentence and "one seed" in decision.sentence
    keras_right[20:23] = False
    torch_right[:20] = False  # now 3 against 0: chance alone explains that
    data = replace(data, runs=tuple(
        with_result(run, test_accuracy=correct.mean(), test_correct_bits=pack_correct(correct))
        for run, correct in zip(data.runs, (torch_right, keras_right), strict=True)))
    decision = {f.topic: f for f in findings(data)}["Accuracy"]
    assert decision.winner is None and decision.mcnemar.p_value == pytest.approx(0.25)


def test_seeds_that_all_differ_by_the_same_images_count_as_one_seed():
    # +1 image of 360 in every seed: no spread, which must not read as certainty.
    decision = {f.topic: f for f in findings(seeded([0.5 + 1 / 360] * 3, [0.5] * 3))}["Accuracy"]
    assert decision.winner is None and "3 seeds with identical differences, so as one seed" in decision.reason


def test_repeats_of_one_seed_count_as_one_seed():
    data = seeded([0.97, 0.97, 0.97], [0.95, 0.95, 0.95])
    # --same-seed: identical accuracies must not look like certainty.
    data = with_runs(data, lambda run: replace(run, spec=StoredSpec(batch_size=1, seed=0)))
    decision = {f.topic: f for f in findings(data)}["Accuracy"]
    assert decision.winner is None and "one seed" in decision.reason


def test_large_ratios_and_their_intervals_drop_the_hundredths():
    import re

    speed = {f.topic: f for f in findings(steady(comparison([1500, 1510, 1490], [100, 101, 99])))}["Training speed"]
    assert re.search(r"PyTorch is 15× faster than TensorFlow \(95 % CI \d+–\d+×, 3 runs each\)", speed.sentence)
    assert re.fullmatch(r"PyTorch 15× \[\d+–\d+\]", speed.short)


def test_the_baseline_can_be_any_framework_of_the_comparison():
    from core.analysis.report import comparison_rows

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
    data = with_runs(data, lambda run: with_result(run, step_ms_p90=40 * run.result.step_ms_median), only=0)
    found = {f.topic: f for f in findings(data)}
    assert found["Training speed"].disturbed and not found["Memory"].disturbed


# --- chart options: smoothing, log scale, whole-epoch ticks, hover labels, time to target ----------

def test_ema_is_tensorboards_debiased_moving_average():
    from core.analysis.smoothing import clamp_smoothing, ema

    assert ema([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    # Debiased: the first point is itself, the second (0.5·0.5·1 + 0.5·2) / (1 - 0.25) = 1.6667.
    assert ema([1.0, 2.0, 3.0], 0.5) == pytest.approx([1.0, 5 / 3, 17 / 7])
    assert ema([4.0, 4.0, 4.0], 0.9) == pytest.approx([4.0, 4.0, 4.0])  # a constant stays put, no drag to 0
    smoothed = ema([1.0, None, float("nan"), 3.0], 0.5)
    assert smoothed[0] == 1.0 and np.isnan(smoothed[1]) and np.isnan(smoothed[2]) and smoothed[3] == pytest.approx(7 / 3)
    assert [clamp_smoothing(v) for v in (-1, 0.5, 1.0, "x", float("nan"))] == [0.0, 0.5, 0.99, 0.0, 0.0]


def test_curves_have_one_legend_entry_per_run_and_whole_epoch_ticks():
    figure = curves_figure(epochs_frame(comparison([100, 110], [90])), "accuracy", "epoch")
    assert [t.name for t in figure.data if t.showlegend is not False] == ["PyTorch #1", "PyTorch #2", "TensorFlow #1"]
    assert {t.legendgroup for t in figure.data} == {"PyTorch #1", "PyTorch #2", "TensorFlow #1"}
    first, second = (t for t in figure.data if t.legendgroup == "PyTorch #1")
    assert (first.line.dash, second.line.dash) == ("solid", "dash")  # validation, then train
    assert {t.marker.symbol for t in figure.data if t.name.startswith("PyTorch")} == {"circle", "square"}
    assert figure.layout.xaxis.dtick == 1 and figure.layout.xaxis.tick0 == 1
    single = curves_figure(epochs_frame(comparison([100], [90])))
    assert [t.name for t in single.data if t.showlegend is not False] == ["PyTorch", "TensorFlow"]
    from core.views.charts import epoch_dtick

    assert [epoch_dtick(n) for n in (3, 20, 21, 100, 1000)] == [1, 1, 5, 10, 100]


def test_hover_labels_name_the_run_with_units_and_precision():
    figure = curves_figure(epochs_frame(comparison([100, 110], [90])), "accuracy", "epoch")
    template = figure.data[0].hovertemplate
    assert template.startswith("<b>%{fullData.name}</b> validation<br>epoch %{customdata[0]}")
    assert "%{customdata[1]:,.1f} s training" in template and "accuracy %{y:.1%}" in template
    assert not any(word in template for word in ("split=", "line=", "repeat="))
    assert "loss %{y:.3f}" in curves_figure(epochs_frame(comparison([100], [90])), "loss").data[0].hovertemplate
    bars = spread_bar_figure(results_frame(comparison([100, 110], [90, 95])), "steady_images_per_second", "T", "images/s")
    assert bars.data[0].hovertemplate == "<b>%{x}</b><br>%{y:,.1f} images/s (median of 2 runs)<extra></extra>"
    assert bars.data[-1].hovertemplate == "<b>%{x} #%{customdata}</b><br>%{y:,.1f} images/s<extra></extra>"
    memory = memory_figure(results_frame(comparison([100], [90])))
    assert "%{y:,.1f} MiB" in memory.data[0].hovertemplate
    assert "%{y:,.2f} s" in warmup_figure(results_frame(comparison([100], [90]))).data[0].hovertemplate
    steps = step_time_figure(steps_frame(comparison([100], [90])))
    assert steps.data[0].yhoverformat == ",.2f" and steps.layout.yaxis.ticksuffix == " ms"


def test_smoothing_draws_the_ema_over_the_faint_raw_curve():
    epochs = epochs_frame(comparison([100], [90]))
    figure = curves_figure(epochs, "loss", "epoch", smoothing=0.5)
    raw, smoothed = figure.data[0], figure.data[1]
    assert raw.opacity == 0.25 and raw.showlegend is False and raw.hoverinfo == "skip"
    assert list(raw.y) == pytest.approx([1.1, 0.55, 1.1 / 3])  # PyTorch validation loss 1.1 / epoch
    from core.analysis.smoothing import ema

    assert list(smoothed.y) == pytest.approx(ema([1.1, 0.55, 1.1 / 3], 0.5))
    assert "(raw %{customdata[2]:.3f})" in smoothed.hovertemplate
    assert len(figure.data) == 2 * len(curves_figure(epochs, "loss", "epoch").data)


def test_log_scale_sets_every_speed_and_memory_axis():
    data = with_runs(comparison([100, 110], [90, 95]),
                     lambda run: with_result(run, time_to_target_seconds=2.0, target_accuracy=0.6))
    results = results_frame(data)
    from core.analysis.frames import target_frame
    from core.views.charts import time_to_target_figure

    def figures(log_scale):
        return [
            spread_bar_figure(results, "steady_images_per_second", "T", "images/s", log_scale=log_scale).layout.yaxis,
            step_time_figure(steps_frame(data), log_scale=log_scale).layout.yaxis,
            memory_figure(results, log_scale=log_scale).layout.yaxis,
            warmup_figure(results, log_scale=log_scale).layout.yaxis,
            time_to_target_figure(target_frame(replace(data, settings=StoredSpec(target_accuracy=0.6))), 0.6,
                                  log_scale=log_scale).layout.yaxis,
            curves_figure(epochs_frame(data), "accuracy", "train_seconds", log_scale=log_scale).layout.xaxis,
        ]

    assert [axis.type for axis in figures(True)] == ["log"] * 6
    assert [axis.type for axis in figures(False)] == ["linear"] * 6
    epoch_axis = curves_figure(epochs_frame(data), "accuracy", "epoch", log_scale=True).layout.xaxis
    assert epoch_axis.type != "log" and epoch_axis.dtick == 1  # epochs stay whole, on a linear axis


def test_time_to_target_says_not_reached_or_not_measured():
    from core.analysis.frames import NOT_MEASURED, NOT_REACHED, REACHED, target_frame
    from core.views.charts import time_to_target_figure

    data = replace(comparison([100, 110], [90, 95]), settings=StoredSpec(target_accuracy=0.8))
    # Validation accuracy reaches 0.5 + 3/11 = 0.87 at best.
    data = with_runs(data, lambda run: with_result(
        run, target_accuracy=0.8, time_to_target_seconds=4.0 if run.framework == "pytorch" else None))
    data = with_runs(data, lambda run: with_result(run, time_to_target_seconds=None), only=1)
    targets = target_frame(data)
    assert list(targets["status"]) == [REACHED, NOT_REACHED, NOT_REACHED, NOT_REACHED]
    figure = time_to_target_figure(targets, 0.8)
    notes = {a.x: a.text for a in figure.layout.annotations}
    assert notes == {"PyTorch": "1 of 2 runs reached it", "TensorFlow": "not reached (best 77.3%)"}
    assert figure.layout.title.text == "Time to 80% validation accuracy"
    assert "(1 of 2 runs reached it)" in figure.data[0].hovertemplate

    # No validation split: nothing to reach.
    data = with_runs(data, lambda run: with_result(
        replace(run, epochs=tuple(replace(epoch, val_accuracy=None) for epoch in run.epochs)), time_to_target_seconds=None))
    assert set(target_frame(data)["status"]) == {NOT_MEASURED}
    text = time_to_target_figure(target_frame(data), 0.8).layout.annotations[0].text
    assert text.startswith("Not measured") and "not reached" not in text


def test_the_chart_view_round_trips_through_the_address():
    from core.views.charts import ChartView

    assert ChartView.from_query({}) == ChartView()
    view = ChartView.from_query({"x_axis": "train_seconds", "log_scale": "1", "smoothing": "0.6"})
    assert view == ChartView("train_seconds", True, 0.6)
    assert view.to_query() == {"x_axis": "train_seconds", "log_scale": "1", "smoothing": "0.6"}
    assert ChartView.from_query({"x_axis": "nonsense", "log_scale": "no", "smoothing": "7"}) == ChartView("epoch", False, 0.99)
    assert ChartView.from_query({"smoothing": "lots"}).smoothing == 0.0
    params = {"x_axis": "train_seconds", "log_scale": "1", "comparison": "c1"}
    ChartView(smoothing=0.25).write_query(params)
    assert params == {"comparison": "c1", "smoothing": "0.25"}


def test_figures_too_far_apart_for_a_ratio_are_left_undecided():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow, which is the case under test
        found = {f.topic: f for f in findings(steady(comparison([6e-142, 6e-142], [1e200, 1e200])))}
    assert "Training speed" not in found and "Accuracy" in found


def test_speeds_within_the_margin_are_equivalent_not_inconclusive():
    data = steady(comparison([1000, 1004, 998], [1001, 999, 1003]))
    speed = {f.topic: f for f in findings(data)}["Training speed"]
    assert speed.winner is None and speed.equivalent
    assert speed.sentence.startswith("Training speed: equivalent, within ±5 % (")
    assert speed.as_dict()["decision"] == "equivalent" and speed.as_dict()["margin"] == 0.05
    assert speed.as_dict()["runs_needed"] is None


def test_memory_that_differs_by_less_than_the_margin_is_equivalent():
    data = steady(comparison([150, 152, 151], [100, 101, 99]))
    memories = iter([97, 96.5, 97.5, 100, 100.5, 99.5])
    data = with_runs(data, lambda run: with_result(run, peak_host_rss_bytes=next(memories) * 2**20))
    memory = {f.topic: f for f in findings(data)}["Memory"]
    assert memory.equivalent and memory.winner is None
    assert memory.sentence.startswith("Memory: equivalent, peak host memory within ±5 % (PyTorch uses 3 % less")
    assert "95 % CI 1.0" in memory.sentence  # the trailer's figure over the leader's, inside [0.952, 1.05]


def test_the_margin_decides_between_a_narrow_winner_and_equivalent():
    data = steady(comparison([1080, 1081, 1079], [1000, 1001, 999]))
    assert {f.topic: f for f in findings(data)}["Training speed"].winner == "pytorch"
    wide = {f.topic: f for f in findings(data, margin=0.10)}["Training speed"]
    assert wide.equivalent and "within ±10 %" in wide.sentence


def test_an_unbounded_interval_reads_as_too_few_runs():
    data = steady(comparison([100, 900], [110, 1000]))
    speed = {f.topic: f for f in findings(data)}["Training speed"]
    assert speed.as_dict()["decision"] == "inconclusive"
    assert "too few runs to bound (n = 2 each)" in speed.sentence and "95 % CI" not in speed.sentence
    assert speed.as_dict()["interval"]["high"] > 10 * speed.as_dict()["interval"]["low"]  # full figures kept
