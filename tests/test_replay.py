"""`wstape replay` end to end: sessions recorded through the real recorder from the real demo
backend, replayed by the real CLI against demo backends in this release's and the next release's
configuration, and the replayed captures judged with the same analyzer."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, free_port
from websockets.asyncio.client import connect

import wstape
from wstape.demo.players import chat, user_message
from wstape.demo.session import demo_backend
from wstape.recorder.capture import Close, Message, Open, read_capture
from wstape.recorder.launch import RecordConfig, RecorderProcess

FAST = ("--think-delay", "0.01", "--tool-delay", "0.05", "--ping-interval", "0.2")
PAUSE_S = 0.4  # how long user-5 reads an answer before asking again


async def scripted(url: str, steps: list) -> None:
    """A user that follows a script: dicts are sent, strings wait for that event type, floats
    pause. It never answers pings, so the capture shows only what the script did."""
    async with connect(url, proxy=None) as ws:
        for step in steps:
            if isinstance(step, float):
                await asyncio.sleep(step)
            elif isinstance(step, str):
                while json.loads(await asyncio.wait_for(ws.recv(), 10)).get("type") != step:
                    pass
            else:
                await ws.send(json.dumps(step))


async def users(url: str) -> None:
    def at(user: str) -> str:
        return f"{url}?user_id={user}"

    await asyncio.gather(
        chat(url, "user-1", [user_message("good", 1), user_message("good", 2)], linger=0.3),
        chat(url, "user-2", [user_message("tool_error", 1)], linger=0.3),
        chat(url, "user-3", [user_message("reconnect", 1)], linger=0.3),
        scripted(at("user-5"), [user_message("good", 1), "agent_completed", PAUSE_S,
                                user_message("good", 2), "agent_completed"]),
        # An echo sent in reaction to agent_thinking: its trigger is an event a release may drop.
        scripted(at("user-6"), [user_message("good", 1), "agent_thinking", {"type": "echo"},
                                "agent_completed"]),
    )  # fmt: skip


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """Five users of this release, recorded through mitmdump: two runs in a row, a tool error,
    a reconnect (1012 then resume), a user who pauses, and one who reacts mid-run."""
    out = tmp_path_factory.mktemp("replay") / "original"
    with demo_backend(*FAST) as port:
        cfg = RecordConfig(out=out, upstream=f"http://127.0.0.1:{port}", listen_port=free_port())
        with RecorderProcess(cfg):
            asyncio.run(users(f"ws://127.0.0.1:{cfg.listen_port}/ws"))
    return out


def run_wstape(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wstape", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def replay(capture: Path, target: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    return run_wstape("replay", str(capture), "--target", target, "--out", str(out), *args)


@pytest.fixture(scope="module")
def same_release(recorded, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("replay") / "same"
    with demo_backend(*FAST) as port:
        result = replay(recorded, f"ws://127.0.0.1:{port}/ws", out, "--reply-timeout", "5")
    return out, result


def signature(capture: Path) -> list[tuple]:
    """What a run's verdict says, without its ids or exact timings, in user order."""
    report = wstape.validate(capture)
    return sorted(
        (v.run.user_id, v.outcome.value, v.codes, len(v.run.connections),
         tuple(sorted(v.event_counts.items())))
        for v in report.verdicts
    )  # fmt: skip


def client_frames(capture: Path) -> dict[str, list[dict]]:
    """Client JSON messages per user, in order, over all of that user's connections."""
    users, frames = {}, {}
    for record in read_capture(capture):
        if isinstance(record, Open):
            users[record.connection] = record.path.split("user_id=")[1]
        elif isinstance(record, Message) and record.from_client:
            frames.setdefault(users[record.connection], []).append(json.loads(record.payload))
    return frames


def server_events(capture: Path, user: str) -> list[tuple[float, str, dict]]:
    users, out = {}, []
    for record in read_capture(capture):
        if isinstance(record, Open):
            users[record.connection] = record.path.split("user_id=")[1]
        elif isinstance(record, Message) and users[record.connection] == user:
            obj = json.loads(record.payload)
            out.append((record.ts, ("client:" if record.from_client else "") + obj["type"], obj))
    return out


def test_replay_against_the_same_release_gives_the_same_verdicts(recorded, same_release):
    out, result = same_release
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replayed 6 of 6 connections" in result.stdout
    assert signature(out) == signature(recorded)
    assert len(signature(out)) == 7


def test_replay_summary_shows_totals_and_the_replayed_verdicts(same_release):
    _, result = same_release
    assert "messages sent, 0 not sent" in result.stdout
    assert "0 connections failed" in result.stdout
    assert "analysis of the replayed capture:" in result.stdout
    assert "SUMMARY - 7 runs: 7 passed, 0 failed" in result.stdout


