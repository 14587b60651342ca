"""HAR files with WebSocket messages (Chrome's `_webSocketMessages`, also what mitmproxy's
`hardump` writes) read as wstape capture records, so the analyzer judges them like a capture.

A HAR entry is one connection: an Open at its handshake, its messages in file order, and a
Close at its last message, since HAR records neither when nor how a WebSocket closed.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import math
import os
import reprlib
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from wstape.recorder.capture import CaptureError, Close, Message, Open, Record
from wstape.recorder.redact import redact_handshake
from wstape.recorder.transports.websocket import ws_url as handshake_ws_url

TEXT, BINARY = 1, 2
DIRECTIONS = {"send": True, "receive": False}  # HAR's word → from_client
NO_CLOSE = "no close recorded in HAR"
BOM = b"\xef\xbb\xbf"
# Connection ids derive from the entry itself, so reading one file twice names its connections
# the same way; UUID-shaped like mitmproxy's flow ids.
_ID_SPACE = uuid.UUID("5b0c6a4e-2f4e-4d9e-9a51-7773746170e5")


class _Bad(Exception):
    """One field of the HAR that is not what the format says; caught and given a location."""


def read_har(
    path: str | os.PathLike, warn: Callable[[str], None] | None = None, redact: bool = True
) -> Iterator[Record]:
    """Yields the WebSocket records of a HAR file: connections merged by time, each one's
    messages in file order. Raises CaptureError naming the file and the field for bad input.

    Entries that are not WebSockets (plain HTTP requests) are skipped.
    """
    path = Path(path)
    entries = _entries(path, _load(path))
    streams = []
    for index, entry in enumerate(entries):
        where = f"log.entries[{index}]"
        try:
            records = _entry_records(entry, index, redact)
        except _Bad as exc:
            raise CaptureError(f"{path}: {where}{exc}") from None
        if records:
            streams.append(records)
    yield from heapq.merge(*streams, key=lambda record: record.ts)


def _load(path: Path) -> object:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        return json.loads(data.removeprefix(BOM).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CaptureError(f"{path}: not a HAR file: not UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise CaptureError(
            f"{path}: not a HAR file: invalid JSON at line {exc.lineno} column {exc.colno} "
            f"({exc.msg})"
        ) from None
    except RecursionError:
        raise CaptureError(f"{path}: not a HAR file: JSON nested too deeply") from None


def _entries(path: Path, data: object) -> list:
    log = data.get("log") if isinstance(data, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise CaptureError(f"{path}: not a HAR file: no log.entries list")
    return entries


def _entry_records(entry: object, index: int, redact: bool) -> list[Record]:
    if not isinstance(entry, dict):
        raise _Bad(" is not an object")
    raw = entry.get("_webSocketMessages")
    if raw is None:
        return []  # an ordinary HTTP request
    if not isinstance(raw, list):
        raise _Bad("._webSocketMessages is not a list")
    request = _object(entry, "request")
    url = _string(request, "url", ".request")
    started = _started(entry)
    conn = str(uuid.uuid5(_ID_SPACE, f"{started!r} {url} #{index}"))
    messages = []
    for number, item in enumerate(raw):
        try:
            message = _message(conn, item)
        except _Bad as exc:
            raise _Bad(f"._webSocketMessages[{number}]{exc}") from None
        if message is not None:
            messages.append(message)
    response = entry.get("response")
    if not messages and not (isinstance(response, dict) and response.get("status") == 101):
        return []  # the handshake failed: never a WebSocket, as the recorder sees it
    opened = _handshake_end(entry, started)
    # Timings are rounded to the microsecond: never let the open come after the first message.
    opened = min(opened, messages[0].ts) if messages else opened
    closed = messages[-1].ts if messages else opened
    return [
        _open(conn, opened, url, request, response, entry, redact),
        *messages,
        Close(conn, closed, None, NO_CLOSE, None),
    ]


def _message(conn: str, item: object) -> Message | None:
    if not isinstance(item, dict):
        raise _Bad(" is not an object")
    direction = item.get("type")
    if type(direction) is not str or direction not in DIRECTIONS:
        raise _Bad(f".type is {reprlib.repr(direction)}, not 'send' or 'receive'")
    ts = _number(item, "time")
    opcode = item.get("opcode")
    if isinstance(opcode, bool) or not isinstance(opcode, int):
        raise _Bad(".opcode is not an integer")
    if opcode not in (TEXT, BINARY):
        return None  # continuation or control frames: not messages, as in a capture
    data = _string(item, "data", "")
    if opcode == TEXT:
        try:
            payload = data.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate cannot come from a real text frame; keep what is there so the
            # analyzer reports the frame as not valid UTF-8 instead of losing it.
            payload = data.encode("utf-8", "surrogatepass")
    else:
        try:
            payload = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _Bad(".data of a binary message is not base64") from None
    return Message(conn, ts, DIRECTIONS[direction], opcode == TEXT, payload)


def _open(
    conn: str, ts: float, url: str, request: dict, response: object, entry: dict, redact: bool
) -> Open:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    ws_url = handshake_ws_url(url)
    req_headers = _headers(request.get("headers", []), ".request.headers")
    resp_headers = ()
    if isinstance(response, dict):
        resp_headers = _headers(response.get("headers", []), ".response.headers")
    subprotocol = next((v for k, v in resp_headers if k.lower() == "sec-websocket-protocol"), None)
    if redact:
        ws_url, path, req_headers, resp_headers, subprotocol = redact_handshake(
            ws_url, path, req_headers, resp_headers, subprotocol
        )
    server = entry.get("serverIPAddress")
    return Open(
        connection=conn,
        ts=ts,
        url=ws_url,
        path=path,
        subprotocol=subprotocol,
        client=None,
        server=server if isinstance(server, str) else None,
        request_headers=req_headers,
        response_headers=resp_headers,
    )


def _started(entry: dict) -> float:
    text = _string(entry, "startedDateTime", "")
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):
        raise _Bad(f".startedDateTime {text[:40]!r} is not an ISO 8601 time") from None


def _handshake_end(entry: dict, started: float) -> float:
    """When the handshake response ended: HAR keeps only the start and millisecond timings."""
    timings = entry.get("timings")
    if not isinstance(timings, dict):
        return started
    spent = 0.0
    for name in ("send", "wait", "receive"):
        value = _finite(timings.get(name))
        if value is not None and value > 0:  # -1 means "does not apply"
            spent += value
    return started + spent / 1000 if math.isfinite(spent) else started


def _headers(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise _Bad(f"{where} is not a list")
    out = []
    for number, item in enumerate(value):
        if not isinstance(item, dict):
            raise _Bad(f"{where}[{number}] is not an object")
        out.append(
            (
                _string(item, "name", f"{where}[{number}]"),
                _string(item, "value", f"{where}[{number}]"),
            )
        )
    return tuple(out)


def _object(obj: dict, key: str) -> dict:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise _Bad(f".{key} is not an object")
    return value


def _string(obj: dict, key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _Bad(f"{where}.{key} is not a string")
    return value


def _number(obj: dict, key: str) -> float:
    value = _finite(obj.get(key))
    if value is None:
        raise _Bad(f".{key} is not a finite number")
    return value


def _finite(value: object) -> float | None:
    """A JSON number as a finite float, or None (JSON allows NaN and integers of any size)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
