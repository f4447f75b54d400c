"""Readers for the real file formats, on small files the tests write in those formats."""

import hashlib
import http.server
import pickle
import socket
import tarfile
import threading
from functools import partial

import numpy as np
import pytest

from core.data.cifar import read_cifar_batch, write_cifar_batch
from core.data.download import RemoteFile, download
from core.data.idx import parse_idx, read_idx, write_idx
from core.data.standard import CIFAR10, CIFAR100, MNIST, load_cifar_dataset, load_idx_dataset
from core.errors import BadInput, DataUnavailable


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_idx_round_trip(tmp_path, compress, dtype):
    array = (np.arange(2 * 3 * 4) % 120).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / "data.idx"
    write_idx(path, array, compress=compress)
    loaded = read_idx(path)
    assert loaded.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded, array)


def test_idx_header_is_checked():
    with pytest.raises(BadInput, match="magic"):
        parse_idx(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(BadInput, match="should hold 4 bytes"):
        parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x04\x05")
    with pytest.raises(BadInput, match="element type"):
        parse_idx(b"\x00\x00\x07\x01\x00\x00\x00\x01\x05")


def write_mnist_files(folder, train=30, test=10, compress=True):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (train, 28, 28), dtype=np.uint8), compress)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", (np.arange(train) % 10).astype(np.uint8), compress)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (test, 28, 28), dtype=np.uint8), compress)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", (np.arange(test) % 10).astype(np.uint8), compress)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_files_copied_into_the_cache_are_read_without_network(tmp_path, compress):
    write_mnist_files(tmp_path / "mnist", compress=compress)
    raw = load_idx_dataset(MNIST, root=tmp_path)
    assert raw.x_train.shape == (30, 28, 28, 1) and raw.x_test.shape == (10, 28, 28, 1)
    assert list(raw.y_train[:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_missing_dataset_without_network_says_which_files_to_put_where(tmp_path, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: the download fails at once
    monkeypatch.setenv("TWINBENCH_DATASET_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(DataUnavailable) as caught:
        load_idx_dataset(MNIST, root=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    with pytest.raises(DataUnavailable, match="cifar-10-python.tar.gz"):
        load_cifar_dataset(CIFAR10, root=tmp_path)


@pytest.fixture
def file_server(tmp_path):
    """A real HTTP server on loopback serving a folder, standing in for a dataset mirror."""
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_verifies_the_checksum_before_keeping_the_file(tmp_path, file_server):
    served, url = file_server
    (served / "payload.bin").write_bytes(b"twinbench" * 100)
    good = RemoteFile("payload.bin", hashlib.md5(b"twinbench" * 100).hexdigest(), (f"{url}/payload.bin",))
    target = download(good, tmp_path / "cache")
    assert target.read_bytes() == b"twinbench" * 100
    bad = RemoteFile("payload.bin", "0" * 32, (f"{url}/payload.bin",))
    with pytest.raises(DataUnavailable, match="checksum mismatch"):
        download(bad, tmp_path / "other")
    assert not any((tmp_path / "other").iterdir())  # neither the file nor a .part is left


def test_mnist_download_through_a_mirror(tmp_path, file_server, monkeypatch):
    served, url = file_server
    write_mnist_files(served)
    checksums = {f.name: hashlib.md5((served / f.name).read_bytes()).hexdigest() for f in MNIST.files}
    mirror_dataset = type(MNIST)(MNIST.name, tuple(RemoteFile(f.name, checksums[f.name], f.urls) for f in MNIST.files), MNIST.class_names)
    monkeypatch.setenv("TWINBENCH_DATASET_MIRROR", url)
    raw = load_idx_dataset(mirror_dataset, root=tmp_path / "cache")
    assert raw.x_train.shape == (30, 28, 28, 1)
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(checksums)


def write_cifar_folder(folder, batches, test_name, label_key, per_batch=8, classes=10):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [*batches, test_name]:
        images = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        write_cifar_batch(folder / name, images, np.arange(per_batch) % classes, label_key)


def test_cifar_batches_keep_pixel_layout(tmp_path):
    image = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    image[0, 1, 2] = (10, 20, 30)  # one pixel, distinct per channel
    write_cifar_batch(tmp_path / "batch", image, np.array([7]))
    batch = read_cifar_batch(tmp_path / "batch")
    assert batch["labels"] == [7]
    row = batch["data"][0]
    assert (row[1 * 32 + 2], row[1024 + 1 * 32 + 2], row[2048 + 1 * 32 + 2]) == (10, 20, 30)


def test_cifar10_from_extracted_folder_and_from_archive(tmp_path):
    extracted = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar_folder(extracted, CIFAR10.train_batches, CIFAR10.test_batch, "labels")
    raw = load_cifar_dataset(CIFAR10, root=tmp_path)
    assert raw.x_train.shape == (40, 32, 32, 3) and raw.x_test.shape == (8, 32, 32, 3)

    other = tmp_path / "elsewhere"
    (other / "cifar10").mkdir(parents=True)
    with tarfile.open(other / "cifar10" / CIFAR10.archive.name, "w:gz") as tar:
        tar.add(extracted, arcname=CIFAR10.extracted_folder)
    raw_from_archive = load_cifar_dataset(CIFAR10, root=other)
    np.testing.assert_array_equal(raw_from_archive.x_train, raw.x_train)


def test_cifar100_uses_fine_labels(tmp_path):
    write_cifar_folder(tmp_path / "cifar100" / "cifar-100-python", CIFAR100.train_batches, CIFAR100.test_batch,
                       "fine_labels", per_batch=200, classes=100)
    raw = load_cifar_dataset(CIFAR100, root=tmp_path)
    assert raw.y_train.max() == 99 and len(raw.class_names) == 100


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Exploit(), b"labels": [1]}))
    with pytest.raises(BadInput, match="refusing to load builtins.print"):
        read_cifar_batch(path)
