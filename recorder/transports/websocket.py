"""The WebSocket transport: a mitmproxy flow's handshake and its end as capture records.

The addon's WebSocket hooks hand off to `opened` and `ended`; its message hook writes each frame
itself, on the hot path. `open_record` is shared with the flow-file reader (offline), so a
`mitmdump -w` file reads back as the very records the recorder wrote. It duck-types the flow and
imports nothing from mitmproxy.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from wstape.recorder.records import Close, Error, Open
from wstape.recorder.redact import redact_handshake

CLOSED_BY = {True: "client", False: "server"}  # mitmproxy's closed_by_client; None: unknown


def address(addr) -> str | None:
    """('::1', 80) → '[::1]:80'; ('127.0.0.1', 80) → '127.0.0.1:80'."""
    if not addr:
        return None
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def ws_url(url: str) -> str:
    """The handshake's http(s) URL as the ws(s) URL the client asked for."""
    scheme = urlsplit(url).scheme  # lower-cased, whatever the URL's spelling
    return {"http": "ws", "https": "wss"}.get(scheme, scheme) + url[len(scheme) :]


def open_record(flow, connection: str, ts: float, redact: bool) -> Open:
    request, response = flow.request, flow.response
    req_headers = tuple(request.headers.items(multi=True))
    resp_headers = tuple(response.headers.items(multi=True)) if response else ()
    subprotocol = response.headers.get("sec-websocket-protocol") if response else None
    url, path = ws_url(request.pretty_url), request.path
    if redact:
        url, path, req_headers, resp_headers, subprotocol = redact_handshake(
            url, path, req_headers, resp_headers, subprotocol
        )
    return Open(
        connection=connection,
        ts=ts,
        url=url,
        path=path,
        subprotocol=subprotocol,
        client=address(flow.client_conn.peername),
        server=address(flow.server_conn.peername or flow.server_conn.address),
        request_headers=req_headers,
        response_headers=resp_headers,
    )


def opened(flow, redact: bool) -> Open:
    """What the recorder writes at websocket_start: the handshake, at the time its response
    ended (now, if mitmproxy has no such time)."""
    response = flow.response
    ts = (response.timestamp_end if response else None) or time.time()
    return open_record(flow, flow.id, ts, redact)


def ended(flow) -> Close | Error:
    """What the recorder writes at websocket_end: the close handshake, or mitmproxy's error."""
    ws = flow.websocket
    ts = ws.timestamp_end or time.time()
    if flow.error:
        return Error(flow.id, ts, flow.error.msg)
    return Close(
        flow.id, ts, ws.close_code, ws.close_reason or "", CLOSED_BY.get(ws.closed_by_client)
    )
