"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run`.

Screenshots of every page go to artifacts/ (ignored by git) for people to look at.
"""

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from bench.dashboard_server import CHROMIUM, CHROMIUM_ARGS, start_dashboard
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.frameworks

ARTIFACTS = PROJECT_ROOT / "artifacts"


@pytest.fixture(scope="module")
def browser_home(tmp_path_factory):
    return tmp_path_factory.mktemp("browser-home")


@pytest.fixture(scope="module")
def app_url(browser_home):
    with (browser_home / "streamlit.log").open("w") as log:
        try:
            server, url = start_dashboard(browser_home, log, timeout_seconds=60)
        except RuntimeError as error:
            pytest.fail(f"{error}: " + (browser_home / "streamlit.log").read_text()[-2000:])
        yield url
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def page(app_url):
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs it (apt-get install chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 2400})
        yield context.new_page()
        browser.close()


def screenshot(page, name: str) -> None:
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_start_a_comparison_follow_it_and_see_the_charts(app_url, page):
    page.goto(f"{app_url}/train")
    page.get_by_role("button", name="Start comparison").click()
    expect(page.get_by_text("Finished.")).to_be_visible(timeout=180_000)
    expect(page.locator("[data-testid='stPlotlyChart']")).to_have_count(2)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    screenshot(page, "train")

    page.get_by_role("link", name="See the comparison").click()
    expect(page.get_by_text("Verdict")).to_be_visible(timeout=30_000)
    charts = page.locator("[data-testid='stPlotlyChart']")
    expect(charts.nth(6)).to_be_visible(timeout=30_000)
    assert charts.count() >= 7
    expect(page.get_by_text("Training speed:")).to_be_visible()
    screenshot(page, "compare")


def test_history_exports_everything_as_json(app_url, page, tmp_path):
    page.goto(f"{app_url}/history")
    page.get_by_text("Import or export").click()
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Export all as JSON").click()
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    exported = json.loads(saved.read_text())
    assert exported["format"] == "twinbench-export" and len(exported["comparisons"]) >= 1
    assert exported["comparisons"][0]["runs"][0]["step_samples"]


def test_every_page_renders_in_the_browser(app_url, page):
    for path, text in (("", "Latest comparison"), ("history", "comparisons"), ("system", "Installed versions"),
                       ("models", "layers in both frameworks")):
        page.goto(f"{app_url}/{path}")
        expect(page.get_by_text(text).first).to_be_visible(timeout=120_000)
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
        screenshot(page, path or "home")


def test_the_server_logged_no_error_behind_the_pages(app_url, browser_home):
    # Some errors (a fragment refresh failing, say) never reach the page: the log still has them.
    log = (browser_home / "streamlit.log").read_text()
    assert "Traceback" not in log, log[-3000:]
