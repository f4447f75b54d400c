"""Comparisons on a Ray cluster (``--executor ray``): one comparison, one device, one node.

A comparison gets one Ray actor, ``NodeHost``, that reserves a whole GPU (``num_gpus=1``) or, on a
cluster without GPUs, every CPU of one node (the smallest node's count, or ``TWINBENCH_RAY_CPUS``),
so two comparisons never share a device. Inside it the usual framework hosts (core.engine.runner
``WorkerHosts``) train one framework after the other, exactly as locally. The actor lives as long
as the comparison and is never restarted: every run of a comparison is trained on the same node
and device, and a node that dies fails the comparison's remaining runs rather than moving them to
another machine, whose figures the verdict would then compare with these.

The caller (CLI or the dashboard's job runner) keeps the store: ``RayComparisonExecutor`` is an
``Executor`` whose ``run`` sends the job to the actor and polls it for events, which it hands to
``on_event`` as they arrive, so SQLite stays on the caller's machine and the progress stays live.
A cancel reaches the actor, which cancels the run as the local runner does (SIGTERM, then a kill);
a lost actor or node ends the run ``crashed`` with a message naming the node.

The caller's prepared data (and ``--same-init`` weights) are files on its machine: a node that
has the same bytes at the same path uses them in place, any other gets them through Ray's object
store, written to a temporary folder on the node. The project's ``core`` package travels with the
job (``py_modules``, see ``connect``), so each node trains with the caller's code; its Python, frameworks and
drivers are the node's own, and every run records them with the node and GPU it used.

Ray is imported only here (and by the actor, core.engine.ray_node, on its node), and only when this
executor is chosen: the local executor needs none.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.engine.ray_node import NodeHost, file_digest, first_line
from core.engine.runner import CANCEL_GRACE_SECONDS, PROJECT_ROOT, EventCallback, WorkerOutcome
from core.engine.work import Job, ParityReferenceJob, TrainJob
from core.errors import BadInput, TwinbenchError

EXECUTORS = ("local", "ray")
EXECUTOR_VARIABLE = "TWINBENCH_EXECUTOR"
ADDRESS_VARIABLE = "TWINBENCH_RAY_ADDRESS"
CPUS_VARIABLE = "TWINBENCH_RAY_CPUS"
PARALLEL_VARIABLE = "TWINBENCH_RAY_PARALLEL"
# "local": start a private single-node cluster in this process (tests, trying it out).
LOCAL_ADDRESS = "local"
# How long the first connection to a cluster's address may take.
CONNECT_SECONDS = 10.0
# How long one poll waits on the node for new events, and how much longer the caller waits for
# the answer before it asks again (a node that stopped answering is declared dead by Ray itself).
POLL_SECONDS = 0.5
ANSWER_SECONDS = 30.0
# After a cancel the node's runner needs CANCEL_GRACE_SECONDS to kill the run; past this the actor
# itself is killed.
ACTOR_CANCEL_GRACE_SECONDS = CANCEL_GRACE_SECONDS + 20.0
# An actor Ray calls temporarily unavailable gets this long to answer again.
UNAVAILABLE_SECONDS = 60.0
# Environment variables the caller's runs would see locally, passed to the node's workers
# (None: unset there too). Ray sets OMP_NUM_THREADS to the actor's CPU count otherwise.
PASSED_VARIABLES = ("OMP_NUM_THREADS",)


class ClusterUnavailable(TwinbenchError):
    """Ray is missing, or the cluster cannot be reached or cannot run a comparison."""

    kind = "unavailable"


def executor_setting(value: str | None = None) -> str:
    """``local`` or ``ray``: ``value``, else ``$TWINBENCH_EXECUTOR``, else local."""
    setting = (value or os.environ.get(EXECUTOR_VARIABLE) or "local").strip().lower()
    if setting not in EXECUTORS:
        raise BadInput(f"executor must be one of {', '.join(EXECUTORS)} (got {setting!r})", "executor")
    return setting


def ray_address(value: str | None = None) -> str:
    """Where the cluster is: ``value``, else ``$TWINBENCH_RAY_ADDRESS``, else ``$RAY_ADDRESS``,
    else ``auto`` (the cluster this machine belongs to)."""
    return (value or os.environ.get(ADDRESS_VARIABLE) or os.environ.get("RAY_ADDRESS") or "auto").strip()


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable("--executor ray needs the ray package (pip install -r requirements.txt)") from None
    return ray


def connect(address: str | None = None) -> Any:
    """The ``ray`` module, connected to the cluster at ``address`` (see ``ray_address``) unless
    this process is connected already."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    where = ray_address(address)
    options: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False, "logging_level": "warning",
                               "runtime_env": code_runtime_env()}
    _check_reachable(where)
    # ray.init makes SIGTERM exit the process at once; the CLI's handler cancels the run instead.
    main_thread = threading.current_thread() is threading.main_thread()
    on_sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
    try:
        if where == LOCAL_ADDRESS:
            cpus = os.environ.get(CPUS_VARIABLE)
            ray.init(num_cpus=int(cpus) if cpus else None, **options)
        else:
            options.pop("include_dashboard")
            ray.init(address=where, **options)
    except Exception as error:  # ConnectionError, RuntimeError, grpc errors: all mean the same here
        raise ClusterUnavailable(f"cannot reach the Ray cluster at {where!r}: {first_line(error)} "
                                 f"(set {ADDRESS_VARIABLE} or --ray-address; docs/cluster.md)") from None
    finally:
        if main_thread and on_sigterm is not None:
            signal.signal(signal.SIGTERM, on_sigterm)
    return ray


