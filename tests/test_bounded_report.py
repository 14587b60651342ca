"""A bounded report (`keep_verdicts=False`, what plain `wstape analyze` uses) prints and counts
exactly what the full report does, while holding only the verdicts its summary can show."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_runs_rules import GOOD, T0, Chat, wire

from wstape.analyzer.api import Analysis, iter_verdicts
from wstape.analyzer.cli.analyze import analyze_command
from wstape.analyzer.compare.comparison import compare_reports
from wstape.analyzer.pipeline.runs import REMEMBER_S
from wstape.analyzer.reports.html import report_html
from wstape.analyzer.reports.json_report import summary_json
from wstape.analyzer.reports.junit import junit_xml
from wstape.analyzer.reports.plots import report_figure
from wstape.analyzer.reports.report import Report, merge
from wstape.analyzer.reports.rows import SUMMARY_ROWS
from wstape.analyzer.reports.text import render_summary
from wstape.recorder.capture import Close, Message, Open, Record

CONNECTIONS = 4
NO_THINKING = tuple(s for s in GOOD if s[1] != "agent_thinking")  # fails missing_events
NO_COMPLETION = tuple(s for s in GOOD if s[1] != "agent_completed")  # ends late, incomplete


def busy_chat(runs: int, fail_every: int = 3) -> Chat:
    """Runs on several connections at once, pairs starting at the same instant, some failing
    and some ending only when their connection closes, so runs end out of start order."""
    chat = Chat()
    for c in range(CONNECTIONS):
        chat.connect(f"c{c}", f"user-{c}")
    for i in range(runs):
        conn = f"c{i % CONNECTIONS}"
        steps = NO_THINKING if i % fail_every == 0 else GOOD
        steps = NO_COMPLETION if i % 7 == 5 else steps
        chat.run(conn, f"user-{i % CONNECTIONS}", f"run-{i}", at=1.0 + (i // 2) * 0.5, steps=steps)
    end = 5.0 + runs * 0.5
    for c in range(CONNECTIONS):
        chat.close(f"c{c}", end)
    return chat


def analysis_of(chat: Chat, keep_verdicts: bool) -> Analysis:
    analysis = Analysis(capture="busy", keep_events=False, keep_verdicts=keep_verdicts)
    for _ in iter_verdicts(chat.records, analysis):
        pass
    return analysis


def both(chat: Chat) -> tuple[Report, Report]:
    return analysis_of(chat, True).report(), analysis_of(chat, False).report()


@pytest.mark.parametrize("runs", [0, 1, 12, SUMMARY_ROWS])
def test_bounded_summary_prints_the_same_as_full_up_to_one_screen(runs: int) -> None:
    full, bounded = both(busy_chat(runs))
    assert bounded.text() == full.text()
    assert len(bounded) == len(full) == runs


@pytest.mark.parametrize("fail_every", [1, 3, 50])
def test_bounded_summary_shows_the_same_rows_and_totals_beyond_one_screen(
    fail_every: int,
) -> None:
    full, bounded = both(busy_chat(150, fail_every))
    assert render_summary(bounded) == render_summary(full)
    assert "... and 110 more runs" in render_summary(bounded)


def test_bounded_json_summary_is_the_same_as_full() -> None:
    full, bounded = both(busy_chat(150))
    assert summary_json(bounded) == summary_json(full)
    assert summary_json(bounded)["runs"] == 150


def test_bounded_analysis_holds_at_most_two_screens_of_verdicts() -> None:
    analysis = analysis_of(busy_chat(300), keep_verdicts=False)
    assert analysis.held <= 2 * SUMMARY_ROWS
    report = analysis.report()
    assert len(report.verdicts) <= 2 * SUMMARY_ROWS
    assert len(report) == 300
    assert not report.complete


def passing_chat(runs: int) -> Chat:
    chat = Chat().connect("c1", "alice")
    for i in range(runs):
        chat.run("c1", "alice", f"run-{i}", at=1.0 + i)
    return chat


def test_one_failed_run_makes_a_bounded_report_false() -> None:
    chat = passing_chat(100)
    chat.run("c1", "alice", "run-late", at=200.0, steps=NO_THINKING).close("c1", 205)
    report = analysis_of(chat, keep_verdicts=False).report()
    assert not report
    assert not report.passed
    assert [v.run.label for v in report.failed] == ["run-late"]


def test_all_passed_bounded_report_is_true() -> None:
    report = analysis_of(passing_chat(100).close("c1", 105), keep_verdicts=False).report()
    assert report.passed and report
    assert len(report) == 100


def test_bounded_report_of_many_runs_refuses_a_json_report() -> None:
    _, bounded = both(busy_chat(100))
    with pytest.raises(ValueError, match="keep_verdicts=True"):
        bounded.to_json()


def test_bounded_report_that_held_every_run_writes_the_full_json() -> None:
    full, bounded = both(busy_chat(20))
    assert bounded.complete
    assert bounded.to_json() == full.to_json()


def test_merged_bounded_reports_print_as_merged_full_ones() -> None:
    a, b = busy_chat(90), busy_chat(70, fail_every=2)  # the same start times: ties across them
    full = merge([analysis_of(a, True).report(), analysis_of(b, True).report()])
    bounded = merge([analysis_of(a, False).report(), analysis_of(b, False).report()])
    assert render_summary(bounded) == render_summary(full)
    assert len(bounded.verdicts) <= 2 * SUMMARY_ROWS
    assert len(bounded) == 160


@pytest.mark.parametrize("option", ["-q", None])
def test_analyze_prints_the_same_summary_as_with_a_json_report(
    tmp_path: Path, option: str | None
) -> None:
    capture = busy_chat(120).write(tmp_path / "capture")
    plain = [str(capture)] + ([option] if option else [])
    bounded = CliRunner().invoke(analyze_command, plain)
    full = CliRunner().invoke(analyze_command, [*plain, "--json", str(tmp_path / "r.json")])
    assert bounded.exit_code == full.exit_code == 1
    assert bounded.output == full.output
    assert "SUMMARY - 120 runs" in bounded.output


def late_thinking(after_s: float) -> Chat:
    """One good run, then, `after_s` later on the still-open connection, one more event of it."""
    chat = Chat().connect("c1", "alice").run("c1", "alice", "run-1", at=1.0)
    for minute in range(1, int(after_s / 60) + 1):  # the backend's keepalive: time goes on
        chat.raw("c1", 1.0 + 60 * minute - 30, b'{"type": "ping"}', from_client=False)
    ids = {"run_id": "run-1", "thread_id": "thread-run-1", "user_id": "alice"}
    chat.send("c1", 1.0 + after_s, "agent_thinking", ids, thought="one more thing")
    return chat.close("c1", 2.0 + after_s)


def test_an_event_minutes_after_its_run_was_handed_back_is_named_late() -> None:
    analysis = analysis_of(late_thinking(after_s=5 * 60), keep_verdicts=False)
    report = analysis.report()
    assert len(report) == 1 and report.passed
    assert any("1 events arrived over 60s after their run ended" in w for w in report.warnings)


def test_an_event_long_after_its_run_is_no_longer_recognised() -> None:
    # What keeps memory flat: a run's id is forgotten REMEMBER_S to twice that after its end.
    report = analysis_of(late_thinking(after_s=2 * REMEMBER_S + 60), keep_verdicts=False).report()
    assert len(report) == 2
    assert not any("too late" in w for w in report.warnings)


def endless_chat(runs: int, connections: int = 10, every_s: float = 30.0) -> Iterator[Record]:
    """Users chatting run after run, each on a connection of its own that closes after it: a
    recording that only gets longer, never busier. Generated, so the input holds no memory."""
    for i in range(runs):
        conn, user, at = f"c{i}", f"user-{i % connections}", T0 + (i // connections) * every_s
        path = f"/ws?user_id={user}"
        yield Open(conn, at, f"ws://backend{path}", path, None, None, None)
        ids = {"run_id": f"run-{i}", "thread_id": f"thread-{i}", "user_id": user}
        question = {"type": "user_message", "payload": {"content": "hello"}}
        yield Message(conn, at, True, True, json.dumps(question).encode())
        for offset, event, fields in GOOD:
            yield Message(conn, at + offset, False, True, wire("payload", event, ids, fields))
        yield Close(conn, at + 1.0, 1000, "", "client")


def peak_bytes(records: Iterable[Record]) -> int:
    analysis = Analysis(capture="endless", keep_events=False, keep_verdicts=False)
    tracemalloc.start()
    try:
        for _ in iter_verdicts(records, analysis):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_follows_the_runs_in_flight_not_the_recording_length() -> None:
    # Both recordings outlast the memory window; the long one has five times the runs.
    short = 2 * 10 * int(2 * REMEMBER_S / 30.0)
    peaks = [peak_bytes(endless_chat(runs)) for runs in (short, 5 * short)]
    assert peaks[1] < 1.25 * peaks[0], f"peak {peaks[0]:,} → {peaks[1]:,} bytes"


@pytest.mark.parametrize(
    ("output", "write"),
    [
        ("a JSON report", Report.to_json),
        ("a JUnit report", junit_xml),
        ("an HTML report", report_html),
        ("plots of every run", report_figure),
        ("a comparison", lambda report: compare_reports(report, report)),
    ],
)
def test_outputs_that_list_every_run_refuse_a_bounded_report(output: str, write) -> None:
    bounded = analysis_of(busy_chat(300), keep_verdicts=False).report()
    with pytest.raises(ValueError, match=f"keep_verdicts=True for {output}"):
        write(bounded)
