"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run`.

Every test sets up what it needs (a fresh server, a finished comparison), so each one checks
what it names when run on its own too, and each ends by checking the server's log.
Screenshots of every page go to artifacts/ (ignored by git) for people to look at.
"""

import contextlib
import json
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from bench.dashboard_server import CHROMIUM, CHROMIUM_ARGS, start_dashboard
from core.engine.jobs import enqueue, get_job
from core.frameworks import DEFAULT_NAMES
from core.spec import RunSpec
from core.store.queries import Store
from dashboard_state import PAGES
from tests.conftest import PROJECT_ROOT, run_cli

pytestmark = pytest.mark.frameworks

ARTIFACTS = PROJECT_ROOT / "artifacts"
NAVIGATION = [title for _, title, _, _ in PAGES]
# What each page's address shows once the page has run to its end (with a finished comparison).
PAGE_TEXT = {"": "Latest comparison", "train": "Queue", "compare": "Verdict", "sweep": "Results", "history": "comparisons",
             "models": "layers in every framework", "system": "Installed versions"}


@contextlib.contextmanager
def dashboard(home: Path, name: str):
    """`streamlit run` with TWINBENCH_HOME=home, its output in home/<name>.log; yields its URL."""
    log_path = home / f"{name}.log"
    with log_path.open("w") as log:
        try:
            server, url = start_dashboard(home, log, timeout_seconds=60)
        except RuntimeError as error:
            pytest.fail(f"{error}: " + log_path.read_text()[-2000:])
        try:
            yield url
        finally:
            server.terminate()
            server.wait(timeout=20)


def assert_no_error_logged(home: Path, name: str = "streamlit") -> None:
    # Some errors (a fragment refresh failing, say) never reach the page: the log still has them.
    log = (home / f"{name}.log").read_text()
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def models_cache(tmp_path_factory):
    """Shared by every server's home here, so the models are built (in worker processes) once."""
    return tmp_path_factory.mktemp("models-cache")


@pytest.fixture(scope="module")
def browser_home(tmp_path_factory, models_cache):
    home = tmp_path_factory.mktemp("browser-home")
    (home / "models").symlink_to(models_cache)
    return home


