"""Image-folder datasets (one subfolder per class), given as a folder or an uploaded ``.zip``.

Uploads come from strangers, so nothing in them is trusted and nothing is decoded before it has
been measured. In order, each step refusing with one line (a ``BadInput``) that names its rule:

1. the zip's end record gives its entry count and directory size before Python builds an object
   for every entry;
2. every entry is checked (path, link, encryption, compression, file type, inflated size, all
   from the directory) and then the layout (classes, images per class, number of images);
3. every image's header is read (``Image.open`` reads no pixels): its pixel count and mode are
   checked, then the total pixel count and the size of the decoded array at the training size;
4. only then are the images decoded, one at a time and straight from the archive, each shrunk
   into one preallocated array, so at most one image is ever held at full size.

Nothing is extracted, so a refusal leaves nothing on disk, and an upload stored by
``core.data.uploads`` that turns out to be unusable is removed as well. The limits and the
reasons for them are in ``core.data.image_limits.Limits``; steps 3 and 4 are
``core.data.image_decoding``; this module reads the archive or folder and loads the dataset.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np

from core.data.image_decoding import (
    decode_images,
    plan_decoding,
)
from core.data.image_limits import LIMITS, DecodedTooLarge, ImageFile, Limits, MiB, mib_text, shown_name
from core.data.raw import RawDataset
from core.errors import BadInput

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
DEFAULT_IMAGE_SIZE = 32
# Bumped when the same archive decodes to different arrays, so old prepared caches are not reused.
LOADER_VERSION = 2
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}


def _is_ignorable(relative: PurePosixPath) -> bool:
    """Files that archivers and desktops add on their own: macOS resource forks, .DS_Store, Thumbs.db."""
    return any(part.startswith(".") or part in IGNORED_NAMES for part in relative.parts)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(MiB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def zip_directory_size(handle: IO[bytes]) -> tuple[int, int] | None:
    """(entries, bytes) of a zip's central directory, read from its end record (zip64 too);
    None when there is no end record, that is, when the file is not a zip archive."""
    handle.seek(0, os.SEEK_END)
    end = handle.tell()
    start = max(0, end - (22 + 0xFFFF))  # the end record and the longest comment
    handle.seek(start)
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    entries, directory = struct.unpack("<HL", tail[at + 10:at + 16])
    if entries == 0xFFFF or directory == 0xFFFFFFFF:
        handle.seek(max(0, start + at - 20))
        locator = handle.read(20)
        if len(locator) == 20 and locator[:4] == b"PK\x06\x07":
            handle.seek(struct.unpack("<Q", locator[8:16])[0])
            record = handle.read(56)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                entries, directory = struct.unpack("<QQ", record[32:48])
    return entries, directory


@contextmanager
def open_archive(source: Path | IO[bytes], name: str, limits: Limits) -> Iterator[zipfile.ZipFile]:
    """The zip, once its directory is known to be of a size that may be read."""
    name = shown_name(name)
    with source.open("rb") if isinstance(source, Path) else _borrowed(source) as handle:
        sizes = zip_directory_size(handle)
        if sizes is None:
            raise BadInput(f"{name} is not a zip archive (the file may be damaged)", "dataset")
        entries, directory = sizes
        if entries > limits.max_entries:
            raise BadInput(f"{name} has {entries:,} entries; the limit is {limits.max_entries:,}", "dataset")
        if directory > limits.max_directory_bytes:
            raise BadInput(f"{name}'s list of entries takes {mib_text(directory)}; the limit is "
                           f"{mib_text(limits.max_directory_bytes)}", "dataset")
        handle.seek(0)
        try:
            bundle = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as error:
            raise BadInput(f"{name} is a damaged zip archive ({shown_name(str(error))})", "dataset") from None
        with bundle:
            yield bundle


@contextmanager
def _borrowed(handle: IO[bytes]) -> Iterator[IO[bytes]]:
    yield handle


def _check_entry(info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename
    shown = repr(name)
    relative = PurePosixPath(name)
    if name.startswith(("/", "\\")) or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise BadInput(f"archive entry {shown} has an absolute path; refusing the archive", "dataset")
    if ".." in relative.parts:
        raise BadInput(f"archive entry {shown} points outside the archive's folder; refusing the archive", "dataset")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise BadInput(f"archive entry {shown} is a symbolic link; refusing the archive", "dataset")
    return relative


def archive_images(bundle: zipfile.ZipFile, name: str, limits: Limits = LIMITS) -> tuple[list[str], list[tuple[ImageFile, int]]]:
    """Class names and (image, class index) pairs of a zip, checked from its directory alone."""
    name = shown_name(name)
    entries = bundle.infolist()
    if len(entries) > limits.max_entries:  # its end record undercounted them
        raise BadInput(f"{name} has {len(entries):,} entries; the limit is {limits.max_entries:,}", "dataset")
    checked = [(info, _check_entry(info)) for info in entries]
    files: list[ImageFile] = []
    folders: set[PurePosixPath] = set()
    total = 0
    for info, relative in checked:
        if _is_ignorable(relative) or not relative.parts:
            continue
        if info.is_dir():
            folders.add(relative)
            continue
        shown = repr(info.filename)
        if relative.suffix.lower() not in IMAGE_SUFFIXES:
            raise BadInput(f"archive entry {shown} is not a PNG or JPEG image", "dataset")
        if info.flag_bits & 0x1:
            raise BadInput(f"archive entry {shown} is encrypted; upload a zip without a password", "dataset")
        if info.compress_type not in ZIP_METHODS:
            raise BadInput(f"archive entry {shown} uses zip compression method {info.compress_type}; "
                           f"use one of {', '.join(ZIP_METHODS.values())}", "dataset")
        if info.file_size > limits.max_file_bytes:
            raise BadInput(f"archive entry {shown} inflates to {mib_text(info.file_size)}; the limit for one image file "
                           f"is {mib_text(limits.max_file_bytes)}", "dataset")
        total += info.file_size
        if total > limits.max_total_bytes:
            raise BadInput(f"{name} inflates past {mib_text(limits.max_total_bytes)}, the limit for all its images; "
                           "refusing the archive", "dataset")
        files.append(ImageFile(relative, info.file_size, partial(bundle.open, info)))
    if not files:
        raise BadInput(f"{name} holds no images; zip a folder with one subfolder of PNG or JPEG images per class",
                       "dataset")
    return _arrange(files, folders, name, limits)


def check_archive(source: Path | IO[bytes], name: str, limits: Limits = LIMITS) -> tuple[list[str], int]:
    """Check a zip's layout from its directory alone (nothing is inflated): class names, image count."""
    with open_archive(source, name, limits) as bundle:
        classes, files = archive_images(bundle, name, limits)
    return classes, len(files)


