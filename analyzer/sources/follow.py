"""A capture read while its recorder writes it, as `tail -f` reads a log: each poll returns the
records completed since the last one, across segment rotation and sessions, and `close` reads
the rest once the recorder has closed the capture. What `wstape watch` judges as it happens."""

from __future__ import annotations

import heapq
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

import msgpack

from wstape.recorder.capture import (
    READ_CHUNK,
    SEGMENT_SUFFIX,
    CaptureError,
    CaptureWarning,
    Open,
    Record,
)
from wstape.recorder.decode import (
    check_header,
    check_tail,
    decode_record,
    error_at,
    segment_unpacker,
    why,
)

Warn = Callable[[str], None]


class _Segment:
    """One segment file read as it grows: the bytes appended since the last read go into a
    msgpack Unpacker, which keeps a record written in part until the rest of it arrives."""

    def __init__(self, path: Path, seen: set[str]) -> None:
        self.path = path
        self._seen = seen  # the session's connections opened so far (a segment re-declares them)
        self._file: BinaryIO | None = None
        self._unpacker = segment_unpacker(None)
        self._conns: dict[int, str] = {}
        self._header = False
        self._offset = 0  # where the next record starts

    def read(self) -> list[Record]:
        if self._file is None:
            try:
                self._file = open(self.path, "rb")
            except OSError as exc:
                raise CaptureError(f"{self.path}: cannot open: {exc.strerror or exc}") from None
        records: list[Record] = []
        try:
            while data := self._file.read(READ_CHUNK):
                self._unpacker.feed(data)
                self._drain(records)
        except (ValueError, msgpack.UnpackException) as exc:
            raise error_at(self.path, self._offset, f"corrupt record ({why(exc)})") from None
        except OSError as exc:
            raise error_at(self.path, self._offset, f"cannot read: {exc.strerror or exc}") from None
        return records

    def _drain(self, records: list[Record]) -> None:
        for obj in self._unpacker:
            if not self._header:
                check_header(self.path, obj)
                self._header = True
            else:
                try:
                    record = decode_record(obj, self._conns)
                except ValueError as exc:
                    raise error_at(self.path, self._offset, f"malformed record: {exc}") from None
                if type(record) is not Open or record.connection not in self._seen:
                    if type(record) is Open:
                        self._seen.add(record.connection)
                    records.append(record)
            self._offset = self._unpacker.tell()

    def close(self, warn: Warn) -> list[Record]:
        """The rest of a segment that will not grow again; what is left of a record cut short
        there is a truncated tail, as the capture reader says it."""
        records = self.read()
        assert self._file is not None
        size = os.fstat(self._file.fileno()).st_size
        try:
            if not self._header and size:
                raise error_at(self.path, 0, "not a wstape capture (no complete header record)")
            if not self._header:
                warn(f"{self.path}: empty segment (recorder stopped before writing), skipped")
            elif self._offset < size:
                check_tail(self.path, self._file, self._offset)
                warn(
                    f"{self.path}: truncated last record at offset {self._offset} "
                    f"({size - self._offset} bytes not read)"
                )
        finally:
            self._file.close()
        return records


class _Session:
    """One recorder's segments, read in order: a segment is complete once a later one exists,
    since the writer closes a segment before it creates the next."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self._at = 0  # the segment being read
        self._segment: _Segment | None = None
        self._seen: set[str] = set()

    def read(self, warn: Warn, closing: bool = False) -> list[Record]:
        records: list[Record] = []
        while self._at < len(self.files):
            if self._segment is None:
                self._segment = _Segment(self.files[self._at], self._seen)
            if self._at == len(self.files) - 1 and not closing:
                records += self._segment.read()
                break
            records += self._segment.close(warn)
            self._segment = None
            self._at += 1
        return records


class Follower:
    """Follows the capture at `path` (a folder, or one segment) as it is written.

    `poll()` returns the records completed since the last poll: each session's in the order its
    recorder wrote them, several sessions merged by time within each poll. A folder that does
    not exist yet is waited for; the segment files in `ignore` are left out (those of an earlier
    recording into the same folder). `close()`, once the recorder has closed the capture, returns
    the rest and reports a record cut short at the end of a segment through `warn` (a
    CaptureWarning by default); anything malformed raises CaptureError naming file and offset.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        warn: Warn | None = None,
        ignore: Iterable[str | os.PathLike] = (),
    ) -> None:
        self.path = Path(path)
        self._warn = warn or _default_warn
        self._sessions: dict[str, _Session] = {}
        self._known: set[Path] = {Path(file) for file in ignore}

    def poll(self) -> list[Record]:
        return self._read(closing=False)

    def close(self) -> list[Record]:
        return self._read(closing=True)

    def _read(self, closing: bool) -> list[Record]:
        # The folder is listed before any segment is read: a segment seen complete (a later
        # one listed) is then read to its true end.
        self._discover()
        batches = [session.read(self._warn, closing) for session in self._sessions.values()]
        if len(batches) == 1:
            return batches[0]
        return list(heapq.merge(*batches, key=_ts))

    def _discover(self) -> None:
        try:
            if self.path.is_dir():
                files = sorted(
                    p for p in self.path.iterdir() if p.suffix == SEGMENT_SUFFIX and p.is_file()
                )
            else:
                files = [self.path] if self.path.is_file() else []
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot list: {exc.strerror or exc}") from None
        for file in files:
            if file not in self._known:
                self._known.add(file)
                # SESSION-NNNNN.wstape: sorted names are each session's write order.
                self._sessions.setdefault(file.stem.rsplit("-", 1)[0], _Session()).files.append(
                    file
                )


def _ts(record: Record) -> float:
    return record.ts


def _default_warn(message: str) -> None:
    warnings.warn(message, CaptureWarning, stacklevel=3)
