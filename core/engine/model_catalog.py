"""Architectures as each framework builds them, described by worker processes and cached.

The dashboard cannot import a framework, so a worker builds each model and reports its layers,
parameter counts and FLOPs; the answer is cached per input shape in ``$TWINBENCH_HOME/models``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from core.engine.device_lock import BUSY, device_lock
from core.engine.runner import ProcessExecutor
from core.engine.work import DescribeJob
from core.errors import BadInput
from core.frameworks import REGISTRY
from core.models.registry import ARCHITECTURES, check_input_shape
from core.paths import twinbench_home


def _code_version() -> str:
    """A digest of the model definitions: the cache is rebuilt when any architecture changes."""
    digest = hashlib.sha256()
    for path in sorted((Path(__file__).parents[1] / "models").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def accepted_architectures(input_shape: tuple[int, int, int]) -> tuple[list[str], dict[str, str]]:
    """Architectures that take this input, and for the others the reason they do not."""
    accepted, refused = [], {}
    for name in ARCHITECTURES:
        try:
            check_input_shape(name, input_shape)
        except BadInput as error:
            refused[name] = str(error)
        else:
            accepted.append(name)
    return accepted, refused


def describe_architectures(input_shape: tuple[int, int, int], num_classes: int = 10, refresh: bool = False) -> dict[str, Any]:
    """{"frameworks": {framework: {architecture: description}}, "errors": {...}, "refused": {...}}."""
    # Installing a framework later must not leave it "not installed" in the cached answer.
    installed = "-".join(name for name, framework in REGISTRY.items() if framework.installed)
    cache = twinbench_home() / "models" / f"{'x'.join(map(str, input_shape))}-{num_classes}-{installed}-{_code_version()}.json"
    if cache.exists() and not refresh:
        return json.loads(cache.read_text())
    accepted, refused = accepted_architectures(input_shape)
    answer: dict[str, Any] = {"input_shape": list(input_shape), "frameworks": {}, "errors": {}, "refused": refused}
    with device_lock(wait=False) as free:
        if not free:  # not cached: the next visit asks again
            return {**answer, "errors": {framework: BUSY for framework in REGISTRY}}
        _describe_each(answer, accepted, input_shape, num_classes)
    if not any(message != "not installed" for message in answer["errors"].values()):
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(answer))
    return answer


def _describe_each(answer: dict[str, Any], accepted: list[str], input_shape: tuple[int, int, int], num_classes: int) -> None:
    for framework, details in REGISTRY.items():
        if not details.installed:
            answer["errors"][framework] = "not installed"
            continue
        outcome = ProcessExecutor().run(DescribeJob(framework=framework, architectures=tuple(accepted),
                                                    input_shape=input_shape, num_classes=num_classes))
        if outcome.status == "finished" and outcome.result:
            answer["frameworks"][framework] = {m["architecture"]: m for m in outcome.result["models"]}
        else:
            answer["errors"][framework] = (outcome.error or {}).get("message", "no answer")


def parity_results(input_shape: tuple[int, int, int], num_classes: int = 10, refresh: bool = False) -> dict[str, Any]:
    """The parity audit of every architecture that takes this input, cached like the descriptions."""
    from core.engine.parity import run_parity_many

    cache = twinbench_home() / "models" / f"parity-{'x'.join(map(str, input_shape))}-{num_classes}-{_code_version()}.json"
    if cache.exists() and not refresh:
        return json.loads(cache.read_text())
    accepted, _ = accepted_architectures(input_shape)
    results = {report["architecture"]: report for report in run_parity_many(accepted, input_shape, num_classes)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(results))
    return results
