"""AG-UI (the `ag-ui-protocol` package, 1.0) over WebSocket or SSE: one JSON event per text
frame or server-sent event, its `type` in capitals and camelCase fields. Each connection's
decoder knows the run open on its stream, so the events that carry no run id (all but
RUN_STARTED and RUN_FINISHED) get that run's ids: runs by position live here, where the
protocol is known.

The client starts a run with a RunAgentInput (threadId, runId, messages, ... and no `type`): the
user's message. A run is RUN_STARTED … RUN_FINISHED | RUN_ERROR; sub-spans pair by their own ids
(Event.execution_id is the toolCallId, messageId or stepName). Its own rules are checked by
ag-ui-validate (the `ag-ui` extra) on each run's events: failures with code `protocol`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from wstape.analyzer.protocols.ag_ui_rules import check_run
from wstape.analyzer.protocols.events import (
    MAX_ID_CHARS,
    Canonical,
    Event,
    Finding,
    Frame,
    clean,
    clip,
    new_event,
)

C = Canonical
_THINKING = (
    "STEP_STARTED", "REASONING_START", "REASONING_MESSAGE_START", "REASONING_MESSAGE_CONTENT",
    "REASONING_MESSAGE_END", "REASONING_MESSAGE_CHUNK", "REASONING_END",
    "REASONING_ENCRYPTED_VALUE", "THINKING_START", "THINKING_END",
    "THINKING_TEXT_MESSAGE_START", "THINKING_TEXT_MESSAGE_CONTENT", "THINKING_TEXT_MESSAGE_END",
)  # fmt: skip
_TIMELINE = (
    "TEXT_MESSAGE_START", "TEXT_MESSAGE_END", "TOOL_CALL_ARGS", "TOOL_CALL_END",
    "TOOL_CALL_CHUNK", "STEP_FINISHED", "STATE_SNAPSHOT", "STATE_DELTA", "MESSAGES_SNAPSHOT",
    "ACTIVITY_SNAPSHOT", "ACTIVITY_DELTA", "RAW", "CUSTOM", "SUBAGENT_STARTED",
    "SUBAGENT_FINISHED", "SUBAGENT_ERROR",
)  # fmt: skip
# AG-UI's event types onto the seven events; the rest of its types stay on the run's timeline.
TYPES: Mapping[str, Canonical] = MappingProxyType(
    {
        "RUN_STARTED": C.AGENT_STARTED,
        **dict.fromkeys(_THINKING, C.AGENT_THINKING),
        "TOOL_CALL_START": C.TOOL_EXECUTING,
        "TOOL_CALL_RESULT": C.TOOL_COMPLETED,
        "TEXT_MESSAGE_CONTENT": C.PARTIAL_RESULT,
        "TEXT_MESSAGE_CHUNK": C.PARTIAL_RESULT,
        "RUN_FINISHED": C.AGENT_COMPLETED,
        "RUN_ERROR": C.ERROR,
        **dict.fromkeys(_TIMELINE, C.TIMELINE),
    }
)
# Where each type keeps the id of its sub-span (tool call, message, step), and its text.
_SPAN = ("toolCallId", "messageId", "stepName", "subagentRunId")
_TEXT = ("message", "delta", "toolCallName", "content", "stepName", "name")
# A client frame without a type is a RunAgentInput when it has these.
_INPUT_KEYS = ("threadId", "runId", "messages")
USER_MESSAGE = "RunAgentInput"


@dataclass(frozen=True, slots=True)
class AgUi:
    """AG-UI; it has no options of its own."""

    name: ClassVar[str] = "ag-ui"
    profile_keys: ClassVar[frozenset[str]] = frozenset()
    stateless: ClassVar[bool] = False  # a decoder keeps the run open on its stream
    user_query: ClassVar[tuple[str, ...]] = ("user_id",)
    minted_ids: ClassVar[tuple[str, ...]] = ()  # the client names its runs and threads
    ping_answers: ClassVar[Mapping[str, bytes]] = MappingProxyType({})

    @classmethod
    def from_profile(cls, data: Mapping[str, Any]) -> AgUi:
        return cls()

    def decoder(self) -> AgUiDecoder:
        return AgUiDecoder()

    def is_ping(self, event: Event) -> bool:
        return False

    def answers_ping(self, event: Event) -> bool:
        return False

    def check(self, events: Sequence[Event], ended: bool) -> tuple[Finding, ...]:
        """The protocol's own rules on one run's server events (see ag_ui_rules.py)."""
        return check_run(events, ended)


def sniff(obj: Mapping[str, Any], from_client: bool) -> bool:
    """Whether one decoded frame is AG-UI: an event of its types, or a RunAgentInput."""
    kind = obj.get("type")
    if isinstance(kind, str):
        return kind in TYPES
    return from_client and all(key in obj for key in _INPUT_KEYS)


class AgUiDecoder:
    """One connection's decoder: the ids of the run open on its stream, each tool call's name
    by its id (so that a result names its tool), and the run of each sub-span of this run and
    the one before. The client may send its next RunAgentInput before a late event of the run
    before reaches it: until the backend starts the new run, an event whose messageId or
    toolCallId the run before used is that run's."""

    __slots__ = ("before", "run_id", "spans", "started", "thread_id", "tools")

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.thread_id: str | None = None
        self.tools: dict[str, str] = {}
        self.spans: dict[str, tuple[str | None, str | None]] = {}
        self.before: dict[str, tuple[str | None, str | None]] = {}
        self.started = False  # the backend sent RUN_STARTED since the last RunAgentInput

    def feed(self, frame: Frame) -> tuple[Event]:
        base = (frame.connection, frame.ts, frame.from_client, frame.is_text, len(frame.payload))
        if not frame.is_text:
            return (Event(*base, "", C.BINARY),)
        try:
            obj = json.loads(frame.payload.decode("utf-8"))
        except (UnicodeDecodeError, RecursionError, ValueError):
            return (Event(*base, "", C.NOT_JSON, text="text frame is not AG-UI JSON"),)
        if not isinstance(obj, dict):
            return (Event(*base, "", C.NOT_OBJECT, text="JSON, not an object"),)
        raw = obj.get("type")
        if raw is None and frame.from_client and all(key in obj for key in _INPUT_KEYS):
            return (self._input(base, obj),)
        if not isinstance(raw, str):
            return (
                Event(*base, "", C.UNKNOWN, envelope="flat", text="JSON object without a type"),
            )
        return (self._event(base, clean(raw[:MAX_ID_CHARS]), obj),)

    def _input(self, base: tuple, obj: dict) -> Event:
        self.run_id, self.thread_id = _id(obj.get("runId")), _id(obj.get("threadId"))
        self.before, self.spans, self.started = self.spans, {}, False
        self.tools.clear()
        text = _last_user_text(obj.get("messages"))
        return new_event(*base, USER_MESSAGE, C.USER_MESSAGE, "flat", self.run_id, self.thread_id,
                         None, None, None, False, clip(text))  # fmt: skip

    def _event(self, base: tuple, raw: str, obj: dict) -> Event:
        canonical = TYPES.get(raw, C.UNKNOWN)
        run_id, thread_id = _id(obj.get("runId")), _id(obj.get("threadId"))
        if raw == "RUN_STARTED":
            self.run_id, self.thread_id = run_id or self.run_id, thread_id or self.thread_id
            self.started, self.before, self.spans = True, {}, {}
        span = next((v for v in map(_id, map(obj.get, _SPAN)) if v), None)
        own = _id(obj.get("toolCallId")) or _id(obj.get("messageId"))
        if own and not run_id:
            run_id, thread_id = self._run_of(own, thread_id)
        tool = _id(obj.get("toolCallName"))
        if tool and span:
            self.tools[span] = tool
        elif span and raw.startswith("TOOL_CALL"):
            tool = self.tools.get(span)
        text = next((v for v in map(obj.get, _TEXT) if isinstance(v, str) and v), "")
        if tool and text != tool:
            text = f"{tool}: {text}" if text else tool
        return new_event(*base, raw, canonical, "flat", run_id or self.run_id,
                         thread_id or self.thread_id, None, tool, span, canonical is C.ERROR,
                         clip(text))  # fmt: skip

    def _run_of(self, span: str, thread_id: str | None) -> tuple[str | None, str | None]:
        """The run of the sub-span with this id: the run before's, while the backend has not
        started the new one, else the open run's."""
        found = None if self.started else self.before.get(span)
        if found is None:
            found = self.spans.setdefault(span, (self.run_id, thread_id or self.thread_id))
        return found

    def end(self, ts: float) -> tuple[()]:
        return ()


def _id(value: object) -> str | None:
    if isinstance(value, str) and value:
        return clean(value[:MAX_ID_CHARS])
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _last_user_text(messages: object) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""
