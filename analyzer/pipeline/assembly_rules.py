"""The rules of run assembly, as tables: what each event does to the runs of a capture (opens one,
joins one by run id, by thread or by its place on its connection, resumes one, ends one), when
a run is handed back, and when it is judged live. Pure data; runs.py's RunAssembler keeps the
indexes and applies them."""

# The h11 way (h11/_state.py): every rule lives in this file, and as much of it as fits in a
# table is a table, read by a dict lookup per event. The assembler decides nothing these tables
# do not say; it finds the run under a key, looks up what to do, and keeps its books.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from wstape.analyzer.protocols.events import SERVER_KINDS, Canonical

C = Canonical

# Capture-time windows (seconds) after which a run is handed back: a completed run may still
# see late events (an order failure), a dropped one a reconnect; an idle one is given up on.
LINGER_S = 60.0
RECONNECT_S = 60.0
IDLE_S = 600.0


class RunState(StrEnum):
    """Where a run in flight stands with the backend."""

    WAITING = "waiting"  # the user's message is in, the backend has not answered yet
    ANSWERED = "answered"  # the backend has answered and not ended the run
    FAILED = "failed"  # ended by an error, unless the backend carries on
    COMPLETED = "completed"  # ended by a completion, for good


# What ends a run, and the one definition of "terminal" (runs, verdicts and replay use it): a
# completion ends it for good (an event after it fails `order`); an error ends it only while it
# is the backend's last word, since a backend may report an error and carry on.
ENDS: Mapping[Canonical, RunState] = MappingProxyType(
    {C.AGENT_COMPLETED: RunState.COMPLETED, C.ERROR: RunState.FAILED}
)
TERMINAL = frozenset(ENDS)  # the kinds that end a run
ENDED = frozenset(ENDS.values())  # the states of a run that has ended

# How the backend's events move a run. Its first event ends the wait: the run leaves its
# connection's waiting list and is indexed under that event's ids. An ending kind ends it; any
# other event after an error means the backend carried on; nothing reopens a completed run.
# Only the backend's own events move a run: a client's frames and an echoed user message join
# it without moving it.
_ANSWER = MappingProxyType({**dict.fromkeys(SERVER_KINDS, RunState.ANSWERED), **ENDS})
AFTER: Mapping[RunState, Mapping[Canonical, RunState]] = MappingProxyType(
    {
        RunState.WAITING: _ANSWER,
        RunState.ANSWERED: _ANSWER,
        RunState.FAILED: _ANSWER,
        RunState.COMPLETED: MappingProxyType(dict.fromkeys(SERVER_KINDS, RunState.COMPLETED)),
    }
)


def ending(kinds: Sequence[Canonical]) -> int | None:
    """Where a run whose backend sent these kinds, in order, ended: the index of the event that
    ended it, or None while it has not."""
    state = _WAITING
    for index, kind in enumerate(kinds):
        state = _AFTER[state][kind]
        if state is _COMPLETED:
            return index
    return len(kinds) - 1 if state in ENDED else None


# AFTER as plain dicts, and its members as globals: ending() runs once per run judged, and a
# mapping proxy's lookup and an enum class attribute each cost more than a dict's.
_AFTER = {state: dict(row) for state, row in AFTER.items()}
_WAITING, _COMPLETED = RunState.WAITING, RunState.COMPLETED


# ------------------------------------------------------------------ what an event does


class Step(StrEnum):
    """What an event does to the runs of its capture, before any run is looked up."""

    OPEN = "open"  # opens a run that waits for the backend, or joins the run it names (OPENS)
    JOIN = "join"  # joins its run, or opens one (JOINS)
    RESUME = "resume"  # joins the run it names and makes its connection the run's own (FOLLOWS)
    FOLLOW = "follow"  # joins the run it names, if any (FOLLOWS)
    NAME_USER = "name_user"  # says who is on its connection; joins no run
    SKIP = "skip"  # no part of any run, and not counted as a stray


CLIENT, SERVER = True, False  # Event.from_client

