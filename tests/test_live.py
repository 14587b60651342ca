"""Live verdicts (`wstape watch`): a run is judged at its terminal event, again when a later event
changes its verdict, and when its whole-run target runs out without one; a capture is followed
as it is written, across partial records and segment rotation; and a live session ends with the
report `wstape analyze` gives for the same capture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_bounded_report import busy_chat
from test_runs_rules import GOOD, T0, Chat

import wstape
from wstape.analyzer.api import Analysis, analyze_records
from wstape.analyzer.live import LiveVerdict, Watch, live_json, live_line, watch
from wstape.analyzer.profile import DEFAULT_PROFILE
from wstape.analyzer.reports.text import render_summary
from wstape.analyzer.sources.follow import Follower
from wstape.recorder.capture import CaptureWriter, Message, Open, read_capture, segment_files

WSTAPE = [sys.executable, "-m", "wstape"]
NO_COMPLETION = GOOD[:-1]
LATE = (0.85, "agent_thinking", {"thought": "one more thing"})


def test_a_run_is_judged_at_its_terminal_event_not_when_handed_back():
    chat = Chat().connect("c1", "u1").run("c1", "u1", "run-1", at=1.0)
    analysis = Analysis()
    assert [v for record in chat.records for v in analysis.feed(record)] == []
    (verdict,) = analysis.live(T0 + 1.9)
    assert verdict.passed and verdict.run.run_id == "run-1"
    assert analysis.live(T0 + 2.0) == []  # judged once
    # Not counted: the report holds the verdict given when nothing more can join the run.
    assert analysis.report().tally.runs == 0
    assert [v.passed for v in analysis.finish()] == [True]


def test_an_event_after_the_end_is_a_correction_and_the_report_agrees_with_analyze():
    said: list[LiveVerdict] = []
    session = Watch(DEFAULT_PROFILE, said.append)
    chat = Chat().connect("c1", "u1").run("c1", "u1", "run-1", at=1.0)
    for record in chat.records:
        session.feed(record)
    session.tick(T0 + 1.9)
    assert [(s.verdict.passed, s.at, s.was) for s in said] == [(True, T0 + 1.8, None)]
    chat.play("c1", 1.0, {"run_id": "run-1", "user_id": "u1"}, steps=(LATE,)).close("c1", 2.5)
    for record in chat.records[-2:]:
        session.feed(record)
    session.tick(T0 + 3.0)
    correction = said[1]
    assert correction.verdict.codes == ("order",) and correction.was.passed
    assert "(corrected: was passed)" in live_line(correction)
    assert len(said) == 2  # the verdict at hand-back is the same: nothing more is said
    report = session.finish()
    assert render_summary(report) == render_summary(analyze_records(chat.records))


def test_a_run_without_an_end_is_judged_when_its_target_runs_out():
    said: list[LiveVerdict] = []
    profile = DEFAULT_PROFILE.with_targets(max_total_s=5.0)
    session = Watch(profile, said.append)
    chat = Chat().connect("c1", "u1").run("c1", "u1", "run-1", at=1.0, steps=NO_COMPLETION)
    for record in chat.records:
        session.feed(record)
    session.tick(T0 + 5.9)
    assert said == []
    session.tick(T0 + 6.2)  # no record came: the clock alone ran the target out
    (verdict,) = [s.verdict for s in said]
    assert verdict.codes == ("no_completion",) and said[0].at == T0 + 6.0
    assert "no terminal event within the 5s target" in live_line(said[0])
    session.feed(Chat().close("c1", 7.0).records[0])
    session.finish()
    assert len(said) == 1  # the verdict at the close says the same


def test_watch_says_every_run_and_ends_with_the_report_of_analyze(tmp_path: Path):
    capture = busy_chat(40).write(tmp_path / "busy")
    said: list[LiveVerdict] = []
    report = watch(capture, on_verdict=said.append)
    assert {s.verdict.run.ordinal for s in said} == set(range(1, 41))
    assert render_summary(report) == render_summary(wstape.analyze(capture, keep_verdicts=False))
    line = json.loads(json.dumps(live_json(said[0])))
    assert line["kind"] == "verdict" and line["run"] == said[0].verdict.run.label


def test_watch_without_a_profile_sniffs_the_protocol_as_analyze_does():
    # The AG-UI sample, recorded with the real recorder: its first frames say AG-UI.
    capture = Path(__file__).resolve().parent.parent / "captures" / "ag-ui"
    said: list[LiveVerdict] = []
    report = watch(capture, on_verdict=said.append)
    analyzed = wstape.analyze(capture, keep_verdicts=False)
    assert (report.protocol, report.detected) == ("ag-ui", True)
    assert render_summary(report) == render_summary(analyzed)
    assert {s.verdict.run.label for s in said} == {v.run.label for v in wstape.analyze(capture)}


# ------------------------------------------------------------------ following a capture


def _message(conn: str, n: int) -> Message:
    return Message(conn, T0 + n, True, True, f'{{"type": "echo", "n": {n}}}'.encode())


def test_the_follower_returns_each_record_once_it_is_complete(tmp_path: Path):
    writer = CaptureWriter(tmp_path / "cap", flush_interval=0)
    follower = Follower(tmp_path / "cap")
    opened = Open("c1", T0, "ws://h/ws", "/ws", None, None, None)
    writer.open(opened)
    assert follower.poll() == [opened]
    writer.message("c1", T0 + 1, True, True, b"hello")
    assert [r.payload for r in follower.poll()] == [b"hello"]
    assert follower.poll() == []
    # A record written in two parts, as a flush can leave it: nothing until the rest is there.
    segment = segment_files(tmp_path / "cap")[0]
    before = segment.stat().st_size
    writer.message("c1", T0 + 2, True, True, b"x" * 1000)
    data = segment.read_bytes()[before:]
    with open(segment, "r+b") as file:
        file.truncate(before + 500)
    assert follower.poll() == []
    with open(segment, "ab") as file:
        file.write(data[500:])
    assert [r.payload for r in follower.poll()] == [b"x" * 1000]
    writer.close_all()
    assert follower.close() == []


def test_the_follower_reads_across_segment_rotation_as_the_reader_does(tmp_path: Path):
    writer = CaptureWriter(tmp_path / "cap", segment_bytes=300, flush_interval=0)
    follower = Follower(tmp_path / "cap")
    writer.open(Open("c1", T0, "ws://h/ws", "/ws", None, None, None))
    seen = []
    for n in range(60):
        writer.write(_message("c1", n))
        if n % 7 == 0:
            seen += follower.poll()
    writer.close_all()
    seen += follower.close()
    assert len(segment_files(tmp_path / "cap")) > 5
    assert seen == list(read_capture(tmp_path / "cap"))


def test_a_record_cut_short_when_the_capture_closes_is_a_truncated_tail(tmp_path: Path):
    writer = CaptureWriter(tmp_path / "cap", flush_interval=0)
    writer.open(Open("c1", T0, "ws://h/ws", "/ws", None, None, None))
    writer.write(_message("c1", 1))
    writer.close_all()
    segment = segment_files(tmp_path / "cap")[0]
    segment.write_bytes(segment.read_bytes()[:-3])
    warnings: list[str] = []
    follower = Follower(tmp_path / "cap", warnings.append)
    assert len(follower.poll()) == 1 and warnings == []  # still being written, maybe
    assert follower.close() == []
    assert len(warnings) == 1 and "truncated last record" in warnings[0]


# ------------------------------------------------------------------ the command line

WRITER = """
import sys, time
from test_runs_rules import GOOD, Chat
from wstape.recorder.capture import CaptureWriter

