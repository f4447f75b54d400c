"""What an image folder may hold, and the shapes every step of reading one shares: an image file
as found in a folder or archive, and how its names and sizes are written in a refusal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

from core.errors import BadInput

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What an image folder may hold. Every figure is checked before any pixel is decoded.

    The dashboard server must stay within a few hundred MB of its idle memory for any upload
    these allow (``bench/upload_memory.py`` measures it; docs/benchmarks.md has the figures):

    - ``max_decoded_bytes`` binds the most: preparing the split, normalised float32 arrays
      takes about 12 times the decoded uint8 array (measured), so 24 MiB of decoded images
      (8,192 RGB images at 32x32, 24,576 grey ones) peak near 300 MB.
    - ``max_image_pixels`` bounds the one image held at full size: 4096x4096 (16.8 MP, above a
      12 MP phone photo) is 64 MiB as RGBA, plus 48 MiB for its RGB copy. The 9000x9000 PNGs
      of the bug report (243 MB each decoded) are refused; Pillow's own limit let them through.
    - ``max_file_bytes`` (64 MiB, the raw size of an RGBA image at the pixel limit) bounds what
      Pillow may read into memory from one file's metadata chunks.
    - ``max_total_pixels`` bounds the decoding time: 500 MP is about 20 s on one core.
    - ``max_entries`` and ``max_directory_bytes`` bound the objects ``zipfile`` builds for the
      archive's directory (about 100 bytes each, measured) before any rule can be checked.
    - ``max_total_bytes`` bounds what is inflated; PNG and JPEG barely compress, so a real
      dataset inflates to about its upload size (at most 100 MiB, core/data/uploads.py).
    - Two classes, and two images per class so that a class can be both trained and tested.
    """

    max_entries: int = 60_000
    max_directory_bytes: int = 16 * MiB
    max_images: int = 50_000
    max_classes: int = 1_000
    min_images_per_class: int = 2
    max_file_bytes: int = 64 * MiB
    max_total_bytes: int = 512 * MiB
    max_image_pixels: int = 4096 * 4096
    max_total_pixels: int = 500_000_000
    max_decoded_bytes: int = 24 * MiB


LIMITS = Limits()


class DecodedTooLarge(BadInput):
    """The images would not fit at the requested image size; the archive itself is fine."""


@dataclass(frozen=True)
class ImageFile:
    """One image of the folder: its path inside the folder or archive, its size and an opener."""

    path: PurePosixPath
    size: int
    open: Callable[[], IO[bytes]]


def shown_name(text: str) -> str:
    """A name from an archive, safe to put in a one-line message."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def mib_text(count: int) -> str:
    return f"{count / MiB:,.1f} MiB"
