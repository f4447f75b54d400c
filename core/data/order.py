"""The one training order both frameworks follow: same permutation, same batches, every epoch."""

from __future__ import annotations

import numpy as np


def epoch_order(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """A permutation of the training indices, a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Full batches only: a last partial batch would change shapes and make XLA recompile."""
    return num_examples // batch_size


def warmup_steps(steps_in_first_epoch: int, fraction: float = 0.1, minimum: int = 5) -> int:
    """Steps that absorb tracing, compilation and allocator growth before timing starts.

    At least ``minimum`` steps, but leave some of the first epoch to measure; the first step
    (tracing, compilation) is always warm-up, even in a one-step epoch.
    """
    wanted = max(minimum, int(round(steps_in_first_epoch * fraction)))
    return max(1, min(wanted, steps_in_first_epoch - 1))
