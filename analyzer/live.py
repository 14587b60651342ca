"""Verdicts while a capture is being written: `watch` follows a capture (sources/follow.py), feeds
its records to the analyzer's own Analysis, and hands on each run's verdict as soon as the run is
judged, at its terminal event or when its whole-run target runs out, and again if a later event
changes it. What `wstape watch` and `wstape record --live` print."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from wstape.analyzer.api import Analysis, PathLike, resolve_profile
from wstape.analyzer.pipeline.verdicts import Outcome, Verdict
from wstape.analyzer.profile import Profile, profile_for_protocol
from wstape.analyzer.protocols.registry import DEFAULT, SNIFF_FRAMES, sniff
from wstape.analyzer.reports.json_report import run_json, summary_json
from wstape.analyzer.reports.report import Report
from wstape.analyzer.sources.follow import Follower
from wstape.analyzer.sources.reading import read_records
from wstape.recorder.capture import Message, Record

TICK_S = 0.1  # how often (capture seconds) runs are looked at for a verdict, and the poll period
SNIFF_WAIT_S = 1.0  # with no profile given: how long the first frames may keep the protocol open


@dataclass(frozen=True, slots=True)
class LiveVerdict:
    """A run's verdict as soon as it is known, `at` that capture time (epoch seconds); `was` is
    the verdict said before, when this one corrects it."""

    verdict: Verdict
    at: float
    was: Verdict | None = None


class Watch:
    """Sans-I/O: records in capture order (and the clock, through `tick`) → each run's verdict,
    said once when it is judged and again only if it changes; `finish` gives the Report, the
    one `wstape analyze` gives for the same records. Memory follows the runs in flight."""

    def __init__(
        self,
        profile: Profile | None,
        on_verdict: Callable[[LiveVerdict], None],
        capture: str = "",
        targets: Mapping[str, float | None] | None = None,
    ) -> None:
        """With no `profile`, the protocol is sniffed from the first text frames, as `analyze`
        sniffs it, and `targets` apply to the profile found."""
        self._capture = capture
        self._targets = dict(targets or {})
        self._on_verdict = on_verdict
        self._said: dict[int, Verdict] = {}  # by run: the verdict said last, until handed back
        self._tick_at = float("-inf")
        self.now = float("-inf")  # the capture clock: the latest record's time, or a tick's
        self._held: list[Record] = []  # until the protocol is known
        self._warnings: list[str] = []  # likewise
        self.analysis: Analysis | None = None
        if profile is not None:
            self._begin(profile, detected=False)

    def _begin(self, profile: Profile, detected: bool) -> None:
        self.analysis = Analysis(
            profile, self._capture, keep_events=False, keep_verdicts=False, detected=detected
        )
        self.analysis.warnings += self._warnings
        self._target = profile.targets.max_total_s
        held, self._held = self._held, []
        for record in held:
            self.feed(record)

    def _sniff(self, decide: bool) -> None:
        """Picks the profile once a protocol shows in the frames held, or when `decide`."""
        frames = [(r.payload, r.from_client) for r in self._held
                  if isinstance(r, Message) and r.is_text]  # fmt: skip
        protocol = sniff(frames)
        if decide or protocol != DEFAULT or len(frames) >= SNIFF_FRAMES:
            found = resolve_profile(profile_for_protocol(protocol), **self._targets)
            self._begin(found, detected=True)

    def warn(self, message: str) -> None:
        (self.analysis.warnings if self.analysis else self._warnings).append(message)

    def feed(self, record: Record) -> None:
        self.now = max(self.now, record.ts)
        if self.analysis is None:
            self._held.append(record)
            if isinstance(record, Message) and record.is_text:
                self._sniff(decide=False)
            return
        for verdict in self.analysis.feed(record):
            self._tell(verdict, self._said.pop(verdict.run.ordinal, None))
        if record.ts >= self._tick_at:
            self.tick(record.ts)

    def tick(self, now: float) -> None:
        """Time has passed to `now` (capture seconds), with or without records: the runs that
        ended, or whose target ran out, by then are judged."""
        self.now = max(self.now, now)
        if self.analysis is None:
            # A quiet capture speaks the default protocol, unless its first frames say otherwise.
            if not self._held or self.now - self._held[0].ts < SNIFF_WAIT_S:
                return
            self._sniff(decide=True)
        self._tick_at = self.now + TICK_S
        # Runs judged together are told in the order they ended.
        for verdict in sorted(self.analysis.live(self.now), key=_ended):
            ordinal = verdict.run.ordinal
            self._tell(verdict, self._said.get(ordinal))
            self._said[ordinal] = verdict.slim()  # held until handed back: no timeline

    def finish(self) -> Report:
        if self.analysis is None:
            self._sniff(decide=True)
        for verdict in self.analysis.finish():
            self._tell(verdict, self._said.pop(verdict.run.ordinal, None))
        return self.analysis.report()

    def _tell(self, verdict: Verdict, said: Verdict | None) -> None:
        if said is None:
            # Judged at its terminal event, or when its target ran out if that came first.
            took = verdict.total_s if verdict.outcome is not Outcome.INCOMPLETE else self._target
            self._on_verdict(LiveVerdict(verdict, min(self.now, verdict.run.started + took)))
        elif (said.passed, said.codes) != (verdict.passed, verdict.codes):
            self._on_verdict(LiveVerdict(verdict, self.now, said))


def _ended(verdict: Verdict) -> float:
    return verdict.run.started + verdict.total_s


def watch(
    path: PathLike,
    profile: Profile | PathLike | None = None,
    on_verdict: Callable[[LiveVerdict], None] | None = None,
    follow: bool = False,
    stop: threading.Event | None = None,
    warn: Callable[[str], None] | None = None,
    ignore: Iterable[PathLike] = (),
    **targets: float | None,
) -> Report:
    """Judges the capture at `path` run by run, each verdict to `on_verdict` as soon as it is
    known; returns the Report, the same as `analyze(path)` gives.

    Without `follow`, reads what the capture holds (any input `analyze` reads). With `follow`,
    reads a wstape capture as it is written, like `tail -f`, until `stop` is set (the recorder
    has closed the capture, or the user had enough), then reads the rest, leaving out the
    segment files in `ignore` (an earlier recording's). Between records the capture clock runs
    with the wall clock, so a run whose target runs out is judged on time.
    Raises CaptureError for an unreadable capture; reader warnings go to `warn` and the report.
    """
    resolved = None if profile is None else resolve_profile(profile, **targets)
    session = Watch(resolved, on_verdict or (lambda said: None), os.fspath(path), targets)

    def collect(message: str) -> None:
        session.warn(message)
        if warn is not None:
            warn(message)

    if not follow:
        for record in read_records(path, collect):
            session.feed(record)
        return session.finish()
    _follow(Follower(path, collect, ignore), session, stop or threading.Event())
    return session.finish()


def _follow(follower: Follower, session: Watch, stop: threading.Event) -> None:
    # The capture clock between records: the last record's time plus the wall time since it
    # was read, which holds whatever the recorder's clock is set to.
    last_ts, read_at = None, time.monotonic()
    while True:
        stopping = stop.is_set()  # then one last read, to the end of every segment
        records = follower.close() if stopping else follower.poll()
        for record in records:
            session.feed(record)
        if records:
            last_ts, read_at = session.now, time.monotonic()
        if last_ts is not None:
            session.tick(last_ts + time.monotonic() - read_at)
        if stopping:
            return
        stop.wait(TICK_S)


# ------------------------------------------------------------------ what is printed


def live_line(said: LiveVerdict) -> str:
    """One line: the time, the user, the run, passed or failed with its codes, the first-event
    latency; a correction says what it corrects, a run without an end says why."""
    verdict = said.verdict
    run = verdict.run
    status = "✅ PASSED" if verdict.passed else "❌ FAILED " + ", ".join(verdict.codes)
    first = "-" if verdict.first_event_s is None else f"{verdict.first_event_s:.3f}s"
    line = (
        f"{time.strftime('%H:%M:%S', time.localtime(said.at))}  {_cut(run.user_id or '-', 12):<12} "
        f"{_cut(run.label, 28):<28} {status}  first event {first}"
    )
    if said.was is not None:
        was = "passed" if said.was.passed else "failed " + ", ".join(said.was.codes)
        return f"{line}  (corrected: was {was})"
    if verdict.outcome is Outcome.INCOMPLETE and run.end:
        return f"{line}  ({run.end})"
    return line


def live_json(said: LiveVerdict) -> dict:
    """The same as a JSON object: the run as `wstape analyze --json` lists it, with its label,
    codes, the time it was judged and the verdict it corrects."""
    verdict, was = said.verdict, said.was
    return {
        "kind": "verdict",
        "time": datetime.fromtimestamp(said.at).astimezone().isoformat(timespec="milliseconds"),
        "at": round(said.at, 6),
        "run": verdict.run.label,
        "codes": [code.value for code in verdict.codes],
        **run_json(verdict),
        "corrects": None if was is None else _status_json(was),
    }


def summary_line(report: Report) -> dict:
    """The summary at the end, as the JSON line after the verdicts."""
    return {"kind": "summary", **summary_json(report)}


def _status_json(verdict: Verdict) -> dict:
    return {
        "status": "passed" if verdict.passed else "failed",
        "codes": [code.value for code in verdict.codes],
    }


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
