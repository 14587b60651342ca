"""Tool calls that a later request answers. In the OpenAI Responses API, Anthropic's Messages API
and the Vercel AI SDK's stream a run (one POST) may end by handing its tool calls to the client,
whose results come in the conversation's next request. Handoffs holds such a run back from
judging until each call's result has come, then hands it on with them as `Run.answers`, which
rules.py pairs with the calls (the tool's time runs from the call to the request that answers
it)."""

# One conversation is the requests that carry its call ids. The API mints them (call_…, toolu_…)
# and they are unique, so a result pairs with its call by id whatever connection brings it, and
# no other conversation key is needed (Anthropic's requests carry none; Responses'
# previous_response_id links only Responses the API stored). Both APIs refuse a request that goes
# on without a call's result (HTTP 400: no stream, nothing recorded), so a call never answered is
# a client that never came back. Its run is handed on without the result once IDLE_S has passed
# (rules.py then fails it unpaired_tool), and at the end of the recording with `cut_at` set: cut
# short when the recording ended within a whole run's target of the run, as any run with a tool
# still in flight is, else unpaired (the client had long stopped).

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from wstape.analyzer.pipeline.assembly_rules import IDLE_S, ending
from wstape.analyzer.pipeline.model import Run
from wstape.analyzer.protocols.events import SERVER_KINDS, Canonical, Event

C = Canonical
TOOL_ENDS = frozenset({C.TOOL_COMPLETED, C.TOOL_ERROR})


@dataclass(eq=False, slots=True)
class _Held:
    run: Run
    calls: set[str]  # the call ids still awaited
    answers: list[Event] = field(default_factory=list)
    since: float = 0.0  # the run's last event: its wait is timed from there


class Handoffs:
    """Fed every run the assembler hands back (`sift`) and every client event of an `answers`
    type (`answer`), in capture order; gives back the runs to judge. `hands_off` names the
    server's event types that hand a tool call (by its execution_id) to the client."""

    def __init__(self, hands_off: frozenset[str], answers: frozenset[str]) -> None:
        self.hands_off = hands_off
        self.answers = answers
        self._awaited: dict[str, _Held] = {}  # by call id
        self._held: dict[int, _Held] = {}  # by run ordinal, oldest first
        self._ready: list[Run] = []  # answered in full since the last sift
        self._early: dict[str, Event] = {}  # results that came before their run was handed on
        self.due_at = float("inf")  # when the oldest held run, or early result, is given up

    def answer(self, event: Event) -> None:
        """A client's tool result: pairs it with the held run whose call it answers."""
        call = event.execution_id
        if not call:
            return
        held = self._awaited.pop(call, None)
        if held is None:
            # Its run may not be handed back yet (the request raced the stream's end).
            self._early[call] = event
            self.due_at = min(self.due_at, event.ts + IDLE_S)
            return
        held.answers.append(event)
        held.calls.discard(call)
        if not held.calls:
            self._ready.append(self._release(held))

    def sift(self, runs: list[Run], now: float) -> list[Run]:
        """Of the runs just handed back, those to judge now, and the held runs whose results
        have all come or whose wait has run out by `now`."""
        if not runs and not self._ready and now < self.due_at:
            return runs
        out = [run for run in runs if not self._holds(run)]
        out += self._ready
        self._ready = []
        if now >= self.due_at:
            out += self._expire(now)
        return out

    def finish(self, end: float) -> list[Run]:
        """Every run still held as the recording ends, cut there (`cut_at`)."""
        return [self._release(held, cut_at=end) for held in list(self._held.values())]

    def awaited(self, run: Run) -> list[str]:
        """The calls of an ended run that the client still owes: tool calls it runs that no
        event of the run, nor an answer already paired, ended."""
        server = [e for e in run.events if not e.from_client and e.canonical in SERVER_KINDS]
        end = ending([e.canonical for e in server])
        if end is None or server[end].canonical is not C.AGENT_COMPLETED:
            return []  # a run that failed hands nothing on: its open calls are unpaired
        handed = {e.execution_id for e in run.events
                  if not e.from_client and e.type in self.hands_off}  # fmt: skip
        handed.difference_update(e.execution_id for e in server if e.canonical in TOOL_ENDS)
        handed.difference_update(e.execution_id for e in run.answers)
        calls = (e.execution_id for e in server if e.canonical is C.TOOL_EXECUTING)
        return list(dict.fromkeys(c for c in calls if c and c in handed))

    # ------------------------------------------------------------ the books

    def _holds(self, run: Run) -> bool:
        calls = self.awaited(run)
        if not calls:
            return False
        held = _Held(run, set(calls), since=max(e.ts for e in run.events))
        for call in calls:
            early = self._early.pop(call, None)
            if early is not None:
                held.answers.append(early)
                held.calls.discard(call)
        if not held.calls:
            self._ready.append(self._release(held))
            return True
        self._held[run.ordinal] = held
        self._awaited.update(dict.fromkeys(held.calls, held))
        self.due_at = min(self.due_at, held.since + IDLE_S)
        return True

    def _expire(self, now: float) -> list[Run]:
        gone = [held for held in self._held.values() if now - held.since >= IDLE_S]
        self._early = {c: e for c, e in self._early.items() if now - e.ts < IDLE_S}
        out = [self._release(held) for held in gone]
        times = [h.since for h in self._held.values()] + [e.ts for e in self._early.values()]
        self.due_at = min(times, default=float("inf")) + IDLE_S
        return out

    def _release(self, held: _Held, cut_at: float | None = None) -> Run:
        self._held.pop(held.run.ordinal, None)
        for call in held.calls:
            self._awaited.pop(call, None)
        answers = _in_order(held.run.answers, held.answers)
        return replace(held.run, answers=answers, cut_at=cut_at or held.run.cut_at)


def _in_order(before: Iterable[Event], new: Iterable[Event]) -> tuple[Event, ...]:
    return tuple(sorted((*before, *new), key=lambda event: event.ts))
