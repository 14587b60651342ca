"""wstape records with mitmproxy 11.0.2 on Python 3.11 and mitmproxy 12 on 3.12 and later: a
recording holds what the wire carried whichever one records it, and a capture or flow file
written under one reads the same under the other. .ci/run runs the suite under both and names
the first leg's interpreter to the second in WSTAPE_OTHER_PYTHON."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import RunningRecorder
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from wstape.demo.loopback import free_port
from wstape.recorder.capture import Close, Message, Open, read_capture

TESTS = Path(__file__).resolve().parent
SENT = ("hello", b"\x00\x01\xff")  # one text and one binary message, each echoed


@dataclass(frozen=True)
class Ending:
    """How a chat ends, and the close record every mitmproxy writes for it."""

    by_client: bool
    close: tuple[int, str, str]  # code, reason, who closed


ENDINGS = {
    "/client-closes": Ending(True, (1000, "", "client")),
    "/client-closes-4000": Ending(True, (4000, "done here", "client")),
    "/client-aborts": Ending(True, (1006, "", "client")),
    "/server-closes": Ending(False, (4001, "bye", "server")),
    "/server-aborts": Ending(False, (1006, "", "server")),
}


async def _end_from_client(ws: ClientConnection, path: str) -> None:
    if path == "/client-aborts":
        ws.transport.abort()  # no close frame: the TCP connection just goes
    elif path == "/client-closes-4000":
        await ws.close(4000, "done here")
    else:
        await ws.close()


async def _end_from_server(ws: ServerConnection, path: str) -> None:
    if path == "/server-aborts":
        ws.transport.abort()
    elif path == "/server-closes":
        await ws.close(4001, "bye")


async def _chat(url: str, path: str) -> ClientConnection:
    """Sends each message and waits for its echo, so the order on the wire is fixed."""
    async with connect(
        url + path,
        subprotocols=["chat.v1"],
        additional_headers={"X-Mixed-Case": "Kept", "Authorization": "Bearer SECRET-7f3a"},
    ) as ws:
        for data in SENT:
            await ws.send(data)
            assert await ws.recv() == data
        if ENDINGS[path].by_client:
            await _end_from_client(ws, path)
        else:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
    return ws


async def _record(
    start_recorder, upstream_port: int
) -> tuple[RunningRecorder, dict[str, ClientConnection]]:
    """Each chat of ENDINGS through a real recorder in front of an echoing backend."""
    ended: list[str] = []

    async def echo(ws: ServerConnection) -> None:
        path = ws.request.path
        for _ in SENT:
            await ws.send(await ws.recv())
        if not ENDINGS[path].by_client:
            await _end_from_server(ws, path)
        await ws.wait_closed()
        ended.append(path)

    async with serve(echo, "127.0.0.1", upstream_port, subprotocols=["chat.v1"]):
        rec = await asyncio.to_thread(start_recorder, f"http://127.0.0.1:{upstream_port}")
        url = f"ws://127.0.0.1:{rec.port}"
        clients = {path: await _chat(url, path) for path in ENDINGS}
        deadline = time.monotonic() + 10
        while len(ended) < len(ENDINGS) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # mitmproxy ends the flow as it closes the upstream side
    assert await asyncio.to_thread(rec.stop) == 0
    return rec, clients


def test_a_recording_holds_what_the_wire_carried_under_any_mitmproxy(start_recorder) -> None:
    upstream = free_port()
    before = time.time()
    rec, clients = asyncio.run(_record(start_recorder, upstream))
    after = time.time()
    records = list(read_capture(rec.out))
    by_path = {r.path: r.connection for r in records if isinstance(r, Open)}
    assert sorted(by_path) == sorted(ENDINGS)
    for path, client in clients.items():
        mine = [r for r in records if r.connection == by_path[path]]
        opened, *messages, end = mine
        assert opened.url == f"ws://127.0.0.1:{upstream}{path}"  # reverse mode: the backend's
        assert opened.subprotocol == "chat.v1"
        assert opened.client == f"127.0.0.1:{client.local_address[1]}"
        assert opened.server == f"127.0.0.1:{upstream}"
        # Header names as the client spelled them, in its order; the secret redacted.
        sent = [name for name, _ in client.request.headers.raw_items()]
        assert [name for name, _ in opened.request_headers] == sent
        assert ("X-Mixed-Case", "Kept") in opened.request_headers
        assert ("Authorization", "[REDACTED]") in opened.request_headers
        assert list(opened.response_headers) == list(client.response.headers.raw_items())
        assert [(m.from_client, m.is_text, m.payload) for m in messages] == [
            (from_client, isinstance(data, str), data.encode() if isinstance(data, str) else data)
            for data in SENT
            for from_client in (True, False)
        ]
        assert isinstance(end, Close)
        assert (end.code, end.reason, end.closed_by) == ENDINGS[path].close
        stamps = [r.ts for r in mine]
        assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after
    # Microseconds as mitmproxy stamps them, not rounded to the millisecond.
    assert any(round(r.ts * 1000) != r.ts * 1000 for r in records if isinstance(r, Message))


def other_python() -> str:
    other = os.environ.get("WSTAPE_OTHER_PYTHON")
    if not other:
        pytest.skip("WSTAPE_OTHER_PYTHON names no other install of wstape (.ci/run sets it)")
    return other


def mitmproxy_of(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import mitmproxy.version as m; print(m.VERSION)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


# The demo backend behind the recorder, with a mitmdump flow file written beside the capture.
RECORD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from recordings import FAST, record
out = Path(sys.argv[2])
record(out / "capture", FAST, ("good", "missing_event", "tool_error", "unpaired_tool"),
       extra=(f"save_stream_file={out / 'flows.mitm'}",))
"""


def readings(python: str, path: Path) -> list[tuple[int, str]]:
    """What `wstape analyze` and `wstape export` say of a capture or flow file."""
    commands = (["analyze", str(path), "--json", "-"], ["export", str(path)])
    results = [
        subprocess.run([python, "-m", "wstape", *command], capture_output=True, text=True)
        for command in commands
    ]
    return [(result.returncode, result.stdout) for result in results]


def test_what_one_mitmproxy_writes_reads_the_same_under_the_other(tmp_path: Path) -> None:
    here, there = sys.executable, other_python()
    if mitmproxy_of(here) == mitmproxy_of(there):
        pytest.skip(f"WSTAPE_OTHER_PYTHON runs the same mitmproxy, {mitmproxy_of(here)}")
    for n, writer in enumerate((here, there)):
        out = tmp_path / f"written-{n}"
        subprocess.run([writer, "-c", RECORD, str(TESTS), str(out)], check=True, timeout=120)
        for written in (out / "capture", out / "flows.mitm"):
            read_here = readings(here, written)
            summary = json.loads(read_here[0][1])["summary"]
            # Four users; each one's missing_event and unpaired_tool chats fail.
            assert (read_here[0][0], summary["runs"], summary["failed"]) == (1, 16, 8)
            assert readings(there, written) == read_here, f"{written.name} by {writer}"
