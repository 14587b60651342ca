"""The capture reader against hostile files: cut short, bytes flipped, lengths that
promise gigabytes, nesting a thousand deep, text that is not UTF-8, a wrong type in
any field. Whatever the file holds, reading it yields records, warns, or raises one
CaptureError naming the file; never another exception, never unbounded memory."""

from __future__ import annotations

import itertools
import tracemalloc
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wstape.recorder.capture import (
    CaptureError,
    CaptureWriter,
    Message,
    Open,
    read_capture,
    segment_files,
)

# No timeout marker of its own: it would override `make fuzz`'s longer --timeout, and the
# project's default (pyproject) already fails a hang in `make test`.
pytestmark = pytest.mark.fuzz

# 300 under hypothesis' default profile, 50 times that under `make fuzz` (tests/conftest.py)
FUZZ = settings(
    max_examples=3 * settings.default.max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
MEMORY_BOUND = 32 * 1024 * 1024  # for files of a few KiB: a fixed cost, nothing declared-size
HEADER = [0, {"format": "wstape", "version": 1, "recorder": "t", "created": 1.0,
              "session": "s", "segment": 1}]  # fmt: skip
OPEN_BODY = {
    "id": "conn-a", "url": "ws://h/ws", "path": "/ws?user_id=u", "subprotocol": None,
    "client": "127.0.0.1:1", "server": "127.0.0.1:2",
    "request_headers": [["Host", "h"]], "response_headers": [["Upgrade", "websocket"]],
    "continued": False,
}  # fmt: skip


def valid_records() -> list:
    """A small valid segment's records after the header, as plain msgpack values."""
    return [
        [1, 0, 1.5, dict(OPEN_BODY)],
        [2, 0, 1.6, True, True, b'{"type": "user_message"}'],
        [2, 0, 1.7, False, False, bytes(range(256))],
        [2, 0, 1.8, False, True, "h\u00e9llo \u2713".encode()],
        [3, 0, 1.9, {"code": 1000, "reason": "bye", "closed_by": "client"}],
        [1, 1, 2.0, {**OPEN_BODY, "id": "conn-b"}],
        [4, 1, 2.1, {"message": "recorder stopped while the connection was open"}],
    ]


def pack(*values) -> bytes:
    return b"".join(msgpack.packb(value, use_bin_type=True) for value in values)


def read_guarded(file: Path) -> tuple[list, list[str], CaptureError | None]:
    """Reads `file` fully: (records, warnings, error). Any exception but CaptureError
    fails the test, as does memory beyond MEMORY_BOUND."""
    records: list = []
    warnings: list[str] = []
    error = None
    tracemalloc.start()
    try:
        for record in read_capture(file, warn=warnings.append):
            records.append(record)
    except CaptureError as exc:
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"reading {file.stat().st_size} bytes took {peak} bytes"
    if error is not None:
        assert str(error).startswith(f"{file}: "), error
        assert len(str(error)) < 500, "error messages stay one readable line"
        assert "\n" not in str(error) and not str(error).endswith("()")
    for warning in warnings:
        assert warning.startswith(f"{file}: ")
    return records, warnings, error


def write(tmp_path: Path, data: bytes, name: str = "s-00001.wstape") -> Path:
    file = tmp_path / name
    file.write_bytes(data)
    return file


# ------------------------------------------------------------ valid files stay exact


def test_a_written_capture_reads_back_as_real_messages(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path)
    writer.open(Open("c", 1.0, "ws://h/ws", "/ws", None, None, None))
    writer.message("c", 2.0, True, False, b"\x00\xff")
    writer.close_all()
    message = [r for r in read_capture(tmp_path) if not isinstance(r, Open)][0]
    assert type(message) is Message
    assert message == Message("c", 2.0, True, False, b"\x00\xff")
    assert hash(message) == hash(Message("c", 2.0, True, False, b"\x00\xff"))
    with pytest.raises(AttributeError):
        message.payload = b"changed"  # type: ignore[misc]


def test_the_fuzz_sample_itself_reads_cleanly(tmp_path: Path) -> None:
    records, warnings, error = read_guarded(write(tmp_path, pack(HEADER, *valid_records())))
    assert error is None and not warnings
    assert len(records) == len(valid_records())


# ------------------------------------------------------------ truncation


@FUZZ
@given(cut=st.integers(0, 10_000))
def test_a_file_cut_anywhere_yields_a_prefix_and_at_most_one_warning(
    tmp_path: Path, cut: int
) -> None:
    data = pack(HEADER, *valid_records())
    full, _, _ = read_guarded(write(tmp_path, data, "full-00001.wstape"))
    cut %= len(data) + 1
    records, warnings, error = read_guarded(write(tmp_path, data[:cut]))
    header_size = len(pack(HEADER))
    if 0 < cut < header_size:
        assert error is not None and "not a wstape capture" in str(error)
        return
    assert error is None
    assert records == full[: len(records)]
    if cut == 0:
        assert len(warnings) == 1 and "empty segment" in warnings[0]
    elif cut in itertools.accumulate([header_size] + [len(pack(r)) for r in valid_records()]):
        assert warnings == []
    else:
        assert len(warnings) == 1 and "truncated last record" in warnings[0]


# ------------------------------------------------------------ flipped bytes


@FUZZ
@given(data=st.data())
def test_flipped_bytes_give_records_or_one_clear_error(tmp_path: Path, data) -> None:
    raw = bytearray(pack(HEADER, *valid_records()))
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    read_guarded(write(tmp_path, bytes(raw)))


@FUZZ
@given(tail=st.binary(max_size=4096))
def test_any_bytes_after_a_valid_header_give_records_or_one_clear_error(
    tmp_path: Path, tail: bytes
) -> None:
    read_guarded(write(tmp_path, pack(HEADER) + tail))


# ------------------------------------------------------------ declared lengths

# msgpack headers whose 32-bit length is a promise the file does not keep, and the most
# the reader accepts of each (captures hold no ext values at all)
LONG_HEADS = {"bin32": b"\xc6", "str32": b"\xdb", "array32": b"\xdd", "map32": b"\xdf",
              "ext32": b"\xc9"}  # fmt: skip
LIMITS = {"bin32": 256 * 2**20, "str32": 2**20, "array32": 4096, "map32": 4096, "ext32": -1}


@FUZZ
@given(
    head=st.sampled_from(sorted(LONG_HEADS)),
    length=st.integers(0, 2**32 - 1),
    where=st.integers(0, 6),
    after=st.binary(max_size=64),
)
@example(head="bin32", length=2**32 - 1, where=1, after=b"")  # "4 GiB follow"
@example(head="bin32", length=200 * 2**20, where=1, after=b"x" * 64)  # under the limit
def test_huge_declared_lengths_cost_no_memory_and_beyond_the_limit_are_errors(
    tmp_path: Path, head: str, length: int, where: int, after: bytes
) -> None:
    records = valid_records()
    promise = LONG_HEADS[head] + length.to_bytes(4, "big") + after
    if where == 6:  # as the payload of a message
        body = pack(records[0]) + b"\x96\x02\x00" + pack(1.6, True, True) + promise
    else:  # as a whole record
        body = pack(*records[:where]) + promise
    _, _, error = read_guarded(write(tmp_path, pack(HEADER) + body))
    if length > LIMITS[head]:
        assert error is not None, "a length beyond the limit is an error, not a truncated tail"


def test_a_bin32_declaring_4_gib_is_an_error_at_its_offset(tmp_path: Path) -> None:
    prefix = pack(HEADER, valid_records()[0])
    record = b"\x96\x02\x00" + pack(1.6, True, True) + b"\xc6\xff\xff\xff\xff"
    file = write(tmp_path, prefix + record + b"\x00" * 32)
    _, _, error = read_guarded(file)
    assert error is not None
    assert f"offset {len(prefix)}" in str(error) and "exceeds" in str(error)


# ------------------------------------------------------------ nesting


@FUZZ
@given(
    depth=st.integers(1, 5000),
    container=st.sampled_from([b"\x91", b"\x81\xa1k"]),  # [x] and {"k": x}
    where=st.sampled_from(["record", "open id", "payload", "header value", "header"]),
)
@example(depth=5000, container=b"\x91", where="record")
@example(depth=900, container=b"\x91", where="open id")
@example(depth=1020, container=b"\x91", where="open id")  # str() of it: RecursionError
def test_deep_nesting_gives_records_or_one_clear_error(
    tmp_path: Path, depth: int, container: bytes, where: str
) -> None:
    nested = container * depth + b"\xc0"
    if where == "record":
        data = pack(HEADER) + nested
    elif where == "header":
        data = nested
    elif where == "header value":
        data = b"\x92\x00\x82" + pack("format", "wstape") + pack("version") + nested
    elif where == "open id":
        data = pack(HEADER) + b"\x94\x01\x00" + pack(1.0) + b"\x81" + pack("id") + nested
    else:
        data = pack(HEADER, valid_records()[0]) + b"\x96\x02\x00" + pack(1.0, True, True) + nested
    _, _, error = read_guarded(write(tmp_path, data))
    assert error is not None


def rss_mib() -> float:
    """This process's resident memory, from /proc: tracemalloc does not see msgpack's C stack."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(
    msgpack.version < (1, 2),
    reason="msgpack 1.1 keeps about 80 KB per refused nesting, and mitmproxy 11.0.2 (Python "
    "3.11) holds msgpack at 1.1.0 (docs/fuzzing.md)",
)
def test_refusing_deep_nesting_again_and_again_keeps_no_memory(tmp_path: Path) -> None:
    file = write(tmp_path, pack(HEADER) + b"\x91" * 1025 + b"\xc0")
    before = rss_mib()
    for _ in range(2000):  # about 160 MiB kept, were each refusal to keep 80 KB
        with pytest.raises(CaptureError, match="nested too deeply"):
            list(read_capture(file))
    assert rss_mib() - before < MEMORY_BOUND / 2**20


# ------------------------------------------------------------ wrong types and bad text

msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

# what each field may hold; anything else must be refused
ARRAY_TYPES = {
    1: {1: (int,), 2: (float, int), 3: (dict,)},
    2: {1: (int,), 2: (float, int), 3: (bool,), 4: (bool,), 5: (bytes,)},
    3: {1: (int,), 2: (float, int), 3: (dict,)},
    4: {1: (int,), 2: (float, int), 3: (dict,)},
}
NIL = type(None)
MAP_TYPES = {
    1: {"id": (str,), "url": (str,), "path": (str,), "subprotocol": (str, NIL),
        "client": (str, NIL), "server": (str, NIL), "request_headers": (list,),
        "response_headers": (list,), "continued": (bool,)},
    3: {"code": (int, NIL), "reason": (str, NIL), "closed_by": (str, NIL)},
    4: {"message": (str,)},
}  # fmt: skip
RECORD_OF_TYPE = {1: 0, 2: 1, 3: 4, 4: 6}  # index into valid_records()


def _fits(value: object, types: tuple[type, ...]) -> bool:
    if type(value) not in types:
        return False
    if type(value) is list:  # header lists: every item a [str, str] pair
        return all(type(p) is list and len(p) == 2 and all(type(x) is str for x in p)
                   for p in value)  # fmt: skip
    return True


@FUZZ
@given(
    kind=st.sampled_from(sorted(ARRAY_TYPES)),
    data=st.data(),
    value=msgpack_values,
)
def test_a_wrong_type_in_any_field_is_a_clear_error(
    tmp_path: Path, kind: int, data, value: object
) -> None:
    records = valid_records()
    target = records[RECORD_OF_TYPE[kind]]
    if kind in MAP_TYPES and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(MAP_TYPES[kind])))
        target[3][key] = value
        allowed = MAP_TYPES[kind][key]
    else:
        position = data.draw(st.sampled_from([0, *sorted(ARRAY_TYPES[kind])]))
        target[position] = value
        # Another record type or connection number may well read (or fail to): an
        # int there is no wrong type, so only other types must be refused.
        allowed = (int,) if position in (0, 1) else ARRAY_TYPES[kind][position]
    records_read, _, error = read_guarded(write(tmp_path, pack(HEADER, *records)))
    if not _fits(value, allowed):
        assert error is not None, f"{value!r} was accepted: {records_read}"


@FUZZ
@given(
    field=st.sampled_from(["format", "session", "id", "url", "reason", "message", "hname", "key"]),
    bad=st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\x80"]),
)
def test_text_that_is_not_utf8_is_a_clear_error(tmp_path: Path, field: str, bad: bytes) -> None:
    marker = "\u0001MARK\u0001"
    records = valid_records()
    header = [0, dict(HEADER[1])]
    if field in ("format", "session"):
        header[1][field] = marker
    elif field == "hname":
        records[0][3]["request_headers"] = [[marker, "v"]]
    elif field == "key":
        records[4][3][marker] = 1
    else:
        target = {"id": 0, "url": 0, "reason": 4, "message": 6}[field]
        records[target][3][field] = marker
    data = pack(header, *records)
    good = msgpack.packb(marker)
    # same length, so the str header still fits: the bytes inside are what is wrong
    broken = good[: -len(bad) - 1] + bad + good[-1:]
    assert data.count(good) == 1
    file = write(tmp_path, data.replace(good, broken))
    _, _, error = read_guarded(file)
    assert error is not None and ("utf-8" in str(error) or "not a wstape" in str(error))


# ------------------------------------------------------------ many files


def test_a_bad_segment_among_good_ones_is_named(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, segment_bytes=2048, flush_interval=0.0)
    writer.open(Open("c", 1.0, "ws://h/ws", "/ws", None, None, None))
    for i in range(200):
        writer.message("c", 2.0 + i, True, True, b"frame %d " % i * 10)
    writer.close_all()
    files = segment_files(tmp_path)
    assert len(files) > 3
    bad = files[2]
    bad.write_bytes(bad.read_bytes()[:40] + b"\xc1" + bad.read_bytes()[41:])  # 0xc1: never used
    with pytest.raises(CaptureError, match=rf"^{bad}: offset \d+: "):
        list(read_capture(tmp_path, warn=lambda message: None))
