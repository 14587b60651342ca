"""`--html` reports of `wstape analyze` and `wstape compare`, opened in a real headless browser
(Debian's chromium through Playwright): the page loads without fetching anything, its plots are
embedded images that decode, failing runs come first, and hostile run ids stay text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from recordings import recorded
from test_runs_rules import Chat

from wstape.analyzer.cli.analyze import analyze_command
from wstape.analyzer.cli.compare import compare_command

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """Opens a file in a fresh page; records every request and console error it makes."""
    pages = []

    def open_file(path: Path):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.requests, page.errors, page.dialogs = [], [], []
        page.on("request", lambda r: page.requests.append(r.url))
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        page.goto(path.as_uri(), wait_until="load")
        pages.append(page)
        return page

    yield open_file
    for page in pages:
        page.close()


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory):
    return lambda name: recorded(tmp_path_factory, name)


def image_widths(page) -> list[int]:
    return page.evaluate(
        "Array.from(document.images).map(i => i.complete && i.src.startsWith('data:image/png')"
        " ? i.naturalWidth : -1)"
    )


def assert_self_contained(page, path: Path) -> None:
    assert page.requests == [path.as_uri()], page.requests  # nothing fetched but the file
    assert page.errors == []
    widths = image_widths(page)
    assert widths and all(w > 0 for w in widths), widths


def test_analyze_html_opens_with_plots_and_failed_runs_first(
    release, open_page, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(analyze_command, [str(release("mixed")), "-q", "--html", str(out)])
    assert result.exit_code == 1, result.output
    page = open_page(out)
    assert page.title() == "wstape analyze"
    assert page.inner_text("p.verdict") == "✗ 8 of 16 runs failed"
    assert_self_contained(page, out)
    assert len(image_widths(page)) == 1 + 16  # the overview, then one timeline per run
    rows = page.eval_on_selector_all(
        "table.runs tr[data-status]", "rs => rs.map(r => r.dataset.status)"
    )
    assert rows == ["failed"] * 8 + ["passed"] * 8
    runs = page.eval_on_selector_all("article.run", "as => as.map(a => a.dataset.status)")
    assert runs == ["failed"] * 8 + ["passed"] * 8
    first = page.locator("article.run").first
    assert "missing_events" in first.inner_text()
    # the runs table links to each run's timeline
    page.click("table.runs a >> nth=0")
    assert page.evaluate("location.hash").startswith("#run-")
    page.screenshot(path=tmp_path / "report.png", full_page=False)


def test_compare_html_shows_the_regression_and_both_releases(
    release, open_page, tmp_path: Path
) -> None:
    out = tmp_path / "compare.html"
    args = [str(release("base")), str(release("dropped-thinking")), "--html", str(out)]
    result = CliRunner().invoke(compare_command, [*args, "--timelines", "3"])
    assert result.exit_code == 1, result.output
    page = open_page(out)
    assert page.title() == "wstape compare"
    verdict = page.inner_text("p.verdict >> nth=0")
    assert "regressed: events_per_run, pass_rate, failure_rate:missing_events" in verdict
    assert_self_contained(page, out)
    assert len(image_widths(page)) == 1 + 2 * (1 + 3)  # CDFs; per release overview + 3 runs
    regressed = page.eval_on_selector_all(
        "table.metrics tr.regressed", "rs => rs.map(r => r.dataset.metric)"
    )
    assert regressed == ["events_per_run", "pass_rate", "failure_rate:missing_events"]
    headings = page.eval_on_selector_all("h2", "hs => hs.map(h => h.innerText)")
    assert [h.split(":")[0] for h in headings if ":" in h] == ["Candidate", "Baseline"]
    page.screenshot(path=tmp_path / "compare.png", full_page=False)


def test_a_hostile_run_id_is_shown_as_text(open_page, tmp_path: Path) -> None:
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    chat = Chat().connect("c1", "mallory").run("c1", "mallory", hostile).close("c1", 5)
    out = tmp_path / "hostile.html"
    result = CliRunner().invoke(
        analyze_command, [str(chat.write(tmp_path / "cap")), "--html", str(out)]
    )
    assert result.exit_code == 0, result.output
    page = open_page(out)
    assert page.dialogs == []
    assert page.locator("script").count() == 0
    assert hostile in page.inner_text("table.runs")
