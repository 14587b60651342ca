"""`wstape replay` of HTTP streams end to end: captures of AG-UI agents streaming SSE (built with
ag-ui-protocol's own events and encoder, written with the capture writer as the recorder writes
them), replayed by the real CLI against a scripted SSE server (tests/sse_target.py) playing the
next build, and the replayed captures analyzed and compared with the same tools."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import sse_target
from ag_ui.core import (
    BaseEvent,
    RunAgentInput,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder
from conftest import ROOT, free_port

import wstape
from wstape.recorder.capture import Close, Message, Open, read_capture
from wstape.recorder.redact import redact_headers, redact_url
from wstape.recorder.transports.event_stream import SseParser
from wstape.recorder.writer import CaptureWriter

PATH = "/agent?session_token=s3cret&lang=en"
HEADERS = (("Host", "agents.example:443"), ("Content-Type", "application/json"),
           ("Accept", "text/event-stream"), ("Authorization", "Bearer old-secret"),
           ("Cookie", "sid=abc"), ("User-Agent", "agui-client/1.0"), ("X-Client-Version", "7"),
           ("Accept-Encoding", "br"), ("Content-Length", "999"))  # fmt: skip
PAUSE_S = 0.3  # how long alice read run-1's answer before her next request in the recording


def run_input(thread: str, run: str, text: str) -> bytes:
    message = {"id": f"u-{run}", "role": "user", "content": text}
    data = RunAgentInput(thread_id=thread, run_id=run, messages=[message], tools=[], context=[],
                         state={}, forwarded_props={})  # fmt: skip
    return json.dumps(data.model_dump(by_alias=True, exclude_none=True)).encode()


def run_events(thread: str, run: str, answer: str = "3 flights found") -> list[BaseEvent]:
    """A happy AG-UI run with one tool call, as the agent sends it."""
    call, msg = f"call-{run}", f"msg-{run}"
    return [
        RunStartedEvent(thread_id=thread, run_id=run),
        ToolCallStartEvent(tool_call_id=call, tool_call_name="search"),
        ToolCallEndEvent(tool_call_id=call),
        ToolCallResultEvent(message_id=f"res-{run}", tool_call_id=call, content="3 hits"),
        TextMessageStartEvent(message_id=msg, role="assistant"),
        TextMessageContentEvent(message_id=msg, delta=answer),
        TextMessageEndEvent(message_id=msg),
        RunFinishedEvent(thread_id=thread, run_id=run),
    ]


def sse(events: list[BaseEvent]) -> list[str]:
    encoder = EventEncoder()
    return [encoder.encode(event) for event in events]


@dataclass(frozen=True)
class Exchange:
    """One recorded request and its stream: what the recorder writes for it."""

    conn: str
    at: float  # the request, in seconds after the capture's start
    body: bytes
    chunks: list[str]  # the stream's body, one chunk every 0.02 s
    end: str = "complete"


def write_capture(out: Path, exchanges: list[Exchange], t0: float = 1_800_000_000.0) -> Path:
    writer = CaptureWriter(out)
    for ex in exchanges:
        ts = t0 + ex.at
        url = f"https://agents.example{PATH}"
        writer.open(Open(ex.conn, ts + 0.005, redact_url(url), redact_url(PATH), None,
                         "10.0.0.7:50000", "agents.example:443", redact_headers(HEADERS),
                         (("Content-Type", "text/event-stream"),), transport="sse",
                         method="POST", status=200))  # fmt: skip
        writer.message(ex.conn, ts, True, True, ex.body)
        parser = SseParser()
        for i, chunk in enumerate(ex.chunks, 1):
            for event in parser.feed(chunk.encode()):
                writer.event(ex.conn, ts + 0.02 * i, event.data, event.event, event.event_id)
        by = "client" if ex.end == "abort" else "server"
        writer.close(ex.conn, ts + 0.02 * len(ex.chunks) + 0.01, None, "", by, ex.end)
    writer.close_all()
    return out


def conversation() -> list[Exchange]:
    """Alice asks twice on thread t-1, the second time PAUSE_S after her first answer ended;
    bob asks once on t-2 in between."""
    first = Exchange("a", 0.0, run_input("t-1", "run-1", "flights?"),
                     sse(run_events("t-1", "run-1")))  # fmt: skip
    first_end = 0.02 * len(first.chunks) + 0.01
    return [
        first,
        Exchange("b", 0.1, run_input("t-2", "run-3", "hotels?"), sse(run_events("t-2", "run-3"))),
        Exchange("c", first_end + PAUSE_S, run_input("t-1", "run-2", "and back?"),
                 sse(run_events("t-1", "run-2"))),
    ]  # fmt: skip


def stream(match: str, chunks: list[str], delay: float = 0.02, **more) -> dict:
    return {"match": match, "chunks": [[delay, c] for c in chunks], **more}


def next_build(**changes: dict) -> dict:
    """The next build: each run answered with its events, run-1's slower than recorded (so
    alice's second request would overtake it if it went at its recorded offset)."""
    answers = {
        "run-1": stream("run-1", sse(run_events("t-1", "run-1", "4 flights")), delay=0.1),
        "run-2": stream("run-2", sse(run_events("t-1", "run-2"))),
        "run-3": stream("run-3", sse(run_events("t-2", "run-3"))),
    }
    answers.update(changes)
    return {"http": list(answers.values()), "ws": [{"frames": []}]}


