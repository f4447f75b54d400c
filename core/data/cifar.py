"""Reader for CIFAR-10/100 "python version" batches, without trusting arbitrary pickles."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import BadInput

# CIFAR batches are pickled dicts of bytes, lists and numpy arrays; nothing else may be loaded,
# because unpickling an arbitrary class runs arbitrary code.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _CifarUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> dict[str, Any]:
    """Load one batch file; keys come back as str (the files store them as bytes)."""
    try:
        with path.open("rb") as handle:
            loaded = _CifarUnpickler(io.BufferedReader(handle), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise BadInput(f"{path} is not a readable CIFAR batch ({error})") from None
    if not isinstance(loaded, dict):
        raise BadInput(f"{path} is not a CIFAR batch (expected a dict)")
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in loaded.items()}


def batch_images_and_labels(batch: dict[str, Any], label_key: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR rows are 3072 bytes: 1024 red, 1024 green, 1024 blue, each 32x32 row-major."""
    if "data" not in batch or label_key not in batch:
        raise BadInput(f"{source} lacks the '{'data' if 'data' not in batch else label_key}' entry")
    data = np.asarray(batch["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise BadInput(f"{source}: expected data of shape (N, 3072), found {data.shape}")
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if labels.shape[0] != data.shape[0]:
        raise BadInput(f"{source}: {data.shape[0]} images but {labels.shape[0]} labels")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray, label_key: str = "labels") -> None:
    """Write a batch in the real format (used to make test files)."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1).astype(np.uint8)
    batch = {b"batch_label": b"written by twinbench", b"data": rows, label_key.encode(): list(map(int, labels))}
    with path.open("wb") as handle:
        pickle.dump(batch, handle, protocol=2)
