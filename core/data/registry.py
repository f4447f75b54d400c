"""Which datasets exist: the names a RunSpec accepts (core.data.loaders reads their arrays)."""

from __future__ import annotations

from pathlib import Path

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
