"""Verdicts → what people read: the per-run validation report users of the original chat-flow
suite know, a one-screen summary over all runs, and the versioned JSON report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from wstape.analyzer.pipeline.rules import Code, Outcome, Verdict
from wstape.analyzer.profile import Targets
from wstape.analyzer.protocols.events import Canonical, Event

JSON_VERSION = 1
RULE = "=" * 79
SUMMARY_ROWS = 40  # keeps the summary on one screen; failed runs are listed first
COLLAPSE = 3  # this many consecutive events of one type share a timeline line
OPTIONAL = frozenset({Canonical.PARTIAL_RESULT})


def _no_counts() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts over every run judged: what the summary's totals and the JSON summary print. Kept
    apart from the verdicts so that a report can hold only the summary's rows and still count
    every run."""

    runs: int = 0
    passed: int = 0
    outcomes: Mapping[Outcome, int] = field(default_factory=_no_counts)
    codes: Mapping[Code, int] = field(default_factory=_no_counts)  # runs failing with each code

    @property
    def failed(self) -> int:
        return self.runs - self.passed

    @classmethod
    def of(cls, verdicts: Iterable[Verdict]) -> Tally:
        outcomes: Counter[Outcome] = Counter()
        codes: Counter[Code] = Counter()
        passed = 0
        for verdict in verdicts:
            outcomes[verdict.outcome] += 1
            codes.update(verdict.codes)
            passed += verdict.passed
        return cls.counted(passed, outcomes, codes)

    @classmethod
    def counted(cls, passed: int, outcomes: Counter[Outcome], codes: Counter[Code]) -> Tally:
        """From running counts (every run has one outcome, so they sum to the runs)."""
        return cls(sum(outcomes.values()), passed, MappingProxyType(dict(outcomes)),
                   MappingProxyType(dict(codes)))  # fmt: skip

    def __add__(self, other: Tally) -> Tally:
        outcomes = Counter(self.outcomes) + Counter(other.outcomes)
        return Tally.counted(self.passed + other.passed, outcomes,
                             Counter(self.codes) + Counter(other.codes))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Report:
    """The verdicts of one analysis, with what the capture held beyond its runs.

    `tally` counts every run judged; it is computed from `verdicts` when not given. A bounded
    report (`analyze(..., keep_verdicts=False)`) holds only the verdicts its summary table
    shows: the earliest-starting SUMMARY_ROWS failed runs and SUMMARY_ROWS passed runs. Its
    summary, totals and truth are those of every run; `verdicts`, iteration and `failed` give
    only the runs it holds (`complete` tells), and it has no JSON report.
    """

    verdicts: tuple[Verdict, ...]
    warnings: tuple[str, ...] = ()
    frames: Mapping[str, int] = field(default_factory=_no_counts)
    captures: tuple[str, ...] = ()
    targets: Targets = field(default_factory=Targets)
    connections: int = 0
    tally: Tally | None = None  # never None once built

    def __post_init__(self) -> None:
        if self.tally is None:
            object.__setattr__(self, "tally", Tally.of(self.verdicts))

    @property
    def passed(self) -> bool:
        """True when there was at least one run and every run passed."""
        return self.tally.runs > 0 and self.tally.failed == 0

    @property
    def failed(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if not v.passed)

    @property
    def complete(self) -> bool:
        """True when the report holds every run's verdict, not only the summary's rows."""
        return len(self.verdicts) == self.tally.runs

    def __bool__(self) -> bool:
        # Not "has runs": `assert wstape.validate(path)` must fail when a run failed.
        return self.passed

    def __iter__(self) -> Iterator[Verdict]:
        return iter(self.verdicts)

    def __len__(self) -> int:
        return self.tally.runs

    def text(self, runs: bool = True) -> str:
        """The per-run reports (unless `runs` is false) and the summary, as printed."""
        parts = [render_run(v) for v in self.verdicts] if runs else []
        return "\n\n".join([*parts, render_summary(self)]) + "\n"

    def to_json(self) -> dict:
        return report_json(self)


def merge(reports: Iterable[Report]) -> Report:
    """One report over several analyses (several captures), runs in start order; bounded when
    any of them is, holding the summary's rows of them all."""
    frames: Counter[str] = Counter()
    verdicts: list[Verdict] = []
    tally, complete, targets = Tally(), True, None
    warnings: list[str] = []
    captures: list[str] = []
    connections = 0
    for report in reports:
        frames.update(report.frames)
        verdicts += report.verdicts
        complete = complete and report.complete
        if not complete:
            # Trimmed as it goes: many captures must not add up to every run. Sorts are stable,
            # so runs that start together keep capture order, as in one sort over them all.
            verdicts = summary_rows(sorted(verdicts, key=_started))
        tally += report.tally
        targets = report.targets if targets is None else targets  # the first report's
        warnings += report.warnings
        captures += report.captures
        connections += report.connections
    return Report(
        verdicts=tuple(sorted(verdicts, key=_started)),
        warnings=tuple(warnings),
        frames=MappingProxyType(dict(frames)),
        captures=tuple(captures),
        targets=Targets() if targets is None else targets,
        connections=connections,
        tally=tally,
    )


