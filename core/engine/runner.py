"""Executors: start the worker process a job needs, follow its events, and say how the job
ended, even if its process died.

Every caller starts work through an ``Executor``: ``ProcessExecutor`` (a fresh interpreter per
job) or ``WorkerHosts`` (one host per framework that forks a child per job). A cluster executor
is one more implementation of the same ``run``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from core.engine.work import Job
from core.paths import PROJECT_ROOT
from core.train.events import parse_event

# After a cancel request the worker stops at its next step; a step stuck in compilation gets
# this long before the whole process group is killed.
CANCEL_GRACE_SECONDS = 10.0
STDERR_TAIL_CHARS = 1500

EventCallback = Callable[[dict[str, Any]], None]
PARENT_VARIABLE = "TWINBENCH_PARENT_PID"


@dataclass
class WorkerOutcome:
    status: str  # "finished" or "failed"
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    environment: dict[str, Any] | None = None
    returncode: int | None = None
    interrupted: bool = False  # the parent itself was interrupted (Ctrl-C)


def oom_kill_count() -> int | None:
    """How many processes the kernel's OOM killer has stopped in this process's memory cgroup
    (cgroup v2 ``memory.events`` or v1 ``memory.oom_control``); None where neither can be read."""
    try:
        groups = dict(line.split(":", 2)[1:] for line in Path("/proc/self/cgroup").read_text().splitlines())
    except (OSError, ValueError):
        return None
    root = Path("/sys/fs/cgroup")
    candidates = [root / groups.get("", "/").lstrip("/") / "memory.events", root / "memory.events",
                  root / "memory" / groups.get("memory", "/").lstrip("/") / "memory.oom_control",
                  root / "memory" / "memory.oom_control"]
    for candidate in candidates:
        try:
            lines = candidate.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def describe_exit(returncode: int, out_of_memory: bool = False) -> str:
    """Why a worker ended without a word; "out of memory" only with the kernel's word for it."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if out_of_memory:
            return f"the worker was killed by {name}: out of memory (the kernel's OOM killer stopped it)"
        return f"the worker was killed by {name} (signal {-returncode})"
    return f"the worker exited with code {returncode} without reporting a result"


def _file_tail(file: IO[str], offset: int = 0) -> str:
    """The end of what was written to ``file`` since ``offset``."""
    try:
        size = os.fstat(file.fileno()).st_size
        start = max(offset, size - 64 * STDERR_TAIL_CHARS)
        text = os.pread(file.fileno(), size - start, start).decode(errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines)[-STDERR_TAIL_CHARS:]


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


class Executor(Protocol):
    """Runs one job in the worker process its framework needs and says how it ended."""

    def run(self, job: Job, on_event: EventCallback | None = None,
            should_cancel: Callable[[], bool] = lambda: False) -> WorkerOutcome: ...


class ProcessExecutor:
    """Each job in a fresh ``python -m core.engine.worker -`` (the job on its standard input): the
    framework is imported per job. Nothing is written under a name, so nothing is left behind
    however this process ends.

    The worker gets its own process group so that a kill also reaches whatever it started
    (torch.compile's compiler processes), and so a Ctrl-C in the terminal reaches only us: we
    then ask the worker to stop, and it reports the run as cancelled.
    """

    def __init__(self, python: str = sys.executable, on_start: Callable[[int], None] | None = None) -> None:
        self.python = python
        self.on_start = on_start

    def run(self, job: Job, on_event: EventCallback | None = None,
            should_cancel: Callable[[], bool] = lambda: False) -> WorkerOutcome:
        kills_before = oom_kill_count()
        with tempfile.TemporaryFile("w+") as stderr:
            process = subprocess.Popen(
                [self.python, "-m", "core.engine.worker", "-"],
                stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.PIPE,
                text=True, cwd=PROJECT_ROOT, env=_worker_environment(), start_new_session=True,
            )
            if self.on_start:
                self.on_start(process.pid)
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError, OSError):  # a worker that died at once says why below
                process.stdin.write(job.to_json())
                process.stdin.close()
            outcome = _follow(process, on_event, should_cancel)
            _explain_failure(outcome, process.returncode, should_cancel, _file_tail(stderr), kills_before)
        return outcome


