import datetime as dt

from core.results import RunResult
from core.views.history import comparisons_frame, diff_many, filter_comparisons


def summary(comparison_id, dataset, architecture, device, day):
    return {"id": comparison_id, "created_at": dt.datetime(2026, 11, day, 12).timestamp(), "dataset": dataset,
            "architecture": architecture, "device": device, "frameworks": "pytorch,tensorflow",
            "runs": 2, "finished": 2, "failed": 0}


def test_filters_combine_and_empty_filters_keep_everything():
    resolved = {**summary("b", "shapes", "cnn", "auto", 5), "resolved_device": "cuda"}
    frame = comparisons_frame([summary("a", "digits", "cnn", "cpu", 1), resolved, summary("c", "digits", "mlp", "cpu", 9)])
    assert list(frame["device"]) == ["cpu", "cuda", "cpu"]  # what the runs used, where "auto" was asked for
    assert list(filter_comparisons(frame)["id"]) == ["a", "b", "c"]
    assert list(filter_comparisons(frame, datasets=["digits"])["id"]) == ["a", "c"]
    assert list(filter_comparisons(frame, datasets=["digits"], architectures=["mlp"])["id"]) == ["c"]
    assert list(filter_comparisons(frame, devices=["cuda"])["id"]) == ["b"]
    assert list(filter_comparisons(frame, since=dt.date(2026, 11, 2), until=dt.date(2026, 11, 8))["id"]) == ["b"]


def test_diff_flags_settings_that_differ_and_lines_up_results():
    def comparison(comparison_id, epochs, speed):
        return {"id": comparison_id, "frameworks": "pytorch,tensorflow",
                "settings": {"epochs": epochs, "dataset": "digits"},
                "runs": [{"framework": fw, "status": "finished", "result": RunResult(steady_images_per_second=speed)}
                         for fw in ("pytorch", "tensorflow")]}

    settings, results = diff_many([comparison("a", 5, 100.0), comparison("b", 10, 200.0)])
    assert settings.set_index("setting").loc["epochs", "differs"]
    assert not settings.set_index("setting").loc["dataset", "differs"]
    row = results[(results["figure"] == "Steady-state images/s") & (results["framework"] == "PyTorch")].iloc[0]
    assert (row["a"], row["b"]) == ("100", "200")


def test_tags_are_stripped_deduplicated_and_bounded():
    import pytest

    from core.errors import BadInput
    from core.store.annotations import MAX_TAGS, clean_tags

    assert clean_tags(" gpu ,baseline,, GPU , two  words\t,") == ["gpu", "baseline", "two words"]
    assert clean_tags(["a", "b, c", "A"]) == ["a", "b", "c"]
    assert clean_tags(None) == [] and clean_tags("") == [] and clean_tags(" , ") == []
    assert clean_tags("x" * 40) == ["x" * 40]
    with pytest.raises(BadInput, match="1 to 40 characters") as refused:
        clean_tags("ok, " + "x" * 41)
    assert refused.value.field == "tags"
    assert len(clean_tags([f"t{i}" for i in range(MAX_TAGS)])) == MAX_TAGS
    with pytest.raises(BadInput, match="at most 20 tags"):
        clean_tags([f"t{i}" for i in range(MAX_TAGS + 1)])
    with pytest.raises(BadInput, match="must be text"):
        clean_tags([3])


def test_notes_keep_their_lines_and_are_bounded():
    import pytest

    from core.errors import BadInput
    from core.store.annotations import clean_note

    assert clean_note("  first line\r\nsecond\x00 line\t \n") == "first line\nsecond line"
    assert clean_note(None) == ""
    assert clean_note("x" * 2000) == "x" * 2000
    with pytest.raises(BadInput, match="at most 2000 characters") as refused:
        clean_note("x" * 2001)
    assert refused.value.field == "note"


def finished(framework, **figures):
    return {"framework": framework, "status": "finished", "result": RunResult(**figures)}


