"""Which loader reads a dataset's raw arrays: the built-in ones by name (core.data.registry), any
other name as an image folder or a .zip of one. Each loader is imported only when its dataset is used."""

from __future__ import annotations

from pathlib import Path

from core.data.raw import RawDataset
from core.data.registry import BUILTIN_DATASETS


def load_raw(name: str, seed: int, image_size: int | None, max_images: int | None) -> RawDataset:
    from core.paths import data_dir

    if name == "digits":
        from core.data.digits import load_digits_raw

        return load_digits_raw()
    if name == "shapes":
        from core.data.shapes import load_shapes_raw

        return load_shapes_raw(max_images, image_size, seed)
    if name in BUILTIN_DATASETS:
        from core.data.standard import load_standard_raw

        return load_standard_raw(name)
    from core.data.image_folder import load_image_folder_raw

    return load_image_folder_raw(Path(name).expanduser(), image_size, data_dir() / "uploads")
