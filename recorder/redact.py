"""Redaction of handshake secrets before anything reaches a capture file.

Pure functions over strings: the addon applies them to copies of the handshake,
never to the live flow, so the traffic itself is untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from wstape.recorder.redact_payload import SHAPES

REDACTED = "[REDACTED]"

# Header names whose values are credentials. Sec-WebSocket-Key is a nonce, not a
# secret, and must not match (hence "api-key", not "key").
SECRET_HEADER = re.compile(
    r"^(authorization|proxy-authorization|cookie|set-cookie)$"
    r"|token|secret|password|passwd|api[-_]?key|session|credential|x-auth",
    re.IGNORECASE,
)
# OAuth's one-time `code`, CAS's `ticket` and the `state` that binds them are credentials too.
SECRET_PARAM = re.compile(
    r"token|jwt|key|secret|passw|pwd|auth|session|signature|sig$|credential"
    r"|^code$|^ticket$|^state$|^sid$",
    re.IGNORECASE,
)
# A header value that carries a credential whatever the header is called.
CREDENTIAL_VALUE = re.compile(
    r"^(?P<scheme>(?:bearer|basic|token|digest|negotiate|apikey)\s+)\S", re.IGNORECASE
)
# Known key formats (recorder/redact_payload.py's catalogue) anywhere in a header value.
KEY_SHAPES = re.compile(
    "|".join(f"(?:{pattern})" for kind, pattern in SHAPES if kind not in ("private_key",)),
    re.DOTALL,
)
# A JWT is three base64url parts; its header always starts with '{"' → "eyJ".
JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Subprotocols that carry a credential after a prefix, e.g. "jwt.<token>",
# "access_token.<token>", "bearer.<token>" (the pattern browsers use, since
# they cannot set an Authorization header on a WebSocket).
CREDENTIAL_SUBPROTOCOL = re.compile(
    r"^(?P<prefix>(?:jwt|bearer|token|access[_-]?token|auth|authorization)[._-])(?P<secret>.+)$",
    re.IGNORECASE,
)
# A bearer token inside a subprotocol of any name, such as Kubernetes'
# "base64url.bearer.authorization.k8s.io.<token>": everything after the marker is the secret.
BEARER_IN_SUBPROTOCOL = re.compile(
    r"^(?P<prefix>.*?\bbearer[._-](?:authorization\.k8s\.io\.)?)(?P<secret>.+)$",
    re.IGNORECASE,
)
SUBPROTOCOL_HEADER = "sec-websocket-protocol"


def redact_subprotocol(value: str) -> str:
    """Redacts every credential-bearing entry of a Sec-WebSocket-Protocol value."""
    parts = []
    for item in value.split(","):
        token = item.strip()
        match = CREDENTIAL_SUBPROTOCOL.match(token) or BEARER_IN_SUBPROTOCOL.match(token)
        if match:
            token = match["prefix"] + REDACTED
        else:
            token = KEY_SHAPES.sub(REDACTED, JWT.sub(REDACTED, token))
        parts.append(token)
    return ", ".join(parts)


def redact_header(name: str, value: str) -> str:
    if SECRET_HEADER.search(name):
        return REDACTED
    if name.lower() == SUBPROTOCOL_HEADER:
        return redact_subprotocol(value)
    credential = CREDENTIAL_VALUE.match(value)
    if credential:
        return credential["scheme"] + REDACTED
    return KEY_SHAPES.sub(REDACTED, JWT.sub(REDACTED, value))


def redact_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((name, redact_header(name, value)) for name, value in headers)


def redact_query(query: str) -> str:
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    out = []
    for name, value in pairs:
        if SECRET_PARAM.search(name):
            value = REDACTED
        else:
            value = KEY_SHAPES.sub(REDACTED, JWT.sub(REDACTED, value))
        out.append(f"{quote(name, safe='')}={quote(value, safe='[]')}")
    return "&".join(out)


def redact_url(url: str) -> str:
    """Redacts secret query parameters and userinfo passwords of a URL or a path."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{userinfo}@{host}"
    return urlunsplit(
        (parts.scheme, netloc, JWT.sub(REDACTED, parts.path), redact_query(parts.query),
         parts.fragment)
    )  # fmt: skip


def redact_handshake(
    url: str,
    path: str,
    request_headers: Iterable[tuple[str, str]],
    response_headers: Iterable[tuple[str, str]],
    subprotocol: str | None,
) -> tuple[str, str, tuple, tuple, str | None]:
    """Every part of a handshake that an open record keeps, redacted, in the same order."""
    return (
        redact_url(url),
        redact_url(path),
        redact_headers(request_headers),
        redact_headers(response_headers),
        redact_subprotocol(subprotocol) if subprotocol else subprotocol,
    )
