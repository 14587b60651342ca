"""What the pipeline's runs are made of: a Run (one chat: the user's message, its events, its
leaks) as runs.py's assembler hands it back and rules.py judges it, and the Builder it grows in
while it is in flight; plain data."""

from __future__ import annotations

from dataclasses import dataclass, field

from wstape.analyzer.pipeline.assembly_rules import RunState
from wstape.analyzer.protocols.events import Event, positional_new


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
    # The recording's end, when it came while the run was in flight on a connection still open,
    # or (handoff.py) while the client still ran the tools of this run, which had completed.
    cut_at: float | None = None
    # The client's results for this run's tool calls, from later requests (handoff.py).
    answers: tuple[Event, ...] = ()

    @property
    def label(self) -> str:
        """The backend's run id, or a name that points at the run within the capture."""
        if self.run_id:
            return self.run_id
        where = f"thread {self.thread_id}" if self.thread_id else self.connections[0]
        return f"{where} run {self.ordinal}"


# Run(...) with every field given, the fast way: the assembler hands back one per run.
new_run = positional_new(Run)


@dataclass(eq=False, slots=True)
class Builder:
    """A run in flight, as the assembler (runs.py) grows it; `frozen` hands it back as a Run."""

    ordinal: int
    started: float
    connections: list[str]
    run_id: str | None = None
    thread_id: str | None = None
    user_id: str | None = None
    user_message_ts: float | None = None
    events: list[Event] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)
    state: RunState = RunState.WAITING
    named: bool = False  # the backend gave this run a run_id or thread_id
    ids: list[str] = field(default_factory=list)  # every run_id it was called by
    last_ts: float = 0.0

    def frozen(self, end: str, cut_at: float | None = None) -> Run:
        return new_run(self.ordinal, self.run_id, self.thread_id, self.user_id,
                       tuple(self.connections), tuple(self.events), self.started,
                       self.user_message_ts, tuple(self.leaks), end, cut_at, ())  # fmt: skip