def _arrange(
    files: list[ImageFile], folders: set[PurePosixPath], name: str, limits: Limits
) -> tuple[list[str], list[tuple[ImageFile, int]]]:
    """Apply the image-folder layout: one folder per class, images anywhere below it.

    A folder that wraps everything (``flowers/red``, ``flowers/blue``) is looked through."""
    paths = [image.path.parts for image in files]
    tree = {folder.parts for folder in folders}
    for parts in paths:
        tree.update(parts[:end] for end in range(1, len(parts)))
    prefix: tuple[str, ...] = ()
    while True:
        depth = len(prefix)
        below = {p[depth] for p in (*tree, *paths) if len(p) > depth and p[:depth] == prefix}
        if len(below) != 1:
            break
        only = (*prefix, next(iter(below)))
        if not any(len(p) == depth + 2 and p[:depth + 1] == only for p in tree):
            break  # its contents are files: it is a class folder, not a wrapper
        prefix = only
    depth = len(prefix)
    where = "/".join(prefix) or name
    classes: dict[str, list[ImageFile]] = {}
    for folder in sorted(tree):
        if len(folder) == depth + 1 and folder[:depth] == prefix:
            classes[folder[depth]] = []
    for image in sorted(files, key=lambda f: f.path.parts):
        if len(image.path.parts) == depth + 1:
            raise BadInput(f"{shown_name(image.path.name)} sits beside the class folders; put every image in its class's folder",
                           "dataset")
        classes[image.path.parts[depth]].append(image)
    if len(classes) < 2:
        raise BadInput(f"{shown_name(where)} needs at least two class folders (found {len(classes)})", "dataset")
    if len(classes) > limits.max_classes:
        raise BadInput(f"{shown_name(where)} has {len(classes):,} class folders; the limit is {limits.max_classes:,}", "dataset")
    names = sorted(classes)
    for class_name in names:
        count = len(classes[class_name])
        if count == 0:
            raise BadInput(f"class folder {shown_name(class_name)!r} has no images", "dataset")
        if count < limits.min_images_per_class:
            raise BadInput(f"class folder {shown_name(class_name)!r} has {count} image{'s' if count > 1 else ''}; each class needs at least "
                           f"{limits.min_images_per_class}, so that it can be both trained on and tested", "dataset")
    pairs = [(image, index) for index, class_name in enumerate(names) for image in classes[class_name]]
    if len(pairs) > limits.max_images:
        raise BadInput(f"{shown_name(where)} has {len(pairs):,} images; the limit is {limits.max_images:,}", "dataset")
    return names, pairs


