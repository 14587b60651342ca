"""mitmproxy flow files (`mitmdump -w`) read as wstape capture records, with mitmproxy's own
FlowReader, so a session recorded without the wstape addon can be judged all the same.

The only analyzer module that imports mitmproxy, and only when a flow file is read: everything
else runs where mitmproxy is not installed. Records are what the recorder addon would have
written for the same flows (same ids, timestamps, close codes), merged by time because a flow
file holds whole connections in the order they ended.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from wstape.recorder.capture import CaptureError, Close, Error, Message, Open, Record
from wstape.recorder.transports.websocket import open_record

TEXT, BINARY = 1, 2
STOPPED = "recorder stopped while the connection was open"  # as the addon says it


class _Bad(Exception):
    """A flow whose fields do not have the types mitmproxy writes."""


def read_flows(
    path: str | os.PathLike, warn: Callable[[str], None] | None = None, redact: bool = True
) -> Iterator[Record]:
    """Yields the WebSocket records of a mitmproxy flow file, connections merged by time.

    Other flows (plain HTTP, TCP, DNS) are skipped. A flow written twice (a file appended to)
    counts once, as last written. Raises CaptureError naming the file for anything unreadable.
    """
    path = Path(path)
    try:
        from mitmproxy import http
        from mitmproxy import io as mitmproxy_io
    except ImportError:
        raise CaptureError(
            f"{path}: a mitmproxy flow file; reading it needs mitmproxy (pip install mitmproxy)"
        ) from None
    try:
        stream = open(path, "rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open: {exc.strerror or exc}") from None
    streams: dict[str, list[Record]] = {}
    done = 0  # flows read, to say where a bad one is
    with stream:
        try:
            for flow in mitmproxy_io.FlowReader(stream).stream():
                if isinstance(flow, http.HTTPFlow) and flow.websocket is not None:
                    records = _flow_records(flow, redact)
                    streams.pop(records[0].connection, None)
                    streams[records[0].connection] = records
                done += 1
        except _Bad as exc:
            raise CaptureError(f"{path}: flow {done}: {exc}") from None
        except Exception as exc:
            # Untrusted bytes through mitmproxy's reader and state migration can raise nearly
            # anything (ValueError, KeyError, TypeError, RecursionError, ...): all mean "bad file".
            what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise CaptureError(
                f"{path}: not a readable mitmproxy flow file after {done} flows ({what})"
            ) from None
    yield from heapq.merge(*streams.values(), key=lambda record: record.ts)


def _flow_records(flow, redact: bool) -> list[Record]:
    try:
        conn = _text(flow.id, "id")
        opened = _open(flow, conn, redact)
        messages = [_message(conn, m) for m in flow.websocket.messages]
    except (AttributeError, TypeError, ValueError, UnicodeError) as exc:
        raise _Bad(f"malformed WebSocket flow ({type(exc).__name__}: {exc})") from None
    messages = [m for m in messages if m is not None]
    return [opened, *messages, _end(flow, conn, messages[-1].ts if messages else opened.ts)]


def _open(flow, conn: str, redact: bool) -> Open:
    """What wstape.recorder.addon writes at websocket_start, from the flow's handshake."""
    request, response = flow.request, flow.response
    ts = (response.timestamp_end if response else None) or request.timestamp_start
    return open_record(flow, conn, _time(ts, "handshake time"), redact)


def _message(conn: str, message) -> Message | None:
    kind = int(message.type)
    if kind not in (TEXT, BINARY):
        return None  # control frames are not messages, as in a capture
    content = message.content
    if not isinstance(content, bytes):
        raise _Bad("a message's content is not bytes")
    from_client = message.from_client
    if not isinstance(from_client, bool):
        raise _Bad("a message's direction is not true or false")
    return Message(
        conn, _time(message.timestamp, "message time"), from_client, kind == TEXT, content
    )


def _end(flow, conn: str, last: float) -> Close | Error:
    """What wstape.recorder.addon writes at websocket_end; a flow saved while still open (mitmdump
    stopped mid-chat) gets the addon's shutdown error, at its last known time."""
    ws = flow.websocket
    end = ws.timestamp_end
    if flow.error:
        at = end or flow.error.timestamp or last
        return Error(conn, _time(at, "error time"), _text(flow.error.msg, "error message"))
    if end is None:
        return Error(conn, last, STOPPED)
    closed_by = {True: "client", False: "server"}.get(ws.closed_by_client)
    code = ws.close_code
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise _Bad("the close code is not an integer")
    return Close(
        conn, _time(end, "close time"), code, _text(ws.close_reason or "", "reason"), closed_by
    )


def _time(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"{what} is not a number")
    try:
        ts = float(value)
    except OverflowError:
        raise _Bad(f"{what} is out of range") from None
    if not math.isfinite(ts):
        raise _Bad(f"{what} is not finite")
    return ts


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _Bad(f"the {what} is not a string")
    return value
