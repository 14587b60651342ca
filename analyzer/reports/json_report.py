"""A Report → the versioned JSON report (its shape is documented in the README and kept
stable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wstape.analyzer.pipeline.verdicts import Code, Outcome, Verdict
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
        **screen_json(verdict),
        "tools": [
            {"name": t.name, "execution_id": t.execution_id, "duration_s": _seconds(t.duration_s)}
            for t in verdict.tools
        ],
    }


def screen_json(verdict: Verdict) -> dict:
    """What the user's screen showed: first text, the longest silence and where, the text
    streamed and its pace, and a burst of held-back events."""
    silence, stream, burst = verdict.longest_silence, verdict.stream, verdict.burst
    return {
        "first_text_s": _seconds(verdict.first_text_s),
        "longest_silence_s": _seconds(verdict.longest_silence_s),
        "longest_silence": None if silence is None else {
            "after": silence.after, "before": silence.before, "at_s": _seconds(silence.at_s),
        },
        "stream": None if stream is None else {
            "events": stream.events, "chars": stream.chars, "span_s": _seconds(stream.span_s),
            "chars_per_s": _rate(stream.chars_per_s),
        },
        "buffered": None if burst is None else {
            "events": burst.events, "of": burst.of, "span_s": _seconds(burst.span_s),
            "wait_s": _seconds(burst.wait_s),
        },
    }  # fmt: skip


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


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
        "profile": {
            "name": report.profile,
            "protocol": report.protocol,
            "detected": report.detected,
        },
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
            "max_silence_s": report.targets.max_silence_s,
            "max_first_text_s": report.targets.max_first_text_s,
        },
        "buffered": {"runs": tally.bursts, "looks_buffered": tally.looks_buffered},
        "warnings": list(report.warnings),
    }
