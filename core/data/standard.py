"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100: downloaded once, or read from files copied in."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.cifar import batch_images_and_labels, read_cifar_batch
from core.data.download import RemoteFile, download
from core.data.idx import read_idx
from core.data.raw import RawDataset
from core.errors import BadInput, DataUnavailable
from core.paths import data_dir

MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
CIFAR_URLS = ("https://www.cs.toronto.edu/~kriz/",)

IDX_PARTS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _remote(name: str, md5: str, bases: tuple[str, ...]) -> RemoteFile:
    return RemoteFile(name, md5, tuple(base + name for base in bases))


@dataclass(frozen=True)
class IdxDataset:
    name: str
    files: tuple[RemoteFile, ...]
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class CifarDataset:
    name: str
    archive: RemoteFile
    extracted_folder: str
    train_batches: tuple[str, ...]
    test_batch: str
    label_key: str
    class_count: int


def _idx_files(md5s: tuple[str, str, str, str], bases: tuple[str, ...]) -> tuple[RemoteFile, ...]:
    """The four gzip files of an IDX dataset, in IDX_PARTS order, with their checksums."""
    return tuple(_remote(f"{part}.gz", md5, bases) for part, md5 in zip(IDX_PARTS, md5s, strict=True))


MNIST = IdxDataset(
    "mnist",
    _idx_files(("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"), MNIST_URLS),
    tuple(str(i) for i in range(10)),
)
FASHION_MNIST = IdxDataset(
    "fashion_mnist",
    _idx_files(("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"), FASHION_URLS),
    ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"),
)
CIFAR10 = CifarDataset(
    "cifar10",
    _remote("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", CIFAR_URLS),
    "cifar-10-batches-py",
    tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test_batch",
    "labels",
    10,
)
CIFAR100 = CifarDataset(
    "cifar100",
    _remote("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85", CIFAR_URLS),
    "cifar-100-python",
    ("train",),
    "test",
    "fine_labels",
    100,
)
STANDARD_DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST, CIFAR10, CIFAR100)}


def _missing_message(name: str, folder: Path, wanted: list[str], reason: str) -> str:
    return (
        f"{name} is not on this machine and could not be downloaded ({reason}). "
        f"Copy these files into {folder}: {', '.join(wanted)}"
    )


def _find_idx_file(folder: Path, part: str) -> Path | None:
    for candidate in (folder / f"{part}.gz", folder / part):
        if candidate.exists():
            return candidate
    return None


def load_idx_dataset(dataset: IdxDataset, root: Path | None = None) -> RawDataset:
    folder = (root or data_dir()) / dataset.name
    paths = []
    for part, remote in zip(IDX_PARTS, dataset.files, strict=True):
        found = _find_idx_file(folder, part)
        if found is None:
            try:
                found = download(remote, folder)
            except DataUnavailable as error:
                raise DataUnavailable(
                    _missing_message(dataset.name, folder, [f.name for f in dataset.files], str(error))
                ) from None
        paths.append(found)
    x_train, y_train, x_test, y_test = (read_idx(path) for path in paths)
    for images, labels, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise BadInput(f"{dataset.name} {split} files disagree: images {images.shape}, labels {labels.shape}")
    fingerprint = "-".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths)
    return RawDataset(
        name=dataset.name,
        x_train=x_train[..., np.newaxis],
        y_train=y_train.astype(np.int64),
        x_test=x_test[..., np.newaxis],
        y_test=y_test.astype(np.int64),
        class_names=list(dataset.class_names),
        fingerprint=fingerprint,
    )


def _extract_cifar_archive(archive: Path, folder: Path) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # The "data" filter refuses absolute paths, links out of the folder and device files.
            tar.extractall(folder, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise BadInput(f"{archive} is not a readable CIFAR archive ({error})") from None


def load_cifar_dataset(dataset: CifarDataset, root: Path | None = None) -> RawDataset:
    folder = (root or data_dir()) / dataset.name
    extracted = folder / dataset.extracted_folder
    needed = [*dataset.train_batches, dataset.test_batch]
    if not all((extracted / name).exists() for name in needed):
        archive = folder / dataset.archive.name
        if not archive.exists():
            try:
                archive = download(dataset.archive, folder)
            except DataUnavailable as error:
                wanted = [dataset.archive.name, f"or the folder {dataset.extracted_folder}/ with {', '.join(needed)}"]
                raise DataUnavailable(_missing_message(dataset.name, folder, wanted, str(error))) from None
        _extract_cifar_archive(archive, folder)
        missing = [name for name in needed if not (extracted / name).exists()]
        if missing:
            raise BadInput(f"{archive} does not contain {dataset.extracted_folder}/{', '.join(missing)}")
    parts = [
        batch_images_and_labels(read_cifar_batch(extracted / name), dataset.label_key, str(extracted / name))
        for name in dataset.train_batches
    ]
    x_test, y_test = batch_images_and_labels(
        read_cifar_batch(extracted / dataset.test_batch), dataset.label_key, str(extracted / dataset.test_batch)
    )
    stats = [(extracted / name).stat() for name in needed]
    return RawDataset(
        name=dataset.name,
        x_train=np.concatenate([images for images, _ in parts]),
        y_train=np.concatenate([labels for _, labels in parts]),
        x_test=x_test,
        y_test=y_test,
        class_names=[str(i) for i in range(dataset.class_count)],
        fingerprint="-".join(f"{s.st_size}:{s.st_mtime_ns}" for s in stats),
    )


def load_standard_raw(name: str, root: Path | None = None) -> RawDataset:
    dataset = STANDARD_DATASETS[name]
    if isinstance(dataset, IdxDataset):
        return load_idx_dataset(dataset, root)
    return load_cifar_dataset(dataset, root)
