from core.train.measure import training_threads
from core.views.watching import watch_policy


def test_a_small_cpu_machine_holds_the_page_back_while_a_gpu_or_big_machine_does_not():
    small = watch_policy(trains_on_cpu=True, usable_cores=2)
    assert small.refresh_seconds > 2.0 and not small.live_curves and "2 CPU cores" in small.note
    for policy in (watch_policy(trains_on_cpu=False, usable_cores=2), watch_policy(trains_on_cpu=True, usable_cores=16)):
        assert policy.refresh_seconds == 2.0 and policy.live_curves and policy.note is None


def test_training_uses_every_core_unless_told_otherwise():
    assert training_threads(usable=2) == 2
    assert training_threads(usable=16) == 16
    assert training_threads(usable=1) == 1
    assert training_threads(requested=1, usable=2) == 1
