"""Which test images a run got right, as compact text for a JSON result (1 bit per image).

The paired accuracy test of the verdict (core.analysis.uncertainty.mcnemar_exact) reads it back.
"""

from __future__ import annotations

import numpy as np


def pack_correct(correct: np.ndarray) -> str:
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()


def unpack_correct(text: str, count: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8), count=count).astype(bool)
