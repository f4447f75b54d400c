"""Image-folder datasets (one subfolder per class), given as a folder or an uploaded ``.zip``.

Archives come from users, so extraction trusts nothing in them: every entry is checked before a
byte is written, sizes are counted as they are inflated rather than taken from the headers, and
everything lands in a private folder of the cache that is renamed into place only when complete.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from core.data.raw import RawDataset
from core.errors import BadInput

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
DEFAULT_MAX_ARCHIVE_BYTES = 1 << 30  # inflated size
DEFAULT_MAX_ENTRIES = 200_000
DEFAULT_IMAGE_SIZE = 32
COPY_CHUNK_BYTES = 1 << 16


def _is_ignorable(relative: PurePosixPath) -> bool:
    """Files that archivers and desktops add on their own: macOS resource forks, .DS_Store."""
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_entry(info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename
    relative = PurePosixPath(name)
    if name.startswith(("/", "\\")) or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise BadInput(f"archive entry {name!r} has an absolute path; refusing the archive")
    if ".." in relative.parts:
        raise BadInput(f"archive entry {name!r} points outside the archive's folder; refusing the archive")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise BadInput(f"archive entry {name!r} is a symbolic link; refusing the archive")
    return relative


def extract_zip_safely(
    archive: Path,
    cache_root: Path,
    max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> Path:
    """Extract ``archive`` under ``cache_root`` (once per archive content) and return the folder."""
    if not zipfile.is_zipfile(archive):
        raise BadInput(f"{archive.name} is not a zip archive")
    digest = sha256_of(archive)
    target = cache_root / digest[:20]
    if (target / ".complete").exists():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = cache_root / f".staging-{digest[:20]}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as bundle:
            entries = bundle.infolist()
            if len(entries) > max_entries:
                raise BadInput(f"{archive.name} has {len(entries)} entries; the limit is {max_entries}")
            checked = [(info, _check_entry(info)) for info in entries]
            inflated = 0
            for info, relative in checked:
                if info.is_dir() or _is_ignorable(relative):
                    continue
                if relative.suffix.lower() not in IMAGE_SUFFIXES:
                    raise BadInput(f"archive entry {info.filename!r} is not a PNG or JPEG image")
                destination = staging.joinpath(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as source, destination.open("wb") as out:
                    for chunk in iter(lambda: source.read(COPY_CHUNK_BYTES), b""):
                        inflated += len(chunk)
                        if inflated > max_bytes:
                            raise BadInput(
                                f"{archive.name} inflates past {max_bytes // (1 << 20)} MiB; refusing the archive"
                            )
                        out.write(chunk)
    except zipfile.BadZipFile as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise BadInput(f"{archive.name} is a damaged zip archive ({error})") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    (staging / ".complete").write_text(archive.name)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _class_root(folder: Path) -> Path:
    """Archives often wrap the class folders in one top folder: look inside it."""
    visible = [p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
    if len(visible) == 1 and visible[0].is_dir() and not visible[0].is_symlink():
        inner = [p for p in visible[0].iterdir() if p.is_dir()]
        if len(inner) >= 2:
            return visible[0]
    return folder


def list_image_folder(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names and (file, class index) pairs; refuses links, stray files and lone classes."""
    if not folder.is_dir():
        raise BadInput(f"{folder} is not a folder")
    root = _class_root(folder)
    class_dirs = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.name == "__MACOSX":
            continue
        if entry.is_symlink():
            raise BadInput(f"{entry} is a symbolic link; image folders may not contain links")
        if entry.is_dir():
            class_dirs.append(entry)
        else:
            raise BadInput(f"{entry.name} sits beside the class folders; put every image in its class's folder")
    if len(class_dirs) < 2:
        raise BadInput(f"{folder} needs at least two class folders (found {len(class_dirs)})")
    files = []
    for index, class_dir in enumerate(class_dirs):
        count = 0
        for path in sorted(class_dir.rglob("*")):
            relative = PurePosixPath(path.relative_to(class_dir).as_posix())
            if _is_ignorable(relative):
                continue
            if path.is_symlink():
                raise BadInput(f"{path} is a symbolic link; image folders may not contain links")
            if path.is_dir():
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise BadInput(f"{path.relative_to(root)} is not a PNG or JPEG image")
            files.append((path, index))
            count += 1
        if count == 0:
            raise BadInput(f"class folder {class_dir.name!r} has no images")
    return [d.name for d in class_dirs], files


def load_image_folder_raw(source: Path, image_size: int | None, cache_root: Path) -> RawDataset:
    from PIL import Image, UnidentifiedImageError

    size = image_size or DEFAULT_IMAGE_SIZE
    if source.suffix.lower() == ".zip":
        folder = extract_zip_safely(source, cache_root)
        fingerprint = f"zip-{folder.name}-{size}"
    else:
        folder = source
        fingerprint = None
    class_names, files = list_image_folder(folder)
    pictures = []
    for path, _ in files:
        try:
            with Image.open(path) as picture:
                picture.load()
                pictures.append(picture.copy())
        except (UnidentifiedImageError, OSError, SyntaxError) as error:
            raise BadInput(f"{path.name} in class {path.parent.name!r} is not a readable image ({error})") from None
    grayscale = all(p.mode in ("1", "L", "I", "I;16", "F") for p in pictures)
    mode = "L" if grayscale else "RGB"
    images = np.stack([np.asarray(p.convert(mode).resize((size, size), Image.Resampling.BILINEAR)) for p in pictures])
    if grayscale:
        images = images[..., np.newaxis]
    if fingerprint is None:
        listing = "|".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p, _ in files)
        fingerprint = f"folder-{hashlib.sha256(listing.encode()).hexdigest()[:20]}-{size}"
    return RawDataset(
        name=source.name,
        x_train=images.astype(np.uint8),
        y_train=np.array([label for _, label in files], dtype=np.int64),
        class_names=class_names,
        fingerprint=fingerprint,
        sized_by_loader=True,
    )
