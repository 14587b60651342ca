"""Incremental parsers for the two HTTP stream bodies wstape records, fed chunks as they arrive:
`text/event-stream` (the WHATWG server-sent events standard) and newline-delimited JSON. Pure
code, no mitmproxy: the recorder's SSE transport feeds it live, replay feeds it the new build's
streams. A chunk may end anywhere, inside a line or between the CR and LF of one."""

from __future__ import annotations

from dataclasses import dataclass

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a stream: its data (the `data:` lines joined with LF), and for SSE the
    `event`, `id` and `retry` fields it gave (None when it gave none)."""

    data: bytes
    event: str | None = None
    event_id: str | None = None
    retry: int | None = None


class SseParser:
    """Turns a text/event-stream body, chunk by chunk, into its events. Comments and events
    without data are keep-alives: counted in `control`, never returned. Field names and values
    are decoded as UTF-8 with replacement, as the standard says; data stays bytes."""

    def __init__(self) -> None:
        self._pending = b""  # an unfinished line
        self._skip_lf = False  # the last chunk ended with CR: an LF next is part of that line end
        self._first = True  # a BOM is stripped at the start of the stream only
        self._data: list[bytes] = []
        self._fields: dict[str, str | int] = {}
        self.control = 0  # comments and empty events

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        if not chunk:
            return []
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = chunk[-1:] == b"\r"
        buffer = self._pending + chunk
        if self._first:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                self._pending = buffer  # maybe the start of a BOM: wait for more
                return []
            self._first = False
            buffer = buffer.removeprefix(_BOM)
        lines = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        self._pending = lines.pop()
        events: list[StreamEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def end(self) -> list[StreamEvent]:
        """At the end of the body: an event not closed by a blank line is dropped, as a
        browser's EventSource drops it; a last line without its line end still counts."""
        if self._pending:
            self._line(self._pending)
            self._pending = b""
        return []

    def _line(self, line: bytes) -> StreamEvent | None:
        if not line:
            return self._dispatch()
        if line[:1] == b":":
            self.control += 1
            return None
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        _FIELDS.get(name, _ignore)(self, value)
        return None

    def _dispatch(self) -> StreamEvent | None:
        data, fields = self._data, self._fields
        self._data, self._fields = [], {}
        if not data:
            self.control += bool(fields)  # `event: ping` and no data: nothing to dispatch
            return None
        return StreamEvent(b"\n".join(data), fields.get("event"), fields.get("id"),
                           fields.get("retry"))  # type: ignore[arg-type]  # fmt: skip

    def _add_data(self, value: bytes) -> None:
        self._data.append(value)

    def _set_event(self, value: bytes) -> None:
        self._fields["event"] = value.decode("utf-8", "replace")

    def _set_id(self, value: bytes) -> None:
        if b"\x00" not in value:  # the standard ignores an id holding NUL
            self._fields["id"] = value.decode("utf-8", "replace")

    def _set_retry(self, value: bytes) -> None:
        if value.isdigit():  # only ASCII digits, else the field is ignored
            self._fields["retry"] = int(value)


def _ignore(parser: SseParser, value: bytes) -> None:
    """A field the standard does not define is ignored."""


_FIELDS = {
    b"data": SseParser._add_data,
    b"event": SseParser._set_event,
    b"id": SseParser._set_id,
    b"retry": SseParser._set_retry,
}


class NdjsonParser:
    """Turns a newline-delimited JSON body, chunk by chunk, into one event per non-empty line
    (the line's bytes, not parsed: the analyzer decodes payloads). Blank lines are keep-alives."""

    def __init__(self) -> None:
        self._pending = b""
        self.control = 0

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        return self._events(lines)

    def end(self) -> list[StreamEvent]:
        """A last line without its newline is still a line."""
        pending, self._pending = self._pending, b""
        return self._events([pending]) if pending.strip() else []

    def _events(self, lines: list[bytes]) -> list[StreamEvent]:
        events = []
        for line in lines:
            line = line.rstrip(b"\r")
            if line.strip():
                events.append(StreamEvent(line))
            else:
                self.control += 1
        return events


STREAM_TYPES = {
    "text/event-stream": ("sse", SseParser),
    "application/x-ndjson": ("ndjson", NdjsonParser),
}


def stream_kind(
    content_type: str | None,
) -> tuple[str, type[SseParser] | type[NdjsonParser]] | None:
    """("sse", SseParser) for a `text/event-stream` Content-Type (parameters ignored),
    ("ndjson", NdjsonParser) for `application/x-ndjson`; None for anything else."""
    if not content_type:
        return None
    return STREAM_TYPES.get(content_type.split(";", 1)[0].strip().lower())
