"""The OpenAI Responses API streamed over SSE as a wire protocol: one POST to /v1/responses is
one run, from the request (the user's message) to `response.completed | failed | incomplete`.

The mapping: `response.created` → agent_started (the Response's id names the run); a reasoning
output item and its summary and text deltas → agent_thinking; a `function_call` or
`custom_tool_call` output item → tool_executing (its `call_id` pairs it); a hosted tool
(`response.web_search_call.in_progress`, file search, code interpreter, image generation, MCP)
→ tool_executing, its `.completed` → tool_completed (`mcp_call.failed`: a tool error);
`response.output_text.delta`, refusal and audio transcript deltas → partial_result;
`response.completed` → agent_completed; `response.incomplete` → agent_completed that failed
gracefully (outcome `error`); `response.failed` and `error` → error. The other `response.*`
events (in_progress, content parts, `.done` events, argument deltas) stay on the run's timeline.

A function call is run by the client: the Response completes with the call in its output, and
the client's next request (`previous_response_id` set to this Response, or the whole input sent
again) carries a `function_call_output` item with its `call_id`. The output items at the end of a
request's `input` are its tool results, paired with their calls by pipeline/handoff.py."""

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
ENVELOPE = "openai-responses"
_HOSTED = ("web_search_call", "file_search_call", "code_interpreter_call",
           "image_generation_call", "mcp_call")  # fmt: skip
# The events whose kind does not depend on what they hold.
KINDS: Mapping[str, Canonical] = MappingProxyType(
    {
        "response.reasoning_summary_part.added": C.AGENT_THINKING,
        "response.reasoning_summary_text.delta": C.AGENT_THINKING,
        "response.reasoning_text.delta": C.AGENT_THINKING,
        "response.output_text.delta": C.PARTIAL_RESULT,
        "response.refusal.delta": C.PARTIAL_RESULT,
        "response.audio.transcript.delta": C.PARTIAL_RESULT,
        **{f"response.{tool}.in_progress": C.TOOL_EXECUTING for tool in _HOSTED},
        **{f"response.{tool}.completed": C.TOOL_COMPLETED for tool in _HOSTED},
        "response.mcp_call.failed": C.TOOL_ERROR,
    }
)
# An output item's start, by the item's type.
ITEMS: Mapping[str, Canonical] = MappingProxyType(
    {
        "reasoning": C.AGENT_THINKING,
        "function_call": C.TOOL_EXECUTING,
        "custom_tool_call": C.TOOL_EXECUTING,
    }
)
OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output"})
_INPUT_TEXT = frozenset({"input_text", "text"})


