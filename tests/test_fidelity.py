import pytest

from core.analysis.fidelity import alternating_plan, fidelity
from core.modes import NEAR_EQUAL_FRACTION
from tests.conftest import read_json, run_cli


def test_ratio_of_medians_with_the_range_of_pairs():
    result = fidelity([96.0, 100.0, 98.0], [100.0, 100.0, 102.0])
    assert result.harness_images_per_second == 98.0 and result.minimal_images_per_second == 100.0
    assert result.ratio == pytest.approx(0.98)
    assert (result.ratio_low, result.ratio_high) == (pytest.approx(96 / 100), pytest.approx(1.0))
    assert result.meets_target and not fidelity([90.0], [100.0]).meets_target


def test_mismatched_figures_are_refused():
    with pytest.raises(ValueError):
        fidelity([1.0, 2.0], [1.0])


def test_runs_alternate_which_goes_first():
    assert alternating_plan(3) == ["harness", "minimal", "minimal", "harness", "harness", "minimal"]


def test_bench_takes_every_mode_flag_into_its_spec():
    from core.cli import SPEC_FLAGS, build_parser, spec_from_args
    from core.modes import run_mode_label

    args = build_parser().parse_args(["bench", "--channels-last", "--precision", "bf16", "--compile", "on"])
    spec = spec_from_args(args, SPEC_FLAGS)
    assert (spec.channels_last, spec.precision, spec.compile) == (True, "bf16", "on")
    assert run_mode_label("pytorch", spec) == "torch.compile, bf16, channels_last"


def test_every_minimal_loop_the_registry_names_exists():
    from core.frameworks import REGISTRY
    from core.train.minimal_loops import LOOPS

    named = [loop for f in REGISTRY.values() for loop in (f.minimal_loop, *f.extra_minimal_loops) if loop]
    assert named and all(loop in LOOPS for loop in named)


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
    tensorflow = report["frameworks"][1]
    assert len(tensorflow["keras_fit_images_per_second"]) == 1 and tensorflow["keras_fit_images_per_second"][0] > 0


def test_candidate_modes_and_the_choice():
    from core.modes import Mode, candidate_modes, chosen_mode_payoff_step, compile_payoff_step, fastest

    torch_modes = candidate_modes("pytorch")
    assert Mode("on", "bf16") in torch_modes and Mode("off", "fp32", channels_last=True) in torch_modes
    assert not any(m.channels_last for m in candidate_modes("tensorflow"))
    assert Mode("on", "bf16").label("tensorflow") == "XLA (jit_compile), bf16"
    assert Mode("reduce-overhead").label("pytorch") == "torch.compile (reduce-overhead)"
    assert Mode("reduce-overhead") in candidate_modes("pytorch", "cuda") and Mode("reduce-overhead") not in torch_modes
    trials = [{"mode": "a", "steady_images_per_second": 100.0}, {"mode": "b", "steady_images_per_second": None},
              {"mode": "c", "steady_images_per_second": 120.0}]
    assert fastest(trials)["mode"] == "c"
    # Within 5 % of the fastest, the simpler (earlier) mode wins; beyond it, the faster one.
    near = [{"mode": "plain", "steady_images_per_second": 100.0}, {"mode": "compiled", "steady_images_per_second": 104.0}]
    assert fastest(near)["mode"] == "plain" and fastest(near, tolerance=0.0)["mode"] == "compiled"
    assert candidate_modes("pytorch")[0] == Mode() and candidate_modes("tensorflow")[0] == Mode()
    assert all(m.compile == "off" for m in candidate_modes("pytorch")[:3])
    plain = {"compile": "off", "precision": "fp32", "channels_last": False, "step_ms_median": 10.0,
             "compile_seconds": 0.0}
    graphs = {"compile": "reduce-overhead", "precision": "fp32", "channels_last": False, "step_ms_median": 5.0,
              "compile_seconds": 2.0}
    # CUDA graphs are compiled too: 2 s saved back at 5 ms a step pays off at step 401.
    assert chosen_mode_payoff_step(graphs, [plain, graphs]) == 401
    assert chosen_mode_payoff_step(plain, [plain, graphs]) is None
    with pytest.raises(ValueError):
        fastest([{"mode": "b", "steady_images_per_second": None}])
    # 10 s of compilation, saving 50 ms a step: paid back at step 201.
    assert compile_payoff_step(10.0, 50.0, 100.0) == 201
    assert compile_payoff_step(10.0, 120.0, 100.0) is None


@pytest.mark.frameworks
def test_best_of_each_trains_each_framework_in_its_fastest_mode(tmp_path):
    output = tmp_path / "out.json"
    completed = run_cli(["compare", "--architecture", "mlp", "--epochs", "1", "--best-of-each", "--json", str(output),
                         "--quiet"], tmp_path / "home")
    assert completed.returncode == 0, completed.stderr
    result = read_json(output)
    choices = result["data"]["best_of_each"]
    assert len(choices["pytorch"]["trials"]) == 6 and len(choices["tensorflow"]["trials"]) == 4
    for run in result["runs"]:
        chosen = choices[run["framework"]]["chosen"]
        trials = choices[run["framework"]]["trials"]
        best_speed = max(t["steady_images_per_second"] for t in trials)
        # The first trial (simplest first) within the near-equal band of the fastest is chosen.
        assert chosen["steady_images_per_second"] >= best_speed * (1 - NEAR_EQUAL_FRACTION)
        assert chosen["mode"] == next(t["mode"] for t in trials
                                      if t["steady_images_per_second"] >= best_speed * (1 - NEAR_EQUAL_FRACTION))
        assert (run["spec"]["compile"], run["spec"]["precision"], run["spec"]["channels_last"]) == \
               (chosen["compile"], chosen["precision"], chosen["channels_last"])
    assert "best of pytorch:" in completed.stdout and "best of tensorflow:" in completed.stdout


@pytest.mark.frameworks
def test_the_native_pipeline_feeds_the_same_batches_in_the_same_order(tmp_path):
    losses = {}
    for pipeline in ("device", "native"):
        output = tmp_path / f"{pipeline}.json"
        completed = run_cli(["compare", "--epochs", "1", "--repeats", "1", "--data-pipeline", pipeline, "--json", str(output),
                             "--quiet"],
                            tmp_path / "home")
        assert completed.returncode == 0, completed.stderr
        runs = read_json(output)["runs"]
        losses[pipeline] = {r["framework"]: r["epochs"][0]["train_loss"] for r in runs}
        if pipeline == "native":
            assert [r["result"]["mode"] for r in runs] == ["eager, DataLoader", "tf.function, tf.data"]
    # Same data, order, initialisation and arithmetic: the first epoch's loss agrees in each framework.
    for framework in ("pytorch", "tensorflow"):
        assert losses["native"][framework] == pytest.approx(losses["device"][framework], abs=1e-4)
