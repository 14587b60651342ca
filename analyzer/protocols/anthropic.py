"""Anthropic's Messages API streamed over SSE (`event: NAME` + `data: {...}`) as a wire protocol:
one POST to /v1/messages is one run, from the request (the user's message) to `message_stop`.

The mapping: `message_start` → agent_started (the Message's id names the run); a content
block's start by its block: `thinking` / `redacted_thinking` → agent_thinking, `tool_use`,
`server_tool_use` and `mcp_tool_use` → tool_executing (its id pairs it), a `*_tool_result` block
→ tool_completed of the server's tool it answers; `thinking_delta` → agent_thinking,
`text_delta` → partial_result; `message_stop` → agent_completed, which failed gracefully
(outcome `error`) when `message_delta` said the answer was cut (`max_tokens`, `refusal`,
`model_context_window_exceeded`); a mid-stream `error` event → error. `ping` is control; text
blocks, the other deltas, block stops and `message_delta` stay on the run's timeline. A block's
start and delta are named by the block's or the delta's own type (`tool_use`, `text_delta`).

A `tool_use` block is run by the client: the stream stops (`stop_reason` `tool_use`) and the
client's next request carries a `tool_result` block with its `tool_use_id`. The request's last
message's tool_result blocks are that request's tool results, paired with their calls by
pipeline/handoff.py across requests."""

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
    dict_of,
    joined_text,
    list_of,
    text_of,
)

C = Canonical
ENVELOPE = "anthropic"
# A content block's start, by the block's type; *_tool_result blocks are tool_completed.
BLOCK_STARTS: Mapping[str, Canonical] = MappingProxyType(
    {
        "thinking": C.AGENT_THINKING,
        "redacted_thinking": C.AGENT_THINKING,
        "tool_use": C.TOOL_EXECUTING,
        "server_tool_use": C.TOOL_EXECUTING,
        "mcp_tool_use": C.TOOL_EXECUTING,
    }
)
DELTAS: Mapping[str, Canonical] = MappingProxyType(
    {"text_delta": C.PARTIAL_RESULT, "thinking_delta": C.AGENT_THINKING}
)
# Why the model stopped, when it means the user did not get the whole answer.
CUT_ANSWERS = frozenset({"max_tokens", "refusal", "model_context_window_exceeded"})
_TEXT = frozenset({"text"})
_NO_BLOCK: tuple[str, str | None, str | None] = ("", None, None)


def _index(obj: dict) -> int | None:
    index = obj.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else None


