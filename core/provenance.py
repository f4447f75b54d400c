"""Which harness measured a run: Twinbench's version and, where the code is a git checkout, its
commit and whether its tracked files had changes not yet committed. Every run's environment
records these, so two results can be told apart by the code that produced them."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

from core import __version__
from core.paths import PROJECT_ROOT

# What every run's environment records of the code, in this order.
PROVENANCE_FIELDS = ("twinbench_version", "git_commit", "git_dirty")
# git answers in milliseconds; one that hangs (a network file system, a lock) must not hold up a run.
GIT_TIMEOUT_SECONDS = 5.0


def _git(root: Path, *args: str) -> str:
    completed = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                               timeout=GIT_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
    return completed.stdout.strip()


def checkout_state(root: Path) -> tuple[str | None, bool | None]:
    """The commit checked out at ``root`` and whether tracked files differ from it; (None, None)
    where ``root`` is not the top of a git checkout (an installed copy, a folder inside another
    project's repository), or git is missing or does not answer in time."""
    try:
        if Path(_git(root, "rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return None, None
        commit = _git(root, "rev-parse", "HEAD")
        # Untracked files (a virtual environment, outputs) are not part of the code that ran.
        dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, dirty


@functools.cache
def provenance() -> dict[str, Any]:
    """PROVENANCE_FIELDS of the code this process runs, read once per process (a framework host
    reads it before it forks its runs)."""
    return dict(zip(PROVENANCE_FIELDS, (__version__, *checkout_state(PROJECT_ROOT)), strict=True))
