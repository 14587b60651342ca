"""The replay plan and its sans-I/O state, without a socket: which frame each client message
waits for, what is re-sent and what is answered live, which ids are rewritten, how connections
follow each other, and what of a redacted handshake is replayed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wstape.analyzer.replay.handshake import replay_url
from wstape.analyzer.replay.plan import Anchor, Wait, plan_replay
from wstape.analyzer.replay.state import Conversation, IdMap
from wstape.recorder.capture import Close, Message, Open

OPEN_HEADERS = (("Host", "backend:8000"), ("Upgrade", "websocket"), ("User-Agent", "app/2.1"))


def opened(conn: str, ts: float, path: str = "/ws?user_id=u", headers=OPEN_HEADERS) -> Open:
    return Open(conn, ts, f"ws://backend:8000{path}", path, None, "10.0.0.7:5000", "backend:8000",
                tuple(headers))  # fmt: skip


def msg(conn: str, ts: float, from_client: bool, obj: object) -> Message:
    payload = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return Message(conn, ts, from_client, True, payload)


def event(kind: str, **ids: str) -> dict:
    return {"type": kind, "payload": {"run_id": "run-1", "thread_id": "t-1", **ids}}


CLIENT, SERVER = True, False


def two_runs() -> list:
    return [
        opened("a", 0.0),
        msg("a", 0.01, SERVER, {"type": "connection_established"}),
        msg("a", 0.03, CLIENT, {"type": "user_message", "payload": {"content": "hi"}}),
        msg("a", 0.10, SERVER, event("agent_started")),
        msg("a", 0.20, SERVER, event("agent_thinking")),
        msg("a", 0.50, SERVER, event("agent_completed")),
        msg("a", 0.55, SERVER, {"type": "ping"}),
        msg("a", 0.56, CLIENT, {"type": "pong", "n": 7}),
        msg("a", 0.90, CLIENT, {"type": "user_message", "payload": {"content": "again"}}),
        msg("a", 0.95, SERVER, event("agent_started", run_id="run-2")),
        msg("a", 1.20, SERVER, event("agent_completed", run_id="run-2")),
        Close("a", 1.50, 1000, "", "client"),
    ]


def test_a_message_waits_for_the_last_frame_its_client_had_seen_counted_by_kind():
    (conn,) = plan_replay(two_runs()).connections
    first, second = conn.sends
    assert first.wait == Wait("connection_established", 1, None, pytest.approx(0.01))
    assert first.gap_s == pytest.approx(0.02)
    # the app ping came later but on a timer: the question reacted to the answer
    assert second.wait.kind == "agent_completed" and second.wait.count == 1
    assert second.gap_s == pytest.approx(0.40)
    assert second.wait.expect_s == pytest.approx(0.50 - 0.03)


def test_a_message_sent_before_any_server_frame_waits_only_for_the_open():
    records = [opened("a", 0.0), msg("a", 0.2, CLIENT, {"type": "hello"})]
    (send,) = plan_replay(records).connections[0].sends
    assert send.wait.kind is None and send.gap_s == pytest.approx(0.2)


def test_recorded_pongs_are_not_resent_and_their_text_answers_the_new_pings():
    plan = plan_replay(two_runs())
    (conn,) = plan.connections
    assert conn.skipped == 1 and len(conn.sends) == 2
    assert plan.answers["ping"] == json.dumps({"type": "pong", "n": 7}).encode()
    conv = Conversation(conn, IdMap(plan.anchors), plan.answers, opened=0.0)
    assert conv.receive(True, b'{"type": "ping"}', 1.0) == plan.answers["ping"]
    assert conv.receive(True, b'{"type": "agent_started"}', 1.1) is None
    assert not conv.counts["ping"]


def test_a_wait_is_met_when_the_new_server_sends_its_frame():
    plan = plan_replay(two_runs())
    (conn,) = plan.connections
    conv = Conversation(conn, IdMap(plan.anchors), plan.answers, opened=10.0)
    wait = conn.sends[1].wait
    assert conv.met_at(conn.sends[0].wait) is None
    conv.receive(True, b'{"type": "connection_established"}', 10.2)
    assert conv.met_at(conn.sends[0].wait) == 10.2
    conv.receive(True, json.dumps(event("agent_started")).encode(), 10.3)
    assert conv.met_at(wait) is None
    conv.receive(True, json.dumps(event("agent_completed")).encode(), 10.9)
    assert conv.met_at(wait) == 10.9


def test_a_frame_the_new_server_drops_counts_as_seen_when_its_run_ends():
    records = [
        opened("a", 0.0),
        msg("a", 0.1, CLIENT, {"type": "user_message"}),
        msg("a", 0.2, SERVER, event("agent_started")),
        msg("a", 0.3, SERVER, event("agent_thinking")),
        msg("a", 0.31, CLIENT, {"type": "cancel"}),
        msg("a", 0.5, SERVER, event("agent_completed")),
    ]
    plan = plan_replay(records)
    (conn,) = plan.connections
    cancel = conn.sends[1]
    assert cancel.wait.kind == "agent_thinking" and cancel.wait.terminals == 1
    conv = Conversation(conn, IdMap(plan.anchors), plan.answers, opened=0.0)
    conv.receive(True, json.dumps(event("agent_started")).encode(), 1.0)
    assert conv.met_at(cancel.wait) is None
    conv.receive(True, json.dumps(event("agent_completed")).encode(), 1.4)
    assert conv.met_at(cancel.wait) == 1.4


def reconnect() -> list:
    return [
        opened("a", 0.0),
        msg("a", 0.01, CLIENT, {"type": "user_message", "payload": {"thread_id": "t-mine"}}),
        msg("a", 0.02, SERVER, event("agent_started", run_id="run-old", thread_id="t-mine")),
        Close("a", 0.05, 1012, "service restart", "server"),
        opened("b", 0.08),
        msg("b", 0.09, SERVER, {"type": "connection_established"}),
        msg("b", 0.10, CLIENT, {"type": "resume",
                                "payload": {"run_id": "run-old", "thread_id": "t-mine"}}),
        msg("b", 0.30, SERVER, event("agent_completed", run_id="run-old", thread_id="t-mine")),
        Close("b", 0.40, 1000, "", "client"),
    ]  # fmt: skip


def test_a_reconnection_follows_the_connection_the_server_closed():
    a, b = plan_replay(reconnect()).connections
    assert a.ending.by_server and a.ending.recorded == "closed 1012 by the server"
    assert a.after is None
    assert b.after == "a" and b.after_s == pytest.approx(0.03)
    assert not b.ending.by_server and b.ending.code == 1000


def test_ids_the_server_minted_are_rewritten_and_the_clients_own_are_not():
    plan = plan_replay(reconnect())
    a, b = plan.connections
    (resume,) = b.sends
    assert resume.ids == ("run-old",)  # t-mine came from the client first
    assert Anchor("a", "agent_started", 1, "run_id") in plan.anchors
    ids = IdMap(plan.anchors)
    conv = Conversation(a, ids, plan.answers, opened=0.0)
    conv.receive(True, json.dumps(event("agent_started", run_id="run-new")).encode(), 0.1)
    payload, missing = ids.rewrite(resume)
    assert missing == ()
    assert payload == resume.payload.replace(b'"run-old"', b'"run-new"')
    assert json.loads(payload)["payload"]["thread_id"] == "t-mine"


def test_an_id_the_new_server_never_minted_is_sent_as_recorded_and_reported():
    plan = plan_replay(reconnect())
    (resume,) = plan.connections[1].sends
    assert IdMap(plan.anchors).rewrite(resume) == (resume.payload, ("run-old",))


def test_connections_that_overlapped_are_not_chained():
    records = [opened("a", 0.0), opened("b", 0.1), Close("a", 0.2, 1000, "", "client"),
               Close("b", 0.3, 1000, "", "client")]  # fmt: skip
    a, b = plan_replay(records).connections
    assert (a.start_s, b.start_s) == (0.0, pytest.approx(0.1))
    assert b.after is None


@pytest.mark.parametrize(
    "code, closed_by, by_server, sent",
    [(4001, "client", False, 4001), (1005, "client", False, 1000), (1006, None, True, 1000),
     (None, None, True, 1000), (1001, "server", True, 1001)],
)  # fmt: skip
def test_how_a_connection_ended_is_how_its_replay_ends(code, closed_by, by_server, sent):
    records = [opened("a", 0.0), msg("a", 0.1, SERVER, {"type": "hi"}),
               Close("a", 0.4, code, "bye", closed_by)]  # fmt: skip
    ending = plan_replay(records).connections[0].ending
    assert (ending.by_server, ending.code) == (by_server, sent)
    assert ending.wait.kind == "hi" and ending.gap_s == pytest.approx(0.3)


def test_redacted_secrets_are_left_out_of_the_handshake():
    headers = (*OPEN_HEADERS, ("Authorization", "[REDACTED]"), ("Origin", "https://app"),
               ("Sec-WebSocket-Protocol", "jwt.[REDACTED], chat.v1"))  # fmt: skip
    records = [opened("a", 0.0, "/ws?user_id=u&token=[REDACTED]&lang=de", headers)]
    (conn,) = plan_replay(records).connections
    assert conn.path == "/ws?user_id=u&lang=de"
    assert conn.headers == (("Origin", "https://app"),)
    assert conn.subprotocols == ("chat.v1",)
    assert conn.user_agent == "app/2.1"
    assert set(conn.dropped) == {
        "query parameter token", "header Authorization", "subprotocol jwt.[REDACTED]"
    }  # fmt: skip


@pytest.mark.parametrize(
    "target, expected",
    [("ws://new:9000", "ws://new:9000/ws?user_id=u&a=1"),
     ("ws://new:9000/", "ws://new:9000/ws?user_id=u&a=1"),
     ("wss://new/v2/chat", "wss://new/v2/chat?user_id=u&a=1"),
     ("ws://new:9000/ws?tenant=x", "ws://new:9000/ws?user_id=u&a=1&tenant=x")],
)  # fmt: skip
def test_replay_url_keeps_the_recorded_path_and_query_on_the_new_host(target, expected):
    assert replay_url(target, "/ws?user_id=u&a=1") == expected


def test_query_options_replace_recorded_parameters_of_that_name():
    url = replay_url("ws://new:1", "/ws?user_id=u&a=1", [("a", "2"), ("token", "s e")])
    assert url == "ws://new:1/ws?user_id=u&a=2&token=s%20e"


frames = st.one_of(
    st.binary(max_size=40),
    st.dictionaries(st.sampled_from(["type", "run_id", "thread_id", "payload", "event"]),
                    st.one_of(st.text(max_size=8), st.integers(), st.none()), max_size=4)
    .map(lambda d: json.dumps(d).encode()),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), frames), max_size=30))
def test_any_conversation_plans_one_send_per_client_message_but_pongs(messages):
    records = [opened("a", 0.0)]
    records += [Message("a", 0.01 * (i + 1), c, True, p) for i, (c, p) in enumerate(messages)]
    (conn,) = plan_replay(records).connections
    assert len(conn.sends) + conn.skipped == sum(c for c, _ in messages)
    assert all(s.gap_s >= 0 and s.wait.expect_s >= 0 for s in conn.sends)