class ResponsesDecoder(StreamDecoder):
    """One request's decoder: the run's Response id, and each function call's name by its
    output item id (the argument deltas name only the item)."""

    ENVELOPE = ENVELOPE
    KINDS = KINDS

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, tuple[str | None, str | None]] = {}  # item id → (call id, name)

    def run_name(self, kind: str, obj: dict) -> str | None:
        return text_of(dict_of(obj, "response").get("id")) if kind == "response.created" else None

    def request(self, base: Base, obj: dict) -> tuple[Event, ...]:
        given = obj.get("input")
        items = [i for i in given if isinstance(i, dict)] if isinstance(given, list) else []
        said = given if isinstance(given, str) else _last_user_text(items)
        events = [self.event(base, "responses.create", C.USER_MESSAGE, text=said)]
        # The client's tool results: the output items after its last item of another type.
        tail = len(items)
        while tail and _type(items[tail - 1]) in OUTPUTS:
            tail -= 1
        for item in items[tail:]:
            events.append(self.event(
                base, str(item["type"]), C.TOOL_COMPLETED, call=text_of(item.get("call_id")),
                text=compact(item.get("output")),
            ))  # fmt: skip
        return tuple(events)

    def mapped(self, base: Base, kind: str, obj: dict) -> Event:
        canonical = self.KINDS[kind]
        item = text_of(obj.get("item_id"))
        call, tool = self.items.get(item or "", (None, None))
        if canonical in _TOOL_KINDS:  # a hosted tool: its item's id pairs it
            call, tool = item, kind.split(".")[1].removesuffix("_call")
        delta = obj.get("delta") if canonical is not C.TOOL_EXECUTING else None
        return self.event(base, kind, canonical, tool=tool, call=call, text=compact(delta or ""),
                          failed=canonical is C.TOOL_ERROR)  # fmt: skip

    def _created(self, base: Base, kind: str, obj: dict) -> Event:
        model = text_of(dict_of(obj, "response").get("model")) or ""
        return self.event(base, kind, C.AGENT_STARTED, text=model)

    def _item_added(self, base: Base, kind: str, obj: dict) -> Event:
        item = dict_of(obj, "item")
        itype = text_of(item.get("type")) or ""
        canonical = ITEMS.get(itype, C.TIMELINE)
        if canonical is not C.TOOL_EXECUTING:
            return self.event(base, kind, canonical, text=itype)
        call, tool = text_of(item.get("call_id")), text_of(item.get("name"))
        item_id = text_of(item.get("id"))
        if item_id:
            self.items[item_id] = (call, tool)
        return self.event(base, kind, canonical, tool=tool, call=call, text=tool or itype)

    def _ended(self, base: Base, kind: str, obj: dict) -> Event:
        response = dict_of(obj, "response")
        canonical, failed = ENDINGS[kind]
        why = dict_of(response, "error").get("message") or dict_of(
            response, "incomplete_details"
        ).get("reason")
        output = [i for i in list_of(response, "output") if isinstance(i, dict)]
        calls = [i for i in output if ITEMS.get(_type(i)) is C.TOOL_EXECUTING]
        text = text_of(why) or (f"{len(calls)} function calls" if calls else "") or kind[9:]
        return self.event(base, kind, canonical, failed=failed, text=text)

    def _error(self, base: Base, kind: str, obj: dict) -> Event:
        text = text_of(obj.get("message")) or text_of(obj.get("code")) or "error"
        return self.event(base, kind, C.ERROR, failed=True, text=text)

    def other(self, base: Base, kind: str, obj: dict) -> Event:
        # The API's other events belong to the Response on the wire: on its timeline.
        known = kind.startswith("response.")
        return self.event(base, kind, C.TIMELINE if known else C.UNKNOWN)

    SERVER = MappingProxyType(
        {
            **dict.fromkeys(KINDS, mapped),
            "response.created": _created,
            "response.output_item.added": _item_added,
            **dict.fromkeys(("response.completed", "response.incomplete", "response.failed"),
                            _ended),
            "error": _error,
        }
    )  # fmt: skip


_TOOL_KINDS = frozenset({C.TOOL_EXECUTING, C.TOOL_COMPLETED, C.TOOL_ERROR})
# How a Response ended its run: (kind, failed).
ENDINGS: Mapping[str, tuple[Canonical, bool]] = MappingProxyType(
    {
        "response.completed": (C.AGENT_COMPLETED, False),
        "response.incomplete": (C.AGENT_COMPLETED, True),
        "response.failed": (C.ERROR, True),
    }
)


def _type(item: dict) -> str:
    kind = item.get("type")
    return kind if isinstance(kind, str) else ""


def _last_user_text(items: list[dict]) -> str:
    for item in reversed(items):
        if item.get("role") == "user":
            return joined_text(item.get("content"), _INPUT_TEXT)
    return ""


@dataclass(frozen=True, slots=True)
class OpenAIResponses(StreamProtocol):
    """The Responses API stream; it has no options of its own."""

    name: ClassVar[str] = "openai-responses"
    DECODER: ClassVar[type[StreamDecoder]] = ResponsesDecoder
    hands_off: ClassVar[frozenset[str]] = frozenset({"response.output_item.added"})
    answers: ClassVar[frozenset[str]] = OUTPUTS


def sniff(obj: Mapping[str, Any], from_client: bool) -> bool:
    """Whether one decoded frame is the Responses API's: a request body with `model` and
    `input`, or a `response.*` event with the `sequence_number` Realtime's events lack."""
    if from_client:
        return "input" in obj and "model" in obj and "type" not in obj
    kind = obj.get("type")
    return isinstance(kind, str) and kind.startswith("response.") and "sequence_number" in obj
