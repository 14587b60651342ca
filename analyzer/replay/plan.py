"""Replay, the plan: a capture's records → what each recorded client sent, what it was waiting
for when it did, and which of the ids it sent the server had minted. Pure; handshake.py says what
of a handshake is sent again, state.py keeps a replay's state as the new server answers, drive.py
and streams.py do the sockets.

Pacing. Each client message waits for its *trigger*: the last server frame the recorded client
had seen before sending it (app pings aside: they come on a timer, not in reply), named by its
kind and its count on the connection ("the 1st agent_completed"). The replay sends the message
once the new server has sent that frame too, plus the recorded gap between the two. A trigger
that was part of a run (e.g. an agent_thinking) also counts as seen once that run ends, so an
event the new server no longer sends does not hold the conversation up; and every wait gives up
--reply-timeout seconds later than the reply came in the recording.

HTTP streams. A recorded SSE or NDJSON exchange is one request (its body the one client message)
and its streamed answer: the request goes at its recorded offset, and the stream ends as recorded
(the server ends it, or the client aborts it after the event it had last seen, plus the gap).
A request that follows a stream of the same conversation (same client host and path, and the
same thread when the protocol names one, as AG-UI's threadId) goes once that stream's replay has
ended, after the recorded pause, never before: it may answer what the stream said (a tool call).

Ids. An id of a kind the protocol's servers mint (wstape-json: run_id, thread_id, execution_id)
whose first appearance is in a server frame was minted by the server; where a client frame sends
one back (a `resume` after a reconnect), the replay sends the id the new server minted in the
corresponding frame (same connection, kind and count) instead.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from wstape.analyzer.pipeline.assembly_rules import TERMINAL
from wstape.analyzer.profile import DEFAULT_PROFILE, Profile
from wstape.analyzer.protocols.events import CHAT_KINDS, Canonical, Decoders, Event, WireProtocol
from wstape.analyzer.replay.handshake import replayable_handshake, replayable_path
from wstape.recorder.capture import Close, Error, Message, Open, Record

ANCHORS_PER_ID = 4  # frames that name one id: enough to learn it if the new server drops one
STREAM_TRANSPORTS = frozenset({"sse", "ndjson"})
# An HTTP stream's recorded end, in the words of the replay's summary.
STREAM_ENDS = {
    "complete": "the stream ended complete",
    "reset": "the stream was cut short (reset)",
    "abort": "the client aborted the stream",
}
# Close codes a client may put on the wire (1005, 1006 and 1015 only ever describe a close).
SENDABLE_CLOSE = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)})


@dataclass(frozen=True, slots=True)
class Wait:
    """What a client message waited for: the `count`-th server frame of `kind` on its connection
    (`kind` None: just the connection opening), or `terminals` run-ending events, whichever
    comes first. `expect_s` is how long after the client's previous send it came, as recorded."""

    kind: str | None = None
    count: int = 0
    terminals: int | None = None
    expect_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Send:
    """One recorded client message, sent `gap_s` after its trigger (as recorded, unscaled)."""

    wait: Wait
    gap_s: float
    is_text: bool
    payload: bytes
    ids: tuple[str, ...] = ()  # server-minted ids it carries, rewritten when sent


@dataclass(frozen=True, slots=True)
class Ending:
    """How the recorded connection ended: the client closed it `gap_s` after its trigger with
    `code`, or the server did (`by_server`), in which case the replay waits for it to."""

    wait: Wait
    gap_s: float
    by_server: bool
    code: int = 1000
    reason: str = ""
    recorded: str = ""  # how the recording says it ended, for the summary
    end: str | None = None  # an HTTP stream's recorded end: "complete", "reset" or "abort"


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    connection: str  # the recorded connection id
    path: str  # request path and query, redacted parameters dropped
    subprotocols: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]  # recorded handshake headers worth sending again
    user_agent: str | None
    start_s: float  # after the first connection of the capture opened
    after: str | None  # the connection it reconnected after (same client and path)
    after_s: float  # how long after that one ended it opened
    sends: tuple[Send, ...]
    ending: Ending
    skipped: int = 0  # recorded answers to app pings, not re-sent: the replay answers live
    dropped: tuple[str, ...] = ()  # redacted secrets left out of the handshake
    transport: str = "websocket"  # or "sse", "ndjson": one request, its body the one send
    method: str | None = None  # an HTTP stream's request method


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where the recording's server named an id: connection, frame kind and count, field."""

    connection: str
    kind: str
    count: int
    field: str


