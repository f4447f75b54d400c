"""An image folder's images, headers first, then pixels: every header is read and checked (``Image.open``
reads no pixels) before any image is decoded, and images are decoded one at a time, each shrunk into one
preallocated array, so at most one image is ever held at full size."""

from __future__ import annotations

import lzma
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.data.image_limits import LIMITS, DecodedTooLarge, ImageFile, Limits, mib_text, shown_name
from core.errors import BadInput

# What Pillow is allowed to open them as: the formats of IMAGE_SUFFIXES.
IMAGE_FORMATS = ("PNG", "JPEG")

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage


# Modes Pillow opens PNG and JPEG files in. 16-bit grey PNGs open as I;16 (older Pillow: I).
SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
GREY_MODES = frozenset({"1", "L", "LA"}) | SIXTEEN_BIT_MODES
COLOUR_MODES = frozenset({"P", "PA", "RGB", "RGBA", "CMYK"})


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    mode: str


_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error, lzma.LZMAError,
               zipfile.BadZipFile, NotImplementedError, RuntimeError)


def _where(image: ImageFile) -> str:
    parent = image.path.parent.name
    return f"{shown_name(image.path.name)} in class {shown_name(parent)!r}" if parent else shown_name(str(image.path))


def _unreadable(image: ImageFile, error: BaseException) -> BadInput:
    from PIL import UnidentifiedImageError

    if isinstance(error, UnidentifiedImageError):
        detail = "its contents are neither PNG nor JPEG"
    else:
        detail = " ".join(str(error).split()) or type(error).__name__
    return BadInput(f"{_where(image)} is not a readable image ({shown_name(detail)})", "dataset")


def _check_size(image: ImageFile, width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_image_pixels:
        side = int(limits.max_image_pixels ** 0.5)
        raise BadInput(f"{_where(image)} is {width}x{height} ({width * height:,} pixels); the limit for one image is "
                       f"{limits.max_image_pixels:,} pixels ({side}x{side})", "dataset")
    if width < 1 or height < 1:
        raise BadInput(f"{_where(image)} is {width}x{height}, an image without pixels", "dataset")


def read_header(image: ImageFile, limits: Limits = LIMITS) -> Header:
    """Size and mode from the image's header; no pixel is decoded."""
    from PIL import Image

    try:
        with image.open() as stream, Image.open(stream, formats=IMAGE_FORMATS) as picture:
            header = Header(picture.size[0], picture.size[1], picture.mode)
    except Image.DecompressionBombError:
        raise BadInput(f"{_where(image)} is larger than {limits.max_image_pixels:,} pixels, the limit for one image",
                       "dataset") from None
    except _UNREADABLE as error:
        raise _unreadable(image, error) from None
    _check_size(image, header.width, header.height, limits)
    if header.mode not in GREY_MODES | COLOUR_MODES:
        raise BadInput(f"{_where(image)} has pixel mode {header.mode}; images must be grey, RGB, RGBA or palette",
                       "dataset")
    return header


def _eight_bit(picture: PILImage, target: str, size: int) -> np.ndarray:
    """``picture`` at ``size`` x ``size`` in ``target`` ("L" or "RGB"), as uint8 HWC."""
    from PIL import Image

    if picture.mode in SIXTEEN_BIT_MODES:
        # Shrink at full precision, then scale 0..65535 to 0..255 (Pillow's convert would clip at 255).
        values = np.asarray(picture.resize((size, size), Image.Resampling.BILINEAR)).astype(np.int64)
        plane = ((np.clip(values, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)[..., np.newaxis]
        return np.repeat(plane, 3, axis=2) if target == "RGB" else plane
    converted = picture if picture.mode == target else picture.convert(target)
    pixels = np.asarray(converted.resize((size, size), Image.Resampling.BILINEAR))
    return pixels[..., np.newaxis] if target == "L" else pixels


def decode_image(image: ImageFile, target: str, size: int, limits: Limits = LIMITS) -> np.ndarray:
    """Decode one image and shrink it; a JPEG is decoded at a reduced scale where that suffices."""
    from PIL import Image

    try:
        with image.open() as stream, Image.open(stream, formats=IMAGE_FORMATS) as picture:
            _check_size(image, *picture.size, limits)
            if picture.format in ("JPEG", "MPO"):
                picture.draft(None, (size, size))
            picture.load()
            return _eight_bit(picture, target, size)
    except Image.DecompressionBombError:
        raise BadInput(f"{_where(image)} is larger than {limits.max_image_pixels:,} pixels, the limit for one image",
                       "dataset") from None
    except _UNREADABLE as error:
        raise _unreadable(image, error) from None


def plan_decoding(pairs: list[tuple[ImageFile, int]], limits: Limits = LIMITS) -> str:
    """Read every header and check the totals; the mode to decode into ("L" when all are grey)."""
    pixels = 0
    grey = True
    for image, _ in pairs:
        header = read_header(image, limits)
        pixels += header.width * header.height
        if pixels > limits.max_total_pixels:
            raise BadInput(f"the images hold more than {limits.max_total_pixels:,} pixels in all, the limit "
                           "(decoding them would take too long); upload fewer or smaller images", "dataset")
        grey = grey and header.mode in GREY_MODES
    return "L" if grey else "RGB"


def decode_images(pairs: list[tuple[ImageFile, int]], target: str, size: int, limits: Limits = LIMITS) -> np.ndarray:
    """All images at ``size``, decoded one at a time into one preallocated uint8 array."""
    channels = 1 if target == "L" else 3
    needed = len(pairs) * size * size * channels
    if needed > limits.max_decoded_bytes:
        raise DecodedTooLarge(
            f"{len(pairs):,} images at {size}x{size}x{channels} take {mib_text(needed)} once decoded; the limit is "
            f"{mib_text(limits.max_decoded_bytes)}: choose a smaller image size, or upload fewer images", "dataset")
    images = np.empty((len(pairs), size, size, channels), dtype=np.uint8)
    for index, (image, _) in enumerate(pairs):
        images[index] = decode_image(image, target, size, limits)
    return images
