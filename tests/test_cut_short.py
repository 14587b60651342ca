"""Runs cut short by the end of the recording: a real recorder stopped with Ctrl-C or killed
mid-run reports that run as neither passed nor failed, and the runs before it keep their
verdicts; a run that the backend left hanging still fails no_completion."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_runs_rules import GOOD, Chat, only
from websockets.asyncio.client import connect

from wstape import Outcome
from wstape.analyzer.compare.comparison import compare_reports
from wstape.analyzer.profile import DEFAULT_PROFILE
from wstape.analyzer.reports.junit import junit_xml
from wstape.analyzer.sources.flowfile import STOPPED
from wstape.recorder.capture import Error

WSTAPE = [sys.executable, "-m", "wstape"]
HELLO = json.dumps({"type": "user_message", "payload": {"content": "hi"}})


async def one_run_then_half_of_another(url: str, stop) -> None:
    """A whole run, then a second one stopped by `stop()` once the backend is mid-tool."""
    async with connect(url) as ws:
        await ws.send(HELLO)
        while "agent_completed" not in await ws.recv():
            pass
        await ws.send(HELLO)
        while "tool_executing" not in await ws.recv():
            pass
        await asyncio.to_thread(stop)


def analyze_json(capture: Path, tmp_path: Path) -> tuple[int, dict]:
    out = tmp_path / "report.json"
    result = subprocess.run(
        [*WSTAPE, "analyze", str(capture), "--json", str(out), "-q"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.exists(), result.stderr
    return result.returncode, json.loads(out.read_text())


def assert_second_run_cut_short(code: int, report: dict) -> None:
    statuses = [(run["status"], run["outcome"]) for run in report["runs"]]
    assert statuses == [("passed", "completed"), ("cut_short", "cut_short")]
    assert report["runs"][1]["failures"] == []
    summary = report["summary"]
    assert (summary["passed"], summary["failed"], summary["cut_short"]) == (1, 0, 1)
    assert summary["failures"]["no_completion"] == 0
    assert code == 0


def test_ctrl_c_mid_run_reports_that_run_cut_short_and_exits_zero(
    tmp_path, processes, start_backend
):
    backend = start_backend("--think-delay", "0.05", "--tool-delay", "5")
    out = tmp_path / "cap"
    proc, port = processes.record(f"http://127.0.0.1:{backend.port}", out)

    def ctrl_c() -> None:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0

    asyncio.run(one_run_then_half_of_another(f"ws://127.0.0.1:{port}/ws?user_id=u", ctrl_c))
    assert_second_run_cut_short(*analyze_json(out, tmp_path))


def test_kill_9_mid_run_reports_that_run_cut_short_and_exits_zero(
    tmp_path, start_backend, start_recorder
):
    backend = start_backend("--think-delay", "0.05", "--tool-delay", "5")
    rec = start_recorder(f"http://127.0.0.1:{backend.port}", flush_ms=50)

    def kill_9() -> None:
        import time

        time.sleep(0.3)  # past a flush: what the client saw is on disk
        rec.recorder.kill()

    asyncio.run(one_run_then_half_of_another(rec.url(path="/ws?user_id=k"), kill_9))
    assert_second_run_cut_short(*analyze_json(rec.out, tmp_path))


HALF = GOOD[:3]  # started, thinking, tool_executing: then the recording ends


def test_run_in_flight_on_an_open_connection_at_the_end_is_cut_short():
    verdict = only(Chat().connect("c1", "alice").run("c1", "alice", "r1", steps=HALF).report())
    assert verdict.outcome is Outcome.CUT_SHORT and verdict.cut_short
    assert not verdict.passed and not verdict.failed


def test_recorder_shutdown_record_is_the_end_of_the_recording_not_of_the_chat():
    chat = Chat().connect("c1", "alice").run("c1", "alice", "r1", steps=HALF)
    chat.records.append(Error("c1", chat.records[-1].ts + 0.5, STOPPED))
    report = chat.report()
    assert only(report).cut_short
    assert report.passed and report.tally.cut_short == 1 and report.tally.failed == 0


def test_run_whose_connection_closed_without_its_end_still_fails_no_completion():
    chat = Chat().connect("c1", "alice").run("c1", "alice", "r1", steps=HALF).close("c1", 2)
    verdict = only(chat.report())
    assert verdict.outcome is Outcome.INCOMPLETE and verdict.codes == ("no_completion",)


def test_run_quiet_longer_than_its_total_target_before_the_end_still_fails():
    chat = Chat().connect("c1", "alice").run("c1", "alice", "r1", steps=HALF)
    late = DEFAULT_PROFILE.targets.max_total_s + 5
    chat.run("c1", "alice", "r2", at=late)  # another run keeps the recording going
    report = chat.report()
    first, second = report.verdicts
    assert first.outcome is Outcome.INCOMPLETE and first.codes == ("no_completion",)
    assert second.passed and not report.passed


def test_cut_short_run_still_fails_what_it_did_wrong_before_the_cut():
    slow = tuple((at + 3.0, event, fields) for at, event, fields in HALF)
    verdict = only(Chat().connect("c1", "alice").run("c1", "alice", "r1", steps=slow).report())
    assert verdict.outcome is Outcome.CUT_SHORT and verdict.codes == ("slow_first_event",)
    assert verdict.failed and not verdict.cut_short


def test_cut_short_is_skipped_in_junit_and_left_out_of_compare():
    chat = Chat().connect("c1", "alice").run("c1", "alice", "r1")
    report = chat.run("c1", "alice", "r2", at=3.0, steps=HALF).report()
    root = ET.fromstring(junit_xml(report))
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("2", "0", "1")
    assert len(root.findall("testcase/skipped")) == 1
    comparison = compare_reports(report, report)
    assert (comparison.baseline.runs, comparison.baseline.passed) == (1, 1)


@pytest.mark.parametrize("runs", [1, 2])
def test_text_summary_counts_cut_short_runs_apart(runs):
    chat = Chat().connect("c1", "alice")
    if runs == 2:
        chat.run("c1", "alice", "r0", at=0.0)
    text = chat.run("c1", "alice", "r1", at=2.0, steps=HALF).report().text()
    assert f"{runs} runs: {runs - 1} passed, 0 failed, 1 cut short" in text
    assert "cut short by the end of the recording" in text.splitlines()[-1]
