"""Compiled modes compile once, not once per step.

A step number passed as a Python value, or a shape that changes from batch to batch, makes
XLA and torch.compile build a new program on every step: the run still trains, only many
times slower, so nothing else in the suite would notice. Each framework runs alone in a fresh
process and reports how many programs it built while training and then evaluating.
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.frameworks

SCRIPT = """
import json
import numpy as np
from core.spec import RunSpec
from core.train.{framework} import create_trainer

def programs():
    if "{framework}" == "tensorflow":
        return trainer._train_step.experimental_get_tracing_count() + trainer._eval_step.experimental_get_tracing_count()
    import torch._dynamo.utils
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]

spec = RunSpec.from_dict({{"architecture": "mlp", "batch_size": 8, "compile": "on", "epochs": 3}})
images = np.random.default_rng(0).standard_normal((48, 8, 8, 1), dtype=np.float32)
labels = np.arange(48) % 10
trainer = create_trainer(spec, (8, 8, 1), 10, labels, 1)
trainer.load_training_images(images)
counts = []
for epoch in range(3):
    trainer.start_epoch(np.random.default_rng(epoch).permutation(48))
    for step in range(6):
        trainer.train_step(step)
    trainer.synchronize()
    trainer.take_epoch_metrics()
    counts.append(programs())
for _ in range(2):
    trainer.evaluate(images[:44], labels[:44])  # five full batches and one of four
counts.append(programs())
print(json.dumps(counts))
"""


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_compiled_training_builds_one_program_for_all_steps_and_epochs(framework):
    completed = subprocess.run([sys.executable, "-c", SCRIPT.format(framework=framework)], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    *after_each_epoch, after_evaluation = json.loads(completed.stdout.splitlines()[-1])
    assert after_each_epoch == [1, 1, 1]
    # Evaluation adds its own program(s): one for full batches, at most one more for the last
    # partial batch (TensorFlow) or for the eval-mode guard and the odd shape (PyTorch).
    assert after_evaluation - 1 <= 3 and after_evaluation > 1
