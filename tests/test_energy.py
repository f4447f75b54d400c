"""Energy per image: the counter arithmetic, RAPL's wrap-around and the idle subtraction, against
fake counters driven by the same fake clock as the loop; no GPU or RAPL needed."""

import pytest

from core.analysis.energy import (
    MIN_WINDOW_SECONDS,
    NOT_MEASURABLE,
    CounterReading,
    counts_between,
    energy_per_image,
    joules_between,
)
from core.analysis.figures import format_value
from core.analysis.report import comparison_rows
from core.results import checked_result
from core.train.energy import EnergyMeter, RaplEnergyCounter, rapl_packages
from core.train.loop import run_benchmark
from tests.records import comparison_record, run_record
from tests.test_loop import FakeClock, FakeTrainer


class FakeCounter:
    """A counter in millijoules that draws ``watts()`` while the fake clock moves, wrapping at ``wrap``."""

    name = "fake counter"
    joules_per_count = 1e-3

    def __init__(self, clock, watts, start=0, wrap=None):
        self.clock = clock
        self.watts = watts
        self.wrap_ranges = (wrap,)
        self._wrap = wrap
        self._millijoules = float(start)
        self._last = clock()

    def read(self):
        now = self.clock()
        self._millijoules += 1000 * self.watts() * (now - self._last)
        self._last = now
        count = int(round(self._millijoules))
        return (count % self._wrap if self._wrap else count,)


def sleeping(clock):
    def sleep(seconds):
        clock.now += seconds
    return sleep


def test_a_counter_that_wraps_counts_across_the_wrap():
    assert counts_between(100, 350, wrap_range=1000) == 250
    assert counts_between(900, 150, wrap_range=1000) == 250
    with pytest.raises(ValueError, match="backwards"):
        counts_between(900, 150, wrap_range=None)


def test_zones_add_up_each_with_its_own_wrap():
    start = CounterReading(0.0, (990_000, 5_000))
    end = CounterReading(1.0, (10_000, 25_000))  # the first package wrapped at 1,000,000 µJ
    assert joules_between(start, end, (1_000_000, 2_000_000), 1e-6) == pytest.approx(0.02 + 0.02)


def test_idle_power_is_taken_out_before_dividing_by_the_images():
    figures = energy_per_image(window_joules=500.0, window_seconds=4.0, idle_watts=50.0, images=1000,
                               counter_name="fake counter")
    assert figures.energy_joules_per_image == pytest.approx((500.0 - 50.0 * 4.0) / 1000)
    assert figures.energy_idle_watts == 50.0
    assert figures.energy_window_seconds == 4.0
    assert "4.0 s steady" in figures.energy_note and "idle 50.0 W" in figures.energy_note


def test_a_window_too_short_for_the_counter_is_refused_and_says_how_long_it_was():
    figures = energy_per_image(10.0, MIN_WINDOW_SECONDS / 4, 1.0, 100, "fake counter")
    assert figures.energy_joules_per_image is None
    assert "0.50 s" in figures.energy_note and f"{MIN_WINDOW_SECONDS:.0f} s" in figures.energy_note


def test_a_run_that_drew_no_more_than_idle_reports_no_energy():
    figures = energy_per_image(window_joules=90.0, window_seconds=3.0, idle_watts=30.0, images=100, counter_name="c")
    assert figures.energy_joules_per_image is None
    assert "no more than the idle" in figures.energy_note


def benchmark(clock, meter, step_seconds=0.01, steps=400, warmup=10, batch=32):
    trainer = FakeTrainer(clock, lambda i: step_seconds, device_kind="cuda")
    return run_benchmark(trainer, batch_size=batch, steps=steps, warmup=warmup, pool_batches=2,
                         emit=lambda *a, **k: None, clock=clock, energy=meter)


def test_the_loop_counts_energy_over_the_steady_steps_only():
    clock = FakeClock()
    # 20 W idle, 120 W during warm-up (to show it is left out), 220 W in the steady state.
    phase = {"name": "idle"}
    counter = FakeCounter(clock, lambda: {"idle": 20.0, "warmup": 120.0, "steady": 220.0}[phase["name"]],
                          start=5_000, wrap=3_000_000)  # wraps during the run

    class Meter(EnergyMeter):
        def measure_idle(self, seconds=1.0):
            super().measure_idle(seconds)
            phase["name"] = "warmup"

        def start(self):
            counter.read()  # bank what the warm-up drew at its own power
            phase["name"] = "steady"
            super().start()

    result = benchmark(clock, Meter(counter, clock, sleep=sleeping(clock)))
    steady_seconds, images = 400 * 0.01, 400 * 32
    assert result["energy_window_seconds"] == pytest.approx(steady_seconds)
    assert result["energy_idle_watts"] == pytest.approx(20.0, rel=1e-3)
    assert result["energy_joules_per_image"] == pytest.approx((220.0 - 20.0) * steady_seconds / images, rel=1e-3)
    checked_result(result)  # every energy figure is one RunResult names


