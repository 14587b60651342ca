"""The recorder end to end: real mitmdump with the addon, the real demo backend, real
clients. What `wstape export` gives back must be exactly what each client saw."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from conftest import wait_listening
from wsclient import converse, has_event

from wstape.demo.loopback import free_port, stop
from wstape.recorder.capture import Message, Open, read_capture


def export_frames(capture: Path) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "wstape", "export", str(capture), "--format", "jsonl"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [json.loads(line) for line in result.stdout.splitlines()]


def payload_of(frame: dict) -> bytes:
    import base64

    return frame["text"].encode() if frame["text"] is not None else base64.b64decode(frame["data"])


def user_of_connection(capture: Path) -> dict[str, str]:
    users = {}
    for record in read_capture(capture):
        if isinstance(record, Open):
            users[record.connection] = record.path.split("user_id=")[1].split("&")[0]
    return users


def test_export_returns_every_frame_of_concurrent_clients_byte_for_byte(
    start_backend, start_recorder
) -> None:
    backend = start_backend(
        "--ping-interval", "0.1", "--think-delay", "0.01", "--tool-delay", "0.05"
    )
    rec = start_recorder(f"http://127.0.0.1:{backend.port}")
    big = json.dumps({"type": "echo", "payload": {"blob": "é" * 700_000}})  # 1.4 MB of UTF-8
    assert len(big.encode()) > 1024 * 1024

    def items(n: int) -> list:
        return [
            {"type": "echo", "payload": {"n": n}},
            bytes(range(256)) * (n + 1),
            b"",
            big if n == 0 else "not json at all",
            {"type": "user_message", "payload": {"content": f"hello from {n}"}},
        ]

    async def clients():
        return await asyncio.gather(*[
            converse(rec.url(path=f"/ws?user_id=user-{n}"), items(n),
                     done_when=has_event("agent_completed"))
            for n in range(4)
        ])  # fmt: skip

    seen = asyncio.run(clients())
    assert rec.stop() == 0

    frames = export_frames(rec.out)
    users = user_of_connection(rec.out)
    by_user: dict[str, dict[str, list]] = defaultdict(lambda: {"client": [], "server": []})
    for frame in frames:
        assert frame["size"] == len(payload_of(frame))
        by_user[users[frame["connection"]]][frame["direction"]].append(
            (frame["kind"], payload_of(frame))
        )
    assert len(by_user) == 4
    for n, client in enumerate(seen):
        recorded = by_user[f"user-{n}"]
        assert recorded["client"] == client.sent
        assert recorded["server"] == client.received
        pings = [m for m in client.received_json() if m.get("type") == "ping"]
        assert pings, "server pings reached the client and the capture"
    assert any(len(p) > 1024 * 1024 for _, p in by_user["user-0"]["server"])


def test_capture_timestamps_are_in_relay_order_per_connection(start_backend, start_recorder):
    backend = start_backend("--think-delay", "0.01", "--tool-delay", "0.02")
    rec = start_recorder(f"http://127.0.0.1:{backend.port}")
    asyncio.run(converse(rec.url(path="/ws?user_id=a"),
                         [{"type": "user_message", "payload": {"content": "hi"}}],
                         done_when=has_event("agent_completed")))  # fmt: skip
    rec.stop()
    stamps = [f["ts"] for f in export_frames(rec.out)]
    assert stamps == sorted(stamps) and len(stamps) >= 8
    # microsecond precision as mitmproxy stamps it, not rounded to seconds
    assert any(ts != int(ts) for ts in stamps)


def test_handshake_secrets_never_reach_disk_and_files_are_private(start_backend, start_recorder):
    backend = start_backend()
    rec = start_recorder(f"http://127.0.0.1:{backend.port}")
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3c3RhcGUtdGVzdCJ9.U0VDUkVULVNJR05BVFVSRQ"
    secrets = ["SECRET-HEADER-7c1d", "SECRET-COOKIE-19ab", "SECRET-QUERY-5e2f", jwt]
    seen = asyncio.run(
        converse(
            rec.url(path=f"/ws?user_id=alice&token={secrets[2]}"),
            [{"type": "echo", "payload": "hi"}],
            headers={"Authorization": f"Bearer {secrets[0]}", "Cookie": f"sid={secrets[1]}"},
            subprotocols=[f"jwt.{jwt}", "chat.v1"],
            done_when=lambda s: len(s.received) >= 2,
        )
    )
    rec.stop()
    # the traffic itself is untouched: the backend saw and echoed the JWT subprotocol
    assert seen.subprotocol == f"jwt.{jwt}"
    files = list(rec.out.iterdir())
    assert files
    for file in files:
        data = file.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} leaked into {file.name}"
        assert oct(os.stat(file).st_mode & 0o777) == "0o600"
    opened = next(r for r in read_capture(rec.out) if isinstance(r, Open))
    assert opened.subprotocol == "jwt.[REDACTED]"
    assert "user_id=alice" in opened.path


def test_credentials_under_any_header_query_or_subprotocol_never_reach_disk(
    start_backend, start_recorder
):
    backend = start_backend()
    rec = start_recorder(f"http://127.0.0.1:{backend.port}")
    token = "dG9rZW4tbm90LXJlYWwtNzc0"
    k8s = f"base64url.bearer.authorization.k8s.io.{token}"
    secrets = [token, "OPAQUE-TOKEN-31f", "OAUTH-CODE-88a", "CAS-TICKET-4d2"]
    seen = asyncio.run(
        converse(
            rec.url(path=f"/ws?user_id=alice&code={secrets[2]}&ticket={secrets[3]}"),
            [{"type": "echo", "payload": "hi"}],
            headers={"X-Custom": f"Bearer {secrets[1]}"},
            subprotocols=[k8s],
            done_when=lambda s: len(s.received) >= 2,
        )
    )
    rec.stop()
    assert seen.subprotocol == k8s  # the traffic itself is untouched
    for file in rec.out.iterdir():
        data = file.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} leaked into {file.name}"
    opened = next(r for r in read_capture(rec.out) if isinstance(r, Open))
    assert opened.subprotocol == "base64url.bearer.authorization.k8s.io.[REDACTED]"
    assert "user_id=alice" in opened.path and "code=[REDACTED]" in opened.url


def test_redaction_can_be_turned_off(start_backend, start_recorder):
    backend = start_backend()
    rec = start_recorder(f"http://127.0.0.1:{backend.port}", redact=False)
    asyncio.run(converse(rec.url(path="/ws?user_id=a&token=KEEP-ME"), [],
                         done_when=lambda s: len(s.received) >= 1))  # fmt: skip
    rec.stop()
    opened = next(r for r in read_capture(rec.out) if isinstance(r, Open))
    assert "token=KEEP-ME" in opened.path


def test_regular_proxy_mode_records_clients_that_use_it_as_their_proxy(
    start_backend, start_recorder
):
    backend = start_backend("--think-delay", "0.01", "--tool-delay", "0.02")
    rec = start_recorder(None)  # no upstream: a regular HTTP proxy on rec.port
    seen = asyncio.run(
        converse(
            f"{backend.url}?user_id=proxied",
            [{"type": "user_message", "payload": {"content": "via proxy"}}],
            proxy=f"http://127.0.0.1:{rec.port}",
            done_when=has_event("agent_completed"),
        )
    )
    assert rec.stop() == 0
    records = list(read_capture(rec.out))
    opened = [r for r in records if isinstance(r, Open)]
    assert len(opened) == 1 and opened[0].url == f"{backend.url}?user_id=proxied"
    server = [r.payload for r in records if isinstance(r, Message) and not r.from_client]
    assert server == [payload for _, payload in seen.received]


def test_plain_mitmdump_with_the_addon_as_a_script_records_what_the_client_saw(
    tmp_path, start_backend, processes
):
    # `wstape record` builds the addon into mitmdump (recorder/dump.py); users who run
    # mitmdump themselves load it with -s, as the README shows, which must record just the same.
    from wstape.recorder.launch import find_mitmdump

    addon = subprocess.run(
        [sys.executable, "-m", "wstape", "record", "--addon-path"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    backend = start_backend("--think-delay", "0.01", "--tool-delay", "0.02")
    port, out = free_port(), tmp_path / "script-capture"
    proc = processes.start(
        [find_mitmdump(), "--mode", f"reverse:http://127.0.0.1:{backend.port}@127.0.0.1:{port}",
         "-s", addon, "--set", f"wstape_dir={out}"],
        "mitmdump",
    )  # fmt: skip
    wait_listening(port, proc)
    seen = asyncio.run(
        converse(f"ws://127.0.0.1:{port}/ws?user_id=scripted",
                 [{"type": "user_message", "payload": {"content": "hi"}}, b"\x00\x01"],
                 done_when=has_event("agent_completed"))
    )  # fmt: skip
    assert stop(proc) == 0
    records = list(read_capture(out))
    assert [r.path for r in records if isinstance(r, Open)] == ["/ws?user_id=scripted"]
    messages = [r for r in records if isinstance(r, Message)]
    kind = {True: "text", False: "binary"}
    assert [(kind[m.is_text], m.payload) for m in messages if m.from_client] == seen.sent
    assert [(kind[m.is_text], m.payload) for m in messages if not m.from_client] == seen.received