class AnthropicDecoder(StreamDecoder):
    """One request's decoder: the run's Message id, each open block by its index (its type,
    id and tool name), and the stop reason `message_delta` gave."""

    ENVELOPE = ENVELOPE
    KINDS = MappingProxyType({"ping": C.CONTROL})

    def __init__(self) -> None:
        super().__init__()
        self.blocks: dict[int, tuple[str, str | None, str | None]] = {}
        self.tools: dict[str, str] = {}  # a tool call's name by its id
        self.stop_reason: str | None = None

    def run_name(self, kind: str, obj: dict) -> str | None:
        return text_of(dict_of(obj, "message").get("id")) if kind == "message_start" else None

    def request(self, base: Base, obj: dict) -> tuple[Event, ...]:
        messages = [m for m in list_of(obj, "messages") if isinstance(m, dict)]
        last = messages[-1] if messages else {}
        said = joined_text(last.get("content"), _TEXT) if last.get("role") == "user" else ""
        events = [self.event(base, "messages.create", C.USER_MESSAGE, text=said)]
        if last.get("role") == "user" and isinstance(last.get("content"), list):
            for block in last["content"]:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    failed = block.get("is_error") is True
                    events.append(self.event(
                        base, "tool_result", C.TOOL_ERROR if failed else C.TOOL_COMPLETED,
                        call=text_of(block.get("tool_use_id")), failed=failed,
                        text=compact(block.get("content")),
                    ))  # fmt: skip
        return tuple(events)

    def _message_start(self, base: Base, kind: str, obj: dict) -> Event:
        model = text_of(dict_of(obj, "message").get("model")) or ""
        return self.event(base, kind, C.AGENT_STARTED, text=model)

    def _block_start(self, base: Base, kind: str, obj: dict) -> Event:
        block = dict_of(obj, "content_block")
        btype = text_of(block.get("type")) or kind
        index = _index(obj)
        if btype.endswith("_tool_result"):
            call = text_of(block.get("tool_use_id"))
            tool = self.tools.get(call or "")
            return self.event(base, btype, C.TOOL_COMPLETED, tool=tool, call=call, text=tool or "")
        call, tool = text_of(block.get("id")), text_of(block.get("name"))
        if index is not None:
            self.blocks[index] = (btype, call, tool)
        canonical = BLOCK_STARTS.get(btype, C.TIMELINE)
        if canonical is not C.TOOL_EXECUTING:
            return self.event(base, btype, canonical)
        if call and tool:
            self.tools[call] = tool
        return self.event(base, btype, canonical, tool=tool, call=call, text=tool or "")

    def _block_delta(self, base: Base, kind: str, obj: dict) -> Event:
        delta = dict_of(obj, "delta")
        dtype = text_of(delta.get("type")) or kind
        canonical = DELTAS.get(dtype, C.TIMELINE)
        _, call, tool = self.blocks.get(_index(obj), _NO_BLOCK)
        text = delta.get("text") or delta.get("thinking") or delta.get("partial_json")
        return self.event(base, dtype, canonical, tool=tool, call=call, text=compact(text or ""))

    def _block_stop(self, base: Base, kind: str, obj: dict) -> Event:
        _, call, tool = self.blocks.pop(_index(obj), _NO_BLOCK)
        return self.event(base, kind, C.TIMELINE, tool=tool, call=call)

    def _message_delta(self, base: Base, kind: str, obj: dict) -> Event:
        self.stop_reason = text_of(dict_of(obj, "delta").get("stop_reason")) or self.stop_reason
        return self.event(base, kind, C.TIMELINE, text=self.stop_reason or "")

    def _message_stop(self, base: Base, kind: str, obj: dict) -> Event:
        reason = self.stop_reason or ""
        return self.event(base, kind, C.AGENT_COMPLETED, failed=reason in CUT_ANSWERS, text=reason)

    def _error(self, base: Base, kind: str, obj: dict) -> Event:
        error = dict_of(obj, "error")
        text = text_of(error.get("message")) or text_of(error.get("type")) or "error"
        return self.event(base, kind, C.ERROR, failed=True, text=text)

    SERVER = MappingProxyType(
        {
            **dict.fromkeys(KINDS, StreamDecoder.mapped),
            "message_start": _message_start,
            "content_block_start": _block_start,
            "content_block_delta": _block_delta,
            "content_block_stop": _block_stop,
            "message_delta": _message_delta,
            "message_stop": _message_stop,
            "error": _error,
        }
    )


@dataclass(frozen=True, slots=True)
class Anthropic(StreamProtocol):
    """Anthropic's Messages stream; it has no options of its own."""

    name: ClassVar[str] = "anthropic"
    DECODER: ClassVar[type[StreamDecoder]] = AnthropicDecoder
    PINGS: ClassVar[frozenset[str]] = frozenset({"ping"})
    hands_off: ClassVar[frozenset[str]] = frozenset({"tool_use"})
    answers: ClassVar[frozenset[str]] = frozenset({"tool_result"})


# Events only the Messages stream sends (ping and error are too common a name to tell it).
_TELLTALE = frozenset(
    {"message_start", "content_block_start", "content_block_delta", "message_delta",
     "message_stop"}
)  # fmt: skip


def sniff(obj: Mapping[str, Any], from_client: bool) -> bool:
    """Whether one decoded frame is Anthropic's: a Messages stream event, or a request body
    with `messages` and `max_tokens`."""
    if from_client:
        return "messages" in obj and "max_tokens" in obj
    kind = obj.get("type")
    return isinstance(kind, str) and kind in _TELLTALE
