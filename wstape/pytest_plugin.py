"""wstape's pytest plugin, registered through the `pytest11` entry point: the `wstape_recorder`
fixture starts a recorder in front of a backend for a test and stops it at teardown, and
`--wstape-keep DIR` keeps the captures of failed tests. docs/pytest.md shows it in use.

pytest imports this module in every run in an environment where wstape is installed, so it
imports nothing of wstape's until a test asks for the fixture."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from wstape.testing import Recording

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wstape", "wstape: recording and judging agent chats")
    group.addoption(
        "--wstape-keep",
        metavar="DIR",
        default=None,
        help="Keep the captures of failed tests in DIR, one folder per test "
        "(read them with `wstape analyze`).",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    # Each phase's report, so the fixture's teardown knows whether its test failed.
    outcome = yield
    report = outcome.get_result()
    item.stash.setdefault(_REPORTS, {})[report.when] = report


@pytest.fixture
def wstape_recorder(request: pytest.FixtureRequest) -> Iterator[Callable[..., Recording]]:
    """A factory: `rec = wstape_recorder(upstream_url)` starts a recorder in front of that
    backend (`http://host:port`, or the `ws://host:port/path` clients use) and returns it;
    the test's client connects to `rec.url` instead. `rec.analyze()` is the Report of what was
    recorded so far; `rec.assert_passed()` fails the test with each failed run's codes and
    timeline. Keyword arguments: `profile`, the timing targets (`max_first_event_s`,
    `max_tool_s`, `max_total_s`), and `upstream_ca` or `insecure` for a wss:// backend.
    Every recorder is stopped at teardown, and its capture removed unless --wstape-keep."""
    from wstape.testing import Recording

    keep = request.config.getoption("wstape_keep")
    made: list[tuple[Recording, Path, Path | None]] = []

    def start(upstream_url: str, **options: Any) -> Recording:
        folder = Path(tempfile.mkdtemp(prefix="wstape-"))
        kept = None
        if keep:
            name = re.sub(r"[^\w.-]+", "_", request.node.nodeid).strip("_")
            kept = Path(keep) / (name + (f"-{len(made) + 1}" if made else ""))
        recording = Recording(upstream_url, folder / "capture", **options)
        recording.note = (
            f"capture: kept in {kept} (--wstape-keep)" if kept else
            "capture: removed after the test; pytest --wstape-keep DIR keeps failed tests' captures"
        )  # fmt: skip
        made.append((recording, folder, kept))
        return recording.start()

    yield start
    reports = request.node.stash.get(_REPORTS, {})
    failed = any(report.failed for report in reports.values())
    for recording, folder, kept in made:
        recording.stop()
        if failed and kept is not None:
            shutil.rmtree(kept, ignore_errors=True)
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(recording.capture, kept)
        shutil.rmtree(folder, ignore_errors=True)
