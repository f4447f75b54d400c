"""The Ray actor of one comparison (``NodeHost``): the framework hosts on the node whose device it
reserved, trained one run after the other as locally; core.engine.ray_executor drives it from the
caller's machine.

It needs no ``ray`` import of its own except to say where it runs: Ray imports this module on the
node, from the ``core`` package sent with the job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import queue
import shutil
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from core.engine.runner import CANCEL_GRACE_SECONDS, WorkerHosts, WorkerOutcome
from core.engine.work import job_from_json


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines() or [type(error).__name__])[0][:300]



def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()



class NodeHost:
    """The Ray actor of one comparison, on the node whose device it reserved: the framework hosts,
    and the runs of the comparison one after the other, as the local runner trains them.

    One thread (``serve``) starts the hosts and runs every job: each worker is asked to die with
    the thread that started it (PR_SET_PDEATHSIG), so that thread lives as long as the actor. The
    actor's methods, called concurrently (a threaded actor), only queue jobs, hand back events
    and set cancel flags.
    """

    def __init__(self, frameworks: list[str], environment: dict[str, str | None]) -> None:
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.frameworks = frameworks
        self.staging = Path(tempfile.mkdtemp(prefix="twinbench-ray-"))
        self.changed = threading.Condition()
        self.tasks: list[dict[str, Any]] = []
        self.inbox: queue.Queue[int | None] = queue.Queue()
        self.ready = False
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, name="twinbench-node-host", daemon=True)
        self.thread.start()

    def serve(self) -> None:
        with WorkerHosts(self.frameworks, python=sys.executable) as hosts:
            hosts.wait_ready(lambda: self.stopping)
            with self.changed:
                self.ready = True
                self.changed.notify_all()
            while (number := self.inbox.get()) is not None:
                task = self.tasks[number]

                def on_event(event: dict[str, Any], task: dict[str, Any] = task) -> None:
                    with self.changed:
                        task["events"].append(event)
                        self.changed.notify_all()

                def cancelled(task: dict[str, Any] = task) -> bool:
                    return bool(task["cancel"] or self.stopping)

                try:
                    outcome = hosts.run(task["job"], on_event, cancelled)
                except Exception as error:  # the host could not even be started: say why, serve the next
                    outcome = WorkerOutcome(status="failed", error={"kind": "crashed", "message": first_line(error)})
                with self.changed:
                    task["outcome"] = dataclasses.asdict(outcome)
                    self.changed.notify_all()

    def node(self) -> dict[str, Any]:
        """Where this comparison trains, for each run's environment."""
        import ray

        context = ray.get_runtime_context()
        return {
            "executor": "ray",
            "ray_node_id": context.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "node_hostname": socket.gethostname(),
            "ray_gpu_ids": [str(gpu) for gpu in context.get_accelerator_ids().get("GPU", [])],
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "ray_version": ray.__version__,
            "staging": str(self.staging),
        }

    def wait_ready(self, seconds: float) -> bool:
        """True once every framework is imported (or failed to be: its runs say so)."""
        with self.changed:
            self.changed.wait_for(lambda: self.ready, timeout=seconds)
            return self.ready

    def has_file(self, path: str, size: int, digest: str) -> bool:
        """Whether this node has the caller's file at the same path, with the same bytes."""
        candidate = Path(path)
        try:
            return candidate.stat().st_size == size and file_digest(candidate) == digest
        except OSError:
            return False

    def has_folder(self, path: str) -> bool:
        return Path(path).is_dir()

    def stage(self, name: str, data: bytes) -> str:
        """Write a file the caller sent into this comparison's temporary folder."""
        path = self.staging / name
        partial = path.with_name(f".{name}.partial")
        partial.write_bytes(data)
        partial.replace(path)
        return str(path)

    def submit(self, job_json: str) -> int:
        with self.changed:
            self.tasks.append({"job": job_from_json(job_json), "events": [], "outcome": None, "cancel": False})
            number = len(self.tasks) - 1
        self.inbox.put(number)
        return number

    def poll(self, number: int, seen: int, seconds: float) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Events of task ``number`` after the first ``seen``, waiting up to ``seconds`` for one;
        and its outcome once it has ended."""
        task = self.tasks[number]
        with self.changed:
            self.changed.wait_for(lambda: len(task["events"]) > seen or task["outcome"] is not None, timeout=seconds)
            return task["events"][seen:], task["outcome"]

    def cancel(self, number: int) -> None:
        self.tasks[number]["cancel"] = True

    def close(self) -> None:
        """Stop the hosts (a run in progress is cancelled first) and remove the staged files."""
        self.stopping = True
        self.inbox.put(None)
        self.thread.join(timeout=CANCEL_GRACE_SECONDS + 5)
        shutil.rmtree(self.staging, ignore_errors=True)
