"""What the user's screen showed during a run, measured on what the client received: the longest
silence between the backend's events, the first text the user could read, how that text
streamed, and whether the events came held back in one burst. Pure; rules.py judges by these."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

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

# These records are typed NamedTuples rather than frozen dataclasses: they are built for every
# run judged, and a frozen dataclass's __init__ costs three times as much.


class Silence(NamedTuple):
    """The longest time the user saw nothing new, outside any running tool call."""

    seconds: float
    after: str  # the event type that began it
    before: str  # the event type that ended it
    at_s: float  # when it began, seconds into the run


class Stream(NamedTuple):
    """The text a run streamed: its events, their characters (as wstape reads each event's
    text, up to 200 characters) and the time from the first to the last."""

    events: int
    chars: int
    span_s: float

    @property
    def chars_per_s(self) -> float | None:
        return self.chars / self.span_s if self.events > 1 and self.span_s > 0 else None


class Burst(NamedTuple):
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


class Screen(NamedTuple):
    """What one run showed its user, computed once when the run is judged."""

    longest_silence: Silence | None  # None when no gap between two events is outside a tool
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
    silence, texts = _walk(shown, tools, started)
    first_text = stream = None
    if texts:
        if message_ts is not None:
            first_text = texts[0].ts - message_ts
        chars = 0
        for event in texts:
            chars += len(event.text)
        stream = Stream(len(texts), chars, texts[-1].ts - texts[0].ts)
    burst = _burst(shown, tools, message_ts) if len(shown) >= BURST_MIN_EVENTS else None
    return Screen(silence, first_text, stream, burst)


def _in_tool(a: float, b: float, tools: Sequence[tuple[float, float]]) -> bool:
    # Tool starts and ends are events, so a gap between two consecutive events lies inside
    # a tool call entirely or outside every one.
    for start, end in tools:
        if start <= a and b <= end + _SLACK_S:
            return True
    return False


def _walk(
    shown: Sequence[Event], tools: Sequence[tuple[float, float]], started: float
) -> tuple[Silence | None, list[Event]]:
    """The longest silence and the events that carry text, in one pass over the events."""
    best, where = -1.0, -1
    previous = None
    texts = []
    for i, event in enumerate(shown):
        ts = event.ts
        # Only a gap longer than the longest so far is worth asking whether a tool ran in it.
        if previous is not None and ts - previous > best and not _in_tool(previous, ts, tools):
            best, where = ts - previous, i
        if event.canonical in TEXT_KINDS:
            texts.append(event)
        previous = ts
    if where < 0:
        return None, texts
    after, before = shown[where - 1], shown[where]
    return Silence(best, _name(after), _name(before), after.ts - started), texts


def _name(event: Event) -> str:
    return event.type or event.canonical.value


def _burst(
    shown: Sequence[Event], tools: Sequence[tuple[float, float]], message_ts: float | None
) -> Burst | None:
    """The burst that holds every shown event, or every one after the first (a backend may
    send its start at once and the rest through the layer that holds them), if any."""
    last = shown[-1].ts
    for start in (0, 1):
        events = len(shown) - start
        if events < BURST_MIN_EVENTS or last - shown[start].ts > BURST_SPAN_S:
            continue
        first = shown[start].ts
        since = message_ts if start == 0 else shown[0].ts
        if since is None or (start and _in_tool(since, first, tools)):
            continue
        if first - since >= BURST_MIN_WAIT_S:
            return Burst(events, len(shown), last - first, first - since, start)
    return None


def looks_buffered(bursts: int, runs: int) -> bool:
    """Whether a report whose `runs` include `bursts` burst runs should say the stream looks
    buffered on the way (one odd run is not the stream)."""
    return bursts >= BUFFERED_MIN_RUNS and bursts >= BUFFERED_MIN_SHARE * runs
