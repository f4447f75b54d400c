"""Public mode's policy (core/engine/public_mode.py): the setting and Cloud detection, who may delete
what, the queue limits under concurrent enqueues, the bounds, uploads and the disk cap."""

import os
import threading
import time

import pytest

from core.data.uploads import cached_files, evict_oldest, save_upload, uploads_dir
from core.engine.jobs import active_jobs, enqueue, request_cancel
from core.engine.public_mode import (
    PublicPolicy,
    bounded_spec,
    check_import,
    check_many,
    check_upload,
    detect_community_cloud,
    enqueue_public,
    make_room,
    may_delete,
    policy_from_environment,
    store_upload,
)
from core.errors import BadInput
from core.paths import prepared_dir
from core.spec import RunSpec
from core.store.queries import Store
from tests.records import comparison_record, job_record, summary_record
from tests.test_archives import two_classes, zip_bytes

LOCAL = "/home/someone/twinbench"
PUBLIC = PublicPolicy(enabled=True, reason="test")


# --- the setting ------------------------------------------------------------------------------


def test_off_on_a_local_machine_and_on_where_community_cloud_is_detected():
    local = policy_from_environment({}, LOCAL)
    assert not local.enabled and "not on Streamlit Community Cloud" in local.reason
    cloud = policy_from_environment({}, "/mount/src/twinbench")
    assert cloud.enabled and "/mount/src/twinbench" in cloud.reason and "TWINBENCH_PUBLIC=0" in cloud.reason
    assert policy_from_environment({"HOSTNAME": "streamlit"}, LOCAL).enabled
    assert detect_community_cloud({}, "/mount/src/twinbench/cloud") is not None
    # Only the folder itself and what is below it: a sibling whose name starts alike is not Cloud.
    assert detect_community_cloud({"HOSTNAME": "laptop"}, "/mount/srcs/twinbench") is None


@pytest.mark.parametrize("value, enabled", [("1", True), ("true", True), ("ON", True), ("0", False), ("no", False),
                                            ("maybe", True)])
def test_the_environment_wins_over_detection_and_nonsense_stays_on(value, enabled):
    for cwd in (LOCAL, "/mount/src/twinbench"):
        policy = policy_from_environment({"TWINBENCH_PUBLIC": value}, cwd)
        assert policy.enabled is enabled, (value, cwd)
        assert value in policy.reason


def test_limits_come_from_the_environment_and_nonsense_is_refused_by_name():
    policy = policy_from_environment({"TWINBENCH_PUBLIC": "1", "TWINBENCH_PUBLIC_MAX_QUEUE": "3",
                                      "TWINBENCH_PUBLIC_MAX_EPOCHS": " 2 "}, LOCAL)
    assert (policy.max_queue, policy.max_epochs, policy.max_repeats) == (3, 2, PublicPolicy().max_repeats)
    with pytest.raises(BadInput, match="TWINBENCH_PUBLIC_MAX_QUEUE must be a whole number"):
        policy_from_environment({"TWINBENCH_PUBLIC_MAX_QUEUE": "many"}, LOCAL)
    with pytest.raises(BadInput, match=r"TWINBENCH_PUBLIC_MAX_UPLOAD_MIB: .*100.*\(got 500\)"):
        policy_from_environment({"TWINBENCH_PUBLIC_MAX_UPLOAD_MIB": "500"}, LOCAL)


# --- who may delete ---------------------------------------------------------------------------


def test_in_public_mode_only_the_owner_may_delete():
    mine, theirs, nobodys = summary_record(owner="me"), comparison_record(owner="them"), job_record(owner=None)
    assert may_delete(mine, "me", PUBLIC)
    assert not may_delete(theirs, "me", PUBLIC)
    assert not may_delete(nobodys, "me", PUBLIC)  # from the CLI, or from before owners: not a visitor's
    assert not may_delete(mine, None, PUBLIC)
    local = PublicPolicy()
    assert all(may_delete(c, "me", local) for c in (mine, theirs, nobodys))


def test_another_visitors_stored_comparison_cannot_be_deleted(home):
    store = Store(home / "runs.sqlite")
    job = enqueue_public(store, RunSpec(epochs=1), ["pytorch"], "visitor-a", PUBLIC)
    comparison = store.comparison(active_jobs(store)[0].comparison_id)
    assert comparison.owner == "visitor-a" and job
    listed = {c.id: c for c in store.list_comparisons()}[comparison.id]
    assert may_delete(listed, "visitor-a", PUBLIC) and may_delete(comparison, "visitor-a", PUBLIC)
    assert not may_delete(listed, "visitor-b", PUBLIC) and not may_delete(comparison, "visitor-b", PUBLIC)


def test_imports_belong_to_the_visitor_who_imported_them(home, tmp_path):
    source = Store(tmp_path / "source.sqlite")
    enqueue(source, RunSpec(epochs=1), ["pytorch"])
    store = Store(home / "runs.sqlite")
    assert store.import_json(source.export_json(), owner="visitor-b") == (1, 0)
    imported = store.list_comparisons()[0]
    assert may_delete(imported, "visitor-b", PUBLIC) and not may_delete(imported, "visitor-a", PUBLIC)


