"""The seed product's event_batch frames: unwrapped into their events in the order they happened
(a list, or a map of type → list with or without timestamps), the product's newer names as
aliases, and the demo scenarios batched through the real recorder judged as they are unbatched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_runs_rules import Chat, only
from test_scenarios_recorded import SCENARIOS, TARGETS, record_scenarios

import wstape
from wstape.analyzer.protocols.event_batch import timestamp
from wstape.analyzer.protocols.events import Canonical, Frame
from wstape.analyzer.protocols.json_dialects import JsonDialects

C = Canonical
IDS = {"run_id": "r1", "thread_id": "t1"}


def decode(obj: dict) -> tuple:
    frame = Frame("c1", 100.0, False, True, json.dumps(obj).encode())
    return JsonDialects().decoder().feed(frame)


def batch(events, **extra) -> dict:
    return {"type": "event_batch", "user_id": "u1", "batch_id": "b1", "batch_size": 3,
            "timestamp": "2026-03-01T12:00:01Z", "events": events, **extra}  # fmt: skip


def test_a_list_batch_gives_its_events_with_the_batch_ids_and_the_frame_time():
    events = decode(batch([
        {"type": "agent_thinking", "payload": {**IDS, "thought": "planning"}},
        {"type": "partial_result", "payload": {**IDS, "content": "half"}},
    ]))  # fmt: skip
    assert [(e.type, e.canonical) for e in events] == [
        ("agent_thinking", C.AGENT_THINKING), ("partial_result", C.PARTIAL_RESULT),
    ]  # fmt: skip
    assert {(e.ts, e.user_id, e.run_id, e.envelope) for e in events} == {
        (100.0, "u1", "r1", "event_batch")
    }
    assert events[0].text == "planning"
    frame_size = len(json.dumps(batch([{}])))
    assert events[0].size > frame_size and events[1].size == 0  # sizes add up to the frame


def test_a_list_is_ordered_by_its_own_iso_and_float_timestamps():
    events = decode(batch([
        {"type": "partial_result", "timestamp": "2026-03-01T12:00:00.300+00:00", **IDS},
        {"type": "agent_thinking", "timestamp": 1772366400.1, **IDS},
        {"type": "agent_progress", "timestamp": 1772366400200, **IDS},  # milliseconds
    ]))  # fmt: skip
    assert [e.type for e in events] == ["agent_thinking", "agent_progress", "partial_result"]


def test_a_list_without_every_timestamp_keeps_the_order_it_came_in():
    events = decode(batch([
        {"type": "partial_result", "timestamp": 5.0, **IDS},
        {"type": "agent_thinking", **IDS},
    ]))  # fmt: skip
    assert [e.type for e in events] == ["partial_result", "agent_thinking"]


def test_a_map_without_timestamps_is_put_in_the_order_of_a_run():
    events = decode(batch({
        "agent_completed": [{**IDS}],
        "partial_result": [{**IDS, "content": "a"}, {**IDS, "content": "b"}],
        "agent_thinking": [{**IDS}],
    }))  # fmt: skip
    assert [e.type for e in events] == [
        "agent_thinking", "partial_result", "partial_result", "agent_completed",
    ]  # fmt: skip
    assert [e.text for e in events[1:3]] == ["a", "b"]


def test_a_map_with_timestamps_is_put_back_in_time_order():
    events = decode(batch({
        "partial_result": [{**IDS, "timestamp": 3.0}, {**IDS, "timestamp": 1.0}],
        "agent_thinking": [{**IDS, "timestamp": 2.0}],
    }))  # fmt: skip
    assert [e.type for e in events] == ["partial_result", "agent_thinking", "partial_result"]


@pytest.mark.parametrize(
    "events, canonical",
    [([], C.CONTROL), ("nonsense", C.UNKNOWN), ({"agent_thinking": "x"}, C.CONTROL)],
)
def test_an_empty_or_malformed_batch_is_one_event_and_never_raises(events, canonical):
    (event,) = decode(batch(events))
    assert event.type == "event_batch" and event.canonical is canonical


@pytest.mark.parametrize(
    "alias, canonical",
    [("agent_start", C.AGENT_STARTED), ("agent_complete", C.AGENT_COMPLETED),
     ("tool_execute", C.TOOL_EXECUTING), ("tool_complete", C.TOOL_COMPLETED),
     ("agent_progress", C.AGENT_THINKING), ("agent_response_chunk", C.PARTIAL_RESULT),
     ("agent_response_complete", C.AGENT_COMPLETED)],
)  # fmt: skip
def test_the_seed_products_newer_names_are_aliases(alias, canonical):
    (event,) = decode({"type": alias, "payload": IDS})
    assert event.canonical is canonical


@pytest.mark.parametrize(
    "value, seconds",
    [(1.5, 1.5), (1500, 1500.0), (1772366400123, 1772366400.123),
     ("1970-01-01T00:00:02Z", 2.0), ("1970-01-01T00:00:02", 2.0), ("soon", None), (True, None)],
)  # fmt: skip
def test_timestamps_iso_float_and_milliseconds(value, seconds):
    assert timestamp(value) == (pytest.approx(seconds) if seconds is not None else None)


def test_a_map_batch_that_holds_the_completion_is_no_order_failure():
    chat = Chat().connect("c1", "alice").say("c1", 1.0)
    ids = {**IDS, "user_id": "alice"}
    chat.send("c1", 1.1, "agent_started", ids)
    tool = {"tool_name": "search", "execution_id": "e1"}
    chat.send("c1", 1.2, "tool_executing", ids, **tool)
    chat.send("c1", 1.3, "tool_completed", ids, **tool)
    frame = batch({"agent_completed": [ids], "agent_thinking": [ids], "partial_result": [ids]})
    chat.raw("c1", 1.4, json.dumps(frame).encode(), from_client=False).close("c1", 3)
    verdict = only(chat.report())
    assert verdict.passed, verdict.failures


# ------------------------------------------------------------------ the demo, recorded


def record(out: Path, *backend: str) -> dict[str, tuple]:
    """Every demo scenario, one user each, through the real recorder: scenario → verdicts."""
    users = record_scenarios(out, *backend)
    report = wstape.validate(out, **TARGETS)
    verdicts: dict[str, list] = {}
    for v in report.verdicts:
        verdicts.setdefault(users[v.run.user_id], []).append((v.outcome, v.codes, v.passed))
    return {scenario: tuple(found) for scenario, found in verdicts.items()}


@pytest.fixture(scope="module")
def unbatched(tmp_path_factory) -> dict[str, tuple]:
    return record(tmp_path_factory.mktemp("unbatched") / "capture")


@pytest.mark.parametrize("form", ["list", "map"])
def test_scenarios_in_event_batches_keep_their_unbatched_verdicts(tmp_path: Path, unbatched, form):
    out = tmp_path / "capture"
    batched = record(out, "--batch", form)
    assert batched == unbatched
    frames = wstape.load(out)
    assert (frames["type"] == "event_batch").sum() == 0  # unwrapped: only the inner events
    assert (frames["envelope"] == "event_batch").sum() >= len(SCENARIOS)
