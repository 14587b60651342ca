"""Events → runs: groups the events of one capture into chat runs as they stream by, keeping only
runs in flight and handing each run back once nothing more can join it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from wstape.analyzer.profile import DEFAULT_PROFILE, Profile
from wstape.analyzer.protocols.events import SERVER_KINDS, Canonical, Event

# Capture-time windows (seconds) after which a run is handed back: a completed run may still
# see late events (an order failure), a dropped one a reconnect; an idle one is given up on.
LINGER_S = 60.0
RECONNECT_S = 60.0
IDLE_S = 600.0
SWEEP_EVERY_S = 5.0
# How long (capture seconds) a handed-back run's ids, and a closed connection's user and end, are
# kept: an event later than this after its run is treated as one after an idle run was given up
# on. Kept per window, not per capture, so memory follows the runs of the last minutes and not
# the length of the recording.
REMEMBER_S = IDLE_S
_REMEMBERED_IDS = 50_000  # per generation: a burst of runs cannot outgrow memory either


@dataclass(frozen=True, slots=True)
class Leak:
    """An event seen on a connection it does not belong to.

    The run whose event leaked holds it with `received` false (its isolation failure); a run in
    flight on the receiving connection holds it with `received` true (a warning there), so one
    leak fails one run.
    """

    ts: float
    connection: str
    message: str
    received: bool = False


@dataclass(frozen=True, slots=True)
class Run:
    """One chat: the user's message (when captured) and every event the backend sent for it."""

    ordinal: int
    run_id: str | None
    thread_id: str | None
    user_id: str | None
    connections: tuple[str, ...]
    events: tuple[Event, ...]
    started: float
    user_message_ts: float | None
    leaks: tuple[Leak, ...] = ()
    end: str = ""  # how the run's last connection ended, when it did

    @property
    def label(self) -> str:
        """The backend's run id, or a name that points at the run within the capture."""
        if self.run_id:
            return self.run_id
        where = f"thread {self.thread_id}" if self.thread_id else self.connections[0]
        return f"{where} run {self.ordinal}"


@dataclass(eq=False)
class _Builder:
    ordinal: int
    started: float
    connections: list[str]
    run_id: str | None = None
    thread_id: str | None = None
    user_id: str | None = None
    user_message_ts: float | None = None
    events: list[Event] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)
    claimed: bool = False  # a server event joined: no longer waiting for agent_started
    named: bool = False  # the backend gave this run a run_id or thread_id
    ids: list[str] = field(default_factory=list)  # every run_id it was called by
    completed: bool = False
    last_ts: float = 0.0
    last_server: Canonical | None = None

    @property
    def terminal(self) -> bool:
        return self.completed or self.last_server is Canonical.ERROR

    @property
    def label(self) -> str:
        return self.run_id or f"{self.thread_id or self.connections[0]} run {self.ordinal}"


