"""Events → runs: groups the events of one capture into chat runs as they stream by, keeping only
runs in flight and handing each run back once nothing more can join it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from urllib.parse import parse_qs, urlsplit

from wstape.analyzer.pipeline.assembly_rules import (
    AFTER,
    CROSSING,
    ENDED,
    FINDS,
    HAND_BACK,
    IDLE_S,
    LINGER_S,
    STEPS,
    UNENDED,
    Cross,
    Finds,
    HandBack,
    RunState,
    Since,
    Situation,
    Step,
    Then,
    Under,
    answers,
    due_live,
)
from wstape.analyzer.pipeline.model import Builder, Leak, Run
from wstape.analyzer.pipeline.schedule import Schedule
from wstape.analyzer.profile import DEFAULT_PROFILE, Profile
from wstape.analyzer.protocols.events import Canonical, Event

__all__ = ["LINGER_S", "REMEMBER_S", "Leak", "Run", "RunAssembler", "assemble"]

SWEEP_EVERY_S = 5.0
_EARLY_S = 1.0  # runs are scheduled this much early: a float sum may round either way
# How long (capture seconds) a handed-back run's ids, and a closed connection's user and end, are
# kept: an event later than this after its run is treated as one after an idle run was given up
# on. Kept per window, not per capture, so memory follows the runs of the last minutes and not
# the length of the recording.
REMEMBER_S = IDLE_S
_REMEMBERED_IDS = 50_000  # per generation: a burst of runs cannot outgrow memory either
# The members read on every event, as module globals: an enum class attribute costs a lookup
# through its metaclass each time.
_STARTED, _WAITING, _JOIN = Canonical.AGENT_STARTED, RunState.WAITING, Then.JOIN
_NOTHING, _HANDED_BACK, _NAMED = Under.NOTHING, Under.HANDED_BACK, Under.NAMED
_RESUME, _FOLLOW, _LAST_EVENT = Step.RESUME, Step.FOLLOW, Since.LAST_EVENT
# AFTER as plain dicts: a mapping proxy's get() costs more, on every backend event.
_AFTER = {state: dict(row) for state, row in AFTER.items()}


class RunAssembler:
    """Feed it connection opens, events and closes in capture order; it returns finished runs.

    What each event does is assembly_rules' tables; this class finds the run under an event's
    key, applies the rule, and keeps the books: runs in flight by id, thread and connection, the
    user messages waiting for an answer, and what it has handed back, for a while. Frames that
    join no run are counted in `strays` (by type) so a report can say so.
    """

    def __init__(self, profile: Profile = DEFAULT_PROFILE) -> None:
        self.profile = profile
        self.strays: Counter[str] = Counter()
        self.late = 0  # events of a run that had already been handed back
        self._active: dict[int, Builder] = {}
        self._by_id: dict[str, Builder] = {}
        self._by_thread: dict[str, Builder] = {}
        self._by_conn: dict[str, Builder] = {}
        self._pending: dict[str, list[Builder]] = {}
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
        self._live: dict[int, int] = {}  # run → its mark when judged live (due_live)
        self._sweep_at = float("-inf")
        self._schedule: Schedule[Builder] = Schedule()
        # STEPS and Then with each one's handler in place of its name: one lookup per event and
        # per rule applied, never a chain of ifs.
        do: dict[Step, Callable] = {s: partial(self._place, t, s) for s, t in FINDS.items()}
        do |= {Step.NAME_USER: self._name_user, Step.SKIP: self._skip}
        self._do = {
            who: {kind: do[step] for kind, step in steps.items()} for who, steps in STEPS.items()
        }
        self._then = {then: getattr(self, f"_then_{then}") for then in Then if then is not _JOIN}

    def open(self, connection: str, ts: float, path: str = "") -> list[Run]:
        self._opened(connection)
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
        for run in self._schedule.on(connection):
            self._enter(run)
        return self._sweep(ts, force=True)

    def _opened(self, connection: str) -> None:
        """A connection is open, or open again. Like a close, that may bring the hand-back of the
        runs on it nearer (HAND_BACK counts from their last event, not from the close): they are
        scheduled again."""
        self._open.add(connection)
        for run in self._schedule.on(connection):
            self._enter(run)

    def add(self, event: Event) -> list[Run]:
        # The sweep's own test, here: it is due about once per 5 s of capture, not per event.
        done = self._sweep(event.ts) if event.ts >= self._sweep_at else []
        if event.connection not in self._open:
            self._opened(event.connection)
        self._do[event.from_client][event.canonical](event)
        return done

    def finish(self, end: float | None = None) -> list[Run]:
        """Every run still in flight as the capture ends (at `end`, when known): those in flight
        on a connection still open were cut short there (Run.cut_at)."""
        why = "the capture ended while its connection was open"
        return [self._finalize(run, why, end) for run in list(self._active.values())]

    def live_runs(self, now: float, total_s: float) -> list[Run]:
        """Live: the runs in flight due to be judged at `now` (assembly_rules.due_live; `total_s`
        is the whole-run target), as they stand. They stay in flight, handed back as usual."""
        due = []
        for run in self._active.values():
            ended, count = run.state in ENDED, len(run.events)
            if due_live(ended, count, self._live.get(run.ordinal), now - run.started > total_s):
                self._live[run.ordinal] = count if ended else UNENDED
                why = f"no terminal event within the {total_s:g}s target"
                due.append(run.frozen("" if ended else self._end_of(run, why)))
        return due

    # ------------------------------------------------------------ applying the rules

    def _skip(self, event: Event) -> None:
        pass

    def _name_user(self, event: Event) -> None:
        if event.user_id and event.connection not in self._declared:
            self._users[event.connection] = event.user_id
            self._declared.add(event.connection)

    def _place(self, finds: Finds, step: Step, event: Event) -> None:
        """Finds the event's run by the row for what is under its key, and joins it there, or
        counts a stray."""
        under: Situation
        if event.run_id:
            rows, run = finds.run_id, self._by_id.get(event.run_id)
            if run is not None:
                under = run.state
            elif event.run_id in self._reported or event.run_id in self._reported_before:
                under = _HANDED_BACK
            else:
                under = _NOTHING
        elif event.thread_id:
            rows, run = finds.thread, self._by_thread.get(event.thread_id)
            under = _NOTHING if run is None else run.state
        else:
            rows, run = finds.position, self._by_conn.get(event.connection)
            under = _NOTHING if run is None else run.state
            if run is not None and run.named and under in ENDED:
                under = _NAMED
        then = rows[under][event.canonical is _STARTED]
        if then is not _JOIN:  # the common row, the run under the key, needs no handler
            run = self._then[then](event, run)
        if run is None:
            self.strays[event.type or ("(no type)" if step is _FOLLOW else "")] += 1
        else:
            self._attach(run, event, step is _RESUME)

    # What each Then does, given the event and the run under its key (None when nothing is).

    def _then_stray(self, event: Event, run: Builder | None) -> None:
        return None

    def _then_late(self, event: Event, run: Builder | None) -> None:
        self.late += 1

    def _then_wait(self, event: Event, run: Builder | None) -> Builder:
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
        return run

    def _then_open(self, event: Event, run: Builder | None) -> Builder:
        return self._register(self._new(event), event)

    def _then_claim_or_join(self, event: Event, run: Builder | None) -> Builder | None:
        return self._claim(event) or run

    def _then_claim_or_open(self, event: Event, run: Builder | None) -> Builder:
        return self._claim(event) or self._register(self._new(event), event)

    def _then_adopt_or_open(self, event: Event, run: Builder | None) -> Builder:
        return self._register(self._claim(event) or self._new(event), event)

    def _new(self, event: Event) -> Builder:
        self._ordinal += 1
        run = Builder(self._ordinal, event.ts, [event.connection], last_ts=event.ts)
        run.user_id = self._users.get(event.connection)
        self._active[run.ordinal] = run
        self._by_conn[event.connection] = run
        self._schedule.uses(event.connection, run.ordinal, run)
        self._enter(run)
        return run

    def _register(self, run: Builder, event: Event) -> Builder:
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

    def _claim(self, event: Event) -> Builder | None:
        """The oldest run on this connection still waiting for the backend's first event."""
        for run in self._pending.get(event.connection, ()):
            if answers(run.thread_id, event.thread_id):
                return run
        return None

    def _attach(self, run: Builder, event: Event, resume: bool) -> None:
        conn = event.connection
        if conn not in run.connections and not self._crosses(run, event, resume):
            return
        after = None if event.from_client else _AFTER[run.state].get(event.canonical)
        if after is not None:
            # A backend event for another user than its connection's leaked there, though it
            # is still its run's.
            said = event.user_id
            user = self._users.get(conn)
            if said and user and said != user:
                message = f"{event.type} for user {said} went to connection {conn} of user {user}"
                self._leak(run, event, message)
            run.user_id = run.user_id or said
            run.named = run.named or bool(event.run_id or event.thread_id)
            if run.state is _WAITING:
                self._drop_pending(run)
                self._register(run, event)
            ended_now = after is not run.state and after in ENDED
            run.state = after
            if ended_now:
                self._enter(run)  # an end brings its hand-back nearer
        run.events.append(event)
        run.last_ts = event.ts

    def _crosses(self, run: Builder, event: Event, resume: bool) -> bool:
        """Whether the run goes on over the event's connection (CROSSING); records a leak if not."""
        user = self._users.get(event.connection)
        other = user if user and run.user_id and user != run.user_id else None
        still_open = next((c for c in run.connections if c in self._open), None)
        crossing = CROSSING[resume, other is not None, still_open is not None]
        if crossing is Cross.CONTINUE:
            run.connections.append(event.connection)
            self._schedule.uses(event.connection, run.ordinal, run)
            self._enter(run)  # now open on this connection: see _opened
            # The run is now the one open on this connection: id-less events there join it.
            self._by_conn[event.connection] = run
            return True
        why = {
            Cross.OTHER_USER: f"of user {other}",
            Cross.STILL_OPEN: f"while the run's connection {still_open} was still open",
        }[crossing]
        self._leak(run, event, f"{event.type} went to connection {event.connection} {why}")
        return False

    def _leak(self, run: Builder, event: Event, message: str) -> None:
        run.leaks.append(Leak(event.ts, event.connection, message))
        receiver = self._by_conn.get(event.connection)
        if receiver is not None and receiver is not run:
            owner = f" (user {run.user_id})" if run.user_id else ""
            label = run.run_id or f"{run.thread_id or run.connections[0]} run {run.ordinal}"
            got = f"got {event.type} of run {label}{owner}"
            receiver.leaks.append(Leak(event.ts, event.connection, got, received=True))

    def _drop_pending(self, run: Builder) -> None:
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
        turned = False
        if self._turn_at is None:
            self._turn_at = now + REMEMBER_S
        elif now >= self._turn_at or len(self._reported) > _REMEMBERED_IDS:
            self._turn(now)
            turned = True
        # A turn forgets connections' ends, which may bring a run's hand-back nearer: then
        # every run in flight is asked, and scheduled afresh.
        due = list(self._active.values()) if turned else self._schedule.due(now, self._active)
        done = []
        for run in due:
            why = self._over(run, now)
            if why is not None:
                done.append(self._finalize(run, why))
            else:
                self._enter(run)
        return done

    def _hand_back(self, run: Builder) -> tuple[HandBack, float]:
        """The run's HAND_BACK rule, and the time it counts from."""
        rule = HAND_BACK[not self._open.isdisjoint(run.connections), run.state in ENDED]
        if rule.since is _LAST_EVENT:
            return rule, run.last_ts
        return rule, max(self._ended.get(c, (run.last_ts, ""))[0] for c in run.connections)

    def _over(self, run: Builder, now: float) -> str | None:
        """Why nothing more can join the run (HAND_BACK), or None while something still might."""
        rule, since = self._hand_back(run)
        return rule.why if now - since > rule.after_s else None

    def _enter(self, run: Builder) -> None:
        """Schedules the run for when HAND_BACK would hand it back as things stand; later events
        only put that off, and what brings it nearer enters it again."""
        rule, since = self._hand_back(run)
        self._schedule.enter(since + rule.after_s - _EARLY_S, run.ordinal)

    def _finalize(self, run: Builder, why: str, capture_end: float | None = None) -> Run:
        del self._active[run.ordinal]
        self._schedule.drop(run.connections, run.ordinal)
        keys = [(self._by_id, key) for key in run.ids] + [(self._by_thread, run.thread_id)]
        for index, key in keys:
            if key and index.get(key) is run:
                del index[key]
        for conn in run.connections:
            if self._by_conn.get(conn) is run:
                del self._by_conn[conn]
        self._drop_pending(run)
        self._reported.update(run.ids)
        self._live.pop(run.ordinal, None)
        end = "" if run.state in ENDED else self._end_of(run, why)
        # In flight on a connection still open when the capture ended (_end_of says `why`).
        cut_at = max(capture_end, run.last_ts) if capture_end is not None and end == why else None
        return run.frozen(end, cut_at)

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

    def _end_of(self, run: Builder, why: str) -> str:
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
