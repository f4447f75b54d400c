"""Reader for the IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from core.errors import BadInput

# IDX type byte -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(payload: bytes, source: str = "IDX data") -> np.ndarray:
    """Decode IDX bytes: two zero bytes, a type byte, a dimension count, big-endian sizes, data."""
    if len(payload) < 4 or payload[0] != 0 or payload[1] != 0:
        raise BadInput(f"{source} is not an IDX file (bad magic number)")
    type_code, ndim = payload[2], payload[3]
    if type_code not in IDX_DTYPES:
        raise BadInput(f"{source} has unknown IDX element type 0x{type_code:02x}")
    header_end = 4 + 4 * ndim
    if len(payload) < header_end:
        raise BadInput(f"{source} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", payload[4:header_end])
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(payload) - header_end != expected:
        raise BadInput(
            f"{source} should hold {expected} bytes of data for shape {shape}, "
            f"found {len(payload) - header_end}"
        )
    array = np.frombuffer(payload, dtype=dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise BadInput(f"{path} is a damaged gzip file ({error})") from None
    return parse_idx(raw, str(path))


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    """Write an array in IDX format (used to make test files in the real format)."""
    codes = {dtype: code for code, dtype in IDX_DTYPES.items()}
    big_endian = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    code = codes[np.dtype(big_endian)]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(big_endian).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
