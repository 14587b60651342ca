"""`wstape replay` of the other HTTP streams and of mixed captures, end to end against the
scripted target (tests/sse_target.py): a capture holding WebSocket connections and SSE streams
replays both; an OpenAI Responses stream (built with the openai package's own event models) keeps
its `event:` names and gets the new build's `id:`s; an NDJSON stream stays NDJSON; a stream the
recorded user stopped is stopped again at the same point."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sse_target
from conftest import ROOT
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseTextDeltaEvent,
)

import wstape
from wstape.recorder.capture import Close, Error, Message, Open, read_capture
from wstape.recorder.writer import CaptureWriter

T0 = 1_800_000_000.0
USER_MESSAGE = {"type": "user_message", "payload": {"content": "hi", "thread_id": "t-9"}}
AGENT = [{"type": kind, "payload": {"run_id": "r-9", "thread_id": "t-9"}}
         for kind in ("agent_started", "agent_thinking", "agent_completed")]  # fmt: skip
# Another user's run, for a capture that holds two.
OTHER_MESSAGE = {"type": "user_message", "payload": {"content": "yo", "thread_id": "t-8"}}
OTHER = [{"type": e["type"], "payload": {"run_id": "r-8", "thread_id": "t-8"}} for e in AGENT]


def opened(conn: str, at: float, path: str, transport: str = "sse") -> Open:
    stream = transport != "websocket"
    scheme = "http" if stream else "ws"
    return Open(conn, T0 + at, f"{scheme}://backend:8000{path}", path, None, "10.0.0.7:5000",
                "backend:8000", (("Content-Type", "application/json"),), transport=transport,
                method="POST" if stream else None, status=200 if stream else None)  # fmt: skip


def write(out: Path, records: list) -> Path:
    writer = CaptureWriter(out)
    for record in records:
        if isinstance(record, tuple):  # a server-sent event: (conn, at, data, event name)
            conn, at, data, event = record
            writer.event(conn, T0 + at, data, event)
        else:
            writer.write(record)
    writer.close_all()
    return out


def client(conn: str, at: float, obj: object) -> Message:
    return Message(conn, T0 + at, True, True, json.dumps(obj).encode())


def server(conn: str, at: float, obj: object) -> Message:
    return Message(conn, T0 + at, False, True, json.dumps(obj).encode())


@pytest.fixture
def start_target(processes, tmp_path):
    return lambda script: sse_target.start_target(processes, tmp_path, script)


def replay(capture: Path, target: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wstape", "replay", str(capture), "--target", target, "--out",
         str(out), "--reply-timeout", "5", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def data_lines(objects: list[dict]) -> list[str]:
    return [f"data: {json.dumps(obj)}\n\n" for obj in objects]


def judged(capture: Path) -> list[tuple]:
    """Each run's verdict, without its timings: run id, outcome, codes, connections, counts."""
    verdicts = wstape.validate(capture).verdicts
    return sorted((v.run.run_id, v.outcome.value, v.codes, len(v.run.connections),
                   tuple(sorted(v.event_counts.items()))) for v in verdicts)  # fmt: skip


def test_a_capture_of_websockets_and_sse_streams_replays_both(start_target, tmp_path):
    recorded = write(tmp_path / "recorded", [
        opened("ws", 0.0, "/ws?user_id=u1", "websocket"),
        client("ws", 0.01, USER_MESSAGE),
        *(server("ws", 0.05 * i, obj) for i, obj in enumerate(AGENT, 1)),
        Close("ws", T0 + 0.3, 1000, "", "client"),
        opened("s", 0.1, "/chat"),
        client("s", 0.1, OTHER_MESSAGE),
        *(("s", 0.1 + 0.05 * i, json.dumps(obj).encode(), None) for i, obj in enumerate(OTHER, 1)),
        Close("s", T0 + 0.35, None, "", "server", "complete"),
    ])  # fmt: skip
    target = start_target({
        "http": [{"chunks": [[0.02, line] for line in data_lines(OTHER)]}],
        "ws": [{"frames": [[0.02, json.dumps(obj)] for obj in AGENT]}],
    })  # fmt: skip
    out = tmp_path / "replayed"
    result = replay(recorded, target.url, out, "--token", "fresh")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replayed 2 of 2 connections" in result.stdout
    (handshake,) = target.entries("websocket")
    (request,) = target.entries("request")
    assert handshake["path"] == "/ws?user_id=u1" and request["path"] == "/chat"
    for sent in (handshake, request):
        assert ["Authorization", "Bearer fresh"] in sent["headers"]
    assert json.loads(target.entries("ws_message")[0]["text"]) == USER_MESSAGE
    assert json.loads(request["body"]) == OTHER_MESSAGE
    opens = [r for r in read_capture(out) if isinstance(r, Open)]
    assert sorted(o.transport for o in opens) == ["sse", "websocket"]
    # both runs judged as the recorded ones were: completed, each on its own connection
    assert judged(out) == judged(recorded)
    assert [run[:2] for run in judged(out)] == [("r-8", "completed"), ("r-9", "completed")]


def responses_stream(text: str) -> list[tuple[str, dict]]:
    """An OpenAI Responses API stream, as (event name, data) pairs from the package's models."""
    response = Response(id="resp_1", created_at=0, model="gpt-4.1", object="response", output=[],
                        parallel_tool_calls=True, tool_choice="auto", tools=[])  # fmt: skip
    events = [
        ResponseCreatedEvent(type="response.created", response=response, sequence_number=0),
        *(ResponseTextDeltaEvent(type="response.output_text.delta", item_id="msg_1", delta=word,
                                 output_index=0, content_index=0, logprobs=[], sequence_number=i)
          for i, word in enumerate(text.split(), 1)),
        ResponseCompletedEvent(type="response.completed", response=response, sequence_number=9),
    ]  # fmt: skip
    return [(e.type, e.model_dump(mode="json", exclude_none=True)) for e in events]


