"""The History page through AppTest: figure columns and sort, selection of any number, the diff of
those, tags and a note, and the whole view kept in the address. Comparisons are written into the
store directly (no training)."""

import json

import pytest

from core.frameworks import LABELS, NAMES
from core.store.queries import Store
from tests.test_compare_view import store_comparisons
from tests.test_pages import open_page, text_of

FIRST = LABELS[NAMES[0]]


@pytest.fixture
def stored(home, monkeypatch):
    """Three comparisons (the last the latest), two frameworks, one repeat each."""
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    return store_comparisons(home, list(NAMES[:2]), repeats=1, count=3)


def table(app):
    return app.dataframe[0].value


def test_each_framework_has_figure_columns_and_the_sort_is_kept_in_the_address(stored):
    app = open_page("pages/history.py")
    assert not app.exception, app.exception
    frame = table(app)
    assert {f"{FIRST} images/s", f"{FIRST} accuracy", f"{FIRST} peak MiB", "tags", "note"} <= set(frame.columns)
    assert list(frame["id"]) == stored[::-1]  # newest first
    assert frame[f"{FIRST} images/s"].tolist() == [100.0] * 3
    assert not {"sort", "descending"} & set(app.query_params)

    app.selectbox(key="sort").set_value("created").run()
    app.toggle(key="descending").set_value(False).run()
    assert list(table(app)["id"]) == stored and app.query_params["descending"] == "0"
    app.selectbox(key="sort").set_value(f"{FIRST} images/s").run()
    assert not app.exception, app.exception
    assert app.query_params["sort"] == f"{FIRST} images/s" and "descending" not in app.query_params
    app.toggle(key="descending").set_value(True).run()
    assert app.query_params["descending"] == "1"

    reloaded = open_page("pages/history.py", dict(app.query_params))
    assert not reloaded.exception, reloaded.exception
    assert (reloaded.selectbox(key="sort").value, reloaded.toggle(key="descending").value) == (f"{FIRST} images/s", True)
    nonsense = open_page("pages/history.py", {"sort": "no such column", "datasets": "nope", "comparisons": "nope"})
    assert not nonsense.exception, nonsense.exception
    assert nonsense.selectbox(key="sort").value == "created" and nonsense.multiselect(key="datasets").value == []
    assert not {"sort", "datasets", "comparisons"} & set(nonsense.query_params)


def test_any_number_selected_are_diffed_and_linked_to_compare_together(stored):
    app = open_page("pages/history.py")
    app.multiselect(key="selected").set_value(stored).run()
    assert not app.exception, app.exception
    assert app.query_params["comparisons"] == ",".join(stored)
    assert "What differs between the 3 selected" in [h.value for h in app.subheader]
    settings, results = app.dataframe[1].value, app.dataframe[2].value
    assert settings.empty  # the three were made alike
    assert list(results.columns) == ["figure", "framework", *stored]
    app.toggle(key="only_differences").set_value(False).run()
    assert "epochs" in list(app.dataframe[1].value["setting"])
    assert app.query_params["all_settings"] == "1"
    assert open_page("pages/history.py", dict(app.query_params)).toggle(key="only_differences").value is False
    links = [link for link in app.get("page_link") if "Overlay the 3 selected" in link.proto.label]
    from urllib.parse import parse_qs

    assert links and parse_qs(links[0].proto.query_string) == {"show": ["several"], "comparisons": [",".join(stored)]}

    reloaded = open_page("pages/history.py", {"comparisons": ",".join(stored[:2])})
    assert reloaded.multiselect(key="selected").value == stored[:2]
    assert "What differs between the 2 selected" in [h.value for h in reloaded.subheader]


def test_tags_and_a_note_are_saved_shown_filtered_and_kept_in_the_address(stored, home):
    app = open_page("pages/history.py")
    app.selectbox(key="annotating").set_value(stored[0]).run()
    app.text_input(key="tags_text").input(" gpu, baseline ,gpu").run()
    app.text_area(key="note_text").input("first try\nafter the upgrade").run()
    app.button(key="save_annotations").click().run()
    assert not app.exception, app.exception
    assert f"Saved the tags and note of {stored[0]}." in text_of(app)
    saved = Store(home / "runs.sqlite").comparison(stored[0])
    assert (saved.tags, saved.note) == (("gpu", "baseline"), "first try\nafter the upgrade")
    exported = next(c for c in Store(home / "runs.sqlite").export_json()["comparisons"] if c["id"] == stored[0])
    assert "gpu" in json.dumps(exported) and "after the upgrade" in json.dumps(exported)
    assert app.text_input(key="tags_text").value == "gpu, baseline"  # as stored
    row = table(app).set_index("id").loc[stored[0]]
    assert (row["tags"], row["note"]) == ("gpu, baseline", "first try\nafter the upgrade")

    app.multiselect(key="tags").set_value(["gpu"]).run()
    assert list(table(app)["id"]) == [stored[0]] and app.query_params["tags"] == "gpu"
    reloaded = open_page("pages/history.py", dict(app.query_params))
    assert reloaded.multiselect(key="tags").value == ["gpu"] and list(table(reloaded)["id"]) == [stored[0]]

    # Another comparison shows its own (empty) fields; a tag too long is refused and nothing stored.
    app = open_page("pages/history.py")
    app.selectbox(key="annotating").set_value(stored[1]).run()
    assert (app.text_input(key="tags_text").value, app.text_area(key="note_text").value) == ("", "")
    app.text_input(key="tags_text").input("x" * 41).run()
    app.button(key="save_annotations").click().run()
    assert not app.exception, app.exception
    assert any("1 to 40 characters" in error.value for error in app.error)
    assert Store(home / "runs.sqlite").comparison(stored[1]).tags == ()


def test_filters_and_dates_in_the_address_are_applied_on_a_first_run(stored):
    import datetime as dt

    today = dt.date.today().isoformat()
    app = open_page("pages/history.py", {"datasets": "digits", "architectures": "cnn,nope", "dates": f"{today},{today}"})
    assert not app.exception, app.exception
    assert app.multiselect(key="datasets").value == ["digits"]
    assert app.multiselect(key="architectures").value == ["cnn"]
    assert len(table(app)) == 3
    assert app.query_params["architectures"] == "cnn" and "dates" not in app.query_params  # the whole range: no need


def test_hostile_tags_and_notes_are_shown_as_text(home, monkeypatch):
    from tests.test_pages import EVIL, assert_nothing_links_out, import_hostile_comparison

    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    comparison_id = import_hostile_comparison(home)
    store = Store(home / "runs.sqlite")
    store.set_annotations(comparison_id, tags=["[x](http://evil.example)", "<img src=x>"], note=EVIL)
    history = open_page("pages/history.py", {"comparisons": comparison_id, "tags": "<img src=x>"})
    assert_nothing_links_out(history)
    assert list(table(history)["id"]) == [comparison_id] and table(history).loc[0, "note"] == EVIL
    history.button(key="save_annotations").click().run()  # saved again as shown: unchanged, and said as text
    assert_nothing_links_out(history)
    assert store.comparison(comparison_id).note == EVIL
    several = open_page("pages/compare.py", {"show": "several", "comparisons": comparison_id, "run_text": EVIL})
    assert_nothing_links_out(several)
