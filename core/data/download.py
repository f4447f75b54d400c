"""Checksum-verified downloads into the data cache.

Written with the standard library rather than torchvision's or Keras' helpers so that the
dashboard process can fetch data without importing a framework (the hosted app has little
memory). ``TWINBENCH_DATASET_MIRROR`` replaces the default hosts with one base URL, for
machines behind a proxy or with a local mirror.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import DataUnavailable

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    name: str
    md5: str
    urls: tuple[str, ...]

    def candidate_urls(self) -> list[str]:
        mirror = os.environ.get("TWINBENCH_DATASET_MIRROR")
        if mirror:
            return [mirror.rstrip("/") + "/" + self.name]
        return list(self.urls)


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    remote: RemoteFile,
    folder: Path,
    progress: Callable[[int, int | None], None] | None = None,
    timeout_seconds: float = 30.0,
) -> Path:
    """Fetch ``remote`` into ``folder`` unless it is there; verify its MD5 before keeping it.

    The bytes go to a ``.part`` file that is renamed only after the checksum matches, so an
    interrupted or corrupted download never looks like a finished one.
    """
    target = folder / remote.name
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    failures = []
    for url in remote.candidate_urls():
        try:
            with urllib.request.urlopen(url, timeout=timeout_seconds) as response, partial.open("wb") as out:
                total = response.headers.get("Content-Length")
                total_bytes = int(total) if total and total.isdigit() else None
                done = 0
                for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total_bytes)
        except (urllib.error.URLError, OSError, ValueError) as error:
            failures.append(f"{url}: {getattr(error, 'reason', error)}")
            partial.unlink(missing_ok=True)
            continue
        actual = md5_of(partial)
        if actual != remote.md5:
            failures.append(f"{url}: checksum mismatch (md5 {actual}, expected {remote.md5})")
            partial.unlink(missing_ok=True)
            continue
        partial.replace(target)
        return target
    raise DataUnavailable(f"could not download {remote.name}: " + "; ".join(failures))
