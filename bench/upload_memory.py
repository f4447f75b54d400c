"""How much memory does accepting (or refusing) an image-folder upload cost the dashboard server?

Builds uploads in the real formats (zips of PNG and JPEG class folders: many small images, a few
at the pixel limit, one just over it, decompression bombs, the bug report's zips) and runs each,
in a fresh process with a fresh $TWINBENCH_HOME, through what the Train page does on "Start
comparison" (pages/train.py): ``save_upload(name, payload)``, then ``RunSpec.from_dict`` and
``plan_comparison``, which prepares the dataset (``core.data.prepare.prepare_dataset``). It
prints, per upload, the outcome (accepted, or the refusal's one line), the process's peak RSS
above its idle RSS, the time, and what was left in $TWINBENCH_HOME.

Idle is measured once the modules that preparing any dataset loads are imported (the server
imports them for the first dataset it prepares), and before the upload's bytes are read: the
upload itself, which Streamlit holds in memory, counts. The peak is the kernel's high-water mark
(VmHWM, reset through /proc/self/clear_refs at idle; ru_maxrss where that is not possible).

    python -m bench.upload_memory            # every case
    python -m bench.upload_memory --only bomb
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

MiB = 1 << 20


# ---- uploads, in the real formats ---------------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def constant_png(width: int, height: int, channels: int = 3) -> bytes:
    """A valid PNG of one colour, compressed row by row: a decompression bomb of the kind in the bug report."""
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    compressor = zlib.compressobj(9)
    row = b"\0" * (width * channels + 1)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def encoded(array: np.ndarray, fmt: str, **options: object) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def gradient(height: int, width: int, channels: int, seed: int, dtype: type = np.uint8) -> np.ndarray:
    """A smooth picture with a little noise: realistic to decode, small once compressed."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    planes = [((x * (c + 1) + y * (seed % 3 + 1)) % 1.0) for c in range(channels)]
    picture = np.stack(planes, axis=-1) * top
    picture += rng.normal(0, top / 200, (height, 1, 1)).astype(np.float32)
    out = np.clip(picture, 0, top).astype(dtype)
    return out[..., 0] if channels == 1 else out


def write_zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in entries:
            bundle.writestr(name, data)
    return path


def write_zip_of_one_stream(path: Path, names: list[str], size: int) -> Path:
    """A zip whose entries all share one deflate stream of ``size`` zero bytes: a zip bomb in
    which each entry's size, as its directory declares, is honest (built by hand, as zipfile
    cannot write precompressed data)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = b"\0" * MiB
    data = b"".join(compressor.compress(zero) for _ in range(size // MiB)) + compressor.flush()
    crc = 0
    for _ in range(size // MiB):
        crc = zlib.crc32(zero, crc)
    local, central = bytearray(), bytearray()
    for name in names:
        raw = name.encode()
        offset = len(local)
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(raw), 0) + raw + data
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), size, len(raw),
                               0, 0, 0, 0, 0o644 << 16, offset) + raw
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(names), len(names), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def pixel_limit_side() -> int:
    from core.data.image_folder import LIMITS

    return int(LIMITS.max_image_pixels ** 0.5)


def many_small(folder: Path) -> Path:
    """As many 48x40 images (half PNG, half JPEG, 10 classes) as the decoded-size limit allows at 32x32 RGB."""
    from core.data.image_folder import LIMITS

    count = LIMITS.max_decoded_bytes // (32 * 32 * 3) - 22
    rng = np.random.default_rng(0)
    entries = []
    for index in range(count):
        colour = rng.integers(0, 256, 3)
        picture = np.clip(colour + rng.normal(0, 20, (40, 48, 3)), 0, 255).astype(np.uint8)
        fmt, suffix = ("PNG", "png") if index % 2 else ("JPEG", "jpg")
        entries.append((f"small/class{index % 10}/{index:05d}.{suffix}", encoded(picture, fmt)))
    return write_zip(folder / "many-small.zip", entries)


def largest_upload(folder: Path) -> Path:
    """As many images as ``many_small``, but noise PNGs of 64x64 that make the zip nearly as large as an upload may be."""
    from core.data.image_folder import LIMITS
    from core.data.uploads import MAX_UPLOAD_BYTES

    count = LIMITS.max_decoded_bytes // (32 * 32 * 3) - 22
    side = 64
    while True:  # the largest noise images that still fit in one upload
        per_image = side * side * 3 + 200
        if count * (per_image + 150) < MAX_UPLOAD_BYTES:
            break
        side -= 1
    rng = np.random.default_rng(1)
    entries = [(f"noise/class{index % 10}/{index:05d}.png", encoded(rng.integers(0, 256, (side, side, 3), dtype=np.uint8), "PNG"))
               for index in range(count)]
    return write_zip(folder / "largest.zip", entries)


def at_limit(kind: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        side = pixel_limit_side()
        entries = []
        for index in range(6):
            name = f"{'ab'[index % 2]}/{index}"
            if kind == "rgba-png":
                entries.append((f"{name}.png", encoded(gradient(side, side, 4, index), "PNG", compress_level=1)))
            elif kind == "16bit-png":
                entries.append((f"{name}.png", encoded(gradient(side, side, 1, index, np.uint16), "PNG", compress_level=1)))
            else:
                entries.append((f"{name}.jpg", encoded(gradient(side, side, 3, index), "JPEG", quality=90)))
        return write_zip(folder / f"at-limit-{kind}.zip", entries)
    return build


def just_over(folder: Path) -> Path:
    side = pixel_limit_side()
    small = encoded(gradient(40, 48, 3, 1), "PNG")
    entries = [(f"{c}/{i}.png", small) for c in "ab" for i in range(3)]
    entries.append(("b/over.png", constant_png(side + 1, side)))
    return write_zip(folder / "one-over.zip", entries)


def issue_pngs(folder: Path) -> Path:
    """The bug report's first zip: six 9000x9000 PNGs in a few KB."""
    picture = constant_png(9000, 9000)
    return write_zip(folder / "six-9000.zip", [(f"{'ab'[i % 2]}/{i}.png", picture) for i in range(6)])


