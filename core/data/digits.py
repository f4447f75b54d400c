"""scikit-learn's bundled 8x8 handwritten digits: the default that needs no network."""

from __future__ import annotations

import numpy as np

from core.data.raw import RawDataset


def load_digits_raw() -> RawDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float32)[..., np.newaxis]  # (1797, 8, 8, 1), values 0..16
    return RawDataset(
        name="digits",
        x_train=images,
        y_train=bunch.target.astype(np.int64),
        class_names=[str(i) for i in range(10)],
        fingerprint="sklearn-digits-v1",
        pixel_max=16.0,
    )
