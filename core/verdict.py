"""The comparison in words: who is faster, leaner and more accurate, and when it is only noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.report import NOISE_POINTS, NOISE_RATIO, finished_results, finished_runs, format_ratio
from core.spec import FRAMEWORK_LABELS, FRAMEWORKS


@dataclass(frozen=True)
class Finding:
    topic: str
    sentence: str
    within_noise: bool


def _values(runs: list[dict[str, Any]], framework: str, key: str) -> list[float]:
    return [float(r[key]) for r in finished_results(runs, framework) if r.get(key) is not None]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def ratio_finding(topic: str, runs: list[dict[str, Any]], key: str, higher_is_better: bool,
                  better_word: str, worse_word: str) -> Finding | None:
    """Compare medians; with repeats, the ratio's range comes from the extremes of each side.

    When that range includes 1 (or, for single runs, the ratio is under the noise threshold),
    the finding says so rather than naming a winner.
    """
    first, second = "pytorch", "tensorflow"
    a, b = _values(runs, first, key), _values(runs, second, key)
    if not a or not b or min(a + b) <= 0:
        return None
    leader, trailer = (first, second) if (_median(a) >= _median(b)) == higher_is_better else (second, first)
    lead, trail = (a, b) if leader == first else (b, a)
    ratio = _median(lead) / _median(trail) if higher_is_better else _median(trail) / _median(lead)
    if len(lead) > 1 and len(trail) > 1:
        low = min(lead) / max(trail) if higher_is_better else min(trail) / max(lead)
        high = max(lead) / min(trail) if higher_is_better else max(trail) / min(lead)
        spread = f" (range {low:.2f}–{high:.2f} over {min(len(lead), len(trail))} repeats)"
        noise = low <= 1.0
    else:
        spread = ""
        noise = ratio < NOISE_RATIO
    if noise:
        return Finding(topic, f"{topic}: within noise, {format_ratio(ratio)}{spread}.", True)
    label, other = FRAMEWORK_LABELS[leader], FRAMEWORK_LABELS[trailer]
    return Finding(topic, f"{topic}: {label} is {format_ratio(ratio)} {better_word} than {other}{spread}.", False)


def memory_finding(runs: list[dict[str, Any]]) -> Finding | None:
    for key, where in (("peak_device_memory_bytes", "peak device memory"), ("peak_host_rss_bytes", "peak host memory")):
        a, b = _values(runs, "pytorch", key), _values(runs, "tensorflow", key)
        if a and b:
            ma, mb = _median(a), _median(b)
            smaller, larger = ("pytorch", "tensorflow") if ma <= mb else ("tensorflow", "pytorch")
            saving = 1 - min(ma, mb) / max(ma, mb)
            if saving < NOISE_RATIO - 1:
                return Finding("Memory", f"Memory: about the same {where} (within {100 * saving:.0f} %).", True)
            return Finding("Memory", f"Memory: {FRAMEWORK_LABELS[smaller]} uses {100 * saving:.0f} % less {where} "
                                     f"than {FRAMEWORK_LABELS[larger]}.", False)
    return None


def accuracy_finding(runs: list[dict[str, Any]]) -> Finding | None:
    a, b = _values(runs, "pytorch", "test_accuracy"), _values(runs, "tensorflow", "test_accuracy")
    if not a or not b:
        return None
    points = 100 * (_median(a) - _median(b))
    if abs(points) < NOISE_POINTS:
        return Finding("Accuracy", f"Accuracy: within {abs(points):.1f} points of each other.", True)
    better = "PyTorch" if points > 0 else "TensorFlow"
    return Finding("Accuracy", f"Accuracy: {better} is {abs(points):.1f} points higher on the test set.", False)


# A steady step whose 90th percentile is several times its median, or a mean step well above the
# median (a few very long steps), means the run was interrupted (other programs, a browser
# redrawing a page, thermal limits): its throughput, which is the mean, is then unreliable.
UNSTABLE_P90_OVER_MEDIAN = 3.0
UNSTABLE_MEAN_OVER_MEDIAN = 1.5


def _unsteadiness(run: dict[str, Any]) -> str | None:
    result, batch_size = run["result"], run["spec"]["batch_size"]
    median, p90, images_per_second = (result.get("step_ms_median"), result.get("step_ms_p90"),
                                      result.get("steady_images_per_second"))
    if not median:
        return None
    if p90 and p90 > UNSTABLE_P90_OVER_MEDIAN * median:
        return f"p90 {p90 / median:.0f}× the median step"
    mean = 1000.0 * batch_size / images_per_second if images_per_second else None
    if mean and mean > UNSTABLE_MEAN_OVER_MEDIAN * median:
        return f"mean step {mean / median:.1f}× the median"
    return None


def stability_finding(runs: list[dict[str, Any]]) -> Finding | None:
    unstable = []
    for framework in FRAMEWORKS:
        # The first unsteady repeat is reason enough to name the framework.
        reason = next(filter(None, map(_unsteadiness, finished_runs(runs, framework))), None)
        if reason:
            unstable.append(f"{FRAMEWORK_LABELS[framework]} ({reason})")
    if not unstable:
        return None
    return Finding("Timing", "Timing: unsteady steps in " + ", ".join(unstable) + "; something else used the machine "
                   "during the run, so treat the speed figures with care and run again on a quiet machine.", True)


def findings(comparison: dict[str, Any]) -> list[Finding]:
    runs = comparison["runs"]
    candidates = [
        stability_finding(runs),
        ratio_finding("Training speed", runs, "steady_images_per_second", True, "faster", "slower"),
        memory_finding(runs),
        accuracy_finding(runs),
        ratio_finding("Warm-up", runs, "warmup_seconds", False, "quicker to warm up", "slower"),
        ratio_finding("Inference latency", runs, "inference_ms_batch1", False, "quicker at batch 1", "slower"),
    ]
    return [f for f in candidates if f is not None]


def headline(comparison: dict[str, Any]) -> str:
    """One line for the home page, e.g. 'PyTorch 1.31× faster, 12 % less memory, accuracy within 0.3 points'."""
    found = findings(comparison)
    if not found:
        failed = [r for r in comparison["runs"] if r["status"] == "failed"]
        return "No verdict: " + ("a run failed." if failed else "the comparison has not finished.")
    return " ".join(f.sentence for f in found[:3])