capture, pause = sys.argv[1], float(sys.argv[2])
no_thinking = [step for step in GOOD if step[1] != "agent_thinking"]
first = Chat().connect("c1", "u1").run("c1", "u1", "run-good", at=1.0)
second = Chat().run("c1", "u1", "run-bad", at=3.0, steps=no_thinking).close("c1", 4.0)
writer = CaptureWriter(capture, flush_interval=0)
for record in first.records:
    writer.write(record)
print("first run written", flush=True)
time.sleep(pause)
for record in second.records:
    writer.write(record)
writer.close_all()
"""


def test_watch_follow_prints_a_run_while_the_capture_is_written_and_stops_with_pid(
    tmp_path: Path,
):
    script = tmp_path / "write_slowly.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    # The writer pauses 3 s after the first run: its line must come out during the pause.
    writer = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "cap"), "3"],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        watcher = subprocess.Popen(
            [*WSTAPE, "watch", str(tmp_path / "cap"), "--follow", "--pid", str(writer.pid),
             "--json-lines", str(tmp_path / "live.jsonl")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert writer.stdout.readline() == "first run written\n"
        first = watcher.stdout.readline()
        assert writer.poll() is None, "the line came only after the writer had finished"
        assert "run-good" in first and "PASSED" in first
        writer.wait(30)  # reaped: --pid, as tail's, takes a zombie for a running process
        out, err = watcher.communicate(timeout=60)
    finally:
        writer.kill()
        writer.wait()
    assert watcher.returncode == 1, err
    assert "run-bad" in out and "FAILED missing_events" in out
    assert "SUMMARY - 2 runs: 1 passed, 1 failed" in out
    lines = [json.loads(line) for line in (tmp_path / "live.jsonl").read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["verdict", "verdict", "summary"]
    assert [line["codes"] for line in lines[:2]] == [[], ["missing_events"]]


@pytest.mark.parametrize("args", [["--pid", "1"], []])
def test_watch_of_a_missing_capture_or_pid_without_follow_exits_2(tmp_path: Path, args):
    result = subprocess.run(
        [*WSTAPE, "watch", str(tmp_path / "missing"), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("--pid goes with --follow" if args else "no such file or folder") in result.stderr


def test_watch_judges_by_the_targets_given(tmp_path: Path):
    capture = Chat().connect("c1", "u1").run("c1", "u1", "run-1", at=1.0).write(tmp_path / "cap")
    result = subprocess.run(
        [*WSTAPE, "watch", str(capture), "--max-total-s", "0.5"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "run-1" in result.stdout and "FAILED slow_total" in result.stdout