# What an event does, by who sent it and its kind. The user's message opens a run; the backend's
# events join one, or open one (JOINS says when); a resume continues a run over a new connection;
# a frame of a type the profile does not know joins only a run it names. A client's frame
# of a backend kind joins like the backend's own but does not move its run (AFTER). The server's
# control frames may name the connection's user, and its spelling beats the URL's: its events use
# it. A timeline event joins as a backend event does, without moving its run (AFTER has no row for
# it). Frames that are not JSON objects belong to no run.
_BACKEND_KINDS = dict.fromkeys(SERVER_KINDS, Step.JOIN)
_NO_RUN = dict.fromkeys((C.NOT_JSON, C.NOT_OBJECT, C.BINARY), Step.SKIP)
STEPS: Mapping[bool, Mapping[Canonical, Step]] = MappingProxyType(
    {
        CLIENT: MappingProxyType(
            {C.USER_MESSAGE: Step.OPEN, C.RESUME: Step.RESUME, **_BACKEND_KINDS,
             C.TIMELINE: Step.JOIN, C.UNKNOWN: Step.FOLLOW, C.CONTROL: Step.SKIP, **_NO_RUN}
        ),
        SERVER: MappingProxyType(
            {C.USER_MESSAGE: Step.JOIN, C.RESUME: Step.RESUME, **_BACKEND_KINDS,
             C.TIMELINE: Step.JOIN, C.UNKNOWN: Step.FOLLOW, C.CONTROL: Step.NAME_USER,
             **_NO_RUN}
        ),
    }
)  # fmt: skip


# ------------------------------------------------------------------ which run it joins


class Under(StrEnum):
    """What is under a key when no run state describes it."""

    NOTHING = "nothing"  # no run in flight
    HANDED_BACK = "handed_back"  # (run id) its run was handed back a while ago
    # (position) the connection's run is one the backend named by an id, and it has ended
    NAMED = "named"


Situation = RunState | Under


class Then(StrEnum):
    """What the event does, given what is under its key."""

    JOIN = "join"  # joins the run under its key
    STRAY = "stray"  # joins nothing; counted in `strays` by type
    LATE = "late"  # joins nothing: its run was judged without it; counted `late`, and a stray
    WAIT = "wait"  # opens a run that waits for the backend's first event
    OPEN = "open"  # opens a run of its own, indexed under the event's ids
    # The oldest run on the event's connection still waiting for the backend (a user message
    # the event answers), else as the rest of the name says. A run claimed by ADOPT is indexed
    # under the event's run id at once, one claimed by CLAIM when the backend answers it.
    CLAIM_OR_JOIN = "claim_or_join"
    CLAIM_OR_OPEN = "claim_or_open"
    ADOPT_OR_OPEN = "adopt_or_open"


