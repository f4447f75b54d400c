"""Files people upload through the dashboard, kept in the cache under their content hash.

An upload is checked from its zip directory while it is still in memory (entries, paths, file
types, inflated sizes, classes and images per class; see core/data/image_folder.py), so an
archive refused there never touches the disk. What only decoding can show (image sizes and
modes from the headers, damaged pixels) is checked when the dataset is prepared, and an upload
refused then is removed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
import shutil
from pathlib import Path

from core.data.image_folder import LIMITS, check_archive
from core.errors import BadInput
from core.paths import data_dir, prepared_dir

# Streamlit's uploader holds the whole file in the server's memory, so this bounds what one
# upload costs the server before any check can run; set server.maxUploadSize to match.
MAX_UPLOAD_BYTES = 100 << 20

# What earlier versions extracted next to the uploads (one folder per archive, kept forever).
_OLD_EXTRACTION = re.compile(r"^(\.staging-)?[0-9a-f]{20}$")


def uploads_dir() -> Path:
    return data_dir() / "uploads"


def remove_old_extractions(folder: Path) -> None:
    """Uploads are no longer extracted: drop the folders earlier versions left (up to 1 GiB each)."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if _OLD_EXTRACTION.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def save_upload(name: str, payload: bytes) -> Path:
    """Store an uploaded image-folder ``.zip``; the same bytes uploaded twice are stored once."""
    if not name.lower().endswith(".zip"):
        raise BadInput(f"{name} is not a .zip file; upload a zip of an image folder (one subfolder per class)", "dataset")
    if len(payload) > MAX_UPLOAD_BYTES:
        raise BadInput(f"{name} is larger than {MAX_UPLOAD_BYTES >> 20} MiB", "dataset")
    check_archive(io.BytesIO(payload), name, LIMITS)
    digest = hashlib.sha256(payload).hexdigest()[:16]
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name)[:80]
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    remove_old_extractions(folder)
    path = folder / f"{digest}-{safe_name}"
    if path.exists():
        _touch(path)  # uploaded again: the most recently used now, the last to be evicted
    else:
        temporary = folder / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part"
        try:
            temporary.write_bytes(payload)
            temporary.replace(path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    return path


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):  # read-only or gone: its age only matters to eviction
        os.utime(path)


def cached_files() -> list[Path]:
    """Uploads and prepared arrays, least recently used first (by modification time, which
    save_upload and core.data.prepare renew on reuse). Files being written (``.``-names) are
    left out: they are renamed into place or removed within one request."""
    found = []
    for folder in (uploads_dir(), prepared_dir()):
        if folder.is_dir():
            found += [entry for entry in folder.iterdir()
                      if not entry.name.startswith(".") and entry.is_file() and not entry.is_symlink()]
    stamped = []
    for entry in found:
        try:
            stamped.append((entry.stat().st_mtime, entry.name, entry))
        except OSError:  # removed meanwhile
            continue
    return [entry for _, _, entry in sorted(stamped)]


def evict_oldest(cap_bytes: int, protected: set[Path]) -> tuple[list[Path], int]:
    """Remove the least recently used uploads and prepared arrays until together they take at
    most ``cap_bytes``, never a file in ``protected`` (resolved paths); returns what was removed
    and the bytes left, which exceed the cap only when protected files alone do."""
    files = cached_files()
    sizes = {}
    for entry in files:
        try:
            sizes[entry] = entry.stat().st_size
        except OSError:
            continue
    total = sum(sizes.values())
    removed = []
    for entry, size in sizes.items():
        if total <= cap_bytes:
            break
        if entry.resolve() in protected:
            continue
        try:
            entry.unlink()
        except FileNotFoundError:  # another process removed it: it no longer counts either
            pass
        except OSError:
            continue
        total -= size
        removed.append(entry)
    return removed, total
