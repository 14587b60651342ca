"""The wstape capture format: the writer the recorder appends to, and the reader
everything offline starts from.

A recording is a folder of segment files, each a msgpack stream that begins with
a header. docs/capture-format.md describes every byte; this module must not
import mitmproxy, so captures can be read where mitmproxy is not installed.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import secrets
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

import msgpack

FORMAT_NAME = "wstape"
FORMAT_VERSION = 1
SEGMENT_SUFFIX = ".wstape"

# Reader limits: a capture is untrusted input, so no declared length may make the
# reader allocate more than one frame could honestly need.
MAX_FRAME_BYTES = 256 * 1024 * 1024
MAX_TEXT_FIELD = 1024 * 1024
MAX_CONTAINER_LEN = 4096
READ_CHUNK = 1024 * 1024


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


@dataclass(frozen=True, slots=True)
class Message:
    connection: str
    ts: float
    from_client: bool
    is_text: bool
    payload: bytes

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


@dataclass(frozen=True, slots=True)
class Error:
    connection: str
    ts: float
    message: str


Record = Open | Message | Close | Error


def _pairs(headers: Iterable[tuple[str, str]]) -> list[list[str]]:
    return [[str(k), str(v)] for k, v in headers]


@dataclass
class _Segment:
    path: Path
    fd: int
    size: int = 0


@dataclass
class CaptureWriter:
    """Appends records to a recording folder, one segment at a time.

    Records are buffered and written when the buffer is large or `flush_interval`
    has passed, so a `kill -9` loses at most that interval. The caller (the
    addon) also calls `flush()` on a timer so an idle tail reaches disk.
    """

    directory: Path
    recorder_version: str = "0"
    segment_bytes: int = 64 * 1024 * 1024
    flush_interval: float = 0.1
    flush_bytes: int = 1024 * 1024
    clock: Callable[[], float] = time.time
    session: str = field(default="")
    _segment: _Segment | None = field(default=None, init=False)
    _segment_no: int = field(default=0, init=False)
    _buffer: bytearray = field(default_factory=bytearray, init=False)
    _last_flush: float = field(default=0.0, init=False)
    _conn_index: dict[str, int] = field(default_factory=dict, init=False)
    _open_records: dict[str, Open] = field(default_factory=dict, init=False)
    _next_index: int = field(default=0, init=False)
    _packer: msgpack.Packer = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self._packer = msgpack.Packer(use_bin_type=True)
        if not self.session:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self.clock()))
            self.session = f"{stamp}-{os.getpid()}-{secrets.token_hex(3)}"
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._start_segment()

    @property
    def segment_path(self) -> Path | None:
        return self._segment.path if self._segment else None

    @property
    def open_connections(self) -> int:
        return len(self._open_records)

    def open(self, record: Open) -> None:
        index = self._next_index
        self._next_index += 1
        self._conn_index[record.connection] = index
        self._open_records[record.connection] = record
        self._append(self._pack_open(index, record))

    def message(
        self, connection: str, ts: float, from_client: bool, is_text: bool, payload: bytes
    ) -> None:
        index = self._index_of(connection)
        self._append(
            self._packer.pack([RecordType.MESSAGE, index, ts, from_client, is_text, payload])
        )

    def close(
        self, connection: str, ts: float, code: int | None, reason: str, closed_by: str | None
    ) -> None:
        index = self._index_of(connection)
        body = {"code": code, "reason": reason, "closed_by": closed_by}
        self._append(self._packer.pack([RecordType.CLOSE, index, ts, body]))
        self._forget(connection)

    def error(self, connection: str, ts: float, message: str) -> None:
        index = self._index_of(connection)
        self._append(self._packer.pack([RecordType.ERROR, index, ts, {"message": message}]))
        self._forget(connection)

    def maybe_flush(self) -> None:
        if len(self._buffer) >= self.flush_bytes or (
            self._buffer and self.clock() - self._last_flush >= self.flush_interval
        ):
            self.flush()

    def flush(self) -> None:
        self._write_buffer()
        if self._segment is not None and self._segment.size >= self.segment_bytes:
            self._rotate()

    def _write_buffer(self) -> None:
        self._last_flush = self.clock()
        if not self._buffer or self._segment is None:
            return
        view = memoryview(self._buffer)
        written = 0
        try:
            while written < len(view):
                written += os.write(self._segment.fd, view[written:])
        finally:
            view.release()
            # On a failed write what did reach the file stays counted, so a
            # retry never writes the same bytes twice.
            del self._buffer[:written]
            self._segment.size += written

    def open_connection_ids(self) -> list[str]:
        return list(self._open_records)

    def abandon(self) -> None:
        """Closes the segment without writing what is buffered (after a failed write)."""
        self._buffer.clear()
        if self._segment is not None:
            with contextlib.suppress(OSError):
                os.close(self._segment.fd)
            self._segment = None

    def close_all(self) -> None:
        """Flush and close the current segment; the writer is done."""
        try:
            self.flush()
        finally:
            if self._segment is not None:
                os.close(self._segment.fd)
                self._segment = None

    def _index_of(self, connection: str) -> int:
        try:
            return self._conn_index[connection]
        except KeyError:
            raise KeyError(f"connection {connection!r} was never opened") from None

    def _forget(self, connection: str) -> None:
        self._open_records.pop(connection, None)
        self._conn_index.pop(connection, None)

    def _append(self, data: bytes) -> None:
        self._buffer += data
        self.maybe_flush()

    def _pack_open(self, index: int, record: Open) -> bytes:
        body = {
            "id": record.connection,
            "url": record.url,
            "path": record.path,
            "subprotocol": record.subprotocol,
            "client": record.client,
            "server": record.server,
            "request_headers": _pairs(record.request_headers),
            "response_headers": _pairs(record.response_headers),
            "continued": record.continued,
        }
        return self._packer.pack([RecordType.OPEN, index, record.ts, body])

    def _start_segment(self) -> None:
        self._segment_no += 1
        path = self.directory / f"{self.session}-{self._segment_no:05d}{SEGMENT_SUFFIX}"
        # O_EXCL: two recorders never share a segment; 0600: captures hold user chats.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._segment = _Segment(path, fd)
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "recorder": self.recorder_version,
            "created": self.clock(),
            "session": self.session,
            "segment": self._segment_no,
        }
        self._buffer += self._packer.pack([RecordType.HEADER, header])
        # Each segment re-declares the connections still open, so any segment can
        # be read on its own (for parallel analysis) and still name its frames.
        for connection, record in self._open_records.items():
            continued = Open(**{**_as_dict(record), "continued": True})
            self._buffer += self._pack_open(self._conn_index[connection], continued)
        self._write_buffer()

    def _rotate(self) -> None:
        assert self._segment is not None
        os.close(self._segment.fd)
        self._segment = None
        self._start_segment()


def _as_dict(record: Open) -> dict:
    return {name: getattr(record, name) for name in Open.__slots__}


# ---------------------------------------------------------------- reading


def _fail(path: Path, offset: int, what: str) -> CaptureError:
    return CaptureError(f"{path}: offset {offset}: {what}")


def _unpacker(stream) -> msgpack.Unpacker:
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


def _check_header(path: Path, obj: object) -> Header:
    if not (
        isinstance(obj, list)
        and len(obj) == 2
        and obj[0] == RecordType.HEADER
        and isinstance(obj[1], dict)
    ):
        raise _fail(path, 0, "not a wstape capture (no header record)")
    head = obj[1]
    if head.get("format") != FORMAT_NAME:
        raise _fail(path, 0, f"not a wstape capture (format {head.get('format')!r})")
    version = head.get("version")
    if version != FORMAT_VERSION:
        raise _fail(
            path,
            0,
            f"capture format version {version!r} is not supported "
            f"(this wstape reads version {FORMAT_VERSION})",
        )
    try:
        return Header(
            version=int(version),
            recorder=str(head.get("recorder", "")),
            created=float(head.get("created", 0.0)),
            session=str(head.get("session", "")),
            segment=int(head.get("segment", 0)),
        )
    except (TypeError, ValueError) as exc:
        raise _fail(path, 0, f"malformed header: {exc}") from None


def _headers(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise ValueError("headers are not a list")
    out = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ValueError("a header is not a [name, value] pair")
        out.append((str(pair[0]), str(pair[1])))
    return tuple(out)


def _decode(obj: object, conns: dict[int, str]) -> Record | None:
    """Turns one raw record into a typed one; raises ValueError when malformed."""
    if not isinstance(obj, list) or len(obj) < 3:
        raise ValueError("record is not an array of at least three items")
    kind, index, ts = obj[0], obj[1], obj[2]
    if not isinstance(index, int) or not isinstance(ts, float | int):
        raise ValueError("record has no connection index or timestamp")
    if kind == RecordType.MESSAGE:
        if len(obj) != 6 or not isinstance(obj[5], bytes):
            raise ValueError("message record is malformed")
        conn = conns.get(index)
        if conn is None:
            raise ValueError(f"message for connection {index} that was never opened")
        return Message(conn, float(ts), bool(obj[3]), bool(obj[4]), obj[5])
    if len(obj) != 4 or not isinstance(obj[3], dict):
        raise ValueError(f"record of type {kind!r} is malformed")
    body = obj[3]
    if kind == RecordType.OPEN:
        conn = str(body["id"])
        conns[index] = conn
        return Open(
            connection=conn,
            ts=float(ts),
            url=str(body.get("url", "")),
            path=str(body.get("path", "")),
            subprotocol=body.get("subprotocol"),
            client=body.get("client"),
            server=body.get("server"),
            request_headers=_headers(body.get("request_headers", [])),
            response_headers=_headers(body.get("response_headers", [])),
            continued=bool(body.get("continued", False)),
        )
    conn = conns.get(index)
    if conn is None:
        raise ValueError(f"record for connection {index} that was never opened")
    if kind == RecordType.CLOSE:
        code = body.get("code")
        return Close(
            conn, float(ts), int(code) if code is not None else None,
            str(body.get("reason") or ""), body.get("closed_by"),
        )  # fmt: skip
    if kind == RecordType.ERROR:
        return Error(conn, float(ts), str(body.get("message", "")))
    raise ValueError(f"unknown record type {kind!r}")


def read_segment(
    path: str | os.PathLike, warn: Callable[[str], None] | None = None
) -> Iterator[Record]:
    """Yields the records of one segment file in the order they were written.

    A truncated last record (a recorder killed mid-write) is reported through
    `warn` and skipped; anything else malformed raises CaptureError.
    """
    path = Path(path)
    warn = warn or _default_warn
    try:
        stream = open(path, "rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with stream:
        size = os.fstat(stream.fileno()).st_size
        unpacker = _unpacker(stream)
        conns: dict[int, str] = {}
        offset = 0
        try:
            first = next(unpacker, None)
        except (ValueError, msgpack.UnpackException) as exc:
            raise _fail(path, 0, f"not a wstape capture ({exc})") from None
        if first is None:
            if size:
                raise _fail(path, 0, "not a wstape capture (no complete header record)")
            warn(f"{path}: empty segment (recorder stopped before writing), skipped")
            return
        _check_header(path, first)
        offset = unpacker.tell()
        while True:
            try:
                obj = next(unpacker)
            except StopIteration:
                break
            except (ValueError, msgpack.UnpackException) as exc:
                raise _fail(path, offset, f"corrupt record ({exc})") from None
            try:
                record = _decode(obj, conns)
            except (ValueError, KeyError, TypeError) as exc:
                raise _fail(path, offset, f"malformed record: {exc}") from None
            offset = unpacker.tell()
            if record is not None:
                yield record
        if offset < size:
            warn(
                f"{path}: truncated last record at offset {offset} ({size - offset} bytes not read)"
            )


def _default_warn(message: str) -> None:
    warnings.warn(message, CaptureWarning, stacklevel=3)


def segment_files(path: str | os.PathLike) -> list[Path]:
    """The segment files of a recording folder (or the file itself), in write order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == SEGMENT_SUFFIX and p.is_file())
        if not files:
            raise CaptureError(f"{path}: no {SEGMENT_SUFFIX} segment files in this folder")
        return files
    if path.is_file():
        return [path]
    raise CaptureError(f"{path}: no such file or folder")


