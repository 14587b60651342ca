"""The HTTP stream transport: a request whose response is a server-sent event stream or
newline-delimited JSON, as capture records (an open, the request body, each event, the end).

The addon's `responseheaders` hook sets a `StreamTap` as the response's `stream`, so mitmproxy
forwards each chunk as it arrives and the tap parses a copy (recorder/transports/event_stream.py);
its `response` and `error` hooks hand the flow to `ended`. Duck-types the flow: no mitmproxy.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from wstape.recorder.records import Close, Message, Open
from wstape.recorder.redact import redact_handshake
from wstape.recorder.transports.event_stream import NdjsonParser, SseParser, StreamEvent
from wstape.recorder.transports.event_stream import stream_kind as _stream_kind
from wstape.recorder.transports.websocket import address

# How a stream that did not complete ended, by the start of mitmproxy's error message (its
# HTTP/1, HTTP/2 and HTTP/3 layers say the same in 11.0.2 and 12): these say the client went
# away; anything else (the server closed, an incomplete chunked body, a protocol error, a
# connection that failed) is the server or the network. An HTTP/2 *server* that resets its
# stream is also reported "stream reset by client" by mitmproxy, and is recorded as an abort.
CLIENT_LEFT = ("Client disconnected", "stream reset by client", "stream closed by client")
ENDS = {True: ("abort", "client"), False: ("reset", "server")}

Sink = Callable[[str, float, StreamEvent], None]


def _gzip() -> Callable[[bytes], bytes]:
    return zlib.decompressobj(zlib.MAX_WBITS | 32).decompress  # gzip or zlib framing, either


def _brotli() -> Callable[[bytes], bytes]:
    import brotli  # mitmproxy depends on it: present wherever the recorder runs

    return brotli.Decompressor().process


def _zstd() -> Callable[[bytes], bytes]:
    import zstandard  # as brotli

    return zstandard.ZstdDecompressor().decompressobj().decompress


# Content-Encoding → a fresh incremental decoder: the tap parses what the client will read.
DECODERS: dict[str, Callable[[], Callable[[bytes], bytes]] | None] = {
    "": None,
    "identity": None,
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _gzip,
    "br": _brotli,
    "zstd": _zstd,
}


def stream_kind(response) -> tuple[str, type[SseParser] | type[NdjsonParser]] | None:
    """("sse", SseParser) or ("ndjson", NdjsonParser) for a response wstape records; else None."""
    return _stream_kind(response.headers.get("content-type"))


@dataclass(slots=True)
class StreamTap:
    """What the addon sets as `flow.response.stream`: mitmproxy calls it with each chunk of the
    body as it arrives, and once with b"" at its end, and forwards what it returns (the chunk,
    unchanged). It parses a copy and hands each complete event to `sink`, stamped when the chunk
    that completed it arrived; only a partial event is held. It never raises: the first failure
    goes to `on_error` and the tap stops parsing, while the stream goes on."""

    connection: str
    parser: SseParser | NdjsonParser
    sink: Sink
    on_error: Callable[[Exception], None]
    decode: Callable[[bytes], bytes] | None = None
    inner: Callable | None = None  # a stream callable another addon set before us
    broken: bool = False

    def __call__(self, chunk: bytes) -> bytes | Iterable[bytes]:
        out = chunk if self.inner is None else self.inner(chunk)
        if self.broken:
            return out
        try:
            if isinstance(out, bytes):
                self._record(out)
            else:
                out = list(out)  # an iterator is read once: keep what it gave for mitmproxy
                for piece in out:
                    self._record(piece)
            if not chunk:
                self._finish()
        except Exception as exc:
            self.broken = True
            self.on_error(exc)
        return out

    def _record(self, chunk: bytes) -> None:
        if chunk:
            self._emit(self.parser.feed(self.decode(chunk) if self.decode else chunk))

    def _finish(self) -> None:
        """The end of the body: what a decoder and the parser still hold."""
        if self.decode is not None:
            self._emit(self.parser.feed(self.decode(b"")))
        self._emit(self.parser.end())

    def _emit(self, events: list[StreamEvent]) -> None:
        if events:
            now = time.time()
            for event in events:
                self.sink(self.connection, now, event)


def tap(flow, parser: SseParser | NdjsonParser, sink: Sink, on_error) -> StreamTap:
    """The tap for a stream flow, decoding its Content-Encoding (ValueError if unknown)."""
    encoding = flow.response.headers.get("content-encoding", "").strip().lower()
    if encoding not in DECODERS:
        raise ValueError(f"{flow.request.pretty_url}: cannot read a {encoding!r} encoded stream")
    make = DECODERS[encoding]
    inner = flow.response.stream if callable(flow.response.stream) else None
    return StreamTap(flow.id, parser, sink, on_error, make() if make else None, inner)


def tap_of(flow) -> StreamTap | None:
    """The flow's tap, if the recorder is recording its stream."""
    response = flow.response
    stream = response.stream if response is not None else None
    return stream if isinstance(stream, StreamTap) else None


def opened(flow, transport: str, redact: bool) -> Open:
    """The open record: the request and response headers after redaction, at the time the
    request began (its body, the user's message, follows at the time it was sent)."""
    request, response = flow.request, flow.response
    req_headers = tuple(request.headers.items(multi=True))
    resp_headers = tuple(response.headers.items(multi=True))
    url, path = request.pretty_url, request.path
    if redact:
        url, path, req_headers, resp_headers, _ = redact_handshake(
            url, path, req_headers, resp_headers, None
        )
    return Open(
        connection=flow.id,
        ts=request.timestamp_start or time.time(),
        url=url,
        path=path,
        subprotocol=None,
        client=address(flow.client_conn.peername),
        server=address(flow.server_conn.peername or flow.server_conn.address),
        request_headers=req_headers,
        response_headers=resp_headers,
        transport=transport,
        method=request.method,
        status=response.status_code,
    )


def request_message(flow) -> Message:
    """The request body as one client message (empty for a request without one), text when it
    is UTF-8, stamped when the request was sent."""
    request = flow.request
    try:
        body = request.content or b""  # decoded from its Content-Encoding
    except ValueError:
        body = request.raw_content or b""
    try:
        body.decode()
        is_text = True
    except UnicodeDecodeError:
        is_text = False
    ts = request.timestamp_end or request.timestamp_start or time.time()
    return Message(flow.id, ts, True, is_text, body)


def ended(flow) -> Close:
    """The close: "complete" when the body ended as HTTP says it should, else, from mitmproxy's
    error message, "abort" (the client left) or "reset" (the server or the network cut it)."""
    if flow.error is None:
        ts = (flow.response.timestamp_end if flow.response else None) or time.time()
        return Close(flow.id, ts, None, "", "server", "complete")
    message = flow.error.msg
    end, closed_by = ENDS[message.startswith(CLIENT_LEFT)]
    return Close(flow.id, time.time(), None, message, closed_by, end)
