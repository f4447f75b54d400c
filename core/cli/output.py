"""What a command writes: the results database it opens, its output files (checked before any work,
written whole or not at all) and a comparison as text."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from core.errors import BadInput, TwinbenchError
from core.records import Comparison
from core.store.database import default_location


def open_store(location: str | None) -> Any:
    from core.store.queries import Store

    return Store(location or default_location())


def check_output_path(path: Path, flag: str) -> None:
    """Refuse an output file that cannot be written before any work is done, not after it."""
    if path.is_dir():
        raise BadInput(f"{flag} {path} is a folder; give a file name", flag)
    existed = path.exists()
    # Folders this check makes are removed again: a refusal later (or --dry-run) leaves nothing.
    missing = [folder for folder in path.parents if not folder.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
    except OSError as error:
        raise BadInput(f"{flag} {path} cannot be written ({error.strerror or error})", flag) from None
    finally:
        if not existed:
            path.unlink(missing_ok=True)
        for folder in missing:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()


def write_text_whole(path: Path, text: str) -> None:
    """Write all of ``text`` or leave ``path`` as it was (a full disk must not leave half a file)."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text)
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise TwinbenchError(f"could not write {path} ({error.strerror or error}); the results are kept in the store") from None


def write_json(path: Path, payload: dict[str, Any]) -> None:
    write_text_whole(path, json.dumps(payload, indent=2, sort_keys=True))


def print_comparison(comparison: Comparison, margin: float | None = None) -> None:
    from core.analysis.equivalence import DEFAULT_MARGIN, format_margin
    from core.analysis.headline import headlines
    from core.analysis.report import comparison_rows, failures, render_table
    from core.analysis.verdict import findings

    margin = DEFAULT_MARGIN if margin is None else margin

    settings = comparison.settings
    print(
        f"Comparison {comparison.id}: {settings.architecture} on {settings.dataset}, "
        f"{settings.epochs} epochs, batch {settings.batch_size}, {settings.optimizer} "
        f"lr {settings.learning_rate:g}, device {settings.device}, {settings.precision}, compile {settings.compile}"
    )
    answers = headlines(comparison, margin=margin)
    if answers:
        print("Headline (time to train this: end to end, warm-up and compile included; steady speed: what a longer "
              "run converges to):")
    for headline in answers:
        for line in headline.lines():
            print(f"  {line}")
    decisions = findings(comparison, margin=margin)
    if decisions:
        print("Verdict (a winner only where the 95 % interval excludes equal and the runs were steady; "
              f"equivalent means within ±{format_margin(margin)}):")
        for decision in decisions:
            print(f"  {decision.sentence}")
    headers, rows = comparison_rows(comparison, margin=margin)
    print(render_table(headers, rows))
    for framework, choice in (comparison.data.get("best_of_each") or {}).items():
        best = choice["chosen"]
        tried = ", ".join(f"{t['mode']} {t['steady_images_per_second'] or 0:,.0f}/s" for t in choice["trials"])
        payoff = best.get("compile_payoff_step")
        pays = f"; compiling pays for itself after step {payoff}" if payoff else ""
        print(f"best of {framework}: {best['mode']} (tried {tried}){pays}")
    for note in settings.notes or []:
        print(f"note: {note}")
    for line in failures(comparison):
        print(f"failed: {line}", file=sys.stderr)