def test_the_idle_reading_takes_a_second_and_comes_before_training():
    clock = FakeClock()
    reads = []
    counter = FakeCounter(clock, lambda: 10.0)
    original = counter.read
    counter.read = lambda: reads.append(clock()) or original()
    benchmark(clock, EnergyMeter(counter, clock, sleep=sleeping(clock)), steps=300, warmup=0)
    assert reads[:2] == [0.0, 1.0]  # idle, then the steady window opens at once (no warm-up)
    assert reads[2] == 1.0 and reads[-1] == pytest.approx(1.0 + 300 * 0.01)


def test_without_a_counter_a_run_says_not_measurable_here():
    clock = FakeClock()
    result = benchmark(clock, EnergyMeter(None, clock, sleep=sleeping(clock)))
    assert result["energy_joules_per_image"] is None
    assert result["energy_note"] == NOT_MEASURABLE
    assert clock.now == pytest.approx(410 * 0.01)  # no idle wait without a counter


def fake_powercap(root, zones):
    for name, kind, energy, wrap in zones:
        zone = root / name
        zone.mkdir()
        (zone / "name").write_text(kind + "\n")
        (zone / "energy_uj").write_text(f"{energy}\n")
        (zone / "max_energy_range_uj").write_text(f"{wrap}\n")


def test_rapl_reads_each_package_once_and_wraps_per_package(tmp_path):
    fake_powercap(tmp_path, [("intel-rapl:0", "package-0", 999_000, 1_000_000), ("intel-rapl:1", "package-1", 10, 2_000_000),
                             ("intel-rapl:0:0", "core", 5, 1_000_000), ("intel-rapl:2", "psys", 7, 1_000_000)])
    zones = rapl_packages(tmp_path)
    assert [z.name for z in zones] == ["intel-rapl:0", "intel-rapl:1"]
    counter = RaplEnergyCounter(zones)
    start = CounterReading(0.0, counter.read())
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("4000\n")
    (tmp_path / "intel-rapl:1" / "energy_uj").write_text("5010\n")
    end = CounterReading(1.0, counter.read())
    assert joules_between(start, end, counter.wrap_ranges, counter.joules_per_count) == pytest.approx(0.005 + 0.005)


def test_rapl_that_this_user_cannot_read_is_no_counter(tmp_path):
    fake_powercap(tmp_path, [("intel-rapl:0", "package-0", 1, 1_000_000)])
    (tmp_path / "intel-rapl:0" / "energy_uj").unlink()
    assert rapl_packages(tmp_path) == []


def comparison(runs):
    return comparison_record(runs, frameworks="pytorch,tensorflow")


def run(framework, repeat, **figures):
    return run_record(framework, repeat=repeat, spec={"seed": repeat, "batch_size": 32},
                      result=checked_result({"steady_images_per_second": 1000.0, **figures}), environment={"hostname": "h"})


def test_the_table_shows_energy_beside_images_per_second_or_why_it_is_missing():
    measured = comparison([run(fw, i, energy_joules_per_image=j, energy_note="fake counter")
                           for fw, joules in (("pytorch", (0.010, 0.011, 0.012)), ("tensorflow", (0.020, 0.021, 0.022)))
                           for i, j in enumerate(joules)])
    headers, rows = comparison_rows(measured)
    labels = [row[0] for row in rows]
    assert labels[labels.index("Steady-state images/s") + 1] == "Energy per image"
    energy = rows[labels.index("Energy per image")]
    assert energy[1].startswith(format_value(0.011, "J")) and energy[2].startswith(format_value(0.021, "J"))
    assert energy[3].startswith("PyTorch")  # clearly less energy over three repeats each

    cpu = comparison([run(fw, 0, energy_note=NOT_MEASURABLE) for fw in ("pytorch", "tensorflow")])
    headers, rows = comparison_rows(cpu)
    assert [row for row in rows if row[0] == "Energy per image"] == [["Energy per image", NOT_MEASURABLE, NOT_MEASURABLE, ""]]

    older = comparison([run(fw, 0) for fw in ("pytorch", "tensorflow")])
    assert "Energy per image" not in [row[0] for row in comparison_rows(older)[1]]


def test_the_verdict_weighs_energy_over_repeats():
    from core.analysis.verdict import findings

    measured = comparison([run(fw, i, energy_joules_per_image=j)
                           for fw, joules in (("pytorch", (0.010, 0.011, 0.012)), ("tensorflow", (0.020, 0.021, 0.022)))
                           for i, j in enumerate(joules)])
    energy = next(d for d in findings(measured) if d.topic == "Energy per image")
    assert energy.winner == "pytorch" and energy.interval.samples == 3
    assert energy.sentence.startswith("Energy per image: PyTorch is") and "more energy-efficient per image than" in energy.sentence
    cpu = comparison([run(fw, 0, energy_note=NOT_MEASURABLE) for fw in ("pytorch", "tensorflow")])
    assert all(d.topic != "Energy per image" for d in findings(cpu))
