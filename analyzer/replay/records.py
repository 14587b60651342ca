"""What a replayed connection leaves behind: its Open record, redacted as the recorder redacts
one, and its failures and closes in the words the replay report uses."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from wstape.recorder.capture import Open
from wstape.recorder.redact import redact_headers, redact_subprotocol, redact_url


def open_record(connection: str, url: str, ws: ClientConnection) -> Open:
    """The capture's Open record of a replayed connection, redacted as the recorder does."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = ws.request.headers.raw_items() if ws.request else ()
    response = ws.response.headers.raw_items() if ws.response else ()
    return Open(
        connection=connection,
        ts=time.time(),
        url=redact_url(url),
        path=redact_url(path),
        subprotocol=redact_subprotocol(ws.subprotocol) if ws.subprotocol else None,
        client=address(ws.local_address),
        server=address(ws.remote_address),
        request_headers=redact_headers(request),
        response_headers=redact_headers(response),
    )


def address(address: object) -> str | None:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return None


def describe(exc: BaseException, open_timeout: float) -> str:
    """A connection failure in one short phrase."""
    if isinstance(exc, InvalidStatus):
        return f"the server refused the WebSocket handshake (HTTP {exc.response.status_code})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return f"no handshake within {open_timeout:g}s"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__


def describe_close(code: int | None, reason: str | None, by_client: bool) -> str:
    if code in (None, 1006):
        return "dropped without a close frame (1006)"
    why = f" ({reason})" if reason else ""
    return f"closed {code}{why} by the {'client' if by_client else 'server'}"