def png_bomb(folder: Path) -> Path:
    """One valid 20000x20000 grey PNG (400 MB decoded) among ordinary images."""
    small = encoded(gradient(40, 48, 3, 2), "PNG")
    entries = [(f"{c}/{i}.png", small) for c in "ab" for i in range(3)] + [("a/bomb.png", constant_png(20000, 20000, 1))]
    return write_zip(folder / "png-bomb.zip", entries)


def zip_bomb(folder: Path) -> Path:
    """The bug report's second zip: about 1 MB that inflates to 960 MiB (16 entries of 60 MiB)."""
    return write_zip_of_one_stream(folder / "zip-bomb.zip", [f"{'ab'[i % 2]}/{i}.png" for i in range(16)], 60 * MiB)


CASES: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "many-small": ("8,170 small PNG/JPEG images, 10 classes (the decoded-size limit at 32x32 RGB)", many_small),
    "largest": ("8,170 noise PNGs filling a 100 MiB upload (both limits at once)", largest_upload),
    "limit-rgba": ("6 RGBA PNGs at the pixel limit (4096x4096)", at_limit("rgba-png")),
    "limit-16bit": ("6 16-bit grey PNGs at the pixel limit", at_limit("16bit-png")),
    "limit-jpeg": ("6 JPEGs at the pixel limit", at_limit("jpeg")),
    "over": ("6 small PNGs and one 4097x4096 PNG", just_over),
    "issue-9000": ("six 9000x9000 PNGs (the bug report's zip)", issue_pngs),
    "png-bomb": ("a 20000x20000 PNG decompression bomb among small images", png_bomb),
    "zip-bomb": ("zip bomb: 16 entries of 60 MiB of zeros (the bug report's 0.98 MB zip)", zip_bomb),
}


# ---- one upload, in a process of its own ---------------------------------------------------------

def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def child(archive: Path) -> None:
    """Accept ``archive`` as the Train page does, and print a JSON line with what it cost."""
    before_imports = _rss()
    import PIL.Image  # noqa: F401  (what preparing any dataset imports, once per server)
    import sklearn.model_selection  # noqa: F401

    from core.data.uploads import save_upload
    from core.engine.compare import plan_comparison
    from core.errors import BadInput
    from core.frameworks import DEFAULT_NAMES
    from core.spec import RunSpec

    idle = _rss()
    exact = _reset_peak()
    started = time.perf_counter()
    outcome: dict[str, object]
    try:
        payload = archive.read_bytes()
        path = save_upload(archive.name, payload)
        spec = RunSpec.from_dict({"dataset": str(path), "batch_size": 2})
        _, data, _ = plan_comparison(spec, list(DEFAULT_NAMES))
        outcome = {"outcome": "accepted", "summary": data.summary()}
    except BadInput as error:
        outcome = {"outcome": f"refused: {error}"}
    except Exception as error:  # what the page would show as a traceback
        outcome = {"outcome": f"CRASHED: {type(error).__name__}: {error}"}
    outcome.update(seconds=time.perf_counter() - started, idle=idle, imports=idle - before_imports,
                   peak_above_idle=_peak() - idle, exact_peak=exact)
    print(json.dumps(outcome))


def _size(count: int) -> str:
    return f"{count / MiB:,.1f} MiB" if count >= MiB else f"{count / 1024:,.1f} KB" if count else "0"


def left_behind(home: Path) -> int:
    return sum(p.stat().st_size for p in home.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(CASES), help="cases to run (default: all)")
    parser.add_argument("--code-root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose code accepts the uploads (e.g. an older one, to compare)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child)
        return
    root = arguments.code_root.resolve()
    if not (root / "bench" / "upload_memory.py").exists():
        raise SystemExit(f"copy this script to {root / 'bench'} first")
    print(f"code: {root}")
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print("| upload | zip | outcome | peak RSS above idle | time | left in $TWINBENCH_HOME |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="upload-memory-") as scratch:
        for key in arguments.only or list(CASES):
            label, build = CASES[key]
            folder = Path(scratch) / key
            folder.mkdir()
            archive = build(folder)
            home = folder / "home"
            completed = subprocess.run(
                [sys.executable, "-m", "bench.upload_memory", "--child", str(archive)], cwd=root,
                env={**os.environ, "TWINBENCH_HOME": str(home)}, capture_output=True, text=True, timeout=600)
            try:
                result = json.loads(completed.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                print(f"| {label} | | the process failed: {completed.stderr.strip()[-300:]} | | | |")
                continue
            outcome = str(result["outcome"])
            if "summary" in result:
                summary = result["summary"]
                outcome += (f" ({summary['train_images'] + summary['validation_images'] + summary['test_images']:,} images, "
                            f"{'x'.join(map(str, summary['input_shape']))})")
            print(f"| {label} | {_size(archive.stat().st_size)} | {outcome} | "
                  f"{result['peak_above_idle'] / MiB:,.0f} MiB{'' if result['exact_peak'] else ' (ru_maxrss)'} | "
                  f"{result['seconds']:.1f} s | {_size(left_behind(home))} |", flush=True)
            archive.unlink()
    print(f"idle RSS of the measuring process: {result['idle'] / MiB:,.0f} MiB "
          f"(of which {result['imports'] / MiB:,.0f} MiB for importing the modules that prepare data)")


if __name__ == "__main__":
    main()
