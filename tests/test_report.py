"""What people read: the per-run report in the original suite's shape, the summary table, the
versioned JSON report, JUnit XML for CI, and `wstape.load` as a typed DataFrame."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from test_runs_rules import GOOD, Chat

import wstape
from wstape.analyzer.reports.junit import junit_xml
from wstape.analyzer.reports.report import Report

RUN_KEYS = {
    "run_id", "thread_id", "user_id", "connections", "status", "outcome", "failures",
    "warnings", "events", "first_event_s", "total_s", "first_text_s", "longest_silence_s",
    "longest_silence", "stream", "buffered", "tools",
}  # fmt: skip


def mixed() -> Report:
    chat = Chat().connect("c1", "alice").connect("c2", "bob", 0.5)
    chat.run("c1", "alice", "run-good")
    steps = tuple(s for s in GOOD if s[1] != "agent_thinking")
    chat.run("c2", "bob", "run-bad", at=1.05, steps=steps)
    return chat.close("c1", 5).close("c2", 5).report()


def test_passed_run_report_has_status_coverage_and_timeline() -> None:
    text = mixed().text()
    good = text.split("WEBSOCKET EVENT VALIDATION REPORT - run-good")[1].split("=" * 79)[1]
    assert "Status: ✅ PASSED" in good
    assert "Total Events: 8" in good
    assert "Event Types: 7" in good
    assert "Duration: 0.800s" in good
    assert "  ✅ agent_thinking: 2" in good
    assert "  ✅ partial_result: 1" in good
    assert "    0.100s: agent_started" in good
    assert "    0.600s: tool_completed - search: success" in good


def test_failed_run_report_lists_missing_events() -> None:
    text = mixed().text()
    bad = text.split("WEBSOCKET EVENT VALIDATION REPORT - run-bad")[1].split("SUMMARY")[0]
    assert "Status: ❌ FAILED" in bad
    assert "  ❌ agent_thinking: 0" in bad
    assert "  ❌ CRITICAL: Missing required events: {'agent_thinking'} (missing_events)" in bad


def test_summary_lists_failed_runs_first_with_their_codes() -> None:
    summary = mixed().text(runs=False)
    assert "WEBSOCKET EVENT VALIDATION REPORT" not in summary
    assert "SUMMARY - 2 runs: 1 passed, 1 failed (completed 2)" in summary
    rows = [line for line in summary.splitlines() if line.startswith(("✅", "❌"))]
    assert [row.split()[1] for row in rows[:2]] == ["run-bad", "run-good"]
    assert rows[0].rstrip().endswith("missing_events")
    assert summary.rstrip().endswith("❌ 1 of 2 runs failed")


def test_long_streams_share_one_timeline_line() -> None:
    chunks = tuple((0.41 + i / 1000, "stream_chunk", {"content": f"t{i}"}) for i in range(50))
    steps = tuple(sorted((*GOOD, *chunks), key=lambda s: s[0]))
    text = Chat().connect("c1", "alice").run("c1", "alice", "r", steps=steps).report().text()
    assert re.search(r"0\.410s: stream_chunk ×50 \(0\.410s-0\.459s\)", text)
    assert "Status: ✅ PASSED" in text


def test_json_report_has_the_documented_shape() -> None:
    data = json.loads(json.dumps(mixed().to_json()))
    assert data["version"] == 1
    assert data["summary"]["runs"] == 2
    assert data["summary"]["passed"] == 1
    assert data["summary"]["failures"]["missing_events"] == 1
    outcomes = {"completed": 2, "error": 0, "incomplete": 0, "cut_short": 0}
    assert data["summary"]["outcomes"] == outcomes and data["summary"]["cut_short"] == 0
    for run in data["runs"]:
        assert set(run) == RUN_KEYS
    bad, good = sorted(data["runs"], key=lambda r: r["run_id"])
    assert good == {
        "run_id": "run-good",
        "thread_id": "thread-run-good",
        "user_id": "alice",
        "connections": ["c1"],
        "status": "passed",
        "outcome": "completed",
        "failures": [],
        "warnings": [],
        "events": {
            "user_message": 1, "agent_started": 1, "agent_thinking": 2, "tool_executing": 1,
            "partial_result": 1, "tool_completed": 1, "agent_completed": 1,
        },
        "first_event_s": 0.1,
        "total_s": 0.8,
        # 0.1 s between any two events outside the tool call (its 0.2 s are left out).
        "first_text_s": 0.4,
        "longest_silence_s": 0.1,
        "longest_silence": {"after": "agent_started", "before": "agent_thinking", "at_s": 0.1},
        "stream": {"events": 1, "chars": 15, "span_s": 0.0, "chars_per_s": None},
        "buffered": None,
        "tools": [{"name": "search", "execution_id": "exec-1", "duration_s": 0.3}],
    }  # fmt: skip
    assert bad["failures"] == [
        {"code": "missing_events", "message": "Missing required events: {'agent_thinking'}"}
    ]


def test_junit_has_one_testcase_per_run_and_failures() -> None:
    root = ET.fromstring(junit_xml(mixed()))
    assert root.tag == "testsuite"
    assert (root.get("tests"), root.get("failures")) == ("2", "1")
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert set(cases) == {"run-good", "run-bad"}
    assert cases["run-good"].find("failure") is None
    failure = cases["run-bad"].find("failure")
    assert failure.get("type") == "missing_events"
    assert failure.get("message").startswith("missing_events: Missing required events")
    assert "agent_thinking" in failure.get("message")


def test_junit_survives_hostile_text() -> None:
    steps = ((0.1, "agent_started", {}), (0.2, "agent_error", {"error": "bad \x00\x07 <&>"}))
    report = Chat().connect("c1", "alice").run("c1", "alice", "r\x01", steps=steps).report()
    assert ET.fromstring(junit_xml(report)).find("testcase").get("name") == "r"


def test_load_gives_one_typed_row_per_frame(tmp_path: Path) -> None:
    chat = Chat().connect("c1", "alice").run("c1", "alice", "run-1")
    chat.raw("c1", 3.0, b"\x00\x01", is_text=False).raw("c1", 3.1, b"oops").close("c1", 5)
    frames = wstape.load(chat.write(tmp_path / "cap"))
    assert len(frames) == 1 + 1 + len(GOOD) + 2
    dtypes = frames.dtypes.astype(str).to_dict()
    assert dtypes == {
        "connection": "category", "ts": "float64", "direction": "category", "kind": "category",
        "size": "Int64", "type": "category", "canonical": "category", "envelope": "category",
        "run_id": "string", "thread_id": "string", "user_id": "string", "tool_name": "string",
        "execution_id": "string", "failed": "boolean", "text": "string",
    }  # fmt: skip
    assert frames["canonical"].value_counts()["agent_thinking"] == 2
    assert frames.loc[frames["kind"] == "binary", "canonical"].tolist() == ["binary"]
    assert frames["run_id"].isna().sum() == 4  # welcome, user message, binary, not JSON
    assert frames["ts"].is_monotonic_increasing


def test_load_of_empty_capture_keeps_the_columns_typed(tmp_path: Path) -> None:
    frames = wstape.load(Chat().write(tmp_path / "empty"))
    assert len(frames) == 0
    assert str(frames["size"].dtype) == "Int64"
    assert isinstance(frames["canonical"].dtype, pd.CategoricalDtype)


def test_import_analyzer_does_not_import_pandas() -> None:
    import subprocess
    import sys

    code = "import sys, analyzer; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("runs", [0, 45])
def test_summary_stays_on_one_screen(runs: int) -> None:
    chat = Chat().connect("c1", "alice")
    for i in range(runs):
        chat.run("c1", "alice", f"run-{i}", at=1.0 + i)
    summary = chat.report().text(runs=False)
    assert len(summary.splitlines()) <= 50
    if not runs:
        assert "no chat runs found" in summary
