"""The Vercel AI SDK's UI message stream (what `useChat` reads: `data: {part}` events, ending with
`data: [DONE]`) as a wire protocol: one POST of the chat's messages is one run, from the request
(the user's message) to `finish`.

The mapping: `start` → agent_started (its `messageId` names the run); `reasoning-start`,
`-delta`, `-end` → agent_thinking; a tool call's first `tool-input-start` or
`tool-input-available` → tool_executing (its `toolCallId` pairs it), `tool-output-available` and
`tool-output-denied` → tool_completed, `tool-output-error` and `tool-input-error` → a tool error;
`text-delta` → partial_result; `finish` → agent_completed, which failed gracefully (outcome
`error`) when its `finishReason` says the answer was cut (`length`, `content-filter`, `error`);
`error` and `abort` (the user stopped it) → error. `[DONE]` is the stream's terminator, control
traffic, not a bad frame; steps, text starts and ends, tool input deltas, sources, files,
metadata and `data-*` parts stay on the run's timeline.

A tool with no `execute` on the server is run by the client: the stream finishes with its input
available (`tool-input-available`) and no output, and the client posts the chat again with the
tool's part in state `output-available`; pipeline/handoff.py pairs it with its call across the
requests. A call whose input never became whole is no one's to run: unpaired at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from wstape.analyzer.protocols.events import Canonical, Event
from wstape.analyzer.protocols.http_stream import (
    Base,
    StreamDecoder,
    StreamProtocol,
    compact,
    joined_text,
    list_of,
    text_of,
)

C = Canonical
ENVELOPE = "vercel-ai"
DONE = b"[DONE]"
_TIMELINE = (
    "start-step", "finish-step", "text-start", "text-end", "tool-input-delta",
    "tool-approval-request", "source-url", "source-document", "file", "message-metadata",
)  # fmt: skip
KINDS: Mapping[str, Canonical] = MappingProxyType(
    {
        **dict.fromkeys(("reasoning-start", "reasoning-delta", "reasoning-end"), C.AGENT_THINKING),
        "text-delta": C.PARTIAL_RESULT,
        "tool-output-available": C.TOOL_COMPLETED,
        "tool-output-denied": C.TOOL_COMPLETED,
        "tool-output-error": C.TOOL_ERROR,
        "tool-input-error": C.TOOL_ERROR,
        **dict.fromkeys(_TIMELINE, C.TIMELINE),
    }
)
# finishReason values that mean the user did not get the whole answer.
CUT_ANSWERS = frozenset({"length", "content-filter", "error"})
# A tool part the client filled in: the states that carry its result.
ANSWERED = MappingProxyType({"output-available": C.TOOL_COMPLETED, "output-error": C.TOOL_ERROR})
_TEXT = frozenset({"text"})


class VercelDecoder(StreamDecoder):
    """One request's decoder: the run's message id, and each tool call's name by its id (the
    parts after the first name only the id)."""

    ENVELOPE = ENVELOPE
    TERMINATORS = frozenset({DONE})
    KINDS = KINDS

    def __init__(self) -> None:
        super().__init__()
        self.tools: dict[str, str | None] = {}

    def run_name(self, kind: str, obj: dict) -> str | None:
        return text_of(obj.get("messageId")) if kind == "start" else None

    def request(self, base: Base, obj: dict) -> tuple[Event, ...]:
        messages = [m for m in list_of(obj, "messages") if isinstance(m, dict)]
        last = messages[-1] if messages else {}
        parts = [p for p in list_of(last, "parts") if isinstance(p, dict)]
        said = joined_text(parts, _TEXT) if last.get("role") == "user" else ""
        kind = text_of(obj.get("trigger")) or "request"
        events = [self.event(base, kind, C.USER_MESSAGE, text=said)]
        if last.get("role") != "assistant":
            return tuple(events)
        for part in parts:  # a client-run tool's part, its result filled in
            state, ptype = part.get("state"), part.get("type")
            canonical = ANSWERED.get(state) if isinstance(state, str) else None
            if canonical and isinstance(ptype, str) and ptype.startswith(("tool-", "dynamic-")):
                result = (
                    part.get("output") if canonical is C.TOOL_COMPLETED else part.get("errorText")
                )
                events.append(self.event(
                    base, "tool-output-available", canonical, tool=text_of(part.get("toolName"))
                    or ptype.removeprefix("tool-"), call=text_of(part.get("toolCallId")),
                    failed=canonical is C.TOOL_ERROR, text=compact(result),
                ))  # fmt: skip
        return tuple(events)

    def mapped(self, base: Base, kind: str, obj: dict) -> Event:
        canonical = self.KINDS[kind]
        call = text_of(obj.get("toolCallId")) or text_of(obj.get("id"))
        tool = self.tools.get(call or "")
        text = obj.get("delta") or obj.get("errorText") or obj.get("output") or ""
        if kind == "tool-output-available" and obj.get("preliminary") is True:
            canonical = C.TIMELINE  # a preliminary result: the tool goes on
        return self.event(base, kind, canonical, tool=tool, call=call, text=compact(text),
                          failed=canonical is C.TOOL_ERROR)  # fmt: skip

    def _start(self, base: Base, kind: str, obj: dict) -> Event:
        return self.event(base, kind, C.AGENT_STARTED)

    def _tool_input(self, base: Base, kind: str, obj: dict) -> Event:
        call, tool = text_of(obj.get("toolCallId")), text_of(obj.get("toolName"))
        # A call's first part starts it; without streamed input, that is its input-available.
        canonical = C.TIMELINE if call in self.tools else C.TOOL_EXECUTING
        if call:
            self.tools[call] = tool or self.tools.get(call)
        return self.event(base, kind, canonical, tool=tool, call=call, text=tool or "")

    def _finish(self, base: Base, kind: str, obj: dict) -> Event:
        reason = text_of(obj.get("finishReason")) or ""
        return self.event(base, kind, C.AGENT_COMPLETED, failed=reason in CUT_ANSWERS, text=reason)

    def _error(self, base: Base, kind: str, obj: dict) -> Event:
        text = text_of(obj.get("errorText")) or ("aborted" if kind == "abort" else "error")
        return self.event(base, kind, C.ERROR, failed=True, text=text)

    def other(self, base: Base, kind: str, obj: dict) -> Event:
        # `data-*` parts are the app's own data, on the run's timeline.
        return self.event(base, kind, C.TIMELINE if kind.startswith("data-") else C.UNKNOWN)

    SERVER = MappingProxyType(
        {
            **dict.fromkeys(KINDS, mapped),
            "start": _start,
            "tool-input-start": _tool_input,
            "tool-input-available": _tool_input,
            "finish": _finish,
            "error": _error,
            "abort": _error,
        }
    )


@dataclass(frozen=True, slots=True)
class VercelAI(StreamProtocol):
    """The AI SDK's UI message stream; it has no options of its own."""

    name: ClassVar[str] = "vercel-ai"
    DECODER: ClassVar[type[StreamDecoder]] = VercelDecoder
    minted_ids: ClassVar[tuple[str, ...]] = ("run_id",)  # the server names the message
    # The stream does not say who runs a tool: one whose input is whole and whose output the
    # stream did not send is the client's.
    hands_off: ClassVar[frozenset[str]] = frozenset({"tool-input-available"})
    answers: ClassVar[frozenset[str]] = frozenset({"tool-output-available"})


# Parts only the UI message stream sends ("start" and "finish" are too common a name).
_TELLTALE = frozenset(
    {"start-step", "finish-step", "text-start", "text-delta", "reasoning-start",
     "reasoning-delta", "tool-input-start", "tool-input-available", "tool-output-available"}
)  # fmt: skip


def sniff(obj: Mapping[str, Any], from_client: bool) -> bool:
    """Whether one decoded frame is the UI message stream's: one of its parts, or a request
    whose messages are UIMessages (with `parts`)."""
    if not from_client:
        kind = obj.get("type")
        return isinstance(kind, str) and kind in _TELLTALE
    messages = obj.get("messages")
    return isinstance(messages, list) and any(
        isinstance(m, dict) and isinstance(m.get("parts"), list) for m in messages
    )
