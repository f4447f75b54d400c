"""Where Twinbench's code is, and where it keeps its data cache and its results database."""

from __future__ import annotations

import os
from pathlib import Path

# The folder that holds the core package: where workers start, and the git checkout when it is one.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def twinbench_home() -> Path:
    """``$TWINBENCH_HOME`` or ``~/.twinbench``: the data cache and default store live here."""
    home = os.environ.get("TWINBENCH_HOME")
    return Path(home).expanduser() if home else Path.home() / ".twinbench"


def data_dir() -> Path:
    """Downloaded and copied-in dataset files, one folder per dataset."""
    return twinbench_home() / "data"


def prepared_dir() -> Path:
    """Split and normalised arrays, cached so that every run and framework reads the same bytes."""
    return twinbench_home() / "prepared"


def default_db_path() -> Path:
    return twinbench_home() / "runs.sqlite"
