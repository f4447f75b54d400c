import pytest

from core.fidelity import TARGET_RATIO, alternating_plan, fidelity, minimal_loop_for
from tests.conftest import read_json, run_cli


def test_ratio_of_medians_with_the_range_of_pairs():
    result = fidelity([96.0, 100.0, 98.0], [100.0, 100.0, 102.0])
    assert result.harness_images_per_second == 98.0 and result.minimal_images_per_second == 100.0
    assert result.ratio == pytest.approx(0.98)
    assert (result.ratio_low, result.ratio_high) == (pytest.approx(96 / 100), pytest.approx(1.0))
    assert result.meets_target and not fidelity([90.0], [100.0]).meets_target
    assert TARGET_RATIO == 0.95


def test_mismatched_figures_are_refused():
    with pytest.raises(ValueError):
        fidelity([1.0, 2.0], [1.0])


def test_runs_alternate_which_goes_first():
    assert alternating_plan(3) == ["harness", "minimal", "minimal", "harness", "harness", "minimal"]


def test_each_framework_is_measured_against_its_own_loop():
    assert minimal_loop_for("pytorch") == "torch" and minimal_loop_for("tensorflow") == "tf_function"


@pytest.mark.frameworks
def test_bench_against_minimal_end_to_end(tmp_path):
    output = tmp_path / "fidelity.json"
    completed = run_cli(["bench", "--against-minimal", "--repeats", "1", "--architecture", "mlp", "--input-shape", "8x8x1",
                         "--batch-size", "16", "--steps", "5", "--warmup", "2", "--json", str(output), "--quiet"],
                        tmp_path / "home")
    assert completed.returncode == 0, completed.stderr
    report = read_json(output)
    assert [f["framework"] for f in report["frameworks"]] == ["pytorch", "tensorflow"]
    for entry in report["frameworks"]:
        assert entry["ratio"] > 0 and len(entry["harness_images_per_second"]) == len(entry["minimal_images_per_second"]) == 1
        assert entry["mode"] == entry["minimal_mode"]