def connect_if_chosen(executor: str, address: str | None = None) -> None:
    """Keep ``address`` for this process's comparisons and, with ``executor`` ray, connect now, so
    that an unreachable cluster is refused before anything is stored."""
    if address:
        os.environ[ADDRESS_VARIABLE] = address
    if executor == "ray":
        connect()


def _check_reachable(where: str) -> None:
    """An address that names a host and port is tried first: Ray itself retries an unreachable one
    for minutes before it gives up."""
    host, _, port = where.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # auto, local: Ray finds (or starts) the cluster itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise ClusterUnavailable(f"cannot reach the Ray cluster at {where!r}: {error.strerror or error} "
                                 f"(set {ADDRESS_VARIABLE} or --ray-address; docs/cluster.md)") from None


def code_runtime_env() -> dict[str, Any]:
    """The project's ``core`` package, sent with this driver's job to every node that runs a part of
    it (Ray allows a local folder only for the whole job: pass this to ``ray.init`` when connecting
    yourself)."""
    return {"py_modules": [str(PROJECT_ROOT / "core")], "excludes": ["__pycache__"]}


def _alive_nodes(ray: Any) -> list[dict[str, Any]]:
    return [node for node in ray.nodes() if node.get("Alive")]


def reservation(ray: Any, device: str) -> dict[str, float]:
    """What one comparison reserves: a whole GPU where the cluster has one and the comparison may
    use it, otherwise every CPU of a node."""
    nodes = _alive_nodes(ray)
    has_gpu = any(node["Resources"].get("GPU", 0) >= 1 for node in nodes)
    cpus = [node["Resources"].get("CPU", 0) for node in nodes if node["Resources"].get("CPU", 0) >= 1]
    override = os.environ.get(CPUS_VARIABLE)
    if override and (not override.isdigit() or int(override) < 1):
        raise BadInput(f"{CPUS_VARIABLE} must be a whole number of CPUs, at least 1 (got {override!r})", CPUS_VARIABLE)
    if device != "cpu" and has_gpu:
        return {"num_gpus": 1, "num_cpus": int(override) if override else 1}
    if device == "cuda":
        raise ClusterUnavailable("device cuda: no node of the Ray cluster has a GPU")
    if not cpus:
        raise ClusterUnavailable("the Ray cluster has no node with CPUs to train on")
    return {"num_gpus": 0, "num_cpus": int(override) if override else int(min(cpus))}


def parallel_comparisons(address: str | None = None) -> int:
    """How many comparisons the cluster trains at once: ``$TWINBENCH_RAY_PARALLEL``, else one per
    GPU, else one per node with CPUs."""
    override = os.environ.get(PARALLEL_VARIABLE)
    if override:
        if not override.isdigit() or int(override) < 1:
            raise BadInput(f"{PARALLEL_VARIABLE} must be a whole number, at least 1 (got {override!r})", PARALLEL_VARIABLE)
        return int(override)
    nodes = _alive_nodes(connect(address))
    gpus = sum(int(node["Resources"].get("GPU", 0)) for node in nodes)
    return max(1, gpus or sum(node["Resources"].get("CPU", 0) >= 1 for node in nodes))


