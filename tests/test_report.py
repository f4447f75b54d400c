from core.analysis.figures import METRICS, format_value
from core.analysis.ratio_text import format_ratio
from core.analysis.report import Spread, comparison_rows, render_table, summarize
from core.results import RunResult
from tests.records import comparison_record, run_record


def run(framework, status="finished", repeat=0, spec=None, **result):
    return run_record(framework, status=status, repeat=repeat, spec=spec,
                      result=RunResult(**result) if status == "finished" else None,
                      error_kind=None if status == "finished" else "crashed", error_message="boom")


def metric(key):
    return next(m for m in METRICS if m.key == key)


def test_spread_over_repeats_uses_only_finished_runs():
    runs = [run("pytorch", steady_images_per_second=v) for v in (100.0, 120.0, 110.0)] + [run("pytorch", status="failed")]
    summary = summarize(runs, ["pytorch"])
    assert summary["pytorch"]["steady_images_per_second"] == Spread(110.0, 100.0, 120.0, 3)


def test_ahead_column_follows_the_verdicts_rule():
    def speed_run(framework, speed, repeat):
        return run(framework, steady_images_per_second=speed, step_ms_median=1000 / speed, step_ms_p90=1100 / speed,
                   trainable_params=10, repeat=repeat, spec={"batch_size": 1, "seed": repeat})

    clear = [speed_run("pytorch", s, i) for i, s in enumerate((131, 130, 132))]
    clear += [speed_run("tensorflow", s, i) for i, s in enumerate((100, 101, 99))]
    headers, rows = comparison_rows(comparison_record(clear, frameworks="pytorch,tensorflow"))
    ahead = {row[0]: row[-1] for row in rows}
    assert ahead["Steady-state images/s"].startswith("PyTorch 1.31× [1.2")
    assert ahead["Step time, median"].startswith("PyTorch 1.31×")
    assert ahead["Trainable parameters"] == ""
    single = [speed_run("pytorch", 131, 0), speed_run("tensorflow", 100, 0)]
    ahead = {row[0]: row[-1] for row in comparison_rows(comparison_record(single, frameworks="pytorch,tensorflow"))[1]}
    assert ahead["Steady-state images/s"] == "inconclusive (1 run)"


def test_table_has_a_row_per_reported_metric():
    comparison = comparison_record([run(framework, test_accuracy=accuracy, trainable_params=10, spec={"seed": 0, "batch_size": 1})
                                    for framework, accuracy in (("pytorch", 0.97), ("tensorflow", 0.96))],
                                   frameworks="pytorch,tensorflow")
    headers, rows = comparison_rows(comparison)
    assert headers == ["", "PyTorch", "TensorFlow", "Ahead"]
    assert [r[0] for r in rows] == ["Test accuracy", "Trainable parameters"]
    text = render_table(headers, rows)
    assert "97.0 %" in text and "96.0 %" in text


def test_units_are_readable():
    assert format_value(3 * 1024**3, "bytes") == "3.0 GiB"
    assert format_value(1234567, "count") == "1,234,567"
    assert format_value(None, "ms") == "–"
    assert (format_ratio(1.284), format_ratio(18.49), format_ratio(52.61)) == ("1.28×", "18×", "53×")
