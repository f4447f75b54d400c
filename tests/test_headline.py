import io
import json
from contextlib import redirect_stdout

from core.analysis.headline import TIME_TO_TRAIN, headlines, rounded
from core.analysis.report import comparison_json
from core.cli.output import print_comparison
from core.results import RunResult
from tests.records import comparison_record, run_record

BATCH, STEPS = 32, 100
# Run-to-run noise, the same factors for every framework: small enough for a decided ratio.
NOISE = (0.99, 1.0, 1.01)


def runs_of(framework, step_seconds, fixed_seconds, noise=NOISE):
    """Repeats whose training time is a fixed cost plus STEPS steady steps of ``step_seconds``."""
    return [run_record(framework, repeat=repeat, spec={"batch_size": BATCH, "epochs": 1},
                       result=RunResult(steady_images_per_second=BATCH / step_seconds * factor,
                                        train_seconds=(fixed_seconds + STEPS * step_seconds) * factor,
                                        steps_per_epoch=STEPS))
            for repeat, factor in enumerate(noise)]


def comparison_of(*runs, frameworks="pytorch,tensorflow"):
    return comparison_record([run for framework_runs in runs for run in framework_runs], frameworks=frameworks)


def test_a_large_warm_up_makes_the_steady_speed_winner_finish_later_below_the_break_even():
    # TensorFlow steps 1.54× faster but carries 0.6 s more fixed cost: PyTorch finishes these 100
    # steps first, and TensorFlow catches up after 0.6 / (0.010 - 0.0065) ≈ 171 steps.
    comparison = comparison_of(runs_of("pytorch", 0.010, 0.1), runs_of("tensorflow", 0.0065, 0.7))
    [headline] = headlines(comparison)
    assert headline.time_to_train.winner == "pytorch" and headline.steady_speed.winner == "tensorflow"
    expected = 0.6 / (0.010 - 0.0065)
    assert abs(headline.break_even.steps - expected) / expected < 0.03
    assert headline.break_even.images == headline.break_even.steps * BATCH
    assert "PyTorch finishes first for runs under ~170 steps" in headline.break_even.sentence
    assert [line.split(":")[0] for line in headline.lines()] == [TIME_TO_TRAIN, "Steady speed", "Break-even"]


def test_equal_figures_are_equivalent_on_both_answers_without_a_break_even():
    comparison = comparison_of(runs_of("pytorch", 0.010, 0.2), runs_of("tensorflow", 0.010, 0.2))
    [headline] = headlines(comparison)
    assert headline.time_to_train.equivalent and headline.steady_speed.equivalent
    assert headline.break_even is None
    assert headline.lines()[0].startswith("Time to train this: equivalent")


def test_an_undecided_time_to_train_draws_no_break_even():
    noisy = (0.7, 1.0, 1.4)
    comparison = comparison_of(runs_of("pytorch", 0.010, 0.1, noisy), runs_of("tensorflow", 0.0065, 0.7, (1.3, 0.8, 1.0)))
    [headline] = headlines(comparison)
    assert headline.time_to_train.undecided and headline.break_even is None


def test_three_frameworks_give_one_pair_of_answers_per_other_framework():
    comparison = comparison_of(runs_of("pytorch", 0.010, 0.1), runs_of("tensorflow", 0.0065, 0.7),
                               runs_of("jax", 0.008, 0.3), frameworks="pytorch,tensorflow,jax")
    assert [(h.first, h.second) for h in headlines(comparison)] == [("pytorch", "tensorflow"), ("pytorch", "jax")]
    assert [(h.first, h.second) for h in headlines(comparison, "jax")] == [("jax", "pytorch"), ("jax", "tensorflow")]


def test_a_comparison_without_results_has_no_headline():
    failed = comparison_record([run_record("pytorch", status="failed", error_kind="crashed", error_message="boom")],
                               frameworks="pytorch,tensorflow")
    assert headlines(failed) == []


def test_runs_that_did_not_record_their_training_time_still_get_both_lines():
    comparison = comparison_of(runs_of("pytorch", 0.010, 0.1), runs_of("tensorflow", 0.0065, 0.7))
    without_time = comparison_record([run_record(r.framework, repeat=r.repeat, spec={"batch_size": BATCH},
                                                 result=r.result.model_copy(update={"train_seconds": None}))
                                      for r in comparison.runs])
    [headline] = headlines(without_time)
    assert headline.lines()[0] == "Time to train this: not measured by these runs."
    assert headline.break_even is None


def test_the_cli_and_the_json_give_the_same_answers():
    comparison = comparison_of(runs_of("pytorch", 0.010, 0.1), runs_of("tensorflow", 0.0065, 0.7))
    [headline] = headlines(comparison)
    printed = io.StringIO()
    with redirect_stdout(printed):
        print_comparison(comparison)
    text = printed.getvalue()
    assert all(f"  {line}" in text for line in headline.lines())
    assert text.index("Time to train this:") < text.index("Verdict")
    exported = json.loads(json.dumps(comparison_json(comparison)))["headline"]
    [pair] = exported["pairs"]
    assert exported["baseline"] == "pytorch" and pair["frameworks"] == ["pytorch", "tensorflow"]
    assert pair["time_to_train"]["winner"] == "pytorch" and pair["steady_speed"]["winner"] == "tensorflow"
    assert pair["break_even"]["steps"] == headline.break_even.steps


def test_break_even_counts_keep_two_significant_digits():
    assert (rounded(47), rounded(171), rounded(3967), rounded(128_400)) == (47, 170, 4000, 130_000)
