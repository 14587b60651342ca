"""The OpenAI Realtime API over WebSocket as a wire protocol: each connection's decoder reads its
client and server events and names the run each belongs to (a user's turn), so that runs,
rules and reports judge Realtime traffic like any other.

A run is the user's turn: from the client's `response.create` (measured from the user's
`conversation.item.create` message just before it, when there is one) to the `response.done`
that answers it. When a Response ends in `function_call` items, the client runs the tools, sends
each result as a `function_call_output` item of the same `call_id` and asks for a new Response:
that Response continues the same run, under the turn's first response id, until a Response ends
without a call. So a tool turn is one run whose tools pair by `call_id`, from the function call
(`response.output_item.added`) to the server's acknowledgement of its output
(`conversation.item.added` / `.created`).

The mapping: `response.created` → agent_started (a continuation's: control); an assistant
`message` output item → agent_thinking; a `function_call` item → tool_executing; its output
acknowledged → tool_completed; text, audio and transcript deltas → partial_result;
`response.done` with status completed → agent_completed, failed → a terminal error, cancelled or
incomplete → agent_completed that failed gracefully (outcome `error`); `error` → an error of the
turn in flight (else control: a session-level error names no run). The rest (session, buffers,
rate limits, `.done` events of parts) is control traffic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from wstape.analyzer.protocols.events import (
    MAX_ID_CHARS,
    Canonical,
    Event,
    Frame,
    clean,
    clip,
    new_event,
)

C = Canonical
ENVELOPE = "openai-realtime"
DELTAS = frozenset({
    "response.output_text.delta", "response.text.delta", "response.output_audio.delta",
    "response.audio.delta", "response.output_audio_transcript.delta",
    "response.audio_transcript.delta",
})  # fmt: skip
ACKS = frozenset({"conversation.item.added", "conversation.item.created"})
# response.done's status → (kind, failed): how the Response ended the turn.
ENDINGS: Mapping[str, tuple[Canonical, bool]] = MappingProxyType(
    {
        "completed": (C.AGENT_COMPLETED, False),
        "failed": (C.ERROR, True),
        "cancelled": (C.AGENT_COMPLETED, True),
        "incomplete": (C.AGENT_COMPLETED, True),
    }
)


@dataclass(frozen=True, slots=True)
class OpenAIRealtime:
    """The protocol; it has no options of its own."""

    name: ClassVar[str] = "openai-realtime"
    profile_keys: ClassVar[frozenset[str]] = frozenset()
    stateless: ClassVar[bool] = False  # a continuation Response is known by what came before
    user_query: tuple[str, ...] = ("user_id",)
    minted_ids: tuple[str, ...] = ("run_id", "execution_id")
    ping_answers: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_profile(cls, data: Mapping[str, Any]) -> OpenAIRealtime:
        return cls()

    def decoder(self) -> RealtimeDecoder:
        return RealtimeDecoder()

    def is_ping(self, event: Event) -> bool:
        return False

    def answers_ping(self, event: Event) -> bool:
        return False


def _text(value: object) -> str | None:
    return clean(value[:MAX_ID_CHARS]) if isinstance(value, str) and value else None


def _item(obj: dict) -> dict:
    item = obj.get("item")
    return item if isinstance(item, dict) else {}


def _user_text(item: dict) -> str:
    parts = item.get("content")
    if not isinstance(parts, list):
        return ""
    texts = [p.get("text") for p in parts if isinstance(p, dict)]
    return " ".join(t for t in texts if isinstance(t, str))


class RealtimeDecoder:
    """One connection's decoder: keeps the turn in flight, the Responses that continue it and
    the function calls waiting for their output."""

    def __init__(self) -> None:
        self.turn: str | None = None  # the run id: the turn's first response id
        self.asked = False  # a response.create opened a turn that has no Response yet
        self.continues = False  # a function_call_output came: the next Response continues
        self.aliases: dict[str, str] = {}  # response id → its turn's id
        self.calls: set[str] = set()  # call ids of the turn
        self.acked: set[str] = set()
        self.said: tuple[float, str] | None = None  # the user's message item, before its turn

    def feed(self, frame: Frame) -> tuple[Event, ...]:
        base = (frame.connection, frame.ts, frame.from_client, frame.is_text, len(frame.payload))
        if not frame.is_text:
            return (Event(*base, "", C.BINARY, ENVELOPE),)
        try:
            obj = json.loads(frame.payload.decode("utf-8"))
        except (UnicodeDecodeError, RecursionError, ValueError):
            return (Event(*base, "", C.NOT_JSON, ENVELOPE, text="not a Realtime JSON event"),)
        if not isinstance(obj, dict):
            return (Event(*base, "", C.NOT_OBJECT, ENVELOPE, text="JSON, not an object"),)
        kind = _text(obj.get("type")) or ""
        read = (_CLIENT if frame.from_client else _SERVER).get(kind, RealtimeDecoder._control)
        return (read(self, base, kind, obj),)

    def end(self, ts: float) -> tuple[()]:
        return ()

    def _event(self, base: tuple, kind: str, canonical: Canonical, **ids: Any) -> Event:
        return new_event(
            *base, kind, canonical, ENVELOPE, ids.get("run_id"), None, None,
            ids.get("tool_name"), ids.get("execution_id"), ids.get("failed", False),
            clip(ids.get("text") or ""),
        )  # fmt: skip

    def _control(self, base: tuple, kind: str, obj: dict) -> Event:
        return self._event(base, kind, C.CONTROL, run_id=self._run(obj))

    def _run(self, obj: dict) -> str | None:
        response = obj.get("response")
        rid = _text(obj.get("response_id")) or (
            _text(response.get("id")) if isinstance(response, dict) else None
        )
        return self.aliases.get(rid, rid) if rid else self.turn

    # ------------------------------------------------------------ the client

    def _item_create(self, base: tuple, kind: str, obj: dict) -> Event:
        item = _item(obj)
        if item.get("type") == "message" and item.get("role") == "user":
            self.said = (base[1], _user_text(item))
            return self._event(base, kind, C.CONTROL, text=self.said[1])
        call = _text(item.get("call_id"))
        if item.get("type") == "function_call_output" and call in self.calls:
            self.continues = True
            return self._event(base, kind, C.CONTROL, run_id=self.turn, execution_id=call)
        return self._event(base, kind, C.CONTROL)

    def _response_create(self, base: tuple, kind: str, obj: dict) -> Event:
        if self.continues and self.turn:
            return self._event(base, kind, C.CONTROL, run_id=self.turn)
        # A new turn: the user's message, timed from the message item that came before it.
        self.turn, self.asked, self.calls = None, True, set()
        ts, text = self.said or (base[1], "")
        self.said = None
        return self._event((base[0], ts, *base[2:]), kind, C.USER_MESSAGE, text=text)

    # ------------------------------------------------------------ the server

    def _created(self, base: tuple, kind: str, obj: dict) -> Event:
        response = obj.get("response")
        rid = _text(response.get("id")) if isinstance(response, dict) else None
        if self.continues and self.turn and rid:
            self.continues = False
            self.aliases[rid] = self.turn
            return self._event(base, kind, C.CONTROL, run_id=self.turn)
        self.turn, self.asked, self.continues, self.calls = rid, False, False, set()
        if rid:
            self.aliases[rid] = rid
        return self._event(base, kind, C.AGENT_STARTED, run_id=rid)

    def _item_added(self, base: tuple, kind: str, obj: dict) -> Event:
        item, run = _item(obj), self._run(obj)
        if item.get("type") == "function_call":
            call, name = _text(item.get("call_id")), _text(item.get("name"))
            if call:
                self.calls.add(call)
            return self._event(
                base, kind, C.TOOL_EXECUTING, run_id=run, tool_name=name, execution_id=call,
                text=name,
            )  # fmt: skip
        if item.get("type") == "message":
            return self._event(base, kind, C.AGENT_THINKING, run_id=run)
        return self._event(base, kind, C.CONTROL, run_id=run)

    def _delta(self, base: tuple, kind: str, obj: dict) -> Event:
        delta = obj.get("delta") if "audio." not in kind else None
        return self._event(base, kind, C.PARTIAL_RESULT, run_id=self._run(obj), text=_text(delta))

    def _done(self, base: tuple, kind: str, obj: dict) -> Event:
        response = obj.get("response") if isinstance(obj.get("response"), dict) else {}
        run, status = self._run(obj), response.get("status")
        output = response.get("output") if isinstance(response.get("output"), list) else []
        calls = [i for i in output if isinstance(i, dict) and i.get("type") == "function_call"]
        if status == "completed" and calls:
            # The client owes the calls' output; the next Response continues this turn.
            return self._event(base, kind, C.CONTROL, run_id=run, text="function calls")
        canonical, failed = ENDINGS.get(status, (C.AGENT_COMPLETED, True))
        self.turn = None  # the turn is over: a later error names no run
        details = response.get("status_details")
        error = details.get("error") if isinstance(details, dict) else None
        text = error.get("message") if isinstance(error, dict) else None
        return self._event(
            base, kind, canonical, run_id=run, failed=failed, text=_text(text) or status
        )  # fmt: skip

    def _ack(self, base: tuple, kind: str, obj: dict) -> Event:
        item = _item(obj)
        call = _text(item.get("call_id"))
        if item.get("type") != "function_call_output" or not call or call in self.acked:
            return self._event(base, kind, C.CONTROL, run_id=self.turn)
        self.acked.add(call)
        self.continues = self.continues or call in self.calls
        return self._event(base, kind, C.TOOL_COMPLETED, run_id=self.turn, execution_id=call)

    def _error(self, base: tuple, kind: str, obj: dict) -> Event:
        error = obj.get("error") if isinstance(obj.get("error"), dict) else {}
        text = _text(error.get("message")) or "error"
        if self.turn is None and not self.asked:
            return self._event(base, kind, C.CONTROL, text=text)  # no turn in flight
        self.asked = False
        return self._event(base, kind, C.ERROR, run_id=self.turn, failed=True, text=text)


_CLIENT = MappingProxyType(
    {
        "conversation.item.create": RealtimeDecoder._item_create,
        "response.create": RealtimeDecoder._response_create,
    }
)
_SERVER = MappingProxyType(
    {
        "response.created": RealtimeDecoder._created,
        "response.output_item.added": RealtimeDecoder._item_added,
        **dict.fromkeys(DELTAS, RealtimeDecoder._delta),
        "response.done": RealtimeDecoder._done,
        **dict.fromkeys(ACKS, RealtimeDecoder._ack),
        "error": RealtimeDecoder._error,
    }
)

# Frames only the Realtime API sends: a session's opening and a Response's life cycle.
_TELLTALE = frozenset({"session.created", "session.updated", "response.created", "response.done"})


def sniff(obj: Mapping[str, Any], from_client: bool) -> bool:
    """Whether one decoded frame is OpenAI Realtime: its server's session or Response events,
    or a client's `response.create`."""
    kind = obj.get("type")
    if not isinstance(kind, str):  # a list is no name, and no set member
        return False
    return kind in _TELLTALE or (from_client and kind == "response.create")
