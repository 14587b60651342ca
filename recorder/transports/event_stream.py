"""Incremental parsers for the two HTTP stream bodies wstape records, fed chunks as they arrive:
`text/event-stream` (the WHATWG server-sent events standard) and newline-delimited JSON. Pure
code, no mitmproxy: the recorder's SSE transport feeds it live, replay feeds it the new build's
streams. A chunk may end anywhere, inside a line or between the CR and LF of one."""

from __future__ import annotations

from typing import NamedTuple

_BOM = b"\xef\xbb\xbf"


class StreamEvent(NamedTuple):
    """One event of a stream: its data (the `data:` lines joined with LF), and for SSE the
    `event`, `id` and `retry` fields it gave (None when it gave none). A named tuple: one is
    built per event on the recorder's hot path, in a fifth of a frozen dataclass's time."""

    data: bytes
    event: str | None = None
    event_id: str | None = None
    retry: int | None = None


class SseParser:
    """Turns a text/event-stream body, chunk by chunk, into its events. Comments and events
    without data are keep-alives: counted in `control`, never returned. Field names and values
    are decoded as UTF-8 with replacement, as the standard says; data stays bytes.

    It holds the unfinished event, not the unfinished line: an event is complete at a blank
    line, so each one is cut out whole and parsed on its own, and the usual event (one `data:`
    line, maybe an `event:` line first) takes a few slices rather than a call per line."""

    def __init__(self) -> None:
        self._pending = b""  # the unfinished event, its line ends already made LF
        self._skip_lf = False  # the last chunk ended with CR: an LF next is part of that line end
        self._first = True  # a BOM is stripped at the start of the stream only
        self.control = 0  # comments and data-less events

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        if not chunk:
            return []
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = chunk[-1:] == b"\r"
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._pending + chunk if self._pending else chunk
        if self._first:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                self._pending = buffer  # maybe the start of a BOM: wait for more
                return []
            self._first = False
            buffer = buffer.removeprefix(_BOM)
        cut = buffer.rfind(b"\n\n")
        if cut < 0:
            self._pending = buffer
            return []
        self._pending = buffer[cut + 2 :]
        events = []
        for block in buffer[:cut].split(b"\n\n"):
            if block[:6] == b"data: " and b"\n" not in block:
                events.append(StreamEvent(block[6:]))  # the usual event: one data line
            elif block[:7] == b"event: " and (named := _named(block)) is not None:
                events.append(named)
            else:
                event = self._event(block)
                if event is not None:
                    events.append(event)
        return events

    def end(self) -> list[StreamEvent]:
        """At the end of the body: an event not closed by a blank line is dropped, as a
        browser's EventSource drops it."""
        self._pending = b""
        return []

    def _event(self, block: bytes) -> StreamEvent | None:
        data: list[bytes] = []
        fields: dict[str, str | int] = {}
        for line in block.split(b"\n"):
            if line[:1] == b":":
                self.control += 1
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif line:
                _FIELDS.get(name, _ignore)(fields, value)
        if not data:
            self.control += bool(fields)  # `event: ping` and no data: nothing to dispatch
            return None
        return StreamEvent(b"\n".join(data), fields.get("event"), fields.get("id"),
                           fields.get("retry"))  # type: ignore[arg-type]  # fmt: skip


def _named(block: bytes) -> StreamEvent | None:
    """`event: NAME` then one `data: ...` line (Anthropic's every event), else None."""
    line_end = block.find(b"\n")
    rest = block[line_end + 1 :]
    if line_end < 0 or rest[:6] != b"data: " or b"\n" in rest:
        return None
    return StreamEvent(rest[6:], block[7:line_end].decode("utf-8", "replace"))


def _set_event(fields: dict, value: bytes) -> None:
    fields["event"] = value.decode("utf-8", "replace")


def _set_id(fields: dict, value: bytes) -> None:
    if b"\x00" not in value:  # the standard ignores an id holding NUL
        fields["id"] = value.decode("utf-8", "replace")


def _set_retry(fields: dict, value: bytes) -> None:
    if value.isdigit():  # only ASCII digits, else the field is ignored
        fields["retry"] = int(value)


def _ignore(fields: dict, value: bytes) -> None:
    """A field the standard does not define is ignored."""


_FIELDS = {b"event": _set_event, b"id": _set_id, b"retry": _set_retry}


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
