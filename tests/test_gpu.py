"""The GPU path, where a GPU is: runs on ``cuda`` in every installed framework, their timings
against CUDA events, memory figures against NVML, framework hosts that leave CUDA to the runs
they fork, the compiled and bf16 modes, the parity audit, and running out of device memory.

Select with ``pytest -m gpu``; on a machine whose NVML sees no GPU every test here is skipped
with that reason, so the suite stays green without one. ``python -m bench.gpu_check`` runs them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pytest

from core.engine.runner import ProcessExecutor, WorkerHost
from core.engine.work import BenchJob
from core.frameworks import REGISTRY
from core.spec import RunSpec
from tests.conftest import PROJECT_ROOT, read_json, run_cli


def why_no_gpu() -> str | None:
    """Why this machine cannot run the GPU tests, or None when NVML sees a GPU CUDA may use."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except Exception as error:  # no driver, no library: no GPU
        return f"no CUDA device visible (NVML: {type(error).__name__}: {error})"
    return None if count else "no CUDA device visible (NVML counts 0 GPUs)"


NO_GPU = why_no_gpu()
pytestmark = [pytest.mark.gpu, pytest.mark.frameworks, pytest.mark.skipif(NO_GPU is not None, reason=NO_GPU or "")]
INSTALLED = [name for name, framework in REGISTRY.items() if framework.installed]
# A figure measured once by two clocks agrees this closely (host timer against CUDA events).
TIMING_AGREEMENT = 0.03
# The device's memory in use before and after a run may differ by what the driver keeps itself.
DEVICE_FREE_SLACK_BYTES = 64 * 2**20


def device_memory_used() -> int:
    import pynvml

    from core.train.measure import nvml_handle_for_cuda_device

    pynvml.nvmlInit()
    handle = nvml_handle_for_cuda_device(pynvml, os.environ.get("CUDA_VISIBLE_DEVICES"))
    return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)


def device_memory_total() -> int:
    import pynvml

    from core.train.measure import nvml_handle_for_cuda_device

    pynvml.nvmlInit()
    return int(pynvml.nvmlDeviceGetMemoryInfo(nvml_handle_for_cuda_device(pynvml, os.environ.get("CUDA_VISIBLE_DEVICES"))).total)


def wait_until_device_free(baseline: int, seconds: float = 10.0) -> int:
    """The device's memory in use once it is back to ``baseline`` (or after ``seconds``)."""
    deadline = time.monotonic() + seconds
    used = device_memory_used()
    while used > baseline + DEVICE_FREE_SLACK_BYTES and time.monotonic() < deadline:
        time.sleep(0.2)
        used = device_memory_used()
    return used


def framework_param(name: str):
    return pytest.param(name, id=name, marks=pytest.mark.skipif(name not in INSTALLED, reason=f"{name} is not installed"))


FRAMEWORKS = [framework_param(name) for name in REGISTRY]


@pytest.fixture(scope="module")
def cuda_comparisons(tmp_path_factory):
    """One short cnn comparison on cuda (the default epochs) per installed framework, with the device's memory in use
    before it and once its worker has gone."""
    found = {}
    for framework in INSTALLED:
        home = tmp_path_factory.mktemp(f"home-{framework}")
        before = device_memory_used()
        out = home / "out.json"
        finished = run_cli(["compare", "--dataset", "shapes", "--architecture", "cnn", "--frameworks", framework,
                            "--device", "cuda", "--repeats", "1", "--quiet", "--json", str(out)], home)
        found[framework] = {"process": finished, "before": before, "after": wait_until_device_free(before),
                            "report": read_json(out) if out.exists() else None}
    return found