@dataclass(frozen=True, slots=True)
class Plan:
    connections: tuple[ConnectionPlan, ...]
    anchors: Mapping[Anchor, str]  # only for ids that a client sent back
    answers: Mapping[str, bytes]  # server ping type → what the recorded clients answered

    @property
    def messages(self) -> int:
        return sum(len(c.sends) for c in self.connections)


def frame_kind(event: Event, protocol: WireProtocol) -> str | None:
    """The name a trigger counts events by; None for app pings, which come on a timer."""
    if event.canonical is Canonical.CONTROL:
        return None if protocol.is_ping(event) else event.type
    if event.canonical in CHAT_KINDS:
        return event.canonical.value
    return event.type or event.canonical.value


def strings_in(payload: bytes) -> Iterator[str]:
    """Every string value of a JSON text payload, at any depth; nothing for anything else."""
    try:
        stack = [json.loads(payload)]
    except (ValueError, RecursionError):
        return
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# ---------------------------------------------------------------- planning


@dataclass(eq=False)
class _Trigger:
    kind: str | None
    count: int
    terminals: int | None
    ts: float


@dataclass(eq=False)
class _Recorded:
    """One recorded connection while the planner reads it."""

    open: Open
    after: tuple[str, float] | None
    trigger: _Trigger
    last_send: float
    counts: Counter[str] = field(default_factory=Counter)
    terminals: int = 0
    sends: list[Send] = field(default_factory=list)
    skipped: int = 0
    ping: str | None = None  # type of an app ping not answered yet
    ending: Ending | None = None
    last_ts: float = 0.0
    key: tuple[str, str, str | None] = ("", "", None)  # its conversation, for _chain_key
    start_ts: float = 0.0  # an HTTP stream starts at its request, before the response's Open

    @property
    def stream(self) -> bool:
        return self.open.transport in STREAM_TRANSPORTS

    def wait(self) -> Wait:
        t = self.trigger
        return Wait(t.kind, t.count, t.terminals, max(t.ts - self.last_send, 0.0))


def _chain_key(record: Open, thread: str | None = None) -> tuple[str, str, str | None]:
    # A reconnection comes from the same client host to the same path (its port changes); a
    # stream's next request, of the same thread too when its body names one.
    host = (record.client or "").rsplit(":", 1)[0]
    return host, record.path, thread


