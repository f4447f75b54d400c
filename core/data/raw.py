"""The raw form every dataset loader returns, before splitting and normalisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RawDataset:
    """Images in NHWC (uint8 or float), integer labels, and an optional official test split.

    ``fingerprint`` identifies the source bytes, so cached prepared arrays are rebuilt when the
    files behind them change.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    class_names: list[str]
    fingerprint: str
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    # Largest pixel value, so that scaling to [0, 1] does not depend on what a sample contains.
    pixel_max: float = 255.0
    # True when the loader already produced images at the requested size (generated or resized).
    sized_by_loader: bool = False
