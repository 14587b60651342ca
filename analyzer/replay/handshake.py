"""What of a recorded handshake or request a replay sends again: the path without the query
parameters that were redacted, the headers without the ones the client library writes itself and
the redacted ones, and the URL on the new target. Pure; plan.py keeps the result per connection."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from wstape.recorder.redact import REDACTED

# The handshake and HTTP's own framing: the client library writes these, a replay must not copy
# them. Accept-Encoding too: the HTTP client asks for the encodings it can decode.
HANDSHAKE_HEADERS = frozenset(
    {"host", "upgrade", "connection", "content-length", "transfer-encoding", "user-agent",
     "keep-alive", "te", "trailer", "expect", "accept-encoding",
     "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
     "sec-websocket-protocol", "sec-websocket-accept"}
)  # fmt: skip


def replayable_path(path: str) -> tuple[str, tuple[str, ...]]:
    """The recorded path without the query parameters whose value was redacted, and what was
    left out: a redacted secret replayed literally would only fail the new server's auth."""
    parts = urlsplit(path)
    kept, dropped = [], []
    for piece in parts.query.split("&") if parts.query else []:
        name, _, value = piece.partition("=")
        if REDACTED in unquote(value):
            dropped.append(f"query parameter {unquote(name)}")
        else:
            kept.append(piece)
    return urlunsplit(parts._replace(query="&".join(kept))), tuple(dropped)


def replayable_handshake(
    headers: Iterable[tuple[str, str]],
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...], str | None, tuple[str, ...]]:
    """Recorded request headers → (headers to send, subprotocols to offer, user agent, what
    was left out because it was redacted)."""
    kept, offered, dropped = [], [], []
    agent = None
    for name, value in headers:
        lower = name.lower()
        if lower == "sec-websocket-protocol":
            for item in (v.strip() for v in value.split(",")):
                if REDACTED in item:
                    dropped.append(f"subprotocol {item}")
                elif item:
                    offered.append(item)
        elif lower == "user-agent":
            agent = value
        elif lower in HANDSHAKE_HEADERS or lower.startswith("proxy-"):
            continue
        elif REDACTED in value:
            dropped.append(f"header {name}")
        else:
            kept.append((name, value))
    return tuple(kept), tuple(offered), agent, tuple(dropped)


def replay_url(target: str, path: str, query: Iterable[tuple[str, str]] = ()) -> str:
    """The URL a recorded connection replays to: the target's scheme and host; the target's
    path when it has one, else the recorded path; the recorded query, then the target's, then
    `query` (whose names replace recorded ones)."""
    base, recorded = urlsplit(target), urlsplit(path)
    extra = [(n, v) for n, v in query]
    names = {n for n, _ in extra}
    pieces = [p for p in recorded.query.split("&") if p and unquote(p.split("=")[0]) not in names]
    pieces += [p for p in base.query.split("&") if p and unquote(p.split("=")[0]) not in names]
    pieces += [f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in extra]
    route = base.path if base.path not in ("", "/") else (recorded.path or "/")
    return urlunsplit((base.scheme, base.netloc, route, "&".join(pieces), ""))
