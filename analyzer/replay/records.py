"""What a replayed connection or HTTP stream leaves behind: its Open record, redacted as the
recorder redacts one, and its failures and ends in the words the replay report uses."""

from __future__ import annotations

import ssl
import time
from urllib.parse import urlsplit

import httpx
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


def stream_open(
    connection: str, ts: float, request: httpx.Request, response: httpx.Response, transport: str
) -> Open:
    """The capture's Open record of a replayed HTTP stream, redacted as the recorder does."""
    url = str(request.url)
    network = response.extensions.get("network_stream")
    where = network.get_extra_info if network is not None else lambda _: None
    return Open(
        connection=connection,
        ts=ts,
        url=redact_url(url),
        path=redact_url(request.url.raw_path.decode("ascii", "replace")),
        subprotocol=None,
        client=address(where("client_addr")),
        server=address(where("server_addr")),
        request_headers=redact_headers(_text(request.headers.raw)),
        response_headers=redact_headers(_text(response.headers.raw)),
        transport=transport,
        method=request.method,
        status=response.status_code,
    )


def _text(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]


def describe_http(exc: BaseException, open_timeout: float) -> str:
    """A failed HTTP request in one short phrase: the cause httpx wraps, where it says more."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"no response headers within {open_timeout:g}s"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate not trusted ({cause.verify_message})"
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__
