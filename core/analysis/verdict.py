"""The comparison in words: who is faster, leaner and more accurate, or why that cannot be said.

A timed or memory ratio has three outcomes (core.analysis.equivalence): a winner when its 95 %
interval excludes "equal" and reaches beyond the equivalence margin, *equivalent* when the whole
interval lies within the margin, and *undecided* otherwise, with the runs that would settle it.
Runs that cannot be judged at all (an unsteady run, two machines, one run each) make the decision
"inconclusive" with the reason; accuracy has a winner or is inconclusive. The CLI table, the
pages and the JSON export all read these decisions (docs/statistics.md).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis.equivalence import DEFAULT_MARGIN, classify_ratio, format_margin
from core.analysis.ratio_text import bounded, format_ratio, ratio_range, readable_interval
from core.analysis.runs_needed import describe_runs_needed, runs_needed
from core.analysis.uncertainty import (
    CONFIDENCE,
    Interval,
    McNemar,
    mcnemar_exact,
    mean_difference_interval,
    ratio_interval,
    step_bootstrap_ratio,
)
from core.correctness import unpack_correct
from core.frameworks import label
from core.records import Comparison, Run
from core.results import PEAK_MEMORY_FIGURES, RunResult

SIGNIFICANCE = 1 - CONFIDENCE
# A steady step whose 90th percentile is several times its median, or a mean step well above the
# median (a few very long steps), means the run was interrupted (other programs, a browser
# redrawing a page, thermal limits): its throughput, which is the mean, is then unreliable.
UNSTABLE_P90_OVER_MEDIAN = 3.0
UNSTABLE_MEAN_OVER_MEDIAN = 1.5
# Figures measured over timed windows, which other work on the machine disturbs (energy too).
TIMING_UNITS = ("per_s", "ms", "s", "J")


def finished_runs(runs: Sequence[Run], framework: str) -> list[Run]:
    return [r for r in runs if r.framework == framework and r.status == "finished" and r.result]


def finished_results(runs: Sequence[Run], framework: str) -> list[RunResult]:
    return [r.result for r in finished_runs(runs, framework) if r.result is not None]


def _ratio_range(interval: Interval) -> str:
    return ratio_range(interval.low, interval.high)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Decision:
    """One question answered for one pair of frameworks.

    ``interval`` is oriented so that the leader is ahead: a ratio ≥ 1 (how many times faster or
    larger the trailer's figure is) or a difference in accuracy points ≥ 0.
    """

    topic: str
    key: str
    first: str
    second: str
    leader: str | None
    winner: str | None
    interval: Interval | None
    reason: str | None
    sentence: str
    short: str  # for the table's "Ahead" column
    mcnemar: McNemar | None = None
    disturbed: bool = False  # a run was unsteady, so a timing could not be judged
    equivalent: bool = False  # the whole interval lies within ±margin
    undecided: bool = False  # judged, but the interval is still too wide to settle
    margin: float | None = None  # the equivalence margin a ratio was judged with
    runs_needed: int | None = None  # more paired runs projected to settle an undecided ratio

    @property
    def outcome(self) -> str:
        """'winner', 'equivalent' or 'inconclusive' (undecided, or not judged)."""
        return "winner" if self.winner else "equivalent" if self.equivalent else "inconclusive"

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic, "metric": self.key, "frameworks": [self.first, self.second],
            "leader": self.leader, "winner": self.winner,
            "decision": self.outcome, "reason": self.reason, "margin": self.margin, "runs_needed": self.runs_needed,
            "interval": self.interval.as_dict() if self.interval else None,
            "mcnemar": self.mcnemar.as_dict() if self.mcnemar else None, "sentence": self.sentence,
        }


def unsteadiness(run: Run) -> str | None:
    """Why this run's timings cannot be trusted, or None when its steps were steady."""
    result, batch_size = run.result, run.spec.batch_size
    if result is None:
        return None
    median, p90, images_per_second = result.step_ms_median, result.step_ms_p90, result.steady_images_per_second
    if not median:
        return None
    if p90 and p90 > UNSTABLE_P90_OVER_MEDIAN * median:
        return f"p90 {p90 / median:.0f}× the median step"
    mean = 1000.0 * batch_size / images_per_second if images_per_second else None
    if mean and mean > UNSTABLE_MEAN_OVER_MEDIAN * median:
        return f"mean step {mean / median:.1f}× the median"
    return None


def disturbance(runs: Sequence[Run], frameworks: Iterable[str]) -> str | None:
    """'PyTorch (p90 12× the median step)': the frameworks with an unsteady run, and the first reason."""
    named = []
    for framework in frameworks:
        reason = next(filter(None, map(unsteadiness, finished_runs(runs, framework))), None)
        if reason:
            named.append(f"{label(framework)} ({reason})")
    return ", ".join(named) or None


def machine(run: Run) -> str | None:
    """The machine a run trained on, as its environment names it (a Ray node's hostname, or the
    worker's); None for runs stored before runs recorded it."""
    environment = run.environment or {}
    return environment.get("node_hostname") or environment.get("hostname")


def machines(runs: Sequence[Run], frameworks: Iterable[str]) -> list[str]:
    """The distinct machines the finished runs of ``frameworks`` trained on, in order of appearance."""
    named = [machine(run) for framework in frameworks for run in finished_runs(runs, framework)]
    return list(dict.fromkeys(name for name in named if name))


def _values(runs: Sequence[Run], framework: str, key: str) -> list[float]:
    return [float(r.figure(key)) for r in finished_results(runs, framework) if r.figure(key) is not None]


def _steady_windows(run: Run) -> list[float]:
    """Mean step time of each steady timing window: one step each on a CPU, 20 on a GPU, where
    the steps inside a window were never timed apart and must not be resampled as if they were."""
    return [s.milliseconds for s in run.step_samples if not s.warmup]


def _invert(interval: Interval) -> Interval:
    """first/second as second/first."""
    def flip(value: float | None) -> float | None:
        return None if value is None else 1.0 / value

    return Interval(1.0 / interval.estimate, flip(interval.high), flip(interval.low), interval.samples,
                    interval.method, interval.confidence)


def ratio_decision(runs: Sequence[Run], first: str, second: str, topic: str, key: str,
                   higher_is_better: bool, phrase: str, timing: bool, margin: float = DEFAULT_MARGIN) -> Decision | None:
    """Speed, memory or time: a ratio with its interval; a winner, equivalent within ±``margin``,
    or undecided with the paired runs that would settle it.

    ``phrase`` completes "PyTorch is 1.31× ...", e.g. "faster than".
    """
    a, b = _values(runs, first, key), _values(runs, second, key)
    if not a or not b or min(a + b) <= 0:
        return None
    interval = ratio_interval(a, b)  # first / second
    if not 0 < interval.estimate < math.inf:
        return None  # figures so far apart that their ratio is not a float (an imported file's, say)
    if interval.samples < 2 and key == "steady_images_per_second":
        interval = _single_run_speed_interval(runs, first, second) or interval
    first_ahead = interval.estimate >= 1 if higher_is_better else interval.estimate <= 1
    # Leader over trailer for "higher is better", trailer over leader otherwise: ≥ 1 either way.
    oriented = interval if first_ahead == higher_is_better else _invert(interval)
    leader, trailer = (first, second) if first_ahead else (second, first)
    estimate = f"{label(leader)} is {format_ratio(oriented.estimate)} {phrase} {label(trailer)}"
    busy = disturbance(runs, (first, second)) if timing else None
    hosts = machines(runs, (first, second))
    reason = None
    if len(hosts) > 1:
        reason = f"the runs trained on different machines ({', '.join(hosts)})"
    elif busy:
        reason = f"the machine was busy during {busy}"
    elif interval.samples < 2:
        reason = "fewer than two runs of each, so run-to-run variation is unknown"
    if reason is None:
        return _judged_ratio(runs, first, second, topic, key, oriented, estimate, leader, margin)
    detail = f"{estimate}" + (f", {readable_interval(oriented)}" if oriented.known else "")
    if interval.method == "bootstrap over steps" and oriented.known:
        detail += " from the steps of one run each"
    sentence = f"{topic}: inconclusive, {reason} ({detail})."
    short = ("inconclusive (machines)" if len(hosts) > 1 else "inconclusive (busy)" if busy
             else "inconclusive (1 run)" if interval.samples < 2 else "inconclusive")
    return Decision(topic, key, first, second, leader, None, oriented, reason, sentence, short, disturbed=bool(busy),
                    margin=margin)


def _judged_ratio(runs: Sequence[Run], first: str, second: str, topic: str, key: str, oriented: Interval,
                  estimate: str, leader: str, margin: float) -> Decision:
    """The three outcomes for a ratio whose runs can be judged (two or more each, steady, one machine)."""
    count = f"{oriented.samples} runs each"
    outcome = classify_ratio(oriented.low, oriented.high, margin).outcome
    if outcome == "winner":
        sentence = f"{topic}: {estimate} ({readable_interval(oriented)}, {count})."
        short = f"{label(leader)} {format_ratio(oriented.estimate)} [{_ratio_range(oriented)}]"
        return Decision(topic, key, first, second, leader, leader, oriented, None, sentence, short, margin=margin)
    within = f"within ±{format_margin(margin)}"
    if outcome == "equivalent":
        sentence = f"{topic}: equivalent, {within} ({estimate}, {readable_interval(oriented)}, {count})."
        return Decision(topic, key, first, second, leader, None, oriented, None, sentence, f"equivalent ({within})",
                        equivalent=True, margin=margin)
    spreads = [float(np.std(np.log(_values(runs, framework, key)), ddof=1)) for framework in (first, second)]
    more = runs_needed(math.log(oriented.estimate), spreads, oriented.samples, margin)
    reason = (f"the 95 % interval {_ratio_range(oriented)}× includes equal and reaches beyond ±{format_margin(margin)}"
              if bounded(oriented) else readable_interval(oriented))
    sentence = f"{topic}: undecided, {reason} ({estimate}); {describe_runs_needed(more)}."
    return Decision(topic, key, first, second, leader, None, oriented, reason, sentence, "undecided", undecided=True,
                    margin=margin, runs_needed=more)


def _single_run_speed_interval(runs: Sequence[Run], first: str, second: str) -> Interval | None:
    """With one run each, the steps' spread is all there is: a bootstrap over each run's steps."""
    one, other = finished_runs(runs, first), finished_runs(runs, second)
    if len(one) != 1 or len(other) != 1:
        return None
    a, b = _steady_windows(one[0]), _steady_windows(other[0])
    if len(a) < 2 or len(b) < 2:
        return None
    return step_bootstrap_ratio(a, b)


def _pairs_by_seed(runs: Sequence[Run], first: str, second: str) -> list[tuple[RunResult, RunResult]]:
    """The results of one pair of runs per seed, the two frameworks from the same repeat (so the same
    initial weights, order and test set); repeats of a seed already paired (--same-seed) add nothing."""
    def scored(framework: str) -> dict[tuple[Any, Any], RunResult]:
        return {(r.spec.seed, r.repeat): r.result for r in finished_runs(runs, framework)
                if r.result is not None and r.result.test_accuracy is not None}

    mine, theirs = scored(first), scored(second)
    pairs: dict[Any, tuple[RunResult, RunResult]] = {}
    for key in sorted(mine, key=lambda k: (str(k[0]), k[1])):
        if key in theirs and key[0] not in pairs:
            pairs[key[0]] = (mine[key], theirs[key])
    return list(pairs.values())


def accuracy_decision(runs: Sequence[Run], first: str, second: str) -> Decision | None:
    """Across seeds: mean paired difference with a t interval. One seed: exact McNemar."""
    pairs = _pairs_by_seed(runs, first, second)
    if not pairs:
        return None
    differences = [100 * ((a.test_accuracy or 0.0) - (b.test_accuracy or 0.0)) for a, b in pairs]
    interval = mean_difference_interval(differences)
    first_ahead = interval.estimate >= 0
    leader, trailer = (first, second) if first_ahead else (second, first)
    if not first_ahead:
        interval = Interval(-interval.estimate, None if interval.high is None else -interval.high,
                            None if interval.low is None else -interval.low, interval.samples, interval.method)
    points = f"{label(leader)} {interval.estimate:.1f} points higher"
    topic, key = "Accuracy", "test_accuracy"
    # Seeds that all gave the very same difference (accuracy moves in whole images) have no
    # spread to judge by: they say no more than one seed does.
    if len(pairs) >= 2 and not (interval.low == interval.high == interval.estimate):
        seeds = f"{len(pairs)} seeds"
        ci = f"95 % CI {interval.low:+.1f} to {interval.high:+.1f} points"
        if interval.excludes(0.0):
            return Decision(topic, key, first, second, leader, leader, interval, None,
                            f"{topic}: {points} on the test set ({ci}, {seeds}).",
                            f"{label(leader)} +{interval.estimate:.1f} pts [{interval.low:.1f}–{interval.high:.1f}]")
        reason = f"the 95 % interval over {seeds} includes equal"
        return Decision(topic, key, first, second, leader, None, interval, reason,
                        f"{topic}: inconclusive, {reason} ({points} on average, {ci}).", "inconclusive")
    one_seed = "one seed" if len(pairs) == 1 else f"{len(pairs)} seeds with identical differences, so as one seed"
    test = _mcnemar(*pairs[0])
    if test is None:
        reason = f"{one_seed}, and the runs did not record which test images they got right"
        return Decision(topic, key, first, second, leader, None, interval, reason,
                        f"{topic}: inconclusive, {reason} ({points}).", "inconclusive (1 seed)")
    if first != leader:
        test = McNemar(test.only_second, test.only_first, test.p_value)
    counts = f"{test.only_first} test images right only in {label(leader)}, {test.only_second} only in {label(trailer)}"
    evidence = f"exact McNemar p = {test.p_value:.3g}"
    if test.p_value < SIGNIFICANCE:
        return Decision(topic, key, first, second, leader, leader, interval, None,
                        f"{topic}: {points} on the test set ({counts}; {evidence}; {one_seed}: these trained "
                        f"models, not every seed).", f"{label(leader)} +{interval.estimate:.1f} pts (p {test.p_value:.2g})",
                        test)
    reason = f"{one_seed}, and the difference between the two models is not significant ({evidence})"
    return Decision(topic, key, first, second, leader, None, interval, reason,
                    f"{topic}: inconclusive, {reason}; {points}, {counts}.", "inconclusive", test)


def _mcnemar(a: RunResult, b: RunResult) -> McNemar | None:
    bits_a, bits_b = a.test_correct_bits, b.test_correct_bits
    count = a.test_images
    if not bits_a or not bits_b or not count or count != b.test_images:
        return None
    return mcnemar_exact(unpack_correct(bits_a, count), unpack_correct(bits_b, count))


def memory_decision(runs: Sequence[Run], first: str, second: str,
                    margin: float = DEFAULT_MARGIN) -> Decision | None:
    for key, measured_on in PEAK_MEMORY_FIGURES:
        where = f"peak {measured_on} memory"
        decision = ratio_decision(runs, first, second, "Memory", key, False, f"less {where} than", timing=False,
                                  margin=margin)
        if decision is None or decision.interval is None or decision.leader is None:
            continue
        interval = decision.interval
        saving = 1 - 1 / interval.estimate
        less = f"{label(decision.leader)} uses {100 * saving:.0f} % less {where} than {label(_other(decision))}"
        if decision.winner and interval.low is not None and interval.high is not None:
            low, high = 1 - 1 / interval.low, 1 - 1 / interval.high
            sentence = f"Memory: {less} (95 % CI {100 * low:.0f}–{100 * high:.0f} %, {interval.samples} runs each)."
        elif decision.equivalent:
            sentence = (f"Memory: equivalent, {where} within ±{format_margin(margin)} ({less}, "
                        f"{readable_interval(interval)}, {interval.samples} runs each).")
        elif decision.undecided:
            sentence = f"Memory: undecided, {decision.reason} ({less}); {describe_runs_needed(decision.runs_needed)}."
        else:
            sentence = f"Memory: inconclusive, {decision.reason} ({less})."
        return dataclasses.replace(decision, sentence=sentence)
    return None


def _other(decision: Decision) -> str:
    return decision.second if decision.leader == decision.first else decision.first


def pair_decisions(runs: Sequence[Run], first: str, second: str,
                   margin: float = DEFAULT_MARGIN) -> list[Decision]:
    """The verdict's questions for one pair, most asked first."""
    candidates = [
        ratio_decision(runs, first, second, "Training speed", "steady_images_per_second", True, "faster than", True,
                       margin),
        ratio_decision(runs, first, second, "Energy per image", "energy_joules_per_image", False,
                       "more energy-efficient per image than", True, margin),
        accuracy_decision(runs, first, second),
        memory_decision(runs, first, second, margin),
        ratio_decision(runs, first, second, "Warm-up", "warmup_seconds", False, "quicker to warm up than", True, margin),
        ratio_decision(runs, first, second, "Inference latency", "inference_ms_batch1", False,
                       "quicker at batch 1 than", True, margin),
    ]
    return [d for d in candidates if d is not None]


def comparison_frameworks(comparison: Comparison, baseline: str | None = None) -> list[str]:
    """The comparison's frameworks in its order, the baseline (if one of them) moved first."""
    frameworks = [fw for fw in comparison.frameworks if fw]
    if baseline in frameworks:
        frameworks.remove(baseline)
        frameworks.insert(0, baseline)
    return frameworks


def findings(comparison: Comparison, baseline: str | None = None, margin: float = DEFAULT_MARGIN) -> list[Decision]:
    """Every decision, the baseline (by default the first framework) against each other one."""
    frameworks = comparison_frameworks(comparison, baseline)
    return [d for other in frameworks[1:] for d in pair_decisions(comparison.runs, frameworks[0], other, margin)]


def metric_decision(runs: Sequence[Run], first: str, second: str, key: str, unit: str,
                    higher_is_better: bool, margin: float = DEFAULT_MARGIN) -> Decision | None:
    """The same rule for any figure of the table."""
    if key == "test_accuracy":
        return accuracy_decision(runs, first, second)
    phrase = "higher than" if higher_is_better else "lower than"
    return ratio_decision(runs, first, second, key, key, higher_is_better, phrase, timing=unit in TIMING_UNITS,
                          margin=margin)

