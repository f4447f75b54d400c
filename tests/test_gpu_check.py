"""The GPU check's plan, budget and outputs, with a fake runner: which commands it would run on a
GPU machine, that it ends within its budget, and what it hands back (docs/benchmarks.md)."""

import json

from bench import gpu_check


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_runner(clock, seconds_per_step, printed="table\n"):
    calls = []

    def run(command, timeout):
        calls.append((command, timeout))
        clock.now += min(seconds_per_step, timeout)
        if "--json" in command:
            path = command[command.index("--json") + 1]
            with open(path, "w") as handle:
                json.dump({"figure": 1}, handle)
        if command[-1] == "system":
            return 0, json.dumps({"host": {"cpu": "x"}, "gpus": [{"name": "GPU"}], "other": 1})
        return (0 if seconds_per_step <= timeout else None), printed

    return run, calls


def test_the_plan_covers_the_issue_in_every_installed_framework():
    steps = {step.name: step for step in gpu_check.plan("a,b,c")}
    assert list(steps)[:2] == ["system", "gpu-tests"]
    assert steps["gpu-tests"].command[-1] == "tests/test_gpu.py" and "gpu" in steps["gpu-tests"].command
    minimal = [s for s in steps.values() if "--against-minimal" in s.command]
    assert {(s.command[s.command.index("--architecture") + 1], "bf16" in s.command) for s in minimal} == {
        ("cnn", False), ("cnn", True), ("resnet18", False), ("resnet18", True)}
    for step in minimal:
        assert step.command[step.command.index("--input-shape") + 1] == "32x32x3"
        assert step.command[step.command.index("--batch-size") + 1] == "256"
    sweep = steps["sweep"].command
    assert sweep[sweep.index("--batch-size") + 1] == "128,256,512,1024,2048"
    assert "--find-max-batch" in steps["find-max-batch"].command
    for step in steps.values():
        if "--frameworks" in step.command:
            assert step.command[step.command.index("--frameworks") + 1] == "a,b,c"


def test_every_step_gets_what_is_left_of_the_budget_and_none_starts_too_late(tmp_path):
    clock = FakeClock()
    runner, calls = fake_runner(clock, seconds_per_step=50)
    records = gpu_check.run_steps(gpu_check.plan("a"), 130, tmp_path, runner, clock)
    assert [r.status for r in records[:3]] == ["passed", "passed", "timed out"]
    assert calls[2][1] == 30  # the budget's rest, not the step's cap
    assert all(r.status == "not run (budget)" and r.notes for r in records[3:])
    assert clock.now <= 130


def test_the_outputs_are_what_the_gpu_machine_can_hand_back(tmp_path):
    clock = FakeClock()
    runner, _ = fake_runner(clock, seconds_per_step=1, printed="framework  images/s\npytorch  1,000\n")
    records = gpu_check.run_steps(gpu_check.plan("a"), 10_000, tmp_path, runner, clock)
    written = gpu_check.write_outputs(tmp_path / "out", records, "2026-12-02 12:00 UTC")
    assert [p.name for p in written] == ["gpu_check.json", "gpu_check.md", "gpu_tests.log"]  # at most 8, one folder
    document = json.loads(written[0].read_text())
    assert all(step["status"] == "passed" for step in document["steps"])
    assert next(s for s in document["steps"] if s["name"] == "compare")["figures"] == {"figure": 1}
    section = written[1].read_text()
    assert section.startswith("## The GPU check (2026-12-02 12:00 UTC)")
    for record in records:
        assert f"`{record.command}`" in section  # each figure under its command
    assert "python -m core bench --against-minimal --architecture cnn" in section
    assert '"other"' not in section and '"gpus"' in section
