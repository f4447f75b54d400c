"""The shared loop's timing, driven by a fake trainer and an injected clock: no framework needed."""

import numpy as np
import pytest

from core.data.prepare import PreparedData
from core.spec import RunSpec
from core.train.loop import Cancelled, StepWindows, run_benchmark, run_training, summarize_steps


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeTrainer:
    """Each step advances the clock by a scripted duration; synchronise is counted."""

    framework = "fake"
    mode = "scripted"

    def __init__(self, clock, step_seconds, device_kind="cpu"):
        self.clock = clock
        self.step_seconds = step_seconds
        self.device_kind = device_kind
        self.steps_taken = 0
        self.synchronizations = 0
        self.orders = []

    def environment(self):
        return {}

    def parameter_counts(self):
        return 10, 0

    def flops_per_image(self):
        return 100

    def load_training_images(self, images):
        pass

    def start_epoch(self, order):
        self.orders.append(order.copy())

    def train_step(self, step):
        self.clock.now += self.step_seconds(self.steps_taken)
        self.steps_taken += 1

    def synchronize(self):
        self.synchronizations += 1

    def take_epoch_metrics(self):
        return 0.5, 0.8

    def evaluate(self, images, labels):
        return 0.4, np.arange(len(labels)) % 20 != 0  # 95 % right

    def prepare_inference(self, images):
        return images

    def infer(self, batch):
        self.clock.now += 0.001

    def reset_peak_memory(self):
        pass

    def device_memory(self):
        return None, None


def tiny_data(count=100):
    x = np.zeros((count, 4, 4, 1), np.float32)
    y = np.arange(count) % 2
    return PreparedData(x, y, x[:10], y[:10], x[:10], y[:10], ["a", "b"], np.zeros(1), np.ones(1))


def test_warmup_is_timed_apart_from_the_steady_state():
    clock = FakeClock()
    # First step 1 s (compilation), the rest of warm-up 0.1 s, steady steps 0.01 s.
    trainer = FakeTrainer(clock, lambda i: 1.0 if i == 0 else (0.1 if i < 5 else 0.01))
    events = []
    result = run_training(trainer, tiny_data(), RunSpec(epochs=2, batch_size=10), lambda kind, **f: events.append((kind, f)), clock)
    assert result["warmup_steps"] == 5
    assert result["first_step_seconds"] == pytest.approx(1.0)
    assert result["warmup_seconds"] == pytest.approx(1.4)
    assert result["step_ms_median"] == pytest.approx(10.0)
    assert result["steady_images_per_second"] == pytest.approx(1000.0)
    assert result["compile_seconds"] == pytest.approx(0.99)
    assert result["time_to_target_seconds"] == pytest.approx(1.45)  # end of epoch 1, when val accuracy 0.95 >= 0.9
    epochs = [f for kind, f in events if kind == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[1]["epoch_seconds"] == pytest.approx(0.1) and epochs[1]["images_per_second"] == pytest.approx(1000.0)


def test_cpu_synchronises_every_step_gpu_every_window():
    for kind, expected_windows in (("cpu", 45), ("cuda", 3)):
        clock = FakeClock()
        trainer = FakeTrainer(clock, lambda i: 0.01, device_kind=kind)
        windows = StepWindows(trainer, clock, 1 if kind == "cpu" else 20)
        windows.open()
        for step in range(45):
            trainer.train_step(step)
            windows.after_step(epoch=1, done=step + 1, total=45, warmup=5)
        assert len(windows.samples) == expected_windows
        assert sum(s.steps for s in windows.samples) == 45
        assert trainer.synchronizations == expected_windows + 1  # one per window edge, plus the opening one


def test_windows_never_straddle_the_warmup_edge():
    clock = FakeClock()
    trainer = FakeTrainer(clock, lambda i: 0.5 if i < 7 else 0.01)
    windows = StepWindows(trainer, clock, 20)
    windows.open()
    for step in range(40):
        trainer.train_step(step)
        windows.after_step(epoch=0, done=step + 1, total=40, warmup=7)
    warm = [s for s in windows.samples if s.warmup]
    assert sum(s.steps for s in warm) == 7 and all(s.milliseconds == pytest.approx(500) for s in warm)
    assert summarize_steps(windows.steady(), 10)["step_ms_median"] == pytest.approx(10)


def test_both_frameworks_would_see_the_same_order():
    orders = []
    for _ in range(2):
        clock = FakeClock()
        trainer = FakeTrainer(clock, lambda i: 0.01)
        result = run_training(trainer, tiny_data(), RunSpec(epochs=3, batch_size=10, seed=5), lambda *a, **k: None, clock)
        orders.append((trainer.orders, result["data_order_sha256"]))
    assert all(np.array_equal(a, b) for a, b in zip(orders[0][0], orders[1][0], strict=True))
    assert orders[0][1] == orders[1][1]


def test_cancel_stops_at_a_step_boundary():
    clock = FakeClock()
    trainer = FakeTrainer(clock, lambda i: 0.01)
    with pytest.raises(Cancelled):
        run_training(trainer, tiny_data(), RunSpec(epochs=5, batch_size=10), lambda *a, **k: None, clock,
                     should_stop=lambda: trainer.steps_taken >= 12)
    assert trainer.steps_taken == 12


def test_benchmark_reports_steady_speed_after_warmup():
    clock = FakeClock()
    trainer = FakeTrainer(clock, lambda i: 0.2 if i < 3 else 0.02)
    result = run_benchmark(trainer, batch_size=8, steps=20, warmup=3, pool_batches=4, emit=lambda *a, **k: None, clock=clock)
    assert trainer.steps_taken == 23
    assert result["steady_images_per_second"] == pytest.approx(400.0)
    assert result["warmup_seconds"] == pytest.approx(0.6)
