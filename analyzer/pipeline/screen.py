"""What the user's screen showed during a run, measured on what the client received: the longest
silence between the backend's events, the first text the user could read, how that text
streamed, and whether the events came held back in one burst. Pure; rules.py judges by these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wstape.analyzer.protocols.events import Canonical, Event

# Kinds whose text the user reads as it arrives; other kinds show a state (thinking, a tool).
TEXT_KINDS = frozenset({Canonical.PARTIAL_RESULT})

# A burst is a run's events arriving faster than a person sees them come one by one, after a
# wait long enough to notice: the mark of a proxy or server that holds the stream back.
BURST_SPAN_S = 0.05
BURST_MIN_EVENTS = 3
BURST_MIN_WAIT_S = 1.0
# A report says the stream looks buffered when this many runs, and this share of them, burst.
BUFFERED_MIN_RUNS = 2
BUFFERED_MIN_SHARE = 0.25

_SLACK_S = 1e-6  # a tool's end, rebuilt as start + duration, may miss its event's ts by an ulp


@dataclass(frozen=True, slots=True)
class Silence:
    """The longest time the user saw nothing new, outside any running tool call."""

    seconds: float
    after: str  # the event type that began it
    before: str  # the event type that ended it
    at_s: float  # when it began, seconds into the run


@dataclass(frozen=True, slots=True)
class Stream:
    """The text a run streamed: its events, their characters (as wstape reads each event's
    text, up to 200 characters) and the time from the first to the last."""

    events: int
    chars: int
    span_s: float

    @property
    def chars_per_s(self) -> float | None:
        return self.chars / self.span_s if self.events > 1 and self.span_s > 0 else None


@dataclass(frozen=True, slots=True)
class Burst:
    """A run's events (all of them, or all after the first) arriving in one go after a wait."""

    events: int  # in the burst
    of: int  # the run's events, first to terminal
    span_s: float  # from the burst's first event to its last
    wait_s: float  # the nothing before it: since the user's message, or since the first event
    start: int  # the index of its first event among the run's shown events

    def describe(self) -> str:
        which = f"all {self.events}" if self.events == self.of else f"{self.events} of {self.of}"
        return (
            f"{which} events arrived in one burst within {self.span_s:.3f}s after "
            f"{self.wait_s:.3f}s of nothing: the stream looks buffered on the way"
        )


@dataclass(frozen=True, slots=True)
class Screen:
    """What one run showed its user, computed once when the run is judged."""

    longest_silence: Silence | None  # None with fewer than two events outside tool calls
    first_text_s: float | None  # None when no text came, or the user's message is unknown
    stream: Stream | None  # None when no text came
    burst: Burst | None


def screen(
    shown: Sequence[Event],
    tools: Sequence[tuple[float, float]],
    started: float,
    message_ts: float | None,
) -> Screen:
    """The screen of a run whose backend events, first to terminal, are `shown`, with its
    completed tool calls' (start, end) times."""
    texts = [e for e in shown if e.canonical in TEXT_KINDS]
    first_text = texts[0].ts - message_ts if texts and message_ts is not None else None
    stream = None
    if texts:
        chars = sum(len(e.text) for e in texts)
        stream = Stream(len(texts), chars, texts[-1].ts - texts[0].ts)
    return Screen(
        _longest_silence(shown, tools, started),
        first_text,
        stream,
        _burst(shown, tools, message_ts),
    )


def _in_tool(a: float, b: float, tools: Sequence[tuple[float, float]]) -> bool:
    # Tool starts and ends are events, so a gap between two consecutive events lies inside
    # a tool call entirely or outside every one.
    return any(start <= a and b <= end + _SLACK_S for start, end in tools)


def _longest_silence(
    shown: Sequence[Event], tools: Sequence[tuple[float, float]], started: float
) -> Silence | None:
    best, where = -1.0, -1
    for i in range(1, len(shown)):
        gap = shown[i].ts - shown[i - 1].ts
        if gap > best and not _in_tool(shown[i - 1].ts, shown[i].ts, tools):
            best, where = gap, i
    if where < 0:
        return None
    after, before = shown[where - 1], shown[where]
    return Silence(best, _name(after), _name(before), after.ts - started)


def _name(event: Event) -> str:
    return event.type or event.canonical.value


def _burst(
    shown: Sequence[Event], tools: Sequence[tuple[float, float]], message_ts: float | None
) -> Burst | None:
    """The burst that holds every shown event, or every one after the first (a backend may
    send its start at once and the rest through the layer that holds them), if any."""
    for start in (0, 1):
        tail = shown[start:]
        if len(tail) < BURST_MIN_EVENTS or tail[-1].ts - tail[0].ts > BURST_SPAN_S:
            continue
        since = message_ts if start == 0 else shown[0].ts
        if since is None or (start and _in_tool(since, tail[0].ts, tools)):
            continue
        wait = tail[0].ts - since
        if wait >= BURST_MIN_WAIT_S:
            return Burst(len(tail), len(shown), tail[-1].ts - tail[0].ts, wait, start)
    return None


def looks_buffered(bursts: int, runs: int) -> bool:
    """Whether a report whose `runs` include `bursts` burst runs should say the stream looks
    buffered on the way (one odd run is not the stream)."""
    return bursts >= BUFFERED_MIN_RUNS and bursts >= BUFFERED_MIN_SHARE * runs
