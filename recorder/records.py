"""The records of the wstape capture format, its constants and its errors: what the
writer (recorder/writer.py) appends and the reader (recorder/reader.py) yields."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

FORMAT_NAME = "wstape"
FORMAT_VERSION = 2
# Version 2 added HTTP streams (SSE, NDJSON); a version-1 capture is a version-2 one without them.
READABLE_VERSIONS = (1, 2)
SEGMENT_SUFFIX = ".wstape"

# Reader limits: a capture is untrusted input, so no declared length may make the
# reader allocate more than one frame could honestly need.
MAX_FRAME_BYTES = 256 * 1024 * 1024
MAX_TEXT_FIELD = 1024 * 1024
MAX_CONTAINER_LEN = 4096
READ_CHUNK = 1024 * 1024
SEGMENT_DELETED = "the segment file was deleted"


class RecordType(IntEnum):
    HEADER = 0
    OPEN = 1
    MESSAGE = 2
    CLOSE = 3
    ERROR = 4


class CaptureError(Exception):
    """A capture that cannot be read; the message names the file and the offset."""


class CaptureWarning(UserWarning):
    """Something in a capture was skipped, such as a truncated last record."""


@dataclass(frozen=True, slots=True)
class Header:
    version: int
    recorder: str
    created: float
    session: str
    segment: int


@dataclass(frozen=True, slots=True)
class Open:
    connection: str
    ts: float
    url: str
    path: str
    subprotocol: str | None
    client: str | None
    server: str | None
    request_headers: tuple[tuple[str, str], ...] = ()
    response_headers: tuple[tuple[str, str], ...] = ()
    continued: bool = False
    transport: str = "websocket"  # or "sse", "ndjson": an HTTP response streamed as events
    method: str | None = None  # the HTTP method of a stream's request (None for WebSocket)
    status: int | None = None  # the HTTP status of a stream's response


@dataclass(frozen=True, slots=True)
class Message:
    connection: str
    ts: float
    from_client: bool
    is_text: bool
    payload: bytes
    # A server-sent event's own fields beside its data (the payload); None elsewhere.
    event: str | None = None
    event_id: str | None = None
    retry: int | None = None

    @property
    def direction(self) -> str:
        return "client" if self.from_client else "server"

    @property
    def kind(self) -> str:
        return "text" if self.is_text else "binary"


@dataclass(frozen=True, slots=True)
class Close:
    connection: str
    ts: float
    code: int | None
    reason: str
    closed_by: str | None
    # How an HTTP stream ended: "complete", "reset" (cut by the server or network) or
    # "abort" (the client left); None for WebSocket, whose close code says it.
    end: str | None = None


@dataclass(frozen=True, slots=True)
class Error:
    connection: str
    ts: float
    message: str


Record = Open | Message | Close | Error