@pytest.fixture(scope="module")
def app_url(browser_home):
    with dashboard(browser_home, "streamlit") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs it (apt-get install chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def finished_comparison(app_url, browser_home) -> str:
    """A comparison whose runs all finished: the one a test trained here, or else a short one from the CLI."""
    store = Store(browser_home / "runs.sqlite")
    finished = [c["id"] for c in store.list_comparisons() if c["runs"] and c["finished"] == c["runs"]]
    if not finished:
        completed = run_cli(["compare", "--epochs", "1", "--repeats", "1", "--quiet"], browser_home)
        assert completed.returncode == 0, completed.stderr[-2000:]
        finished = [store.latest_comparison_id()]
    return finished[0]


def screenshot(page, name: str) -> None:
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def first_visit_home(tmp_path_factory, models_cache):
    """A home of its own with a queued comparison, so that no other server's runner touches its queue."""
    home = tmp_path_factory.mktemp("first-visit-home")
    (home / "models").symlink_to(models_cache)
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("TWINBENCH_HOME", str(home))
        enqueue(Store(home / "runs.sqlite"), RunSpec(epochs=1), list(DEFAULT_NAMES))
    return home


@pytest.mark.parametrize("path", [url_path or "" for _, _, _, url_path in PAGES], ids=lambda path: f"/{path}")
def test_a_first_visit_straight_to_any_page_shows_the_whole_app(first_visit_home, page, path):
    # The comparison's job is marked running by a runner that is gone: a job runner that starts
    # fails it at once ("the app stopped ..."), so its status shows whether one started.
    store = Store(first_visit_home / "runs.sqlite")
    with store.transaction() as db:
        db.exec_driver_sql("UPDATE jobs SET status='running', message=NULL")
        job_id = db.exec_driver_sql("SELECT id FROM jobs").scalar()
    log_name = f"first-visit-{path or 'home'}"

    with dashboard(first_visit_home, log_name) as url:  # a new server: nothing has been visited yet
        page.goto(f"{url}/{path}")
        links = page.get_by_test_id("stSidebarNavLink")
        expect(links).to_have_count(len(NAVIGATION), timeout=60_000)
        for link, title in zip(links.all(), NAVIGATION, strict=True):
            expect(link).to_contain_text(title)
        title = next(title for _, title, _, url_path in PAGES if (url_path or "") == path)
        expect(page.get_by_test_id("stSidebarNavLink").filter(has_text=title)).to_have_attribute("aria-current", "page")
        if path == "models":  # let it finish building the models (in worker processes) before the server stops
            expect(page.get_by_text(PAGE_TEXT[path]).first).to_be_visible(timeout=300_000)
        deadline = time.monotonic() + 30
        while get_job(store, job_id)["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert get_job(store, job_id)["status"] == "failed", "the job runner did not start"
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
    assert_no_error_logged(first_visit_home, log_name)


def test_start_a_comparison_follow_it_and_see_the_charts(app_url, browser_home, page):
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
    assert_no_error_logged(browser_home)


def test_history_exports_everything_as_json(app_url, browser_home, finished_comparison, page, tmp_path):
    page.goto(f"{app_url}/history")
    page.get_by_text("Import or export").click()
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Export all as JSON").click()
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    exported = json.loads(saved.read_text())
    assert exported["format"] == "twinbench-export"
    comparison = next(c for c in exported["comparisons"] if c["id"] == finished_comparison)
    assert comparison["runs"][0]["step_samples"]
    assert_no_error_logged(browser_home)


def test_every_page_renders_in_the_browser(app_url, browser_home, finished_comparison, page):
    assert sorted(PAGE_TEXT) == sorted(url_path or "" for _, _, _, url_path in PAGES)
    for path, text in PAGE_TEXT.items():
        page.goto(f"{app_url}/{path}")
        expect(page.get_by_text(text).first).to_be_visible(timeout=300_000)
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
        if path not in ("train", "compare"):  # those are shot with a comparison on them, above
            screenshot(page, path or "home")
    assert_no_error_logged(browser_home)


# Lines a server writes at WARNING or above (its logger's levels, Python's warnings, a traceback).
WARNED = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|\w+Warning:|Traceback")


def assert_nothing_warned(home: Path, name: str) -> None:
    lines = (home / f"{name}.log").read_text().splitlines()
    assert [line for line in lines if WARNED.search(line)] == [], "\n".join(lines[-40:])


@pytest.fixture(scope="module")
def several_home(tmp_path_factory, models_cache):
    """A home of its own holding three short comparisons on the embedded digits, differing in batch size."""
    home = tmp_path_factory.mktemp("several-home")
    (home / "models").symlink_to(models_cache)
    for batch_size in ("32", "64", "128"):
        completed = run_cli(["compare", "--epochs", "1", "--repeats", "1", "--batch-size", batch_size, "--quiet"], home)
        assert completed.returncode == 0, completed.stderr[-2000:]
    return home


def choose(page, label: str, *values: str) -> None:
    """Pick ``values`` in the multiselect labelled ``label``, each by typing it and taking the first match."""
    box = page.get_by_test_id("stMultiSelect").filter(has_text=label)
    for value in values:
        box.locator("input").click()
        box.locator("input").fill(value)
        page.get_by_role("option").filter(has_text=value).first.click()
        expect(box).to_contain_text(value)
    page.keyboard.press("Escape")


def test_three_comparisons_at_once_log_scale_a_tag_and_a_reload(several_home, page):
    ids = [c["id"] for c in Store(several_home / "runs.sqlite").list_comparisons()][::-1]
    assert len(ids) == 3
    with dashboard(several_home, "several") as url:
        page.goto(f"{url}/history")
        expect(page.get_by_text("3 of 3 comparisons")).to_be_visible(timeout=60_000)
        choose(page, "Selected comparisons", *ids)
        expect(page.get_by_text("What differs between the 3 selected")).to_be_visible(timeout=30_000)
        expect(page).to_have_url(re.compile("comparisons=" + "(,|%2C)".join(ids)))

        page.get_by_role("link", name="Overlay the 3 selected on the Compare page").click()
        expect(page.get_by_text("Runs", exact=True)).to_be_visible(timeout=60_000)
        legend = page.locator(".legendtext")
        expect(legend).to_have_count(12, timeout=30_000)  # two charts, two runs in each of three comparisons
        for comparison_id in ids:
            expect(legend.filter(has_text=comparison_id)).to_have_count(4)
        page.get_by_test_id("stCheckbox").filter(has_text="Log scale").click()
        expect(page).to_have_url(re.compile("log_scale=1"), timeout=30_000)
        expect(page).to_have_url(re.compile("show=several"))
        screenshot(page, "compare-several")

        page.reload()
        expect(page.locator(".legendtext")).to_have_count(12, timeout=60_000)
        expect(page.get_by_test_id("stCheckbox").filter(has_text="Log scale").locator("input")).to_be_checked()
        for comparison_id in ids:
            expect(page.get_by_test_id("stMultiSelect").filter(has_text="Comparisons")).to_contain_text(comparison_id)

        page.goto(f"{url}/history?comparisons={','.join(ids)}")
        tags = page.get_by_label("Tags, comma-separated")
        expect(tags).to_be_visible(timeout=60_000)
        tags.fill("browser-tag")
        tags.press("Enter")
        page.get_by_role("button", name="Save tags and note").click()
        expect(page.get_by_text(f"Saved the tags and note of {ids[0]}.")).to_be_visible(timeout=30_000)
        assert Store(several_home / "runs.sqlite").comparison(ids[0])["tags"] == ["browser-tag"]
        choose(page, "Tags", "browser-tag")
        expect(page.get_by_text("1 of 3 comparisons")).to_be_visible(timeout=30_000)
        expect(page).to_have_url(re.compile("tags=browser-tag"))
        screenshot(page, "history")

        page.reload()
        expect(page.get_by_text("1 of 3 comparisons")).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("stMultiSelect").filter(has_text="Tags")).to_contain_text("browser-tag")
        expect(page.get_by_test_id("stMultiSelect").filter(has_text="Selected comparisons")).to_contain_text(ids[2])
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
    assert_nothing_warned(several_home, "several")
