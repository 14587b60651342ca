"""An OpenAI Realtime session over WebSocket, its events built from the `openai` package's own
models (tests/realtime_backend.py and the client here), recorded through the real recorder and
judged with the openai-realtime profile: one run per user turn, a tool turn over two Responses
one run, and each broken Response failing with its own code."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, free_port, wait_listening
from openai.types.realtime import (
    ConversationItemCreateEvent,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemUserMessage,
    ResponseCreateEvent,
)
from websockets.asyncio.client import connect

from wstape.analyzer.profile import load_profile
from wstape.analyzer.protocols.events import Canonical, Frame

PROFILE = ROOT / "analyzer" / "profiles" / "openai-realtime.toml"
SCENARIOS = ("happy", "tool", "failed", "error", "never", "slow", "late")


def ask(text: str, n: int) -> list[str]:
    """The user's turn as a Realtime client sends it: a message item, then response.create."""
    item = RealtimeConversationItemUserMessage(
        type="message", role="user", content=[{"type": "input_text", "text": text}]
    )
    create = ConversationItemCreateEvent(
        type="conversation.item.create", event_id=f"evt_item_{n}", item=item
    )
    response = ResponseCreateEvent(type="response.create", event_id=f"evt_resp_{n}")
    return [e.model_dump_json(exclude_none=True) for e in (create, response)]


def answer(call_id: str, n: int) -> list[str]:
    output = RealtimeConversationItemFunctionCallOutput(
        type="function_call_output", call_id=call_id, output='{"weather": "sunny"}'
    )
    create = ConversationItemCreateEvent(
        type="conversation.item.create", event_id=f"evt_out_{n}", item=output
    )
    response = ResponseCreateEvent(type="response.create", event_id=f"evt_resp2_{n}")
    return [e.model_dump_json(exclude_none=True) for e in (create, response)]


async def turn(url: str, scenario: str, n: int) -> None:
    async with connect(url) as ws:
        for message in ask(scenario, n):
            await ws.send(message)
        while True:
            try:
                event = json.loads(
                    await asyncio.wait_for(ws.recv(), 1.0 if scenario == "never" else 5)
                )
            except TimeoutError:
                return  # the Response that never ends: the user gives up and leaves
            if event["type"] == "error":
                return
            if event["type"] != "response.done":
                continue
            calls = [i for i in event["response"]["output"] if i["type"] == "function_call"]
            if not calls:
                await asyncio.sleep(0.2 if scenario == "late" else 0)
                return
            for message in answer(calls[0]["call_id"], n):
                await asyncio.sleep(0.1)  # the client runs the tool
                await ws.send(message)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    from wstape.recorder.launch import RecordConfig, RecorderProcess

    out = tmp_path_factory.mktemp("realtime") / "capture"
    port = free_port()
    backend = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "realtime_backend.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(port, backend)
        cfg = RecordConfig(out=out, upstream=f"http://127.0.0.1:{port}", listen_port=free_port())
        with RecorderProcess(cfg):

            async def session() -> None:
                for n, scenario in enumerate(SCENARIOS):
                    await turn(f"ws://127.0.0.1:{cfg.listen_port}/v1/realtime", scenario, n)

            asyncio.run(session())
    finally:
        backend.terminate()
        backend.wait(10)
    return out