def _started(verdict: Verdict) -> float:
    return verdict.run.started


def summary_rows(verdicts: list[Verdict]) -> list[Verdict]:
    """The verdicts (in start order) that a summary of them can show: the first SUMMARY_ROWS
    failed and the first SUMMARY_ROWS passed, still in start order."""
    failed = passed = 0
    kept = []
    for verdict in verdicts:
        if verdict.passed:
            passed += 1
            if passed <= SUMMARY_ROWS:
                kept.append(verdict)
        else:
            failed += 1
            if failed <= SUMMARY_ROWS:
                kept.append(verdict)
    return kept


# ---------------------------------------------------------------- text


def _status(verdict: Verdict) -> str:
    return "✅ PASSED" if verdict.passed else "❌ FAILED"


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
    lines.append(f"Connections: {', '.join(run.connections)}")
    lines += ["", "CRITICAL EVENT COVERAGE:"]
    for kind, count in verdict.coverage.items():
        mark = "✅" if count else ("❌" if kind in verdict.required else "➖")
        note = " (optional)" if kind in OPTIONAL and not count else ""
        lines.append(f"  {mark} {kind}: {count}{note}")
    if run.events:
        lines += ["", "EVENT TIMELINE:", *_timeline(run.events, run.started)]
    if verdict.failures:
        lines += ["", "FAILURES:"]
        lines += [f"  ❌ CRITICAL: {f.message} ({f.code})" for f in verdict.failures]
    if verdict.warnings:
        lines += ["", "WARNINGS:", *(f"  ⚠️  {w}" for w in verdict.warnings)]
    return "\n".join(lines)


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
    head = f"SUMMARY - {tally.runs} runs: {tally.passed} passed, "
    lines = [RULE, head + f"{tally.failed} failed" + (f" ({split})" if split else ""), RULE]
    # Failed first, each group in start order; a bounded report holds exactly these rows.
    shown = [*report.failed, *(v for v in report.verdicts if v.passed)][:SUMMARY_ROWS]
    if shown:
        lines.append(
            f"   {'RUN':<28} {'USER':<12} {'OUTCOME':<10} {'EVENTS':>6} {'FIRST':>8} "
            f"{'TOTAL':>8}  FAILURES"
        )
        lines += [_row(v) for v in shown]
        hidden = tally.runs - len(shown)
        if hidden:
            more_failed = tally.failed - sum(not v.passed for v in shown)
            lines.append(
                f"   ... and {hidden} more runs ({more_failed} failed); --json has every run"
            )
    if any(codes.values()):
        lines.append("failures: " + ", ".join(f"{c} {codes[c]}" for c in Code if codes.get(c)))
    t = report.targets
    lines.append(
        f"targets: first event < {t.max_first_event_s:g}s, each tool < {t.max_tool_s:g}s, "
        f"whole run < {t.max_total_s:g}s"
    )
    lines.append(_verdict_line(report))
    return "\n".join(lines)


def _row(verdict: Verdict) -> str:
    run = verdict.run
    first = f"{verdict.first_event_s:.3f}s" if verdict.first_event_s is not None else "-"
    codes = ", ".join(verdict.codes) or "-"
    return (
        f"{'✅' if verdict.passed else '❌'} {_cut(run.label, 28):<28} "
        f"{_cut(run.user_id or '-', 12):<12} {verdict.outcome:<10} "
        f"{sum(verdict.event_counts.values()):>6} {first:>8} {verdict.total_s:>7.3f}s  {codes}"
    )


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _verdict_line(report: Report) -> str:
    total = report.tally.runs
    if not total:
        return "❌ no chat runs found: nothing was checked"
    if report.passed:
        return f"✅ all {total} runs passed"
    return f"❌ {report.tally.failed} of {total} runs failed"


# ---------------------------------------------------------------- JSON


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def run_json(verdict: Verdict) -> dict:
    run = verdict.run
    return {
        "run_id": run.run_id,
        "thread_id": run.thread_id,
        "user_id": run.user_id,
        "connections": list(run.connections),
        "status": "passed" if verdict.passed else "failed",
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


def every_verdict(report: Report, output: str) -> tuple[Verdict, ...]:
    """Every run's verdict, for an output that lists or measures them all. Raises ValueError
    for a bounded report, where `output` would silently miss most runs."""
    if not report.complete:
        raise ValueError(
            "this report keeps only its summary's rows; analyze with keep_verdicts=True "
            f"for {output}"
        )
    return report.verdicts


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
