"""The same model in every framework: parameters, FLOPs and initialisation, checked in workers.

Each framework is imported in its own worker process, as in real runs, never both in one.
"""

import math

import pytest

from core.engine.runner import ProcessExecutor
from core.engine.work import DescribeJob
from core.frameworks import REFERENCE, REGISTRY
from core.models.registry import ARCHITECTURES

pytestmark = pytest.mark.frameworks


def describe(framework, input_shape, classes=10):
    outcome = ProcessExecutor().run(DescribeJob(framework=framework, architectures=tuple(ARCHITECTURES),
                                                input_shape=input_shape, num_classes=classes))
    assert outcome.status == "finished", outcome.error
    return {m["architecture"]: m for m in outcome.result["models"]}


@pytest.fixture(scope="module", params=[(32, 32, 1), (32, 32, 3)], ids=["32x32x1", "32x32x3"])
def described(request):
    return {fw: describe(fw, request.param) for fw in REGISTRY}


def shapes(model):
    return [(layer["kind"], layer["fan_in"], layer["units"]) for layer in model["layers"]]


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
@pytest.mark.parametrize("framework", [name for name in REGISTRY if name != REFERENCE.name])
def test_parameter_counts_and_flops_are_equal(described, architecture, framework):
    reference, model = described[REFERENCE.name][architecture], described[framework][architecture]
    assert reference["trainable_params"] == model["trainable_params"] > 0
    assert reference["flops_per_image"] == model["flops_per_image"] > 0
    assert shapes(reference) == shapes(model)


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
@pytest.mark.parametrize("framework", list(REGISTRY))
def test_all_use_he_uniform_weights_and_zero_biases(described, architecture, framework):
    for layer in described[framework][architecture]["layers"]:
        limit = math.sqrt(6.0 / layer["fan_in"])
        assert layer["weight_max_abs"] <= limit * (1 + 1e-6)
        # U(-a, a) has standard deviation a/sqrt(3); PyTorch's default would give a third of that.
        assert layer["weight_std"] == pytest.approx(limit / math.sqrt(3), rel=0.2)
        assert layer["bias_max_abs"] in (0.0, None)  # zero, or no bias (convolutions before BatchNorm)
