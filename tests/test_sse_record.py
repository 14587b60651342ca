"""HTTP streams through a real `wstape record` in front of the scripted SSE backend: every event
of a server-sent event or NDJSON stream is recorded with its own fields, whatever the chunks,
beside the request body and the way the stream ended; plain HTTP passes untouched, unrecorded."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import zlib
from pathlib import Path

import anthropic
import openai
import pytest
from conftest import wait_listening
from sse_streams import (
    anthropic_body,
    anthropic_events,
    cut,
    fetch,
    recorded_streams,
    responses_events,
    sse,
    start_sse_backend,
)
from wsclient import converse, has_event

from wstape.demo.loopback import free_port, stop
from wstape.demo.sse_backend import answer, stream
from wstape.recorder.capture import Open, read_capture
from wstape.recorder.launch import ADDON, find_mitmdump


def record(processes, backend, out: Path, *extra: str):
    proc, port = processes.record(backend.url, out, *extra)
    return proc, f"http://127.0.0.1:{port}"


def headers(pairs) -> dict[str, str]:
    return {name.lower(): value for name, value in pairs}


@pytest.fixture
def no_proxy_env(monkeypatch) -> None:
    """The SDK clients honour HTTP(S)_PROXY: these tests talk to 127.0.0.1 directly."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_anthropic_stream_is_recorded_event_by_event_across_any_chunking(
    processes, tmp_path, no_proxy_env
):
    body, expected = anthropic_body(anthropic_events())
    chunks = cut(body)  # events split across chunks, several in one, pings and a comment
    assert any("\n\n" not in text for _, text in chunks)
    assert any(text.count("\n\n") > 1 for _, text in chunks)
    backend = start_sse_backend(processes, [stream(chunks)])
    proc, url = record(processes, backend, tmp_path / "capture")

    client = anthropic.Anthropic(base_url=url, api_key="sk-ant-api03-" + "k" * 40)
    question = [{"role": "user", "content": "find it"}]
    with client.messages.create(
        model="claude-test", max_tokens=64, stream=True, messages=question
    ) as events:
        seen = [event.type for event in events]
    assert stop(proc) == 0

    assert seen == [name for name, _ in expected if name != "ping"]
    [recorded] = recorded_streams(tmp_path / "capture")
    assert recorded.events == expected
    request, *answers = recorded.messages
    assert request.from_client and request.is_text
    assert json.loads(request.payload) == json.loads(backend.requests()[0]["body"])
    assert json.loads(request.payload)["messages"][0]["content"] == "find it"
    opened = recorded.open
    assert (opened.transport, opened.method, opened.status) == ("sse", "POST", 200)
    assert opened.url == f"{backend.url}/v1/messages" and opened.path == "/v1/messages"
    sent = headers(opened.request_headers)  # the key: x-api-key, or a Bearer in newer SDKs
    credentials = {sent[name] for name in ("x-api-key", "authorization") if name in sent}
    assert credentials == {"[REDACTED]"}
    assert headers(opened.response_headers)["content-type"] == "text/event-stream"
    times = [m.ts for m in recorded.messages]
    assert opened.ts <= times[0] and times == sorted(times)
    assert (recorded.close.end, recorded.close.closed_by, recorded.close.code) == (
        "complete", "server", None,
    )  # fmt: skip


def test_responses_stream_read_by_the_openai_client_is_recorded(processes, tmp_path, no_proxy_env):
    events = responses_events()
    body = "".join(sse(event.type, event.model_dump_json()) for event in events)
    backend = start_sse_backend(processes, [stream(cut(body, (64, 300)))])
    proc, url = record(processes, backend, tmp_path / "capture")

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-proj-" + "k" * 40)
    seen = [e.type for e in client.responses.create(model="gpt-test", input="hi", stream=True)]
    assert stop(proc) == 0

    assert seen == [event.type for event in events]
    [recorded] = recorded_streams(tmp_path / "capture")
    assert recorded.events == [(e.type, e.model_dump_json()) for e in events]
    assert recorded.open.path == "/v1/responses"
    assert json.loads(recorded.messages[0].payload)["input"] == "hi"


