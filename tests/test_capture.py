"""The capture format on its own: what is written reads back exactly, and bad
files give one clear error naming the file and offset."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wstape.recorder.capture import (
    CaptureError,
    CaptureWriter,
    Close,
    Error,
    Message,
    Open,
    read_capture,
    read_capture_messages,
    segment_files,
)


def opened(conn: str, ts: float = 1.0) -> Open:
    return Open(conn, ts, "ws://h/ws", "/ws", None, "127.0.0.1:1", "127.0.0.1:2")


def write_sample(directory: Path, messages: list[tuple[bool, bool, bytes]], **kw) -> list[str]:
    writer = CaptureWriter(directory, **kw)
    writer.open(opened("c1"))
    for i, (from_client, is_text, payload) in enumerate(messages):
        writer.message("c1", 2.0 + i / 1000, from_client, is_text, payload)
    writer.close("c1", 9.0, 1000, "bye", "client")
    writer.close_all()
    return [p.name for p in segment_files(directory)]


def test_messages_read_back_exactly_in_order(tmp_path: Path) -> None:
    sent = [
        (True, True, b"hello"),
        (False, False, bytes(range(256))),
        (True, True, b"x" * 3_000_000),
    ]
    write_sample(tmp_path, sent)
    records = list(read_capture(tmp_path))
    assert isinstance(records[0], Open)
    assert [(m.from_client, m.is_text, m.payload) for m in records[1:-1]] == sent
    assert records[-1] == Close("c1", 9.0, 1000, "bye", "client")


def test_segment_files_are_private(tmp_path: Path) -> None:
    write_sample(tmp_path / "cap", [(True, True, b"a")])
    for file in segment_files(tmp_path / "cap"):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cap").stat().st_mode) == 0o700


def test_rotation_keeps_every_frame_and_each_segment_reads_alone(tmp_path: Path) -> None:
    payloads = [(i % 2 == 0, True, f"frame {i}".encode() * 20) for i in range(500)]
    clock = iter(float(i) for i in range(10_000))
    names = write_sample(tmp_path, payloads, segment_bytes=4096, clock=lambda: next(clock),
                         flush_interval=0.0)  # fmt: skip
    assert len(names) > 3
    got = [m.payload for m in read_capture_messages(tmp_path)]
    assert got == [p for _, _, p in payloads]
    # a middle segment alone still names its connection (re-declared open)
    middle = list(read_capture(tmp_path / names[len(names) // 2]))
    assert isinstance(middle[0], Open) and middle[0].continued


def test_truncated_tail_is_a_warning_and_earlier_frames_survive(tmp_path: Path) -> None:
    write_sample(tmp_path, [(True, True, b"one"), (False, True, b"two" * 100)])
    file = segment_files(tmp_path)[0]
    data = file.read_bytes()
    file.write_bytes(data[:-60])  # cut through the close record into the last message
    warnings: list[str] = []
    records = list(read_capture(tmp_path, warn=warnings.append))
    assert [r.payload for r in records if isinstance(r, Message)] == [b"one"]
    assert len(warnings) == 1 and "truncated last record" in warnings[0]
    assert str(file) in warnings[0]


def test_wrong_version_is_refused_with_the_file_named(tmp_path: Path) -> None:
    file = tmp_path / "x-00001.wstape"
    file.write_bytes(msgpack.packb([0, {"format": "wstape", "version": 99}]))
    with pytest.raises(CaptureError, match=r"x-00001.wstape: offset 0: .*version 99"):
        list(read_capture(file))


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"not msgpack at all", "not a wstape capture"),
        (msgpack.packb({"format": "wstape"}), "not a wstape capture"),
        (msgpack.packb([0, {"format": "pcap", "version": 1}]), "not a wstape capture"),
    ],
)
def test_foreign_files_are_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    file = tmp_path / "f-00001.wstape"
    file.write_bytes(content)
    with pytest.raises(CaptureError, match=problem):
        list(read_capture(file))


def test_message_for_unknown_connection_names_the_offset(tmp_path: Path) -> None:
    file = tmp_path / "s-00001.wstape"
    header = msgpack.packb([0, {"format": "wstape", "version": 1}])
    file.write_bytes(header + msgpack.packb([2, 7, 1.0, True, True, b"x"]))
    with pytest.raises(CaptureError, match=rf"offset {len(header)}: .*never opened"):
        list(read_capture(file))


def test_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no .wstape segment files"):
        list(read_capture(tmp_path))
    with pytest.raises(CaptureError, match="no such file"):
        list(read_capture(tmp_path / "missing"))


def test_two_sessions_in_one_folder_merge_by_time(tmp_path: Path) -> None:
    a = CaptureWriter(tmp_path, session="a")
    b = CaptureWriter(tmp_path, session="b")
    a.open(opened("ca", 1.0))
    b.open(opened("cb", 1.5))
    for i in range(5):
        a.message("ca", 2.0 + i, True, True, f"a{i}".encode())
        b.message("cb", 2.5 + i, True, True, f"b{i}".encode())
    a.close_all()
    b.close_all()
    got = [m.payload.decode() for m in read_capture_messages(tmp_path)]
    assert got == ["a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"]


def test_error_record_reads_back(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path)
    writer.open(opened("c"))
    writer.error("c", 3.0, "recorder stopped while the connection was open")
    writer.close_all()
    assert list(read_capture(tmp_path))[-1] == Error(
        "c", 3.0, "recorder stopped while the connection was open"
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_damage_gives_records_or_one_clear_error(tmp_path: Path, data) -> None:
    """Flipped bytes and cuts anywhere: the reader yields records, warns, or raises
    CaptureError naming the file; it never raises anything else."""
    directory = tmp_path / f"fuzz{data.draw(st.integers(0, 10**9))}"
    write_sample(directory, [(True, True, b"hello" * 10), (False, False, b"\x00\xff" * 40)])
    file = segment_files(directory)[0]
    raw = bytearray(file.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    file.write_bytes(bytes(raw))
    try:
        list(read_capture(file, warn=lambda message: None))
    except CaptureError as exc:
        assert str(file) in str(exc)
    os.remove(file)


@pytest.mark.parametrize("ts", [float("nan"), float("inf"), float("-inf")])
def test_a_timestamp_that_is_not_finite_is_refused(tmp_path: Path, ts: float) -> None:
    file = tmp_path / "s-00001.wstape"
    open_record = [1, 0, 1.0, {"id": "c", "url": "", "path": "", "request_headers": [],
                               "response_headers": []}]  # fmt: skip
    file.write_bytes(
        msgpack.packb([0, {"format": "wstape", "version": 1}])
        + msgpack.packb(open_record)
        + msgpack.packb([2, 0, ts, True, True, b"x"])
    )
    with pytest.raises(CaptureError, match="not a finite number"):
        list(read_capture(file))


def test_records_read_back_can_be_written_again_unchanged(tmp_path: Path) -> None:
    write_sample(tmp_path / "a", [(True, True, b"one"), (False, False, b"\x00two")])
    original = list(read_capture(tmp_path / "a"))
    writer = CaptureWriter(tmp_path / "b")
    for record in original:
        writer.write(record)
    writer.close_all()
    assert list(read_capture(tmp_path / "b")) == original


def _stream_sample(directory: Path) -> None:
    writer = CaptureWriter(directory)
    writer.open(
        Open(
            "s1",
            1.0,
            "http://h/v1/messages",
            "/v1/messages",
            None,
            "127.0.0.1:1",
            "127.0.0.1:2",
            transport="sse",
            method="POST",
            status=200,
        )  # fmt: skip
    )
    writer.message("s1", 1.1, True, True, b'{"stream": true}')
    writer.event("s1", 1.2, b'{"type":"message_start"}', event="message_start", event_id="7")
    writer.event("s1", 1.3, b"", retry=3000)
    writer.close("s1", 1.4, None, "", "server", end="complete")
    writer.close_all()


def test_http_stream_records_read_back_with_their_event_fields(tmp_path: Path) -> None:
    _stream_sample(tmp_path / "a")
    opened_, request, first, retry, closed = read_capture(tmp_path / "a")
    assert (opened_.transport, opened_.method, opened_.status) == ("sse", "POST", 200)
    assert request == Message("s1", 1.1, True, True, b'{"stream": true}')
    assert (first.event, first.event_id, first.retry) == ("message_start", "7", None)
    assert (first.from_client, first.payload) == (False, b'{"type":"message_start"}')
    assert (retry.event, retry.retry) == (None, 3000)
    assert closed == Close("s1", 1.4, None, "", "server", end="complete")
    writer = CaptureWriter(tmp_path / "b")
    for record in read_capture(tmp_path / "a"):
        writer.write(record)
    writer.close_all()
    assert list(read_capture(tmp_path / "b")) == list(read_capture(tmp_path / "a"))


def test_a_version_1_capture_still_reads(tmp_path: Path) -> None:
    """Version 2 only added HTTP streams: a capture an older wstape wrote reads as before."""
    file = tmp_path / "old-00001.wstape"
    open_body = {"id": "c1", "url": "ws://h/ws", "path": "/ws", "subprotocol": None,
                 "client": None, "server": None, "request_headers": [], "response_headers": [],
                 "continued": False}  # fmt: skip
    file.write_bytes(
        msgpack.packb(
            [
                0,
                {
                    "format": "wstape",
                    "version": 1,
                    "recorder": "0.1",
                    "created": 1.0,
                    "session": "old",
                    "segment": 1,
                },
            ]
        )  # fmt: skip
        + msgpack.packb([1, 0, 1.0, open_body])
        + msgpack.packb([2, 0, 2.0, True, True, b"hi"], use_bin_type=True)
        + msgpack.packb([3, 0, 3.0, {"code": 1000, "reason": "", "closed_by": "client"}])
    )
    opened_, message, closed = read_capture(file)
    assert (opened_.transport, opened_.method) == ("websocket", None)
    assert message == Message("c1", 2.0, True, True, b"hi")
    assert (message.event, closed.end) == (None, None)


def test_event_fields_of_the_wrong_type_are_one_clear_error(tmp_path: Path) -> None:
    _stream_sample(tmp_path / "a")
    (segment,) = segment_files(tmp_path / "a")
    data = segment.read_bytes().replace(b"\xa2id\xa17", b"\xa2id\x07\xc0")  # "7" → 7, nil
    segment.write_bytes(data)
    with pytest.raises(CaptureError, match=r"offset \d+: malformed record: 'id' is 7"):
        list(read_capture(tmp_path / "a"))
