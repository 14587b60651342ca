"""The wstape capture format: the records, the writer the recorder appends to, and the
reader everything offline starts from. Import from here; the three modules behind it
hold one concern each.

A recording is a folder of segment files, each a msgpack stream that begins with a
header. docs/capture-format.md describes every byte; nothing here imports mitmproxy,
so captures can be read where mitmproxy is not installed.
"""

from wstape.recorder.reader import read_capture, read_capture_messages, read_segment, segment_files
from wstape.recorder.records import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_CONTAINER_LEN,
    MAX_FRAME_BYTES,
    MAX_TEXT_FIELD,
    READ_CHUNK,
    SEGMENT_DELETED,
    SEGMENT_SUFFIX,
    CaptureError,
    CaptureWarning,
    Close,
    Error,
    Header,
    Message,
    Open,
    Record,
    RecordType,
)
from wstape.recorder.writer import CaptureWriter

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "MAX_CONTAINER_LEN", "MAX_FRAME_BYTES", "MAX_TEXT_FIELD",
    "READ_CHUNK", "SEGMENT_DELETED", "SEGMENT_SUFFIX", "CaptureError", "CaptureWarning",
    "CaptureWriter", "Close", "Error", "Header", "Message", "Open", "Record", "RecordType",
    "read_capture", "read_capture_messages", "read_segment", "segment_files",
]  # fmt: skip
