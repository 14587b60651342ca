"""Reads capture segments and recordings back as typed records: one segment in write order, a
recorder session's segments as one stream, several sessions merged by time. Every file is
untrusted; decode.py checks each record, and anything malformed is one CaptureError naming
the file and offset."""

from __future__ import annotations

import contextlib
import heapq
import os
import warnings
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import msgpack

from wstape.recorder.decode import (
    check_header,
    check_tail,
    decode_record,
    error_at,
    segment_unpacker,
    why,
)
from wstape.recorder.records import (
    SEGMENT_SUFFIX,
    CaptureError,
    CaptureWarning,
    Header,
    Message,
    Open,
    Record,
)

_new = object.__new__


def read_segment(
    path: str | os.PathLike, warn: Callable[[str], None] | None = None
) -> Iterator[Record]:
    """Yields the records of one segment file in the order they were written.

    A truncated last record (a recorder killed mid-write) is reported through
    `warn` and skipped; anything else malformed raises CaptureError.
    """
    return _segment(Path(path), warn or _default_warn, None)


class _MessageSlots:
    """Message's slot layout without `frozen`. The reader fills these slots and then sets
    `__class__ = Message`, which builds a real, equal, immutable Message in a third of
    the time of the frozen __init__ (one object.__setattr__ call per field): messages
    are nearly every record, and this was most of the reader's own time."""

    __slots__ = Message.__slots__


def _segment(path: Path, warn: Callable[[str], None], seen: set[str] | None) -> Iterator[Record]:
    """read_segment; with `seen`, an Open of a connection in it is skipped (a
    re-declaration at a segment start), and every Open yielded is added to it."""
    with _open_segment(path) as (stream, unpacker, size):
        if not _read_header(path, unpacker, size, warn):
            return
        conns: dict[int, str] = {}
        offset = unpacker.tell()
        try:
            for obj in unpacker:
                if type(obj) is list and len(obj) == 6:
                    kind, index, ts, from_client, is_text, payload = obj
                    if (
                        kind == 2
                        and type(index) is int
                        and type(ts) is float
                        and ts - ts == 0.0  # finite: NaN and ±inf take the slow path and fail
                        and type(payload) is bytes
                        and type(from_client) is bool
                        and type(is_text) is bool
                        and index in conns
                    ):
                        message = _new(_MessageSlots)
                        message.connection, message.ts, message.payload = conns[index], ts, payload
                        message.from_client, message.is_text = from_client, is_text
                        message.event = message.event_id = message.retry = None
                        message.__class__ = Message
                        yield message
                        offset = unpacker.tell()
                        continue
                try:
                    record = decode_record(obj, conns)
                except ValueError as exc:
                    raise error_at(path, offset, f"malformed record: {exc}") from None
                offset = unpacker.tell()
                if seen is not None and type(record) is Open:
                    if record.connection in seen:
                        continue
                    seen.add(record.connection)
                yield record
        except (ValueError, msgpack.UnpackException) as exc:
            raise error_at(path, offset, f"corrupt record ({why(exc)})") from None
        except OSError as exc:
            raise error_at(path, offset, f"cannot read: {exc.strerror or exc}") from None
        if offset < size:
            check_tail(path, stream, offset)
            warn(
                f"{path}: truncated last record at offset {offset} ({size - offset} bytes not read)"
            )


@contextlib.contextmanager
def _open_segment(path: Path) -> Iterator[tuple[BinaryIO, msgpack.Unpacker, int]]:
    try:
        stream = open(path, "rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with stream:
        yield stream, segment_unpacker(stream), os.fstat(stream.fileno()).st_size


def _read_header(
    path: Path, unpacker: msgpack.Unpacker, size: int, warn: Callable[[str], None]
) -> Header | None:
    """The segment's header, or None (with a warning) for an empty segment."""
    try:
        first = next(unpacker, None)
    except (ValueError, msgpack.UnpackException) as exc:
        raise error_at(path, 0, f"not a wstape capture ({why(exc)})") from None
    except OSError as exc:
        raise error_at(path, 0, f"cannot read: {exc.strerror or exc}") from None
    if first is None:
        if size:
            raise error_at(path, 0, "not a wstape capture (no complete header record)")
        warn(f"{path}: empty segment (recorder stopped before writing), skipped")
        return None
    return check_header(path, first)


def _default_warn(message: str) -> None:
    warnings.warn(message, CaptureWarning, stacklevel=3)


def segment_files(path: str | os.PathLike) -> list[Path]:
    """The segment files of a recording folder (or the file itself), in write order."""
    path = Path(path)
    if path.is_dir():
        try:
            files = sorted(p for p in path.iterdir() if p.suffix == SEGMENT_SUFFIX and p.is_file())
        except OSError as exc:
            raise CaptureError(f"{path}: cannot list: {exc.strerror or exc}") from None
        if not files:
            raise CaptureError(f"{path}: no {SEGMENT_SUFFIX} segment files in this folder")
        return files
    if path.is_file():
        return [path]
    raise CaptureError(f"{path}: no such file or folder")


def _session_of(path: Path) -> str:
    # Segment names are SESSION-NNNNN.wstape; one recorder process is one session.
    return path.stem.rsplit("-", 1)[0]


def _session(files: list[Path], warn: Callable[[str], None]) -> Iterator[Record]:
    """One recorder session's segments in order, each connection opened once (the
    later segments re-declare the connections still open)."""
    seen: set[str] = set()
    return chain.from_iterable(_segment(file, warn, seen) for file in files)


def read_capture(
    path: str | os.PathLike, warn: Callable[[str], None] | None = None
) -> Iterator[Record]:
    """Yields every record of a recording (a folder or one segment).

    Segments of one recorder session are read in order; several sessions in one
    folder are merged by timestamp, keeping each session's own order. Errors, a
    missing folder included, are raised while iterating, not by this call.
    """
    # A chain over a lazy generator rather than a generator of our own: records
    # pass from the segment reader to the caller with no Python frame in between.
    return chain.from_iterable(_capture(Path(path), warn or _default_warn))


def _capture(path: Path, warn: Callable[[str], None]) -> Iterator[Iterator[Record]]:
    sessions: dict[str, list[Path]] = {}
    for file in segment_files(path):
        sessions.setdefault(_session_of(file), []).append(file)
    streams = [_session(files, warn) for files in sessions.values()]
    yield streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_ts)


def _ts(record: Record) -> float:
    return record.ts


def read_capture_messages(
    path: str | os.PathLike, warn: Callable[[str], None] | None = None
) -> Iterator[Message]:
    """Only the messages of a recording, in capture order."""
    for record in read_capture(path, warn):
        if isinstance(record, Message):
            yield record
