"""Image-folder uploads: every unsafe or unusable archive is refused in one line, before any
pixel is decoded where the headers can tell, and a refusal leaves no byte behind."""

import dataclasses
import io
import stat
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from core.data import image_decoding, image_folder
from core.data.image_folder import Limits, list_image_folder, load_image_folder_raw, zip_directory_size
from core.data.prepare import prepare_dataset
from core.data.uploads import MAX_UPLOAD_BYTES, save_upload
from core.engine.compare import plan_comparison
from core.errors import BadInput
from core.frameworks import DEFAULT_NAMES
from core.spec import RunSpec


def png_bytes(color, size=(12, 10), mode="RGB"):
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(color, size=(9, 9), mode="RGB"):
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def crafted_png(width, height, rows=None, bit_depth=8, colour_type=2):
    """A PNG written by hand. Given ``rows`` (the filtered scanlines) it is a real image; without,
    only its header is real and its data stops after 64 bytes: a file that declares a huge image
    and holds almost nothing, which only decoding would find out."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    data = zlib.compress(rows if rows is not None else b"\0" * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def constant_grey_png(side):
    """A valid ``side`` x ``side`` black PNG: a real decompression bomb (tens of KB, side² bytes decoded)."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (side + 1)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def zip_bytes(entries, compression=zipfile.ZIP_DEFLATED):
    """entries: (name, bytes) pairs, or (ZipInfo, bytes) pairs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as bundle:
        for name, data in entries:
            bundle.writestr(name, data)
    return buffer.getvalue()


def make_zip(path, entries):
    path.write_bytes(zip_bytes(entries))
    return path


def good_entries(top="flowers/"):
    return [
        (f"{top}red/a.png", png_bytes((255, 0, 0))),
        (f"{top}red/b.png", png_bytes((250, 5, 0))),
        (f"{top}blue/c.png", png_bytes((0, 0, 255))),
        (f"{top}blue/d.jpg", _jpeg((0, 0, 250))),
        ("__MACOSX/flowers/red/._a.png", b"resource fork"),
        (f"{top}.DS_Store", b"junk"),
    ]


def snapshot(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def stored_files(home):
    """Every file under $TWINBENCH_HOME, with its size: what a refusal must not add to."""
    return {str(p.relative_to(home)): p.stat().st_size for p in home.rglob("*") if p.is_file()} if home.exists() else {}


def test_a_good_zip_loads_with_one_class_per_folder(tmp_path):
    archive = make_zip(tmp_path / "flowers.zip", good_entries())
    raw = load_image_folder_raw(archive, 16, tmp_path / "cache")
    assert raw.class_names == ["blue", "red"]
    assert raw.x_train.shape == (4, 16, 16, 3) and raw.x_train.dtype == np.uint8
    assert list(raw.y_train) == [0, 0, 1, 1]
    assert raw.x_train[2, 8, 8, 0] > 200 and raw.x_train[0, 8, 8, 2] > 200  # red is red, blue is blue
    again = load_image_folder_raw(archive, 16, tmp_path / "cache")
    np.testing.assert_array_equal(again.x_train, raw.x_train)
    assert again.fingerprint == raw.fingerprint
    assert not (tmp_path / "cache").exists()  # nothing is extracted


def test_grey_images_stay_single_channel(tmp_path):
    entries = [(f"{c}/{i}.png", png_bytes(i * 40, mode="L")) for c in ("a", "b") for i in range(2)]
    raw = load_image_folder_raw(make_zip(tmp_path / "grey.zip", entries), 8, tmp_path / "cache")
    assert raw.x_train.shape == (4, 8, 8, 1)


def symlink_entry(name, target):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


@pytest.mark.parametrize(
    "entries, message",
    [
        ([("../escape.png", png_bytes(1)), ("a/x.png", png_bytes(2))], "outside the archive"),
        ([("a/../../escape.png", png_bytes(1))], "outside the archive"),
        ([("/etc/evil.png", png_bytes(1))], "absolute path"),
        ([("C:/evil.png", png_bytes(1))], "absolute path"),
        ([symlink_entry("a/link.png", "/etc/passwd"), ("b/x.png", png_bytes(2))], "symbolic link"),
        ([("a/x.png", png_bytes(1)), ("b/notes.txt", b"hello")], "not a PNG or JPEG"),
    ],
)
def test_unsafe_archives_are_refused_and_nothing_is_written_outside_the_cache(tmp_path, entries, message):
    archive = make_zip(tmp_path / "upload.zip", entries)
    cache = tmp_path / "cache"
    before = snapshot(tmp_path)
    with pytest.raises(BadInput, match=message):
        load_image_folder_raw(archive, 8, cache)
    after = snapshot(tmp_path)
    assert [p for p in after if p not in before and not p.startswith("cache")] == []
    assert not (tmp_path / "escape.png").exists()
    assert not cache.exists() or not any(p.suffix == ".png" for p in cache.rglob("*"))


def test_an_archive_that_inflates_past_the_limit_is_refused_from_its_directory(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", [("a/big.png", b"\0" * 5_000_000), ("b/x.png", png_bytes(1))])
    assert archive.stat().st_size < 100_000  # compresses enormously, as a zip bomb does
    with pytest.raises(BadInput, match=r"bomb.zip inflates past 1.0 MiB"):
        load_image_folder_raw(archive, 8, tmp_path / "cache", Limits(max_total_bytes=1 << 20))
    with pytest.raises(BadInput, match=r"'a/big.png' inflates to 4.8 MiB; the limit for one image file is 1.0 MiB"):
        load_image_folder_raw(archive, 8, tmp_path / "cache", Limits(max_file_bytes=1 << 20))
    assert not (tmp_path / "cache").exists()


def test_a_file_that_is_not_a_zip_or_a_damaged_image_is_refused(tmp_path):
    not_zip = tmp_path / "upload.zip"
    not_zip.write_bytes(b"PK but not really")
    with pytest.raises(BadInput, match="not a zip archive"):
        load_image_folder_raw(not_zip, 8, tmp_path / "cache")
    broken = make_zip(tmp_path / "broken.zip",
                      [("a/x.png", b"\x89PNG broken"), ("a/w.png", png_bytes(4)), ("b/y.png", png_bytes(3)), ("b/z.png", png_bytes(2))])
    with pytest.raises(BadInput, match="x.png in class 'a' is not a readable image"):
        load_image_folder_raw(broken, 8, tmp_path / "cache")


def test_fewer_than_two_classes_is_refused(tmp_path):
    archive = make_zip(tmp_path / "one.zip", [("only/x.png", png_bytes(1)), ("only/y.png", png_bytes(2))])
    with pytest.raises(BadInput, match="at least two class folders"):
        load_image_folder_raw(archive, 8, tmp_path / "cache")


def test_folders_with_links_or_stray_files_are_refused(tmp_path):
    root = tmp_path / "folder"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for image in ("x.png", "y.png"):
            (root / name / image).write_bytes(png_bytes(5))
    classes, files = list_image_folder(root)
    assert classes == ["a", "b"] and len(files) == 4
    raw = load_image_folder_raw(root, 8, tmp_path / "cache")
    assert raw.x_train.shape == (4, 8, 8, 3) and list(raw.y_train) == [0, 0, 1, 1]
    (root / "b" / "link.png").symlink_to(tmp_path / "elsewhere.png")
    with pytest.raises(BadInput, match="symbolic link"):
        list_image_folder(root)
    (root / "b" / "link.png").unlink()
    (root / "readme.png").write_bytes(png_bytes(1))
    with pytest.raises(BadInput, match="beside the class folders"):
        list_image_folder(root)
    (root / "readme.png").unlink()
    (root / "a" / "x.png").write_bytes(crafted_png(9000, 9000))
    with pytest.raises(BadInput, match=r"x.png in class 'a' is 9000x9000 \(81,000,000 pixels\)"):
        load_image_folder_raw(root, 8, tmp_path / "cache")


# ---- the hostile corpus, through the path the Train page takes ----------------------------------

def two_classes(extra=(), per_class=2, image=None):
    image = image or png_bytes((9, 99, 199))
    return [(f"{c}/{i}.png", image) for c in ("cats", "dogs") for i in range(per_class)] + list(extra)


def broken_directory():
    data = bytearray(zip_bytes(two_classes()))
    start = data.index(b"PK\x01\x02")
    data[start:start + 4] = b"XXXX"  # the first entry of the directory loses its signature
    return bytes(data)


def patched_directory(payload, offset, value):
    """The same zip with a 2-byte field of its first directory entry changed (8: flags, 10: method)."""
    data = bytearray(payload)
    start = data.index(b"PK\x01\x02")
    data[start + offset:start + offset + 2] = struct.pack("<H", value)
    return bytes(data)


def gif_named_png():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")
    return buffer.getvalue()


def truncated_png():
    data = png_bytes(7, size=(64, 64), mode="L")
    return data[: len(data) // 2]


# Refused before anything is stored: the zip's directory shows it.
DIRECTORY_CASES = {
    "empty zip": (zip_bytes([]), "holds no images"),
    "not a zip": (b"PK\x03\x04 this is not really a zip", "not a zip archive"),
    "broken directory": (broken_directory(), "damaged zip archive"),
    "only junk": (zip_bytes([("__MACOSX/._a.png", b"x"), (".DS_Store", b"x"), ("empty/", b"")]), "holds no images"),
    "one class": (zip_bytes([("cats/0.png", png_bytes(1)), ("cats/1.png", png_bytes(2))]), "at least two class folders"),
    "a class with one image": (zip_bytes(two_classes([("birds/0.png", png_bytes(3))])),
                               "class folder 'birds' has 1 image; each class needs at least 2"),
    "an empty class folder": (zip_bytes([*two_classes(), ("birds/", b"")]), "class folder 'birds' has no images"),
    "images beside the classes": (zip_bytes(two_classes([("stray.png", png_bytes(3))])), "stray.png sits beside the class folders"),
    "non-image file": (zip_bytes(two_classes([("cats/notes.txt", b"hello")])), "'cats/notes.txt' is not a PNG or JPEG image"),
    "executable named oddly": (zip_bytes(two_classes([("dogs/run.sh", b"#!/bin/sh")])), "is not a PNG or JPEG image"),
    "path outside": (zip_bytes(two_classes([("../../outside.png", png_bytes(1))])), "points outside the archive"),
    "encrypted entry": (patched_directory(zip_bytes(two_classes()), 8, 0x1), "'cats/0.png' is encrypted"),
    "unknown compression": (patched_directory(zip_bytes(two_classes()), 10, 99), "uses zip compression method 99"),
    "file name with a newline": (zip_bytes(two_classes([("cats/a\nb.txt", b"x")])), r"'cats/a\\nb.txt' is not a PNG"),
}

# Accepted by the directory check, refused from the images' headers (or, last, their pixels)
# when the dataset is prepared; the stored upload is removed again.
IMAGE_CASES = {
    # The bug report's zip: six 9000x9000 PNGs. Their data here stops after 64 bytes, so only a
    # check of the header, before decoding, gives this message.
    "six 9000x9000 PNGs": (zip_bytes([(f"{c}/{i}.png", crafted_png(9000, 9000)) for c in "ab" for i in range(3)]),
                           r"is 9000x9000 \(81,000,000 pixels\); the limit for one image is 16,777,216 pixels"),
    "a real decompression bomb": (zip_bytes(two_classes([("cats/bomb.png", constant_grey_png(5000))])),
                                  r"bomb.png in class 'cats' is 5000x5000 \(25,000,000 pixels\)"),
    "past Pillow's own limit": (zip_bytes(two_classes([("dogs/huge.png", crafted_png(100_000, 100_000))])),
                                "huge.png in class 'dogs' is larger than 16,777,216 pixels"),
    "one pixel over the limit": (zip_bytes(two_classes([("dogs/over.png", crafted_png(4097, 4096))])),
                                 r"over.png in class 'dogs' is 4097x4096"),
    "text named png": (zip_bytes(two_classes([("cats/fake.png", b"just text")])), "fake.png in class 'cats' is not a readable image"),
    "GIF named png": (zip_bytes(two_classes([("cats/anim.png", gif_named_png())])), "anim.png in class 'cats' is not a readable image"),
    "truncated pixels": (zip_bytes(two_classes([("dogs/cut.png", truncated_png())])), "cut.png in class 'dogs' is not a readable image"),
    "zero-width PNG": (zip_bytes(two_classes([("dogs/flat.png", crafted_png(0, 10))])), "flat.png in class 'dogs'"),
}


def refuse_like_the_train_page(name, payload, **settings):
    """save_upload, then the spec and the prepared data, as pages/train.py does on Start comparison."""
    path = save_upload(name, payload)
    spec = RunSpec.from_dict({"dataset": str(path), "batch_size": 2, **settings})
    return plan_comparison(spec, list(DEFAULT_NAMES))


@pytest.mark.parametrize("case", [*DIRECTORY_CASES, *IMAGE_CASES])
def test_each_hostile_upload_is_refused_in_one_line_and_leaves_no_bytes(home, case):
    payload, message = {**DIRECTORY_CASES, **IMAGE_CASES}[case]
    save_upload("warm-up.zip", zip_bytes(two_classes()))  # the home is not empty: nothing of it may go
    before = stored_files(home)
    with pytest.raises(BadInput, match=message) as refused:
        refuse_like_the_train_page("upload.zip", payload)
    assert "\n" not in str(refused.value)
    assert refused.value.field == "dataset"
    assert stored_files(home) == before


@pytest.mark.parametrize("case", DIRECTORY_CASES)
def test_archives_the_directory_refuses_are_never_written(home, case):
    payload, message = DIRECTORY_CASES[case]
    with pytest.raises(BadInput, match=message):
        save_upload("upload.zip", payload)
    assert stored_files(home) == {}


def test_the_issue_zip_is_refused_from_headers_without_decoding(tmp_path, monkeypatch):
    """No image is decoded when one header is over the limit, even the acceptable ones before it."""
    decoded = []
    monkeypatch.setattr(image_decoding, "decode_image", lambda *args, **kwargs: decoded.append(args) or None)
    entries = two_classes() + [("dogs/zz.png", crafted_png(9000, 9000))]
    with pytest.raises(BadInput, match="9000x9000"):
        load_image_folder_raw(make_zip(tmp_path / "six.zip", entries), 32, tmp_path / "uploads")
    assert decoded == []


def test_too_many_entries_is_refused_from_the_end_record(home, monkeypatch):
    monkeypatch.setattr(image_folder, "LIMITS", Limits(max_entries=50))
    monkeypatch.setattr("core.data.uploads.LIMITS", image_folder.LIMITS)
    payload = zip_bytes(two_classes(per_class=30))
    with pytest.raises(BadInput, match="upload.zip has 60 entries; the limit is 50"):
        save_upload("upload.zip", payload)
    assert stored_files(home) == {}


def test_an_end_record_that_undercounts_is_caught_by_the_directory(tmp_path):
    data = bytearray(zip_bytes(two_classes(per_class=30)))
    end = data.rfind(b"PK\x05\x06")
    data[end + 8:end + 12] = struct.pack("<HH", 2, 2)  # claims 2 entries; the directory holds 60
    archive = tmp_path / "uploads" / "liar.zip"
    archive.parent.mkdir()
    archive.write_bytes(bytes(data))
    with pytest.raises(BadInput, match="liar.zip has 60 entries; the limit is 50"):
        load_image_folder_raw(archive, 8, tmp_path / "uploads", Limits(max_entries=50))
    assert not archive.exists()  # a stored upload that is refused is removed


def test_the_end_record_is_read_from_zip64_archives_too(tmp_path):
    count = 0x10000 + 5  # past what a plain end record can count
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as bundle:
        for index in range(count):
            bundle.writestr(f"a/{index}", b"")
    assert zip_directory_size(buffer)[0] == count
    with pytest.raises(BadInput, match=f"has {count:,} entries; the limit is 60,000"):
        save_upload("many.zip", buffer.getvalue())


@pytest.mark.parametrize(
    "limits, message",
    [
        (Limits(max_images=5), "has 6 images; the limit is 5"),
        (Limits(max_classes=2), "has 3 class folders; the limit is 2"),
        (Limits(max_total_pixels=500), "more than 500 pixels in all"),
        (Limits(max_image_pixels=100), r"is 12x10 \(120 pixels\); the limit for one image is 100 pixels \(10x10\)"),
        (Limits(max_total_bytes=200), "inflates past"),
        (Limits(min_images_per_class=3), "has 2 images; each class needs at least 3"),
    ],
)
def test_every_count_and_size_rule_names_itself(tmp_path, limits, message):
    entries = [(f"{c}/{i}.png", png_bytes(i)) for c in ("a", "b", "c") for i in range(2)]
    archive = make_zip(tmp_path / "set.zip", entries)
    with pytest.raises(BadInput, match=message) as refused:
        load_image_folder_raw(archive, 8, tmp_path / "uploads", limits)
    assert "\n" not in str(refused.value)


def test_a_dataset_too_big_at_the_size_asked_for_keeps_its_upload(home, monkeypatch):
    monkeypatch.setattr(image_folder, "LIMITS", Limits(max_decoded_bytes=4 * 16 * 16 * 3))
    monkeypatch.setattr("core.data.uploads.LIMITS", image_folder.LIMITS)
    payload = zip_bytes(two_classes())
    with pytest.raises(BadInput, match=r"4 images at 32x32x3 take 0.0 MiB once decoded; the limit is 0.0 MiB: choose a smaller image size"):
        refuse_like_the_train_page("pets.zip", payload)
    stored = [p for p in stored_files(home) if p.endswith("pets.zip")]
    assert len(stored) == 1  # the upload is fine; a smaller size can use it
    data = prepare_dataset(str(home / stored[0]), image_size=16)
    assert data.input_shape == (16, 16, 3)


def test_an_upload_over_the_size_limit_is_refused_before_reading_it(home):
    with pytest.raises(BadInput, match=f"larger than {MAX_UPLOAD_BYTES >> 20} MiB"):
        save_upload("big.zip", b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert stored_files(home) == {}


def test_nested_and_wrapped_folders_are_accepted(home):
    entries = [
        ("export/photos/cats/indoor/a.png", png_bytes((200, 0, 0))),
        ("export/photos/cats/outdoor/deep/b.jpg", _jpeg((210, 0, 0))),
        ("export/photos/dogs/c.png", png_bytes((0, 0, 200))),
        ("export/photos/dogs/d.jpeg", _jpeg((0, 0, 210))),
        ("export/photos/dogs/.hidden/e.png", b"ignored"),
        ("export/Thumbs.db", b"ignored"),
    ]
    spec, data, runs = refuse_like_the_train_page("nested.zip", zip_bytes(entries))
    assert data.class_names == ["cats", "dogs"]
    assert data.input_shape == (32, 32, 3)
    assert len(runs) == 2 * spec.repeats


def test_old_extracted_folders_are_cleared_from_the_uploads_cache(home):
    old = home / "data" / "uploads" / ("ab" * 10)
    (old / "a").mkdir(parents=True)
    (old / "a" / "x.png").write_bytes(b"\0" * 1000)
    (home / "data" / "uploads" / f".staging-{'cd' * 10}").mkdir()
    kept = home / "data" / "uploads" / "notes"
    kept.mkdir()
    save_upload("pets.zip", zip_bytes(two_classes()))
    assert not old.exists() and kept.exists()
    assert [p.name for p in (home / "data" / "uploads").iterdir() if p.is_file()] != []


def test_limits_are_sane():
    limits = image_folder.LIMITS
    assert dataclasses.asdict(limits)["max_image_pixels"] < Image.MAX_IMAGE_PIXELS  # tighter than Pillow's
    assert limits.max_total_bytes >= MAX_UPLOAD_BYTES  # a real upload never hits it, a bomb does
    assert limits.max_file_bytes >= limits.max_image_pixels * 4  # an RGBA image at the pixel limit fits
