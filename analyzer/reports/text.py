"""A Report → the text people read: the per-run validation report users of the original
chat-flow suite know, and a one-screen summary over all runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wstape.analyzer.pipeline.screen import Silence, Stream
from wstape.analyzer.pipeline.verdicts import Code, Outcome, Verdict
from wstape.analyzer.profile import Targets
from wstape.analyzer.protocols.events import Canonical, Event
from wstape.analyzer.reports.rows import SUMMARY_ROWS
from wstape.analyzer.reports.visible import visible

if TYPE_CHECKING:
    from wstape.analyzer.reports.report import Report

RULE = "=" * 79
COLLAPSE = 3  # this many consecutive events of one type share a timeline line
OPTIONAL = frozenset({Canonical.PARTIAL_RESULT})


def _status(verdict: Verdict) -> str:
    if verdict.cut_short:
        return "⏹️ CUT SHORT (the recording ended mid-run: neither passed nor failed)"
    return "✅ PASSED" if verdict.passed else "❌ FAILED"


def _mark(verdict: Verdict) -> str:
    return "⏹️" if verdict.cut_short else "✅" if verdict.passed else "❌"


def _title(verdict: Verdict) -> str:
    run = verdict.run
    who = [f"user {run.user_id}"] if run.user_id else []
    if run.thread_id and run.run_id:
        who.append(f"thread {run.thread_id}")
    return run.label + (f" ({', '.join(who)})" if who else "")


def render_run(verdict: Verdict) -> str:
    """One run's validation report: status, coverage, timeline, failures."""
    run = verdict.run
    counts = verdict.event_counts
    lines = [RULE, f"WEBSOCKET EVENT VALIDATION REPORT - {_title(verdict)}", RULE]
    lines += [
        f"Status: {_status(verdict)}",
        f"Outcome: {verdict.outcome}",
        f"Total Events: {sum(counts.values())}",
        f"Event Types: {len(counts)}",
        f"Duration: {verdict.total_s:.3f}s",
    ]
    if verdict.first_event_s is not None:
        lines.append(f"First Event: {verdict.first_event_s:.3f}s")
    lines += screen_lines(verdict)
    lines.append(f"Connections: {', '.join(run.connections)}")
    lines += ["", "CRITICAL EVENT COVERAGE:"]
    for kind, count in verdict.coverage.items():
        mark = "✅" if count else ("❌" if kind in verdict.required else "➖")
        note = " (optional)" if kind in OPTIONAL and not count else ""
        lines.append(f"  {mark} {kind}: {count}{note}")
    if run.events:
        # The client's results for its tool calls, from later requests, close its timeline.
        events = run.events + run.answers
        lines += ["", "EVENT TIMELINE:", *_timeline(events, run.started)]
    if verdict.failures:
        lines += ["", "FAILURES:"]
        lines += [f"  ❌ CRITICAL: {f.message} ({f.code})" for f in verdict.failures]
    if verdict.warnings:
        lines += ["", "WARNINGS:", *(f"  ⚠️  {w}" for w in verdict.warnings)]
    return visible("\n".join(lines))


def screen_lines(verdict: Verdict) -> list[str]:
    """What the user's screen showed: first text, longest silence, streamed text, a burst."""
    lines = []
    if verdict.first_text_s is not None:
        lines.append(f"First Text: {verdict.first_text_s:.3f}s")
    if verdict.longest_silence is not None:
        lines.append(f"Longest Silence: {silence_text(verdict.longest_silence)}")
    if verdict.stream is not None:
        lines.append(f"Streamed Text: {stream_text(verdict.stream)}")
    if verdict.burst is not None:
        lines.append(f"Buffered: {verdict.burst.describe()}")
    return lines


def silence_text(silence: Silence) -> str:
    return (
        f"{silence.seconds:.3f}s, from {silence.after} at {silence.at_s:.3f}s to {silence.before}"
    )


def stream_text(stream: Stream) -> str:
    events = f"{stream.events} event{'s' if stream.events != 1 else ''}"
    pace = stream.chars_per_s
    over = f" over {stream.span_s:.3f}s, {pace:.0f} chars/s" if pace is not None else ""
    return f"{stream.chars} chars in {events}{over}"


