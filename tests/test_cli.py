"""``python -m core`` end to end, as a user runs it: real workers, real database, real exit codes."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import psutil
import pytest

import core
from core.store.queries import Store
from core.train.measure import usable_cpu_count
from tests.conftest import PROJECT_ROOT, read_json, run_cli

pytestmark = pytest.mark.frameworks

RESULT_FIELDS = (
    "test_accuracy", "test_loss", "params", "flops_per_image", "steady_images_per_second", "step_ms_median",
    "step_ms_p90", "warmup_seconds", "compile_seconds", "time_to_target_seconds", "peak_device_memory_bytes",
    "device_memory_reserved_bytes", "nvml_memory_used_bytes", "peak_host_rss_bytes", "inference_ms_batch1",
    "inference_images_per_second",
)


@pytest.fixture(scope="module")
def default_compare(tmp_path_factory):
    """The default comparison (digits, cnn, both frameworks), run once for the tests below."""
    home = tmp_path_factory.mktemp("home")
    output = home / "result.json"
    completed = run_cli(["compare", "--json", str(output)], home)
    return home, completed, read_json(output) if output.exists() else None


def test_default_compare_trains_both_frameworks_to_high_accuracy(default_compare):
    _, completed, result = default_compare
    assert completed.returncode == 0, completed.stderr
    # Three repeats, alternating which framework goes first.
    assert [r["framework"] for r in result["runs"]] == ["pytorch", "tensorflow", "tensorflow", "pytorch", "pytorch", "tensorflow"]
    for run in result["runs"]:
        assert run["status"] == "finished" and run["error"] is None
        assert run["result"]["test_accuracy"] >= 0.90
        assert all(field in run["result"] for field in RESULT_FIELDS)
        assert run["result"]["steady_images_per_second"] > 0 and run["result"]["peak_host_rss_bytes"] > 0
        assert [e["epoch"] for e in run["epochs"]] == [1, 2, 3, 4, 5]
        assert run["environment"]["device"] == "cpu"


def _pairs(result):
    by_repeat = {}
    for run in result["runs"]:
        by_repeat.setdefault(run["repeat"], {})[run["framework"]] = run
    return [(pair["pytorch"], pair["tensorflow"]) for _, pair in sorted(by_repeat.items())]


def test_default_compare_is_a_fair_fight(default_compare):
    _, _, result = default_compare
    for torch_run, keras_run in _pairs(result):
        for key in ("params", "flops_per_image", "data_order_sha256", "steps_per_epoch", "test_images"):
            assert torch_run["result"][key] == keras_run["result"][key], key
        assert torch_run["environment"]["optimizer_settings"] == keras_run["environment"]["optimizer_settings"]
        for key in ("threads", "interop_threads"):
            # Every core this process may use (the test's own share when the suite runs in several), the same for both.
            assert torch_run["environment"][key] == keras_run["environment"][key] == usable_cpu_count(), key
        assert {k: v for k, v in torch_run["spec"].items() if k != "framework"} == \
               {k: v for k, v in keras_run["spec"].items() if k != "framework"}


def test_each_repeat_reaches_both_workers_with_its_own_seed(default_compare):
    _, _, result = default_compare
    pairs = _pairs(result)
    assert [(a["spec"]["seed"], b["spec"]["seed"]) for a, b in pairs] == [(0, 0), (1, 1), (2, 2)]
    # The seed decides the data order inside each worker: equal within a repeat, different across.
    assert len({a["result"]["data_order_sha256"] for a, _ in pairs}) == 3
    # Different initial weights and orders give different models: accuracy has a spread.
    assert len({a["result"]["test_correct_bits"] for a, _ in pairs}) > 1


def test_default_compare_states_its_verdict_with_intervals(default_compare):
    _, completed, result = default_compare
    verdict = {d["topic"]: d for d in result["verdict"]}
    assert {"Training speed", "Accuracy", "Memory"} <= set(verdict)
    for decision in verdict.values():
        assert decision["decision"] in ("winner", "equivalent", "inconclusive")
        assert (decision["winner"] is None) == (decision["decision"] != "winner")
        assert decision["reason"] or decision["winner"] or decision["decision"] == "equivalent"
        assert decision["sentence"] in completed.stdout
        if decision["topic"] != "Accuracy":
            assert decision["margin"] == 0.05 and "runs_needed" in decision
    assert "equivalent means within ±5 %" in completed.stdout
    assert verdict["Accuracy"]["interval"]["samples"] == 3 and verdict["Accuracy"]["interval"]["method"] == "paired t"
    assert verdict["Training speed"]["interval"]["method"] == "Welch t on log ratios"


def test_default_compare_prints_a_side_by_side_table_and_stores_everything(default_compare):
    home, completed, result = default_compare
    assert "PyTorch" in completed.stdout and "TensorFlow" in completed.stdout
    assert "Steady-state images/s" in completed.stdout and "Test accuracy" in completed.stdout
    assert "Traceback" not in completed.stderr
    store = Store(home / "runs.sqlite")
    stored = store.comparison(result["comparison_id"])
    assert all(r.step_samples for r in stored.runs)
    assert store.check()["problems"] == []


def test_every_run_records_the_code_that_measured_it_and_exports_it(default_compare):
    home, _, result = default_compare
    head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    commit = head.stdout.strip() if head.returncode == 0 else None  # None where the code is no checkout
    store = Store(home / "runs.sqlite")
    exported = store.export_json()["comparisons"][0]["runs"]
    for environment in [*(run.environment for run in store.comparison(result["comparison_id"]).runs),
                        *(run["environment"] for run in result["runs"]),
                        *(json.loads(run["environment"]["details_json"]) for run in exported)]:
        assert environment["twinbench_version"] == core.__version__ and environment["git_commit"] == commit
        assert isinstance(environment["git_dirty"], bool) == (commit is not None)
    header = store.export_csv().splitlines()[0].split(",")
    assert {"env_twinbench_version", "env_git_commit", "env_git_dirty"} <= set(header)


def test_runs_list_show_export_import_delete(default_compare, tmp_path):
    home, _, result = default_compare
    database = tmp_path / "copy.sqlite"
    Store(home / "runs.sqlite").backup(database)
    comparison_id = result["comparison_id"]
    listing = run_cli(["runs", "list", "--db", str(database)], home)
    assert listing.returncode == 0 and comparison_id in listing.stdout
    shown = run_cli(["runs", "show", comparison_id[:6], "--db", str(database)], home)
    assert shown.returncode == 0 and "Test accuracy" in shown.stdout
    assert run_cli(["runs", "export", str(tmp_path / "all.json"), "--db", str(database)], home).returncode == 0
    assert run_cli(["runs", "export", str(tmp_path / "all.csv"), "--db", str(database)], home).returncode == 0
    assert len((tmp_path / "all.csv").read_text().strip().splitlines()) == 1 + 6  # a header and a row per run
    fresh = tmp_path / "fresh.sqlite"
    imported = run_cli(["runs", "import", str(tmp_path / "all.json"), "--db", str(fresh)], home)
    assert imported.returncode == 0 and "Imported 1" in imported.stdout
    assert Store(fresh).export_json() == Store(database).export_json()
    refused = run_cli(["runs", "delete", comparison_id, "--db", str(database)], home)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    deleted = run_cli(["runs", "delete", comparison_id, "--db", str(database), "--yes"], home)
    assert deleted.returncode == 0 and Store(database).list_comparisons() == []
    missing = run_cli(["runs", "show", "nope", "--db", str(database)], home)
    assert missing.returncode == 2 and "no comparison" in missing.stderr


def corrupt_zip(folder: Path) -> Path:
    path = folder / "upload.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    return path


def escaping_zip(folder: Path) -> Path:
    path = folder / "escape.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("../../outside.png", b"x")
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["compare", "--dataset", "imagenet"], "choose one of digits, shapes, mnist, fashion_mnist, cifar10, cifar100"),
        (["compare", "--architecture", "alexnet"], "choose one of mlp, cnn, lenet5"),
        (["compare", "--frameworks", "pytorch,mxnet"], "unknown framework 'mxnet'"),
        (["compare", "--epochs", "0"], "epochs must be between 1 and"),
        (["compare", "--batch-size", "-3"], "batch_size must be between 1 and"),
        (["compare", "--batch-size", "abc"], "batch_size must be a whole number"),
        (["compare", "--learning-rate", "fast"], "learning_rate must be a number"),
        (["compare", "--batch-size", "5000"], "at most the training split's 1293 images"),
        (["compare", "--architecture", "lenet5"], "lenet5 needs images of at least 12x12"),
        (["compare", "--dataset", "{corrupt}"], "not a zip archive"),
        (["compare", "--dataset", "{escaping}"], "outside the archive"),
        (["bench", "--architecture", "lenet5", "--input-shape", "8x8x1"], "at least 12x12"),
        (["bench", "--input-shape", "big"], "input_shape must look like 32x32x3"),
        (["bench", "--steps", "0"], "steps must be at least 1"),
        (["compare", "--json", "/proc/twinbench.json"], "--json /proc/twinbench.json cannot be written"),
        (["compare", "--json", "{folder}"], "is a folder"),
        (["runs", "export", "/proc/no/export.json"], "export file /proc/no/export.json cannot be written"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_trains_nothing(tmp_path, args, message):
    home = tmp_path / "home"
    args = [a.format(corrupt=corrupt_zip(tmp_path), escaping=escaping_zip(tmp_path), folder=tmp_path) for a in args]
    completed = run_cli(args, home, timeout=120)
    assert completed.returncode == 2, completed.stderr
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    assert not (tmp_path / "outside.png").exists() and not (tmp_path.parent / "outside.png").exists()
    database = home / "runs.sqlite"
    assert not database.exists() or Store(database).list_comparisons() == []


def test_a_missing_framework_is_reported_and_the_other_still_runs(tmp_path):
    shadow = tmp_path / "shadow" / "tensorflow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'tensorflow'\", name='tensorflow')\n")
    output = tmp_path / "out.json"
    completed = run_cli(["compare", "--epochs", "1", "--repeats", "1", "--json", str(output), "--quiet"], tmp_path / "home",
                        extra_env={"PYTHONPATH": str(tmp_path / "shadow")})
    assert completed.returncode == 1
    runs = {r["framework"]: r for r in read_json(output)["runs"]}
    assert runs["pytorch"]["status"] == "finished"
    assert runs["tensorflow"]["status"] == "failed"
    assert runs["tensorflow"]["error"]["kind"] == "unavailable"
    assert "TensorFlow is not installed" in runs["tensorflow"]["error"]["message"]
    assert "Traceback" not in completed.stderr


def _run_process_of(parent: psutil.Process, framework: str) -> psutil.Process | None:
    """The process training a run of ``framework``: a child of that framework's host."""
    for child in parent.children(recursive=True):
        try:
            if child.cmdline()[-2:] == ["--host", framework] and child.children():
                return child.children()[0]
        except (psutil.Error, IndexError):
            continue
    return None


