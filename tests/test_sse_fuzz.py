"""The HTTP stream protocols' decoders and sniffers on hostile frames: any JSON under their own
event types and field names (a list where an object belongs, an object where an index does)
gives events of a known kind, never an exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wstape.analyzer.protocols.anthropic import Anthropic, AnthropicDecoder
from wstape.analyzer.protocols.events import Canonical, Frame
from wstape.analyzer.protocols.openai_responses import OpenAIResponses, ResponsesDecoder
from wstape.analyzer.protocols.registry import sniff
from wstape.analyzer.protocols.vercel_ai import VercelAI, VercelDecoder

pytestmark = pytest.mark.fuzz

FIELDS = st.sampled_from([
    "type", "index", "content_block", "delta", "message", "id", "name", "tool_use_id", "error",
    "response", "item", "item_id", "call_id", "output", "input", "messages", "content", "role",
    "parts", "state", "toolCallId", "toolName", "messageId", "finishReason", "errorText",
    "preliminary", "is_error", "stop_reason", "status", "text", "sequence_number",
])  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(FIELDS | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
DECODERS = {
    Anthropic.name: AnthropicDecoder,
    OpenAIResponses.name: ResponsesDecoder,
    VercelAI.name: VercelDecoder,
}
TYPES = sorted(
    {*AnthropicDecoder.SERVER, *ResponsesDecoder.SERVER, *VercelDecoder.SERVER, "tool_result",
     "function_call_output", "tool-getWeather", "data-x", "response.other"}
)  # fmt: skip


def frames():
    body = st.dictionaries(FIELDS, json_values, max_size=6)
    typed = st.builds(lambda t, b: {**b, "type": t}, st.sampled_from(TYPES) | json_values, body)
    return st.lists(st.tuples(body | typed, st.booleans()), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(sent=frames(), protocol=st.sampled_from(sorted(DECODERS)))
@example(
    sent=[({"messages": [{"role": "assistant", "parts": [{"state": []}]}]}, True)],
    protocol=VercelAI.name,
)
@example(sent=[({"input": [{"type": []}]}, True)], protocol=OpenAIResponses.name)
@example(
    sent=[({"type": "response.completed", "response": {"output": [{"type": {}}]}}, False)],
    protocol=OpenAIResponses.name,
)
@example(sent=[({"type": "content_block_delta", "index": [1]}, False)], protocol=Anthropic.name)
def test_a_decoder_reads_any_frame_of_its_shape_without_raising(sent, protocol) -> None:
    decoder = DECODERS[protocol]()
    for n, (obj, from_client) in enumerate(sent):
        frame = Frame("c", float(n), from_client, True, json.dumps(obj).encode())
        for event in decoder.feed(frame):
            assert isinstance(event.canonical, Canonical)
            for value in (event.run_id, event.tool_name, event.execution_id, event.text):
                assert value is None or isinstance(value, str)
    assert decoder.end(99.0) == ()


@settings(max_examples=150, deadline=None)
@given(sent=frames())
def test_sniffing_reads_any_frame_without_raising(sent) -> None:
    found = sniff((json.dumps(obj).encode(), from_client) for obj, from_client in sent)
    assert isinstance(found, str)
