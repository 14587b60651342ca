"""The demo backend as a user sees it: a real `python -m wstape.demo.backend` process, real
websockets clients and the demo players; every scenario, envelope, echo, ping, reconnect, leak
and TLS."""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from certs import self_signed
from websockets.asyncio.client import connect

from wstape.demo.players import Frame, Transcript, chat, event_of, play, user_message
from wstape.demo.scenarios import SCENARIOS, Timing, events, script

FAST = ("--think-delay", "0.01", "--tool-delay", "0.05", "--slow-tool-delay", "0.3",
        "--first-delay", "0.3", "--silence-delay", "0.3", "--ping-interval", "0")  # fmt: skip
GOOD = ["agent_started", "agent_thinking", "tool_executing", "partial_result", "tool_completed",
        "agent_thinking", "agent_completed"]  # fmt: skip
EXPECTED = {
    "good": GOOD,
    "tool_error": [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_error",
        "agent_completed",
    ],
    "slow_tool": GOOD,
    "slow_first": GOOD,
    "missing_event": [
        "agent_started",
        "tool_executing",
        "partial_result",
        "tool_completed",
        "agent_completed",
    ],
    "unpaired_tool": [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "agent_thinking",
        "agent_completed",
    ],
    "late_event": [*GOOD, "agent_thinking"],
    "no_completion": ["agent_started", "agent_thinking", "tool_executing", "tool_completed"],
    "drop": ["agent_started", "agent_thinking", "tool_executing"],
    "leak": GOOD,
    "reconnect": [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_thinking",
        "agent_completed",
    ],
    "silent": GOOD,
}


@pytest.fixture
def fast(start_backend):
    return start_backend(*FAST)


def run_chat(url: str, messages: list, user: str = "alice", **kwargs) -> Transcript:
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("linger", 0.05)
    return asyncio.run(chat(url, user, messages, **kwargs))


def agent_events(transcript: Transcript) -> list[tuple[str, dict]]:
    pairs = [event_of(obj) for obj in transcript.server_events()]
    return [(t, f) for t, f in pairs if t and t.startswith(("agent_", "tool_", "partial"))]


async def timed_run(url: str, payload: dict, user: str = "alice") -> tuple[dict, list]:
    """The welcome and (seconds since the user's message, event) for one run on a raw client."""
    async with connect(f"{url}?user_id={user}", max_size=None, proxy=None) as ws:
        welcome = json.loads(await ws.recv())
        sent = time.monotonic()
        await ws.send(json.dumps({"type": "user_message", "payload": payload}))
        received = []
        while not received or received[-1][1]["type"] != "agent_completed":
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            received.append((time.monotonic() - sent, message))
        return welcome, received


def test_health_answers_ok(backend):
    with urllib.request.urlopen(f"{backend.http_url}/ws/health", timeout=5) as response:
        assert (response.status, response.read()) == (200, b"ok")


def test_other_paths_are_not_found(backend):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{backend.http_url}/nope", timeout=5)
    info.value.close()
    assert info.value.code == 404


def test_good_run_sends_seven_events_in_order_to_the_user(fast):
    payload = {"content": "hi", "thread_id": "thread-mine"}
    welcome, received = asyncio.run(timed_run(fast.url, payload, user="bob"))
    assert welcome["type"] == "connection_established"
    assert welcome["payload"]["user_id"] == "bob"
    assert welcome["payload"]["connection_id"].startswith("conn-")
    assert [m["type"] for _, m in received] == GOOD
    bodies = [m["payload"] for _, m in received]
    assert {b["run_id"] for b in bodies} == {bodies[0]["run_id"]}
    assert bodies[0]["run_id"].startswith("run-") and len(bodies[0]["run_id"]) == 16
    assert {(b["thread_id"], b["user_id"], b["agent_name"]) for b in bodies} == {
        ("thread-mine", "bob", "demo_agent")
    }
    executing, completed = bodies[2], bodies[4]
    assert executing["execution_id"] == completed["execution_id"]
    assert completed["result"]["status"] == "success"
    assert bodies[-1]["result"]["status"] == "success"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_sends_its_documented_sequence(fast, scenario):
    transcript = run_chat(fast.url, [user_message(scenario, 1)], timeout=1.0)
    assert transcript.event_types() == EXPECTED[scenario]
    assert events(script(scenario, Timing())) == EXPECTED[scenario]