def test_a_killed_worker_fails_its_run_and_the_other_framework_completes(tmp_path):
    home = tmp_path / "home"
    output = tmp_path / "out.json"
    database = home / "runs.sqlite"
    env = {**os.environ, "TWINBENCH_HOME": str(home)}
    cli = subprocess.Popen(
        [sys.executable, "-m", "core", "compare", "--epochs", "30", "--repeats", "1", "--json", str(output), "--quiet"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    parent = psutil.Process(cli.pid)
    deadline = time.monotonic() + 180
    victim = None
    while time.monotonic() < deadline and victim is None:
        time.sleep(0.2)
        worker = _run_process_of(parent, "pytorch")
        if worker and database.exists():
            with sqlite3.connect(database) as db:
                if db.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] >= 1:
                    victim = worker
    assert victim is not None, "the PyTorch worker never recorded an epoch"
    victim.send_signal(signal.SIGKILL)
    stdout, stderr = cli.communicate(timeout=300)
    assert cli.returncode == 1
    runs = {r["framework"]: r for r in read_json(output)["runs"]}
    assert runs["pytorch"]["status"] == "failed"
    assert runs["pytorch"]["error"]["kind"] == "crashed"
    assert "killed by SIGKILL" in runs["pytorch"]["error"]["message"]
    assert runs["pytorch"]["epochs"], "epochs recorded before the crash are kept"
    assert runs["tensorflow"]["status"] == "finished" and len(runs["tensorflow"]["epochs"]) == 30
    assert Store(database).check()["problems"] == []
    assert "Traceback" not in stderr


def test_cancelling_a_comparison_marks_its_runs_cancelled(home):
    from core.engine.compare import create_comparison, execute_comparison
    from core.spec import RunSpec

    store = Store(home / "runs.sqlite")
    comparison_id = create_comparison(store, RunSpec(epochs=50, repeats=1), ["pytorch", "tensorflow"])
    seen_epochs = []

    def on_event(info, event):
        if event["type"] == "epoch":
            seen_epochs.append(event["epoch"])

    execute_comparison(store, comparison_id, on_event=on_event, should_cancel=lambda: len(seen_epochs) >= 2)
    runs = store.comparison(comparison_id).runs
    assert [(r.status, r.error_kind) for r in runs] == [("failed", "cancelled"), ("failed", "cancelled")]
    assert 2 <= len(runs[0].epochs) < 50
    assert store.check()["problems"] == []


@pytest.mark.parametrize("mode, expected", [
    (["--precision", "bf16"], {"pytorch": "eager, bf16", "tensorflow": "tf.function, bf16"}),
    (["--compile", "on"], {"pytorch": "torch.compile", "tensorflow": "XLA (jit_compile)"}),
], ids=["bf16", "compiled"])
def test_bench_reports_steady_state_speed_for_both_frameworks(tmp_path, mode, expected):
    output = tmp_path / "bench.json"
    completed = run_cli(["bench", "--architecture", "cnn", "--input-shape", "16x16x3", "--batch-size", "16",
                         "--steps", "8", "--warmup", "2", "--json", str(output), "--quiet", *mode], tmp_path / "home")
    assert completed.returncode == 0, completed.stderr
    bench = read_json(output)
    assert [r["framework"] for r in bench["runs"]] == ["pytorch", "tensorflow"]
    for run in bench["runs"]:
        result = run["result"]
        assert result["mode"] == expected[run["framework"]]
        assert run["environment"]["precision"] == run["spec"]["precision"]
        assert result["steady_images_per_second"] > 0 and result["step_ms_median"] > 0
        assert result["warmup_steps"] == 2 and "peak_device_memory_bytes" in result
    assert "Steady-state images/s" in completed.stdout


def test_a_batch_that_cannot_fit_in_memory_is_reported_as_out_of_memory(tmp_path):
    output = tmp_path / "bench.json"
    completed = run_cli(["bench", "--architecture", "mlp", "--framework", "pytorch", "--input-shape", "512x512x3",
                         "--batch-size", "65536", "--steps", "1", "--json", str(output), "--quiet"], tmp_path / "home")
    assert completed.returncode == 1
    error = read_json(output)["runs"][0]["error"]
    assert error["kind"] == "out_of_memory" and "smaller batch" in error["message"]


def test_the_cli_needs_no_framework_in_its_own_process():
    code = ("import sys, core.cli, core.engine.compare, core.store.queries, core.analysis.report, core.data.prepare; "
            "sys.exit(any(m in sys.modules for m in ('torch', 'tensorflow', 'keras', 'streamlit')))")
    assert subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT).returncode == 0


