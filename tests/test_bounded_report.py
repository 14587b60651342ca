"""A bounded report (`keep_verdicts=False`, what plain `wstape analyze` uses) prints and counts
exactly what the full report does, while holding only the verdicts its summary can show."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_runs_rules import GOOD, Chat

from analyzer.api import Analysis, iter_verdicts
from analyzer.commands.analyze import analyze as analyze_command
from analyzer.report import SUMMARY_ROWS, Report, merge, render_summary, summary_json

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
