"""What a framework's trainer module offers the worker: the backend contract.

Each module named by a registry entry's ``trainer_module`` (core/frameworks.py) provides these
functions; the worker calls nothing else of it. The Trainer it creates is the one the shared
loop drives (core/train/loop.py).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from core.spec import RunSpec
from core.train.loop import Trainer


class Backend(Protocol):
    def preload(self) -> None:
        """Import, without running anything, what building a trainer would import (framework hosts fork after it)."""

    def create_trainer(self, spec: RunSpec, input_shape: tuple[int, int, int], num_classes: int,
                       train_labels: np.ndarray, threads: int, init_weights: str | None = None) -> Trainer: ...

    def is_out_of_memory(self, error: BaseException) -> bool: ...

    def describe_model(self, architecture: str, input_shape: tuple[int, int, int], num_classes: int,
                       seed: int) -> dict[str, Any]: ...

    def probe_devices(self) -> dict[str, Any]: ...

    # The reference framework writes what the others are checked against; the others check.
    def parity_reference(self, architecture: str, input_shape: tuple[int, int, int], num_classes: int, seed: int,
                         batch: int, path: str, with_forward: bool, pretrained: bool) -> dict[str, Any]: ...

    def parity_check(self, architecture: str, input_shape: tuple[int, int, int], num_classes: int,
                     reference: str) -> dict[str, Any]: ...