# --- the queue --------------------------------------------------------------------------------


def test_the_queue_cap_holds_when_many_visitors_press_start_at_once(home):
    Store(home / "runs.sqlite").close()  # the schema, before the threads open it
    enqueue(Store(home / "runs.sqlite"), RunSpec(epochs=1), ["pytorch"])  # the digits prepared once, outside the race
    request_cancel(Store(home / "runs.sqlite"), active_jobs(Store(home / "runs.sqlite"))[0].id)
    policy = PUBLIC.model_copy(update={"max_queue": 3})
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def visit(number: int) -> None:
        store = Store(home / "runs.sqlite")
        start.wait()
        try:
            enqueue_public(store, RunSpec(epochs=1), ["pytorch"], f"visitor-{number}", policy)
            outcomes.append("queued")
        except BadInput as error:
            outcomes.append(str(error))
        finally:
            store.close()

    threads = [threading.Thread(target=visit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes.count("queued") == 3, outcomes
    assert len(active_jobs(Store(home / "runs.sqlite"))) == 3
    refusals = [o for o in outcomes if o != "queued"]
    assert refusals == ["the queue holds 3 comparisons, the most this shared instance takes; try again when one ends"] * 5


def test_one_visitor_may_have_only_so_many_waiting(home):
    store = Store(home / "runs.sqlite")
    policy = PUBLIC.model_copy(update={"max_queued_per_visitor": 2})
    for _ in range(2):
        enqueue_public(store, RunSpec(epochs=1), ["pytorch"], "visitor-a", policy)
    with pytest.raises(BadInput, match="you have 2 comparison\\(s\\) waiting or training, the most one visitor may have"):
        enqueue_public(store, RunSpec(epochs=1), ["pytorch"], "visitor-a", policy)
    enqueue_public(store, RunSpec(epochs=1), ["pytorch"], "visitor-b", policy)  # another visitor still may
    request_cancel(store, next(j.id for j in active_jobs(store) if j.owner == "visitor-a"))
    enqueue_public(store, RunSpec(epochs=1), ["pytorch"], "visitor-a", policy)  # one ended: room again
    assert sorted(j.owner for j in active_jobs(store)) == ["visitor-a", "visitor-a", "visitor-b"]


def test_locally_nothing_is_limited_but_the_owner_is_kept(home):
    store = Store(home / "runs.sqlite")
    local = PublicPolicy(max_queue=1, max_queued_per_visitor=1, max_epochs=1)
    for _ in range(2):
        enqueue_public(store, RunSpec(epochs=3), ["pytorch"], "visitor-a", local)
    assert [j.owner for j in active_jobs(store)] == ["visitor-a", "visitor-a"]
    assert [store.comparison(j.comparison_id).settings.max_images for j in active_jobs(store)] == [None, None]


def test_epochs_repeats_images_and_size_are_bounded():
    policy = PUBLIC.model_copy(update={"max_epochs": 4, "max_images": 300})
    for field, value, message in [("epochs", 5, "epochs is at most 4 epochs on this shared instance (got 5)"),
                                  ("repeats", 4, "repeats is at most 3 repeats"),
                                  ("max_images", 301, "max_images is at most 300 images"),
                                  ("image_size", 65, "image_size is at most 64 pixels a side")]:
        with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")) as refused:
            bounded_spec(RunSpec.from_dict({"epochs": 1, field: value}), policy)
        assert refused.value.field == field
    assert bounded_spec(RunSpec(epochs=4), policy).max_images == 300  # "all images" is not bounded
    assert bounded_spec(RunSpec(epochs=1, max_images=100), policy).max_images == 100
    assert bounded_spec(RunSpec(epochs=50), PublicPolicy()) == RunSpec(epochs=50)


def test_a_comparison_above_the_bounds_is_refused_before_anything_is_stored(home):
    store = Store(home / "runs.sqlite")
    with pytest.raises(BadInput, match="epochs is at most 10"):
        enqueue_public(store, RunSpec(epochs=11), ["pytorch"], "visitor-a", PUBLIC)
    assert store.list_comparisons() == []
    enqueue_public(store, RunSpec(epochs=10), ["pytorch"], "visitor-a", PUBLIC)
    assert store.list_comparisons()[0].owner == "visitor-a"


# --- uploads and the disk cap -----------------------------------------------------------------


def test_uploads_are_bounded_in_size_and_number():
    policy = PUBLIC.model_copy(update={"max_upload_mib": 1, "max_uploads_per_visitor": 2})
    check_upload("small.zip", 1 << 20, 1, policy)
    with pytest.raises(BadInput, match=r"big.zip is 1.0 MiB; uploads are at most 1 MiB on this shared instance"):
        check_upload("big.zip", (1 << 20) + 1, 0, policy)
    with pytest.raises(BadInput, match="you have uploaded 2 datasets, the most one visitor may upload"):
        check_upload("third.zip", 10, 2, policy)
    check_upload("big.zip", 1 << 30, 99, PublicPolicy())  # locally: core.data.uploads' own limits only
    check_import("export.json", 1 << 20, policy)
    with pytest.raises(BadInput, match="export.json is 2.0 MiB; files to import are at most 1 MiB on this shared instance"):
        check_import("export.json", 2 << 20, policy)
    check_import("export.json", 1 << 30, PublicPolicy())


def age(path, seconds_ago):
    stamp = time.time() - seconds_ago
    os.utime(path, (stamp, stamp))


def fill(home, names_and_ages):
    """Files of 1000 bytes in uploads/ and prepared/, each as old as given."""
    paths = {}
    for name, seconds in names_and_ages:
        folder = uploads_dir() if name.endswith(".zip") else prepared_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(b"x" * 1000)
        age(path, seconds)
        paths[name] = path
    return paths


def test_eviction_takes_the_oldest_first_across_uploads_and_prepared_data(home):
    paths = fill(home, [("a-old.zip", 400), ("b.npz", 300), ("c.zip", 200), ("d-new.npz", 100)])
    (prepared_dir() / ".e.123.tmp.npz").write_bytes(b"x" * 5000)  # being written: neither counted nor removed
    assert cached_files() == [paths[n] for n in ("a-old.zip", "b.npz", "c.zip", "d-new.npz")]
    removed, left = evict_oldest(2500, protected={paths["a-old.zip"].resolve()})
    assert removed == [paths["b.npz"], paths["c.zip"]] and left == 2000
    assert paths["a-old.zip"].exists() and paths["d-new.npz"].exists()
    assert (prepared_dir() / ".e.123.tmp.npz").exists()
    assert evict_oldest(10_000, set()) == ([], 2000)


def test_uploading_again_makes_an_upload_the_newest(home):
    first = save_upload("first.zip", zip_bytes(two_classes()))
    second = save_upload("second.zip", zip_bytes(two_classes(per_class=3)))
    age(first, 100)
    age(second, 50)
    assert save_upload("first.zip", zip_bytes(two_classes())) == first
    assert cached_files()[-1] == first


def test_the_disk_cap_never_evicts_what_a_queued_comparison_needs(home):
    store = Store(home / "runs.sqlite")
    policy = PUBLIC.model_copy(update={"max_disk_mib": 1})
    upload = store_upload(store, "pets.zip", zip_bytes(two_classes(per_class=6)), 0, policy)
    enqueue_public(store, RunSpec(dataset=str(upload), batch_size=2), ["pytorch"], "visitor-a", policy)
    needed = store.comparison(active_jobs(store)[0].comparison_id).data["path"]
    age(upload, 1000)  # the oldest files on disk, yet needed by the queued comparison
    os.utime(needed, (time.time() - 900, time.time() - 900))
    filler = fill(home, [("filler.npz", 10)])["filler.npz"]
    filler.write_bytes(b"x" * (1 << 20))
    removed, left = make_room(store, policy)
    assert removed == [filler] and upload.exists() and os.path.exists(needed)
    assert left <= policy.max_disk_bytes


def test_an_upload_that_cannot_fit_beside_the_queued_data_is_refused_and_removed(home):
    store = Store(home / "runs.sqlite")
    tiny = PUBLIC.model_copy(update={"max_disk_mib": 1})
    kept = store_upload(store, "pets.zip", zip_bytes(two_classes(per_class=6)), 0, tiny)
    enqueue_public(store, RunSpec(dataset=str(kept), batch_size=2), ["pytorch"], "visitor-a", tiny)
    big = zip_bytes(two_classes(per_class=4, extra=[("cats/noise.png", os.urandom(1 << 20))]))
    with pytest.raises(BadInput, match="more than the 1 MiB this shared instance keeps; try again when a comparison ends"):
        store_upload(store, "big.zip", big, 1, tiny.model_copy(update={"max_uploads_per_visitor": 5}))
    assert [p.name for p in uploads_dir().iterdir()] == [kept.name]


def test_a_sweep_needs_room_for_all_its_comparisons_at_once(home):
    store = Store(home / "runs.sqlite")
    policy = PUBLIC.model_copy(update={"max_queue": 4, "max_queued_per_visitor": 3})
    enqueue_public(store, RunSpec(epochs=1), ["pytorch"], "visitor-a", policy)
    cells = [RunSpec(epochs=1, seed=seed) for seed in range(3)]
    with pytest.raises(BadInput, match="one visitor may have 3 comparison\\(s\\) waiting or training on this shared "
                                       "instance; you have 1, and this would add 3"):
        check_many(store, cells, "visitor-a", policy)
    assert [spec.max_images for spec in check_many(store, cells, "visitor-b", policy)] == [5000] * 3
    with pytest.raises(BadInput, match="the queue holds 1 of the 4 comparisons this shared instance takes, no room for 4"):
        check_many(store, [*cells, RunSpec(epochs=1)], "visitor-b", policy.model_copy(update={"max_queued_per_visitor": 9}))
    with pytest.raises(BadInput, match="epochs is at most 10"):
        check_many(store, [RunSpec(epochs=11)], "visitor-b", policy)
