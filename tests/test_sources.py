"""Inputs other than wstape captures: mitmproxy flow files and HAR files, told apart by their
content. One demo session recorded three ways at once must read as the same frames and give the
same verdicts."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_runs_rules import GOOD, Chat

from wstape import analyze, load
from wstape.analyzer.cli.analyze import analyze_command
from wstape.analyzer.sources.reading import Kind, detect, read_records
from wstape.demo.session import one_run_per_user
from wstape.recorder.capture import CaptureError, Close, Message, Open

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = (
    "good", "tool_error", "missing_event", "late_event", "unpaired_tool", "reconnect", "drop",
    "leak", "good",
)  # fmt: skip


@pytest.fixture(scope="module")
def three_ways(tmp_path_factory, request) -> dict[str, Path]:
    """One demo session through the recorder, saved as a wstape capture, a `mitmdump -w` flow
    file and mitmproxy's HAR export (`hardump`), all by the same mitmdump."""
    # The fixtures that start processes are function-scoped; this one records once per module.
    from conftest import Processes, free_port, wait_listening

    from wstape.recorder.launch import RecordConfig, RecorderProcess

    where = tmp_path_factory.mktemp("three-ways")
    procs = Processes(where)
    try:
        port = free_port()
        backend = procs.start(
            [sys.executable, "-m", "wstape.demo.backend", "--host", "127.0.0.1",
             "--port", str(port),
             "--ping-interval", "0.2"],
            "backend",
        )  # fmt: skip
        wait_listening(port, backend)
        files = {"wstape": where / "capture", "flows": where / "session.mitm",
                 "har": where / "session.har"}  # fmt: skip
        config = RecordConfig(
            out=files["wstape"], upstream=f"http://127.0.0.1:{port}", listen_port=free_port(),
            extra=(f"save_stream_file={files['flows']}", f"hardump={files['har']}"),
        )  # fmt: skip
        with RecorderProcess(config):
            url = f"ws://127.0.0.1:{config.listen_port}/ws"
            asyncio.run(one_run_per_user(url, SCENARIOS))
    finally:
        procs.stop_all()
    return files


def test_each_input_is_told_apart_by_its_content(three_ways, tmp_path: Path) -> None:
    expected = {"wstape": Kind.WSTAPE, "flows": Kind.FLOWS, "har": Kind.HAR}
    for name, kind in expected.items():
        assert detect(three_ways[name]) is kind
    # misleading names change nothing
    shutil.copy(three_ways["har"], tmp_path / "really-a-har.mitm")
    shutil.copy(three_ways["flows"], tmp_path / "really-flows.har")
    segment = next(three_ways["wstape"].iterdir())
    shutil.copy(segment, tmp_path / "really-a-segment.json")
    assert detect(tmp_path / "really-a-har.mitm") is Kind.HAR
    assert detect(tmp_path / "really-flows.har") is Kind.FLOWS
    assert detect(tmp_path / "really-a-segment.json") is Kind.WSTAPE


def test_the_flow_file_reads_as_the_very_records_the_recorder_wrote(three_ways) -> None:
    # Same connection ids (mitmproxy's flow ids), timestamps, headers, close codes: all of it.
    flows, captured = (
        list(read_records(three_ways["flows"])),
        list(read_records(three_ways["wstape"])),
    )
    # Frames and closes in the very same order. An open record is stamped with its
    # handshake's time but written when mitmproxy starts the WebSocket, after frames of
    # other connections may have passed; a flow file, merged by time, places it earlier.
    # So opens are compared as a set, and each must precede its own connection's frames.
    assert [r for r in flows if not isinstance(r, Open)] == [
        r for r in captured if not isinstance(r, Open)
    ]
    assert {r for r in flows if isinstance(r, Open)} == {r for r in captured if isinstance(r, Open)}
    for records in (flows, captured):
        first = {}
        for position, record in enumerate(records):
            first.setdefault(record.connection, (position, record))
        assert all(isinstance(record, Open) for _, record in first.values())


def test_three_recordings_give_the_same_frame_table(three_ways) -> None:
    tables = {name: load(path) for name, path in three_ways.items()}
    captured = tables["wstape"]
    assert len(captured) > 100 and set(captured["direction"]) == {"client", "server"}
    pd.testing.assert_frame_equal(tables["flows"], captured, check_exact=True)
    # HAR has no connection ids: everything else carries over, timestamps exactly ...
    har = tables["har"]
    pd.testing.assert_frame_equal(
        har.drop(columns="connection"), captured.drop(columns="connection"), check_exact=True
    )
    # ... and its connections group the frames exactly as the recorder's did.
    pairs = set(zip(har["connection"], captured["connection"], strict=True))
    assert len(pairs) == har["connection"].nunique() == captured["connection"].nunique()


def test_three_recordings_give_the_same_verdicts(three_ways) -> None:
    reports = {name: analyze(path).to_json() for name, path in three_ways.items()}
    for report in reports.values():
        report["summary"]["captures"] = []
    captured = reports["wstape"]
    assert captured["summary"]["failed"] >= 4 and captured["summary"]["passed"] >= 3
    assert reports["flows"] == captured
    har = _same_connection_ids(reports["har"], three_ways)
    # Only how a connection ended differs: a HAR file does not record it.
    assert _without_connection_end(har) == _without_connection_end(captured)
    ended = [f["message"] for r in har["runs"] for f in r["failures"] if "ended (" in f["message"]]
    assert ended and all("no close recorded in HAR" in message for message in ended)


