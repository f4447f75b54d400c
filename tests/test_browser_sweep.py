"""The Sweep page in a real browser (Chromium through Playwright against `streamlit run`), with the
server and browser helpers of tests/test_browser.py: a stored sweep's charts, failed cell and
table, and the form's live count as values are typed."""

import pytest
from playwright.sync_api import expect

from dashboard_state import PAGES
from tests.test_browser import assert_no_error_logged, browser, dashboard, page, screenshot  # noqa: F401 (fixtures)
from tests.test_sweep_page import stored_sweep

pytestmark = pytest.mark.frameworks


def test_a_sweep_in_the_browser_shows_its_charts_table_and_failed_cell_and_counts_new_values(tmp_path, page):  # noqa: F811
    assert any(url_path == "sweep" for *_, url_path in PAGES), "dashboard_state.PAGES has no /sweep address"
    home = tmp_path / "home"
    sweep_id = stored_sweep(home)
    with dashboard(home, "sweep") as url:
        page.goto(f"{url}/sweep?sweep={sweep_id}")
        charts = page.locator("[data-testid='stPlotlyChart']")
        expect(charts).to_have_count(3, timeout=60_000)
        expect(page.get_by_text("out of memory at batch 2048").first).to_be_visible()
        expect(page.locator("[data-testid='stDataFrame']")).to_have_count(1)
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
        assert f"sweep={sweep_id}" in page.url
        screenshot(page, "sweep")

        page.get_by_text("New sweep").click()
        batch = page.get_by_role("textbox", name="Batch sizes")
        batch.fill("32, 128, 512")
        batch.press("Enter")
        count = page.locator("[data-testid='stMetric']").filter(has_text="Comparisons")
        expect(count).to_contain_text("3", timeout=30_000)
        batch.fill("32, 0")
        batch.press("Enter")
        expect(page.get_by_text("batch_size must be between 1 and 65536").first).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Start sweep")).to_be_disabled()
    assert_no_error_logged(home, "sweep")