def test_resume_after_reconnect_carries_the_run_id_the_new_server_minted(recorded, same_release):
    out, result = same_release
    (old,) = [f for f in client_frames(recorded)["user-3"] if f["type"] == "resume"]
    (new,) = [f for f in client_frames(out)["user-3"] if f["type"] == "resume"]
    minted = {e[2]["payload"]["run_id"] for e in server_events(out, "user-3") if "run_id" in
              e[2].get("payload", {})}  # fmt: skip
    assert new["payload"]["run_id"] in minted
    assert new["payload"]["run_id"] != old["payload"]["run_id"]
    # the client's own thread id is the client's, not the server's: sent as recorded
    assert new["payload"]["thread_id"] == old["payload"]["thread_id"]
    assert "ids rewritten: 1" in result.stdout
    (verdict,) = [v for v in wstape.validate(out).verdicts if v.run.user_id == "user-3"]
    assert verdict.passed and len(verdict.run.connections) == 2


def test_new_server_pings_are_answered_and_recorded_pongs_not_resent(recorded, same_release):
    out, _ = same_release
    for user in ("user-1", "user-5"):
        events = server_events(out, user)
        pings = sum(kind == "ping" for _, kind, _ in events)
        pongs = sum(kind == "client:pong" for _, kind, _ in events)
        assert pings and pongs == pings, (user, pings, pongs)
    recorded_chat = [f for f in client_frames(recorded)["user-1"] if f["type"] != "pong"]
    replayed_chat = [f for f in client_frames(out)["user-1"] if f["type"] != "pong"]
    assert len(replayed_chat) == len(recorded_chat) == 2


def gap_after_first_completion(capture: Path, user: str) -> float:
    events = server_events(capture, user)
    done = next(ts for ts, kind, _ in events if kind == "agent_completed")
    asked = [ts for ts, kind, _ in events if kind == "client:user_message"][1]
    return asked - done


def test_a_message_waits_for_its_reply_then_the_recorded_pause(recorded, same_release):
    out, _ = same_release
    assert gap_after_first_completion(recorded, "user-5") == pytest.approx(PAUSE_S, abs=0.1)
    assert gap_after_first_completion(out, "user-5") == pytest.approx(PAUSE_S, abs=0.1)
    # two runs in a row: the second question never overtakes the first answer
    assert 0 <= gap_after_first_completion(out, "user-1") < 0.1


@pytest.mark.parametrize("flag, low, high", [(("--speed", "4"), 0.07, 0.2),
                                             (("--as-fast-as-possible",), 0.0, 0.05)])  # fmt: skip
def test_speed_scales_the_pauses_but_never_the_replies(recorded, start_backend, tmp_path, flag,
                                                        low, high):  # fmt: skip
    backend = start_backend(*FAST)
    result = replay(recorded, backend.url, tmp_path / "fast", *flag)
    assert result.returncode == 0, result.stdout + result.stderr
    assert low <= gap_after_first_completion(tmp_path / "fast", "user-5") <= high


def test_release_that_drops_an_event_shows_missing_events_and_never_hangs(
    recorded, start_backend, tmp_path
):
    backend = start_backend(*FAST, "--drop-event", "agent_thinking")
    started = time.monotonic()
    # A long reply timeout: user-6's echo waited for an agent_thinking that never comes, and
    # must go out when its run ends instead of after the timeout.
    result = replay(recorded, backend.url, tmp_path / "next", "--reply-timeout", "30")
    assert time.monotonic() - started < 15
    assert result.returncode == 0, result.stdout + result.stderr
    before = wstape.validate(recorded)
    after = wstape.validate(tmp_path / "next")
    assert before.passed and not any("missing_events" in v.codes for v in before.verdicts)
    assert len(after.verdicts) == 7
    # every completed run misses agent_thinking (a run that failed gracefully need not think)
    completed = [v for v in after.verdicts if v.outcome == "completed"]
    assert len(completed) == 6 and all("missing_events" in v.codes for v in completed)
    echo = [f for f in client_frames(tmp_path / "next")["user-6"] if f["type"] == "echo"]
    assert len(echo) == 1
    compared = run_wstape("compare", str(recorded), str(tmp_path / "next"))
    assert compared.returncode == 1, compared.stdout + compared.stderr
    assert "missing_events rate" in compared.stdout