def only_run(comparison):
    (run,) = comparison["report"]["runs"]
    return run


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_short_cnn_run_on_cuda_learns(cuda_comparisons, framework):
    comparison = cuda_comparisons[framework]
    assert comparison["process"].returncode == 0, comparison["process"].stderr[-2000:]
    run = only_run(comparison)
    assert run["status"] == "finished" and run["environment"]["device"] == "cuda"
    result, classes = run["result"], comparison["report"]["data"]["num_classes"]
    assert math.isfinite(result["test_loss"])
    assert result["test_accuracy"] > 1.0 / classes + 0.1, "no better than chance"
    assert result["steady_images_per_second"] > 0


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_memory_figures_mean_what_they_say_and_the_device_is_free_afterwards(cuda_comparisons, framework):
    comparison = cuda_comparisons[framework]
    result = only_run(comparison)["result"]
    # The allocator's peak is what the model took; NVML sees that plus the context and workspaces.
    assert 0 < result["peak_device_memory_bytes"] <= result["nvml_memory_used_bytes"]
    # TensorFlow's memory growth and JAX's allocator without preallocation: a small cnn takes a
    # small part of the device, not the most of it that either takes by default.
    assert result["nvml_memory_used_bytes"] < 0.5 * device_memory_total()
    assert comparison["after"] <= comparison["before"] + DEVICE_FREE_SLACK_BYTES


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_host_never_initialises_cuda_and_the_run_it_forks_does(tmp_path, monkeypatch, framework):
    monkeypatch.setenv("TWINBENCH_HOME", str(tmp_path))
    before = device_memory_used()
    host = WorkerHost(framework)
    try:
        assert host.wait_ready() is None
        # A CUDA context takes hundreds of MiB of the device: the host that imported the
        # framework's CUDA build holds none.
        assert device_memory_used() <= before + DEVICE_FREE_SLACK_BYTES
        spec = RunSpec.from_dict({"framework": framework, "architecture": "cnn", "device": "cuda", "batch_size": 64})
        outcome = host.run(BenchJob(spec=spec, input_shape=(32, 32, 3), steps=20, warmup=5))
        assert outcome.status == "finished", outcome.error
        assert outcome.environment["device"] == "cuda" and outcome.result["peak_device_memory_bytes"] > 0
        # The run's context went with its process; the host still holds nothing.
        assert wait_until_device_free(before) <= before + DEVICE_FREE_SLACK_BYTES
        second = host.run(BenchJob(spec=spec, input_shape=(32, 32, 3), steps=20, warmup=5))
        assert second.status == "finished", second.error
    finally:
        host.close()


CUDA_EVENT_PROBE = r"""
import json, sys, time
import torch
from core.engine.worker import load_framework, synthetic_inputs
from core.spec import RunSpec
from core.train.loop import run_benchmark

batch, warmup, steps = 256, 20, 400
spec = RunSpec.from_dict({"framework": "pytorch", "architecture": "cnn", "device": "cuda", "batch_size": batch})
images, labels = synthetic_inputs((32, 32, 3), 10, 4 * batch, 0)
trainer = load_framework("pytorch").create_trainer(spec, (32, 32, 3), 10, labels, 4)
trainer.load_training_images(images)
marks, taken = [], [0]
synchronize, train_step = trainer.synchronize, trainer.train_step

def timed_synchronize():
    event = torch.cuda.Event(enable_timing=True)
    event.record()
    synchronize()
    marks.append((taken[0], time.perf_counter(), event))

def counted_step(step):
    train_step(step)
    taken[0] += 1

trainer.synchronize, trainer.train_step = timed_synchronize, counted_step
result = run_benchmark(trainer, batch, steps, warmup, 4, lambda *a, **k: None)
steady = [(a, b) for a, b in zip(marks, marks[1:]) if a[0] >= warmup and b[0] > a[0]]
json.dump({"images_per_second": result["steady_images_per_second"], "images": sum(b[0] - a[0] for a, b in steady) * batch,
           "host_seconds": sum(b[1] - a[1] for a, b in steady),
           "event_seconds": sum(a[2].elapsed_time(b[2]) for a, b in steady) / 1000.0}, sys.stdout)
"""


