"""Run until decided without the frameworks: repeats added to a stored comparison, and when to stop."""

import numpy as np
import pytest

from core.cli.parser import parse_duration
from core.cli.until_decided import RepeatUntilDecided, report_undecided, settle_command
from core.engine.compare import add_repeat, run_specs
from core.errors import BadInput
from core.results import RunResult
from core.spec import RunSpec
from core.store.queries import Store

FRAMEWORKS = ["pytorch", "tensorflow"]


@pytest.fixture()
def store(tmp_path):
    opened = Store(tmp_path / "runs.sqlite")
    yield opened
    opened.close()


def queued(store, spec):
    comparison_id, _ = store.create_comparison(spec.comparison_settings(), FRAMEWORKS, run_specs(spec, FRAMEWORKS))
    return comparison_id


def finish_queued(store, comparison_id, speeds, rng, memory=(100.0, 100.0)):
    """Finish every queued run: images/s with 3 % noise around each framework's speed."""
    for run in store.comparison(comparison_id).runs:
        if run.status != "queued":
            continue
        index = FRAMEWORKS.index(run.framework)
        store.mark_running(run.id)
        store.finish_run(run.id, RunResult(steady_images_per_second=speeds[index] * float(np.exp(rng.normal(0, 0.03))),
                                              peak_host_rss_bytes=memory[index] * 2**20, warmup_seconds=0.5))


def test_an_added_repeat_is_one_run_of_each_in_alternating_order_with_the_next_seed(store):
    comparison_id = queued(store, RunSpec(repeats=2, seed=5))
    assert add_repeat(store, comparison_id) and add_repeat(store, comparison_id)
    comparison = store.comparison(comparison_id)
    runs = sorted(comparison.runs, key=lambda run: run.position)
    assert [(run.repeat, run.framework) for run in runs[4:]] == [
        (2, "pytorch"), (2, "tensorflow"), (3, "tensorflow"), (3, "pytorch")]
    assert [run.spec.seed for run in runs[4:]] == [7, 7, 8, 8]
    assert all(run.status == "queued" for run in runs[4:])
    assert comparison.settings.repeats == 4  # the comparison says how many it now has


def test_no_repeat_is_added_past_the_settings_limits(store):
    comparison_id = queued(store, RunSpec(repeats=50))
    assert not add_repeat(store, comparison_id)
    assert len(store.comparison(comparison_id).runs) == 100


def test_a_clear_difference_stops_asking_for_repeats(store):
    comparison_id = queued(store, RunSpec(repeats=3))
    finish_queued(store, comparison_id, (1500.0, 1000.0), np.random.default_rng(1), memory=(100.0, 100.5))
    lines = []
    until = RepeatUntilDecided(store, 0.05, 120.0, lines.append, clock=lambda: 0.0)
    assert until(comparison_id) is False  # speed a winner, memory and warm-up equivalent
    assert lines[0].startswith("3 pairs, PyTorch / TensorFlow · Training speed 1.") and "decided · Memory equivalent (±5 %)" in lines[0]
    assert report_undecided(until) == []


def test_a_close_call_asks_for_more_until_the_budget_would_run_out(store):
    comparison_id = queued(store, RunSpec(repeats=2))
    rng = np.random.default_rng(2)
    finish_queued(store, comparison_id, (1030.0, 1000.0), rng)
    now = [0.0]
    until = RepeatUntilDecided(store, 0.05, 100.0, lambda line: None, clock=lambda: now[0])
    assert until(comparison_id) is True and not until.out_of_budget  # the budget starts at the first ask
    now[0] = 100.5
    assert until(comparison_id) is False and until.out_of_budget
    lines = report_undecided(until, ["compare", "--until-decided", "--budget", "100s"])
    assert lines[0].startswith("Training speed: undecided after 2 pairs")
    assert lines[-1].startswith("to settle it: python -m core compare --until-decided --budget ") or \
        lines[-1].startswith("no budget would settle")


def test_the_settling_command_replaces_the_budget():
    assert settle_command(["compare", "--until-decided", "--budget", "2m", "--epochs", "1"], 361.2) == \
        "python -m core compare --until-decided --epochs 1 --budget 362s"
    assert settle_command(["compare", "--budget=5s", "--until-decided"], 10) == \
        "python -m core compare --until-decided --budget 10s"


@pytest.mark.parametrize(("text", "seconds"), [("120s", 120), ("5m", 300), ("1h", 3600), ("90", 90), ("2.5 min", 150)])
def test_budgets_as_people_write_them(text, seconds):
    assert parse_duration("budget", text) == seconds


@pytest.mark.parametrize("text", ["soon", "0", "-5s", "3d", ""])
def test_budgets_that_cannot_work_are_refused_naming_the_flag(text):
    with pytest.raises(BadInput, match="^budget must"):
        parse_duration("budget", text)