def test_prepared_data_survives_a_cleared_cache(home):
    from core.engine.compare import create_comparison, execute_comparison
    from core.spec import RunSpec

    store = Store(home / "runs.sqlite")
    comparison_id = create_comparison(store, RunSpec(epochs=1, repeats=1), ["pytorch"])
    shutil.rmtree(home / "prepared")
    execute_comparison(store, comparison_id)
    assert store.comparison(comparison_id).runs[0].status == "finished"


def test_device_cuda_without_a_visible_gpu_explains_there_is_none(tmp_path):
    # Hidden from every framework, so the test means the same on a GPU machine as on a laptop.
    output = tmp_path / "out.json"
    completed = run_cli(["compare", "--device", "cuda", "--epochs", "1", "--repeats", "1", "--json", str(output), "--quiet"],
                        tmp_path / "home", extra_env={"CUDA_VISIBLE_DEVICES": ""})
    runs = read_json(output)["runs"]
    assert completed.returncode == 1
    assert len(runs) == 2
    for run in runs:
        assert run["error"]["kind"] == "unavailable"
        assert "device cuda was requested" in run["error"]["message"] and "sees no GPU" in run["error"]["message"]
    assert "Traceback" not in completed.stderr


def test_compare_until_decided_adds_alternating_repeats_and_says_where_each_figure_stands(tmp_path):
    output = tmp_path / "out.json"
    completed = run_cli(["compare", "--epochs", "1", "--repeats", "2", "--max-images", "300", "--until-decided",
                         "--budget", "25s", "--equivalence", "10%", "--json", str(output)], tmp_path / "home")
    assert completed.returncode == 0, completed.stderr
    runs = read_json(output)["runs"]
    repeats = 1 + max(run["repeat"] for run in runs)
    assert len(runs) == 2 * repeats and repeats >= 2
    for repeat in range(repeats):
        order = [run["framework"] for run in runs if run["repeat"] == repeat]
        assert order == (["pytorch", "tensorflow"] if repeat % 2 == 0 else ["tensorflow", "pytorch"])
        assert {run["spec"]["seed"] for run in runs if run["repeat"] == repeat} == {repeat}
    assert "2 pairs, PyTorch / TensorFlow · Training speed" in completed.stderr  # the look after the planned repeats
    assert "equivalent means within ±10 %" in completed.stdout
    assert "until decided: " in completed.stdout
    if "still undecided" in completed.stdout:
        assert "would settle it" in completed.stdout or "not within" in completed.stdout
        assert "to settle it: python -m core compare" in completed.stdout or "no budget would settle" in completed.stdout