def test_event_fields_are_kept_and_keep_alives_are_not_recorded(processes, tmp_path):
    body = (
        "\ufeff: a comment first\r\n\r\n"
        "event: delta\r\nid: 41\r\nretry: 2500\r\ndata: line one\r\ndata: line two\r\n\r\n"
        "event: ping\n\n"  # no data: a keep-alive
        ": keep-alive\n\n"
        'id: 42\ndata: {"n": 2}\n\n'
        "data\n\n"  # one empty data line: an event whose data is empty
        "data: [DONE]\n\n"
    )
    backend = start_sse_backend(processes, [stream(cut(body, (3, 11, 40)))])
    proc, url = record(processes, backend, tmp_path / "capture")
    got = fetch(f"{url}/stream", {"q": 1})
    assert stop(proc) == 0

    assert got.body == body.encode() and got.error is None
    [recorded] = recorded_streams(tmp_path / "capture")
    fields = [(m.event, m.event_id, m.retry, m.payload) for m in recorded.messages[1:]]
    assert fields == [
        ("delta", "41", 2500, b"line one\nline two"),
        (None, "42", None, b'{"n": 2}'),
        (None, None, None, b""),
        (None, None, None, b"[DONE]"),
    ]


def test_ndjson_stream_is_recorded_line_by_line(processes, tmp_path):
    lines = [json.dumps({"type": "delta", "n": n, "text": "é" * n}) for n in range(6)]
    body = "\n".join(lines[:3]) + "\n\n" + "\r\n".join(lines[3:])  # a blank line, CRLF, no LF
    chunks = cut(body, (5, 50, 17))
    backend = start_sse_backend(processes, [stream(chunks, content_type="application/x-ndjson")])
    proc, url = record(processes, backend, tmp_path / "capture")
    got = fetch(f"{url}/ndjson", {"q": 1})
    assert stop(proc) == 0

    assert got.body == body.encode()
    [recorded] = recorded_streams(tmp_path / "capture")
    assert recorded.open.transport == "ndjson"
    assert "Streaming response" not in Path(proc.log_path).read_text()  # chatter: --verbose only
    assert [payload for _, payload in recorded.events] == lines
    assert recorded.close.end == "complete"


def test_a_gzip_encoded_stream_is_recorded_as_the_client_reads_it(processes, tmp_path):
    body = "".join(sse(None, json.dumps({"n": n, "pad": "x" * 300})) for n in range(20))
    backend = start_sse_backend(processes, [stream(cut(body, (900, 41)), encoding="gzip")])
    proc, url = record(processes, backend, tmp_path / "capture")
    got = fetch(f"{url}/gz", {})
    assert stop(proc) == 0

    assert zlib.decompress(got.body, zlib.MAX_WBITS | 32) == body.encode()
    [recorded] = recorded_streams(tmp_path / "capture")
    assert [json.loads(p)["n"] for _, p in recorded.events] == list(range(20))


def test_plain_http_passes_untouched_and_is_not_recorded(processes, tmp_path):
    plain = [(0, "not "), (0.05, "an event stream\n\n")]
    backend = start_sse_backend(processes, [
        answer({"ok": True, "items": list(range(50))}, headers=[("X-Trace", "t1")]),
        stream(plain, content_type="text/plain"),
        stream([(0, sse(None, "1"))]),
    ])  # fmt: skip
    proc, url = record(processes, backend, tmp_path / "capture", "--verbose")
    plain_json, plain_text, events = (fetch(f"{url}/{path}", {}) for path in "abc")
    assert stop(proc) == 0

    assert json.loads(plain_json.body) == {"ok": True, "items": list(range(50))}
    assert plain_json.headers["x-trace"] == "t1"
    assert plain_text.body == b"not an event stream\n\n" and events.body == b"data: 1\n\n"
    [recorded] = recorded_streams(tmp_path / "capture")
    assert recorded.open.path == "/c"
    log = Path(proc.log_path).read_text()
    assert log.count("Streaming response") == 1  # mitmproxy buffers what is not a stream
    assert "recorded 1 connections (0 open), 2 frames" in log


STREAM = [sse(None, json.dumps({"n": n})) for n in range(4)]


@pytest.mark.parametrize(
    "end, expected",
    [
        ("complete", ("complete", "server")),
        ("cut", ("reset", "server")),
        ("reset", ("reset", "server")),
    ],
)
def test_how_a_stream_ended_is_its_close(processes, tmp_path, end, expected):
    chunks = [(0.02, text) for text in STREAM] + [(0.2, "")]  # the last event lands first
    backend = start_sse_backend(processes, [stream(chunks, end)])
    proc, url = record(processes, backend, tmp_path / "capture")
    got = fetch(f"{url}/s", {})
    assert stop(proc) == 0

    # A stream cut short reaches the client as the events the server sent, then the cut.
    assert got.status == 200 and got.body == "".join(STREAM).encode()
    assert (got.error is None) == (end == "complete")
    [recorded] = recorded_streams(tmp_path / "capture")
    assert len(recorded.events) == len(STREAM)
    assert (recorded.close.end, recorded.close.closed_by) == expected
    if end != "complete":
        assert recorded.close.reason  # mitmproxy's words for it