def test_steady_speed_agrees_with_cuda_event_timings():
    if "pytorch" not in INSTALLED:
        pytest.skip("CUDA events are read through PyTorch, which is not installed")
    probe = subprocess.run([sys.executable, "-c", CUDA_EVENT_PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True,
                           timeout=300)
    assert probe.returncode == 0, probe.stderr[-2000:]
    timed = json.loads(probe.stdout)
    assert timed["host_seconds"] == pytest.approx(timed["event_seconds"], rel=TIMING_AGREEMENT)
    assert timed["images_per_second"] == pytest.approx(timed["images"] / timed["event_seconds"], rel=TIMING_AGREEMENT)


def bench(home, framework, *flags, steps="30"):
    out = home / f"bench-{framework}-{len(list(home.glob('bench-*')))}.json"
    finished = run_cli(["bench", "--framework", framework, "--architecture", "cnn", "--device", "cuda", "--batch-size", "256",
                        "--steps", steps, "--warmup", "10", "--quiet", "--json", str(out), *flags], home)
    assert finished.returncode == 0, finished.stderr[-2000:]
    (run,) = read_json(out)["runs"]
    assert run["status"] == "finished", run["error"]
    return run


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bf16_and_compiled_modes_run_on_cuda(home, framework):
    details = REGISTRY[framework]
    modes = [("--precision", "bf16")] + ([("--compile", "on")] if details.compiler else [])
    if details.cuda_graphs:
        modes.append(("--compile", "reduce-overhead"))
    for flag, value in modes:
        run = bench(home, framework, flag, value)
        assert run["environment"]["device"] == "cuda"
        assert math.isfinite(run["result"]["steady_images_per_second"]) and run["result"]["steady_images_per_second"] > 0
        mode = run["result"]["mode"]
        assert ("bf16" in mode) if value == "bf16" else (details.compiler in mode)


def test_energy_per_image_is_measured_over_a_long_enough_steady_window(home):
    framework = INSTALLED[0]
    run = bench(home, framework, steps="3000")
    result = run["result"]
    assert "NVML" in result["energy_note"]
    assert result["energy_window_seconds"] >= 2.0, result["energy_note"]
    assert result["energy_idle_watts"] > 0
    assert 0 < result["energy_joules_per_image"] < 1.0, result["energy_note"]


def test_the_parity_audit_passes_on_the_gpu(home):
    out = home / "parity.json"
    finished = run_cli(["parity", "--architecture", "cnn", "--json", str(out)], home)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    assert read_json(out)["passed"]


HOG = r"""
import sys, time, torch
free, _ = torch.cuda.mem_get_info()
hold = torch.empty(free - int(sys.argv[1]), dtype=torch.uint8, device="cuda")
print("holding", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_an_out_of_memory_batch_is_a_result_naming_the_batch_and_the_next_run_works(tmp_path, monkeypatch, framework):
    if "pytorch" not in INSTALLED:
        pytest.skip("the device is filled through PyTorch, which is not installed")
    monkeypatch.setenv("TWINBENCH_HOME", str(tmp_path))
    # Another process takes all but 3 GiB of the device, so a large batch cannot fit.
    hog = subprocess.Popen([sys.executable, "-c", HOG, str(3 * 2**30)], stdout=subprocess.PIPE, text=True)
    try:
        assert hog.stdout is not None and hog.stdout.readline().strip() == "holding"
        executor = ProcessExecutor()
        spec = RunSpec.from_dict({"framework": framework, "architecture": "cnn", "device": "cuda", "batch_size": 65536})
        too_big = executor.run(BenchJob(spec=spec, input_shape=(32, 32, 3), steps=5, warmup=1, pool_batches=1))
        assert too_big.status == "failed" and too_big.error["kind"] == "out_of_memory", too_big.error
        assert "batch 65536" in too_big.error["message"]
        small = executor.run(BenchJob(spec=spec.replace(batch_size=64), input_shape=(32, 32, 3), steps=5, warmup=1))
        assert small.status == "finished", small.error
    finally:
        hog.kill()
        hog.wait()
