"""Frames → events: every envelope, alias and control type is read the same way, profiles rename
what another backend calls things, and no frame, however hostile, makes extraction raise."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wstape.analyzer.profile import (
    DEFAULT_PROFILE,
    Profile,
    ProfileError,
    load_profile,
    profile_from_dict,
)
from wstape.analyzer.protocols.events import Canonical, Event, Frame
from wstape.analyzer.protocols.json_dialects import DEFAULT_TYPES

EXAMPLE_PROFILE = Path(__file__).resolve().parent.parent / "analyzer" / "profiles" / "example.toml"
IDS = {"run_id": "run-1", "thread_id": "thread-1", "user_id": "alice"}
TOOL = {"tool_name": "search", "execution_id": "exec-1"}


def to_event(frame: Frame, profile: Profile = DEFAULT_PROFILE) -> Event:
    (event,) = profile.protocol.decoder().feed(frame)  # wstape-json: one event per frame
    return event


def server(obj: object) -> Event:
    payload = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return to_event(Frame("c1", 1.0, False, True, payload))


def envelope(kind: str, event: str, fields: dict) -> dict:
    if kind == "flat":
        return {"type": event, **IDS, "data": fields}
    if kind == "system_message":
        return {"type": "system_message", "event": event, "payload": {**IDS, **fields}}
    return {"type": event, "payload": {**IDS, **fields}}


@pytest.mark.parametrize("kind", ["payload", "flat", "system_message"])
def test_ids_are_found_in_every_envelope(kind: str) -> None:
    event = server(envelope(kind, "tool_executing", dict(TOOL)))
    assert event.canonical is Canonical.TOOL_EXECUTING
    assert event.type == "tool_executing"
    assert event.envelope == kind
    assert (event.run_id, event.thread_id, event.user_id) == ("run-1", "thread-1", "alice")
    assert (event.tool_name, event.execution_id) == ("search", "exec-1")


def test_ids_at_top_level_beside_a_payload_are_found() -> None:
    event = server({"type": "agent_thinking", "run_id": "run-9", "payload": {"thought": "hm"}})
    assert event.run_id == "run-9"
    assert event.text == "hm"


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("agent_error", Canonical.ERROR), ("execution_error", Canonical.ERROR),
        ("error", Canonical.ERROR), ("error_message", Canonical.ERROR),
        ("tool_error", Canonical.TOOL_ERROR),
        ("agent_completed", Canonical.AGENT_COMPLETED), ("final_report", Canonical.AGENT_COMPLETED),
        ("agent_response", Canonical.AGENT_COMPLETED),
        ("partial_result", Canonical.PARTIAL_RESULT), ("stream_chunk", Canonical.PARTIAL_RESULT),
        ("user_message", Canonical.USER_MESSAGE), ("chat", Canonical.USER_MESSAGE),
        ("start_agent", Canonical.USER_MESSAGE), ("resume", Canonical.RESUME),
    ],
)  # fmt: skip
def test_aliases_map_to_canonical_kinds_keeping_the_raw_type(raw: str, canonical) -> None:
    event = server({"type": raw, "payload": IDS})
    assert (event.canonical, event.type) == (canonical, raw)
    assert event.failed is (canonical in (Canonical.ERROR, Canonical.TOOL_ERROR))


def test_tool_completed_with_error_status_is_a_failure() -> None:
    event = server({"type": "tool_completed", "payload": {**TOOL, "result": {"status": "error"}}})
    assert event.canonical is Canonical.TOOL_COMPLETED
    assert event.failed


def test_error_text_comes_from_an_error_object() -> None:
    event = server({"type": "agent_error", "payload": {"error": {"message": "quota exceeded"}}})
    assert event.text == "quota exceeded"


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "ping", "payload": {"ts": 1}}, {"type": "pong"}, {"type": "heartbeat"},
        {"type": "heartbeat_ack"}, {"type": "ack"}, {"type": "echo", "payload": {}},
        {"type": "connection_established", "payload": {"user_id": "alice"}},
        {"type": "handshake_complete"}, {"type": "agent_update", "payload": {"backlog": 3}},
        {"type": "system_message", "payload": {"note": "maintenance at noon"}},
    ],
)  # fmt: skip
def test_control_traffic_is_not_chat(obj: dict) -> None:
    assert server(obj).canonical is Canonical.CONTROL


def test_system_message_with_agent_event_is_that_event() -> None:
    event = server({"type": "system_message", "event": "agent_started", "payload": IDS})
    assert (event.canonical, event.type, event.envelope) == (
        Canonical.AGENT_STARTED, "agent_started", "system_message",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "is_text", "canonical", "why"),
    [
        (b"\x00\x01\x02", False, Canonical.BINARY, ""),
        (b"hello there", True, Canonical.NOT_JSON, "not JSON: 'hello there'"),
        (b"\xff\xfe{}", True, Canonical.NOT_JSON, "text frame is not valid UTF-8"),
        (b"[1, 2, 3]", True, Canonical.NOT_OBJECT, "JSON list, not an object"),
        (b'"just a string"', True, Canonical.NOT_OBJECT, "JSON str, not an object"),
        (b'{"type": "galaxy_brain"}', True, Canonical.UNKNOWN, ""),
        (b'{"no": "type"}', True, Canonical.UNKNOWN, "JSON object without a type"),
        (b'{"type": ["a"]}', True, Canonical.UNKNOWN, "JSON object without a type"),
    ],
)  # fmt: skip
def test_frames_that_are_not_chat_events_get_a_clear_kind(
    payload: bytes, is_text: bool, canonical: Canonical, why: str
) -> None:
    event = to_event(Frame("c1", 1.0, False, is_text, payload))
    assert event.canonical is canonical
    assert event.text == why
    assert event.size == len(payload)


def test_deeply_nested_json_is_not_json_rather_than_a_crash() -> None:
    event = server(b"[" * 200_000 + b"]" * 200_000)
    assert event.canonical is Canonical.NOT_JSON
    assert "nested" in event.text


def test_huge_strings_are_clipped_in_ids_and_text() -> None:
    huge = "x" * 5_000_000
    event = server({"type": "partial_result", "payload": {"run_id": huge, "content": huge}})
    assert len(event.run_id) == 200
    assert len(event.text) <= 200
    assert event.size > 10_000_000


def test_control_characters_never_reach_reports() -> None:
    event = server({"type": "agent_thinking", "payload": {"thought": "a\x1b[31mred\x00\ud800"}})
    assert event.text == "a[31mred"


def test_numeric_ids_become_strings() -> None:
    event = server({"type": "agent_started", "run_id": 42, "payload": {"thread_id": 7.5}})
    assert (event.run_id, event.thread_id) == ("42", "7.5")


def test_example_profile_reads_another_backends_dialect() -> None:
    profile = load_profile(EXAMPLE_PROFILE)
    body = {"threadId": "t1", "tool": {"name": "search", "callId": "k1"}, "outcome": "failed"}
    event = to_event(
        Frame("c1", 1.0, False, True, json.dumps({"kind": "tool.end", "runId": "r1", "body": body})
              .encode()),
        profile,
    )  # fmt: skip
    assert (event.canonical, event.type) == (Canonical.TOOL_COMPLETED, "tool.end")
    assert (event.run_id, event.thread_id, event.tool_name, event.execution_id) == (
        "r1", "t1", "search", "k1",
    )  # fmt: skip
    assert event.failed
    assert profile.targets.max_total_s == 60
    assert not profile.require_tools


def test_a_profile_may_name_its_protocol() -> None:
    assert profile_from_dict({"protocol": "wstape-json"}) == DEFAULT_PROFILE


def test_a_profiles_protocol_reaches_worker_processes_whole() -> None:
    protocol = load_profile(EXAMPLE_PROFILE).protocol
    assert pickle.loads(pickle.dumps(protocol)) == protocol


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": "blue"}, "unknown keys"),
        ({"types": {"x": "agent_exploded"}}, "types.x: 'agent_exploded' is not one of"),
        ({"targets": {"max_tool_s": -1}}, "targets.max_tool_s must be a positive number"),
        ({"fields": {"run_id": 3}}, "fields.run_id must be a list of strings"),
        ({"fields": {"runid": ["x"]}}, "unknown keys in [fields]"),
        ({"protocol": "morse"}, "protocol: 'morse' is not one of wstape-json"),
    ],
)  # fmt: skip
def test_bad_profile_says_which_key_is_wrong(data: dict, message: str) -> None:
    with pytest.raises(ProfileError, match=None) as info:
        profile_from_dict(data)
    assert message in str(info.value)


def test_unreadable_profile_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(ProfileError) as info:
        load_profile(bad)
    assert str(info.value).startswith(f"{bad}: not valid TOML")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=25,
)  # fmt: skip
id_keys = st.sampled_from(
    ["type", "event", "payload", "data", "run_id", "thread_id", "user_id", "tool_name",
     "execution_id", "result", "status", "content", "error", "message"]
)  # fmt: skip
objects = st.dictionaries(id_keys | st.text(max_size=8), json_values, max_size=8)


@pytest.mark.fuzz
@settings(max_examples=3 * settings.default.max_examples, deadline=None)
@given(payload=st.binary(max_size=300), is_text=st.booleans(), from_client=st.booleans())
def test_extraction_never_raises_on_arbitrary_bytes(
    payload: bytes, is_text: bool, from_client: bool
) -> None:
    event = to_event(Frame("c", 0.0, from_client, is_text, payload), DEFAULT_PROFILE)
    assert isinstance(event.canonical, Canonical)


@pytest.mark.fuzz
@settings(max_examples=3 * settings.default.max_examples, deadline=None)
@given(obj=objects, kind=st.sampled_from(list(DEFAULT_TYPES) + ["system_message"]))
def test_extraction_never_raises_on_arbitrary_json(obj: dict, kind: str) -> None:
    for candidate in (obj, {**obj, "type": kind}, {"type": kind, "payload": obj}):
        event = server(json.dumps(candidate).encode())
        assert isinstance(event.canonical, Canonical)
        for value in (event.run_id, event.thread_id, event.user_id, event.text):
            assert value is None or isinstance(value, str)
