"""`wstape record --live` as a user runs it: the real recorder in front of the real demo backend,
a player chatting through it, and each run's verdict printed while the recording goes on."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from wstape.demo.players import Client, Options, run_message, user_message, with_query

WSTAPE = [sys.executable, "-m", "wstape"]
FAST = ("--think-delay", "0.01", "--tool-delay", "0.05", "--ping-interval", "0")
# Only a liveness bound for a line to show up on a busy test machine; the time wstape takes
# is not what these tests measure.
LINE_DEADLINE_S = 30.0


def wait_for_line(log: Path, *parts: str) -> str:
    deadline = time.monotonic() + LINE_DEADLINE_S
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if all(part in line for part in parts):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no line with {parts} in: {log.read_text(errors='replace')}")


def run_id_of(client: Client) -> str:
    """The run id of the last agent_completed the client received."""
    frames = [f.json() for f in client.connections[-1] if f.direction == "server"]
    completed = [f for f in frames if isinstance(f, dict) and f.get("type") == "agent_completed"]
    return completed[-1]["payload"]["run_id"]


async def chat_and_watch(url: str, log: Path, recorder: subprocess.Popen) -> list[str]:
    """A good run, then one that misses an event, on one connection. Each next message goes out
    only once the run before it has its verdict line, and the recorder still runs each time."""
    client = Client("live-user", Options(with_query(url, {"user_id": "live-user"}), None, None,
                                         None, 20.0, True))  # fmt: skip
    await client.open()
    lines = []
    for n, (scenario, verdict) in enumerate(
        [("good", "✅ PASSED"), ("missing_event", "❌ FAILED missing_events")], 1
    ):
        await run_message(client, user_message(scenario, n))
        run_id = run_id_of(client)
        lines.append(await asyncio.to_thread(wait_for_line, log, run_id, verdict))
        assert recorder.poll() is None
    await client.close()
    return lines


def test_record_live_prints_each_verdict_while_recording(tmp_path, processes, start_backend):
    backend = start_backend(*FAST)
    out, live_json = tmp_path / "cap", tmp_path / "live.jsonl"
    proc, port = processes.record(backend.http_url, out, "--live", "--live-json", str(live_json))
    lines = asyncio.run(chat_and_watch(f"ws://127.0.0.1:{port}/ws", proc.log_path, proc))
    assert all(" live-user " in line for line in lines)
    assert all(re.search(r"first event \d+\.\d{3}s", line) for line in lines)
    # The verdicts' JSON lines were written as they came, before the stop.
    verdicts = [json.loads(line) for line in live_json.read_text().splitlines()]
    assert [(v["status"], v["codes"]) for v in verdicts] == [
        ("passed", []), ("failed", ["missing_events"]),
    ]  # fmt: skip
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 1  # a run failed
    log = proc.log_path.read_text()
    analyzed = subprocess.run(
        [*WSTAPE, "analyze", "-q", str(out)], capture_output=True, text=True, timeout=60
    )
    # The summary at the stop is the one `wstape analyze` prints for the capture.
    assert analyzed.stdout in log and "SUMMARY - 2 runs: 1 passed, 1 failed" in log
    summary = json.loads(live_json.read_text().splitlines()[-1])
    assert summary["kind"] == "summary" and (summary["runs"], summary["failed"]) == (2, 1)


def test_record_live_judges_only_this_recording_and_exits_0_when_all_passed(
    tmp_path, processes, start_backend
):
    backend = start_backend(*FAST)
    out = tmp_path / "cap"
    for scenario in ("missing_event", "good"):  # an earlier recording into the same folder
        proc, port = processes.record(backend.http_url, out, "--live", name=f"record-{scenario}")

        async def chat(port: int = port, scenario: str = scenario) -> None:
            url = f"ws://127.0.0.1:{port}/ws?user_id=u"
            client = Client("u", Options(url, None, None, None, 20.0, True))
            await client.open()
            await run_message(client, user_message(scenario, 1))
            await client.close()

        asyncio.run(chat())
        wait_for_line(proc.log_path, "run-", "PASSED" if scenario == "good" else "FAILED")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0
    assert "SUMMARY - 1 runs: 1 passed, 0 failed" in proc.log_path.read_text()