def test_release_with_a_slower_tool_shows_longer_tool_durations(recorded, start_backend, tmp_path):
    backend = start_backend(*FAST[:2], "--tool-delay", "0.4", "--ping-interval", "0.2")
    result = replay(recorded, backend.url, tmp_path / "slow")
    assert result.returncode == 0, result.stdout + result.stderr

    def tool_durations(capture: Path) -> list[float]:
        verdicts = wstape.validate(capture).verdicts
        return [t.duration_s for v in verdicts for t in v.tools if t.duration_s is not None]

    assert max(tool_durations(recorded)) < 0.2
    slow = tool_durations(tmp_path / "slow")
    assert len(slow) == len(tool_durations(recorded)) and min(slow) > 0.35
    compared = run_wstape("compare", str(recorded), str(tmp_path / "slow"))
    assert compared.returncode == 1, compared.stdout + compared.stderr
    assert any("tool" in line and "regressed" in line for line in compared.stdout.splitlines())


def test_refused_target_fails_every_connection_with_exit_1(recorded, tmp_path):
    port = free_port()  # nothing listens here
    result = replay(recorded, f"ws://127.0.0.1:{port}/ws", tmp_path / "none", "--reply-timeout",
                    "1")  # fmt: skip
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if "cannot connect" in line]
    assert len(failures) == 6 and all(line.startswith("❌") for line in failures)
    assert all(f"cannot connect to ws://127.0.0.1:{port}/ws" in f for f in failures)
    assert all("connection refused" in f for f in failures)
    assert "Traceback" not in result.stderr
    assert list(read_capture(tmp_path / "none")) == []  # an empty capture, but a readable one


def test_target_dying_mid_replay_fails_those_connections_and_keeps_what_was_replayed(
    recorded, start_backend, tmp_path
):
    backend = start_backend("--think-delay", "0.01", "--tool-delay", "5", "--ping-interval", "0")
    out = tmp_path / "dying"
    proc = subprocess.Popen(
        [sys.executable, "-m", "wstape", "replay", str(recorded), "--target", backend.url,
         "--out", str(out), "--reply-timeout", "20"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and tools_started(out) < 5:
            time.sleep(0.05)
        backend.proc.kill()
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, stdout + stderr
    assert "ended the connection mid-replay, dropped without a close frame" in stdout
    assert "Traceback" not in stderr
    records = list(read_capture(out))
    closes = [r for r in records if isinstance(r, Close)]
    opens = [r for r in records if isinstance(r, Open)]
    assert len(closes) == len(opens) >= 5
    assert any(c.code == 1006 for c in closes)
    assert tools_started(out) >= 5


def tools_started(capture: Path) -> int:
    if not capture.exists() or not any(capture.iterdir()):
        return 0
    messages = (r for r in read_capture(capture, warn=lambda _: None) if isinstance(r, Message))
    return sum(b'"tool_executing"' in m.payload for m in messages)


def test_unreadable_capture_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.wstape"
    bad.write_bytes(b"not a capture")
    result = run_wstape("replay", str(bad), "--target", "ws://127.0.0.1:1/ws", "--out",
                    str(tmp_path / "x"))  # fmt: skip
    assert result.returncode == 2
    assert str(bad) in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_target_that_is_not_a_websocket_or_http_url_is_bad_usage(recorded, tmp_path):
    result = run_wstape("replay", str(recorded), "--target", "ftp://127.0.0.1:1", "--out",
                    str(tmp_path / "x"))  # fmt: skip
    assert result.returncode == 2
    assert "http://, https://, ws:// or wss://" in result.stderr
    assert "ftp://127.0.0.1:1" in result.stderr and "Traceback" not in result.stderr


def test_replay_never_writes_into_an_existing_capture(recorded):
    result = run_wstape("replay", str(recorded), "--target", "ws://127.0.0.1:1/ws", "--out",
                    str(recorded))  # fmt: skip
    assert result.returncode == 2
    assert "already holds a capture" in result.stderr


def test_replay_over_wss_trusts_the_target_through_target_ca(recorded, start_backend, tmp_path):
    from certs import self_signed

    made = self_signed(tmp_path / "tls", "backend")
    backend = start_backend(*FAST, "--certfile", str(made.cert), "--keyfile", str(made.key))
    untrusted = replay(recorded, backend.url, tmp_path / "refused", "--reply-timeout", "5")
    assert untrusted.returncode == 1  # the self-signed target is not trusted by default
    assert "certificate" in untrusted.stdout + untrusted.stderr
    assert "Traceback" not in untrusted.stdout + untrusted.stderr
    out = tmp_path / "wss"
    result = replay(recorded, backend.url, out, "--target-ca", str(made.cert),
                    "--reply-timeout", "5")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert signature(out) == signature(recorded)
