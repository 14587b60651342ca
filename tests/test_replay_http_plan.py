"""The replay plan of HTTP streams, without a socket: when each request goes, which stream of its
conversation it waits for, how a stream ends, what of a recorded request is sent again, which
scheme each transport speaks on one target, and server-minted ids learned from a stream."""

from __future__ import annotations

import json

import pytest

from wstape.analyzer.replay.options import (
    ReplayOptions,
    dropped_notes,
    request_headers,
    target_for,
)
from wstape.analyzer.replay.plan import plan_replay
from wstape.analyzer.replay.state import Conversation, IdMap
from wstape.recorder.capture import Close, Message, Open
from wstape.recorder.redact import REDACTED
from wstape.recorder.transports.event_stream import StreamEvent

HEADERS = (("Host", "backend"), ("Content-Type", "application/json"), ("Connection", "keep-alive"),
           ("Authorization", REDACTED), ("User-Agent", "web/3"), ("Content-Length", "12"),
           ("Accept-Encoding", "gzip, br"), ("Accept", "text/event-stream"))  # fmt: skip


def stream_open(conn: str, ts: float, client: str = "10.0.0.7:5000", path: str = "/agent") -> Open:
    return Open(conn, ts, f"http://backend{path}", path, None, client, "backend:80", HEADERS,
                transport="sse", method="POST", status=200)  # fmt: skip


def body(conn: str, ts: float, thread: str | None = None, **more: object) -> Message:
    obj = {"type": "user_message", "payload": {"content": "hi", **more}}
    if thread:
        obj["payload"]["thread_id"] = thread
    return Message(conn, ts, True, True, json.dumps(obj).encode())


def event(conn: str, ts: float, kind: str, run_id: str = "r-1") -> Message:
    payload = json.dumps({"type": kind, "payload": {"run_id": run_id}}).encode()
    return Message(conn, ts, False, True, payload, event=kind)


BY = {"complete": "server", "reset": "server", "abort": "client"}


def exchange(conn: str, at: float, thread: str | None = None, end: str = "complete", **kw) -> list:
    """One recorded stream: its open 10 ms after its request, two events, its close."""
    run_id = kw.pop("run_id", f"r-{conn}")
    return [stream_open(conn, at + 0.01, **kw), body(conn, at, thread),
            event(conn, at + 0.1, "agent_started", run_id),
            event(conn, at + 0.2, "agent_completed", run_id),
            Close(conn, at + 0.3, None, "", BY[end], end)]  # fmt: skip


def test_a_request_starts_when_its_body_was_sent_not_when_the_answer_came():
    a, b = plan_replay([*exchange("a", 100.0), *exchange("b", 100.5)]).connections
    assert a.transport == "sse" and a.method == "POST"
    assert a.start_s == 0.0 and b.start_s == pytest.approx(0.5)
    (send,) = a.sends
    assert json.loads(send.payload)["type"] == "user_message"


def test_the_next_request_of_a_thread_waits_for_its_stream_and_no_other_threads():
    records = [*exchange("a", 0.0, "t-1"), *exchange("b", 0.4, "t-2"), *exchange("c", 0.5, "t-1")]
    a, b, c = plan_replay(records).connections
    assert c.after == "a" and c.after_s == pytest.approx(0.2)  # 0.5 - the close at 0.3
    assert b.after is None


def test_requests_that_name_no_thread_follow_the_last_stream_of_their_client_and_path():
    records = [*exchange("a", 0.0), *exchange("b", 0.5), *exchange("c", 0.6, path="/other"),
               *exchange("d", 0.9, client="10.0.0.8:6000")]  # fmt: skip
    a, b, c, d = plan_replay(records).connections
    assert (b.after, b.after_s) == ("a", pytest.approx(0.2))
    assert c.after is None and d.after is None


def test_a_stream_the_server_ended_is_waited_for_and_one_the_client_aborted_is_aborted():
    records = [*exchange("a", 0.0), *exchange("b", 1.0, end="abort")]
    complete, aborted = plan_replay(records).connections
    assert complete.ending.by_server and complete.ending.end == "complete"
    assert complete.ending.recorded == "the stream ended complete"
    ending = aborted.ending
    assert not ending.by_server and ending.end == "abort"
    assert (ending.wait.kind, ending.wait.count) == ("agent_completed", 1)
    assert ending.gap_s == pytest.approx(0.1)
    assert ending.recorded == "the client aborted the stream"


def test_only_a_streams_first_client_message_is_its_request_body():
    records = exchange("a", 0.0)
    records.insert(3, body("a", 0.15, content="late"))
    (conn,) = plan_replay(records).connections
    assert len(conn.sends) == 1 and b"late" not in conn.sends[0].payload


def test_headers_the_http_client_writes_and_redacted_ones_are_not_sent_again():
    (conn,) = plan_replay(exchange("a", 0.0)).connections
    assert conn.headers == (("Content-Type", "application/json"), ("Accept", "text/event-stream"))
    assert conn.user_agent == "web/3"
    assert conn.dropped == ("header Authorization",)
    options = ReplayOptions(headers=(("authorization", "Bearer new"), ("X-Extra", "1")))
    assert request_headers(conn, options) == [
        ("Content-Type", "application/json"), ("Accept", "text/event-stream"),
        ("authorization", "Bearer new"), ("X-Extra", "1"),
    ]  # fmt: skip
    assert dropped_notes(conn, options) == ()
    assert dropped_notes(conn, ReplayOptions()) == ("recorded header Authorization redacted, "
                                                    "not replayed",)  # fmt: skip
    assert dropped_notes(conn, ReplayOptions(token="t")) == ()


@pytest.mark.parametrize(
    "target, transport, url",
    [("http://h:1/x", "websocket", "ws://h:1/x"), ("https://h", "websocket", "wss://h"),
     ("ws://h:1", "sse", "http://h:1"), ("wss://h/p?q=1", "ndjson", "https://h/p?q=1"),
     ("https://h", "sse", "https://h"), ("ws://h", "websocket", "ws://h")],
)  # fmt: skip
def test_one_target_serves_each_transport_in_its_own_scheme_with_tls_as_given(
    target, transport, url
):
    assert target_for(target, transport) == url


def test_a_server_minted_id_from_a_stream_is_rewritten_in_the_next_request():
    resumed = [stream_open("b", 0.51), body("b", 0.5, "t-1", resume="r-old")]
    records = [*exchange("a", 0.0, "t-1", run_id="r-old"), *resumed]
    plan = plan_replay(records)
    a, b = plan.connections
    assert b.sends[0].ids == ("r-old",)
    ids = IdMap(plan.anchors)
    conv = Conversation(a, ids, plan.answers, opened=0.0)
    new = json.dumps({"type": "agent_started", "payload": {"run_id": "r-new"}}).encode()
    conv.receive(True, new, 0.1, StreamEvent(new, "agent_started"))
    payload, missing = ids.rewrite(b.sends[0])
    assert missing == () and json.loads(payload)["payload"]["resume"] == "r-new"
