"""The pytest plugin as a user meets it: their own test file, with the `wstape_recorder` fixture
found through the installed entry point, run by pytest in a subprocess against the real demo
backend: docs/pytest.md's example passes on good chats, and a bad chat fails with its code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import wstape

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
DOCS_EXAMPLE = re.search(r"```python\n(.*?)```", (ROOT / "docs/pytest.md").read_text(), re.S)[1]
BAD_CHAT = """

def test_a_chat_that_misses_an_event(wstape_recorder):
    rec = wstape_recorder(BACKEND)
    asyncio.run(asyncio.wait_for(chat(rec.url, "user-bad", "hi", scenario="missing_event"), 60))
    rec.assert_passed()
"""
SO_FAR = """

def test_analyze_sees_what_the_client_has_seen(wstape_recorder):
    rec = wstape_recorder(BACKEND)
    for n in range(1, 3):
        asyncio.run(asyncio.wait_for(chat(rec.url, "user-1", f"question {n}"), 60))
        report = rec.analyze()  # at once: the recorder is still running
        assert (len(report), report.passed) == (n, True), report.text()
"""


@pytest.fixture
def user_tests(pytester: pytest.Pytester, backend, monkeypatch) -> pytest.Pytester:
    monkeypatch.setenv("CHAT_BACKEND", backend.url)
    return pytester


def test_the_docs_example_passes_on_good_chats(user_tests: pytest.Pytester):
    user_tests.makepyfile(test_chat_flow=DOCS_EXAMPLE + SO_FAR)
    result = user_tests.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_a_bad_chat_fails_with_its_code_run_and_timeline(user_tests: pytest.Pytester):
    user_tests.makepyfile(test_chat_flow=DOCS_EXAMPLE + BAD_CHAT)
    keep = user_tests.path / "kept"
    result = user_tests.runpytest_subprocess(
        "-p", "no:cacheprovider", "-k", "seven or misses", f"--wstape-keep={keep}"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: wstape: 1 of 1 runs failed: run-* (missing_events)",
        "*WEBSOCKET EVENT VALIDATION REPORT - run-* (user user-bad, *",
        "*EVENT TIMELINE:*",
        "*CRITICAL: Missing required events: {'agent_thinking'} (missing_events)",
        f"*capture: kept in {keep}*",
    ])  # fmt: skip
    # Only the failed test's capture is kept, and it reads back to the same verdict.
    (kept,) = keep.iterdir()
    assert "misses_an_event" in kept.name
    assert wstape.analyze(kept).tally.codes == {"missing_events": 1}


def test_the_plugin_imports_nothing_of_wstape_until_the_fixture_is_used():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, wstape.pytest_plugin\n"
         "print(sorted(m for m in sys.modules if m.startswith('wstape')))"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert loaded.strip() == "['wstape', 'wstape.pytest_plugin', 'wstape.recorder']"
    assert all(getattr(wstape, name) is not None for name in wstape.__all__)
