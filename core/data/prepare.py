"""Split, resize and normalise a dataset once, and cache the arrays every run reads.

The parent process prepares the data and hands each worker the path of one ``.npz`` file, so
both frameworks train and evaluate on the very same bytes, and neither pays for the preparation
inside its measured time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data.loaders import load_raw
from core.data.raw import RawDataset
from core.errors import BadInput, TwinbenchError
from core.paths import prepared_dir

PREPARE_VERSION = 1
DEFAULT_TEST_FRACTION = 0.2


@dataclass
class PreparedData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    mean: np.ndarray
    std: np.ndarray
    notes: list[str] = field(default_factory=list)
    path: Path | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "train_images": int(len(self.x_train)),
            "validation_images": int(len(self.x_val)),
            "test_images": int(len(self.x_test)),
            "notes": list(self.notes),
        }


def _split(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified split when every class can give at least one image to each side."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    held_out = int(round(len(y) * fraction))
    stratify = y if counts[counts > 0].min() >= 2 and held_out >= len(counts[counts > 0]) else None
    x_keep, x_out, y_keep, y_out = train_test_split(x, y, test_size=fraction, random_state=seed, stratify=stratify)
    return x_keep, y_keep, x_out, y_out


def _subsample(x: np.ndarray, y: np.ndarray, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(y) <= limit:
        return x, y
    kept, y_kept, _, _ = _split(x, y, 1 - limit / len(y), seed)
    return kept, y_kept


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    squeeze = images.shape[-1] == 1
    resized = []
    for image in images:
        plane = image[..., 0] if squeeze else image
        picture = Image.fromarray(plane.astype(np.float32) if squeeze else plane.astype(np.uint8))
        resized.append(np.asarray(picture.resize((size, size), Image.Resampling.BILINEAR)))
    out = np.stack(resized)
    return out[..., np.newaxis] if squeeze else out


def split_and_normalise(
    raw: RawDataset, seed: int, validation_fraction: float, image_size: int | None, max_images: int | None
) -> PreparedData:
    notes = []
    x, y = raw.x_train, raw.y_train
    if raw.x_test is not None and raw.y_test is not None:
        x_test, y_test = raw.x_test, raw.y_test
        if max_images:
            x, y = _subsample(x, y, max_images, seed)
            x_test, y_test = _subsample(x_test, y_test, max(len(np.unique(y_test)), max_images // 5), seed)
    else:
        if max_images:
            x, y = _subsample(x, y, max_images, seed)
        x, y, x_test, y_test = _split(x, y, DEFAULT_TEST_FRACTION, seed)
    if validation_fraction > 0:
        x_train, y_train, x_val, y_val = _split(x, y, validation_fraction, seed + 1)
    else:
        x_train, y_train = x, y
        x_val, y_val = x[:0], y[:0]
    height = raw.x_train.shape[1]
    if image_size and image_size != height and not raw.sized_by_loader:
        notes.append(f"images resized from {height}x{height} to {image_size}x{image_size} (bilinear)")
        x_train, x_val, x_test = (_resize(part, image_size) if len(part) else part for part in (x_train, x_val, x_test))
    scale = np.float32(1.0 / raw.pixel_max)
    x_train, x_val, x_test = (part.astype(np.float32) * scale for part in (x_train, x_val, x_test))
    # Statistics of the training split only: the test set must not leak into preprocessing.
    mean = x_train.mean(axis=(0, 1, 2), dtype=np.float64).astype(np.float32)
    std = np.maximum(x_train.std(axis=(0, 1, 2), dtype=np.float64), 1e-6).astype(np.float32)
    x_train, x_val, x_test = ((part - mean) / std for part in (x_train, x_val, x_test))
    return PreparedData(
        x_train=np.ascontiguousarray(x_train, dtype=np.float32),
        y_train=y_train.astype(np.int64),
        x_val=np.ascontiguousarray(x_val, dtype=np.float32),
        y_val=y_val.astype(np.int64),
        x_test=np.ascontiguousarray(x_test, dtype=np.float32),
        y_test=y_test.astype(np.int64),
        class_names=list(raw.class_names),
        mean=mean,
        std=std,
        notes=notes,
    )


def _cache_key(raw: RawDataset, seed: int, validation_fraction: float, image_size: int | None, max_images: int | None) -> str:
    identity = json.dumps(
        [PREPARE_VERSION, raw.name, raw.fingerprint, seed, validation_fraction, image_size, max_images],
        sort_keys=True,
    )
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


def save_prepared(data: PreparedData, path: Path) -> None:
    """Write atomically: a reader never sees a half-written file, even with two writers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"class_names": data.class_names, "notes": data.notes})
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        np.savez(
            temporary,
            x_train=data.x_train, y_train=data.y_train, x_val=data.x_val, y_val=data.y_val,
            x_test=data.x_test, y_test=data.y_test, mean=data.mean, std=data.std, meta=np.array(meta),
        )
        temporary.replace(path)
    except OSError as error:  # a full disk, most likely: leave nothing half-written behind
        temporary.unlink(missing_ok=True)
        raise TwinbenchError(f"could not cache the prepared data in {path.parent} ({error.strerror or error}); "
                             "free some space there or set TWINBENCH_HOME elsewhere") from None
    data.path = path


def load_prepared(path: Path) -> PreparedData:
    with np.load(path, allow_pickle=False) as arrays:
        meta = json.loads(str(arrays["meta"]))
        return PreparedData(
            x_train=arrays["x_train"], y_train=arrays["y_train"],
            x_val=arrays["x_val"], y_val=arrays["y_val"],
            x_test=arrays["x_test"], y_test=arrays["y_test"],
            class_names=meta["class_names"], mean=arrays["mean"], std=arrays["std"],
            notes=meta["notes"], path=path,
        )


def prepare_dataset(
    dataset: str,
    seed: int = 0,
    validation_fraction: float = 0.1,
    image_size: int | None = None,
    max_images: int | None = None,
) -> PreparedData:
    """Load, split and normalise ``dataset`` (or reuse the cached result) and return it."""
    raw = load_raw(dataset, seed, image_size, max_images)
    if len(np.unique(raw.y_train)) < 2:
        raise BadInput(f"dataset {dataset} has fewer than two classes")
    path = prepared_dir() / f"{_cache_key(raw, seed, validation_fraction, image_size, max_images)}.npz"
    if path.exists():
        with contextlib.suppress(OSError):  # used again: public mode's disk cap evicts it last (core.data.uploads)
            os.utime(path)
        try:
            return load_prepared(path)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # damaged cache entry: rebuild it
    data = split_and_normalise(raw, seed, validation_fraction, image_size, max_images)
    save_prepared(data, path)
    return data
