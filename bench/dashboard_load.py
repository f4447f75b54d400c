"""How much watching a comparison in the dashboard slows the comparison down.

Starts the dashboard on a fresh ``TWINBENCH_HOME``, opens it in headless Chromium, starts the
default comparison from the Train page and either watches it to the end or leaves the page at
once (``--leave``). Prints each run's steady-state figures and the CPU seconds the dashboard
server and the browser spent meanwhile. On a machine with few cores every CPU second they take
is one the training threads wait for, so this is the figure to keep small.

    python -m bench.dashboard_load --repeats 3 --epochs 40
    python -m bench.dashboard_load --repeats 3 --epochs 40 --leave
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psutil

from bench.dashboard_server import CHROMIUM, CHROMIUM_ARGS, start_dashboard


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
            if "core.worker" in " ".join(child.cmdline())}


def measure(leave: bool, repeats: int, epochs: int, dataset: str, architecture: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    from core.store import Store

    home = Path(tempfile.mkdtemp(prefix="twinbench-load-"))
    server, url = start_dashboard(home)
    try:
        server_process = psutil.Process(server.pid)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            browser_process = next(p for p in psutil.Process().children(recursive=True) if "chromium" in p.name())
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            print("mode     run  framework   images/s  median ms  p90 ms  server cpu s  browser cpu s")
            for repeat in range(repeats):
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
                server_before = _cpu_seconds(server_process, _workers(server_process))
                browser_before = _cpu_seconds(browser_process, set())
                if leave:
                    page.goto("about:blank")
                    store = Store(home / "runs.sqlite")
                    while store.connection.execute(
                            "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0]:
                        time.sleep(0.5)
                    store.close()
                else:
                    expect(page.get_by_text("Finished.")).to_be_visible(timeout=300_000)
                server_cpu = _cpu_seconds(server_process, _workers(server_process)) - server_before
                browser_cpu = _cpu_seconds(browser_process, set()) - browser_before
                store = Store(home / "runs.sqlite")
                latest = store.comparison(store.latest_comparison_id())
                store.close()
                for run in latest["runs"]:
                    result = run["result"] or {}
                    print(f"{'leave' if leave else 'watch':8} {repeat + 1:3}  {run['framework']:10} "
                          f"{result.get('steady_images_per_second') or 0:9,.0f}  {result.get('step_ms_median') or 0:9.2f}"
                          f"  {result.get('step_ms_p90') or 0:6.2f}  {server_cpu:12.1f}  {browser_cpu:13.1f}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dataset", default="digits", help="a built-in dataset; the rest as the Train page has it")
    parser.add_argument("--architecture", default="cnn")
    parser.add_argument("--leave", action="store_true", help="leave the page as soon as the comparison is queued")
    arguments = parser.parse_args()
    measure(arguments.leave, arguments.repeats, arguments.epochs, arguments.dataset, arguments.architecture)


if __name__ == "__main__":
    main()