class Planner:
    """Feed it a capture's records in order; `plan()` gives what to replay."""

    def __init__(self, profile: Profile = DEFAULT_PROFILE) -> None:
        self.profile = profile
        self._protocol = profile.protocol
        self._decoders = Decoders(profile.protocol)
        self._conns: dict[str, _Recorded] = {}
        self._ended: dict[tuple[str, str, str | None], tuple[str, float]] = {}
        self._client_ids: set[str] = set()
        self._minted: set[str] = set()
        self._referenced: set[str] = set()
        self._anchors: dict[Anchor, str] = {}
        self._anchored: Counter[str] = Counter()
        self._answers: dict[str, bytes] = {}

    def feed(self, record: Record) -> None:
        if isinstance(record, Open):
            self._open(record)
            return
        conn = self._conns[record.connection]
        conn.last_ts = max(conn.last_ts, record.ts)
        if isinstance(record, Message) and record.from_client:
            self._client(conn, record)
        elif isinstance(record, Message):
            for event in self._decoders.feed(record):
                self._server(conn, event)
        elif isinstance(record, Close | Error):
            for event in self._decoders.end(record.connection, record.ts):
                if not event.from_client:
                    self._server(conn, event)
            self._end(conn, record)

    def _open(self, record: Open) -> None:
        trigger = _Trigger(None, 0, None, record.ts)
        key = _chain_key(record)
        after = self._ended.get(key)
        self._conns[record.connection] = _Recorded(
            record, after, trigger, record.ts, key=key, start_ts=record.ts
        )

    def _server(self, conn: _Recorded, event: Event) -> None:
        kind = frame_kind(event, self._protocol)
        if kind is None:
            conn.ping = event.type
            return
        conn.counts[kind] += 1
        count = conn.counts[kind]
        if event.canonical in TERMINAL:
            conn.terminals += 1
            needs = None
        else:
            # An event of a run in flight is also seen once that run ends (see the docstring).
            needs = conn.terminals + 1 if event.canonical in CHAT_KINDS else None
        conn.trigger = _Trigger(kind, count, needs, event.ts)
        for name in self._protocol.minted_ids:
            value = getattr(event, name)
            if not value or value in self._client_ids:
                continue
            self._minted.add(value)
            if self._anchored[value] < ANCHORS_PER_ID:
                self._anchored[value] += 1
                self._anchors[Anchor(event.connection, kind, count, name)] = value

    def _client(self, conn: _Recorded, record: Message) -> None:
        events = self._decoders.feed(record)
        if conn.stream:
            if conn.sends:
                return  # a request has one body; nothing else of the client's is replayed
            self._request(conn, record, events)
        if events and all(self._protocol.answers_ping(event) for event in events):
            if conn.ping is not None:
                self._answers.setdefault(conn.ping, record.payload)
            conn.ping = None
            conn.skipped += 1
            return
        for event in events:
            for name in self._protocol.minted_ids:
                value = getattr(event, name)
                if value and value not in self._minted:
                    self._client_ids.add(value)
        ids: tuple[str, ...] = ()
        if record.is_text:
            ids = tuple(dict.fromkeys(s for s in strings_in(record.payload) if s in self._minted))
            self._referenced.update(ids)
        gap = max(record.ts - conn.trigger.ts, 0.0)
        conn.sends.append(Send(conn.wait(), gap, record.is_text, record.payload, ids))
        conn.last_send = record.ts

    def _request(self, conn: _Recorded, record: Message, events: Sequence[Event]) -> None:
        """A stream's request body: the request started then, and a thread it names is its
        conversation."""
        conn.start_ts = min(conn.start_ts, record.ts)
        thread = next((e.thread_id for e in events if e.thread_id), None)
        if thread is not None:
            conn.key = _chain_key(conn.open, thread)
            conn.after = self._ended.get(conn.key)

    def _end(self, conn: _Recorded, record: Close | Error) -> None:
        if conn.ending is not None:
            return
        gap = max(record.ts - conn.trigger.ts, 0.0)
        if isinstance(record, Error):
            # The recorder's own end (stopped mid-chat) or a proxy error: the client moves on.
            ending = Ending(conn.wait(), gap, False, recorded=f"error: {record.message}")
        else:
            by_server = record.closed_by == "server" or (
                record.closed_by is None and record.code in (None, 1006)
            )
            code = record.code if record.code is not None and _sendable(record.code) else 1000
            how = f"closed {record.code} by the {record.closed_by or 'network'}"
            if record.end is not None:
                how = STREAM_ENDS.get(record.end, f"ended {record.end}")
            ending = Ending(conn.wait(), gap, by_server, code, record.reason, how, record.end)
        conn.ending = ending
        self._ended[conn.key] = (record.connection, record.ts)

    def plan(self) -> Plan:
        first = min((c.start_ts for c in self._conns.values()), default=0.0)
        connections = [self._plan_of(conn, first) for conn in self._conns.values()]
        anchors = {a: v for a, v in self._anchors.items() if v in self._referenced}
        answers = {**self._protocol.ping_answers, **self._answers}
        return Plan(tuple(connections), MappingProxyType(anchors), MappingProxyType(answers))

    def _plan_of(self, conn: _Recorded, first: float) -> ConnectionPlan:
        record = conn.open
        path, dropped_query = replayable_path(record.path)
        headers, offered, agent, dropped = replayable_handshake(record.request_headers)
        after, after_s = None, 0.0
        if conn.after is not None:
            after, after_s = conn.after[0], max(conn.start_ts - conn.after[1], 0.0)
        ending = conn.ending or Ending(
            conn.wait(), max(conn.last_ts - conn.trigger.ts, 0.0), False,
            recorded="still open when the capture ended",
        )  # fmt: skip
        return ConnectionPlan(
            record.connection, path, offered, headers, agent, start_s=conn.start_ts - first,
            after=after, after_s=after_s, sends=tuple(conn.sends), ending=ending,
            skipped=conn.skipped, dropped=dropped_query + dropped,
            transport=record.transport, method=record.method,
        )  # fmt: skip


def _sendable(code: int) -> bool:
    return code in SENDABLE_CLOSE


def plan_replay(records: Iterable[Record], profile: Profile = DEFAULT_PROFILE) -> Plan:
    """What replaying these capture records means: per connection, what to send and when."""
    planner = Planner(profile)
    for record in records:
        planner.feed(record)
    return planner.plan()