def test_tool_error_reports_the_failure(fast):
    transcript = run_chat(fast.url, [user_message("tool_error", 1)])
    by_type = dict(agent_events(transcript))
    assert by_type["tool_completed"]["result"]["status"] == "error"
    assert by_type["tool_completed"]["result"]["error"]
    assert by_type["agent_error"]["error"]
    assert by_type["agent_completed"]["result"]["status"] == "error"


def test_tools_repeat_with_distinct_execution_ids(fast):
    transcript = run_chat(fast.url, [user_message("good", 1, {"tools": 3})])
    executing = [f["execution_id"] for t, f in agent_events(transcript) if t == "tool_executing"]
    completed = [f["execution_id"] for t, f in agent_events(transcript) if t == "tool_completed"]
    assert len(set(executing)) == 3 and executing == completed


def test_slow_tool_takes_the_messages_tool_delay(fast):
    payload = {"content": "x", "scenario": "slow_tool", "tool_delay": 0.4}
    _, received = asyncio.run(timed_run(fast.url, payload))
    at = {m["type"]: t for t, m in received}
    assert at["tool_completed"] - at["tool_executing"] >= 0.38


def test_slow_first_waits_before_agent_started(fast):
    _, received = asyncio.run(timed_run(fast.url, {"content": "x", "scenario": "slow_first"}))
    assert received[0][1]["type"] == "agent_started" and received[0][0] >= 0.28
    _, quick = asyncio.run(timed_run(fast.url, {"content": "x"}))
    assert quick[0][0] < 0.2


def test_silent_pauses_after_planning_with_no_tool_running(fast):
    payload = {"content": "x", "scenario": "silent", "silence_delay": 0.4}
    _, received = asyncio.run(timed_run(fast.url, payload))
    (thinking, _), (executing, _) = [(m["type"], t) for t, m in received][1:3]
    assert (thinking, executing) == ("agent_thinking", "tool_executing")
    assert received[2][0] - received[1][0] >= 0.38


def test_buffer_holds_a_runs_events_and_sends_them_together(start_backend):
    backend = start_backend(*FAST, "--think-delay", "0.1", "--buffer")
    _, received = asyncio.run(timed_run(backend.url, {"content": "x"}))
    assert [m["type"] for _, m in received] == GOOD
    at = [t for t, _ in received]
    assert at[0] >= 0.45  # nothing until the run's last event was due (0.5 s of pauses)
    assert at[-1] - at[0] < at[0] / 5  # then everything at once


def test_binary_and_large_text_echo_byte_identical(fast):
    blob = bytes(range(256)) * 4096 + b"\x00\xff"
    big = json.dumps({"type": "echo", "data": "é" * (1024 * 1024)})
    assert len(big.encode()) > 2 * 1024 * 1024
    transcript = run_chat(fast.url, [blob, big])
    received = [f for f in transcript.connections[0] if f.direction == "server"]
    assert Frame("server", "binary", blob) in received
    assert Frame("server", "text", big.encode()) in received
    assert transcript.error is None


def test_non_json_text_gets_an_error_frame(fast):
    async def go() -> dict:
        async with connect(f"{fast.url}?user_id=a", proxy=None) as ws:
            await ws.recv()
            await ws.send("not json {")
            return json.loads(await ws.recv())

    assert asyncio.run(go()) == {"type": "error", "payload": {"error": "invalid JSON"}}


def test_app_pings_arrive_and_are_answered(start_backend):
    backend = start_backend("--ping-interval", "0.2")
    transcript = run_chat(backend.url, [], linger=0.75)
    types = [(f.direction, (f.json() or {}).get("type")) for f in transcript.connections[0]]
    assert types.count(("server", "ping")) >= 2
    assert types.count(("client", "pong")) == types.count(("server", "ping"))


def test_drop_event_removes_that_type_everywhere(start_backend):
    backend = start_backend(*FAST, "--drop-event", "agent_thinking")
    transcript = run_chat(backend.url, [user_message("good", 1), user_message("late_event", 2)])
    assert "agent_thinking" not in transcript.event_types()
    assert transcript.event_types().count("agent_completed") == 2


@pytest.mark.parametrize("envelope", ["flat", "system_message"])
def test_envelope_shapes(start_backend, envelope):
    backend = start_backend(*FAST, "--envelope", envelope)
    transcript = run_chat(backend.url, [user_message("good", 1)])
    frames = [o for o in transcript.server_events() if o["type"] != "connection_established"]
    started = frames[0]
    if envelope == "flat":
        assert started["type"] == "agent_started" and "payload" not in started
        assert {"run_id", "thread_id", "user_id", "data"} <= started.keys()
        assert started["data"]["agent_name"] == "demo_agent"
    else:
        assert (started["type"], started["event"]) == ("system_message", "agent_started")
        assert started["payload"]["user_id"] == "alice"
    assert transcript.event_types() == GOOD


