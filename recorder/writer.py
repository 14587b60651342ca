"""Appends capture records to a recording folder, segment by segment: the plain-Python
half of the recorder that the mitmproxy addon hands every WebSocket event to."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from wstape.recorder.private import make_private_dirs
from wstape.recorder.records import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SEGMENT_DELETED,
    SEGMENT_SUFFIX,
    Close,
    Message,
    Open,
    Record,
    RecordType,
)


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
    # The redaction in force, as the header tells readers (None: the writer's caller says none).
    redaction: dict | None = None
    _segment: _Segment | None = field(default=None, init=False)
    _segment_no: int = field(default=0, init=False)
    _buffer: bytearray = field(default_factory=bytearray, init=False)
    _last_flush: float = field(default=0.0, init=False)
    _conn_index: dict[str, int] = field(default_factory=dict, init=False)
    _open_records: dict[str, Open] = field(default_factory=dict, init=False)
    _next_index: int = field(default=0, init=False)
    _unwritten: int | None = field(default=None, init=False)  # set by a failed write
    _packer: msgpack.Packer = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self._packer = msgpack.Packer(use_bin_type=True)
        if not self.session:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self.clock()))
            self.session = f"{stamp}-{os.getpid()}-{secrets.token_hex(3)}"
        make_private_dirs(self.directory)
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

    def event(
        self,
        connection: str,
        ts: float,
        payload: bytes,
        event: str | None = None,
        event_id: str | None = None,
        retry: int | None = None,
    ) -> None:
        """One server-sent event of an HTTP stream: its data as the payload, and the fields
        the event gave beside it. An event of data alone (and an NDJSON line) is a plain
        six-item message: the seventh item is written only when there is something in it."""
        index = self._index_of(connection)
        record = [RecordType.MESSAGE, index, ts, False, True, payload]
        if event is not None or event_id is not None or retry is not None:
            fields: dict = {}
            if event is not None:
                fields["event"] = event
            if event_id is not None:
                fields["id"] = event_id
            if retry is not None:
                fields["retry"] = retry
            record.append(fields)
        self._append(self._packer.pack(record))

    def close(
        self,
        connection: str,
        ts: float,
        code: int | None,
        reason: str,
        closed_by: str | None,
        end: str | None = None,
    ) -> None:
        index = self._index_of(connection)
        body = {"code": code, "reason": reason, "closed_by": closed_by}
        if end is not None:
            body["end"] = end
        self._append(self._packer.pack([RecordType.CLOSE, index, ts, body]))
        self._forget(connection)

    def write(self, record: Record) -> None:
        """Appends a record as read back from a capture (or built by hand)."""
        if isinstance(record, Message):
            if record.from_client or not record.is_text:
                self.message(record.connection, record.ts, record.from_client, record.is_text,
                             record.payload)  # fmt: skip
            else:
                self.event(record.connection, record.ts, record.payload, record.event,
                           record.event_id, record.retry)  # fmt: skip
        elif isinstance(record, Open):
            self.open(record)
        elif isinstance(record, Close):
            self.close(record.connection, record.ts, record.code, record.reason, record.closed_by,
                       record.end)  # fmt: skip
        else:
            self.error(record.connection, record.ts, record.message)

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
        segment = self._segment
        if segment is None:
            return
        if os.fstat(segment.fd).st_nlink == 0:
            # The capture was deleted under us: writing on would fill a file nobody can
            # open, and no write would ever fail to say so.
            raise FileNotFoundError(errno.ENOENT, SEGMENT_DELETED, str(segment.path))
        if segment.size >= self.segment_bytes:
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
        except OSError:
            # The file may now end inside a record: count, while the whole buffer is
            # still here, the messages that did not wholly reach it.
            self._unwritten = _messages_ending_after(view, written)
            raise
        finally:
            view.release()
            # On a failed write what did reach the file stays counted, so a
            # retry never writes the same bytes twice.
            del self._buffer[:written]
            self._segment.size += written

    def open_connection_ids(self) -> list[str]:
        return list(self._open_records)

    def abandon(self) -> int:
        """Closes the segment without writing what is buffered (after a failed write);
        returns how many messages given to the writer never wholly reached a file."""
        lost = self._unwritten
        if lost is None:  # the failure was not a write: the buffer holds whole records
            lost = _messages_ending_after(self._buffer, 0)
        self._buffer.clear()
        if self._segment is not None:
            with contextlib.suppress(OSError):
                os.close(self._segment.fd)
            self._segment = None
        return lost

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
        if record.transport != "websocket":
            body.update(transport=record.transport, method=record.method, status=record.status)
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
        if self.redaction is not None:
            header["redaction"] = self.redaction
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


def _messages_ending_after(data: bytes | bytearray | memoryview, start: int) -> int:
    """How many message records in `data` (our own, whole records from its first byte)
    end beyond byte `start`. Only for failures, so it may decode everything."""
    unpacker = msgpack.Unpacker(max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    return sum(1 for record in unpacker if record[0] == 2 and unpacker.tell() > start)


def _as_dict(record: Open) -> dict:
    return {name: getattr(record, name) for name in Open.__slots__}