def _cancel_requested(should_cancel: Callable[[], bool]) -> bool:
    try:
        return bool(should_cancel())
    except Exception:
        return False


def _read_lines(stream: Any) -> queue.Queue[str | None]:
    """Lines from ``stream`` on a thread, then None at its end."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, name="worker-events", daemon=True).start()
    return lines


def _follow(process: subprocess.Popen, on_event: EventCallback | None, should_cancel: Callable[[], bool],
            lines: queue.Queue[str | None] | None = None, until: str | None = None,
            kill: Callable[[], None] | None = None) -> WorkerOutcome:
    """Pass events on until the stream ends (or, for a host, until its ``until`` event).

    A cancel is a SIGTERM to ``process``; if the run has not stopped after the grace period,
    ``kill`` (by default: the process group) ends it.
    """
    kill = kill or (lambda: _signal_group(process, signal.SIGKILL))
    lines = _read_lines(process.stdout) if lines is None else lines
    outcome = WorkerOutcome(status="failed")
    cancel_sent_at: float | None = None
    while True:
        try:
            try:
                line: str | None = lines.get(timeout=0.2)
            except queue.Empty:
                line = ""
            # Checked on every pass, not only when idle: a fast run never leaves the queue empty.
            if cancel_sent_at is None and _cancel_requested(should_cancel):
                cancel_sent_at = time.monotonic()
                process.send_signal(signal.SIGTERM)
            elif cancel_sent_at is not None and time.monotonic() - cancel_sent_at > CANCEL_GRACE_SECONDS:
                kill()
            if line is None:
                break
            event = parse_event(line) if line else None
            if event is None:
                continue
            if event["type"] == until:
                outcome.returncode = event.get("returncode")
                return outcome
            _apply(outcome, event)
            if on_event:
                on_event(event)
        except KeyboardInterrupt:
            outcome.interrupted = True
            if cancel_sent_at is None:
                cancel_sent_at = time.monotonic()
                process.send_signal(signal.SIGTERM)
    process.wait()
    # Whatever the worker started must not outlive it.
    _signal_group(process, signal.SIGKILL)
    return outcome


def _worker_environment() -> dict[str, str]:
    environment = dict(os.environ)
    # The worker ends itself if this process is gone before it could ask to be ended with it.
    environment[PARENT_VARIABLE] = str(os.getpid())
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), environment.get("PYTHONPATH")]))
    return environment


def _explain_failure(outcome: WorkerOutcome, returncode: int, should_cancel: Callable[[], bool], tail: str,
                     kills_before: int | None) -> None:
    """Say why a run ended without a result of its own, if the worker could not."""
    if outcome.status == "finished" or outcome.error is not None:
        return
    kills_after = oom_kill_count()
    reason = describe_exit(returncode, kills_before is not None and kills_after is not None and kills_after > kills_before)
    if outcome.interrupted or _cancel_requested(should_cancel):
        outcome.error = {"kind": "cancelled", "message": f"the run was cancelled ({reason})"}
    else:
        outcome.error = {"kind": "crashed", "message": reason + (f"; last output:\n{tail}" if tail else "")}


class WorkerHost:
    """One framework's host process (``python -m core.engine.worker --host FRAMEWORK``): the framework is
    imported once, and each run is trained in a fresh process forked from it (see core.engine.worker.serve).

    Start every host a comparison needs, then ``wait_ready`` on each before the first measured
    run, so that no import competes with a run for the CPU.
    """

    def __init__(self, framework: str, python: str = sys.executable) -> None:
        self.framework = framework
        self.error: dict[str, str] | None = None
        # Unnamed, so that nothing is left behind whatever happens to either process.
        self.stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115  (closed in close(), which outlives this method)
        self.process = subprocess.Popen(
            [python, "-m", "core.engine.worker", "--host", framework],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            text=True, cwd=PROJECT_ROOT, env=_worker_environment(), start_new_session=True,
        )
        self.lines = _read_lines(self.process.stdout)
        self.ready: dict[str, Any] | None = None

    def wait_ready(self, should_cancel: Callable[[], bool] = lambda: False) -> dict[str, str] | None:
        """Block until the framework is imported; returns the error if it could not be."""
        while self.ready is None and self.error is None:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if _cancel_requested(should_cancel):
                    return {"kind": "cancelled", "message": "the comparison was cancelled while the frameworks loaded"}
                continue
            if line is None:
                self.process.wait()
                self.error = {"kind": "crashed", "message": f"{describe_exit(self.process.returncode)} while importing "
                                                            f"{self.framework}; last output:\n{_file_tail(self.stderr)}"}
                break
            event = parse_event(line)
            if event and event["type"] == "ready":
                self.ready = event
            elif event and event["type"] == "failed":
                self.error = {"kind": event.get("kind", "crashed"), "message": event.get("message", "")}
        return self.error

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, job: Job, on_event: EventCallback | None = None,
            should_cancel: Callable[[], bool] = lambda: False) -> WorkerOutcome:
        """Run one job in a process forked from this host, and say how it ended."""
        error = self.wait_ready(should_cancel)
        if error is not None:
            return WorkerOutcome(status="failed", error=error)
        offset = os.fstat(self.stderr.fileno()).st_size
        kills_before = oom_kill_count()
        try:
            self.process.stdin.write(job.to_json() + "\n")  # type: ignore[union-attr]
            self.process.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            self.process.wait()
        outcome = _follow(self.process, on_event, should_cancel, self.lines, until="exited", kill=self._kill_all)
        returncode = outcome.returncode if outcome.returncode is not None else self.process.returncode
        _explain_failure(outcome, returncode if returncode is not None else -signal.SIGKILL, should_cancel,
                         _file_tail(self.stderr, offset), kills_before)
        return outcome

    def _kill_all(self) -> None:
        """The host, its run and whatever the run started (the run has a process group of its own)."""
        import psutil

        with contextlib.suppress(psutil.Error):
            for run in psutil.Process(self.process.pid).children():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(run.pid, signal.SIGKILL)
        _signal_group(self.process, signal.SIGKILL)

    def close(self) -> None:
        # An idle host holds nothing worth a clean shutdown, and TensorFlow takes seconds to tear
        # down: stop it, and anything it started, at once (unless it already ended and was reaped,
        # when its process group id may belong to someone else).
        if self.process.poll() is None:
            self._kill_all()
        self.process.wait()
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # type: ignore[union-attr]
        self.stderr.close()


class WorkerHosts:
    """The hosts of one comparison, started together so that their imports overlap each other
    (and whatever the caller does meanwhile, such as preparing the data) but none of the measured
    runs; a host that died is replaced before its next run."""

    def __init__(self, frameworks: list[str], python: str = sys.executable) -> None:
        self.python = python
        self.hosts = {framework: WorkerHost(framework, python) for framework in frameworks}

    def wait_ready(self, should_cancel: Callable[[], bool] = lambda: False) -> None:
        """Every host has imported its framework (or failed to): call before the first measured run."""
        for host in self.hosts.values():
            host.wait_ready(should_cancel)

    def run(self, job: Job, on_event: EventCallback | None = None,
            should_cancel: Callable[[], bool] = lambda: False) -> WorkerOutcome:
        """Run ``job`` on its framework's host (started now if this executor has none yet)."""
        framework = job.framework
        host = self.hosts.get(framework)
        if host is None or (not host.alive and host.error is None):
            if host is not None:
                host.close()
            host = self.hosts[framework] = WorkerHost(framework, self.python)
        return host.run(job, on_event, should_cancel)

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()

    def __enter__(self) -> WorkerHosts:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _apply(outcome: WorkerOutcome, event: dict[str, Any]) -> None:
    kind = event["type"]
    if kind == "started":
        outcome.environment = event.get("environment")
    elif kind == "finished":
        outcome.status = "finished"
        outcome.result = event.get("result")
    elif kind == "failed":
        outcome.status = "failed"
        outcome.error = {"kind": event.get("kind", "crashed"), "message": event.get("message", "")}