class RayComparisonExecutor:
    """The executor of one comparison on a Ray cluster: an ``Executor``, and a drop-in for
    ``WorkerHosts`` (``wait_ready``, ``close``, a context manager) in ``execute_comparison``.

    Creating it asks the cluster for the reservation and starts the framework imports on the node
    without waiting, so they overlap whatever the caller does next (preparing the data).
    ``ship_files`` True sends every file through the object store even when the node has it.
    """

    def __init__(self, frameworks: list[str], device: str = "auto", address: str | None = None,
                 ship_files: bool = False) -> None:
        self.ray = connect(address)
        self.ship_files = ship_files
        self.resources = reservation(self.ray, device)
        self.node: dict[str, Any] | None = None
        # Set once the actor is gone (its node died, or it was cancelled before it was placed):
        # every later run of the comparison fails with it, so none trains on another machine.
        self.lost: dict[str, str] | None = None
        self.placed: dict[str, str] = {}
        environment = {name: os.environ.get(name) for name in PASSED_VARIABLES}
        actor = self.ray.remote(NodeHost).options(
            **self.resources, max_concurrency=4, max_restarts=0, scheduling_strategy="SPREAD")
        self.actor = actor.remote(list(frameworks), environment)

    def describe(self) -> str:
        """Where the comparison trains, in words."""
        if self.node is None:
            return "not placed yet"
        gpus = self.node.get("ray_gpu_ids") or []
        device = f"GPU {', '.join(gpus)}" if gpus else f"{int(self.resources['num_cpus'])} CPUs"
        return f"Ray node {self.node['node_ip']} ({self.node['node_hostname']}), {device}"

    def _lose(self, error: BaseException) -> WorkerOutcome:
        """The actor is gone: this run fails, and so will every later one of the comparison."""
        where = f"the Ray node {self.node['node_ip']} ({self.node['node_hostname']}, node {self.node['ray_node_id'][:12]})" \
            if self.node else "the Ray node reserved for it"
        lines = [line.strip() for line in str(error).splitlines()
                 if line.strip() and not line.startswith("\t") and "died unexpectedly before finishing" not in line]
        reason = "; ".join(lines)[:500] or type(error).__name__
        self.lost = {"kind": "crashed", "message": f"{where} was lost while this comparison trained there: {reason}. "
                                                   "Its remaining runs were not moved to another machine."}
        with contextlib.suppress(Exception):
            self.ray.kill(self.actor)
        return WorkerOutcome(status="failed", error=dict(self.lost))

    def _call(self, method: Any, *args: Any, should_cancel: Callable[[], bool] | None = None) -> Any:
        """Call an actor method and wait for its answer; None if ``should_cancel`` says stop first.
        Raises Ray's actor errors when the actor is gone."""
        reference = method.remote(*args)
        unavailable_since: float | None = None
        while True:
            done, _ = self.ray.wait([reference], timeout=POLL_SECONDS)
            if done:
                try:
                    return self.ray.get(reference)
                except self.ray.exceptions.ActorUnavailableError:
                    unavailable_since = unavailable_since or time.monotonic()
                    if time.monotonic() - unavailable_since > UNAVAILABLE_SECONDS:
                        raise
                    time.sleep(1.0)
                    reference = method.remote(*args)
                    continue
            if should_cancel is not None and _cancel_requested(should_cancel):
                return None

    def wait_ready(self, should_cancel: Callable[[], bool] = lambda: False) -> None:
        """Wait until the node is reserved and its frameworks imported (a busy cluster makes this
        wait for a free device); a cancel meanwhile gives the reservation back."""
        if self.node is not None or self.lost is not None:
            return
        try:
            while True:
                ready = self._call(self.actor.wait_ready, 1.0, should_cancel=should_cancel)
                if ready is None or _cancel_requested(should_cancel):
                    self.lost = {"kind": "cancelled", "message": "the comparison was cancelled while it waited for "
                                                                 "a device on the Ray cluster"}
                    with contextlib.suppress(Exception):
                        self.ray.kill(self.actor)
                    return
                if ready:
                    break
            self.node = self._call(self.actor.node)
        except self.ray.exceptions.RayActorError as error:
            self._lose(error)

    def run(self, job: Job, on_event: EventCallback | None = None,
            should_cancel: Callable[[], bool] = lambda: False) -> WorkerOutcome:
        self.wait_ready(should_cancel)
        if self.lost is not None:
            return WorkerOutcome(status="failed", error=dict(self.lost))
        outcome: WorkerOutcome | None = None
        interrupted = False
        cancel_sent_at: float | None = None
        try:
            number = self._call(self.actor.submit, self._place(job).to_json())
            seen = 0
            while outcome is None:
                try:
                    answer = self._call(self.actor.poll, number, seen, POLL_SECONDS)
                    events, ended = answer
                    for event in events:
                        seen += 1
                        if event["type"] == "started" and isinstance(event.get("environment"), dict):
                            event = {**event, "environment": {**event["environment"], **self._where()}}
                        if on_event:
                            on_event(event)
                    if ended is not None:
                        outcome = WorkerOutcome(**ended)
                        break
                    if cancel_sent_at is None and (interrupted or _cancel_requested(should_cancel)):
                        cancel_sent_at = time.monotonic()
                        self.actor.cancel.remote(number)
                    elif cancel_sent_at is not None and time.monotonic() - cancel_sent_at > ACTOR_CANCEL_GRACE_SECONDS:
                        self.ray.kill(self.actor)
                        self.lost = {"kind": "cancelled", "message": "the comparison was cancelled (its Ray actor "
                                                                     "did not stop in time and was killed)"}
                        outcome = WorkerOutcome(status="failed", error=dict(self.lost))
                except KeyboardInterrupt:
                    interrupted = True  # Ctrl-C: cancel the run and report what it did, as locally
        except self.ray.exceptions.RayActorError as error:
            outcome = self._lose(error)
        if outcome.environment is not None:
            outcome.environment = {**outcome.environment, **self._where()}
        outcome.interrupted = outcome.interrupted or interrupted
        return outcome

    def _where(self) -> dict[str, Any]:
        return {key: value for key, value in (self.node or {}).items() if key != "staging"}

    def _place(self, job: Job) -> Job:
        """The job with the caller's file paths replaced by the node's."""
        if isinstance(job, TrainJob):
            update: dict[str, Any] = {"data_path": self._input(job.data_path)}
            if job.init_weights:
                update["init_weights"] = self._input(job.init_weights)
            return job.model_copy(update=update)
        if isinstance(job, ParityReferenceJob):
            return job.model_copy(update={"paths": tuple(self._output(path) for path in job.paths)})
        return job

    def _input(self, path: str) -> str:
        """A file the run reads: the caller's own if the node has the same bytes there, else a
        copy sent through the object store (once per comparison); a file the caller does not have
        was written on the node by an earlier job (``_output``)."""
        if path in self.placed:
            return self.placed[path]
        local = Path(path)
        if not local.is_file():
            return self._output(path)
        size, digest = local.stat().st_size, file_digest(local)
        if not self.ship_files and self._call(self.actor.has_file, path, size, digest):
            self.placed[path] = path
        else:
            data = self.ray.put(local.read_bytes())
            self.placed[path] = self._call(self.actor.stage, f"{digest[:16]}-{local.name}", data)
        return self.placed[path]

    def _output(self, path: str) -> str:
        """A file a job writes for a later job of the comparison: where the caller would put it,
        if the node has that folder, else in the comparison's folder on the node."""
        if path not in self.placed:
            in_place = not self.ship_files and self._call(self.actor.has_folder, str(Path(path).parent))
            self.placed[path] = path if in_place else str(Path((self.node or {}).get("staging", "")) / Path(path).name)
        return self.placed[path]

    def close(self) -> None:
        """Stop the node's hosts and give the reservation back."""
        if self.lost is None:
            with contextlib.suppress(Exception):
                self.ray.get(self.actor.close.remote(), timeout=CANCEL_GRACE_SECONDS + 10)
        with contextlib.suppress(Exception):
            self.ray.kill(self.actor)

    def __enter__(self) -> RayComparisonExecutor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _cancel_requested(should_cancel: Callable[[], bool]) -> bool:
    try:
        return bool(should_cancel())
    except Exception:
        return False
