"""Which verdicts a report holds and which it shows: the summary's rows (failed first, one
screen) and the guard that keeps an output of every run from reading a bounded report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wstape.analyzer.pipeline.verdicts import Verdict

if TYPE_CHECKING:
    from wstape.analyzer.reports.report import Report

SUMMARY_ROWS = 40  # keeps the summary on one screen; failed runs are listed first


def summary_rows(verdicts: list[Verdict]) -> list[Verdict]:
    """The verdicts (in start order) that a summary of them can show: the first SUMMARY_ROWS
    failed and the first SUMMARY_ROWS passed, still in start order."""
    failed = passed = 0
    kept = []
    for verdict in verdicts:
        if not verdict.failed:  # passed, or cut short: not a failure
            passed += 1
            if passed <= SUMMARY_ROWS:
                kept.append(verdict)
        else:
            failed += 1
            if failed <= SUMMARY_ROWS:
                kept.append(verdict)
    return kept


def every_verdict(report: Report, output: str) -> tuple[Verdict, ...]:
    """Every run's verdict, for an output that lists or measures them all. Raises ValueError
    for a bounded report, where `output` would silently miss most runs."""
    if not report.complete:
        raise ValueError(
            "this report keeps only its summary's rows; analyze with keep_verdicts=True "
            f"for {output}"
        )
    return report.verdicts