def analyze(capture: Path, *args: str) -> tuple[int, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "wstape", "analyze", str(capture), "--json", "-",
         "--max-first-event-s", "1", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


EXPECTED = {
    "happy": ("passed", "completed", []),
    "tool": ("passed", "completed", []),
    "failed": ("passed", "error", []),  # a graceful failure: the user was told
    "error": ("failed", "error", ["missing_events"]),  # refused before any Response started
    "never": ("failed", "incomplete", ["no_completion"]),
    "slow": ("failed", "completed", ["slow_first_event"]),
    "late": ("failed", "completed", ["order"]),
}


@pytest.mark.parametrize(
    "profile",
    [("--profile", str(PROFILE)), ("--profile", "openai-realtime"), ()],
    ids=["profile-file", "profile-by-name", "sniffed"],
)
def test_every_response_is_judged_right_with_the_profile(recorded: Path, profile: tuple):
    code, report = analyze(recorded, *profile)
    assert report["summary"]["profile"]["protocol"] == "openai-realtime"
    runs = report["runs"]
    assert len(runs) == len(SCENARIOS), [r["events"] for r in runs]
    got = {
        scenario: (run["status"], run["outcome"], [f["code"] for f in run["failures"]])
        for scenario, run in zip(SCENARIOS, runs, strict=True)
    }
    assert got == EXPECTED
    assert code == 1
    assert report["summary"]["warnings"] == []


def test_a_tool_turn_over_two_responses_is_one_run_with_its_tool_paired(recorded: Path):
    _, report = analyze(recorded, "--profile", str(PROFILE))
    tool_run = report["runs"][SCENARIOS.index("tool")]
    # Both Responses' items and text joined the run; the first Response's end (awaiting the
    # call's output) and the second's start are the turn's control traffic, not its end and start.
    assert tool_run["events"]["response.output_item.added"] == 2
    assert tool_run["events"]["response.output_text.delta"] == 3
    assert tool_run["events"]["response.created"] == tool_run["events"]["response.done"] == 1
    (tool,) = tool_run["tools"]
    assert tool["name"] == "lookup" and tool["execution_id"].startswith("call_")
    assert tool["duration_s"] >= 0.1  # the client ran it


def test_a_failed_response_names_its_error(recorded: Path):
    _, report = analyze(recorded, "--profile", str(PROFILE))
    failed = report["runs"][SCENARIOS.index("failed")]
    assert failed["outcome"] == "error" and failed["events"]["response.done"] == 1


def test_a_realtime_session_replays_against_a_new_build_with_the_same_verdicts(
    recorded: Path, processes, tmp_path: Path
):
    port = free_port()
    backend = processes.start(
        [sys.executable, str(ROOT / "tests" / "realtime_backend.py"), "--port", str(port)],
        "realtime",
    )
    wait_listening(port, backend)
    result = subprocess.run(
        [sys.executable, "-m", "wstape", "replay", str(recorded), "--target",
         f"ws://127.0.0.1:{port}/v1/realtime", "--out", str(tmp_path / "next"),
         "--profile", str(PROFILE), "--as-fast-as-possible", "--reply-timeout", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    _, replayed = analyze(tmp_path / "next", "--profile", str(PROFILE))
    _, original = analyze(recorded, "--profile", str(PROFILE))
    verdicts = [[(r["outcome"], r["status"]) for r in report["runs"]]
                for report in (original, replayed)]  # fmt: skip
    assert verdicts[0] == verdicts[1]


# ------------------------------------------------------------------ the decoder alone


def frames(*events: tuple[bool, dict]) -> list[Frame]:
    return [Frame("c", float(i), client, True, json.dumps(e).encode())
            for i, (client, e) in enumerate(events)]  # fmt: skip


def test_the_user_message_is_timed_from_its_item_and_names_no_run():
    decoder = load_profile(PROFILE).protocol.decoder()
    item, create = (json.loads(m) for m in ask("hi", 0))
    events = [e for f in frames((True, item), (True, create)) for e in decoder.feed(f)]
    assert [e.canonical for e in events] == [Canonical.CONTROL, Canonical.USER_MESSAGE]
    assert events[1].ts == 0.0 and events[1].text == "hi" and events[1].run_id is None


def test_an_error_outside_any_turn_is_control_traffic():
    decoder = load_profile(PROFILE).protocol.decoder()
    error = {"type": "error", "event_id": "e1", "error": {"type": "x", "message": "bad"}}
    (event,) = decoder.feed(frames((False, error))[0])
    assert event.canonical is Canonical.CONTROL and event.text == "bad"
