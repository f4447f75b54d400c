import plotly.graph_objects as go

from core.charts import curves_figure, memory_figure, spread_bar_figure, step_time_figure, warmup_figure
from core.frames import epochs_frame, results_frame, runs_frame, steps_frame
from core.verdict import findings, headline


def make_run(framework, repeat, speed, accuracy, memory, status="finished"):
    return {
        "id": f"{framework}{repeat}", "framework": framework, "repeat": repeat, "status": status, "spec": {"batch_size": 1},
        "error_kind": None if status == "finished" else "crashed", "error_message": None if status == "finished" else "boom",
        "result": {"steady_images_per_second": speed, "test_accuracy": accuracy, "peak_host_rss_bytes": memory,
                   "warmup_seconds": 0.5, "compile_seconds": 0.2, "peak_device_memory_bytes": None} if status == "finished" else None,
        "epochs": [{"epoch": e, "train_loss": 1 / e, "train_accuracy": 0.5 + e / 10, "val_loss": 1.1 / e,
                    "val_accuracy": 0.5 + e / 11, "epoch_seconds": 2.0} for e in (1, 2, 3)],
        "step_samples": [{"epoch": 0, "step": i, "steps": 1, "milliseconds": 10.0 + i, "warmup": i < 2} for i in range(6)],
    }


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


def test_verdict_names_the_faster_framework_with_its_range():
    found = {f.topic: f for f in findings(comparison([130, 132, 131], [100, 101, 99], accuracy=(0.95, 0.948), memory=(88, 100)))}
    assert found["Training speed"].sentence.startswith("Training speed: PyTorch is 1.31× faster than TensorFlow (range 1.29–1.33")
    assert found["Memory"].sentence == "Memory: PyTorch uses 12 % less peak host memory than TensorFlow."
    assert found["Accuracy"].within_noise and "within 0.2 points" in found["Accuracy"].sentence


def test_overlapping_repeats_are_called_noise():
    found = {f.topic: f for f in findings(comparison([100, 120], [105, 110]))}
    assert found["Training speed"].within_noise
    assert "within noise" in found["Training speed"].sentence


def test_headline_without_results_says_why():
    failed = {"id": "c", "frameworks": "pytorch,tensorflow", "runs": [make_run("pytorch", 0, 1, 1, 1, status="failed")]}
    assert headline(failed) == "No verdict: a run failed."


def test_unsteady_step_times_are_flagged_first():
    data = comparison([100], [90])
    data["runs"][0]["result"].update(step_ms_median=10.0, step_ms_p90=120.0)
    data["runs"][1]["result"].update(step_ms_median=10.0, step_ms_p90=12.0)
    first = findings(data)[0]
    assert first.topic == "Timing" and "PyTorch (p90 12× the median step)" in first.sentence
    data["runs"][0]["result"].update(step_ms_p90=20.0)
    assert findings(data)[0].topic != "Timing"
    # A few very long steps leave p90 alone but pull the mean (the throughput) far from the median.
    data["runs"][0]["result"].update(steady_images_per_second=50.0)  # batch 1: a mean step of 20 ms
    first = findings(data)[0]
    assert first.topic == "Timing" and "PyTorch (mean step 2.0× the median)" in first.sentence
