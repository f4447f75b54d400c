"""Staging for the GPU machine: which wheels, how they are cut into pieces that fit one run each,
that the pieces put back together give every wheel whole, and what is installed there. The
download is faked here (the real one is `python -m bench.stage_gpu --dry-run`, docs/benchmarks.md)."""

import io
import json
import os
import tarfile

import pytest

from bench import stage_gpu
from core.frameworks import REFERENCE, REGISTRY

MIB = 2**20


def fake_download(requirements, folder):
    for index, wanted in enumerate(requirements):
        name, version = wanted.split("==")
        (folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl").write_bytes(os.urandom(150_000 + index))


def fake_stand_ins(folder):
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for soname in stage_gpu.STAND_IN_LIBRARIES:
        (folder / soname).write_bytes(b"\x7fELF stand-in")
        made.append(folder / soname)
    return made


@pytest.fixture
def staged(tmp_path):
    # A working tree that leaves room for pieces of 2 MiB only, so a few fake wheels need several.
    tree = stage_gpu.TRAVEL_LIMIT_BYTES - stage_gpu.TRAVEL_MARGIN_BYTES - 2 * MIB - 1000
    wheels, pieces = stage_gpu.stage(stage_gpu.groups(), tmp_path / "stage", tmp_path / "cache", tree_bytes=tree,
                                     download=fake_download, stand_ins=fake_stand_ins)
    return wheels, pieces


def test_every_framework_but_the_machines_own_is_staged_at_its_pinned_version(staged):
    wheels, _ = staged
    pins = stage_gpu.pinned_versions()
    staged_versions = {w.name: w.version for w in wheels}
    for framework in REGISTRY.values():
        for package in framework.packages:
            if framework is REFERENCE:
                assert package not in staged_versions
            else:
                assert staged_versions[package] == pins.get(package, staged_versions[package])
                assert next(w.install for w in wheels if w.name == package) == "always"
    assert staged_versions["jax-cuda13-plugin"] == staged_versions["jaxlib"] == pins["jaxlib"]
    assert len(staged_versions) == len(wheels)  # keras, which two frameworks need, once


def test_pieces_fit_beside_the_working_tree_and_reassemble_into_every_wheel(staged):
    wheels, pieces = staged
    assert len(pieces) == -(-sum(p.stat().st_size for p in pieces) // (2 * MIB))  # as few as the limit allows
    assert all(p.stat().st_size <= 2 * MIB for p in pieces)
    assert [p.parent.name for p in pieces] == [f"p{i:02d}" for i in range(len(pieces))]
    members = stage_gpu.reassembled_members(pieces)
    assert {f"wheels/{w.file}": w.bytes for w in wheels}.items() <= members.items()
    assert {f"fake/{name}" for name in stage_gpu.STAND_IN_LIBRARIES} <= set(members)


def test_the_piece_size_is_what_the_limit_leaves_beside_the_tree():
    assert stage_gpu.piece_bytes(3 * MIB) == 60 * MIB
    assert stage_gpu.piece_bytes(int(2.2 * MIB)) == 60 * MIB  # whole MiB, the margin kept
    with pytest.raises(SystemExit, match="no room"):
        stage_gpu.piece_bytes(63 * MIB)


def test_the_plan_sends_each_piece_once_and_the_check_with_the_last(staged):
    _, pieces = staged
    plan = stage_gpu.sending_plan(pieces).splitlines()
    commands = [line for line in plan if line.startswith("  carry ")]
    assert len(commands) == len(pieces)
    assert "bench/gpu_setup.sh" in commands[-1] and "bench.gpu_check" in commands[-1]
    assert all("bench.gpu_check" not in line for line in commands[:-1])


def test_skipping_a_framework_leaves_its_wheels_out(tmp_path):
    chosen = {label: entries for label, entries in stage_gpu.groups().items() if label != "JAX"}
    wheels, _ = stage_gpu.stage(chosen, tmp_path / "stage", tmp_path / "cache", tree_bytes=3 * MIB,
                                download=fake_download, stand_ins=fake_stand_ins)
    assert not any(w.name.startswith("jax") for w in wheels)


def test_there_frameworks_always_install_and_libraries_only_where_missing(staged, tmp_path):
    wheels, pieces = staged
    with tarfile.open(fileobj=io.BufferedReader(stage_gpu.JoinedPieces(pieces)), mode="r|") as archive:
        manifest = next(json.load(archive.extractfile(m)) for m in archive if m.name == stage_gpu.MANIFEST)
    machine = {"numpy", "scipy", "keras"}  # keras there too: a framework's package is installed all the same
    install, kept = stage_gpu.chosen_wheels(manifest, lambda name: name in machine)
    assert {w["name"] for w in kept} == {"numpy", "scipy"}
    assert {"keras", "pydantic", "sqlalchemy"} <= {w["name"] for w in install}
    assert len(install) + len(kept) == len(wheels)
