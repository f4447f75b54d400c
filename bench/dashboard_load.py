"""Does watching a comparison in the dashboard change what it measures?

Starts the dashboard on a fresh ``TWINBENCH_HOME`` and headless Chromium, then runs the same
comparison in each mode, round after round: ``watch`` starts it from the Train page and keeps
the page open to the end, ``leave`` leaves the page at once, ``cli`` runs ``python -m core
compare`` with no page open. Prints each run's steady-state figures, the CPU seconds the
dashboard server and the browser spent meanwhile, and each mode's images/s against the CLI's
with a 95 % interval.

    python -m bench.dashboard_load --rounds 3                   # watch against cli
    python -m bench.dashboard_load --rounds 3 --modes watch,leave,cli --epochs 40
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.dashboard_server import CHROMIUM, CHROMIUM_ARGS, PROJECT_ROOT, start_dashboard
from core.records import Run
from core.results import RunResult


def _cpu_seconds(process: psutil.Process, exclude: set[int]) -> float:
    """CPU time of a process and its descendants, leaving out the training workers."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        if member.pid in exclude:
            continue
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _workers(server: psutil.Process) -> set[int]:
    return {child.pid for child in server.children(recursive=True)
            if "core.engine.worker" in " ".join(child.cmdline())}


def _latest_runs(home: Path) -> tuple[Run, ...]:
    from core.store.queries import Store

    store = Store(home / "runs.sqlite")
    try:
        return store.comparison(store.latest_comparison_id()).runs
    finally:
        store.close()


def _from_dashboard(page, url: str, home: Path, leave: bool, epochs: int, dataset: str, architecture: str) -> None:
    from playwright.sync_api import expect

    from core.store.queries import Store
    from core.store.queue import active_jobs

    page.goto(f"{url}/train")
    page.get_by_role("spinbutton", name="Epochs").fill(str(epochs))
    if dataset != "digits":
        page.locator("[data-testid='stSelectbox']").filter(has_text="Dataset").click()
        page.get_by_role("option", name=f"{dataset} — ").click()
    if architecture != "cnn":
        page.locator("[data-testid='stSelectbox']").filter(has_text="Architecture").click()
        page.get_by_role("option", name=f"{architecture} — ").click()
    page.get_by_role("button", name="Start comparison").click()
    expect(page.get_by_text("Comparison queued")).to_be_visible(timeout=120_000)
    if not leave:
        expect(page.get_by_text("Finished.")).to_be_visible(timeout=600_000)
        return
    page.goto("about:blank")
    store = Store(home / "runs.sqlite")
    while active_jobs(store):
        time.sleep(0.5)
    store.close()


def _from_cli(home: Path, epochs: int, dataset: str, architecture: str) -> None:
    subprocess.run([sys.executable, "-m", "core", "compare", "--epochs", str(epochs), "--dataset", dataset,
                    "--architecture", architecture, "--quiet"], cwd=PROJECT_ROOT, env={**os.environ, "TWINBENCH_HOME": str(home)},
                   stdout=subprocess.DEVNULL, check=False)


def measure(modes: list[str], rounds: int, epochs: int, dataset: str, architecture: str) -> dict[str, dict[str, list[float]]]:
    """Each round runs the comparison once per mode (the order rotating), so drift in the machine
    falls on every mode alike; returns steady images/s per mode and framework."""
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="twinbench-load-"))
    server, url = start_dashboard(home)
    speeds: dict[str, dict[str, list[float]]] = {mode: {} for mode in modes}
    try:
        server_process = psutil.Process(server.pid)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            browser_process = next(p for p in psutil.Process().children(recursive=True) if "chromium" in p.name())
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            print("mode   round  framework  seed   images/s  median ms  p90 ms  server cpu s  browser cpu s")
            for round_number in range(rounds):
                shift = round_number % len(modes)
                for mode in modes[shift:] + modes[:shift]:
                    page.goto("about:blank")
                    server_before = _cpu_seconds(server_process, _workers(server_process))
                    browser_before = _cpu_seconds(browser_process, set())
                    if mode == "cli":
                        _from_cli(home, epochs, dataset, architecture)
                    else:
                        _from_dashboard(page, url, home, mode == "leave", epochs, dataset, architecture)
                    server_cpu = _cpu_seconds(server_process, _workers(server_process)) - server_before
                    browser_cpu = _cpu_seconds(browser_process, set()) - browser_before
                    for run in _latest_runs(home):
                        result = run.result or RunResult()
                        speed = result.steady_images_per_second
                        if speed:
                            speeds[mode].setdefault(run.framework, []).append(speed)
                        print(f"{mode:6} {round_number + 1:5}  {run.framework:10} {run.spec.seed:4} "
                              f"{speed or 0:10,.0f}  {result.step_ms_median or 0:9.2f}"
                              f"  {result.step_ms_p90 or 0:6.2f}  {server_cpu:12.1f}  {browser_cpu:13.1f}", flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return speeds


def summarize(speeds: dict[str, dict[str, list[float]]], baseline: str = "cli") -> None:
    """Each mode's speed against the baseline's, per framework: ratio of geometric means, 95 % CI."""
    from core.analysis.uncertainty import ratio_interval

    if baseline not in speeds:
        return
    print(f"\nagainst {baseline}: ratio of geometric means of steady images/s, 95 % CI (Welch t on logs)")
    for mode, by_framework in speeds.items():
        if mode == baseline:
            continue
        for framework, values in by_framework.items():
            reference = speeds[baseline].get(framework, [])
            if len(values) < 2 or len(reference) < 2:
                continue
            interval = ratio_interval(values, reference)
            print(f"  {mode:6} {framework:10} {interval.estimate:.3f} ({interval.low:.3f}–{interval.high:.3f}), "
                  f"{len(values)} and {len(reference)} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="comparisons per mode (each has the default 3 repeats)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dataset", default="digits", help="a built-in dataset; the rest as the Train page has it")
    parser.add_argument("--architecture", default="cnn")
    parser.add_argument("--modes", default="watch,cli",
                        help="comma-separated: watch (Train page open to the end), leave (page left at once), cli")
    arguments = parser.parse_args()
    modes = [mode.strip() for mode in arguments.modes.split(",") if mode.strip()]
    summarize(measure(modes, arguments.rounds, arguments.epochs, arguments.dataset, arguments.architecture))


if __name__ == "__main__":
    main()
