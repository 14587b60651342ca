"""Scenario scripts of the demo backend as plain data: which events one run sends, in what order,
after what pause, and how each event is wrapped on the wire. No I/O here; backend.py plays them."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

AGENT_NAME = "demo_agent"
TOOL_NAME = "search"
ENVELOPES = ("payload", "flat", "system_message")
Envelope = Literal["payload", "flat", "system_message"]
BATCH_FORMS = ("list", "map")  # how an event_batch frame holds its events
BATCHED = frozenset({"agent_thinking", "partial_result"})  # what the seed product batches


@dataclass(frozen=True, slots=True)
class Timing:
    """Pauses in seconds; a run's own `tool_delay`/`first_delay`/`silence_delay` override the
    backend's."""

    think_delay: float = 0.05
    tool_delay: float = 0.2
    slow_tool_delay: float = 10.5
    first_delay: float = 2.5
    silence_delay: float = 16.0  # past the 15 s that the seed product's own validator allows


@dataclass(frozen=True, slots=True)
class Emit:
    """Send one agent event after `delay` seconds; `broadcast` sends it to every open connection."""

    event: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    broadcast: bool = False


@dataclass(frozen=True, slots=True)
class Disconnect:
    """End the connection mid-run: `code=None` aborts TCP without a close frame; otherwise close
    with that code and keep the rest of the script for a `resume` on a new connection."""

    code: int | None = None
    reason: str = ""
    delay: float = 0.0


Step = Emit | Disconnect


@dataclass(frozen=True, slots=True)
class RunIds:
    run_id: str
    thread_id: str
    user_id: str


