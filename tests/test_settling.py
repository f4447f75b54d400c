"""What a run-until-decided comparison waits on, and the lines it prints while it waits."""

import numpy as np

from core.analysis.settling import all_decided, figure_look, most_pairs_needed, progress_line, why_undecided


def noisy(centre: float, spread: float, pairs: int, seed: int) -> list[float]:
    return list(centre * np.exp(np.random.default_rng(seed).normal(0, spread, pairs)))


def test_a_comparison_is_decided_only_when_every_figure_is():
    speed = figure_look("Training speed", "steady_images_per_second", "pytorch", "tensorflow",
                        noisy(1300, 0.01, 6, 1), noisy(1000, 0.01, 6, 2))
    memory = figure_look("Memory", "peak_host_rss_bytes", "pytorch", "tensorflow", [100.0] * 6, [100.5] * 6)
    warmup = figure_look("Warm-up", "warmup_seconds", "pytorch", "tensorflow", noisy(1.0, 0.3, 3, 3), noisy(1.1, 0.3, 3, 4))
    assert speed.decided and memory.decided and not warmup.decided
    assert all_decided([speed, memory]) and not all_decided([speed, memory, warmup]) and not all_decided([])
    assert most_pairs_needed([speed, memory]) == 0
    assert most_pairs_needed([speed, memory, warmup]) in (warmup.look.runs_needed, None)


def test_the_progress_line_shows_each_figure_and_the_pairs_still_needed():
    speed = figure_look("Training speed", "steady_images_per_second", "pytorch", "tensorflow",
                        noisy(1050, 0.05, 3, 5), noisy(1000, 0.05, 3, 6))
    memory = figure_look("Memory", "peak_host_rss_bytes", "pytorch", "tensorflow", [100.0] * 3, [100.5] * 3)
    line = progress_line([speed, memory])
    assert line.startswith("3 pairs, PyTorch / TensorFlow · Training speed 1.")
    assert "Memory equivalent (±5 %)" in line
    needed = speed.look.runs_needed
    assert (f"; {needed} more)" if needed is not None else "; over 200 more)") in line


def test_an_undecided_figure_says_why_and_what_would_settle_it():
    speed = figure_look("Training speed", "steady_images_per_second", "pytorch", "tensorflow",
                        [1000.0, 1100.0, 950.0], [1020.0, 990.0, 1060.0])
    text = why_undecided(speed)
    assert text.startswith("Training speed: undecided after 3 pairs (")
    assert "includes equal and reaches beyond ±5 %" in text
    assert "would settle it" in text or "not within" in text