def _timeline(events: tuple[Event, ...], start: float) -> list[str]:
    lines = []
    connection = events[0].connection if events else ""
    i = 0
    while i < len(events):
        event = events[i]
        same = i + 1
        while same < len(events) and _alike(events[same], event):
            same += 1
        moved = f" [on {event.connection}]" if event.connection != connection else ""
        connection = event.connection
        name = event.type or event.canonical.value
        if same - i >= COLLAPSE:
            last = events[same - 1]
            span = f"{event.ts - start:.3f}s-{last.ts - start:.3f}s"
            lines.append(f"{event.ts - start:7.3f}s: {name} ×{same - i} ({span}){moved}")
            i = same
            continue
        text = f" - {event.text[:72]}" if event.text else ""
        lines.append(f"{event.ts - start:7.3f}s: {name}{text}{moved}")
        i += 1
    return ["  " + line for line in lines]


def _alike(a: Event, b: Event) -> bool:
    return a.type == b.type and a.connection == b.connection


def render_summary(report: Report) -> str:
    """A table of every run (failed first, one screen at most) and the totals."""
    tally = report.tally
    outcomes, codes = tally.outcomes, tally.codes
    split = ", ".join(f"{o} {outcomes[o]}" for o in Outcome if outcomes.get(o))
    head = f"SUMMARY - {tally.runs} runs: {tally.passed} passed, {tally.failed} failed"
    head += f", {tally.cut_short} cut short" if tally.cut_short else ""
    lines = [RULE, head + (f" ({split})" if split else ""), RULE]
    # Failed first, each group in start order; a bounded report holds exactly these rows.
    shown = [*report.failed, *(v for v in report.verdicts if not v.failed)][:SUMMARY_ROWS]
    if shown:
        lines.append(
            f"   {'RUN':<28} {'USER':<12} {'OUTCOME':<10} {'EVENTS':>6} {'FIRST':>8} "
            f"{'TOTAL':>8} {'SILENCE':>8}  FAILURES"
        )
        lines += [_row(v) for v in shown]
        hidden = tally.runs - len(shown)
        if hidden:
            more_failed = tally.failed - sum(v.failed for v in shown)
            lines.append(
                f"   ... and {hidden} more runs ({more_failed} failed); --json has every run"
            )
    if any(codes.values()):
        lines.append("failures: " + ", ".join(f"{c} {codes[c]}" for c in Code if codes.get(c)))
    if tally.looks_buffered:
        lines.append(buffered_text(report))
    how = "detected from the frames" if report.detected else "given"
    lines.append(f"profile: {report.profile} (protocol {report.protocol}, {how})")
    lines.append(f"targets: {targets_text(report.targets)}")
    lines.append(_verdict_line(report))
    return visible("\n".join(lines))


def targets_text(t: Targets, unit: str = "s") -> str:
    """The targets in one line, as the text and HTML summaries print them."""
    text = (
        f"first event < {t.max_first_event_s:g}{unit}, each tool < {t.max_tool_s:g}{unit}, "
        f"whole run < {t.max_total_s:g}{unit}, silence < {t.max_silence_s:g}{unit}"
    )
    if t.max_first_text_s is not None:
        text += f", first text < {t.max_first_text_s:g}{unit}"
    return text


def buffered_text(report: Report) -> str:
    """The summary's note on a stream that looks held back on the way."""
    tally = report.tally
    return (
        f"buffered: {tally.bursts} of {tally.runs} runs got all their events in one burst after "
        "a wait; the stream looks buffered on the way (a proxy or server holding events back)"
    )


def _row(verdict: Verdict) -> str:
    run = verdict.run
    first = _seconds(verdict.first_event_s)
    codes = ", ".join(verdict.codes) or "-"
    return (
        f"{_mark(verdict)} {_cut(run.label, 28):<28} "
        f"{_cut(run.user_id or '-', 12):<12} {verdict.outcome:<10} "
        f"{sum(verdict.event_counts.values()):>6} {first:>8} {verdict.total_s:>7.3f}s "
        f"{_seconds(verdict.longest_silence_s):>8}  {codes}"
    )


def _seconds(value: float | None) -> str:
    return f"{value:.3f}s" if value is not None else "-"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _verdict_line(report: Report) -> str:
    total = report.tally.runs
    if not total:
        return "❌ no chat runs found: nothing was checked"
    cut = report.tally.cut_short
    apart = f" ({cut} cut short by the end of the recording, not judged)" if cut else ""
    if report.passed and cut:
        return f"✅ no run failed: {report.tally.passed} passed{apart}"
    if report.passed:
        return f"✅ all {total} runs passed"
    return f"❌ {report.tally.failed} of {total} runs failed{apart}"
