"""Readers for the real file formats, on small files the tests write in those formats."""

import hashlib
import http.server
import io
import pickle
import socket
import struct
import tarfile
import threading
import zipfile
import zlib
from functools import partial

import numpy as np
import pytest
from PIL import Image

from core.data.cifar import read_cifar_batch, write_cifar_batch
from core.data.download import RemoteFile, download
from core.data.idx import parse_idx, read_idx, write_idx
from core.data.image_folder import load_image_folder_raw
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


# ---- PNG and JPEG in an image-folder zip: every mode Pillow opens them in ----------------------

def _encoded(picture, fmt="PNG", **options):
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def sixteen_bit_rgb_png(width, height, rgb):
    """A 16-bit-per-channel RGB PNG, written by hand (Pillow writes none)."""
    rows = (b"\0" + struct.pack(">HHH", *rgb) * width) * height
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


def load_zip_of(tmp_path, files, size=8):
    """Load {"class/name.png": bytes} as an uploaded zip would be; pixel [row 4, column 4] per image."""
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    raw = load_image_folder_raw(archive, size, tmp_path / "uploads")
    return raw, raw.x_train[:, 4, 4, :]


@pytest.mark.parametrize("byte_order", ["<u2", ">u2"])
def test_sixteen_bit_grey_pngs_are_scaled_to_eight_bits_not_clipped(tmp_path, byte_order):
    levels = {"dark/0.png": 0, "dark/1.png": 257 * 40, "light/0.png": 257 * 100, "light/1.png": 65535}
    files = {name: _encoded(Image.fromarray(np.full((6, 5), level, dtype=byte_order))) for name, level in levels.items()}
    assert Image.open(io.BytesIO(files["light/1.png"])).mode.startswith("I;16")
    raw, centre = load_zip_of(tmp_path, files)
    assert raw.x_train.shape == (4, 8, 8, 1)
    assert list(centre[:, 0]) == [0, 40, 100, 255]  # clipping would give 0, 255, 255, 255


def test_a_sixteen_bit_gradient_keeps_its_shades(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))
    files = {"a/0.png": _encoded(Image.fromarray(ramp)), "a/1.png": _encoded(Image.fromarray(ramp[:, ::-1].copy())),
             "b/0.png": _encoded(Image.fromarray(ramp)), "b/1.png": _encoded(Image.fromarray(ramp))}
    raw, _ = load_zip_of(tmp_path, files, size=16)
    row = raw.x_train[0, 8, :, 0].astype(int)
    assert row[0] < 20 and row[-1] > 235 and (np.diff(row) > 0).all()  # a ramp, not a wall at 255


def test_sixteen_bit_colour_and_grey_mix_into_rgb(tmp_path):
    files = {
        "colour/0.png": sixteen_bit_rgb_png(5, 4, (257 * 10, 257 * 128, 65535)),
        "colour/1.png": sixteen_bit_rgb_png(5, 4, (0, 65535, 257 * 3)),
        "grey/0.png": _encoded(Image.fromarray(np.full((4, 5), 257 * 200, dtype=np.uint16))),
        "grey/1.png": _encoded(Image.new("L", (5, 4), 77)),
    }
    raw, centre = load_zip_of(tmp_path, files)
    assert raw.x_train.shape == (4, 8, 8, 3)
    assert [list(p) for p in centre] == [[10, 128, 255], [0, 255, 3], [200, 200, 200], [77, 77, 77]]


def test_every_png_and_jpeg_mode_loads(tmp_path):
    palette = Image.new("P", (9, 7))
    palette.putpalette([0, 0, 0, 200, 30, 60] + [0] * 762)
    palette.paste(1, (0, 0, 9, 7))
    cmyk = Image.new("CMYK", (9, 7), (0, 255, 255, 0))  # red in CMYK
    files = {
        "a/palette.png": _encoded(palette),
        "a/rgba.png": _encoded(Image.new("RGBA", (9, 7), (200, 30, 60, 128))),
        "a/grey-alpha.png": _encoded(Image.new("LA", (9, 7), (90, 255))),
        "a/bilevel.png": _encoded(Image.new("1", (9, 7), 1)),
        "b/cmyk.jpg": _encoded(cmyk, "JPEG"),
        "b/grey.jpeg": _encoded(Image.new("L", (9, 7), 90), "JPEG"),
        "b/progressive.jpg": _encoded(Image.new("RGB", (9, 7), (200, 30, 60)), "JPEG", progressive=True, quality=95),
        "b/large.jpg": _encoded(Image.new("RGB", (2000, 1500), (200, 30, 60)), "JPEG", quality=95),
    }
    raw, centre = load_zip_of(tmp_path, files)
    assert raw.x_train.shape == (8, 8, 8, 3) and raw.class_names == ["a", "b"]
    names = sorted(files)
    got = {name: tuple(int(v) for v in pixel) for name, pixel in zip(names, centre, strict=True)}
    assert got["a/palette.png"] == got["a/rgba.png"] == (200, 30, 60)
    assert got["a/grey-alpha.png"] == (90, 90, 90) and got["a/bilevel.png"] == (255, 255, 255)
    for name in ("b/progressive.jpg", "b/large.jpg"):  # the large one decoded at 1/8 scale
        assert np.abs(np.array(got[name]) - (200, 30, 60)).max() <= 4, name
    assert got["b/cmyk.jpg"][0] > 200 and max(got["b/cmyk.jpg"][1:]) < 40
    assert np.abs(np.array(got["b/grey.jpeg"]) - 90).max() <= 2