@dataclass(frozen=True, slots=True)
class Finds:
    """One step's rules for finding an event's run. The event is looked up by the first it
    carries of a run id and a thread id, else by its place on its connection (the run opened
    there last); what is under that key picks a row: (what an event does, what agent_started
    does)."""

    run_id: Mapping[Situation, tuple[Then, Then]]
    thread: Mapping[Situation, tuple[Then, Then]]
    position: Mapping[Situation, tuple[Then, Then]]

    def __post_init__(self) -> None:
        for name in ("run_id", "thread", "position"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


# The user's message. It opens a run that waits for the backend's answer, unless it names by id
# a run in flight (a client that repeats its message joins that run). It names a thread only for
# the run's sake: the thread's previous run may still see late events.
OPENS = Finds(
    run_id={
        Under.NOTHING: (Then.WAIT, Then.WAIT),
        Under.HANDED_BACK: (Then.WAIT, Then.WAIT),
        RunState.WAITING: (Then.JOIN, Then.JOIN),
        RunState.ANSWERED: (Then.JOIN, Then.JOIN),
        RunState.FAILED: (Then.JOIN, Then.JOIN),
        RunState.COMPLETED: (Then.JOIN, Then.JOIN),
    },
    thread={
        Under.NOTHING: (Then.WAIT, Then.WAIT),
        RunState.WAITING: (Then.WAIT, Then.WAIT),
        RunState.ANSWERED: (Then.WAIT, Then.WAIT),
        RunState.FAILED: (Then.WAIT, Then.WAIT),
        RunState.COMPLETED: (Then.WAIT, Then.WAIT),
    },
    position={
        Under.NOTHING: (Then.WAIT, Then.WAIT),
        Under.NAMED: (Then.WAIT, Then.WAIT),
        RunState.WAITING: (Then.WAIT, Then.WAIT),
        RunState.ANSWERED: (Then.WAIT, Then.WAIT),
        RunState.FAILED: (Then.WAIT, Then.WAIT),
        RunState.COMPLETED: (Then.WAIT, Then.WAIT),
    },
)

# The backend's events (and a client's frame of a backend kind).
# - By run id: the id's run, whatever its state. An id whose run was handed back is late: that
#   run was judged without it. A new id answers the oldest user message waiting on the
#   connection, else opens a run of its own.
# - By thread: the thread's run while it is in flight, except that agent_started never joins a
#   run already answered: it is the thread's next run, which answers a waiting user message or
#   opens a run. After the thread's run ended, an event answers a waiting user message, else joins
#   the ended run, where it fails `order`.
# - By position (no ids): the run open on the connection (the one opened there last, or continued
#   there by a reconnect), except that agent_started opens a new run once that one was answered.
#   An id-less event joins a run in flight even when the backend named it (AG-UI names a run only
#   on its start and end), so an id-less error ends it. Once such a named run has ended, an id-less
#   event (an error reply to a client's bad frame, say) is no part of it and joins nothing: a
#   protocol whose events after the end do belong to the run (AG-UI) puts the run's ids on them in
#   its decoder. With no run on the connection, only agent_started opens one.
JOINS = Finds(
    run_id={
        Under.NOTHING: (Then.ADOPT_OR_OPEN, Then.ADOPT_OR_OPEN),
        Under.HANDED_BACK: (Then.LATE, Then.LATE),
        RunState.WAITING: (Then.JOIN, Then.JOIN),
        RunState.ANSWERED: (Then.JOIN, Then.JOIN),
        RunState.FAILED: (Then.JOIN, Then.JOIN),
        RunState.COMPLETED: (Then.JOIN, Then.JOIN),
    },
    thread={
        Under.NOTHING: (Then.CLAIM_OR_OPEN, Then.CLAIM_OR_OPEN),
        RunState.WAITING: (Then.JOIN, Then.JOIN),
        RunState.ANSWERED: (Then.JOIN, Then.CLAIM_OR_OPEN),
        RunState.FAILED: (Then.CLAIM_OR_JOIN, Then.CLAIM_OR_OPEN),
        RunState.COMPLETED: (Then.CLAIM_OR_JOIN, Then.CLAIM_OR_OPEN),
    },
    position={
        Under.NOTHING: (Then.STRAY, Then.OPEN),
        Under.NAMED: (Then.STRAY, Then.STRAY),
        RunState.WAITING: (Then.JOIN, Then.JOIN),
        RunState.ANSWERED: (Then.JOIN, Then.OPEN),
        RunState.FAILED: (Then.JOIN, Then.OPEN),
        RunState.COMPLETED: (Then.JOIN, Then.OPEN),
    },
)

# A resume, and a frame of a type the profile does not know: they join the run they name by id,
# else by thread, in whatever state it is; they never open one, and alone on a connection they
# say nothing of which run they belong to.
FOLLOWS = Finds(
    run_id={
        Under.NOTHING: (Then.STRAY, Then.STRAY),
        Under.HANDED_BACK: (Then.STRAY, Then.STRAY),
        RunState.WAITING: (Then.JOIN, Then.JOIN),
        RunState.ANSWERED: (Then.JOIN, Then.JOIN),
        RunState.FAILED: (Then.JOIN, Then.JOIN),
        RunState.COMPLETED: (Then.JOIN, Then.JOIN),
    },
    thread={
        Under.NOTHING: (Then.STRAY, Then.STRAY),
        RunState.WAITING: (Then.JOIN, Then.JOIN),
        RunState.ANSWERED: (Then.JOIN, Then.JOIN),
        RunState.FAILED: (Then.JOIN, Then.JOIN),
        RunState.COMPLETED: (Then.JOIN, Then.JOIN),
    },
    position={
        Under.NOTHING: (Then.STRAY, Then.STRAY),
        Under.NAMED: (Then.STRAY, Then.STRAY),
        RunState.WAITING: (Then.STRAY, Then.STRAY),
        RunState.ANSWERED: (Then.STRAY, Then.STRAY),
        RunState.FAILED: (Then.STRAY, Then.STRAY),
        RunState.COMPLETED: (Then.STRAY, Then.STRAY),
    },
)

FINDS: Mapping[Step, Finds] = MappingProxyType(
    {Step.OPEN: OPENS, Step.JOIN: JOINS, Step.RESUME: FOLLOWS, Step.FOLLOW: FOLLOWS}
)


def answers(waiting_thread: str | None, thread: str | None) -> bool:
    """Whether an event of `thread` may answer a user message waiting on its connection: the
    oldest waiting one does, unless the two name different threads."""
    return not (waiting_thread and thread and waiting_thread != thread)


# ------------------------------------------------------------------ over another connection


class Cross(StrEnum):
    """What an event on a connection its run has not used yet means."""

    CONTINUE = "continue"  # the run goes on over this connection too (a reconnect)
    OTHER_USER = "other_user"  # a leak: the connection is another user's
    STILL_OPEN = "still_open"  # a leak: the run's own connection is still open


# An event on a connection its run has not used. Another user's connection never continues a
# run: the event leaked there. A resume makes the connection the run's own even before the old
# one is seen to close; any other event continues the run there (a reconnect) only once its own
# connections have closed, and while one is open it went to the wrong connection. A leak fails
# the run it leaked from (`isolation`) and warns the run in flight on the receiving connection.
#   (a resume?, another user's connection?, a connection of the run still open?) → what it means
CROSSING: Mapping[tuple[bool, bool, bool], Cross] = MappingProxyType(
    {
        (True, True, True): Cross.OTHER_USER,
        (True, True, False): Cross.OTHER_USER,
        (True, False, True): Cross.CONTINUE,
        (True, False, False): Cross.CONTINUE,
        (False, True, True): Cross.OTHER_USER,
        (False, True, False): Cross.OTHER_USER,
        (False, False, True): Cross.STILL_OPEN,
        (False, False, False): Cross.CONTINUE,
    }
)


# ------------------------------------------------------------------ handing a run back


class Since(StrEnum):
    LAST_EVENT = "last_event"  # the run's last event
    LAST_CLOSE = "last_close"  # the last close among the run's connections


@dataclass(frozen=True, slots=True)
class HandBack:
    """A run is handed back (judged) once `after_s` capture seconds have passed `since`; `why` is
    what its end says when its last connection did not end it."""

    after_s: float
    since: Since
    why: str = ""


# When nothing more can join a run. While one of its connections is open: LINGER_S after its
# last event once it has ended (late events still fail `order` there), else IDLE_S after it
# (given up on). Once all have closed: at once if it has ended, else RECONNECT_S after the last
# close, as a reconnect may continue it.
#   (a connection of the run open?, the run ended?) → when it is handed back
HAND_BACK: Mapping[tuple[bool, bool], HandBack] = MappingProxyType(
    {
        (True, True): HandBack(LINGER_S, Since.LAST_EVENT),
        (True, False): HandBack(IDLE_S, Since.LAST_EVENT, f"no event for {IDLE_S:.0f}s"),
        (False, True): HandBack(float("-inf"), Since.LAST_CLOSE),
        (False, False): HandBack(RECONNECT_S, Since.LAST_CLOSE),
    }
)


# ------------------------------------------------------------------ judging a run live

# Live (`wstape watch`), a run is judged before it is handed back, since HAND_BACK waits a while
# for late events: at its terminal event; again whenever an event joins it after that, as a late
# event changes its verdict (it fails `order`); and once, still without an end, when its
# whole-run target has run out. The verdict a report counts is still the one at hand-back.
UNENDED = -1  # the mark of a run judged live before it had ended


def due_live(ended: bool, events: int, mark: int | None, target_ran_out: bool) -> bool:
    """Whether a run in flight is due to be judged live now, given the mark it was last judged
    live at (its event count then, or UNENDED), or None when it has not been."""
    if ended:
        return mark != events
    return mark is None and target_ran_out
