"""One training (or framework probe) per device at a time, whoever asks: an exclusive ``flock``
on ``$TWINBENCH_HOME/device.lock``. The kernel releases it when its holder dies, so a killed
process never leaves it behind."""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from core.paths import twinbench_home

BUSY = "the device is busy with a comparison (or another benchmark); ask again when it has finished"
# How deep the current thread is inside device_lock: work that already holds the device (the CLI's
# `models` around its descriptions) may call code that takes it again; other threads of the same
# process (the dashboard's pages beside its job runner) may not.
_held = threading.local()


def device_lock_path() -> Path:
    return twinbench_home() / "device.lock"


@contextlib.contextmanager
def device_lock(wait: bool = True, on_wait: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold the one-training-per-device lock; yields False if ``wait`` is off and it is taken."""
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield True
        finally:
            _held.depth -= 1
        return
    with _exclusive(wait, on_wait) as acquired:
        _held.depth = 1 if acquired else 0
        try:
            yield acquired
        finally:
            _held.depth = 0


@contextlib.contextmanager
def _exclusive(wait: bool, on_wait: Callable[[], None] | None) -> Iterator[bool]:
    path = device_lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            if on_wait:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