def _same_connection_ids(report: dict, files: dict[str, Path]) -> dict:
    har, captured = load(files["har"]), load(files["wstape"])
    names = dict(zip(har["connection"], captured["connection"], strict=True))
    text = json.dumps(report)
    for har_id, captured_id in names.items():
        text = text.replace(har_id, captured_id)
    return json.loads(text)


def _without_connection_end(report: dict) -> dict:
    text = json.dumps(report)
    return json.loads(re.sub(r" \(connection [^()]*(\([^()]*\))?[^()]*\)", "", text))


def test_analyze_reads_a_flow_file_and_a_har_file(three_ways) -> None:
    result = CliRunner().invoke(
        analyze_command, [str(three_ways["flows"]), str(three_ways["har"]), "-q", "--json", "-"]
    )
    assert result.exit_code == 1, result.output  # the broken scenarios fail
    summary = json.loads(result.stdout)["summary"]
    assert summary["runs"] == 2 * len(SCENARIOS)


def chrome_har(path: Path) -> Path:
    """A HAR as Chrome's DevTools saves it: Z times, base64 binary frames, a plain request."""
    chat = Chat().connect("c1", "alice").run("c1", "alice", "run-1", steps=GOOD)
    messages = []
    for record in chat.records:
        if isinstance(record, Message):
            side = "send" if record.from_client else "receive"
            text = record.payload.decode()
            messages.append({"type": side, "time": record.ts, "opcode": 1, "data": text})
    messages.insert(3, {"type": "receive", "time": messages[2]["time"], "opcode": 2,
                        "data": base64.b64encode(b"\x00\xffbin").decode()})  # fmt: skip
    messages.insert(4, {"type": "send", "time": messages[2]["time"], "opcode": 9, "data": ""})
    ws = {
        "startedDateTime": "2023-11-14T22:13:19.900Z",
        "time": 12.5,
        "request": {"method": "GET", "url": "wss://chat.example/ws?user_id=alice&token=SECRET",
                    "headers": [{"name": "Authorization", "value": "Bearer SECRET"}]},
        "response": {"status": 101, "headers": []},
        "timings": {"blocked": -1, "send": 0.5, "wait": 10, "receive": 2},
        "_resourceType": "websocket",
        "_webSocketMessages": messages,
    }  # fmt: skip
    page = {"startedDateTime": "2023-11-14T22:13:19.000Z", "time": 3,
            "request": {"method": "GET", "url": "https://chat.example/", "headers": []},
            "response": {"status": 200, "headers": []}}  # fmt: skip
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": [page, ws]}}))
    return path


def test_a_chrome_har_reads_with_binary_frames_and_without_secrets(tmp_path: Path) -> None:
    records = list(read_records(chrome_har(tmp_path / "chrome.har")))
    opened, *messages, closed = records
    assert isinstance(opened, Open) and isinstance(closed, Close)
    assert opened.path == "/ws?user_id=alice&token=[REDACTED]"
    assert opened.url.startswith("wss://chat.example/")
    assert dict(opened.request_headers)["Authorization"] == "[REDACTED]"
    assert opened.ts == pytest.approx(1_700_000_000.0 - 0.1 + 0.0125)
    binary = [m for m in messages if not m.is_text]
    assert [m.payload for m in binary] == [b"\x00\xffbin"]  # the ping (opcode 9) is no message
    assert closed.ts == messages[-1].ts and closed.code is None
    report = analyze(tmp_path / "chrome.har")
    assert report.passed, report.text()
    assert report.verdicts[0].run.user_id == "alice"


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"log": {"entries": "nope"}}', "not a HAR file: no log.entries list"),
        (b'{"log": {"entries": [{"_webSocketMessages": [{"type": "send"}]}]}}', "request"),
        (b'{"log": ', "not a HAR file: invalid JSON at line 1"),
        (b"12:not a flow", "not a readable mitmproxy flow file"),
        (b"\x89PNG\r\n", "not a wstape capture, mitmproxy flow file or HAR file"),
    ],
)
def test_a_bad_file_is_one_line_naming_it_and_exit_2(tmp_path: Path, content, message) -> None:
    bad = tmp_path / "bad.input"
    bad.write_bytes(content)
    with pytest.raises(CaptureError, match=re.escape(message)):
        list(read_records(bad))
    result = CliRunner().invoke(analyze_command, [str(bad)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and message in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_the_analyzer_reads_captures_and_hars_where_mitmproxy_is_missing(three_ways) -> None:
    script = f"""
import sys
sys.modules["mitmproxy"] = None  # as if it were not installed
from wstape import analyze, load
from wstape.recorder.capture import CaptureError
print(len(analyze({str(three_ways["wstape"])!r}).verdicts))
print(len(load({str(three_ways["har"])!r})))
try:
    analyze({str(three_ways["flows"])!r})
except CaptureError as exc:
    print(exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    runs, frames, error = result.stdout.splitlines()
    assert int(runs) == len(SCENARIOS) and int(frames) > 100
    assert error.endswith("reading it needs mitmproxy (pip install mitmproxy)")
