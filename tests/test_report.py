from core.report import METRICS, Spread, comparison_rows, format_ratio, format_value, leader, render_table, summarize


def run(framework, status="finished", **result):
    return {"framework": framework, "status": status, "result": result if status == "finished" else None,
            "repeat": 0, "error_kind": None if status == "finished" else "crashed", "error_message": "boom"}


def metric(key):
    return next(m for m in METRICS if m.key == key)


def test_spread_over_repeats_uses_only_finished_runs():
    runs = [run("pytorch", steady_images_per_second=v) for v in (100.0, 120.0, 110.0)] + [run("pytorch", status="failed")]
    summary = summarize(runs, ["pytorch"])
    assert summary["pytorch"]["steady_images_per_second"] == Spread(110.0, 100.0, 120.0, 3)


def test_leader_names_the_better_framework_or_says_within_noise():
    faster = {"pytorch": Spread(131, 131, 131, 1), "tensorflow": Spread(100, 100, 100, 1)}
    assert leader(metric("steady_images_per_second"), faster) == "PyTorch 1.31×"
    assert leader(metric("step_ms_median"), faster) == "TensorFlow 1.31×"
    close = {"pytorch": Spread(102, 102, 102, 1), "tensorflow": Spread(100, 100, 100, 1)}
    assert leader(metric("steady_images_per_second"), close) == "about equal"
    accuracy = {"pytorch": Spread(0.95, 0.95, 0.95, 1), "tensorflow": Spread(0.90, 0.90, 0.90, 1)}
    assert leader(metric("test_accuracy"), accuracy) == "PyTorch +5.0 pts"
    assert leader(metric("trainable_params"), faster) == ""


def test_table_has_a_row_per_reported_metric():
    comparison = {"frameworks": "pytorch,tensorflow",
                  "runs": [run("pytorch", test_accuracy=0.97, trainable_params=10), run("tensorflow", test_accuracy=0.96, trainable_params=10)]}
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
