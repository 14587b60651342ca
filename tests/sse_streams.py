"""What the SSE recording tests share: streams built with each protocol's own package (Anthropic
Messages, OpenAI Responses, AG-UI), cut into chunks where a test chooses, served by the scripted
backend (demo/sse_backend.py) in a real process, and read by a real HTTP client (the standard
library's) that notes when each chunk arrived."""

from __future__ import annotations

import http.client
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from anthropic.types import (
    InputJSONDelta,
    MessageDeltaUsage,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextBlock,
    TextDelta,
    ToolUseBlock,
    Usage,
)
from anthropic.types import (
    Message as AnthropicMessage,
)
from anthropic.types.raw_message_delta_event import Delta
from conftest import Processes, wait_listening
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseTextDeltaEvent,
)

from wstape.demo.loopback import free_port
from wstape.recorder.capture import Close, Message, Open, read_capture


def sse(name: str | None, data: str, event_id: str | None = None) -> str:
    """One event in the text/event-stream framing, a data line per line of `data`."""
    head = (f"event: {name}\n" if name else "") + (f"id: {event_id}\n" if event_id else "")
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


def cut(body: str, sizes: Sequence[int] = (7, 150, 33, 400), delay: float = 0.01) -> list:
    """`body` as chunks of the given sizes in turn, `delay` apart: some chunks end inside an
    event, some hold several."""
    chunks, start, n = [], 0, 0
    while start < len(body):
        size = sizes[n % len(sizes)]
        chunks.append((delay if chunks else 0.0, body[start : start + size]))
        start, n = start + size, n + 1
    return chunks


def anthropic_events(text: str = "Here are the results", tool: bool = True) -> list:
    """A Messages API stream as the anthropic package models it: a thinking-free turn with a
    text block and a tool_use block, stopping for the tool."""
    message = AnthropicMessage(id="msg_1", type="message", role="assistant", model="claude-test",
                               content=[], stop_reason=None, stop_sequence=None,
                               usage=Usage(input_tokens=12, output_tokens=1))  # fmt: skip
    events = [RawMessageStartEvent(type="message_start", message=message),
              RawContentBlockStartEvent(type="content_block_start", index=0,
                                        content_block=TextBlock(type="text", text=""))]  # fmt: skip
    events += [RawContentBlockDeltaEvent(type="content_block_delta", index=0,
                                         delta=TextDelta(type="text_delta", text=word + " "))
               for word in text.split()]  # fmt: skip
    events.append(RawContentBlockStopEvent(type="content_block_stop", index=0))
    if tool:
        block = ToolUseBlock(type="tool_use", id="toolu_1", name="search", input={})
        events += [
            RawContentBlockStartEvent(type="content_block_start", index=1, content_block=block),
            RawContentBlockDeltaEvent(type="content_block_delta", index=1, delta=InputJSONDelta(
                type="input_json_delta", partial_json='{"query": "demo"}')),
            RawContentBlockStopEvent(type="content_block_stop", index=1),
        ]  # fmt: skip
    stop = "tool_use" if tool else "end_turn"
    events += [RawMessageDeltaEvent(type="message_delta", usage=MessageDeltaUsage(output_tokens=9),
                                    delta=Delta(stop_reason=stop, stop_sequence=None)),
               RawMessageStopEvent(type="message_stop")]  # fmt: skip
    return events


def anthropic_body(events: Iterable, pings: int = 2) -> tuple[str, list[tuple[str, str]]]:
    """The stream's text, with `event: ping` events and a comment after the first events as the
    API sends them, and the (event name, data) pairs a recording must hold, in order."""
    body, expected = "", []
    for n, event in enumerate(events):
        data = event.model_dump_json()
        body += sse(event.type, data)
        expected.append((event.type, data))
        if n < pings:
            body += sse("ping", '{"type": "ping"}') + ": keep-alive\n\n"
            expected.append(("ping", '{"type": "ping"}'))
    return body, expected