def test_a_client_that_leaves_mid_stream_is_an_abort(processes, tmp_path):
    backend = start_sse_backend(processes, [stream([(0, t) for t in STREAM[:2]], "hang")])
    proc, url = record(processes, backend, tmp_path / "capture")
    got = fetch(f"{url}/s", {}, stop_after=STREAM[1].encode())
    assert got.body == "".join(STREAM[:2]).encode()
    # The recorder learns of the abort when the client's connection closes; stop it after.
    for _ in range(100):
        records = recorded_streams(tmp_path / "capture")
        if records and records[0].close is not None:
            break
        time.sleep(0.05)
    assert stop(proc) == 0

    [recorded] = recorded_streams(tmp_path / "capture")
    assert len(recorded.events) == 2
    close = recorded.close
    assert (close.end, close.closed_by, close.reason) == ("abort", "client", "Client disconnected.")


def test_secrets_in_headers_and_payloads_never_reach_the_capture(processes, tmp_path):
    key, token, password = "sk-proj-" + "Q7" * 20, "ghp_" + "a1B2" * 9, "hunter2-is-my-password"
    events = [sse(None, json.dumps({"text": f"your key is {key}"}), event_id=f"resume-{token}"),
              sse("tool", json.dumps({"args": {"api_key": "plain-secret-value"}}))]  # fmt: skip
    backend = start_sse_backend(processes, [
        stream([(0, e) for e in events], headers=[("Set-Cookie", f"session={token}")]),
    ])  # fmt: skip
    proc, url = record(processes, backend, tmp_path / "capture")
    got = fetch(f"{url}/chat?access_token={token}", {"password": password, "q": "hi"},
                headers={"Authorization": f"Bearer {token}", "Cookie": f"sid={token}"})  # fmt: skip
    assert stop(proc) == 0

    assert got.body == "".join(events).encode()  # the traffic itself is untouched
    raw = b"".join(p.read_bytes() for p in (tmp_path / "capture").glob("*.wstape"))
    for secret in (key, token, password, "plain-secret-value"):
        assert secret.encode() not in raw
    [recorded] = recorded_streams(tmp_path / "capture")
    assert json.loads(recorded.messages[0].payload)["q"] == "hi"
    assert b"[REDACTED:openai_key]" in recorded.messages[1].payload
    assert recorded.messages[1].event_id == "resume-[REDACTED:github_token]"
    assert headers(recorded.open.request_headers)["authorization"] == "[REDACTED]"
    assert headers(recorded.open.response_headers)["set-cookie"] == "[REDACTED]"
    assert recorded.open.url.endswith("/chat?access_token=[REDACTED]")


def test_websocket_and_sse_share_one_capture(processes, tmp_path, start_backend):
    ws_backend = start_backend("--think-delay", "0.01", "--tool-delay", "0.02")
    backend = start_sse_backend(processes, [stream([(0, t) for t in STREAM])])
    port = free_port()  # `wstape record` as a regular proxy, which both clients use
    proc = processes.start([sys.executable, "-m", "wstape", "record", "--listen",
                            f"127.0.0.1:{port}", "--out", str(tmp_path / "capture")],
                           "record")  # fmt: skip
    wait_listening(port, proc)
    proxy = f"http://127.0.0.1:{port}"
    chat = [{"type": "user_message", "payload": {"content": "hi"}}]
    seen = asyncio.run(converse(f"{ws_backend.url}?user_id=ws", chat, proxy=proxy,
                                done_when=has_event("agent_completed")))  # fmt: skip
    got = fetch(f"{backend.url}/sse", {"q": 1}, proxy=proxy)
    assert stop(proc) == 0

    assert got.body == "".join(STREAM).encode() and seen
    opens = [r for r in read_capture(tmp_path / "capture") if isinstance(r, Open)]
    assert sorted(r.transport for r in opens) == ["sse", "websocket"]
    [recorded] = recorded_streams(tmp_path / "capture")
    assert recorded.open.url == f"{backend.url}/sse" and len(recorded.events) == len(STREAM)


def test_the_addon_as_a_mitmdump_script_records_streams_too(processes, tmp_path):
    backend = start_sse_backend(processes, [stream([(0.01, t) for t in STREAM])])
    port = free_port()
    proc = processes.start([find_mitmdump(), "--mode", f"reverse:{backend.url}@127.0.0.1:{port}",
                            "-s", str(ADDON), "--set", f"wstape_dir={tmp_path / 'capture'}"],
                           "mitmdump")  # fmt: skip
    wait_listening(port, proc)
    got = fetch(f"http://127.0.0.1:{port}/s", {"q": 1})
    assert stop(proc) == 0

    assert got.body == "".join(STREAM).encode()
    [recorded] = recorded_streams(tmp_path / "capture")
    assert len(recorded.events) == len(STREAM) and recorded.close.end == "complete"
