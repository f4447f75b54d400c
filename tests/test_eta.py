"""core.analysis.eta: the time a comparison has left, the status of a job, and the CLI bars that show it."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.analysis.eta import (
    CurrentRun,
    Estimate,
    FinishedRun,
    PlannedRun,
    estimate_remaining,
    format_duration,
    format_left,
    job_status,
)
from tests.records import comparison_record, job_record, run_record


def test_the_run_under_way_is_extrapolated_from_its_time_per_step():
    # 40 of 100 steps in 20 s: 0.5 s a step, 60 steps left.
    current = CurrentRun("pytorch", epochs=2, epoch=0, step=40, steps_per_epoch=50, elapsed=20.0)
    assert estimate_remaining(current) == Estimate(30.0, rough=False)


def test_runs_not_started_take_the_mean_of_their_frameworks_finished_runs():
    current = CurrentRun("pytorch", epochs=1, epoch=0, step=10, steps_per_epoch=20, elapsed=5.0)
    finished = [FinishedRun("tensorflow", 30.0), FinishedRun("tensorflow", 50.0), FinishedRun("pytorch", 12.0)]
    planned = [PlannedRun("tensorflow", 1), PlannedRun("pytorch", 1)]
    assert estimate_remaining(current, planned, finished) == Estimate(5.0 + 40.0 + 12.0)


def test_a_run_not_started_of_the_current_framework_takes_its_projected_duration():
    current = CurrentRun("pytorch", epochs=2, epoch=1, step=0, steps_per_epoch=None, elapsed=10.0)  # 1 of 2 epochs
    assert estimate_remaining(current, [PlannedRun("pytorch", 2), PlannedRun("pytorch", 4)]) == Estimate(10.0 + 20.0 + 40.0)


def test_another_frameworks_timing_stands_in_roughly():
    current = CurrentRun("pytorch", epochs=1, epoch=0, step=5, steps_per_epoch=10, elapsed=10.0)
    assert estimate_remaining(current, [PlannedRun("tensorflow", 1)]) == Estimate(10.0 + 20.0, rough=True)
    finished = [FinishedRun("jax", 8.0)]
    assert estimate_remaining(current, [PlannedRun("tensorflow", 1)], finished) == Estimate(18.0, rough=True)
    assert estimate_remaining(None, [PlannedRun(None, 1)] * 2, finished) == Estimate(16.0, rough=True)


def test_before_anything_is_timed_the_estimate_is_unknown():
    starting = CurrentRun("pytorch", epochs=3, epoch=0, step=0, steps_per_epoch=None, elapsed=4.0)
    assert estimate_remaining(starting, [PlannedRun("tensorflow", 3)]) == Estimate(None)
    assert estimate_remaining(None, [PlannedRun("tensorflow", 3)]) == Estimate(None)
    assert format_left(Estimate(None)) == "estimating…"
    # A run that has not stepped yet takes its framework's mean, less what it has already run.
    assert estimate_remaining(starting, finished=[FinishedRun("pytorch", 10.0)]) == Estimate(6.0)
    assert estimate_remaining(None) == Estimate(0.0)


def test_durations_read_as_people_say_them():
    assert [format_duration(s) for s in (0.2, 45, 59.6, 185, 3725, None)] == [
        "0 s", "45 s", "1 min 00 s", "3 min 05 s", "1 h 02 min", "estimating…"]
    assert format_left(Estimate(185.0, rough=True)) == "about 3 min 05 s"


runs_strategy = st.lists(st.sampled_from(["pytorch", "tensorflow", "jax", None]), max_size=4)


@given(epochs=st.integers(1, 20), steps_per_epoch=st.integers(1, 500), seconds_per_step=st.floats(1e-4, 10),
       overhead=st.floats(0, 100), frameworks=runs_strategy,
       finished=st.lists(st.tuples(st.sampled_from(["pytorch", "tensorflow", "jax"]), st.floats(-5, 1e4)), max_size=4),
       data=st.data())
def test_the_estimate_is_never_negative_and_falls_as_training_goes_on_at_constant_speed(
        epochs, steps_per_epoch, seconds_per_step, overhead, frameworks, finished, data):
    total = epochs * steps_per_epoch
    first, second = sorted(data.draw(st.lists(st.integers(1, total), min_size=2, max_size=2)))
    planned = [PlannedRun(name, epochs) for name in frameworks]
    done = [FinishedRun(name, seconds) for name, seconds in finished]

    def left(steps: int) -> float:
        current = CurrentRun("pytorch", epochs, steps // steps_per_epoch, steps % steps_per_epoch, steps_per_epoch,
                             overhead + seconds_per_step * steps)
        estimate = estimate_remaining(current, planned, done)
        assert estimate.seconds is not None and estimate.seconds >= 0
        return estimate.seconds

    assert left(second) <= left(first) * (1 + 1e-9) + 1e-9
    if not planned:
        assert left(total) == pytest.approx(0.0, abs=1e-6)


# --- a job in the store, as the Train page's status panel reads it ---

def comparison(statuses, epochs=2):
    runs = []
    for position, (framework, status, started, ended) in enumerate(statuses):
        runs.append(run_record(framework, id=f"r{position}", position=position, status=status, spec={"epochs": epochs},
                               started_at=started, finished_at=ended))
    return comparison_record(runs)


def test_a_running_job_says_framework_epoch_step_elapsed_and_time_left():
    comp = comparison([("pytorch", "finished", 100.0, 160.0), ("tensorflow", "running", 160.0, None),
                       ("pytorch", "queued", None, None), ("tensorflow", "queued", None, None)])
    job = job_record(status="running", created_at=90.0, started_at=95.0,
                     progress={"run_id": "r1", "framework": "tensorflow", "event": "progress", "epoch": 1, "step": 10,
                               "steps_per_epoch": 20, "epochs": 2})
    status = job_status(job, comp, now=190.0)
    assert (status.state, status.framework, status.run_number, status.runs) == ("training", "tensorflow", 2, 4)
    assert status.elapsed == 95.0
    # TensorFlow: 30 s for 3/4 of its run, so 10 s left and 40 s for the next; PyTorch's next takes 60 s.
    assert status.estimate == Estimate(10.0 + 60.0 + 40.0)
    assert status.fraction == pytest.approx((1 + 0.75) / 4)
    assert status.headline() == "TensorFlow · run 2 of 4 · epoch 2 of 2 · step 10 of 20"


def test_a_job_before_its_first_step_after_its_last_epoch_and_while_waiting():
    comp = comparison([("pytorch", "running", 100.0, None), ("tensorflow", "queued", None, None)])
    job = job_record(status="running", created_at=90.0, started_at=95.0, progress=None)
    status = job_status(job, comp, now=110.0)
    assert status.state == "starting" and status.estimate == Estimate(None)
    assert "starting" in status.headline() and format_left(status.estimate) == "estimating…"
    job = replace(job, progress={"run_id": "r0", "framework": "pytorch", "event": "started", "epochs": 2})
    assert job_status(job, comp, now=110.0).state == "starting"

    job = replace(job, progress={"run_id": "r0", "framework": "pytorch", "event": "epoch", "epoch": 2, "step": 0,
                                 "completed_epochs": 2, "epochs": 2})
    status = job_status(job, comp, now=110.0)
    assert status.state == "evaluating" and status.estimate == Estimate(10.0, rough=True)  # TensorFlow timed by PyTorch
    assert "epoch 2 of 2 done" in status.headline()

    queued = job_status(job_record(status="queued", created_at=90.0), comp, now=100.0)
    assert (queued.state, queued.elapsed, queued.headline()) == ("waiting", 10.0, "waiting for the device")

    trials = job_status(job_record(status="running", created_at=90.0, started_at=95.0,
                                   progress={"run_id": "trial-pytorch-compile", "framework": "pytorch", "event": "progress"}),
                        comparison([("pytorch", "queued", None, None)]), now=100.0)
    assert trials.state == "trying modes" and trials.headline().startswith("PyTorch · trying its modes")


# --- the CLI's bars say the same ---

def test_the_cli_bars_show_the_comparisons_elapsed_and_remaining_time():
    from core.cli.progress import RunProgress

    now = [0.0]
    progress = RunProgress(enabled=False, clock=lambda: now[0])
    trial = {"run_id": "trial-pytorch-eager", "framework": "pytorch", "repeat": 0, "epochs": 1}
    progress.update(trial, {"type": "started"})
    progress.update(trial, {"type": "finished"})  # a best-of-each trial times no run of the comparison
    assert progress.finished == []
    first = {"run_id": "a", "framework": "pytorch", "repeat": 0, "position": 0, "runs": 2, "epochs": 1}
    progress.update(first, {"type": "started", "environment": {"device": "cpu"}})
    assert progress.comparison_summary(first, {"type": "started"}) == "all runs: 0 s elapsed, estimating… left"
    now[0] = 10.0
    event = {"type": "progress", "epoch": 0, "step": 5, "steps_per_epoch": 10, "epochs": 1}
    progress.update(first, event)
    # 10 s for half the run: 10 s left, and about 20 s for the other framework's run.
    assert progress.comparison_summary(first, event) == "all runs: 10 s elapsed, about 30 s left"
    assert "about 30 s left" in progress.bars["a"].postfix
    now[0] = 20.0
    progress.update(first, {"type": "finished"})
    second = {**first, "run_id": "b", "framework": "tensorflow", "position": 1}
    now[0] = 30.0
    progress.update(second, {"type": "started"})
    event = {"type": "progress", "epoch": 0, "step": 0, "steps_per_epoch": 10, "epochs": 1}
    assert progress.comparison_summary(second, event) == "all runs: 30 s elapsed, about 20 s left"
    now[0] = 35.0
    event = {"type": "progress", "epoch": 0, "step": 5, "steps_per_epoch": 10, "epochs": 1}
    assert progress.comparison_summary(second, event) == "all runs: 35 s elapsed, 5 s left"
    assert progress.comparison_summary({"run_id": "x", "framework": "jax", "repeat": 0}, event) is None
    progress.close()
