import os
import signal
import tempfile
from pathlib import Path

from core.runner import ProcessExecutor, describe_exit, oom_kill_count
from core.work import ProbeJob


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


def test_asking_the_frameworks_waits_its_turn_for_the_device(home):
    from core.device_lock import device_lock
    from core.system import DEVICE_BUSY, probe_frameworks

    with device_lock(wait=False) as held:
        assert held
        answers = probe_frameworks()
    assert answers and all(answer == {"error": DEVICE_BUSY} for answer in answers.values())
