"""--executor ray: a comparison trains on one device of a Ray cluster, its events come back to the
store, a cancel reaches it, and a node that dies fails only the comparison it was training.

The cluster tests start real local clusters (`-m ray` selects them); the first tests need none.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from core.engine.ray_executor import ClusterUnavailable, executor_setting, reservation
from core.errors import BadInput
from core.spec import RunSpec
from core.store.queries import Store
from tests.conftest import read_json, run_cli


def _fake_ray(*resources: dict[str, float]) -> SimpleNamespace:
    return SimpleNamespace(nodes=lambda: [{"Alive": True, "Resources": r} for r in resources])


def test_a_comparison_reserves_a_whole_gpu_or_every_cpu_of_a_node(monkeypatch):
    monkeypatch.delenv("TWINBENCH_RAY_CPUS", raising=False)
    gpu_cluster = _fake_ray({"CPU": 16, "GPU": 2}, {"CPU": 8, "GPU": 1})
    assert reservation(gpu_cluster, "auto") == {"num_gpus": 1, "num_cpus": 1}
    assert reservation(gpu_cluster, "cpu") == {"num_gpus": 0, "num_cpus": 8}
    cpu_cluster = _fake_ray({"CPU": 0}, {"CPU": 4}, {"CPU": 6})  # a head node that trains nothing
    assert reservation(cpu_cluster, "auto") == {"num_gpus": 0, "num_cpus": 4}
    with pytest.raises(ClusterUnavailable, match="no node of the Ray cluster has a GPU"):
        reservation(cpu_cluster, "cuda")
    monkeypatch.setenv("TWINBENCH_RAY_CPUS", "2")
    assert reservation(cpu_cluster, "auto") == {"num_gpus": 0, "num_cpus": 2}


def test_the_executor_setting_is_checked(monkeypatch):
    monkeypatch.delenv("TWINBENCH_EXECUTOR", raising=False)
    assert executor_setting() == "local"
    monkeypatch.setenv("TWINBENCH_EXECUTOR", "Ray")
    assert executor_setting() == "ray"
    with pytest.raises(BadInput, match="executor must be one of local, ray"):
        executor_setting("slurm")


def test_an_unreachable_cluster_is_one_line_before_anything_is_stored(home):
    pytest.importorskip("ray")
    completed = run_cli(["compare", "--executor", "ray", "--ray-address", "127.0.0.1:1", "--epochs", "1", "--quiet"],
                        home, timeout=120)
    assert completed.returncode == 1, completed.stderr
    assert "cannot reach the Ray cluster at '127.0.0.1:1'" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not Store(home / "runs.sqlite").list_comparisons()


@pytest.fixture(scope="module")
def local_cluster():
    """A one-node cluster with two CPUs, started by this process; yields its address."""
    ray = pytest.importorskip("ray")
    from core.engine.ray_executor import code_runtime_env

    ray.shutdown()
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning",
                       runtime_env=code_runtime_env())
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.mark.ray
@pytest.mark.frameworks
def test_a_comparison_through_the_cli_trains_on_the_cluster_and_records_the_node(home, tmp_path, local_cluster):
    import ray

    output = tmp_path / "result.json"
    completed = run_cli(["compare", "--executor", "ray", "--epochs", "1", "--repeats", "1", "--quiet",
                         "--json", str(output)], home, extra_env={"TWINBENCH_RAY_ADDRESS": local_cluster})
    assert completed.returncode == 0, completed.stderr
    assert "trained on Ray node" in completed.stderr and "2 CPUs" in completed.stderr
    runs = read_json(output)["runs"]
    assert [r["status"] for r in runs] == ["finished", "finished"]
    assert all(len(r["epochs"]) == 1 for r in runs)
    environments = [r["environment"] for r in runs]
    node = ray.get_runtime_context().get_node_id()
    assert {(e["executor"], e["ray_node_id"]) for e in environments} == {("ray", node)}
    assert all(e["node_ip"] and e["ray_gpu_ids"] == [] for e in environments)
    # The store has the same record: the verdict's runs all come from one machine.
    stored = Store(home / "runs.sqlite").comparison(read_json(output)["comparison_id"])
    assert {r["environment"]["ray_node_id"] for r in stored["runs"]} == {node}


@pytest.mark.ray
@pytest.mark.frameworks
def test_a_cancel_reaches_the_run_on_the_cluster_and_shipped_data_trains(home, local_cluster):
    from core.engine.compare import prepare_for
    from core.engine.ray_executor import RayComparisonExecutor
    from core.engine.work import TrainJob

    spec, data = prepare_for(RunSpec(framework="pytorch", epochs=200))
    events: list[dict] = []
    started = time.monotonic()
    # ship_files: the prepared arrays travel through the object store, as to another machine.
    with RayComparisonExecutor(["pytorch"], ship_files=True) as executor:
        outcome = executor.run(TrainJob(spec=spec, data_path=str(data.path)), events.append,
                               should_cancel=lambda: sum(e["type"] == "epoch" for e in events) >= 1)
        assert executor.placed[str(data.path)].startswith(executor.node["staging"])
    assert outcome.status == "failed" and outcome.error["kind"] == "cancelled", outcome.error
    assert outcome.environment["executor"] == "ray"
    assert 1 <= sum(e["type"] == "epoch" for e in events) < 200
    assert time.monotonic() - started < 90


@pytest.mark.ray
@pytest.mark.frameworks
def test_comparisons_spread_over_nodes_and_a_lost_node_fails_only_its_own(home, monkeypatch):
    """Two nodes of one CPU each: two queued comparisons train on both at once; killing the node
    of the first fails that comparison (naming the node), while the second finishes."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from core.engine.job_runner import run_pending
    from core.engine.jobs import enqueue, get_job
    from core.engine.ray_executor import code_runtime_env

    ray.shutdown()
    monkeypatch.delenv("TWINBENCH_RAY_PARALLEL", raising=False)
    monkeypatch.delenv("TWINBENCH_RAY_CPUS", raising=False)
    quick_death = {"health_check_period_ms": 500, "health_check_failure_threshold": 3, "health_check_timeout_ms": 500}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 200 * 2**20,
                                                             "_system_config": quick_death})
    doomed_node, other_node = (cluster.add_node(num_cpus=1, object_store_memory=200 * 2**20) for _ in range(2))
    try:
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, logging_level="warning", runtime_env=code_runtime_env())
        store = Store(home / "runs.sqlite")
        long_job = enqueue(store, RunSpec(epochs=200, repeats=2), ["pytorch"])
        runner = threading.Thread(target=run_pending, args=(Store(home / "runs.sqlite"),), kwargs={"executor": "ray"})
        runner.start()
        long_comparison = get_job(store, long_job)["comparison_id"]
        node_of_long = _wait_for_node(store, long_comparison)
        short_job = enqueue(store, RunSpec(epochs=1, repeats=1), ["pytorch"])
        short_comparison = get_job(store, short_job)["comparison_id"]
        node_of_short = _wait_for_node(store, short_comparison)
        assert node_of_long != node_of_short, "the second comparison must go to the free node"
        victim = next(n for n in (doomed_node, other_node) if n.node_id == node_of_long)
        cluster.remove_node(victim, allow_graceful=False)
        runner.join(timeout=150)
        assert not runner.is_alive()
        print(store.comparison(long_comparison)["runs"][0]["error_message"])
        long_runs = store.comparison(long_comparison)["runs"]
        # Its later runs fail too, rather than train on the other node: one comparison, one machine.
        assert [(r["status"], r["error_kind"]) for r in long_runs] == [("failed", "crashed")] * 2
        assert all(f"the Ray node {victim.node_ip_address}" in r["error_message"] for r in long_runs), long_runs[0]["error_message"]
        assert long_runs[0]["epochs"], "the epochs trained before the node died are kept"
        assert get_job(store, long_job)["status"] == "failed"
        assert [r["status"] for r in store.comparison(short_comparison)["runs"]] == ["finished"]
        assert get_job(store, short_job)["status"] == "finished"
    finally:
        ray.shutdown()
        cluster.shutdown()


def _wait_for_node(store: Store, comparison_id: str, seconds: float = 120) -> str:
    """The Ray node that the comparison's first run recorded, once it has trained an epoch."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = store.comparison(comparison_id)["runs"][0]
        if run["environment"] and run["epochs"]:
            return run["environment"]["ray_node_id"]
        assert run["status"] in ("queued", "running"), run
        time.sleep(0.5)
    raise AssertionError("the comparison never started on the cluster")
