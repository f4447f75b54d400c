"""What a comparison's runs say about the code that measured them, in words for the Compare page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Enough of a commit to find it; the whole id is in the export.
SHORT_COMMIT = 12


def code_description(environment: Mapping[str, Any]) -> str:
    """'Twinbench 0.1.0, commit 1a2b3c4d5e6f with uncommitted changes'; '' for a run stored before
    runs recorded it."""
    version = environment.get("twinbench_version")
    if not version:
        return ""
    commit = environment.get("git_commit")
    text = f"Twinbench {version}"
    if commit:
        text += f", commit {commit[:SHORT_COMMIT]}" + (" with uncommitted changes" if environment.get("git_dirty") else "")
    return text


def code_note(comparison: Mapping[str, Any]) -> str:
    """' · Twinbench 0.1.0, commit ...' for the comparison's caption: each different description
    of its runs' code, in run order; '' where no run recorded one."""
    described = [code_description(run["environment"]) for run in comparison["runs"] if run.get("environment")]
    return "".join(f" · {text}" for text in dict.fromkeys(described) if text)
