"""The architecture zoo: every model is one model in two frameworks, and each one trains."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.engine.parity import LOGIT_TOLERANCE, run_parity_many
from core.engine.runner import ProcessExecutor
from core.engine.work import StepsJob
from core.errors import BadInput
from core.frameworks import REGISTRY
from core.models.registry import ARCHITECTURES, check_input_shape, check_pretrained
from tests.conftest import PROJECT_ROOT, read_json, run_cli

ALL = list(ARCHITECTURES)


@pytest.mark.parametrize("name, too_small", [("lenet5", 11), ("mobilenetv2", 31), ("resnet18", 7), ("vit", 7)])
def test_inputs_below_the_minimum_are_refused_with_the_size_named(name, too_small):
    minimum = ARCHITECTURES[name].min_input_size
    check_input_shape(name, (minimum, minimum, 3))
    with pytest.raises(BadInput, match=f"at least {minimum}x{minimum}.*image_size"):
        check_input_shape(name, (too_small, too_small, 3))


def test_pretrained_only_where_weights_exist_and_for_colour_images():
    check_pretrained("mobilenetv2", (32, 32, 3), True)
    with pytest.raises(BadInput, match="only for mobilenetv2"):
        check_pretrained("cnn", (32, 32, 3), True)
    with pytest.raises(BadInput, match="colour"):
        check_pretrained("mobilenetv2", (32, 32, 1), True)


@pytest.mark.frameworks
def test_parity_holds_for_every_architecture():
    reports = run_parity_many(ALL, (32, 32, 3), num_classes=10, batch=16)
    for report in reports:
        # Every installed framework (Keras on TensorFlow and on JAX) against PyTorch's weights.
        assert set(report["params"]) == set(REGISTRY), report
        assert len(set(report["params"].values())) == 1, report
        assert all(figures["max_abs_logit_diff"] <= LOGIT_TOLERANCE for figures in report["frameworks"].values()), report
        assert report["max_abs_logit_diff"] <= LOGIT_TOLERANCE, report
        assert report["loss_diff"] <= 1e-4, report
        assert report["passed"]
    by_name = {r["architecture"]: r for r in reports}
    # Without BatchNorm the gradients agree to float32 rounding; with it, to a small fraction.
    for name in ("mlp", "cnn", "lenet5", "lstm", "gru", "vit"):
        assert by_name[name]["max_rel_grad_diff"] < 1e-3, by_name[name]


@pytest.mark.frameworks
@pytest.mark.parametrize("framework", list(REGISTRY))
def test_one_training_step_runs_for_every_architecture(framework):
    outcome = ProcessExecutor().run(StepsJob(framework=framework, architectures=tuple(ALL), input_shape=(32, 32, 3),
                                             num_classes=10, batch=4, device="cpu"))
    assert outcome.status == "finished", outcome.error
    assert [m["architecture"] for m in outcome.result["models"]] == ALL
    assert all(m["finite"] for m in outcome.result["models"]), outcome.result


@pytest.mark.frameworks
def test_parity_and_models_commands(tmp_path):
    completed = run_cli(["parity", "--architecture", "cnn", "--input-shape", "16x16x3", "--json", str(tmp_path / "p.json")],
                        tmp_path / "home")
    assert completed.returncode == 0, completed.stderr
    report = read_json(tmp_path / "p.json")
    assert set(report) >= {"architecture", "input_shape", "params", "non_trainable_params", "max_abs_logit_diff",
                           "loss_diff", "max_abs_grad_diff"}
    assert "PASSED" in completed.stdout
    listing = run_cli(["models", "--input-shape", "32x32x3", "--json", str(tmp_path / "m.json")], tmp_path / "home")
    assert listing.returncode == 0, listing.stderr
    models = {m["architecture"]: m for m in read_json(tmp_path / "m.json")["architectures"]}
    assert set(models) == set(ALL)
    assert all(len(set(m["params"].values())) == 1 and set(m["params"]) == set(REGISTRY) for m in models.values())
    assert all(min(m["params"].values()) > 0 for m in models.values())
    assert models["mobilenetv2"]["pretrained_available"]
    refused = run_cli(["parity", "--architecture", "lenet5", "--input-shape", "8x8x1"], tmp_path / "home")
    assert refused.returncode == 2 and "at least 12x12" in refused.stderr


@pytest.mark.frameworks
def test_same_init_starts_both_frameworks_from_the_same_weights(tmp_path):
    output = tmp_path / "out.json"
    completed = run_cli(["compare", "--epochs", "1", "--repeats", "2", "--same-init", "--json", str(output), "--quiet"],
                        tmp_path / "home")
    assert completed.returncode == 0, completed.stderr
    first_loss = {(r["spec"]["seed"], r["framework"]): r["epochs"][0]["train_loss"] for r in read_json(output)["runs"]}
    # Same weights, same batches, same optimiser: the first epoch's mean loss agrees closely within
    # each seed (independent initialisations differ by tenths here); each seed has weights of its own.
    for seed in (0, 1):
        assert abs(first_loss[seed, "pytorch"] - first_loss[seed, "tensorflow"]) < 5e-3
    assert abs(first_loss[0, "pytorch"] - first_loss[1, "pytorch"]) > 5e-3


TORCH_WEIGHTS_SCRIPT = """
import sys, torch
from torchvision.models import mobilenet_v2
from core.models.registry import build_model
torch.manual_seed(1)
reference = mobilenet_v2()
torch.save(reference.state_dict(), sys.argv[1])
model = build_model("pytorch", "mobilenetv2", (32, 32, 3), 5, pretrained=True, unfreeze_blocks=2)
same = all(torch.equal(a, b) for a, b in zip(model.features.state_dict().values(), reference.features.state_dict().values()))
frozen = [all(not p.requires_grad for p in block.parameters()) for block in model.features]
model.train()
print(same, frozen.count(True), len(frozen), model.features[0].training, model.features[-1].training, model.classifier.out_features)
"""

KERAS_WEIGHTS_SCRIPT = """
import os, sys, h5py, numpy as np, keras
from keras.src.legacy.saving import legacy_h5_format
from core.models.registry import build_model
keras.utils.set_random_seed(1)
reference = keras.applications.MobileNetV2(input_shape=(224, 224, 3), include_top=False, weights=None)
with h5py.File(sys.argv[1], "w") as handle:
    legacy_h5_format.save_weights_to_hdf5_group(handle, reference)