def test_a_responses_stream_keeps_its_event_names_and_gets_the_new_builds_ids(
    start_target, tmp_path
):
    body = {"model": "gpt-4.1", "input": "hello", "stream": True}
    recorded = write(tmp_path / "recorded", [
        opened("r", 0.0, "/v1/responses"),
        client("r", 0.0, body),
        *(("r", 0.05 * i, json.dumps(data).encode(), name)
          for i, (name, data) in enumerate(responses_stream("hi there"), 1)),
        Close("r", T0 + 0.3, None, "", "server", "complete"),
    ])  # fmt: skip
    answer = responses_stream("hello from the next build")
    chunks = [": keep-alive\n\n"] + [f"id: {i}\nevent: {name}\ndata: {json.dumps(data)}\n\n"
                                      for i, (name, data) in enumerate(answer)]  # fmt: skip
    target = start_target({"http": [{"chunks": [[0.02, c] for c in chunks]}]})
    out = tmp_path / "replayed"
    result = replay(recorded, target.url, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(target.entries("request")[0]["body"]) == body
    events = [r for r in read_capture(out) if isinstance(r, Message) and not r.from_client]
    names = ["response.created", *["response.output_text.delta"] * 5, "response.completed"]
    assert [e.event for e in events] == names  # the keep-alive comment is not an event
    assert [e.event_id for e in events] == [str(i) for i in range(7)]
    assert [json.loads(e.payload)["type"] for e in events] == names


def test_an_ndjson_stream_is_replayed_and_recorded_as_ndjson(start_target, tmp_path):
    recorded = write(tmp_path / "recorded", [
        opened("n", 0.0, "/chat", "ndjson"),
        client("n", 0.0, USER_MESSAGE),
        *(server("n", 0.05 * i, obj) for i, obj in enumerate(AGENT, 1)),
        Close("n", T0 + 0.3, None, "", "server", "complete"),
    ])  # fmt: skip
    lines = [json.dumps(obj) + "\n" for obj in AGENT]
    target = start_target({"http": [{"content_type": "application/x-ndjson",
                                     "chunks": [[0.02, line] for line in lines]}]})  # fmt: skip
    out = tmp_path / "replayed"
    result = replay(recorded, target.url, out)
    assert result.returncode == 0, result.stdout + result.stderr
    records = list(read_capture(out))
    (opened_again,) = [r for r in records if isinstance(r, Open)]
    assert opened_again.transport == "ndjson" and opened_again.status == 200
    events = [r for r in records if isinstance(r, Message) and not r.from_client]
    assert [json.loads(e.payload) for e in events] == AGENT
    assert all(e.event is None for e in events)
    assert "HTTP 200 ndjson, ended complete" in result.stdout
    assert judged(out) == judged(recorded) and judged(out)[0][:2] == ("r-9", "completed")


def test_a_stream_the_user_stopped_is_aborted_again_after_the_same_event(start_target, tmp_path):
    recorded = write(tmp_path / "recorded", [
        opened("x", 0.0, "/chat"),
        client("x", 0.0, USER_MESSAGE),
        ("x", 0.05, json.dumps(AGENT[0]).encode(), None),
        ("x", 0.10, json.dumps(AGENT[1]).encode(), None),
        Close("x", T0 + 0.2, None, "", "client", "abort"),  # the user pressed stop
    ])  # fmt: skip
    slow = [[0.05, line] for line in data_lines(AGENT[:2])] + [[3.0, data_lines(AGENT)[2]]]
    target = start_target({"http": [{"chunks": slow}]})
    out = tmp_path / "replayed"
    result = replay(recorded, target.url, out)
    assert result.returncode == 0, result.stdout + result.stderr
    records = list(read_capture(out))
    events = [r for r in records if isinstance(r, Message) and not r.from_client]
    (close,) = [r for r in records if isinstance(r, Close)]
    assert [json.loads(e.payload)["type"] for e in events] == ["agent_started", "agent_thinking"]
    assert close.end == "abort" and close.closed_by == "client"
    assert close.ts - events[-1].ts >= 0.1 - 0.02  # the recorded pause before the stop
    assert "HTTP 200 sse, aborted by the replay" in result.stdout


def test_a_replay_stopped_mid_stream_says_so_in_its_capture(start_target, tmp_path):
    recorded = write(tmp_path / "recorded", [
        opened("s", 0.0, "/chat"),
        client("s", 0.0, USER_MESSAGE),
        *(("s", 0.05 * i, json.dumps(obj).encode(), None) for i, obj in enumerate(AGENT, 1)),
        Close("s", T0 + 0.3, None, "", "server", "complete"),
    ])  # fmt: skip
    lines = data_lines(AGENT)
    target = start_target({"http": [{"chunks": [[0.0, lines[0]], [30.0, lines[1]]]}]})
    out = tmp_path / "stopped"
    proc = subprocess.Popen(
        [sys.executable, "-m", "wstape", "replay", str(recorded), "--target", target.url,
         "--out", str(out), "--reply-timeout", "60"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not events_in(out):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1 and f"replay stopped; what was replayed is in {out}" in stderr
    assert "Traceback" not in stderr
    kinds = [type(r).__name__ for r in read_capture(out)]
    assert kinds == ["Open", "Message", "Message", "Error"]
    (error,) = [r for r in read_capture(out) if isinstance(r, Error)]
    assert error.message == "replay stopped while the connection was open"


def events_in(capture: Path) -> int:
    if not capture.exists() or not any(capture.iterdir()):
        return 0
    records = read_capture(capture, warn=lambda _: None)
    return sum(isinstance(r, Message) and not r.from_client for r in records)
