"""Optimiser hyperparameters shared by both frameworks, stated once and explicitly.

Both frameworks' defaults differ (Adam epsilon 1e-7 in Keras, 1e-8 in PyTorch; SGD weight decay
is L2 on the gradient in PyTorch but decoupled in Keras 3), so every value is passed in. Weight
decay is decoupled in both: ``w -= learning_rate * weight_decay * w`` before the update, which
is what Keras 3 does and what PyTorch's AdamW does (SGD gets the same multiplication by hand).
One difference cannot be set away: Keras adds epsilon to sqrt(v) before bias correction, PyTorch
after, so the two agree exactly only while sqrt(v) is much larger than epsilon.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.spec import RunSpec

ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-7


@dataclass(frozen=True)
class OptimizerSettings:
    name: str
    learning_rate: float
    weight_decay: float
    momentum: float
    beta_1: float = ADAM_BETA_1
    beta_2: float = ADAM_BETA_2
    epsilon: float = ADAM_EPSILON
    nesterov: bool = False

    @classmethod
    def from_spec(cls, spec: RunSpec) -> OptimizerSettings:
        return cls(spec.optimizer, spec.learning_rate, spec.weight_decay, spec.momentum)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
