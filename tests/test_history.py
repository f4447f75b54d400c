import datetime as dt

from core.history import comparisons_frame, diff_comparisons, filter_comparisons
from core.results import RunResult


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

    settings, results = diff_comparisons(comparison("a", 5, 100.0), comparison("b", 10, 200.0))
    assert settings.set_index("setting").loc["epochs", "differs"]
    assert not settings.set_index("setting").loc["dataset", "differs"]
    row = results[(results["figure"] == "Steady-state images/s") & (results["framework"] == "PyTorch")].iloc[0]
    assert (row["a"], row["b"]) == ("100", "200")


def test_tags_are_stripped_deduplicated_and_bounded():
    import pytest

    from core.errors import BadInput
    from core.history import MAX_TAGS, clean_tags

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
    from core.history import clean_note

    assert clean_note("  first line\r\nsecond\x00 line\t \n") == "first line\nsecond line"
    assert clean_note(None) == ""
    assert clean_note("x" * 2000) == "x" * 2000
    with pytest.raises(BadInput, match="at most 2000 characters") as refused:
        clean_note("x" * 2001)
    assert refused.value.field == "note"
