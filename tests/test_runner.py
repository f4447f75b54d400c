import os
import signal
import tempfile
from pathlib import Path

from core.engine.runner import ProcessExecutor, describe_exit, oom_kill_count
from core.engine.work import ProbeJob


def test_a_killed_worker_is_said_to_be_out_of_memory_only_with_the_kernels_word_for_it():
    assert describe_exit(-signal.SIGKILL) == "the worker was killed by SIGKILL (signal 9)"
    assert "out of memory (the kernel's OOM killer" in describe_exit(-signal.SIGKILL, out_of_memory=True)
    assert describe_exit(3) == "the worker exited with code 3 without reporting a result"
    count = oom_kill_count()
    assert count is None or count >= 0


def test_a_worker_killed_at_once_leaves_no_file_behind():
    before = set(Path(tempfile.gettempdir()).iterdir())
    executor = ProcessExecutor(on_start=lambda pid: os.kill(pid, signal.SIGKILL))
    outcome = executor.run(ProbeJob(framework="pytorch"))
    assert outcome.status == "failed" and outcome.error["kind"] == "crashed"
    assert "killed by SIGKILL" in outcome.error["message"]
    assert set(Path(tempfile.gettempdir()).iterdir()) - before == set()


def in_another_thread(work):
    """What ``work`` returns when run in a thread of its own (as a dashboard page runs)."""
    import threading

    answers = []
    thread = threading.Thread(target=lambda: answers.append(work()))
    thread.start()
    thread.join()
    return answers[0]


def test_asking_the_frameworks_waits_its_turn_for_the_device(home):
    from core.engine.device_lock import BUSY, device_lock
    from core.engine.system import probe_frameworks

    with device_lock(wait=False) as held:  # as the job runner holds it while training
        assert held
        answers = in_another_thread(probe_frameworks)
    assert answers and all(answer == {"error": BUSY} for answer in answers.values())


def test_the_device_lock_is_reentrant_in_its_thread_only(home):
    from core.engine.device_lock import device_lock

    seen = []
    with device_lock(wait=False) as outer:
        with device_lock(wait=False) as inner:  # the CLI's `models` around its descriptions
            seen.append((outer, inner))
        seen.append(in_another_thread(lambda: device_lock(wait=False).__enter__()))
    assert seen == [(True, True), False]  # a page's thread beside the job runner's is refused
    with device_lock(wait=False) as again:
        assert again  # released whole


def test_the_models_page_building_its_table_waits_for_the_device(home):
    from core.engine.device_lock import BUSY, device_lock
    from core.engine.model_catalog import describe_architectures

    with device_lock(wait=False):
        answer = in_another_thread(lambda: describe_architectures((32, 32, 3)))
    assert answer["frameworks"] == {} and set(answer["errors"].values()) == {BUSY}
    assert not (home / "models").exists() or not list((home / "models").glob("*.json"))  # not cached
