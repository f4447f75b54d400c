"""What the store hands back: comparisons, their runs, epochs and step samples, and queued jobs,
as typed records; and the words a run's or a job's status and a failure's kind may be.

The statuses are defined here once, as Literals (a failure's kind is core.errors.FailureKind):
everything that writes or compares one is checked against them, and a list of them is read
with ``typing.get_args``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from pydantic import ConfigDict

from core.errors import FailureKind
from core.results import RunResult
from core.spec import RunSpec

# A run waits, trains, and ends finished or failed; a failed run's error kind says why.
RunStatus = Literal["queued", "running", "finished", "failed"]
# A job (a comparison queued for the device) can also be cancelled as a whole.
JobStatus = Literal["queued", "running", "finished", "failed", "cancelled"]
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
# A run that has ended, whichever way; the others (like a job that has not ended) are unfinished.
ENDED: tuple[RunStatus, ...] = ("finished", "failed")
UNFINISHED: tuple[RunStatus, ...] = tuple(status for status in RUN_STATUSES if status not in ENDED)


class StoredSpec(RunSpec):
    """A RunSpec as the store holds it: fields that another version wrote and this one does not
    know are kept, and ``stored()`` gives back exactly the fields that were stored.

    A comparison's settings are one too, without a framework (each of its runs has its own)."""

    model_config = ConfigDict(extra="allow")

    def stored(self) -> dict[str, Any]:
        """The fields as stored (JSON values, by name as the store writes them), none added."""
        return dict(sorted(self.model_dump(mode="json", exclude_unset=True).items()))

    def setting(self, name: str) -> Any:
        """A stored field by name; None when it was not stored."""
        return self.stored().get(name)


@dataclass(frozen=True)
class Epoch:
    """One epoch of a run, as its worker reported it."""

    epoch: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    epoch_seconds: float | None = None
    eval_seconds: float | None = None
    elapsed_seconds: float | None = None
    images_per_second: float | None = None
    step_ms_median: float | None = None
    step_ms_p90: float | None = None
    data_wait_fraction: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StepSample:
    """Per-step time averaged over one window of ``steps`` steps from ``step`` of ``epoch``, timed
    between two synchronisations (core.train.loop measures them, the store keeps them)."""

    epoch: int
    step: int
    steps: int
    milliseconds: float
    warmup: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Run:
    """One run of one framework in a comparison: its spec, its status and what it measured."""

    id: str
    comparison_id: str
    position: int
    repeat: int
    framework: str
    status: RunStatus
    spec: StoredSpec
    created_at: float
    result: RunResult | None = None
    error_kind: FailureKind | None = None
    error_message: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    epochs: tuple[Epoch, ...] = ()
    step_samples: tuple[StepSample, ...] = ()
    # What its worker reported of the machine and libraries (an open set of keys).
    environment: dict[str, Any] | None = None

    def error(self) -> dict[str, Any] | None:
        """The error as reports write it: kind and message, None for a run that did not fail."""
        return {"kind": self.error_kind, "message": self.error_message} if self.error_kind else None


@dataclass(frozen=True)
class Comparison:
    """A comparison: the settings its runs share, the frameworks it trains, and its runs."""

    id: str
    created_at: float
    dataset: str
    architecture: str
    device: str
    frameworks: tuple[str, ...]
    settings: StoredSpec
    # What the data preparation found (input shape, classes, the prepared file) and, with
    # best-of-each, the mode each framework chose.
    data: dict[str, Any] = field(default_factory=dict)
    sweep_id: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    note: str = ""
    runs: tuple[Run, ...] = ()


@dataclass(frozen=True)
class ComparisonSummary:
    """A comparison as lists show it: its own columns and its runs counted."""

    id: str
    created_at: float
    dataset: str
    architecture: str
    device: str
    frameworks: tuple[str, ...]
    sweep_id: str | None
    owner: str | None
    tags: tuple[str, ...]
    note: str
    runs: int
    # None when it has no runs.
    finished: int | None
    failed: int | None
    # The device its runs used where "auto" was asked for: the first run's that says.
    resolved_device: str | None


@dataclass(frozen=True)
class Job:
    """A comparison queued for the device, and where its training stands."""

    id: str
    comparison_id: str
    status: JobStatus
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    cancel_requested: bool = False
    # The latest event of the run in progress (framework, position, epoch, step, ...).
    progress: dict[str, Any] | None = None
    message: str | None = None
    claimed_by: str | None = None
    heartbeat_at: float | None = None
    # Who made its comparison (public mode's per-visitor limits).
    owner: str | None = None
