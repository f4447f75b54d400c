"""Out of memory is a result: a batch that does not fit ends its run as ``out_of_memory`` naming the
batch, and ``bench --find-max-batch`` finds the largest batch each framework fits."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import cli
from core.engine.max_batch import (
    MAX_BATCH_SIZE,
    MEMORY_LIMIT_VARIABLE,
    Fit,
    ProbeFailed,
    is_memory_failure,
    parse_memory_size,
    peak_memory,
    search_max_batch,
    worker_memory_limit,
)
from core.engine.work import BenchJob
from core.errors import BadInput
from core.frameworks import NAMES, REGISTRY
from core.spec import RunSpec
from tests.conftest import PROJECT_ROOT, read_json, run_cli

GiB = 1 << 30


def threshold(largest: int, calls: list[int] | None = None):
    def fits(batch: int) -> bool:
        if calls is not None:
            calls.append(batch)
        return batch <= largest
    return fits


# The search, without any framework.

@settings(max_examples=300, deadline=None)
@given(st.integers(1, MAX_BATCH_SIZE).flatmap(lambda upper: st.tuples(
    st.just(upper), st.integers(0, upper), st.integers(1, upper))))
def test_the_search_finds_the_exact_largest_batch_in_few_probes(case):
    upper, largest, start = case  # largest 0: not even batch 1 fits
    calls: list[int] = []
    search = search_max_batch(threshold(largest, calls), upper, start)
    assert search.largest_fit == (largest or None)
    assert search.first_failure == (largest + 1 if largest < upper else None)
    assert len(calls) == len(set(calls)) == len(search.probes)  # no batch is tried twice
    assert len(calls) <= 2 * upper.bit_length() + 2
    assert all(probe.fits == (probe.batch <= largest) for probe in search.probes)


def test_even_batch_one_that_does_not_fit_is_a_result():
    calls: list[int] = []
    search = search_max_batch(threshold(0, calls), upper=1024, start=128)
    assert (search.largest_fit, search.first_failure) == (None, 1)
    assert calls == [128, 64, 32, 16, 8, 4, 2, 1]  # halved on each failure, as timm's benchmark does


def test_an_upper_bound_that_fits_ends_the_search():
    calls: list[int] = []
    search = search_max_batch(threshold(10**6, calls), upper=1000, start=128)
    assert (search.largest_fit, search.first_failure) == (1000, None)
    assert calls == [128, 256, 512, 1000]


def test_the_search_keeps_what_each_probe_found_and_stops_on_other_failures():
    def fits(batch: int) -> Fit:
        if batch > 300:
            raise ProbeFailed(batch, {"kind": "crashed", "message": "boom"})
        return Fit(batch <= 200, {"batch": batch})

    search = search_max_batch(fits, upper=300, start=100)
    assert search.largest_fit == 200 and search.probe_at(200).detail == {"batch": 200}
    with pytest.raises(ProbeFailed, match="batch 400: crashed: boom"):
        search_max_batch(fits, upper=1000, start=100)
    with pytest.raises(ValueError):
        search_max_batch(fits, upper=0)


def test_memory_sizes_read_as_docker_and_people_write_them():
    assert parse_memory_size("1.5GiB") == parse_memory_size("1.5g") == int(1.5 * GiB)
    assert parse_memory_size("800 MiB") == 800 << 20
    assert parse_memory_size("2GB") == 2 * 10**9
    assert parse_memory_size("3000000000") == 3 * 10**9
    for bad in ("", "lots", "1.5 GiBs", "-1G", "10k"):
        with pytest.raises(BadInput, match="memory_limit must be"):
            parse_memory_size(bad)


def test_which_failures_count_as_not_fitting():
    assert is_memory_failure({"kind": "out_of_memory", "message": "out of memory at batch 8"})
    assert is_memory_failure({"kind": "crashed", "message": "the worker was killed by SIGABRT (signal 6); last output:\n"
                                                            "Check failed: ret == 0 (11 vs. 0) Thread tf_xla-cpu-codegen "
                                                            "creation via pthread_create() failed."})
    assert is_memory_failure({"kind": "crashed", "message": "the worker was killed by SIGKILL: out of memory (the "
                                                            "kernel's OOM killer stopped it)"})
    assert not is_memory_failure({"kind": "crashed", "message": "the worker was killed by SIGSEGV (signal 11)"})
    assert not is_memory_failure({"kind": "bad_input", "message": "cnn needs images of at least 8x8"})
    assert not is_memory_failure(None)
    assert peak_memory({"peak_device_memory_bytes": 5, "peak_host_rss_bytes": 9}) == (5, "device")
    assert peak_memory({"peak_device_memory_bytes": None, "peak_host_rss_bytes": 9}) == (9, "host RSS")


def test_the_largest_batch_a_probe_can_ask_for_is_the_specs():
    RunSpec(batch_size=MAX_BATCH_SIZE)
    with pytest.raises(Exception, match="batch_size"):
        RunSpec.from_dict({"batch_size": MAX_BATCH_SIZE + 1})


def test_the_limit_reaches_workers_started_meanwhile_only(monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_VARIABLE, raising=False)
    with worker_memory_limit(GiB):
        assert os.environ[MEMORY_LIMIT_VARIABLE] == str(GiB)
    assert MEMORY_LIMIT_VARIABLE not in os.environ
    with worker_memory_limit(None):
        assert MEMORY_LIMIT_VARIABLE not in os.environ


def test_a_worker_asked_to_keep_to_a_limit_is_refused_memory_beyond_it():
    code = ("import numpy as np, core.engine.worker_memory as worker_memory\n"
            "try:\n    worker_memory.apply_memory_limit()\n    np.ones(1 << 28)\n"  # 2 GiB
            "except MemoryError as error:\n    print('refused:', error)\n")

    def run(limit: int) -> str:
        env = {**os.environ, MEMORY_LIMIT_VARIABLE: str(limit)}
        return subprocess.run([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=60).stdout

    assert run(GiB).startswith("refused: Unable to allocate 2.00 GiB")
    assert run(2 << 20).startswith("refused: the framework alone maps")  # less than the interpreter maps already


# The worker's message, from what each framework says.

@pytest.mark.parametrize(("said", "detail"), [
    (MemoryError("Unable to allocate 576. MiB for an array with shape (49152, 32, 32, 3) and data type float32"),
     "Unable to allocate 576. MiB for an array"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                  "tried to allocate 301989888 bytes. Error code 12 (Cannot allocate memory)"),
     ": can't allocate memory: you tried to allocate 301989888 bytes"),
    (RuntimeError("{{function_node __wrapped__Mul_device_/job:localhost/replica:0/task:0/device:CPU:0}} OOM when "
                  "allocating tensor with shape[100000,3072] and type float on /job:localhost/replica:0"),
     ": OOM when allocating tensor with shape[100000,3072]"),
    (RuntimeError("Graph execution error:\n\nDetected at node StatefulPartitionedCall defined at (most recent call "
                  "last):\n  File ...\nOOM when allocating tensor with shape[2381,32,32,32] and type float on "
                  "/job:localhost/replica:0/task:0/device:CPU:0 by allocator cpu\n\t [[{{node conv}}]]"),
     ": OOM when allocating tensor with shape[2381,32,32,32] and type float on /job:localhost/replica:0/task:0/"
     "device:CPU:0 by allocator cpu; try"),
    (RuntimeError("INTERNAL: Error dispatching computation: Error dispatching computation: Out of memory allocating "
                  "1228800000 bytes."), ": Out of memory allocating 1228800000 bytes.; try"),
    (MemoryError(), ": MemoryError; try"),
])
def test_the_message_names_the_batch_the_input_and_the_limit(monkeypatch, said, detail):
    from core.engine.worker_memory import out_of_memory_message

    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, str(3 * GiB // 2))
    job = BenchJob(spec=RunSpec(batch_size=4096), input_shape=(32, 32, 3), steps=1, warmup=0)
    message = out_of_memory_message(job, said)
    assert message.startswith("out of memory at batch 4096 (input 32x32x3; worker memory limit 1.5 GiB): ")
    assert detail in message and message.endswith("; try a smaller batch size or bf16")


def test_an_allocation_refused_in_the_c_librarys_words_is_out_of_memory(monkeypatch):
    from core.engine.worker_memory import out_of_memory_as_memory_error

    class Backend:
        @staticmethod
        def is_out_of_memory(error: BaseException) -> bool:
            return False

    monkeypatch.setattr("core.engine.worker_memory.apply_memory_limit", lambda: None)  # this process keeps its own limits
    monkeypatch.delenv(MEMORY_LIMIT_VARIABLE, raising=False)
    with pytest.raises(MemoryError), out_of_memory_as_memory_error(Backend()):  # type: ignore[arg-type]
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes")
    with pytest.raises(RuntimeError), out_of_memory_as_memory_error(Backend()):  # type: ignore[arg-type]
        raise RuntimeError("could not create a primitive")  # oneDNN's words mean memory only under a limit
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, str(64 * GiB))
    for words in ("could not create a primitive", "INTERNAL: YNNPACK operation failed: error"):
        with pytest.raises(MemoryError), out_of_memory_as_memory_error(Backend()):  # type: ignore[arg-type]
            raise RuntimeError(words)


def test_find_max_batch_refuses_what_cannot_work_before_starting_anything(capsys):
    assert cli.main(["bench", "--find-max-batch", "--memory-limit", "lots", "--frameworks", NAMES[0]]) == cli.EXIT_BAD_INPUT
    assert "memory_limit must be a size such as 1.5GiB" in capsys.readouterr().err
    assert cli.main(["bench", "--find-max-batch", "--max-batch", str(MAX_BATCH_SIZE + 1),
                     "--frameworks", NAMES[0]]) == cli.EXIT_BAD_INPUT
    assert f"max_batch must be at most {MAX_BATCH_SIZE}" in capsys.readouterr().err
    assert cli.main(["bench", "--find-max-batch", "--dry-run", "--device", "cpu", "--memory-limit", "1.5GiB",
                     "--max-batch", "4096", "--frameworks", ",".join(NAMES)]) == cli.EXIT_OK
    plan = capsys.readouterr().out
    assert "from batch 128 up to 4096" in plan and "host memory limit 1.5 GiB per worker" in plan


# Real workers: each framework, under a small host memory limit, on this CPU.

LIMIT = 3 * GiB // 2  # 1.5 GiB: batch 256 of the MLP fits in every framework; 49152 (576 MiB an array) does not
BIG, SMALL = 49152, 256


@pytest.fixture(scope="module")
def limited_hosts():
    """One host per framework, started together so their imports overlap; every run they fork
    keeps to LIMIT once its framework is imported."""
    from core.engine.runner import WorkerHosts

    with worker_memory_limit(LIMIT), WorkerHosts(list(NAMES)) as hosts:
        hosts.wait_ready()
        yield hosts


@pytest.mark.frameworks
@pytest.mark.parametrize("framework", NAMES)
def test_a_batch_beyond_a_small_memory_limit_fails_as_out_of_memory_and_a_small_one_trains(limited_hosts, framework):
    if not REGISTRY[framework].installed:
        pytest.skip(f"{framework} is not installed")

    def run(batch: int):
        spec = RunSpec.from_dict({"architecture": "mlp", "framework": framework, "batch_size": batch, "device": "cpu"})
        return limited_hosts.run(BenchJob(spec=spec, input_shape=(32, 32, 3), steps=2, warmup=1, pool_batches=1))

    big = run(BIG)
    assert big.status == "failed" and big.error is not None, big
    assert big.error["kind"] == "out_of_memory", big.error
    assert big.error["message"].startswith(f"out of memory at batch {BIG} (input 32x32x3; worker memory limit 1.5 GiB): ")
    assert "try a smaller batch size" in big.error["message"]
    small = run(SMALL)
    assert small.status == "finished", small.error
    assert small.result is not None and 0 < small.result["peak_host_rss_bytes"] < 2 * LIMIT


@pytest.mark.frameworks
def test_find_max_batch_reports_the_largest_batch_that_fits_under_a_memory_limit(tmp_path):
    framework = NAMES[0]
    output = tmp_path / "max.json"
    # About 15 images of 160x160x3 fit the CNN in 1.2 GiB: a search of about five probes (each a fresh worker).
    completed = run_cli(["bench", "--find-max-batch", "--frameworks", framework, "--architecture", "cnn",
                         "--input-shape", "160x160x3", "--device", "cpu", "--memory-limit", "1.2GiB",
                         "--batch-size", "8", "--max-batch", "4096", "--json", str(output)], tmp_path / "home")
    assert completed.returncode == 0, completed.stderr
    report = read_json(output)
    assert report["kind"] == "bench-max-batch" and report["memory_limit_bytes"] == int(1.2 * GiB)
    (entry,) = report["frameworks"]
    largest, first_failure = entry["largest_fit"], entry["first_failure"]
    assert 1 <= largest < 4096 and first_failure == largest + 1, entry
    assert len(entry["probes"]) <= 2 * (4096).bit_length() + 2
    assert 0 < entry["peak_memory_bytes"] < 2 * report["memory_limit_bytes"] and entry["peak_memory_kind"] == "host RSS"
    refused = next(probe for probe in entry["probes"] if probe["batch"] == first_failure)
    assert refused["error"]["kind"] == "out_of_memory" and f"at batch {first_failure} " in refused["error"]["message"]
    assert f"{largest:,}" in completed.stdout and f"out of memory at batch {first_failure}" in completed.stdout
