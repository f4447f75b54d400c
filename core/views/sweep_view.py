"""The Sweep page's form and results in words and tables (pure functions): which settings can be
swept and how their widgets offer them, what a sweep's entry says, and how far it has come."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from core.data.registry import BUILTIN_DATASETS
from core.models.registry import ARCHITECTURES
from core.records import ENDED, Comparison
from core.spec import COMPILE_MODES, DATA_PIPELINES, DEVICES, OPTIMIZERS, PRECISIONS
from core.sweep_spec import SWEEPABLE
from core.text import plain
from core.views.framework_words import CHANNELS_LAST_LABEL

# Settings chosen from a list: several may be ticked. Each starts at RunSpec's default.
CHOICES = {
    "dataset": ("Datasets", list(BUILTIN_DATASETS)),
    "architecture": ("Architectures", list(ARCHITECTURES)),
    "optimizer": ("Optimisers", list(OPTIMIZERS)),
    "device": ("Devices", list(DEVICES)),
    "precision": ("Precisions", list(PRECISIONS)),
    "compile": ("Compile modes", list(COMPILE_MODES)),
    "data_pipeline": ("Input pipelines", list(DATA_PIPELINES)),
    "channels_last": (CHANNELS_LAST_LABEL, [False, True]),
}
# Settings typed as comma-separated numbers ("32, 128, 512"); empty leaves the default.
TYPED = {
    "batch_size": "Batch sizes", "epochs": "Epochs", "repeats": "Repeats", "learning_rate": "Learning rates",
    "seed": "Seeds", "max_images": "Max images (empty = all)", "image_size": "Image sizes (empty = as stored)",
    "threads": "CPU threads per framework (empty = all cores)",
}
TABLE_COLUMNS = ["setting", "framework", "status", "images_per_second", "images_per_second_low", "images_per_second_high",
                 "peak_memory_mib", "memory_kind", "test_accuracy", "ratio_of", "speed_ratio", "speed_ratio_low",
                 "speed_ratio_high", "inconclusive", "failure", "comparison_id"]


def in_field_order(axes: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """The swept settings in RunSpec's order, as the CLI names them, whichever widget they came from."""
    return {name: axes[name] for name in SWEEPABLE if name in axes}


def sweep_choice(entry: Mapping[str, Any]) -> str:
    """A sweep as the selector lists it (core.engine.sweep.list_sweeps' entry)."""
    when = dt.datetime.fromtimestamp(entry["created_at"]).strftime("%Y-%m-%d %H:%M")
    return (f"{entry['sweep_id']} · {entry['cells']} comparisons · {', '.join(entry['architectures'])} on "
            f"{', '.join(entry['datasets'])} · {entry['finished']}/{entry['runs']} runs finished · {when}")


def chosen_index(ids: Sequence[str], wanted: str | None) -> tuple[int, str | None]:
    """Where the sweep the address names (?sweep=ID) is among ``ids``, the latest (0) when it names
    none or one not here, and the warning for one not here."""
    if wanted and wanted not in ids:
        return 0, f"No sweep with id {plain(wanted)} in this database; showing the latest."
    return (ids.index(wanted) if wanted in ids else 0), None


def unfinished(entry: Mapping[str, Any]) -> bool:
    """Whether some of the sweep's runs have yet to end."""
    return bool(entry["finished"] + entry["failed"] < entry["runs"])


def runs_ended(comparisons: Sequence[Comparison]) -> tuple[int, int]:
    """How many of the sweep's runs have ended (finished or failed), of how many."""
    runs = sum(len(c.runs) for c in comparisons)
    ended = sum(run.status in ENDED for c in comparisons for run in c.runs)
    return ended, runs


def failed_warning(frame: pd.DataFrame) -> str | None:
    """The failed cells, one line each (core.analysis.sweeps.sweep_frame), or None."""
    failed = frame[frame["status"] == "failed"]
    if failed.empty:
        return None
    return "Failed cells (marked x in the charts):\n\n" + "\n".join(
        f"- {plain(row.framework)}: {plain(row.failure)}" for row in failed.itertuples())