def _open_binary(path: Path) -> IO[bytes]:
    return path.open("rb")


def folder_images(folder: Path, limits: Limits = LIMITS) -> tuple[list[str], list[tuple[ImageFile, int]]]:
    """Class names and (image, class index) pairs of a folder on disk; refuses links and stray files."""
    if not folder.is_dir():
        raise BadInput(f"{folder} is not a folder", "dataset")
    files: list[ImageFile] = []
    folders: set[PurePosixPath] = set()
    total = 0
    for current, subfolders, names in os.walk(folder):
        here = Path(current)
        for entry in [*subfolders, *names]:
            path = here / entry
            relative = PurePosixPath(path.relative_to(folder).as_posix())
            if _is_ignorable(relative):
                continue
            if path.is_symlink():
                raise BadInput(f"{path} is a symbolic link; image folders may not contain links", "dataset")
            if entry in subfolders:
                folders.add(relative)
                continue
            if relative.suffix.lower() not in IMAGE_SUFFIXES:
                raise BadInput(f"{relative} is not a PNG or JPEG image", "dataset")
            size = path.stat().st_size
            if size > limits.max_file_bytes:
                raise BadInput(f"{relative} is {mib_text(size)}; the limit for one image file is {mib_text(limits.max_file_bytes)}",
                               "dataset")
            total += size
            if total > limits.max_total_bytes:
                raise BadInput(f"{folder}'s images take more than {mib_text(limits.max_total_bytes)}, the limit", "dataset")
            files.append(ImageFile(relative, size, partial(_open_binary, path)))
        subfolders[:] = [s for s in subfolders if not _is_ignorable(PurePosixPath(s)) and not (here / s).is_symlink()]
    if not files:
        raise BadInput(f"{folder} holds no images; give a folder with one subfolder of PNG or JPEG images per class",
                       "dataset")
    return _arrange(files, folders, str(folder), limits)


def list_image_folder(folder: Path, limits: Limits = LIMITS) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names and (file, class index) pairs; refuses links, stray files and lone classes."""
    names, pairs = folder_images(folder, limits)
    return names, [(folder.joinpath(*image.path.parts), label) for image, label in pairs]


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().parent == folder.resolve()
    except OSError:
        return False


def _raw(name: str, class_names: list[str], pairs: list[tuple[ImageFile, int]], images: np.ndarray, fingerprint: str) -> RawDataset:
    return RawDataset(
        name=name,
        x_train=images,
        y_train=np.array([label for _, label in pairs], dtype=np.int64),
        class_names=class_names,
        fingerprint=fingerprint,
        sized_by_loader=True,
    )


def load_image_folder_raw(source: Path, image_size: int | None, cache_root: Path, limits: Limits | None = None) -> RawDataset:
    """Load a folder or ``.zip`` of class folders at ``image_size`` (default 32).

    ``cache_root`` holds the uploads ``core.data.uploads`` stored: one found unusable there is
    removed, so a refusal leaves nothing behind (except for a refusal that depends on the image
    size asked for: the same upload may still be used at a smaller size)."""
    limits = limits or LIMITS
    size = image_size or DEFAULT_IMAGE_SIZE
    if source.suffix.lower() != ".zip":
        class_names, pairs = folder_images(source, limits)
        images = decode_images(pairs, plan_decoding(pairs, limits), size, limits)
        listing = "|".join(f"{image.path}:{image.size}:{(source / image.path).stat().st_mtime_ns}" for image, _ in pairs)
        fingerprint = f"folder-{hashlib.sha256(listing.encode()).hexdigest()[:20]}-{size}-v{LOADER_VERSION}"
        return _raw(source.name, class_names, pairs, images, fingerprint)
    try:
        if not source.is_file():
            raise BadInput(f"{source} is not a file", "dataset")
        digest = sha256_of(source)
        with open_archive(source, source.name, limits) as bundle:
            class_names, pairs = archive_images(bundle, source.name, limits)
            images = decode_images(pairs, plan_decoding(pairs, limits), size, limits)
    except DecodedTooLarge:
        raise
    except BadInput:
        if _inside(source, cache_root):
            source.unlink(missing_ok=True)  # an unusable upload: keep none of its bytes
        raise
    return _raw(source.name, class_names, pairs, images, f"zip-{digest[:20]}-{size}-v{LOADER_VERSION}")
