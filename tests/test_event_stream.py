"""The incremental SSE and NDJSON parsers (recorder/transports/event_stream.py): pure logic, fed
the same body in any chunking, must give the same events as the standard defines them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstape.recorder.transports.event_stream import (
    NdjsonParser,
    SseParser,
    StreamEvent,
    stream_kind,
)

BODY = (
    b"\xef\xbb\xbf: a comment, then an event split over two data lines\r\n"
    b"event: message_start\r\n"
    b"id: 1\r\n"
    b'data: {"type":\r\n'
    b'data:"message_start"}\r\n'
    b"\r\n"
    b"event: ping\n"
    b'data: {"type": "ping"}\n'
    b"\n"
    b": keep-alive\r\r"
    b"retry: 3000\n"
    b"retry: 12x\n"
    b"id: bad\x00id\n"
    b"unknown: field\n"
    b"data\n"
    b"\n"
    b"data: [DONE]\n\n"
    b"data: never closed by a blank line\n"
)

EXPECTED = [
    StreamEvent(b'{"type":\n"message_start"}', "message_start", "1"),
    StreamEvent(b'{"type": "ping"}', "ping"),
    StreamEvent(b"", retry=3000),
    StreamEvent(b"[DONE]"),
]


def parse(parser, chunks) -> list[StreamEvent]:
    events = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.end()


def test_sse_fields_are_joined_and_kept_as_the_standard_says() -> None:
    parser = SseParser()
    assert parse(parser, [BODY]) == EXPECTED
    assert parser.control == 2  # the two comments; the lone blank line after `\r\r` is none


@given(st.lists(st.integers(min_value=0, max_value=len(BODY)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(BODY)]
    chunks = [BODY[a:b] for a, b in zip(points, points[1:], strict=False)]
    assert parse(SseParser(), chunks) == EXPECTED


def test_one_byte_at_a_time_including_between_cr_and_lf() -> None:
    assert parse(SseParser(), [BODY[i : i + 1] for i in range(len(BODY))]) == EXPECTED


def test_ndjson_lines_with_blank_keepalives_and_a_last_line_without_newline() -> None:
    body = b'{"a": 1}\r\n\n{"b": 2}\n  \n{"c": 3}'
    parser = NdjsonParser()
    events = parse(parser, [body[:5], body[5:13], body[13:]])
    assert [e.data for e in events] == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']
    assert parser.control == 2


@pytest.mark.parametrize(
    "content_type, kind",
    [
        ("text/event-stream", "sse"),
        ("Text/Event-Stream; charset=utf-8", "sse"),
        ("application/x-ndjson", "ndjson"),
        ("application/json", None),
        (None, None),
    ],
)
def test_stream_kind_reads_the_media_type_only(content_type: str | None, kind: str | None) -> None:
    found = stream_kind(content_type)
    assert (found[0] if found else None) == kind