def test_each_framework_gets_its_figure_columns_for_sorting():
    import math

    from core.frameworks import LABELS, NAMES
    from core.views.history import framework_figures, sort_comparisons, sort_options

    first, second = NAMES[:2]
    figures = {
        "a": framework_figures({"runs": [finished(first, steady_images_per_second=100.0, test_accuracy=0.5),
                                         finished(first, steady_images_per_second=300.0, peak_host_rss_bytes=2**21),
                                         {"framework": second, "status": "failed", "result": None}]}),
        "b": framework_figures({"runs": [finished(first, steady_images_per_second=150.0, peak_device_memory_bytes=2**20,
                                                  peak_host_rss_bytes=2**30),
                                         finished(second, steady_images_per_second=50.0)]}),
    }
    assert figures["a"] == {f"{LABELS[first]} images/s": 200.0, f"{LABELS[first]} accuracy": 0.5,
                            f"{LABELS[first]} peak MiB": 2.0}  # medians; nothing for a framework that failed
    assert figures["b"][f"{LABELS[first]} peak MiB"] == 1.0  # the device's peak where measured
    frame = comparisons_frame([{**summary("a", "digits", "cnn", "cpu", 1), "tags": ["x"], "note": "n"},
                               summary("b", "digits", "cnn", "cpu", 2)], figures)
    assert list(frame.columns[-4:]) == [f"{LABELS[first]} images/s", f"{LABELS[first]} accuracy",
                                        f"{LABELS[first]} peak MiB", f"{LABELS[second]} images/s"]
    assert (frame.loc[0, "tags"], frame.loc[0, "note"], frame.loc[1, "tags"]) == ("x", "n", "")
    assert math.isnan(frame.loc[0, f"{LABELS[second]} images/s"])
    column = f"{LABELS[second]} images/s"
    assert column in sort_options(frame) and "id" not in sort_options(frame)
    assert list(sort_comparisons(frame, column)["id"]) == ["b", "a"]  # missing last
    assert list(sort_comparisons(frame, column, descending=True)["id"]) == ["b", "a"]
    assert list(sort_comparisons(frame, f"{LABELS[first]} images/s")["id"]) == ["b", "a"]
    assert list(sort_comparisons(frame, f"{LABELS[first]} images/s", descending=True)["id"]) == ["a", "b"]
    assert list(sort_comparisons(frame, "nonsense")["id"]) == ["a", "b"]


def test_a_tag_filter_keeps_comparisons_with_any_of_the_tags():
    from core.views.history import frame_tags

    frame = comparisons_frame([{**summary("a", "d", "cnn", "cpu", 1), "tags": ["GPU", "baseline"]},
                               {**summary("b", "d", "cnn", "cpu", 1), "tags": ["slow"]}, summary("c", "d", "cnn", "cpu", 1)])
    assert frame_tags(frame) == ["baseline", "GPU", "slow"]
    assert list(filter_comparisons(frame, tags=["gpu"])["id"]) == ["a"]
    assert list(filter_comparisons(frame, tags=["slow", "baseline"])["id"]) == ["a", "b"]
    assert list(filter_comparisons(frame, tags=[])["id"]) == ["a", "b", "c"]


def test_a_diff_of_three_flags_what_is_not_all_equal():
    def comparison(comparison_id, epochs, batch, speed):
        return {"id": comparison_id, "frameworks": "pytorch,tensorflow",
                "settings": {"epochs": epochs, "batch_size": batch, "dataset": "digits"},
                "runs": [finished(fw, steady_images_per_second=speed) for fw in ("pytorch", "tensorflow")]}

    settings, results = diff_many([comparison("a", 5, 64, 1.0), comparison("b", 5, 32, 2.0), comparison("c", 5, 64, 3.0)])
    assert list(settings.columns) == ["setting", "a", "b", "c", "differs"]
    differs = settings.set_index("setting")["differs"].to_dict()
    assert differs == {"batch_size": True, "dataset": False, "epochs": False}
    row = results[(results["figure"] == "Steady-state images/s") & (results["framework"] == "TensorFlow")].iloc[0]
    assert (row["a"], row["b"], row["c"]) == ("1", "2", "3")


def test_selection_follows_the_ticked_rows_and_keeps_the_rest():
    from core.views.history import merge_selection

    assert merge_selection(["x", "a"], [], ["b"]) == ["x", "a", "b"]
    assert merge_selection(["x", "a", "b"], ["a", "b"], ["b"]) == ["x", "b"]
    assert merge_selection(["x"], ["x"], ["x"]) == ["x"]


def test_address_lists_and_flags_round_trip():
    from core.views.query import flag_param, list_param, write_params

    params = {"comparisons": "a, b,,a", "tags": "x"}
    assert list_param(params, "comparisons") == ["a", "b"]
    assert list_param(params, "comparisons", allowed=["b", "c"]) == ["b"]
    assert list_param(params, "missing") == []
    write_params(params, {"comparisons": ["c", "d"], "tags": [], "descending": True, "sort": ""})
    assert params == {"comparisons": "c,d", "descending": "1"}
    assert flag_param(params, "descending") and not flag_param(params, "sort")


def test_a_date_range_in_the_address_is_kept_within_the_data():
    from core.views.query import dates_param

    first, last = dt.date(2026, 11, 1), dt.date(2026, 11, 9)
    assert dates_param({"dates": "2026-11-02,2026-11-05"}, first, last) == (dt.date(2026, 11, 2), dt.date(2026, 11, 5))
    assert dates_param({"dates": "2020-01-01,2030-01-01"}, first, last) == (first, last)
    for nonsense in ({}, {"dates": "yesterday"}, {"dates": "2026-11-02"}, {"dates": "2026-11-05,2026-11-02"}):
        assert dates_param(nonsense, first, last) == (first, last)
