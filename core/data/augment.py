"""Augmentation on the host with numpy, so both frameworks train on exactly the same pixels."""

from __future__ import annotations

import numpy as np


def augment_epoch(images: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """Random shifts (zero padding, an eighth of the side) and, for colour images, mirror flips.

    Digits and letters change meaning when mirrored, so single-channel images are only shifted.
    Zero is the training mean after normalisation, so padding adds no artificial edge.
    """
    rng = np.random.default_rng([seed, epoch, 1])
    count, height, width, channels = images.shape
    pad = max(1, height // 8)
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    offsets_y = rng.integers(0, 2 * pad + 1, size=count)
    offsets_x = rng.integers(0, 2 * pad + 1, size=count)
    flips = np.asarray(rng.random(count) < 0.5) if channels == 3 else np.zeros(count, dtype=bool)
    out = np.empty_like(images)
    for index in range(count):
        crop = padded[index, offsets_y[index] : offsets_y[index] + height, offsets_x[index] : offsets_x[index] + width]
        out[index] = crop[:, ::-1] if flips[index] else crop
    return out