class RunAssembler:
    """Feed it connection opens, events and closes in capture order; it returns finished runs.

    Runs are keyed by run_id, else thread_id, else connection and order. Frames that join no run
    are counted in `strays` (by type) so a report can say so.
    """

    def __init__(self, profile: Profile = DEFAULT_PROFILE) -> None:
        self.profile = profile
        self.strays: Counter[str] = Counter()
        self.late = 0  # events of a run that had already been handed back
        self._active: dict[int, _Builder] = {}
        self._by_id: dict[str, _Builder] = {}
        self._by_thread: dict[str, _Builder] = {}
        self._by_conn: dict[str, _Builder] = {}
        self._pending: dict[str, list[_Builder]] = {}
        self._users: dict[str, str] = {}
        self._declared: set[str] = set()  # connections whose user the server named
        self._open: set[str] = set()
        self._ended: dict[str, tuple[float, str]] = {}
        # Two generations of what has ended: on each turn the older one is forgotten, so each
        # entry lives between REMEMBER_S and twice that.
        self._reported: set[str] = set()
        self._reported_before: set[str] = set()
        self._closed: list[str] = []
        self._closed_before: list[str] = []
        self._turn_at: float | None = None
        self._ordinal = 0
        self._sweep_at = float("-inf")

    def open(self, connection: str, ts: float, path: str = "") -> list[Run]:
        self._open.add(connection)
        query = parse_qs(urlsplit(path).query)
        for name in self.profile.user_query:
            if query.get(name):
                self._users[connection] = query[name][0]
                break
        return self._sweep(ts)

    def close(self, connection: str, ts: float, how: str = "closed") -> list[Run]:
        self._open.discard(connection)
        self._ended[connection] = (ts, how)
        self._closed.append(connection)
        return self._sweep(ts, force=True)

    def add(self, event: Event) -> list[Run]:
        # The sweep's own test, here: it is due about once per 5 s of capture, not per event.
        done = self._sweep(event.ts) if event.ts >= self._sweep_at else []
        self._open.add(event.connection)
        kind = event.canonical
        if kind is Canonical.CONTROL:
            self._learn_user(event)
        elif kind is Canonical.USER_MESSAGE and event.from_client:
            self._start(event)
        elif kind is Canonical.RESUME:
            self._resume(event)
        elif kind in SERVER_KINDS or kind is Canonical.USER_MESSAGE:
            run = self._find(event)
            if run is None:
                self.strays[event.type] += 1
            else:
                self._attach(run, event)
        elif kind is Canonical.UNKNOWN:
            run = self._known(event)
            if run is None:
                self.strays[event.type or "(no type)"] += 1
            else:
                self._attach(run, event)
        return done

    def finish(self) -> list[Run]:
        """Every run still in flight, as the capture ends."""
        why = "the capture ended while its connection was open"
        return [self._finalize(run, why) for run in list(self._active.values())]

    # ------------------------------------------------------------ joining runs

    def _learn_user(self, event: Event) -> None:
        # The server's own word on who is connected beats the URL: its events use that spelling.
        if event.user_id and not event.from_client and event.connection not in self._declared:
            self._users[event.connection] = event.user_id
            self._declared.add(event.connection)

    def _new(self, event: Event) -> _Builder:
        self._ordinal += 1
        run = _Builder(self._ordinal, event.ts, [event.connection], last_ts=event.ts)
        run.user_id = self._users.get(event.connection)
        self._active[run.ordinal] = run
        self._by_conn[event.connection] = run
        return run

    def _start(self, event: Event) -> None:
        existing = self._by_id.get(event.run_id) if event.run_id else None
        if existing is not None:
            self._attach(existing, event)
            return
        run = self._new(event)
        run.user_message_ts = event.ts
        run.thread_id = event.thread_id
        if event.run_id:
            # Only the id: the thread points here once the backend answers, so late events of
            # the thread's previous run still find that run.
            run.run_id = event.run_id
            run.ids.append(event.run_id)
            self._by_id[event.run_id] = run
        self._pending.setdefault(event.connection, []).append(run)
        run.events.append(event)

    def _resume(self, event: Event) -> None:
        run = self._known(event)
        if run is None:
            self.strays[event.type] += 1
            return
        if event.connection not in run.connections and not self._other_user(run, event):
            # An explicit resume makes the new connection the run's own, even if the old one
            # has not been seen to close yet.
            run.connections.append(event.connection)
        self._attach(run, event)

    def _known(self, event: Event) -> _Builder | None:
        if event.run_id:
            return self._by_id.get(event.run_id)
        if event.thread_id:
            return self._by_thread.get(event.thread_id)
        return None

    def _find(self, event: Event) -> _Builder | None:
        starts = event.canonical is Canonical.AGENT_STARTED
        if event.run_id:
            return self._find_by_id(event, event.run_id)
        if event.thread_id:
            run = self._by_thread.get(event.thread_id)
            usable = run is not None and not (starts and run.claimed)
            if usable and not run.terminal:
                return run
            pending = self._claim(event)
            if pending is not None:
                return pending
            # A late event of a finished run still joins it, where it fails `order`.
            return run if usable else self._register(self._new(event), event)
        run = self._by_conn.get(event.connection)
        if run is not None and run.named:
            return None  # an id-less frame from a backend that names its runs: not a run's
        if run is None or (starts and run.claimed):
            return self._new(event) if starts else None
        return run

    def _find_by_id(self, event: Event, run_id: str) -> _Builder | None:
        run = self._by_id.get(run_id)
        if run is not None:
            return run
        if run_id in self._reported or run_id in self._reported_before:
            self.late += 1
            return None
        run = self._claim(event) or self._new(event)
        return self._register(run, event)

    def _register(self, run: _Builder, event: Event) -> _Builder:
        if event.run_id and event.run_id != run.run_id:
            # The backend's own id wins over one the client proposed; both find the run.
            if not run.run_id or not event.from_client:
                run.run_id = event.run_id
            run.ids.append(event.run_id)
            self._by_id[event.run_id] = run
        if event.thread_id and not run.thread_id:
            run.thread_id = event.thread_id
        if run.thread_id:
            self._by_thread[run.thread_id] = run
        return run

    def _claim(self, event: Event) -> _Builder | None:
        """The oldest run on this connection still waiting for the backend's first event."""
        for run in self._pending.get(event.connection, ()):
            if not (run.thread_id and event.thread_id and run.thread_id != event.thread_id):
                return run
        return None

    def _attach(self, run: _Builder, event: Event) -> None:
        conn = event.connection
        if conn not in run.connections:
            reason = self._foreign(run, event)
            if reason:
                self._leak(run, event, reason)
                return
            run.connections.append(conn)  # a reconnect: the run goes on over a new connection
        server = not event.from_client and event.canonical in SERVER_KINDS
        if server:
            said = event.user_id
            user = self._users.get(conn)
            if said and user and said != user:
                message = f"{event.type} for user {said} went to connection {conn} of user {user}"
                self._leak(run, event, message)
            run.user_id = run.user_id or said
            run.named = run.named or bool(event.run_id or event.thread_id)
            if not run.claimed:
                run.claimed = True
                self._drop_pending(run)
                self._register(run, event)
            run.last_server = event.canonical
            run.completed = run.completed or event.canonical is Canonical.AGENT_COMPLETED
        run.events.append(event)
        run.last_ts = event.ts

    def _other_user(self, run: _Builder, event: Event) -> str | None:
        """The user of the event's connection, when known and not the run's own user."""
        user = self._users.get(event.connection)
        return user if user and run.user_id and user != run.user_id else None

    def _foreign(self, run: _Builder, event: Event) -> str | None:
        where = f"{event.type} went to connection {event.connection}"
        other = self._other_user(run, event)
        if other:
            return f"{where} of user {other}"
        still_open = [c for c in run.connections if c in self._open]
        if still_open:
            return f"{where} while the run's connection {still_open[0]} was still open"
        return None

    def _leak(self, run: _Builder, event: Event, message: str) -> None:
        run.leaks.append(Leak(event.ts, event.connection, message))
        receiver = self._by_conn.get(event.connection)
        if receiver is not None and receiver is not run:
            owner = f" (user {run.user_id})" if run.user_id else ""
            got = f"got {event.type} of run {run.label}{owner}"
            receiver.leaks.append(Leak(event.ts, event.connection, got, received=True))

    def _drop_pending(self, run: _Builder) -> None:
        for conn in run.connections:
            waiting = self._pending.get(conn)
            if waiting and run in waiting:
                waiting.remove(run)
                if not waiting:
                    del self._pending[conn]

    # ------------------------------------------------------------ handing runs back

    def _sweep(self, now: float, force: bool = False) -> list[Run]:
        if not force and now < self._sweep_at:
            return []
        self._sweep_at = now + SWEEP_EVERY_S
        if self._turn_at is None:
            self._turn_at = now + REMEMBER_S
        elif now >= self._turn_at or len(self._reported) > _REMEMBERED_IDS:
            self._turn(now)
        done = []
        for run in list(self._active.values()):
            why = self._over(run, now)
            if why is not None:
                done.append(self._finalize(run, why))
        return done

    def _over(self, run: _Builder, now: float) -> str | None:
        """Why nothing more can join the run, or None while something still might."""
        if any(c in self._open for c in run.connections):
            idle = now - run.last_ts
            if run.terminal and idle > LINGER_S:
                return ""
            return f"no event for {IDLE_S:.0f}s" if idle > IDLE_S else None
        ended = max(self._ended.get(c, (run.last_ts, ""))[0] for c in run.connections)
        return "" if run.terminal or now - ended > RECONNECT_S else None

    def _finalize(self, run: _Builder, why: str) -> Run:
        del self._active[run.ordinal]
        keys = [(self._by_id, key) for key in run.ids] + [(self._by_thread, run.thread_id)]
        for index, key in keys:
            if key and index.get(key) is run:
                del index[key]
        for conn in run.connections:
            if self._by_conn.get(conn) is run:
                del self._by_conn[conn]
        self._drop_pending(run)
        self._reported.update(run.ids)
        return Run(
            ordinal=run.ordinal,
            run_id=run.run_id,
            thread_id=run.thread_id,
            user_id=run.user_id,
            connections=tuple(run.connections),
            events=tuple(run.events),
            started=run.started,
            user_message_ts=run.user_message_ts,
            leaks=tuple(run.leaks),
            end="" if run.terminal else self._end_of(run, why),
        )

    def _turn(self, now: float) -> None:
        """Forgets the older generation: run ids reported, and connections closed, before it."""
        kept = []
        for conn in self._closed_before:
            if conn in self._open or conn in self._by_conn:
                kept.append(conn)  # a run still holds it: ask again next turn
                continue
            self._ended.pop(conn, None)
            self._users.pop(conn, None)
            self._declared.discard(conn)
        self._closed_before, self._closed = self._closed + kept, []
        self._reported_before, self._reported = self._reported, set()
        self._turn_at = now + REMEMBER_S

    def _end_of(self, run: _Builder, why: str) -> str:
        last = run.connections[-1]
        if last in self._ended and last not in self._open:
            ts, how = self._ended[last]
            return f"connection {last} {how} at +{ts - run.started:.3f}s"
        return why


def assemble(events: Iterable[Event], profile: Profile = DEFAULT_PROFILE) -> Iterator[Run]:
    """Runs from bare events (no open or close records), for tests and notebooks."""
    assembler = RunAssembler(profile)
    for event in events:
        yield from assembler.add(event)
    yield from assembler.finish()
