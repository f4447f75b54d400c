import json
import subprocess
import sys
import typing

import pytest

from core.analysis.figures import METRICS
from core.engine.job_handlers import JOB_HANDLERS
from core.engine.runner import PROJECT_ROOT
from core.engine.work import (
    BenchJob,
    DescribeJob,
    Job,
    MinimalJob,
    ParityCheckJob,
    ParityReferenceJob,
    ProbeJob,
    StepsJob,
    TrainJob,
    job_from_json,
)
from core.errors import BadInput, TwinbenchError
from core.results import RunResult, checked_result
from core.spec import RunSpec

SPEC = RunSpec(framework="tensorflow", batch_size=8)
BENCH = BenchJob(spec=SPEC, input_shape=(32, 32, 3), steps=5, warmup=2)
EXAMPLES = [
    TrainJob(spec=SPEC, data_path="/tmp/data.npz", init_weights="/tmp/init.npz"),
    BENCH,
    MinimalJob.like(BENCH, "tensorflow"),
    StepsJob(framework="jax", architectures=("cnn", "mlp"), input_shape=(28, 28, 1), device="cpu"),
    DescribeJob(framework="pytorch", architectures=("vit",), input_shape=(32, 32, 3), num_classes=100),
    ProbeJob(framework="tensorflow"),
    ParityReferenceJob(architectures=("cnn",), paths=("/tmp/cnn.npz",), input_shape=(32, 32, 3), with_forward=False),
    ParityCheckJob(framework="jax", architectures=("cnn",), references=("/tmp/cnn.npz",), input_shape=(32, 32, 3)),
]


def test_every_kind_of_job_has_a_handler_and_an_example():
    kinds = set(typing.get_args(typing.get_args(Job)[0]))
    assert set(JOB_HANDLERS) == kinds
    assert {type(job) for job in EXAMPLES} == kinds


@pytest.mark.parametrize("job", EXAMPLES, ids=lambda job: job.kind)
def test_jobs_travel_as_json_unchanged_and_name_their_framework(job):
    assert job_from_json(job.to_json()) == job
    assert job.framework in ("pytorch", "tensorflow", "jax")


def test_a_minimal_job_measures_what_its_harness_job_does():
    minimal = MinimalJob.like(BENCH, "tensorflow")
    assert (minimal.spec, minimal.input_shape, minimal.steps, minimal.warmup) == (SPEC, (32, 32, 3), 5, 2)


@pytest.mark.parametrize("text, words", [
    ('{"kind": "train"}', "spec"),
    ('{"kind": "dance", "framework": "jax"}', "kind"),
    ('{"kind": "probe", "framework": "jax", "extra": 1}', "extra"),
    ('{"kind": "bench", "spec": {"epochs": 0}, "input_shape": [32, 32, 3], "steps": 1, "warmup": 0}', "spec.epochs"),
    ("not json", "not a valid job"),
])
def test_a_malformed_job_is_refused_as_bad_input(text, words):
    with pytest.raises(BadInput, match=words):
        job_from_json(text)


def test_the_worker_reports_a_malformed_job_as_its_last_event(tmp_path):
    path = tmp_path / "job.json"
    path.write_text('{"kind": "probe"}')
    completed = subprocess.run([sys.executable, "-m", "core.engine.worker", str(path)], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=60)
    last = json.loads(completed.stdout.strip().splitlines()[-1])
    assert completed.returncode == 1
    assert last["type"] == "failed" and last["kind"] == "bad_input" and "framework" in last["message"]
    assert "Traceback" not in completed.stderr


def test_every_figure_the_tables_show_is_part_of_the_result_contract():
    assert {metric.key for metric in METRICS} <= set(RunResult.model_fields)


def test_a_result_with_a_figure_nobody_reads_or_of_the_wrong_type_is_refused():
    assert checked_result({"steady_images_per_second": 10.0, "mode": "eager"}).steady_images_per_second == 10.0
    with pytest.raises(TwinbenchError, match="images_per_sec"):
        checked_result({"images_per_sec": 10.0})
    with pytest.raises(TwinbenchError, match="do not fit"):
        checked_result({"params": "many"})


def test_stored_results_from_other_versions_keep_their_unknown_figures():
    stored = RunResult.model_validate_json('{"test_accuracy": 0.9, "energy_joules": 12.5}')
    assert stored.test_accuracy == 0.9 and stored.as_dict()["energy_joules"] == 12.5
    assert stored.figure("energy_joules") == 12.5 and stored.figure("never_measured") is None
