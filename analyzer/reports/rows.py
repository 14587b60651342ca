"""Which verdicts a report holds and which it shows: the summary's rows (failed first, one
screen), kept as verdicts come by a bounded analysis, and the guard that keeps an output of
every run from reading a bounded report."""

from __future__ import annotations

import heapq
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


class SummaryRows:
    """The earliest-starting SUMMARY_ROWS failed and SUMMARY_ROWS passed verdicts seen so far:
    every row a summary of all of them can show (failed first, in start order).

    Runs end out of start order, so each group is a heap whose top is the verdict to drop next:
    the latest-starting, and of those starting together the last to end (the full report's
    stable sort puts it last).
    """

    def __init__(self) -> None:
        self._groups: dict[bool, list[tuple[float, int, Verdict]]] = {True: [], False: []}
        self._ended = 0

    def add(self, verdict: Verdict) -> None:
        self._ended += 1
        # The order number is unique, so verdicts themselves are never compared.
        item = (-verdict.run.started, -self._ended, verdict)
        group = self._groups[not verdict.failed]
        if len(group) < SUMMARY_ROWS:
            heapq.heappush(group, item)
        else:
            heapq.heappushpop(group, item)

    def __len__(self) -> int:
        return sum(len(group) for group in self._groups.values())

    def in_start_order(self) -> list[Verdict]:
        items = sorted(item for group in self._groups.values() for item in group)
        return [verdict for _, _, verdict in reversed(items)]
