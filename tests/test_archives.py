"""Image-folder uploads: every unsafe or unusable archive is refused and nothing leaks out."""

import io
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.data.image_folder import extract_zip_safely, list_image_folder, load_image_folder_raw
from core.errors import BadInput


def png_bytes(color, size=(12, 10), mode="RGB"):
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(path, entries):
    """entries: (name, bytes) pairs, or ZipInfo objects paired with bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in entries:
            bundle.writestr(name, data)
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


def _jpeg(color):
    buffer = io.BytesIO()
    Image.new("RGB", (9, 9), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def snapshot(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_good_zip_loads_with_one_class_per_folder(tmp_path):
    archive = make_zip(tmp_path / "flowers.zip", good_entries())
    raw = load_image_folder_raw(archive, 16, tmp_path / "cache")
    assert raw.class_names == ["blue", "red"]
    assert raw.x_train.shape == (4, 16, 16, 3)
    assert list(raw.y_train) == [0, 0, 1, 1]
    assert raw.x_train[2, 8, 8, 0] > 200 and raw.x_train[0, 8, 8, 2] > 200  # red is red, blue is blue
    again = load_image_folder_raw(archive, 16, tmp_path / "cache")  # extracted once, reused
    np.testing.assert_array_equal(again.x_train, raw.x_train)


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


def test_an_archive_that_inflates_past_the_limit_is_refused(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", [("a/big.png", b"\0" * 5_000_000), ("b/x.png", png_bytes(1))])
    assert archive.stat().st_size < 100_000  # compresses enormously, as a zip bomb does
    with pytest.raises(BadInput, match="inflates past 1 MiB"):
        extract_zip_safely(archive, tmp_path / "cache", max_bytes=1 << 20)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_file_that_is_not_a_zip_or_a_damaged_image_is_refused(tmp_path):
    not_zip = tmp_path / "upload.zip"
    not_zip.write_bytes(b"PK but not really")
    with pytest.raises(BadInput, match="not a zip archive"):
        load_image_folder_raw(not_zip, 8, tmp_path / "cache")
    broken = make_zip(tmp_path / "broken.zip", [("a/x.png", b"\x89PNG broken"), ("b/y.png", png_bytes(3))])
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
        (root / name / "x.png").write_bytes(png_bytes(5))
    classes, files = list_image_folder(root)
    assert classes == ["a", "b"] and len(files) == 2
    (root / "b" / "link.png").symlink_to(tmp_path / "elsewhere.png")
    with pytest.raises(BadInput, match="symbolic link"):
        list_image_folder(root)
    (root / "b" / "link.png").unlink()
    (root / "readme.png").write_bytes(png_bytes(1))
    with pytest.raises(BadInput, match="beside the class folders"):
        list_image_folder(root)
