"""What a worker can be asked to do: one typed job per kind, each a line of JSON on the way.

Every job names the framework whose process runs it (``framework``), so that any executor (a
process per job, a framework host that forks a child per job, or a cluster) can route it without
knowing its kind. The worker dispatches on the job's type (core/engine/job_handlers.py, ``JOB_HANDLERS``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.errors import BadInput
from core.frameworks import REFERENCE
from core.spec import Device, RunSpec

InputShape = tuple[int, int, int]


class _Job(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> str:
        return self.model_dump_json()


class TrainJob(_Job):
    """One run of a comparison on the prepared arrays at ``data_path``."""

    kind: Literal["train"] = "train"
    spec: RunSpec
    data_path: str
    # With same_init: the reference framework's initial weights, for this framework to start from.
    init_weights: str | None = None

    @property
    def framework(self) -> str:
        return self.spec.framework


class _SyntheticRun(_Job):
    spec: RunSpec
    input_shape: InputShape
    steps: Annotated[int, Field(ge=1)]
    warmup: Annotated[int, Field(ge=0)]
    num_classes: Annotated[int, Field(ge=2)] = 10
    # Distinct batches cycled through: enough that no cache holds one batch, few enough to stay small.
    pool_batches: Annotated[int, Field(ge=1)] = 8

    @property
    def framework(self) -> str:
        return self.spec.framework


class BenchJob(_SyntheticRun):
    """Steady-state training speed on synthetic data (``bench``, mode trials, the zoo table)."""

    kind: Literal["bench"] = "bench"


class MinimalJob(_SyntheticRun):
    """The same measurement by a hand-written loop (core/train/minimal_loops.py), to check the harness."""

    kind: Literal["minimal"] = "minimal"
    loop: str

    @classmethod
    def like(cls, bench: BenchJob, loop: str) -> MinimalJob:
        return cls(**bench.model_dump(exclude={"kind"}), loop=loop)


class _EachArchitecture(_Job):
    framework: str
    architectures: tuple[str, ...]
    input_shape: InputShape
    num_classes: int = 10


class StepsJob(_EachArchitecture):
    """Two training steps of each architecture on synthetic data: does it train at all?"""

    kind: Literal["steps"] = "steps"
    batch: int = 4
    device: Device = "auto"


class DescribeJob(_EachArchitecture):
    """Each architecture's layers, parameter counts and FLOPs as this framework builds them."""

    kind: Literal["describe"] = "describe"
    seed: int = 0


class ProbeJob(_Job):
    """Which devices the framework sees."""

    kind: Literal["probe"] = "probe"
    framework: str


class ParityReferenceJob(_Job):
    """The reference framework writes each model's weights (and, with ``with_forward``, its logits,
    loss and gradients on one batch) to ``paths``, for the others to check against."""

    kind: Literal["parity_reference"] = "parity_reference"
    architectures: tuple[str, ...]
    paths: tuple[str, ...]
    input_shape: InputShape
    num_classes: int = 10
    seed: int = 0
    batch: int = 32
    with_forward: bool = True
    pretrained: bool = False

    @property
    def framework(self) -> str:
        return REFERENCE.name


class ParityCheckJob(_Job):
    """Load the reference's weights, run the same batch, and report the differences."""

    kind: Literal["parity_check"] = "parity_check"
    framework: str
    architectures: tuple[str, ...]
    references: tuple[str, ...]
    input_shape: InputShape
    num_classes: int = 10


Job = Annotated[
    TrainJob | BenchJob | MinimalJob | StepsJob | DescribeJob | ProbeJob | ParityReferenceJob | ParityCheckJob,
    Field(discriminator="kind"),
]
_JOBS: TypeAdapter[Job] = TypeAdapter(Job)


def job_from_json(text: str) -> Job:
    """A job read from a file or a pipe; anything else is refused as bad input."""
    try:
        return _JOBS.validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadInput(f"not a valid job: {where}: {first['msg']}") from None