def responses_events(text: str = "Here are the results") -> list:
    """A Responses API stream as the openai package models it: created, text deltas, completed."""

    def response(status: str) -> Response:
        return Response(id="resp_1", created_at=1.0, model="gpt-test", object="response",
                        output=[], parallel_tool_calls=True, tool_choice="auto", tools=[],
                        status=status)  # fmt: skip

    events: list = [ResponseCreatedEvent(type="response.created", sequence_number=0,
                                         response=response("in_progress"))]  # fmt: skip
    for n, word in enumerate(text.split(), 1):
        events.append(ResponseTextDeltaEvent(
            type="response.output_text.delta", sequence_number=n, item_id="msg_1",
            output_index=0, content_index=0, delta=word + " ", logprobs=[]))  # fmt: skip
    events.append(ResponseCompletedEvent(type="response.completed", sequence_number=n + 1,
                                         response=response("completed")))  # fmt: skip
    return events


@dataclass
class SseBackend:
    """demo/sse_backend.py running a script, and the requests it received."""

    port: int
    requests_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[dict]:
        return [json.loads(line) for line in self.requests_path.read_text().splitlines()]


def start_sse_backend(processes: Processes, responses: list, repeat: bool = False) -> SseBackend:
    where = processes.log_dir / f"sse-{len(processes.started)}"
    script, requests = where.with_suffix(".json"), where.with_suffix(".requests")
    script.write_text(json.dumps({"responses": responses, "repeat": repeat}))
    port = free_port()
    proc = processes.start([sys.executable, "-m", "wstape.demo.sse_backend", "--port", str(port),
                            "--script", str(script), "--requests", str(requests)],
                           "sse-backend")  # fmt: skip
    wait_listening(port, proc)
    return SseBackend(port, requests)


@dataclass
class Received:
    """What a client got: the status, the headers, the body's chunks with their arrival times,
    and the error that ended the body early (None when it ended as HTTP says it should)."""

    status: int
    headers: dict[str, str]  # names lower-cased
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    error: str | None = None

    @property
    def body(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)


def fetch(url: str, body: object = None, headers: dict | None = None, proxy: str | None = None,
          stop_after: bytes | None = None, on_chunk: Callable[[Received], None] | None = None
          ) -> Received:  # fmt: skip
    """POSTs `body` as JSON and reads the response as it arrives (the standard library's HTTP
    client: a chunk as soon as it is there, undecoded), calling `on_chunk` after each; with
    `stop_after`, leaves (closes the connection) once the body holds it."""
    target = urlsplit(url)
    via = urlsplit(proxy) if proxy else target
    path = url if proxy else target.path + (f"?{target.query}" if target.query else "")
    connection = http.client.HTTPConnection(via.hostname, via.port, timeout=30)
    try:
        data = json.dumps(body).encode()
        connection.request("POST", path, data, {"Content-Type": "application/json",
                                                **(headers or {})})  # fmt: skip
        response = connection.getresponse()
        got = Received(response.status, {k.lower(): v for k, v in response.getheaders()})
        try:
            while chunk := response.read1(1 << 16):
                got.chunks.append((time.time(), chunk))
                if on_chunk is not None:
                    on_chunk(got)
                if stop_after is not None and stop_after in got.body:
                    break
        except (http.client.HTTPException, OSError) as exc:
            got.error = f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    return got


@dataclass
class Stream:
    """One recorded HTTP stream: its open, its messages (the request first) and its close."""

    open: Open
    messages: list[Message]
    close: Close | None

    @property
    def events(self) -> list[tuple[str | None, str]]:
        return [(m.event, m.payload.decode()) for m in self.messages if not m.from_client]


def recorded_streams(capture: Path, warn=None) -> list[Stream]:
    """The HTTP streams of a capture (not its WebSocket connections), in the order they opened."""
    streams: dict[str, Stream] = {}
    for record in read_capture(capture, warn=warn):
        if isinstance(record, Open):
            streams[record.connection] = Stream(record, [], None)
        elif isinstance(record, Message):
            streams[record.connection].messages.append(record)
        elif isinstance(record, Close):
            streams[record.connection].close = record
    return [s for s in streams.values() if s.open.transport != "websocket"]