def _session_of(path: Path) -> str:
    # Segment names are SESSION-NNNNN.wstape; one recorder process is one session.
    return path.stem.rsplit("-", 1)[0]


def _session_stream(files: list[Path], warn: Callable[[str], None] | None) -> Iterator[Record]:
    seen_open: set[str] = set()
    for file in files:
        for record in read_segment(file, warn):
            if isinstance(record, Open):
                if record.connection in seen_open:
                    continue  # re-declared at a segment start; already yielded
                seen_open.add(record.connection)
            yield record


def read_capture(
    path: str | os.PathLike, warn: Callable[[str], None] | None = None
) -> Iterator[Record]:
    """Yields every record of a recording (a folder or one segment).

    Segments of one recorder session are read in order; several sessions in one
    folder are merged by timestamp, keeping each session's own order.
    """
    sessions: dict[str, list[Path]] = {}
    for file in segment_files(path):
        sessions.setdefault(_session_of(file), []).append(file)
    streams = [_session_stream(files, warn) for files in sessions.values()]
    if len(streams) == 1:
        yield from streams[0]
    else:
        yield from heapq.merge(*streams, key=lambda record: record.ts)


def read_messages(
    path: str | os.PathLike, warn: Callable[[str], None] | None = None
) -> Iterator[Message]:
    """Only the messages of a recording, in capture order."""
    for record in read_capture(path, warn):
        if isinstance(record, Message):
            yield record