@pytest.fixture
def start_target(processes, tmp_path):
    return lambda script: sse_target.start_target(processes, tmp_path, script)


def replay(capture: Path, target: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wstape", "replay", str(capture), "--target", target, "--out",
         str(out), "--header", "Authorization: Bearer x", "--query", "session_token=fresh",
         "--reply-timeout", "5", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def wstape_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wstape", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def replay_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The replay's own lines, before the analysis of the replayed capture."""
    return result.stdout.split("analysis of the replayed capture:")[0].splitlines()


def by_run(requests: list[dict]) -> dict[str, dict]:
    return {json.loads(r["body"])["runId"]: r for r in requests}


@pytest.fixture
def replayed(start_target, tmp_path):
    recorded = write_capture(tmp_path / "recorded", conversation())
    target = start_target(next_build())
    result = replay(recorded, target.url, tmp_path / "replayed", "--profile", "ag-ui")
    return recorded, target, tmp_path / "replayed", result


def test_each_request_is_resent_with_its_method_path_body_and_fresh_credentials(replayed):
    recorded, target, _, result = replayed
    assert result.returncode == 0, result.stdout + result.stderr
    requests = by_run(target.entries("request"))
    bodies = {json.loads(m.payload)["runId"]: m.payload for m in read_capture(recorded)
              if isinstance(m, Message) and m.from_client}  # fmt: skip
    assert set(requests) == {"run-1", "run-2", "run-3"}
    for run, request in requests.items():
        assert request["method"] == "POST"
        assert request["path"] == "/agent?lang=en&session_token=fresh"
        assert request["body"].encode() == bodies[run]
        headers = {name.lower(): value for name, value in request["headers"]}
        assert headers["authorization"] == "Bearer x"  # --header, not the recorded [REDACTED]
        assert "cookie" not in headers and "[REDACTED]" not in json.dumps(request["headers"])
        assert headers["x-client-version"] == "7" and headers["user-agent"] == "agui-client/1.0"
        assert headers["content-type"] == "application/json"
        assert headers["content-length"] == str(len(bodies[run]))  # its own, not the recorded
        assert headers["accept-encoding"] != "br"
    assert "recorded header Cookie redacted, not replayed" in result.stdout
    # the secrets that --header and --query supplied afresh are not reported missing
    assert "header Authorization" not in result.stdout and "session_token" not in result.stdout


def test_a_request_goes_at_its_offset_and_after_the_stream_its_conversation_waits_on(replayed):
    _, target, _, result = replayed
    requests = by_run(target.entries("request"))
    ends = {e["match"]: e["t"] for e in target.entries("stream_end")}
    assert requests["run-1"]["t"] < requests["run-3"]["t"] < requests["run-2"]["t"]
    # run-1 streamed slower than recorded: alice's next request waited for its end, then her
    # recorded pause, instead of going at its recorded offset in the middle of it
    assert requests["run-2"]["t"] - ends["run-1"] >= PAUSE_S - 0.05
    assert requests["run-3"]["t"] < ends["run-1"]  # bob's conversation did not wait for alice's


def test_replayed_capture_holds_the_new_builds_streams_as_the_recorder_writes_them(replayed):
    _, _, out, result = replayed
    records = list(read_capture(out))
    opens = [r for r in records if isinstance(r, Open)]
    assert len(opens) == 3
    assert all(o.transport == "sse" and o.method == "POST" and o.status == 200 for o in opens)
    assert all(o.url.startswith("http://127.0.0.1:") for o in opens)
    assert all(dict(o.request_headers)["Authorization"] == "[REDACTED]" for o in opens)
    assert all("fresh" not in o.url and o.path.endswith("session_token=[REDACTED]") for o in opens)
    for o in opens:
        mine = [r for r in records if r.connection == o.connection and not isinstance(r, Open)]
        body, *events, close = mine
        assert isinstance(body, Message) and body.from_client and body.ts <= o.ts
        assert [json.loads(e.payload)["type"] for e in events][0] == "RUN_STARTED"
        assert len(events) == 8 and all(not e.from_client and e.ts >= o.ts for e in events)
        assert isinstance(close, Close) and close.end == "complete" and close.code is None
    texts = [json.loads(m.payload).get("delta") for m in records if isinstance(m, Message)]
    assert "4 flights" in texts  # the new build's answer, not the recorded one
    assert "sent the request, received 8 events; HTTP 200 sse, ended complete" in result.stdout


def test_replayed_streams_are_judged_with_the_ag_ui_profile(replayed):
    _, _, out, result = replayed
    assert "SUMMARY - 3 runs: 3 passed, 0 failed" in result.stdout
    analyzed = wstape_cli("analyze", str(out), "--profile", "ag-ui", "--json", "-")
    assert analyzed.returncode == 0, analyzed.stdout + analyzed.stderr
    runs = json.loads(analyzed.stdout)["runs"]
    assert sorted(r["run_id"] for r in runs) == ["run-1", "run-2", "run-3"]
    assert all(r["status"] == "passed" and r["outcome"] == "completed" for r in runs)


def test_a_stream_cut_by_the_new_build_ends_reset_fails_and_compares_as_a_regression(
    start_target, tmp_path
):
    recorded = write_capture(tmp_path / "recorded", conversation())
    cut = stream("run-3", sse(run_events("t-2", "run-3"))[:4], cut=True)
    target = start_target(next_build(**{"run-3": cut}))
    out = tmp_path / "cut"
    result = replay(recorded, target.url, out, "--profile", "ag-ui")
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = [line for line in replay_lines(result) if line.startswith("❌")]
    assert line.startswith("❌ b: the server at http://127.0.0.1:")
    assert "cut the stream short (peer closed connection without sending complete" in line
    closes = {r.connection: r for r in read_capture(out) if isinstance(r, Close)}
    assert sorted(c.end for c in closes.values()) == ["complete", "complete", "reset"]
    assert all(c.closed_by == "server" for c in closes.values())
    verdicts = {v.run.run_id: v for v in wstape.validate(out, profile="ag-ui").verdicts}
    assert not verdicts["run-3"].passed and verdicts["run-1"].passed
    compared = wstape_cli("compare", str(recorded), str(out), "--profile", "ag-ui")
    assert compared.returncode == 1, compared.stdout + compared.stderr
    assert "regressed" in compared.stdout


def test_an_error_status_is_recorded_and_reported_not_a_crash(start_target, tmp_path):
    recorded = write_capture(tmp_path / "recorded", conversation())
    boom = {"match": "run-3", "status": 500, "body": "upstream model\ttimed out\n"}
    target = start_target(next_build(**{"run-3": boom}))
    out = tmp_path / "500"
    result = replay(recorded, target.url, out, "--profile", "ag-ui")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "answered HTTP 500 Internal Server Error: upstream model timed out" in result.stdout
    assert "Traceback" not in result.stderr
    records = list(read_capture(out))
    (refused,) = [r for r in records if isinstance(r, Open) and r.status == 500]
    mine = [r for r in records if r.connection == refused.connection]
    assert [type(r).__name__ for r in mine] == ["Open", "Message", "Close"]
    assert b'"runId":"run-3"' in mine[1].payload.replace(b" ", b"")
    assert "SUMMARY - 3 runs: 2 passed, 1 failed" in result.stdout


def test_an_answer_that_is_not_a_stream_is_reported(start_target, tmp_path):
    recorded = write_capture(tmp_path / "recorded", conversation()[:1])
    plain = {"match": "run-1", "status": 200, "content_type": "application/json", "body": "{}"}
    target = start_target(next_build(**{"run-1": plain}))
    result = replay(recorded, target.url, tmp_path / "json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("answered HTTP 200 with application/json, not a stream (text/event-stream or "
            "application/x-ndjson): {}") in result.stdout  # fmt: skip


def test_a_refused_target_fails_each_stream_with_exit_1(tmp_path):
    recorded = write_capture(tmp_path / "recorded", conversation())
    port = free_port()  # nothing listens here
    result = replay(recorded, f"http://127.0.0.1:{port}", tmp_path / "none")
    assert result.returncode == 1, result.stdout + result.stderr
    failures = [line for line in replay_lines(result) if line.startswith("❌")]
    assert len(failures) == 3
    assert all(f"cannot connect to http://127.0.0.1:{port}/agent" in f for f in failures)
    assert all(f.endswith("connection refused") for f in failures)
    assert "Traceback" not in result.stderr
