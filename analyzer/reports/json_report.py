"""A Report → the versioned JSON report (its shape is documented in the README and kept
stable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wstape.analyzer.pipeline.rules import Code, Outcome, Verdict
from wstape.analyzer.reports.rows import every_verdict

if TYPE_CHECKING:
    from wstape.analyzer.reports.report import Report

JSON_VERSION = 1


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


_STATUS = {(True, False): "passed", (False, False): "failed", (False, True): "cut_short"}


def run_json(verdict: Verdict) -> dict:
    run = verdict.run
    return {
        "run_id": run.run_id,
        "thread_id": run.thread_id,
        "user_id": run.user_id,
        "connections": list(run.connections),
        "status": _STATUS[verdict.passed, verdict.cut_short],
        "outcome": verdict.outcome.value,
        "failures": [{"code": f.code.value, "message": f.message} for f in verdict.failures],
        "warnings": list(verdict.warnings),
        "events": dict(verdict.event_counts),
        "first_event_s": _seconds(verdict.first_event_s),
        "total_s": _seconds(verdict.total_s),
        "tools": [
            {"name": t.name, "execution_id": t.execution_id, "duration_s": _seconds(t.duration_s)}
            for t in verdict.tools
        ],
    }


def report_json(report: Report) -> dict:
    """The versioned JSON report; its shape is documented in the README and kept stable.

    Raises ValueError for a bounded report: its "runs" would silently miss most runs.
    """
    verdicts = every_verdict(report, "a JSON report of every run")
    return {
        "version": JSON_VERSION,
        "summary": summary_json(report),
        "runs": [run_json(v) for v in verdicts],
    }


def summary_json(report: Report) -> dict:
    """The JSON report's "summary": totals over every run, bounded report or not."""
    tally = report.tally
    return {
        "captures": list(report.captures),
        "runs": tally.runs,
        "passed": tally.passed,
        "failed": tally.failed,
        "cut_short": tally.cut_short,
        "outcomes": {o.value: tally.outcomes.get(o, 0) for o in Outcome},
        "failures": {c.value: tally.codes.get(c, 0) for c in Code},
        "connections": report.connections,
        "frames": dict(report.frames),
        "targets": {
            "max_first_event_s": report.targets.max_first_event_s,
            "max_tool_s": report.targets.max_tool_s,
            "max_total_s": report.targets.max_total_s,
        },
        "warnings": list(report.warnings),
    }