model = build_model("tensorflow", "mobilenetv2", (32, 32, 3), 5, pretrained=True, unfreeze_blocks=2)
features = model.layers[1]
ours = [w for layer in features.layers for w in layer.get_weights()]
theirs = [w for layer in reference.layers for w in layer.get_weights()]
same = len(ours) == len(theirs) and all(np.array_equal(a, b) for a, b in zip(ours, theirs))
trainable = [layer.name for layer in features.layers if layer.weights and layer.trainable]
print(same, trainable[0], model.layers[-1].units)
"""


@pytest.mark.frameworks
def test_pretrained_weights_load_from_each_library_cache(tmp_path):
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (tmp_path / "keras" / "models").mkdir(parents=True)
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "KERAS_HOME": str(tmp_path / "keras"),
           "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    torch_check = subprocess.run([sys.executable, "-c", TORCH_WEIGHTS_SCRIPT, str(checkpoints / "mobilenet_v2-b0353104.pth")],
                                 env=env, capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert torch_check.returncode == 0, torch_check.stderr[-2000:]
    assert torch_check.stdout.split() == ["True", "17", "19", "False", "True", "5"]
    keras_file = tmp_path / "keras" / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    keras_check = subprocess.run([sys.executable, "-c", KERAS_WEIGHTS_SCRIPT, str(keras_file)],
                                 env=env, capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert keras_check.returncode == 0, keras_check.stderr[-2000:]
    assert keras_check.stdout.split()[-3:] == ["True", "block_16_expand", "5"]  # features[17], as on the PyTorch side


@pytest.mark.frameworks
def test_missing_pretrained_weights_say_where_to_put_them(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    env = {"TORCH_HOME": str(tmp_path / "torch"), "KERAS_HOME": str(tmp_path / "keras"),
           "HTTPS_PROXY": closed, "HTTP_PROXY": closed, "https_proxy": closed, "http_proxy": closed}
    output = tmp_path / "out.json"
    completed = run_cli(["compare", "--dataset", "shapes", "--max-images", "200", "--architecture", "mobilenetv2",
                         "--pretrained", "--epochs", "1", "--batch-size", "16", "--json", str(output), "--quiet"],
                        tmp_path / "home", extra_env=env)
    assert completed.returncode == 1
    for run in json.loads(Path(output).read_text())["runs"]:
        assert run["error"]["kind"] == "unavailable"
        assert "could not be loaded" in run["error"]["message"] and "train from scratch" in run["error"]["message"]
