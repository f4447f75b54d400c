"""Files people upload through the dashboard, kept in the cache under their content hash."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

from core.errors import BadInput
from core.paths import data_dir

MAX_UPLOAD_BYTES = 1 << 30


def save_upload(name: str, payload: bytes) -> Path:
    """Store an uploaded image-folder ``.zip``; the same bytes uploaded twice are stored once."""
    if not name.lower().endswith(".zip"):
        raise BadInput(f"{name} is not a .zip file; upload a zip of an image folder (one subfolder per class)", "dataset")
    if len(payload) > MAX_UPLOAD_BYTES:
        raise BadInput(f"{name} is larger than {MAX_UPLOAD_BYTES >> 20} MiB", "dataset")
    digest = hashlib.sha256(payload).hexdigest()[:16]
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name)[:80]
    folder = data_dir() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}-{safe_name}"
    if not path.exists():
        temporary = path.with_name(path.name + ".part")
        temporary.write_bytes(payload)
        if not zipfile.is_zipfile(temporary):
            temporary.unlink()
            raise BadInput(f"{name} is not a zip archive (the file may be damaged)", "dataset")
        temporary.replace(path)
    return path