def test_reconnect_resumes_the_run_on_a_new_connection(fast):
    transcript = run_chat(fast.url, [user_message("reconnect", 1)])
    assert len(transcript.connections) == 2
    assert transcript.close_codes == [1012, 1000]
    resume = [f.json() for f in transcript.connections[1] if f.direction == "client"][0]
    run_ids = {f["run_id"] for _, f in agent_events(transcript)}
    assert resume["type"] == "resume" and run_ids == {resume["payload"]["run_id"]}
    assert transcript.event_types()[-1] == "agent_completed" and transcript.error is None


def test_resume_of_unknown_run_is_an_error(fast):
    resume = {"type": "resume", "payload": {"run_id": "run-x"}}
    transcript = run_chat(fast.url, [resume], linger=0.3)
    assert {"type": "error", "payload": {"error": "unknown run_id run-x"}} in (
        transcript.server_events()
    )


def test_leak_reaches_a_second_concurrent_user(fast):
    async def go() -> tuple[Transcript, Transcript]:
        bystander = asyncio.create_task(chat(fast.url, "carol", [], linger=1.0, timeout=5))
        await asyncio.sleep(0.3)
        leaker = await chat(fast.url, "dave", [user_message("leak", 1)], timeout=5)
        return leaker, await bystander

    leaker, bystander = asyncio.run(go())
    assert leaker.event_types() == GOOD
    leaked = [f for t, f in agent_events(bystander) if t == "partial_result"]
    assert [f["user_id"] for f in leaked] == ["dave"]


def test_drop_aborts_without_a_close_frame(fast):
    transcript = run_chat(fast.url, [user_message("drop", 1)])
    assert transcript.close_codes[0] == 1006
    assert transcript.event_types() == EXPECTED["drop"]


def test_credentials_are_ignored_and_subprotocol_echoed(fast):
    jwt = "jwt.eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"

    async def go() -> str | None:
        url = f"{fast.url}?user_id=a&token=secret"
        auth = {"Authorization": "Bearer x"}
        offered = [jwt, "chat"]
        async with connect(url, subprotocols=offered, additional_headers=auth, proxy=None) as ws:
            return ws.subprotocol

    assert asyncio.run(go()) == jwt
    transcript = run_chat(
        fast.url,
        [user_message("good", 1)],
        query={"token": "secret"},
        subprotocols=[jwt],
        headers={"Authorization": "Bearer x"},
    )
    assert transcript.event_types() == GOOD


def test_play_runs_users_concurrently_through_every_scenario(fast):
    transcripts = asyncio.run(play(fast.url, 2, ["good", "tool_error"], timeout=5, linger=0.05))
    assert [t.user_id for t in transcripts] == ["user-1", "user-2"]
    lasts = [agent_events(t)[-1][1]["result"]["status"] for t in transcripts]
    assert lasts == ["error", "success"]
    assert all(t.event_types().count("agent_completed") == 2 for t in transcripts)


def test_wss_with_a_self_signed_certificate(start_backend, tmp_path):
    made = self_signed(tmp_path)
    cert, key = made.cert, made.key
    backend = start_backend(*FAST, "--certfile", str(cert), "--keyfile", str(key))
    assert backend.url.startswith("wss://")
    trusting = ssl.create_default_context(cafile=str(cert))
    transcript = run_chat(backend.url, [user_message("good", 1)], ssl=trusting)
    assert transcript.event_types() == GOOD and transcript.error is None
    untrusting = run_chat(backend.url, [user_message("good", 1)])
    assert untrusting.error and "CERTIFICATE_VERIFY_FAILED" in untrusting.error
    assert "listening on wss://127.0.0.1:" in Path(backend.proc.log_path).read_text()


def test_sigterm_stops_cleanly_with_exit_0(fast):
    assert "demo backend listening on ws://127.0.0.1:" in Path(fast.proc.log_path).read_text()
    fast.proc.send_signal(signal.SIGTERM)
    assert fast.proc.wait(10) == 0


def test_dropping_an_event_keeps_the_others_timing():
    timing = Timing(think_delay=0.01, first_delay=0.5)
    kept = script("slow_first", timing, drop=frozenset({"agent_started"}))
    assert events(kept)[0] == "agent_thinking" and kept[0].delay == pytest.approx(0.51)
