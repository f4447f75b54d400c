"""Start one worker process, follow its events, and say how it ended, even if it died."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.train.events import parse_event

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# After a cancel request the worker stops at its next step; a step stuck in compilation gets
# this long before the whole process group is killed.
CANCEL_GRACE_SECONDS = 10.0
STDERR_TAIL_CHARS = 1500

EventCallback = Callable[[dict[str, Any]], None]


@dataclass
class WorkerOutcome:
    status: str  # "finished" or "failed"
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    environment: dict[str, Any] | None = None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    interrupted: bool = False  # the parent itself was interrupted (Ctrl-C)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (the system may have run out of memory)" if -returncode == signal.SIGKILL else ""
        return f"the worker was killed by {name}{hint}"
    return f"the worker exited with code {returncode} without reporting a result"


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines)[-STDERR_TAIL_CHARS:]


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def run_worker(
    job: dict[str, Any],
    on_event: EventCallback | None = None,
    should_cancel: Callable[[], bool] = lambda: False,
    python: str = sys.executable,
    on_start: Callable[[int], None] | None = None,
) -> WorkerOutcome:
    """Run ``python -m core.worker`` on ``job`` and return how it ended.

    The worker gets its own process group so that a kill also reaches whatever it started
    (torch.compile's compiler processes), and so a Ctrl-C in the terminal reaches only us: we
    then ask the worker to stop, and it reports the run as cancelled.
    """
    with tempfile.TemporaryDirectory(prefix="twinbench-job-") as folder:
        job_path = Path(folder) / "job.json"
        job_path.write_text(json.dumps(job))
        stderr_path = Path(folder) / "stderr.log"
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), environment.get("PYTHONPATH")]))
        with stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                [python, "-m", "core.worker", str(job_path)],
                stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                text=True, cwd=PROJECT_ROOT, env=environment, start_new_session=True,
            )
            if on_start:
                on_start(process.pid)
            outcome = _follow(process, on_event, should_cancel)
        if outcome.status != "finished" and outcome.error is None:
            reason = describe_exit(process.returncode)
            if outcome.interrupted or _cancel_requested(should_cancel):
                outcome.error = {"kind": "cancelled", "message": f"the run was cancelled ({reason})"}
            else:
                tail = _tail(stderr_path)
                outcome.error = {"kind": "crashed", "message": reason + (f"; last output:\n{tail}" if tail else "")}
        outcome.returncode = process.returncode
        return outcome


def _cancel_requested(should_cancel: Callable[[], bool]) -> bool:
    try:
        return bool(should_cancel())
    except Exception:
        return False


def _follow(process: subprocess.Popen, on_event: EventCallback | None, should_cancel: Callable[[], bool]) -> WorkerOutcome:
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, name="worker-events", daemon=True).start()
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
                _signal_group(process, signal.SIGKILL)
            if line is None:
                break
            event = parse_event(line) if line else None
            if event is None:
                continue
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


def _apply(outcome: WorkerOutcome, event: dict[str, Any]) -> None:
    kind = event["type"]
    if kind == "started":
        outcome.environment = event.get("environment")
    elif kind == "epoch":
        outcome.epochs.append(event)
    elif kind == "finished":
        outcome.status = "finished"
        outcome.result = event.get("result")
    elif kind == "failed":
        outcome.status = "failed"
        outcome.error = {"kind": event.get("kind", "crashed"), "message": event.get("message", "")}
