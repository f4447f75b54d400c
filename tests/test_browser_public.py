"""Public mode in a real browser: two browser contexts are two visitors of one shared instance.

The job runner is off (TWINBENCH_NO_RUNNER=1), so a queued comparison stays queued and the
limits have something to count; nothing trains. The server and browser come from test_browser.
"""

import pytest
from playwright.sync_api import expect

from core.store.queries import Store
from tests.test_browser import assert_no_error_logged, browser, dashboard  # noqa: F401  (browser is a fixture)

WAITING = "Waiting for the device: cnn on digits"  # the status panel's heading
QUEUE_FULL = "the queue holds 1 comparison, the most this shared instance takes; try again when one ends"


@pytest.fixture
def shared_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINBENCH_PUBLIC", "1")
    monkeypatch.setenv("TWINBENCH_PUBLIC_MAX_QUEUE", "1")
    monkeypatch.setenv("TWINBENCH_NO_RUNNER", "1")
    with dashboard(tmp_path, "public") as url:
        yield url
    assert_no_error_logged(tmp_path, "public")


def no_exception(page) -> None:
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def test_two_visitors_see_one_queue_and_change_only_their_own(browser, shared_url, tmp_path):  # noqa: F811
    first = browser.new_context(viewport={"width": 1400, "height": 1800})
    second = browser.new_context(viewport={"width": 1400, "height": 1800})
    try:
        a, b = first.new_page(), second.new_page()
        a.goto(shared_url)
        expect(a.get_by_text("Shared instance: everyone sees every comparison")).to_be_visible(timeout=60_000)
        a.get_by_role("button", name="Start comparison").click()
        expect(a.get_by_text(f"{WAITING} (yours)", exact=True)).to_be_visible(timeout=60_000)
        expect(a.get_by_role("button", name="Cancel")).to_be_visible()
        a_job = a.url.split("job=")[1].split("&")[0]

        # B sees A's comparison waiting, from the queue and from A's own address, without a Cancel.
        b.goto(f"{shared_url}/train")
        expect(b.get_by_text(WAITING, exact=True)).to_be_visible(timeout=60_000)
        b.goto(f"{shared_url}/train?job={a_job}")
        expect(b.get_by_text(WAITING, exact=True)).to_be_visible(timeout=60_000)
        expect(b.get_by_role("button", name="Cancel")).to_have_count(0)

        # The queue is full: B's Start says so and queues nothing.
        b.goto(shared_url)
        b.get_by_role("button", name="Start comparison").click()
        expect(b.get_by_text(QUEUE_FULL)).to_be_visible(timeout=60_000)
        store = Store(tmp_path / "runs.sqlite")
        assert len(store.list_comparisons()) == 1

        # A cancels its own; then B's Start goes through, and B's comparison is B's.
        a.get_by_role("button", name="Cancel").click()
        expect(a.get_by_text(f"{WAITING} (yours)", exact=True)).to_have_count(0, timeout=60_000)
        b.get_by_role("button", name="Start comparison").click()
        expect(b.get_by_text(f"{WAITING} (yours)", exact=True)).to_be_visible(timeout=60_000)
        expect(b.get_by_role("button", name="Cancel")).to_be_visible()
        owners = [c.owner for c in store.list_comparisons()]
        assert len(owners) == 2 and len(set(owners)) == 2 and None not in owners, owners

        # On History (reached through the navigation: a new address would be a new visitor), B
        # selects both comparisons and is offered the deletion of its own only.
        b.get_by_role("link", name="History").click()
        expect(b.get_by_role("heading", name="History")).to_be_visible(timeout=60_000)
        for comparison in store.list_comparisons():
            b.get_by_label("Selected comparisons").click()
            b.get_by_role("option", name=comparison.id).click()
            b.keyboard.press("Escape")
        expect(b.get_by_text("1 of the selected comparisons were started or imported by other visitors")).to_be_visible(
            timeout=60_000)
        expect(b.get_by_role("button", name="Delete 1 selected")).to_be_visible()
        for page in (a, b):
            no_exception(page)
    finally:
        first.close()
        second.close()
