"""Replay's settings and what is checked before it starts: ReplayOptions (pacing, limits, the
fresh credentials a recording had redacted), the target and output folder, and the URL scheme and
request headers each recorded exchange is replayed with, whatever its transport."""

from __future__ import annotations

import ssl as ssl_module
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from wstape.analyzer.replay.plan import ConnectionPlan
from wstape.recorder.capture import SEGMENT_SUFFIX

# One target serves a capture of every transport: its scheme says whether TLS is on, and each
# transport speaks its own scheme over it (ws:// for a WebSocket, http:// for an HTTP stream).
TLS_OF_SCHEME = {"ws": False, "http": False, "wss": True, "https": True}
TRANSPORT_SCHEMES = {
    "websocket": ("ws", "wss"),
    "sse": ("http", "https"),
    "ndjson": ("http", "https"),
}


class ReplayError(ValueError):
    """Replay cannot start: a bad target URL or an output folder that already holds a capture."""


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """How to replay: pacing, limits, and the fresh credentials the recording had redacted."""

    speed: float = 1.0  # 2 halves every recorded gap; waits for replies are never scaled
    as_fast_as_possible: bool = False  # no gaps at all; replies are still waited for
    concurrency: int = 0  # open connections at most; 0: as many as the recording had
    reply_timeout: float = 10.0  # how much later than recorded a reply may come
    open_timeout: float = 10.0  # a handshake, or an HTTP stream's response headers
    headers: tuple[tuple[str, str], ...] = ()  # replace recorded headers of the same name
    token: str | None = None  # sent as `Authorization: Bearer TOKEN`
    query: tuple[tuple[str, str], ...] = ()  # replace recorded query parameters of that name
    subprotocols: tuple[str, ...] | None = None  # None: offer what the recorded client offered
    ssl: ssl_module.SSLContext | None = None

    def scaled(self, seconds: float) -> float:
        return 0.0 if self.as_fast_as_possible else seconds / self.speed


def check_target(target: str) -> None:
    parts = urlsplit(target)
    if parts.scheme not in TLS_OF_SCHEME or not parts.hostname:
        raise ReplayError(
            f"the target must be an http://, https://, ws:// or wss:// URL with a host, "
            f"not {target!r}"
        )


def check_out(out: Path) -> None:
    if out.is_dir() and any(p.suffix == SEGMENT_SUFFIX for p in out.iterdir()):
        raise ReplayError(f"{out}: already holds a capture; replay into a new folder")
    if out.exists() and not out.is_dir():
        raise ReplayError(f"{out}: exists and is not a folder")


def target_for(target: str, transport: str) -> str:
    """The target with the scheme `transport` (one of TRANSPORT_SCHEMES) speaks: ws:// or
    http://, with TLS as the target says."""
    parts = urlsplit(target)
    return parts._replace(scheme=TRANSPORT_SCHEMES[transport][TLS_OF_SCHEME[parts.scheme]]).geturl()


def request_headers(plan: ConnectionPlan, options: ReplayOptions) -> list[tuple[str, str]]:
    """The recorded headers worth sending again, with --header and --token replacing those of
    the same name (case-insensitive), in the recorded order."""
    headers = {name.lower(): (name, value) for name, value in plan.headers}
    extra = list(options.headers)
    if options.token is not None:
        extra.append(("Authorization", f"Bearer {options.token}"))
    headers.update({name.lower(): (name, value) for name, value in extra})
    return list(headers.values())


def dropped_notes(plan: ConnectionPlan, options: ReplayOptions) -> tuple[str, ...]:
    """A note for each redacted secret left out of a replayed request, but for those --header,
    --token or --query supply afresh."""
    supplied = {f"header {name.lower()}" for name, _ in options.headers}
    supplied |= {f"query parameter {name}" for name, _ in options.query}
    if options.token is not None:
        supplied.add("header authorization")
    return tuple(
        f"recorded {what} redacted, not replayed"
        for what in plan.dropped
        if (what.lower() if what.startswith("header ") else what) not in supplied
    )
