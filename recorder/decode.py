"""Turns the raw msgpack values of a capture segment into typed records, treating them as
untrusted: an Unpacker with size limits, exact type checks, error messages that name the file and
offset and quote damaged values only briefly, and the check that tells a record cut short at the
end of a segment from a corrupt one. The reader (reader.py) drives it, record by record."""

from __future__ import annotations

import math
import reprlib
from pathlib import Path
from typing import BinaryIO

import msgpack

from wstape.recorder.records import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_CONTAINER_LEN,
    MAX_FRAME_BYTES,
    MAX_TEXT_FIELD,
    READ_CHUNK,
    READABLE_VERSIONS,
    CaptureError,
    Close,
    Error,
    Header,
    Message,
    Open,
    Record,
    RecordType,
)

# Values from a damaged file go into error messages only through this: bounded in length
# and depth, so a 1 MiB string or a list nested a thousand deep cannot flood or crash.
_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 30
_repr.maxlevel = 2
_repr.maxlist = _repr.maxdict = 3


def _brief(value: object) -> str:
    text = _repr.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_REQUIRED = object()
_STR = (str,)
_STR_OR_NIL = (str, type(None))
_NUMBER = (float, int)


def error_at(path: Path, offset: int, what: str) -> CaptureError:
    return CaptureError(f"{path}: offset {offset}: {what}")


def why(exc: Exception) -> str:
    if isinstance(exc, msgpack.StackError):  # its message is empty
        return "values nested too deeply"
    return str(exc) or type(exc).__name__


def segment_unpacker(stream) -> msgpack.Unpacker:
    return msgpack.Unpacker(
        stream,
        read_size=READ_CHUNK,
        use_list=True,
        raw=False,
        strict_map_key=True,
        max_buffer_size=MAX_FRAME_BYTES + 1024,
        max_bin_len=MAX_FRAME_BYTES,
        max_str_len=MAX_TEXT_FIELD,
        max_array_len=MAX_CONTAINER_LEN,
        max_map_len=MAX_CONTAINER_LEN,
        max_ext_len=0,
    )


def _field(body: dict, key: str, types: tuple[type, ...], default: object = _REQUIRED):
    """body[key] when it has one of `types` (exactly: a bool is not an int here)."""
    value = body.get(key, default)
    if value is _REQUIRED:
        raise ValueError(f"{key!r} is missing")
    if type(value) not in types:
        names = " or ".join("nil" if t is type(None) else t.__name__ for t in types)
        raise ValueError(f"{key!r} is {_brief(value)}, not {names}")
    return value


def check_header(path: Path, obj: object) -> Header:
    if not (type(obj) is list and len(obj) == 2 and obj[0] == 0 and type(obj[1]) is dict):
        raise error_at(path, 0, "not a wstape capture (no header record)")
    head = obj[1]
    if head.get("format") != FORMAT_NAME:
        raise error_at(path, 0, f"not a wstape capture (format {_brief(head.get('format'))})")
    version = head.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise error_at(
            path,
            0,
            f"capture format version {_brief(version)} is not supported "
            f"(this wstape reads versions 1 to {FORMAT_VERSION})",
        )
    try:
        return Header(
            version=version,
            recorder=_field(head, "recorder", _STR, ""),
            created=float(_field(head, "created", _NUMBER, 0.0)),
            session=_field(head, "session", _STR, ""),
            segment=_field(head, "segment", (int,), 0),
        )
    except ValueError as exc:
        raise error_at(path, 0, f"malformed header: {exc}") from None


def _headers(value: object) -> tuple[tuple[str, str], ...]:
    if type(value) is not list:
        raise ValueError("headers are not an array")
    for pair in value:
        if not (type(pair) is list and len(pair) == 2 and type(pair[0]) is type(pair[1]) is str):
            raise ValueError("a header is not a [name, value] pair of strings")
    return tuple((name, text) for name, text in value)


def _open(conn: str, ts: float, body: dict) -> Open:
    return Open(
        connection=conn,
        ts=ts,
        url=_field(body, "url", _STR, ""),
        path=_field(body, "path", _STR, ""),
        subprotocol=_field(body, "subprotocol", _STR_OR_NIL, None),
        client=_field(body, "client", _STR_OR_NIL, None),
        server=_field(body, "server", _STR_OR_NIL, None),
        request_headers=_headers(body.get("request_headers", [])),
        response_headers=_headers(body.get("response_headers", [])),
        continued=_field(body, "continued", (bool,), False),
        transport=_field(body, "transport", _STR, "websocket"),
        method=_field(body, "method", _STR_OR_NIL, None),
        status=_field(body, "status", (int, type(None)), None),
    )


def _sse_message(conn: str, ts: float, from_client, is_text, payload, fields: object) -> Message:
    if type(fields) is not dict:
        raise ValueError("message's event fields are not a map")
    return Message(
        conn, ts, from_client, is_text, payload,
        _field(fields, "event", _STR_OR_NIL, None),
        _field(fields, "id", _STR_OR_NIL, None),
        _field(fields, "retry", (int, type(None)), None),
    )  # fmt: skip


