"""One split, one normalisation and one order, the same bytes for every run."""

import numpy as np
import pytest

from core.data.augment import augment_epoch
from core.data.order import epoch_order, steps_per_epoch, warmup_steps
from core.data.prepare import load_prepared, prepare_dataset
from core.data.shapes import SHAPE_NAMES, generate_shapes


def test_digits_split_is_disjoint_stratified_and_normalised_on_train_only(home):
    data = prepare_dataset("digits", seed=0, validation_fraction=0.1)
    sizes = (len(data.y_train), len(data.y_val), len(data.y_test))
    assert sum(sizes) == 1797 and sizes == (1293, 144, 360)
    rows = {arr.tobytes() for arr in data.x_train}
    assert not rows & {arr.tobytes() for arr in data.x_test}
    assert np.allclose(data.x_train.mean(), 0, atol=1e-5) and np.allclose(data.x_train.std(), 1, atol=1e-3)
    assert set(np.bincount(data.y_test)) <= {35, 36, 37}  # stratified: about 36 per class
    assert data.x_train.dtype == np.float32 and data.input_shape == (8, 8, 1)


def test_prepared_arrays_are_cached_and_identical(home):
    first = prepare_dataset("digits", seed=3)
    second = prepare_dataset("digits", seed=3)
    assert first.path == second.path
    reloaded = load_prepared(first.path)
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(reloaded, name), getattr(first, name))
    assert prepare_dataset("digits", seed=4).path != first.path


def test_explicit_resize_is_noted(home):
    data = prepare_dataset("digits", image_size=16)
    assert data.input_shape == (16, 16, 1)
    assert data.notes == ["images resized from 8x8 to 16x16 (bilinear)"]


def test_shapes_are_deterministic_balanced_and_sized(home):
    images, labels = generate_shapes(50, 24, seed=7)
    again, _ = generate_shapes(50, 24, seed=7)
    np.testing.assert_array_equal(images, again)
    assert images.shape == (50, 24, 24, 3) and set(np.bincount(labels)) == {5}
    assert len(SHAPE_NAMES) == 10
    data = prepare_dataset("shapes", max_images=200, image_size=16)
    assert data.input_shape == (16, 16, 3) and len(data.y_train) + len(data.y_val) + len(data.y_test) == 200


def test_epoch_order_is_a_pure_function_of_seed_and_epoch():
    assert np.array_equal(epoch_order(100, 1, 0), epoch_order(100, 1, 0))
    assert not np.array_equal(epoch_order(100, 1, 0), epoch_order(100, 1, 1))
    assert sorted(epoch_order(100, 1, 0)) == list(range(100))


def test_the_last_partial_batch_is_dropped():
    assert steps_per_epoch(10, 3) == 3 and steps_per_epoch(9, 3) == 3 and steps_per_epoch(2, 3) == 0


@pytest.mark.parametrize("steps, expected", [(1, 1), (2, 1), (6, 5), (40, 5), (100, 10), (1000, 100)])
def test_warmup_is_ten_percent_of_the_first_epoch_at_least_five_steps(steps, expected):
    assert warmup_steps(steps) == expected


def test_augmentation_is_deterministic_and_flips_only_colour_images():
    colour = np.random.default_rng(0).standard_normal((20, 16, 16, 3)).astype(np.float32)
    assert np.array_equal(augment_epoch(colour, 1, 2), augment_epoch(colour, 1, 2))
    assert not np.array_equal(augment_epoch(colour, 1, 2), augment_epoch(colour, 1, 3))
    grey = np.zeros((4, 8, 8, 1), dtype=np.float32)
    grey[:, :, :4] = 1.0  # left half bright: a flip would move the bright half to the right
    shifted = augment_epoch(grey, 0, 0)
    assert (shifted[:, :, :3].mean() > shifted[:, :, 5:].mean())


@pytest.mark.parametrize("limit", [20, 50, 400])
def test_max_images_keeps_a_stratified_subset_of_images_and_labels(home, limit):
    data = prepare_dataset("digits", seed=0, validation_fraction=0.1, max_images=limit)
    sizes = (len(data.y_train), len(data.y_val), len(data.y_test))
    assert sum(sizes) == limit
    assert data.x_train.shape[1:] == (8, 8, 1) and data.y_train.ndim == 1
    assert data.y_train.dtype.kind == "i" and set(np.unique(data.y_train)) <= set(range(10))
    if limit >= 400:
        assert len(np.unique(data.y_train)) == 10  # every class kept


def test_a_full_disk_while_caching_leaves_no_partial_file_and_says_so(tmp_path):
    # A file-size limit in a child process stands in for a full disk.
    import os
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    script = """
import resource, signal
from core.data.prepare import prepare_dataset
from core.errors import TwinbenchError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
try:
    prepare_dataset("digits", seed=0, validation_fraction=0.1)
except TwinbenchError as error:
    print(error)
"""
    home = tmp_path / "home"
    completed = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                               timeout=120, env={**os.environ, "TWINBENCH_HOME": str(home)})
    assert "could not cache the prepared data" in completed.stdout, completed.stderr
    assert not list((home / "prepared").iterdir())
