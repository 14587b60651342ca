"""The HTTP stream transport's pure parts (recorder/transports/sse.py), beside the end-to-end
tests: how each of mitmproxy's error messages (HTTP/1, /2 and /3) becomes a close, and the tap
mitmproxy calls with each chunk, fed as mitmproxy feeds it."""

from __future__ import annotations

import zlib
from types import SimpleNamespace

import pytest

from wstape.recorder.transports.event_stream import NdjsonParser, SseParser, StreamEvent
from wstape.recorder.transports.sse import StreamTap, ended


@pytest.mark.parametrize(
    "message, end, closed_by",
    [
        ("Client disconnected.", "abort", "client"),  # HTTP/1
        ("stream reset by client (CANCEL)", "abort", "client"),  # HTTP/2
        ("stream closed by client (H3_REQUEST_CANCELLED)", "abort", "client"),  # HTTP/3
        ("HTTP/1 protocol error: peer closed connection without sending complete message "
         "body (incomplete chunked read)", "reset", "server"),
        ("server closed connection", "reset", "server"),
        ("HTTP/2 connection closed: <ConnectionTerminated error_code:0>", "reset", "server"),
        ("Connection killed.", "reset", "server"),
    ],
)  # fmt: skip
def test_mitmproxy_error_messages_tell_an_abort_from_a_reset(message, end, closed_by):
    flow = SimpleNamespace(id="f", error=SimpleNamespace(msg=message), response=None)
    close = ended(flow)
    assert (close.end, close.closed_by, close.reason, close.code) == (end, closed_by, message, None)


def collect() -> tuple[list, list]:
    events: list[StreamEvent] = []
    return events, lambda connection, ts, event: events.append(event)


def test_tap_returns_each_chunk_unchanged_and_ends_on_the_empty_chunk():
    events, sink = collect()
    tap = StreamTap("f", NdjsonParser(), sink, on_error=pytest.fail)
    for chunk in (b'{"a": 1}\n{"b"', b": 2}\n", b'{"c": 3}'):
        assert tap(chunk) is chunk
    assert [e.data for e in events] == [b'{"a": 1}', b'{"b": 2}']
    assert tap(b"") == b""  # mitmproxy's end-of-body call: the last line without its newline
    assert [e.data for e in events][-1] == b'{"c": 3}'


def test_tap_keeps_what_another_addons_stream_callable_makes_of_a_chunk():
    events, sink = collect()

    def upper(chunk: bytes):  # a generator, as mitmproxy allows
        yield chunk.upper()

    tap = StreamTap("f", SseParser(), sink, on_error=pytest.fail, inner=upper)
    assert tap(b"data: a\n\ndata: b\n\n") == [b"DATA: A\n\nDATA: B\n\n"]
    assert events == []  # "DATA" is not a field the standard knows: what the client reads


def test_tap_decodes_a_gzip_body_split_anywhere():
    events, sink = collect()
    body = b"".join(b"data: %d\n\n" % n for n in range(50))
    packed = zlib.compress(body, wbits=31)
    tap = StreamTap("f", SseParser(), sink, on_error=pytest.fail,
                    decode=zlib.decompressobj(zlib.MAX_WBITS | 32).decompress)  # fmt: skip
    for start in range(0, len(packed), 7):
        tap(packed[start : start + 7])
    tap(b"")
    assert [e.data for e in events] == [b"%d" % n for n in range(50)]


def test_tap_never_raises_it_reports_once_and_stops_parsing():
    errors: list[Exception] = []

    def broken_sink(connection, ts, event):
        raise RuntimeError("disk on fire")

    tap = StreamTap("f", SseParser(), broken_sink, on_error=errors.append)
    assert tap(b"data: 1\n\n") == b"data: 1\n\n"
    assert tap(b"data: 2\n\n") == b"data: 2\n\n"
    assert tap(b"") == b""
    assert [str(e) for e in errors] == ["disk on fire"] and tap.broken