def test_budget_without_until_decided_is_refused_before_anything_trains(tmp_path):
    completed = run_cli(["compare", "--budget", "30s"], tmp_path / "home")
    assert completed.returncode == 2 and "--until-decided" in completed.stderr
    completed = run_cli(["compare", "--equivalence", "lots", "--dry-run"], tmp_path / "home")
    assert completed.returncode == 2 and "equivalence margin" in completed.stderr


def test_three_frameworks_compare_pairwise_against_the_first(tmp_path):
    output = tmp_path / "out.json"
    completed = run_cli(["compare", "--frameworks", "pytorch,tensorflow,jax", "--epochs", "2", "--repeats", "2",
                         "--json", str(output), "--quiet"], tmp_path / "home")
    assert completed.returncode == 0, completed.stderr
    result = read_json(output)
    runs = result["runs"]
    # Each repeat trains all three, the order reversed every other repeat.
    assert [r["framework"] for r in runs] == ["pytorch", "tensorflow", "jax", "jax", "tensorflow", "pytorch"]
    for run in runs:
        assert run["status"] == "finished" and run["result"]["steady_images_per_second"] > 0
        assert run["result"]["trainable_params"] == 35_914 and len(run["epochs"]) == 2
    jax_runs = [r for r in runs if r["framework"] == "jax"]
    assert all(r["result"]["mode"] == "jax.jit" and r["environment"]["keras_backend"] == "jax" for r in jax_runs)
    # The step is compiled once: a steady step costs a small part of the first one, which compiled it
    # (a step compiled again each time would cost about as much). Not the p90 against the median: a
    # busy machine spreads steps without any compiling.
    assert all(1000 * r["result"]["compile_seconds"] > 10 * r["result"]["step_ms_median"] for r in jax_runs)
    pairs = {tuple(d["frameworks"]) for d in result["verdict"]}
    assert pairs == {("pytorch", "tensorflow"), ("pytorch", "jax")}
    assert "PyTorch vs TensorFlow" in completed.stdout and "PyTorch vs JAX" in completed.stdout


def test_a_cancel_while_the_frameworks_load_stops_waiting_at_once():
    from core.engine.runner import WorkerHost

    host = WorkerHost("tensorflow")
    try:
        started = time.monotonic()
        error = host.wait_ready(should_cancel=lambda: True)
        assert error["kind"] == "cancelled" and time.monotonic() - started < 5
    finally:
        host.close()
    assert host.process.poll() is not None


def test_a_full_disk_leaves_the_previous_output_whole_and_says_so(tmp_path):
    # A file-size limit in a child process stands in for a full disk.
    target = tmp_path / "out.json"
    target.write_text("previous")
    script = f"""
import resource, signal
from pathlib import Path
from core.cli import write_json
from core.errors import TwinbenchError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
try:
    write_json(Path({str(target)!r}), {{"runs": ["x" * 100] * 100}})
except TwinbenchError as error:
    print(error)
"""
    completed = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert "could not write" in completed.stdout and "kept in the store" in completed.stdout, completed.stderr
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
