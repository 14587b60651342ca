"""Flow files and HAR files are untrusted input: cut short, bytes flipped, fields of the wrong
type, the readers either give well-typed records or one CaptureError, never anything else."""

from __future__ import annotations

import copy
import io
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_runs_rules import GOOD, Chat

from wstape.analyzer.cli.analyze import analyze_command
from wstape.analyzer.sources.reading import read_records
from wstape.recorder.capture import CaptureError, Close, Error, Message, Open

pytestmark = pytest.mark.fuzz

# Half the capture reader's examples (150 by default) since every flow file goes through
# mitmproxy's own reader; scales with the loaded hypothesis profile like the reader's.
FUZZ = settings(
    max_examples=3 * settings.default.max_examples // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


def har_document() -> dict:
    chat = Chat().connect("c1", "alice").run("c1", "alice", "run-1", steps=GOOD)
    messages = [
        {"type": "send" if r.from_client else "receive", "time": r.ts, "opcode": 1,
         "data": r.payload.decode()}
        for r in chat.records if isinstance(r, Message)
    ]  # fmt: skip
    messages.append({"type": "receive", "time": 1_700_000_009.0, "opcode": 2, "data": "AAE="})
    entry = {
        "startedDateTime": "2023-11-14T22:13:19.900000+00:00",
        "request": {"method": "GET", "url": "ws://h/ws?user_id=alice", "headers": [
            {"name": "Host", "value": "h"}]},
        "response": {"status": 101, "headers": [
            {"name": "Sec-WebSocket-Protocol", "value": "chat"}]},
        "timings": {"send": 1, "wait": 2, "receive": 3},
        "_webSocketMessages": messages,
    }  # fmt: skip
    return {"log": {"version": "1.2", "entries": [entry, copy.deepcopy(entry)]}}


def flow_file_bytes() -> bytes:
    from mitmproxy import io as mitmproxy_io
    from mitmproxy.test import tflow

    out = io.BytesIO()
    writer = mitmproxy_io.FlowWriter(out)
    writer.add(tflow.twebsocketflow())
    writer.add(tflow.tflow(resp=True))  # a plain HTTP flow, skipped
    writer.add(tflow.twebsocketflow(err=True))
    return out.getvalue()


HAR = json.dumps(har_document()).encode()


@pytest.fixture(scope="module")
def flows() -> bytes:
    return flow_file_bytes()


def well_typed(path: Path) -> int:
    """Reads path; every record must have the types the format promises."""
    try:
        records = list(read_records(path))
    except CaptureError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return -1
    for record in records:
        assert type(record.connection) is str and type(record.ts) is float
        assert math.isfinite(record.ts)
        if isinstance(record, Message):
            assert type(record.payload) is bytes
            assert type(record.from_client) is bool and type(record.is_text) is bool
        elif isinstance(record, Open):
            assert type(record.url) is str and type(record.path) is str
            assert all(type(k) is str and type(v) is str for k, v in record.request_headers)
        elif isinstance(record, Close):
            assert record.code is None or type(record.code) is int
            assert type(record.reason) is str
        else:
            assert isinstance(record, Error) and type(record.message) is str
    return len(records)


def test_the_untouched_inputs_read(tmp_path: Path, flows: bytes) -> None:
    (tmp_path / "a.har").write_bytes(HAR)
    (tmp_path / "a.flows").write_bytes(flows)
    assert well_typed(tmp_path / "a.har") == 2 * (len(har_document()["log"]["entries"][0]
                                                      ["_webSocketMessages"]) + 2)  # fmt: skip
    assert well_typed(tmp_path / "a.flows") > 2


@FUZZ
@given(cut=st.integers(min_value=0, max_value=len(HAR) - 1))
def test_a_truncated_har_is_an_error_or_records(tmp_path: Path, cut: int) -> None:
    (tmp_path / "cut.har").write_bytes(HAR[:cut])
    assert well_typed(tmp_path / "cut.har") == -1 or cut == 0


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), max_size=6))
def test_a_har_with_flipped_bytes_is_an_error_or_records(tmp_path: Path, flips) -> None:
    data = bytearray(HAR)
    for at, mask in flips:
        data[at % len(data)] ^= mask
    (tmp_path / "flipped.har").write_bytes(bytes(data))
    well_typed(tmp_path / "flipped.har")


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


HAR_PATHS = [p for p in _paths(har_document()) if p]


@FUZZ
@given(where=st.sampled_from(HAR_PATHS), value=ANY_VALUE)
def test_a_har_with_a_field_of_the_wrong_type_is_an_error_or_records(
    tmp_path: Path, where, value
) -> None:
    document = har_document()
    node = document
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    (tmp_path / "typed.har").write_text(json.dumps(document))
    well_typed(tmp_path / "typed.har")


@FUZZ
@given(data=st.data())
def test_a_truncated_flow_file_is_an_error_or_records(tmp_path: Path, flows: bytes, data) -> None:
    cut = data.draw(st.integers(min_value=1, max_value=len(flows) - 1))
    (tmp_path / "cut.flows").write_bytes(flows[:cut])
    well_typed(tmp_path / "cut.flows")


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), max_size=6))
def test_a_flow_file_with_flipped_bytes_is_an_error_or_records(
    tmp_path: Path, flows: bytes, flips
) -> None:
    data = bytearray(flows)
    for at, mask in flips:
        data[at % len(data)] ^= mask
    (tmp_path / "flipped.flows").write_bytes(bytes(data))
    well_typed(tmp_path / "flipped.flows")


def _flow_state() -> dict:
    from mitmproxy.test import tflow

    return _lists(tflow.twebsocketflow().get_state())


def _lists(node):
    """The state with tuples as lists, as tnetstring reads it back, so every item can change."""
    if isinstance(node, dict):
        return {key: _lists(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_lists(value) for value in node]
    return node


FLOW_PATHS = [p for p in _paths(_flow_state()) if p]
TNET_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.binary(max_size=8)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=4,
)  # fmt: skip


@FUZZ
@given(where=st.sampled_from(FLOW_PATHS), value=TNET_VALUE)
def test_a_flow_with_a_field_of_the_wrong_type_is_an_error_or_records(
    tmp_path: Path, where, value
) -> None:
    from mitmproxy.io import tnetstring

    state = _flow_state()
    node = state
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    (tmp_path / "typed.flows").write_bytes(tnetstring.dumps(state))
    well_typed(tmp_path / "typed.flows")


def test_a_cut_flow_file_on_the_command_line_is_one_line_exit_2(tmp_path, flows) -> None:
    bad = tmp_path / "cut.flows"
    bad.write_bytes(flows[: len(flows) // 2])
    result = CliRunner().invoke(analyze_command, [str(bad)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0], result.stderr
