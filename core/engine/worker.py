"""The process that runs a framework's code: ``python -m core.engine.worker JOB.json`` (or ``-``,
the job on standard input) runs one job; ``--host FRAMEWORK`` imports one framework of the
registry once and forks a process for each job it reads on standard input (``serve``).

A job (core.engine.work) names its framework and what to do: a run of a comparison on the
prepared arrays, a benchmark or a reference loop on a synthetic input, two training steps, a
description, a probe, a half of the parity audit (core.engine.job_handlers). Events go to
standard output as JSON lines; everything the frameworks print goes to standard error. The last
event is ``finished`` or ``failed``; a worker that dies before writing either is marked failed
by its parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from core.engine.job_handlers import HOST_FIGURES, JOB_HANDLERS, load_framework, mark_forked
from core.engine.work import Job, job_from_json
from core.engine.worker_memory import out_of_memory_message
from core.errors import BadInput, TwinbenchError
from core.provenance import provenance
from core.train.events import EventWriter, claim_stdout_for_events


def execute(job: Job, events: EventWriter) -> int:
    """Run one job, reporting how it ended as the last event; returns the exit code."""
    from core.train.loop import Cancelled

    cancel = threading.Event()
    # A cancel request stops the loop at the next step boundary, so the worker can still say why.
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    signal.signal(signal.SIGINT, lambda *_: cancel.set())
    # A run forked from a host starts with these blocked (see serve); from here on they cancel it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        result = JOB_HANDLERS[type(job)](job, events, cancel)
    except Cancelled:
        events.emit("failed", kind="cancelled", message="the run was cancelled")
        return 1
    except MemoryError as error:
        events.emit("failed", kind="out_of_memory", message=out_of_memory_message(job, error))
        return 1
    except TwinbenchError as error:
        events.emit("failed", kind=error.kind, message=str(error))
        return 1
    except Exception as error:
        traceback.print_exc()
        events.emit("failed", kind="crashed", message=f"{type(error).__name__}: {str(error)[:500]}")
        return 1
    events.emit("finished", result=result)
    return 0



def serve(framework: str, events: EventWriter) -> int:
    """A framework host: import the framework once, then train each job read from standard input
    in a process forked for it.

    The child starts with the framework imported but nothing run: no thread pools of the
    framework, no device context, no allocator, no compiled graphs. It builds its own model,
    measures and exits, so every run is as clean as in a process of its own, without paying the
    imports again (seconds per run on a small CPU). The host runs no framework code itself, which
    is what makes forking it safe. Each run gets a process group of its own, killed when the run
    ends, so nothing it started (compiler or loader processes) lives on into the next run.
    """
    import psutil

    start = time.perf_counter()
    try:
        module = load_framework(framework)
        module.preload()
        import core.data.prepare  # noqa: F401  (what every run imports, imported once here)
        import core.train.loop  # noqa: F401
    except TwinbenchError as error:
        events.emit("failed", kind=error.kind, message=str(error))
        return 1
    import_seconds = time.perf_counter() - start
    child = 0

    def forward(signum: int, _frame: Any) -> None:
        # Cancel the run in progress; the host stays. An idle host has nothing to cancel (the
        # runner stops hosts with SIGKILL).
        if child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The imports left hundreds of thousands of objects; frozen, the children's garbage collector
    # never walks them during a measured run (and never copies their pages by touching them).
    provenance()  # read once here: the runs forked from this host inherit it instead of each starting git
    gc.collect()
    gc.freeze()
    HOST_FIGURES.update(framework_import_seconds=import_seconds,
                        framework_host_rss_bytes=psutil.Process().memory_info().rss)
    events.emit("ready", framework=framework, **HOST_FIGURES)
    for line in sys.stdin:
        if not line.strip():
            continue
        mark_forked()
        # A cancel arriving while the child is being made waits until ``child`` names it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        host = os.getpid()
        pid = os.fork()
        if pid == 0:
            die_with_parent(host)
            os.setpgid(0, 0)
            code = 1
            try:
                code = execute_text(line, events)
            finally:
                with contextlib.suppress(Exception):  # the parent may be gone
                    events.stream.flush()
                os._exit(code)
        child = pid
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        _, status = os.waitpid(pid, 0)
        child = 0
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # whatever the run started
        events.emit("exited", returncode=os.waitstatus_to_exitcode(status))
    return 0


def die_with_parent(parent: int | None) -> None:
    """Ask Linux to SIGKILL this process when its parent ends, so that no worker trains on for a
    CLI or server that was killed (which had no chance to stop it); end now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    parent = os.environ.get("TWINBENCH_PARENT_PID")
    die_with_parent(int(parent) if parent and parent.isdigit() else None)
    events = EventWriter(claim_stdout_for_events())
    if len(args) == 2 and args[0] == "--host":
        return serve(args[1], events)
    try:
        if len(args) != 1:
            raise BadInput("usage: python -m core.engine.worker JOB.json | - (the job on standard input) | --host FRAMEWORK")
        text = sys.stdin.read() if args[0] == "-" else Path(args[0]).read_text()
    except (TwinbenchError, OSError, ValueError) as error:
        events.emit("failed", kind="bad_input", message=str(error))
        return 1
    return execute_text(text, events)


def execute_text(text: str, events: EventWriter) -> int:
    """Run the job written as JSON in ``text``; a job that does not parse fails as bad input."""
    try:
        job = job_from_json(text)
    except BadInput as error:
        events.emit("failed", kind="bad_input", message=str(error))
        return 1
    return execute(job, events)


if __name__ == "__main__":
    sys.exit(main())
