"""The demo agent speaking AG-UI over WebSocket (`python -m wstape.demo.backend --protocol ag-ui`,
`wstape demo --protocol ag-ui`): each RunAgentInput a client sends plays one scenario, built with
the ag-ui-protocol package's own event classes; and the user that sends them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from ag_ui.core import (
    BaseEvent,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    StateSnapshotEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from wstape.demo.players import Frame, Transcript, with_query
from wstape.demo.scenarios import TOOL_NAME, Timing

Play = list[tuple[float, BaseEvent]]  # (pause before it, the event)


def _body(run: str, timing: Timing) -> Play:
    """What a good run sends between RUN_STARTED and RUN_FINISHED."""
    call, message, pause = f"call-{run}", f"msg-{run}", timing.think_delay
    return [
        (pause, StepStartedEvent(step_name="plan")),
        (0, StateSnapshotEvent(snapshot={"step": "plan"})),
        (pause, StepFinishedEvent(step_name="plan")),
        (pause, ToolCallStartEvent(tool_call_id=call, tool_call_name=TOOL_NAME)),
        (0, ToolCallArgsEvent(tool_call_id=call, delta='{"query": "demo"}')),
        (0, ToolCallEndEvent(tool_call_id=call)),
        (
            timing.tool_delay,
            ToolCallResultEvent(
                message_id=f"res-{run}", tool_call_id=call, content="found 3 results"
            ),
        ),  # fmt: skip
        (pause, TextMessageStartEvent(message_id=message, role="assistant")),
        (pause, TextMessageContentEvent(message_id=message, delta="Here are 3 results")),
        (0, TextMessageEndEvent(message_id=message)),
    ]


def _start(data: RunAgentInput, delay: float = 0.0) -> Play:
    return [(delay, RunStartedEvent(thread_id=data.thread_id, run_id=data.run_id))]


def _finish(data: RunAgentInput, timing: Timing) -> Play:
    event = RunFinishedEvent(thread_id=data.thread_id, run_id=data.run_id)
    return [(timing.think_delay, event)]


# What each scenario plays for one RunAgentInput: the good one and one bug each.
SCENARIOS: dict[str, Callable[[RunAgentInput, Timing], Play]] = {
    "good": lambda d, t: [*_start(d), *_body(d.run_id, t), *_finish(d, t)],
    "missing_start": lambda d, t: [*_body(d.run_id, t), *_finish(d, t)],
    "unpaired_tool": lambda d, t: [*_start(d), *_body(d.run_id, t)[:6],
                                   *_body(d.run_id, t)[7:], *_finish(d, t)],  # fmt: skip
    "slow_first": lambda d, t: [*_start(d, t.first_delay), *_body(d.run_id, t), *_finish(d, t)],
    "run_error": lambda d, t: [*_start(d), *_body(d.run_id, t)[:3],
                               (t.think_delay, RunErrorEvent(message="model quota exceeded"))],
    "late_event": lambda d, t: [*_start(d), *_body(d.run_id, t), *_finish(d, t),
                                (t.think_delay, TextMessageContentEvent(
                                    message_id=f"msg-{d.run_id}", delta=" (and one more)"))],
    "no_completion": lambda d, t: [*_start(d), *_body(d.run_id, t)[:3]],
}  # fmt: skip
TERMINAL = frozenset({"RUN_FINISHED", "RUN_ERROR"})


def wire(event: BaseEvent) -> str:
    return event.model_dump_json(by_alias=True, exclude_none=True)


class AgUiBackend:
    """Plays one scenario per RunAgentInput, in turn, on each connection."""

    def __init__(self, timing: Timing, scenario: str = "good") -> None:
        self.timing = timing
        self.scenario = scenario

    async def handler(self, ws: ServerConnection) -> None:
        try:
            async for message in ws:
                await self._run(ws, message)
        except ConnectionClosed:
            pass

    async def _run(self, ws: ServerConnection, message: str | bytes) -> None:
        try:
            data = RunAgentInput.model_validate_json(message)
        except ValueError:
            await ws.send(wire(RunErrorEvent(message="expected a RunAgentInput")))
            return
        props = data.forwarded_props if isinstance(data.forwarded_props, dict) else {}
        scenario = SCENARIOS.get(str(props.get("scenario", self.scenario)), SCENARIOS["good"])
        for pause, event in scenario(data, self.timing):
            if pause:
                await asyncio.sleep(pause)
            await ws.send(wire(event))


def run_input(thread_id: str, run_id: str, scenario: str) -> str:
    """The client's RunAgentInput that asks for `scenario`."""
    message = {"id": f"user-{run_id}", "role": "user", "content": "find me 3 results"}
    data = RunAgentInput(thread_id=thread_id, run_id=run_id, messages=[message], tools=[],
                         context=[], state={}, forwarded_props={"scenario": scenario})  # fmt: skip
    return json.dumps(data.model_dump(by_alias=True, exclude_none=True))


async def chat(url: str, user_id: str, scenarios: Sequence[str], quiet: float = 0.5,
               timeout: float = 10.0) -> Transcript:  # fmt: skip
    """One user, on one connection, in one thread: a run per scenario, each read until its
    terminal event and `quiet` seconds of silence after it (or `quiet` without one)."""
    frames: list[Frame] = []
    try:
        async with connect(with_query(url, {"user_id": user_id}), max_size=None) as ws:
            for n, scenario in enumerate(scenarios, 1):
                sent = run_input(user_id, f"{user_id}-run-{n}", scenario)
                await ws.send(sent)
                frames.append(Frame("client", "text", sent.encode()))
                frames += await _read_run(ws, quiet, timeout)
    except (OSError, ConnectionClosed) as exc:
        return Transcript(user_id, [frames], error=f"{type(exc).__name__}: {exc}")
    return Transcript(user_id, [frames])


async def one_run_per_user(url: str, scenarios: tuple[str, ...]) -> list[Transcript]:
    """User i asks one question that plays scenarios[i], all users at once."""
    users = [chat(url, f"user-{i}", [scenario]) for i, scenario in enumerate(scenarios, 1)]
    return list(await asyncio.gather(*users))


async def _read_run(ws: Any, quiet: float, timeout: float) -> list[Frame]:
    frames: list[Frame] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    ended = False
    while loop.time() < deadline:
        # Before the run has begun the agent may take its time (a slow first event).
        wait = quiet if frames else deadline - loop.time()
        try:
            text = await asyncio.wait_for(ws.recv(), wait)
        except TimeoutError:
            break
        frames.append(Frame("server", "text", text.encode()))
        ended = ended or json.loads(text).get("type") in TERMINAL
    return frames
