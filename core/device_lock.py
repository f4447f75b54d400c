"""One training (or framework probe) per device at a time, whoever asks: an exclusive ``flock``
on ``$TWINBENCH_HOME/device.lock``. The kernel releases it when its holder dies, so a killed
process never leaves it behind."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from pathlib import Path

from core.paths import twinbench_home


def device_lock_path() -> Path:
    return twinbench_home() / "device.lock"


@contextlib.contextmanager
def device_lock(wait: bool = True, on_wait: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold the one-training-per-device lock; yields False if ``wait`` is off and it is taken."""
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
