"""Stage what the GPU machine lacks, in pieces that each fit one run there, and install it there.

That machine (x86-64, Python 3.12, PyTorch with CUDA 13, no package registry) takes at most
64 MiB along per command, the working tree included. TensorFlow with the CUDA 12 libraries it
needs, JAX with its CUDA 13 plugin, and the libraries the CLI, the workers and the GPU tests
import travel as wheels for that Python, in one archive cut into as few pieces as that limit
allows; each piece is one run there, and they are put back together and installed into
/tmp/site by ``bench/gpu_setup.sh``. Here (a pip that reaches PyPI)::

    python -m bench.stage_gpu --dry-run         # build the pieces, list their sizes, check they reassemble
    python -m bench.stage_gpu --skip JAX        # leave out JAX (the machine's image has a JAX of its own)

There, once every piece is in /tmp/st: ``source bench/gpu_setup.sh``, which runs
``python3 -m bench.stage_gpu install``. The frameworks are always installed (the versions
requirements.txt pins); a library only where the machine has no copy of its own, so that what
its PyTorch was built against stays as it is.

``install`` needs the standard library only: it runs there before anything else is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

MIB = 2**20
PROJECT_ROOT = Path(__file__).resolve().parent.parent
STAGE = PROJECT_ROOT / ".gpu-stage"
CACHE = Path(os.environ.get("TWIN_GPU_CACHE", "/tmp/gpu-stage-cache"))
MANIFEST = "manifest.json"
# What one command there takes along, the working tree included, and room left for files that
# appear in the tree between staging and sending.
TRAVEL_LIMIT_BYTES = 64 * MIB
TRAVEL_MARGIN_BYTES = 1 * MIB
PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# cuFFT, cuSOLVER, cuSPARSE and cuRAND must load for TensorFlow to register the GPU, but image
# classifiers never call them: stand-ins with their sonames save 600 MB of transfer.
STAND_IN_LIBRARIES = ("libcufft.so.11", "libcusolver.so.11", "libcusparse.so.12", "libcurand.so.10")

# A wheel to stage: (distribution, version) where the version is a pin of requirements.txt when
# None (else this interpreter's installed version), or another distribution's pin when a name.
CUDA_12_FOR_TENSORFLOW = (("nvidia-cublas-cu12", "12.5.3.2"), ("nvidia-nvjitlink-cu12", "12.5.82"),
                          ("nvidia-cuda-nvcc-cu12", "12.5.82"), ("nvidia-cuda-nvrtc-cu12", "12.5.82"),
                          ("nvidia-cuda-runtime-cu12", "12.5.82"))
# Beside each framework's own packages (the registry's), by its label: what else it needs there.
# The machine's driver and libraries are CUDA 13: JAX takes the plugin for those and no CUDA of
# its own; TensorFlow 2.21 is built for CUDA 12 and brings the parts of it that it calls.
FRAMEWORK_EXTRAS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "TensorFlow": CUDA_12_FOR_TENSORFLOW,
    "JAX": (("jaxlib", None), ("jax-cuda13-plugin", "jaxlib"), ("jax-cuda13-pjrt", "jaxlib")),
}
# Installed only where the machine has no copy: what the frameworks' packages build on, and what
# the CLI, the workers and the GPU tests import (SQLite only: no PostgreSQL driver, no dashboard).
LIBRARIES = tuple((name, None) for name in (
    "namex", "optree", "termcolor", "gast", "astunparse", "google-pasta",
    "pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions", "sqlalchemy", "greenlet",
    "numpy", "scipy", "pandas", "python-dateutil", "tzdata", "six", "tqdm", "psutil", "nvidia-ml-py",
    "packaging", "pytest", "pytest-timeout", "pluggy", "iniconfig", "pygments"))
LIBRARY_GROUP = "libraries"


def groups() -> dict[str, list[tuple[str, str | None, str]]]:
    """Per group (each framework the machine lacks, by label, then the libraries): (distribution,
    version source, "always" for a framework's wheels or "if-missing" for a library's)."""
    from core.frameworks import REFERENCE, REGISTRY

    found: dict[str, list[tuple[str, str | None, str]]] = {}
    seen: set[str] = set()
    for framework in REGISTRY.values():
        if framework is REFERENCE:
            continue  # PyTorch with CUDA is the machine's own
        entries = [(package, None) for package in framework.packages] + list(FRAMEWORK_EXTRAS.get(framework.label, ()))
        found[framework.label] = [(name, version, "always") for name, version in entries if not (name in seen or seen.add(name))]
    found[LIBRARY_GROUP] = [(name, version, "if-missing") for name, version in LIBRARIES]
    return found


@dataclass(frozen=True)
class Wheel:
    file: str
    name: str
    version: str
    group: str
    install: str  # "always" or "if-missing"
    bytes: int
    sha256: str


def pinned_versions(requirements: Path = PROJECT_ROOT / "requirements.txt") -> dict[str, str]:
    """The ``name==version`` pins of requirements.txt."""
    pins = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def requirement(name: str, version: str | None, pins: dict[str, str]) -> str:
    """``name==version``: requirements.txt's pin (or this interpreter's version) when ``version`` is
    None, another distribution's pin when it names one (the plugin at jaxlib's), else as given."""
    if version is None:
        version = pins.get(name) or importlib.metadata.version(name)
    elif version in pins:
        version = pins[version]
    return f"{name}=={version}"


def planned(chosen: dict[str, list[tuple[str, str | None, str]]], pins: dict[str, str]) -> list[tuple[str, str, str]]:
    """(requirement, group, how it installs) for every wheel of the ``chosen`` groups."""
    return [(requirement(name, version, pins), group, install) for group, entries in chosen.items()
            for name, version, install in entries]


def pip_download(requirements: list[str], folder: Path) -> None:
    """Wheels for the GPU machine's Python, without dependencies (every one is named)."""
    platforms = [flag for platform in PLATFORMS for flag in ("--platform", platform)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--python-version", PYTHON_VERSION, "--implementation", "cp", *platforms, "-d", str(folder),
                    *requirements], check=True)


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name_and_version(file: str) -> tuple[str, str]:
    name, version = file.split("-")[:2]
    return normalised(name), version


def sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def collect_wheels(plan: list[tuple[str, str, str]], folder: Path) -> list[Wheel]:
    """The downloaded wheel of each planned requirement, with its size and digest."""
    by_name = {wheel_name_and_version(path.name): path for path in folder.glob("*.whl")}
    wheels = []
    for wanted, group, install in plan:
        name, version = wanted.split("==")
        path = by_name.get((normalised(name), version))
        if path is None:
            raise SystemExit(f"no wheel of {wanted} for Python {PYTHON_VERSION} in {folder}")
        wheels.append(Wheel(path.name, normalised(name), version, group, install, path.stat().st_size, sha256(path)))
    return wheels


def build_stand_ins(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "stand_in.c"
    source.write_text("int stand_in(void) { return 0; }\n")
    built = []
    for soname in STAND_IN_LIBRARIES:
        target = folder / soname
        subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(target), str(source)], check=True)
        built.append(target)
    source.unlink()
    return built


def travelling_bytes(root: Path = PROJECT_ROOT) -> int:
    """What a command there takes along besides its piece: the tracked files and the untracked
    ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            check=True, capture_output=True).stdout.decode().split("\0")
    return sum((root / name).stat().st_size for name in listed if name and (root / name).is_file())


def piece_bytes(tree_bytes: int, limit: int = TRAVEL_LIMIT_BYTES, margin: int = TRAVEL_MARGIN_BYTES) -> int:
    """The largest piece that travels beside the working tree, in whole MiB."""
    room = (limit - tree_bytes - margin) // MIB * MIB
    if room < MIB:
        raise SystemExit(f"the working tree ({tree_bytes / MIB:.1f} MiB) leaves no room for a piece under {limit // MIB} MiB")
    return room


def write_pieces(archive: Path, stage: Path, size: int) -> list[Path]:
    """Cut ``archive`` into ``stage/pNN/pNN`` (each folder is what one run carries), in order."""
    pieces = []
    with archive.open("rb") as handle:
        for index, block in enumerate(iter(lambda: handle.read(size), b"")):
            folder = stage / f"p{index:02d}"
            folder.mkdir(parents=True)
            (folder / folder.name).write_bytes(block)
            pieces.append(folder / folder.name)
    return pieces


class JoinedPieces(io.RawIOBase):
    """The pieces read one after the other as one stream, as ``cat p*`` gives them there."""

    def __init__(self, pieces: list[Path]) -> None:
        self._pending = list(pieces)
        self._current: io.BufferedReader | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._pending or self._current:
            if self._current is None:
                self._current = self._pending.pop(0).open("rb")
            count = self._current.readinto(buffer)
            if count:
                return count
            self._current.close()
            self._current = None
        return 0


def reassembled_members(pieces: list[Path]) -> dict[str, int]:
    """The archive the pieces make, as its files and their sizes (what the machine will unpack)."""
    with tarfile.open(fileobj=io.BufferedReader(JoinedPieces(pieces)), mode="r|") as archive:
        return {member.name: member.size for member in archive if member.isfile()}


def stage(chosen: dict[str, list[tuple[str, str | None, str]]], destination: Path = STAGE, cache: Path = CACHE, tree_bytes: int | None = None,
          download: Callable[[list[str], Path], None] = pip_download,
          stand_ins: Callable[[Path], list[Path]] = build_stand_ins) -> tuple[list[Wheel], list[Path]]:
    """Download (into ``cache``, once), then write the manifest and the pieces into ``destination``."""
    plan = planned(chosen, pinned_versions())
    wheels_folder = cache / "wheels"
    wheels_folder.mkdir(parents=True, exist_ok=True)
    download([wanted for wanted, _, _ in plan], wheels_folder)
    wheels = collect_wheels(plan, wheels_folder)
    fakes = stand_ins(cache / "fake") if "TensorFlow" in chosen else []
    size = piece_bytes(travelling_bytes() if tree_bytes is None else tree_bytes)
    destination.mkdir(parents=True, exist_ok=True)
    for old in destination.glob("p[0-9][0-9]"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "stage.tar"
        with tarfile.open(archive, "w") as tar:
            manifest = json.dumps({"python": PYTHON_VERSION, "wheels": [asdict(w) for w in wheels]}, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest))
            for wheel in wheels:
                tar.add(wheels_folder / wheel.file, f"wheels/{wheel.file}")
            for fake in fakes:
                tar.add(fake, f"fake/{fake.name}")
        pieces = write_pieces(archive, destination, size)
    return wheels, pieces


def sizes_table(wheels: list[Wheel], pieces: list[Path]) -> str:
    lines = [f"{'group':<11} {'wheel':<70} {'MiB':>7}  installed"]
    lines += [f"{w.group:<11} {w.file:<70} {w.bytes / MIB:7.1f}  {w.install}" for w in wheels]
    for group in dict.fromkeys(w.group for w in wheels):
        lines.append(f"{group:<11} {'(all)':<70} {sum(w.bytes for w in wheels if w.group == group) / MIB:7.1f}")
    lines.append("")
    lines += [f"piece {p.parent.name}: {p.stat().st_size / MIB:.1f} MiB" for p in pieces]
    lines.append(f"{len(pieces)} pieces, {sum(p.stat().st_size for p in pieces) / MIB:.1f} MiB in all")
    return "\n".join(lines)


def sending_plan(pieces: list[Path]) -> str:
    """What to run there: one command per piece, back to back, the last with the check itself."""
    relative = [os.path.relpath(p.parent, PROJECT_ROOT) for p in pieces]
    lines = ["On the GPU machine, back to back (it is given back after 30 s idle), each command carrying its",
             "piece's folder as an extra path:"]
    lines += [f"  carry {folder}: mkdir -p /tmp/st && cp {folder}/* /tmp/st/" for folder in relative[:-1]]
    lines.append(f"  carry {relative[-1]}: mkdir -p /tmp/st && cp {relative[-1]}/* /tmp/st/ && "
                 "source bench/gpu_setup.sh && python3 -m bench.gpu_check --out \"$OUT/gpu\"")
    lines.append("A fresh machine needs every piece again.")
    return "\n".join(lines)


def chosen_wheels(manifest: dict, has_distribution: Callable[[str], bool]) -> tuple[list[dict], list[dict]]:
    """(wheels to install, libraries the machine already has): frameworks always, libraries only where missing."""
    install, kept = [], []
    for wheel in manifest["wheels"]:
        if wheel["install"] == "if-missing" and has_distribution(wheel["name"]):
            kept.append(wheel)
        else:
            install.append(wheel)
    return install, kept


def machine_has(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def install(stage_folder: Path, target: Path) -> None:
    """On the GPU machine: install the staged wheels it needs into ``target``."""
    manifest = json.loads((stage_folder / MANIFEST).read_text())
    wanted, kept = chosen_wheels(manifest, machine_has)
    for wheel in wanted:
        if sha256(stage_folder / "wheels" / wheel["file"]) != wheel["sha256"]:
            raise SystemExit(f"{wheel['file']} arrived damaged; send the pieces again")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--target", str(target), *(str(stage_folder / "wheels" / w["file"]) for w in wanted)],
                   check=True)
    (target / ".staged").write_text("".join(f"{w['name']}=={w['version']}\n" for w in wanted))
    print(f"installed into {target}: {', '.join(w['name'] + '==' + w['version'] for w in wanted)}")
    if kept:
        print(f"the machine's own: {', '.join(w['name'] for w in kept)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    installer = commands.add_parser("install", help="on the GPU machine: install what the pieces hold")
    installer.add_argument("--stage", type=Path, default=Path("/tmp/stage"))
    installer.add_argument("--target", type=Path, default=Path("/tmp/site"))
    parser.add_argument("--dry-run", action="store_true", help="build the pieces, list them and check they reassemble")
    parser.add_argument("--skip", action="append", default=[], metavar="LABEL",
                        help="leave a framework's wheels out, by its label (TensorFlow, JAX; repeatable)")
    parser.add_argument("--out", type=Path, default=STAGE, help="where the pieces go (ignored by git)")
    args = parser.parse_args(argv)
    if args.command == "install":
        install(args.stage, args.target)
        return 0
    available = groups()
    unknown = [label for label in args.skip if label not in available or label == LIBRARY_GROUP]
    if unknown:
        parser.error(f"--skip takes a framework's label: {', '.join(g for g in available if g != LIBRARY_GROUP)}")
    wheels, pieces = stage({g: entries for g, entries in available.items() if g not in args.skip}, args.out)
    print(sizes_table(wheels, pieces))
    members = reassembled_members(pieces) if args.dry_run else None
    if members is not None:
        expected = {f"wheels/{w.file}": w.bytes for w in wheels}
        if any(members.get(name) != size for name, size in expected.items()):
            raise SystemExit("the pieces do not reassemble into the staged wheels")
        print(f"dry run: the pieces reassemble into {len(members)} files, every wheel whole; nothing was sent")
    else:
        print(sending_plan(pieces))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
