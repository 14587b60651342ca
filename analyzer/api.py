"""The analyzer as a library: capture records in, a Report out, streaming all the way; what
`wstape analyze` runs and what a user's own pytest suite calls."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import MappingProxyType

from wstape.analyzer.parallel import Counts, judging
from wstape.analyzer.pipeline.handoff import Handoffs
from wstape.analyzer.pipeline.rules import judge
from wstape.analyzer.pipeline.runs import LINGER_S, Run
from wstape.analyzer.pipeline.shard_assembler import ShardAssembler
from wstape.analyzer.pipeline.verdicts import Code, Outcome, Verdict
from wstape.analyzer.profile import DEFAULT_PROFILE, Profile, load_profile, profile_for_protocol
from wstape.analyzer.protocols.events import Canonical, Decoders, Event
from wstape.analyzer.protocols.registry import sniff
from wstape.analyzer.reports.report import Report, Tally, merge
from wstape.analyzer.reports.rows import SUMMARY_ROWS, SummaryRows
from wstape.analyzer.sources.flowfile import STOPPED
from wstape.analyzer.sources.reading import read_messages
from wstape.recorder.capture import Close, Error, Message, Open, Record

PathLike = str | os.PathLike


class Analysis:
    """One capture's records in capture order → verdicts as runs finish, then a Report.

    Sans-I/O: it never reads a file, so parallel readers can feed it what they decode. With
    `keep_events` false the verdicts it keeps drop their runs' events (the timelines), so memory
    stays small on captures with very many runs; the verdicts returned by `feed` keep them.
    With `keep_verdicts` false it keeps only the verdicts its summary table can show (at most
    2 × SUMMARY_ROWS) and counts the rest, so memory no longer grows with the runs judged; its
    report is bounded (see Report).
    """

    def __init__(
        self,
        profile: Profile | None = None,
        capture: str = "",
        keep_events: bool = True,
        keep_verdicts: bool = True,
        detected: bool = False,
    ) -> None:
        self.profile = profile or DEFAULT_PROFILE
        self.detected = detected  # the profile was picked by sniffing the capture's frames
        self.capture = capture
        self.keep_events = keep_events
        self.keep_verdicts = keep_verdicts
        self.verdicts: list[Verdict] = []  # in the order runs ended; empty unless keep_verdicts
        self._rows = SummaryRows()  # unless keep_verdicts
        self._passed = 0
        self._cut_short = 0
        self._outcomes: Counter[Outcome] = Counter()
        self._codes: Counter[Code] = Counter()
        self._bursts = 0
        self.warnings: list[str] = []
        self.frames: Counter[str] = Counter()
        self.connections = 0
        self._assembler = ShardAssembler(self.profile)
        self._first_odd: dict[Canonical, Event] = {}
        self._decoders = Decoders(self.profile.protocol)
        # Runs whose tool calls a later request answers wait for it (handoff.py).
        protocol = self.profile.protocol
        hands_off = getattr(protocol, "hands_off", None)
        self._handoffs = Handoffs(hands_off, protocol.answers) if hands_off else None
        self._last_ts: float | None = None  # the latest record's: where the recording ended

    def feed(self, record: Record | Event) -> list[Verdict]:
        """Takes one record; returns the verdicts of runs that this record finished.

        Messages may come as the Events already decoded from them (by a parallel worker).
        """
        kind = type(record)
        self._last_ts = record.ts
        # Exact types first: nearly every record is a message, and isinstance against a union
        # per record showed in profiles.
        if kind is Message:
            events = self._decoders[record.connection].feed(record)
            if len(events) == 1:  # nearly every frame: no list of runs to build and extend
                return self._judge(self._add(events[0]))
            return self._judge(self._add_all(events))
        if kind is Event:
            return self._judge(self._add(record))
        return self._judge(self._other(record))

    def _add_all(self, events: Sequence[Event]) -> list[Run]:
        runs: list[Run] = []
        for event in events:
            runs += self._add(event)
        return runs

    def _add(self, event: Event) -> list[Run]:
        canonical = event.canonical
        self.frames[canonical._value_] += 1  # not .value: a property, on every event
        if canonical not in self._first_odd:
            self._first_odd[canonical] = event
        handoffs = self._handoffs
        if handoffs is not None and event.from_client and event.type in handoffs.answers:
            handoffs.answer(event)
        return self._assembler.add(event)

    def _other(self, record: Record | Event) -> list[Run]:
        assembler = self._assembler
        if isinstance(record, Message):
            return self._add_all(self._decoders.feed(record))
        if isinstance(record, Event):
            return self._add(record)
        if isinstance(record, Open):
            self.connections += 1
            return assembler.open(record.connection, record.ts, record.path or record.url)
        if isinstance(record, Close | Error):
            # What the connection's decoder held joins its runs before the connection ends.
            runs = self._add_all(self._decoders.end(record.connection, record.ts))
            if isinstance(record, Error) and record.message == STOPPED:
                return runs  # the recording stopped, not the chat: still open at the end
            how = _closed(record) if isinstance(record, Close) else f"failed ({record.message})"
            return runs + assembler.close(record.connection, record.ts, how)
        return []

    def finish(self, end: float | None = None) -> list[Verdict]:
        """The verdicts of runs still in flight when the capture ends: at `end` when given (the
        last record's time, for a caller that does not feed every record), else at the last
        record fed."""
        if end is not None:
            self._last_ts = end
        runs = self._assembler.finish(self._last_ts)
        handoffs, end = self._handoffs, self._last_ts
        if handoffs is None or end is None:
            return self._verdicts(runs)
        return self._verdicts(handoffs.sift(runs, end) + handoffs.finish(end))

    def tick(self, ts: float) -> list[Verdict]:
        """Takes the time of a record another shard judges (analyzer/parallel): runs due by
        then are handed back as that record would hand them back; returns their verdicts.
        Nothing is due before `assembler.due`, so such records may be skipped (then
        `finish(end)`)."""
        self._last_ts = ts
        runs = self._assembler.tick(ts)
        return self._judge(runs) if runs else []

    @property
    def assembler(self) -> ShardAssembler:
        """Its run assembler, for a shard's clock (`due`) and count of runs (`opened`)."""
        return self._assembler

    def counts(self) -> Counts:
        """What it counted beside its verdicts, for the main process to add up over shards."""
        assembler = self._assembler
        return Counts(self.frames, self._first_odd, assembler.strays, assembler.late,
                      self.connections, self._passed, self._cut_short, self._outcomes,
                      self._codes, self._bursts)  # fmt: skip

    def absorb(self, counts: Counts) -> None:
        """Adds the counts of shards judged elsewhere, with their verdicts given to `take`."""
        self.frames.update(counts.frames)
        for kind, event in counts.first.items():
            self._first_odd.setdefault(kind, event)
        self._assembler.strays.update(counts.strays)
        self._assembler.late += counts.late
        self.connections += counts.connections
        self._passed += counts.passed
        self._cut_short += counts.cut_short
        self._outcomes.update(counts.outcomes)
        self._codes.update(counts.codes)
        self._bursts += counts.bursts

    def take(self, verdict: Verdict) -> None:
        """Keeps a verdict judged elsewhere as this analysis keeps its own (counted by
        `absorb`)."""
        kept = verdict if self.keep_events or not verdict.run.events else verdict.slim()
        if self.keep_verdicts:
            self.verdicts.append(kept)
        else:
            self._rows.add(kept)

    def live(self, now: float) -> list[Verdict]:
        """Live (`wstape watch`): verdicts on runs not handed back yet, judged at their terminal
        event, again when an event joins them after it, and once their whole-run target has run
        out by `now` (capture seconds) without one. Not counted in the report, which holds each
        run's verdict from `feed` or `finish`, once nothing more can join it."""
        runs = self._assembler.live_runs(now, self.profile.targets.max_total_s)
        if self._handoffs is not None:  # judged once the client's results have come
            runs = [run for run in runs if not self._handoffs.awaited(run)]
        return [judge(run, self.profile) for run in runs]

    @property
    def held(self) -> int:
        """How many verdicts this analysis holds for its report."""
        return len(self.verdicts) if self.keep_verdicts else len(self._rows)

    def report(self) -> Report:
        """Everything judged so far, runs in start order, with the capture's warnings."""
        if self.keep_verdicts:
            verdicts = sorted(self.verdicts, key=lambda v: v.run.started)
        else:
            verdicts = self._rows.in_start_order()
        return Report(
            verdicts=tuple(verdicts),
            warnings=tuple(self.warnings + self._frame_warnings()),
            frames=MappingProxyType(dict(self.frames)),
            captures=(self.capture,) if self.capture else (),
            targets=self.profile.targets,
            connections=self.connections,
            tally=Tally.counted(
                self._passed, self._outcomes, self._codes, self._bursts, self._cut_short
            ),
            profile=self.profile.name,
            protocol=self.profile.protocol.name,
            detected=self.detected,
        )

    def _judge(self, runs: list[Run]) -> list[Verdict]:
        if self._handoffs is not None:
            runs = self._handoffs.sift(runs, self._last_ts)
        return self._verdicts(runs)

    def _verdicts(self, runs: list[Run]) -> list[Verdict]:
        if not runs:
            return []  # most records finish no run
        verdicts = [judge(run, self.profile) for run in runs]
        for verdict in verdicts:
            self._passed += verdict.passed
            self._cut_short += verdict.cut_short
            self._outcomes[verdict.outcome] += 1
            self._bursts += verdict.burst is not None
            if verdict.failures:
                self._codes.update(verdict.codes)
        kept = verdicts if self.keep_events else [v.slim() for v in verdicts]
        if self.keep_verdicts:
            self.verdicts += kept
        else:
            for verdict in kept:
                self._rows.add(verdict)
        return verdicts

    def _frame_warnings(self) -> list[str]:
        where = f"{self.capture}: " if self.capture else ""
        out = []
        for kind, what in _ODD_FRAMES.items():
            count = self.frames[kind.value]
            if count:
                first = self._first_odd[kind]
                detail = f"; first on {first.connection}: {first.text}" if first.text else ""
                out.append(f"{where}{count} {what}{detail}")
        strays = self._assembler.strays
        if strays:
            kinds = ", ".join(f"{name or '(no type)'} ×{n}" for name, n in strays.most_common())
            out.append(f"{where}{sum(strays.values())} events belong to no run: {kinds}")
        if self._assembler.late:
            out.append(
                f"{where}{self._assembler.late} events arrived over {LINGER_S:g}s after their "
                "run ended, too late to be judged with it"
            )
        return out


_ODD_FRAMES = {
    Canonical.BINARY: "binary frames ignored (chat events are JSON text frames)",
    Canonical.NOT_JSON: "text frames are not JSON, ignored",
    Canonical.NOT_OBJECT: "text frames are JSON but not an object, ignored",
}


# How an HTTP stream ended (Close.end), as its run's end says it.
_STREAM_ENDS = MappingProxyType(
    {
        "complete": "ended its stream",
        "reset": "was reset before its stream ended",
        "abort": "was left by the client before its stream ended",
    }
)


def _closed(record: Close) -> str:
    if record.end is not None:
        return _STREAM_ENDS.get(record.end, f"ended its stream ({record.end})")
    if record.code is None:
        # A reason without a code: the source does not say how it closed (a HAR file).
        return f"ended ({record.reason})" if record.reason else "dropped without a close frame"
    by = f" by the {record.closed_by}" if record.closed_by else ""
    reason = f" ({record.reason})" if record.reason else ""
    return f"closed with code {record.code}{reason}{by}"


def iter_verdicts(records: Iterable[Record], analysis: Analysis) -> Iterator[Verdict]:
    """Streams verdicts as runs finish; `analysis.report()` afterwards has the totals."""
    for record in records:
        yield from analysis.feed(record)
    yield from analysis.finish()


def analyze_records(
    records: Iterable[Record], profile: Profile | None = None, capture: str = ""
) -> Report:
    """Judges every run in a stream of capture records (from `read_capture` or built by hand)."""
    analysis = Analysis(profile, capture)
    for _ in iter_verdicts(records, analysis):
        pass
    return analysis.report()


def detect_profile(path: PathLike) -> Profile:
    """The built-in profile of the protocol a capture's first text frames speak (the default
    when they are not another protocol's)."""
    # The reading that judges the capture reports what is wrong with it; this one stays quiet.
    messages = read_messages(path, lambda message: None)
    frames = ((m.payload, m.from_client) for m in messages if m.is_text)
    return profile_for_protocol(sniff(frames))


def resolve_profile(
    profile: Profile | PathLike | None, require: Iterable[str] = (), **targets: float | None
) -> Profile:
    """A Profile from a Profile, a TOML path or a built-in's name, or None (the default), with
    targets applied and the events in `require` also required of a completed run."""
    if profile is None:
        profile = DEFAULT_PROFILE
    elif not isinstance(profile, Profile):
        profile = load_profile(profile)
    require = tuple(require)
    return (profile.with_required(require) if require else profile).with_targets(**targets)


def analyze(
    paths: PathLike | Iterable[PathLike],
    profile: Profile | PathLike | None = None,
    warn: Callable[[str], None] | None = None,
    on_verdict: Callable[[Verdict], None] | None = None,
    keep_events: bool = True,
    workers: int = 1,
    dask: str | None = None,
    progress: bool | str = False,
    keep_verdicts: bool = True,
    require: Iterable[str] = (),
    **targets: float | None,
) -> Report:
    """Reads and judges one or more captures (wstape folders or segments, mitmproxy flow files,
    HAR files), each on its own.

    Each verdict goes to `on_verdict` as soon as its run is over (for streaming output); the
    report holds them all, without their events unless `keep_events`, or unless
    `keep_verdicts` only those its summary table shows, with totals over all (see Report):
    memory then grows with the runs in flight, not with the capture. Raises
    CaptureError (wstape.recorder.capture) for an unreadable capture and ProfileError for a bad
    profile;
    reader warnings (a truncated tail) go to `warn` and into the report.

    With `workers` > 1 each input is split by connection and judged on that many processes,
    this one included, with `dask` (a scheduler address) on that Dask cluster; the report is
    identical either way (analyzer/parallel), and verdicts reach `on_verdict` once an input's
    shards are done. Local processes are forked when this process runs no other thread,
    else started by forkserver, which imports the caller's __main__: guard a script's entry with
    `if __name__ == "__main__":`. Raises parallel.ClusterError when Dask cannot be used.
    With `progress` (true, or the bar's label), a bar on a terminal's stderr shows how much
    has been read. `require` names events a completed run must also carry (canonical kinds
    or the backend's own event types), beside the profile's.
    """
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    detected = profile is None and bool(paths)
    if detected:
        # Sniffed from the first input; --profile overrides it.
        profile = detect_profile(paths[0])
    resolved = resolve_profile(profile, require, **targets)
    reports = []
    streams = on_verdict is not None
    rows = None if keep_verdicts or streams else SUMMARY_ROWS
    split = (workers, dask, progress, keep_events or streams, rows)
    with judging(paths, resolved, *split) as judge:
        for path in paths:
            analysis = Analysis(resolved, os.fspath(path), keep_events, keep_verdicts, detected)

            def collect(message: str, analysis: Analysis = analysis) -> None:
                analysis.warnings.append(message)
                if warn is not None:
                    warn(message)

            for verdict in judge(analysis, path, collect):
                if on_verdict is not None:
                    on_verdict(verdict)
            reports.append(analysis.report())
    return merge(reports)


def validate(
    path: PathLike | Iterable[PathLike],
    profile: Profile | PathLike | None = None,
    **targets: float,
) -> Report:
    """Judges a capture for a test: `assert report.passed, report.text()`.

    Targets are keyword arguments in seconds: max_first_event_s, max_tool_s, max_total_s,
    max_silence_s, max_first_text_s.
    """
    return analyze(path, profile, **targets)