def decode_record(obj: object, conns: dict[int, str]) -> Record:
    """Turns one raw record into a typed one; raises ValueError saying what is malformed.
    Types are checked exactly, so a damaged file is an error, not a strange Record."""
    if type(obj) is not list or len(obj) < 3:
        raise ValueError("record is not an array of at least three items")
    kind, index, ts = obj[0], obj[1], obj[2]
    if type(kind) is not int:
        raise ValueError(f"record type {_brief(kind)} is not an integer")
    if type(index) is not int or type(ts) not in _NUMBER:
        raise ValueError("record has no connection index or timestamp")
    ts = float(ts)
    if not math.isfinite(ts):
        raise ValueError(f"timestamp {ts} is not a finite number")
    if kind == RecordType.MESSAGE:
        if len(obj) not in (6, 7):
            raise ValueError("message record does not have six or seven items")
        from_client, is_text, payload = obj[3], obj[4], obj[5]
        if type(from_client) is not bool or type(is_text) is not bool:
            raise ValueError("message direction or kind is not a boolean")
        if type(payload) is not bytes:
            raise ValueError(f"message payload is {type(payload).__name__}, not bin")
        if len(obj) == 7:
            conn = _connection(conns, index)
            return _sse_message(conn, ts, from_client, is_text, payload, obj[6])
        return Message(_connection(conns, index), ts, from_client, is_text, payload)
    if not RecordType.OPEN <= kind <= RecordType.ERROR:
        raise ValueError(f"unknown record type {kind}")
    if len(obj) != 4 or type(obj[3]) is not dict:
        raise ValueError(f"record of type {kind} is not [type, conn, ts, map]")
    body = obj[3]
    if kind == RecordType.OPEN:
        record = _open(_field(body, "id", _STR), ts, body)
        conns[index] = record.connection
        return record
    conn = _connection(conns, index)
    if kind == RecordType.CLOSE:
        code = _field(body, "code", (int, type(None)), None)
        reason = _field(body, "reason", _STR_OR_NIL, "") or ""
        closed_by = _field(body, "closed_by", _STR_OR_NIL, None)
        return Close(conn, ts, code, reason, closed_by, _field(body, "end", _STR_OR_NIL, None))
    return Error(conn, ts, _field(body, "message", _STR, ""))


def _connection(conns: dict[int, str], index: int) -> str:
    conn = conns.get(index)
    if conn is None:
        raise ValueError(f"record for connection {index} that was never opened")
    return conn


# msgpack type bytes → how many bytes of fixed-size data follow
_FIXED = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
          0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}  # fmt: skip
# type byte → (what, width of its length, limit, values per item: 0 = bytes follow)
_SIZED = {
    0xC4: ("bin", 1, MAX_FRAME_BYTES, 0), 0xC5: ("bin", 2, MAX_FRAME_BYTES, 0),
    0xC6: ("bin", 4, MAX_FRAME_BYTES, 0), 0xD9: ("str", 1, MAX_TEXT_FIELD, 0),
    0xDA: ("str", 2, MAX_TEXT_FIELD, 0), 0xDB: ("str", 4, MAX_TEXT_FIELD, 0),
    0xDC: ("array", 2, MAX_CONTAINER_LEN, 1), 0xDD: ("array", 4, MAX_CONTAINER_LEN, 1),
    0xDE: ("map", 2, MAX_CONTAINER_LEN, 2), 0xDF: ("map", 4, MAX_CONTAINER_LEN, 2),
}  # fmt: skip
TAIL_CHECK_BYTES = 64 * 1024


def check_tail(path: Path, stream: BinaryIO, offset: int) -> None:
    """Raises CaptureError when the unread end of a segment cannot be a record cut
    short, such as a length of 4 GiB: msgpack waits for data it is promised rather
    than checking the promise, so the end of a file would otherwise always read as
    a truncated tail. Only the start of the tail is read; a payload is skipped."""
    try:
        stream.seek(offset)
        data = stream.read(TAIL_CHECK_BYTES)
    except OSError as exc:
        raise error_at(path, offset, f"cannot read: {exc.strerror or exc}") from None
    pos, pending = 0, 1  # values still to come
    while pending and pos < len(data):
        byte = data[pos]
        pos, pending = pos + 1, pending - 1
        if byte <= 0x7F or byte >= 0xE0:
            continue  # fixint
        if byte <= 0x8F:
            pending += 2 * (byte & 0x0F)  # fixmap
        elif byte <= 0x9F:
            pending += byte & 0x0F  # fixarray
        elif byte <= 0xBF:
            pos += byte & 0x1F  # fixstr
        elif byte in _FIXED:
            pos += _FIXED[byte]
        elif byte in _SIZED:
            what, width, limit, per_item = _SIZED[byte]
            if pos + width > len(data):
                return
            count = int.from_bytes(data[pos : pos + width], "big")
            if count > limit:
                unit = "items" if per_item else "bytes"
                problem = f"a {what} of {count} {unit} exceeds the limit of {limit}"
                raise error_at(path, offset, f"corrupt record ({problem})")
            pos += width + (0 if per_item else count)
            pending += count * per_item
        else:  # 0xc1 (never used) or an ext type, which captures never hold
            raise error_at(path, offset, f"corrupt record (type byte 0x{byte:02x})")
