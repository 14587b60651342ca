"""Where records come from: a wstape capture, a mitmproxy flow file or a HAR file, told apart
by their first bytes (never by the file name), each read into the same `wstape.recorder.capture`
records so everything downstream of `read_records` is the same for all three.

Also the split of one input into parts that can be read on their own (a capture's segments),
which the parallel analysis (analyzer/parallel.py) hands to workers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from wstape.analyzer.sources.flowfile import read_flows
from wstape.analyzer.sources.har import read_har
from wstape.recorder.capture import (
    SEGMENT_SUFFIX,
    CaptureError,
    Message,
    Record,
    read_capture,
    read_segment,
    segment_files,
)

PathLike = str | os.PathLike
Warn = Callable[[str], None] | None
SNIFF_BYTES = 64
_WSTAPE_HEAD = b"\x92\x00"  # msgpack: a two-item array whose first item is record type 0
_TNETSTRING_HEAD = re.compile(rb"\d{1,12}:")
_BOM = b"\xef\xbb\xbf"


class Kind(StrEnum):
    WSTAPE = "wstape capture"
    FLOWS = "mitmproxy flow file"
    HAR = "HAR file"


def detect(path: PathLike) -> Kind:
    """What PATH holds, from its content; raises CaptureError when it is none of the three."""
    path = Path(path)
    if path.is_dir():
        return Kind.WSTAPE  # a recording folder; the capture reader checks its segments
    try:
        with open(path, "rb") as file:
            head = file.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file or folder") from None
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open: {exc.strerror or exc}") from None
    if head.startswith(_WSTAPE_HEAD) or (not head and path.suffix == SEGMENT_SUFFIX):
        return Kind.WSTAPE
    if _TNETSTRING_HEAD.match(head):
        return Kind.FLOWS
    if head.removeprefix(_BOM).lstrip(b" \t\r\n").startswith(b"{"):
        return Kind.HAR
    what = "an empty file" if not head else f"starts with {head[:8]!r}"
    raise CaptureError(f"{path}: not a wstape capture, mitmproxy flow file or HAR file ({what})")


def read_records(path: PathLike, warn: Warn = None) -> Iterator[Record]:
    """Every record of a wstape capture (folder or segment), a mitmproxy flow file or a HAR
    file, in capture order; errors are CaptureError naming the file, raised while iterating."""
    kind = detect(path)
    if kind is Kind.WSTAPE:
        yield from read_capture(path, warn)
    else:
        yield from read_part(Part(os.fspath(path), kind), warn)


def read_messages(path: PathLike, warn: Warn = None) -> Iterator[Message]:
    """Only the messages of any input `read_records` reads."""
    for record in read_records(path, warn):
        if isinstance(record, Message):
            yield record


@dataclass(frozen=True, slots=True)
class Part:
    """A file that can be read on its own: one capture segment, or a whole flow or HAR file.

    `session` groups the segments that one recorder wrote, which are read in order; sessions
    (and inputs) are merged by time.
    """

    file: str
    kind: Kind
    session: str = ""


def parts(path: PathLike) -> list[Part]:
    """The parts of an input in the order `read_records` reads them (before merging)."""
    kind = detect(path)
    if kind is not Kind.WSTAPE:
        return [Part(os.fspath(path), kind)]
    return [Part(os.fspath(f), kind, session_of(f)) for f in segment_files(path)]


def session_of(segment: Path) -> str:
    # Segment names are SESSION-NNNNN.wstape, as wstape.recorder.capture names and groups them.
    return segment.stem.rsplit("-", 1)[0]


def read_part(part: Part, warn: Warn = None) -> Iterator[Record]:
    """The records of one part, as its reader yields them."""
    if part.kind is Kind.WSTAPE:
        return read_segment(part.file, warn)
    if part.kind is Kind.FLOWS:
        return read_flows(part.file, warn)
    return read_har(part.file, warn)
