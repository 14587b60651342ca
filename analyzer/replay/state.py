"""Replay, the sans-I/O state of one in progress: what each replayed connection has received
and when (Conversation), the ids the new server minted in place of the recorded ones (IdMap),
and how each connection went (ConnectionResult, ReplayResult). drive.py feeds it frames and
the time; it never reads a socket or a clock itself."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wstape.analyzer.profile import DEFAULT_PROFILE, Profile
from wstape.analyzer.protocols.events import ID_FIELDS, Event, Frame
from wstape.analyzer.replay.plan import TERMINAL, Anchor, ConnectionPlan, Send, Wait, frame_kind
from wstape.recorder.capture import Message
from wstape.recorder.transports.event_stream import StreamEvent


class IdMap:
    """Server-minted ids of the recording → the ids the new server minted in their place."""

    def __init__(self, anchors: Mapping[Anchor, str]) -> None:
        self._anchors = anchors
        named = {anchor.field for anchor in anchors}
        self._fields = tuple(name for name in ID_FIELDS if name in named)
        self.learned: dict[str, str] = {}

    def learn(self, connection: str, kind: str, count: int, event: Event) -> None:
        for name in self._fields:
            new = getattr(event, name)
            old = self._anchors.get(Anchor(connection, kind, count, name))
            if new and old is not None:
                # The first frame to name it wins: later ones may belong to another run.
                self.learned.setdefault(old, new)

    def rewrite(self, send: Send) -> tuple[bytes, tuple[str, ...]]:
        """The payload to send, and the ids in it that the new server has not minted yet."""
        payload, missing = send.payload, []
        for old in send.ids:
            new = self.learned.get(old)
            if new is None:
                missing.append(old)
                continue
            for ascii_only in (True, False):
                needle = json.dumps(old, ensure_ascii=ascii_only).encode()
                payload = payload.replace(needle, json.dumps(new, ensure_ascii=ascii_only).encode())
        return payload, tuple(missing)


class Conversation:
    """One replayed connection's state: fed the new server's frames with the time they came,
    it says when each wait of the plan was met and what to answer. The caller owns the clock."""

    def __init__(
        self,
        plan: ConnectionPlan,
        ids: IdMap,
        answers: Mapping[str, bytes],
        opened: float,
        profile: Profile = DEFAULT_PROFILE,
    ) -> None:
        self.plan = plan
        self.ids = ids
        self.answers = answers
        self.opened = opened
        self.profile = profile
        self._decoder = profile.protocol.decoder()
        self.counts: Counter[str] = Counter()
        self.terminals = 0
        self.received = 0
        self.closed = False
        waits = [s.wait for s in plan.sends] + [plan.ending.wait]
        # Arrival times are kept only for the frames some wait names, so memory stays flat.
        self._wanted = {(w.kind, w.count) for w in waits if w.kind is not None}
        self._wanted_terminals = {w.terminals for w in waits if w.terminals is not None}
        self._arrived: dict[tuple[str, int], float] = {}
        self._ended_runs: dict[int, float] = {}

    def receive(
        self, is_text: bool, payload: bytes, now: float, sent: StreamEvent | None = None
    ) -> bytes | None:
        """Takes one server frame, or one event of an HTTP stream (`sent`, whose data is the
        payload); returns the answer to send back (to its first app ping), if any."""
        self.received += 1
        frame: Frame | Message = Frame(self.plan.connection, now, False, is_text, payload)
        if sent is not None:
            # As the capture will hold it: a decoder may read the event's name beside its data.
            frame = Message(self.plan.connection, now, False, is_text, payload, sent.event,
                            sent.event_id, sent.retry)  # fmt: skip
        answer = None
        for event in self._decoder.feed(frame):
            ping = self._event(event, now)
            if answer is None and ping is not None:
                answer = self.answers.get(ping)
        return answer

    def close(self, now: float) -> None:
        """The connection ended: what its decoder still held counts as received now."""
        self.closed = True
        for event in self._decoder.end(now):
            self._event(event, now)

    def _event(self, event: Event, now: float) -> str | None:
        """Counts one server event; returns its type when it is an app ping."""
        kind = frame_kind(event, self.profile.protocol)
        if kind is None:
            return event.type
        self.counts[kind] += 1
        count = self.counts[kind]
        if (kind, count) in self._wanted:
            self._arrived[(kind, count)] = now
        if event.canonical in TERMINAL:
            self.terminals += 1
            if self.terminals in self._wanted_terminals:
                self._ended_runs[self.terminals] = now
        self.ids.learn(self.plan.connection, kind, count, event)
        return None

    def met_at(self, wait: Wait) -> float | None:
        """When the new server sent what `wait` waits for; None while it has not."""
        if wait.kind is None:
            return self.opened
        times = [self._arrived.get((wait.kind, wait.count))]
        if wait.terminals is not None:
            times.append(self._ended_runs.get(wait.terminals))
        met = [t for t in times if t is not None]
        return min(met) if met else None


@dataclass(frozen=True, slots=True)
class ConnectionResult:
    original: str  # the recorded connection id
    connection: str | None  # its id in the replayed capture; None when it never opened
    url: str  # redacted, as the capture has it
    sent: int = 0  # recorded client messages sent (an HTTP stream's request body: 1)
    unsent: int = 0
    answered: int = 0  # app pings of the new server answered
    received: int = 0
    timeouts: int = 0  # waits for a reply that gave up
    ended: str = ""
    error: str | None = None  # why this connection failed to replay
    notes: tuple[str, ...] = ()
    transport: str = "websocket"  # or "sse", "ndjson": then `received` counts events


@dataclass(frozen=True, slots=True)
class ReplayResult:
    capture: str
    target: str
    out: Path
    connections: tuple[ConnectionResult, ...]
    ids: Mapping[str, str]  # recorded server-minted id → the new server's
    elapsed_s: float

    @property
    def failed(self) -> tuple[ConnectionResult, ...]:
        return tuple(c for c in self.connections if c.error)

    @property
    def ok(self) -> bool:
        return not self.failed