def mint(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def _tool(
    timing: Timing, duration: float, *, status: str = "success", partial: bool = True
) -> list[Step]:
    execution_id = mint("exec")
    ids = {"tool_name": TOOL_NAME, "execution_id": execution_id}
    steps: list[Step] = [
        Emit("tool_executing", {**ids, "args": {"query": "demo"}}, timing.think_delay)
    ]
    # The partial result comes while the tool still runs, so the tool lasts `duration` in total.
    wait = duration
    if partial:
        steps.append(Emit("partial_result", {"content": "found 3 results"}, timing.think_delay))
        wait = max(duration - timing.think_delay, 0.0)
    result: dict[str, Any] = {"status": status}
    if status == "error":
        result["error"] = "search backend unavailable"
    else:
        result["hits"] = 3
    steps.append(Emit("tool_completed", {**ids, "result": result}, wait))
    return steps


def _thinking(timing: Timing, thought: str) -> Emit:
    return Emit("agent_thinking", {"thought": thought}, timing.think_delay)


def _completed(timing: Timing, status: str = "success") -> Emit:
    summary = "done" if status == "success" else "the tool failed"
    result = {"status": status, "summary": summary}
    return Emit("agent_completed", {"result": result}, timing.think_delay)


def _good(timing: Timing, tools: int, first_tool_delay: float, first: float = 0.0) -> list[Step]:
    steps: list[Step] = [Emit("agent_started", {}, first), _thinking(timing, "planning")]
    for i in range(tools):
        steps += _tool(timing, first_tool_delay if i == 0 else timing.tool_delay)
    return [*steps, _thinking(timing, "summarising"), _completed(timing)]


def _silent(timing: Timing, tools: int) -> list[Step]:
    """A good run that goes quiet after planning: nothing for `silence_delay`, then the tools;
    the user watches a screen that does not move, though no tool is running."""
    started, thinking, first_tool, *rest = _good(timing, tools, timing.tool_delay)
    quiet = replace(first_tool, delay=first_tool.delay + timing.silence_delay)
    return [started, thinking, quiet, *rest]


def _tool_error(timing: Timing, tools: int) -> list[Step]:
    steps: list[Step] = [Emit("agent_started"), _thinking(timing, "planning")]
    for _ in range(tools - 1):
        steps += _tool(timing, timing.tool_delay)
    steps += _tool(timing, timing.tool_delay, status="error", partial=False)
    steps.append(Emit("agent_error", {"error": "tool search failed"}, timing.think_delay))
    return [*steps, _completed(timing, "error")]


def _unpaired(timing: Timing, tools: int) -> list[Step]:
    steps: list[Step] = [Emit("agent_started"), _thinking(timing, "planning")]
    for _ in range(tools - 1):
        steps += _tool(timing, timing.tool_delay)
    steps.append(_tool(timing, timing.tool_delay, partial=False)[0])
    return [*steps, _thinking(timing, "giving up on the tool"), _completed(timing)]


def _no_completion(timing: Timing, tools: int) -> list[Step]:
    steps: list[Step] = [Emit("agent_started"), _thinking(timing, "planning")]
    for _ in range(tools):
        steps += _tool(timing, timing.tool_delay, partial=False)
    return steps


def _cut(timing: Timing, code: int | None, reason: str = "") -> list[Step]:
    started: list[Step] = [Emit("agent_started"), _thinking(timing, "planning")]
    tool = _tool(timing, timing.tool_delay, partial=False)
    cut = Disconnect(code, reason, timing.think_delay)
    if code is None:
        return [*started, tool[0], cut]
    return [*started, tool[0], cut, *tool[1:], _thinking(timing, "summarising"), _completed(timing)]


def _missing(timing: Timing, tools: int) -> list[Step]:
    return [s for s in _good(timing, tools, timing.tool_delay) if _event(s) != "agent_thinking"]


def _leak(timing: Timing, tools: int) -> list[Step]:
    good = _good(timing, tools, timing.tool_delay)
    return [replace(s, broadcast=True) if _event(s) == "partial_result" else s for s in good]


Builder = Callable[[Timing, int], list[Step]]
BUILDERS: dict[str, Builder] = {
    "good": lambda t, n: _good(t, n, t.tool_delay),
    "tool_error": _tool_error,
    # Only the first tool is slow so that a multi-tool run trips `slow_tool`, not `slow_total`.
    "slow_tool": lambda t, n: _good(t, n, t.slow_tool_delay),
    "slow_first": lambda t, n: _good(t, n, t.tool_delay, first=t.first_delay),
    "missing_event": _missing,
    "unpaired_tool": _unpaired,
    "late_event": lambda t, n: [*_good(t, n, t.tool_delay), _thinking(t, "one more thing")],
    "no_completion": _no_completion,
    "drop": lambda t, n: _cut(t, None),
    "leak": _leak,
    "reconnect": lambda t, n: _cut(t, 1012, "service restart"),
    "silent": _silent,
}
SCENARIOS = tuple(BUILDERS)


def script(
    name: str, timing: Timing, *, tools: int = 1, drop: frozenset[str] = frozenset()
) -> list[Step]:
    """The steps of one run of scenario `name` with `tools` tool executions, without the event
    types in `drop`. Raises KeyError for an unknown scenario name."""
    kept: list[Step] = []
    carried = 0.0
    for step in BUILDERS[name](timing, max(tools, 1)):
        # A dropped event's pause still passes, so dropping one never changes the others' timing.
        if _event(step) in drop:
            carried += step.delay
            continue
        kept.append(replace(step, delay=step.delay + carried))
        carried = 0.0
    return kept


def with_extra(steps: list[Step], extra: tuple[str, ...], timing: Timing) -> list[Step]:
    """The steps with the product's own events `extra` sent right after the first one (its
    agent_started): what a backend with events of its own adds to every run."""
    added = [Emit(name, {"detail": "product event"}, timing.think_delay) for name in extra]
    return [*steps[:1], *added, *steps[1:]]


def _event(step: Step) -> str | None:
    return step.event if isinstance(step, Emit) else None


def events(steps: list[Step]) -> list[str]:
    """The event types a script sends, in order (what a test or a reader of the docs expects)."""
    return [s.event for s in steps if isinstance(s, Emit)]


def wrap(envelope: Envelope, event: str, ids: RunIds, fields: Mapping[str, Any]) -> dict:
    """One agent event as the backend puts it on the wire, in one of three field dialects."""
    common = {"run_id": ids.run_id, "thread_id": ids.thread_id, "user_id": ids.user_id}
    body = {**common, "agent_name": AGENT_NAME, **fields}
    if envelope == "flat":
        data = {"agent_name": AGENT_NAME, **fields}
        return {"type": event, **common, "data": data}
    if envelope == "system_message":
        return {"type": "system_message", "event": event, "payload": body}
    return {"type": event, "payload": body}


def batch(form: str, envelope: Envelope, ids: RunIds, held: Sequence[tuple[Emit, float]]) -> dict:
    """The seed product's event_batch frame holding `held` (each event with the time it was
    made), as a list in order with ISO timestamps, or as a map of type → list with float ones
    (a map loses the order across types; the timestamps restore it)."""

    def stamp(when: float) -> str | float:
        return when if form == "map" else datetime.fromtimestamp(when, UTC).isoformat()

    inner = [(s.event, {**wrap(envelope, s.event, ids, s.fields), "timestamp": stamp(t)})
             for s, t in held]  # fmt: skip
    events: Any = [item for _, item in inner]
    if form == "map":
        events = {}
        for name, item in inner:
            events.setdefault(name, []).append(item)
    now = datetime.now(UTC).isoformat()
    return {"type": "event_batch", "user_id": ids.user_id, "batch_id": mint("batch"),
            "batch_size": len(inner), "timestamp": now, "events": events}  # fmt: skip
