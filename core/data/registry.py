"""Which datasets exist, and how to load each one's raw arrays."""

from __future__ import annotations

from pathlib import Path

from core.data.raw import RawDataset
from core.errors import BadInput

BUILTIN_DATASETS = {
    "digits": "scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download)",
    "shapes": "generated 32x32 RGB shapes, 10 classes (no download)",
    "mnist": "MNIST handwritten digits, 28x28 grey (download or copy in)",
    "fashion_mnist": "Fashion-MNIST clothing, 28x28 grey (download or copy in)",
    "cifar10": "CIFAR-10 objects, 32x32 RGB (download or copy in)",
    "cifar100": "CIFAR-100 objects, 32x32 RGB, 100 classes (download or copy in)",
}


def is_path_dataset(name: str) -> bool:
    return name not in BUILTIN_DATASETS and ("/" in name or "\\" in name or name.lower().endswith(".zip") or Path(name).exists())


def validate_dataset_name(name: str) -> None:
    if name in BUILTIN_DATASETS:
        return
    if is_path_dataset(name):
        path = Path(name).expanduser()
        if not path.exists():
            raise BadInput(f"dataset path {name} does not exist", "dataset")
        if path.is_file() and path.suffix.lower() != ".zip":
            raise BadInput(f"dataset path {name} must be a folder or a .zip of one", "dataset")
        return
    raise BadInput(
        f"unknown dataset {name!r}; choose one of {', '.join(BUILTIN_DATASETS)}, "
        "or give the path of an image folder (one subfolder per class) or a .zip of one",
        "dataset",
    )


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
