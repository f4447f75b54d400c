"""The runs table of several comparisons: a row per run, numeric figures, differing settings, filters, sort."""

import math

from core.frameworks import LABELS, NAMES
from core.results import RunResult, peak_memory, peak_memory_bytes, peak_memory_figure
from core.views.run_table import RunFilter, differing_settings, filter_runs, run_table, sort_choices, sort_runs

FIRST, SECOND = NAMES[:2]


def run(framework, repeat, status="finished", **figures):
    result = RunResult(target_accuracy=0.9, **figures) if status == "finished" else None
    return {"framework": framework, "repeat": repeat, "status": status, "result": result,
            "epochs": [{"epoch": 1, "val_accuracy": 0.8}]}


def comparison(comparison_id, epochs, runs, tags=()):
    return {"id": comparison_id, "settings": {"epochs": epochs, "batch_size": 64, "target_accuracy": 0.9,
                                              "notes": [comparison_id]},
            "tags": list(tags), "note": "", "runs": runs}


def two_comparisons():
    return [
        comparison("a", 5, [run(FIRST, 0, steady_images_per_second=100.0, peak_device_memory_bytes=2**21,
                                peak_host_rss_bytes=2**30, time_to_target_seconds=4.0),
                            run(SECOND, 0, steady_images_per_second=300.0, peak_host_rss_bytes=2**20)], tags=["gpu"]),
        comparison("b", 10, [run(FIRST, 0, steady_images_per_second=200.0, test_accuracy=0.95),
                             run(SECOND, 0, status="failed")]),
    ]


def test_one_row_per_run_with_numbers_and_the_settings_that_differ():
    table = run_table(two_comparisons())
    assert list(table["comparison"]) == ["a", "a", "b", "b"]
    assert list(table["run"]) == [f"{LABELS[FIRST]} #1", f"{LABELS[SECOND]} #1"] * 2
    assert list(table["images/s"][:3]) == [100.0, 300.0, 200.0] and math.isnan(table["images/s"][3])
    # Device memory where measured, else host RSS, and which one it was.
    assert list(table["peak memory (MiB)"][:2]) == [2.0, 1.0]
    assert list(table["memory measured"]) == ["device", "host", "", ""]
    # Time to target: a number where reached, and what a missing one means.
    assert list(table["target"]) == ["reached", "not reached", "not reached", ""]
    assert "epochs" in table.columns and "batch_size" not in table.columns and "notes" not in table.columns
    assert list(table["epochs"]) == ["5", "5", "10", "10"]
    assert list(table["tags"]) == ["gpu", "gpu", "", ""]
    assert list(table.columns).index("target") == list(table.columns).index("time to target (s)") + 1


def test_differing_settings_counts_a_missing_setting_as_different():
    assert differing_settings([{"settings": {"a": 1}}]) == []
    assert differing_settings([{"settings": {"a": 1, "b": 2}}, {"settings": {"a": 1}}, {"settings": {"a": 2, "b": 2}}]) == [
        "a", "b"]


def test_filters_combine_and_text_matches_any_text_cell():
    table = run_table(two_comparisons())
    assert len(filter_runs(table, RunFilter())) == 4
    assert list(filter_runs(table, RunFilter(frameworks=(LABELS[SECOND],)))["comparison"]) == ["a", "b"]
    assert list(filter_runs(table, RunFilter(statuses=("failed",)))["comparison"]) == ["b"]
    assert list(filter_runs(table, RunFilter(frameworks=(LABELS[SECOND],), statuses=("finished",)))["comparison"]) == ["a"]
    assert list(filter_runs(table, RunFilter(text=" GPU "))["comparison"]) == ["a", "a"]
    assert filter_runs(table, RunFilter(text="nothing like this")).empty


def test_sorting_is_numeric_with_missing_values_last_either_way():
    table = run_table(two_comparisons())
    assert list(sort_runs(table, "images/s")["images/s"].fillna(-1)) == [100.0, 200.0, 300.0, -1]
    assert list(sort_runs(table, "images/s", descending=True)["images/s"].fillna(-1)) == [300.0, 200.0, 100.0, -1]
    assert sort_runs(table, "no such column").equals(table)
    assert sort_choices(table)[0] == "images/s" and sort_choices(table)[-1] == "epochs"


def test_peak_memory_prefers_the_device_figure():
    assert peak_memory(None) == (None, "")
    assert peak_memory(RunResult()) == (None, "")
    assert peak_memory(RunResult(peak_host_rss_bytes=3 * 2**20)) == (3.0, "host")
    assert peak_memory_bytes(RunResult(peak_device_memory_bytes=5, peak_host_rss_bytes=9)) == (5, "device")
    # Several runs: the device figure as soon as any of them measured one.
    assert peak_memory_figure([RunResult(peak_host_rss_bytes=9), RunResult(peak_device_memory_bytes=5)]) == \
        ("peak_device_memory_bytes", "device")
    assert peak_memory_figure([RunResult()]) is None
