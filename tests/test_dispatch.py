"""`wstape record` sends each hook only to the addons that implement it (recorder/dump.py), and
must still reach every addon mitmproxy would: ones added while it runs, not ones removed, a
script's new version after its file changes. Real processes: `wstape record` with a `-s` script
of probe addons (`--set scripts=`), the demo backend, a WebSocket client; bare mitmdump with the
same script is the reference. tests/test_dispatch_semantics.py holds the same promise against
mitmproxy's own dispatch in one process, over generated trees of addons."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from conftest import read_log, wait_listening
from websockets.asyncio.client import connect

from wstape.demo.loopback import free_port, stop
from wstape.recorder.capture import Message, read_capture
from wstape.recorder.launch import find_mitmdump

# Each addon writes one JSON line per hook call: [who, hook, the word of the frame or ""].
NOTE = """
import asyncio
import json

from mitmproxy import ctx

LOG = {log!r}


def word(flow):
    message = flow.websocket.messages[-1]
    side = "client" if message.from_client else "server"
    return f"{{side}} {{json.loads(message.text)['payload'].get('word')}}"


def note(who, hook, detail=""):
    with open(LOG, "a") as log:
        log.write(json.dumps([who, hook, detail]) + "\\n")
"""

# Early adds Late once mitmdump runs, and Mid when a client says "add" (mitmproxy's walk of its
# chain reaches an addon appended while it runs, so Mid gets that very frame); Late leaves the
# chain when a client says "leave"; Early raises on "boom", and Sibling, beside it under the
# same script, misses that frame (one error handler per top-level addon, as in mitmproxy).
PROBES = (
    NOTE
    + """

class Early:
    def running(self):
        note("early", "running")
        ctx.master.addons.add(Late())

    def request(self, flow):
        note("early", "request")

    def response(self, flow):
        note("early", "response")

    def websocket_start(self, flow):
        note("early", "websocket_start")

    def websocket_message(self, flow):
        note("early", "websocket_message", word(flow))
        if word(flow) == "client add":
            ctx.master.addons.add(Mid())
        if word(flow).endswith(" boom"):
            raise RuntimeError("the probe fails on boom")

    def websocket_end(self, flow):
        note("early", "websocket_end")


class Sibling:
    def websocket_message(self, flow):
        note("sibling", "websocket_message", word(flow))


class Late:
    async def websocket_message(self, flow):
        await asyncio.sleep(0)
        note("late", "websocket_message", word(flow))
        if word(flow) == "client leave":
            ctx.master.addons.remove(self)


class Mid:
    def websocket_message(self, flow):
        note("mid", "websocket_message", word(flow))

    def update(self, flows):
        note("mid", "update", str(len(flows)))


addons = [Early(), Sibling()]
"""
)

WORDS = ["one", "add", "two", "boom", "three", "leave", "four"]


async def _echo(port: int, words: list[str]) -> list[str]:
    """Sends each word in an echo frame and waits for its echo; the words echoed back."""
    echoed = []
    async with connect(f"ws://127.0.0.1:{port}/ws?user_id=dispatch", proxy=None) as ws:
        await ws.recv()  # the welcome
        for w in words:
            await ws.send(json.dumps({"type": "echo", "payload": {"word": w}}))
            echoed.append(json.loads(await ws.recv())["payload"]["word"])
    return echoed


def _notes(log: Path, until: list, timeout: float = 20.0) -> list[list[str]]:
    """The probe's lines, once the line `until` is among them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        if until in lines:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"{until} never logged; got {log.read_text() if log.exists() else ''}")


def _record_with(processes, backend, tmp_path: Path, script: Path):
    return processes.record(
        backend.http_url, tmp_path / "capture", "--set", f"scripts={script}", "--verbose"
    )


def _mitmdump_with(processes, backend, script: Path):
    port = free_port()
    proc = processes.start(
        [find_mitmdump(), "--mode", f"reverse:{backend.http_url}@127.0.0.1:{port}",
         "--set", "flow_detail=0", "-s", str(script)],
        "mitmdump",
    )  # fmt: skip
    wait_listening(port, proc)
    return proc, port


def _probe_run(start, tmp_path: Path, name: str) -> tuple[list, object]:
    """The probes' lines for one conversation through the proxy `start` brings up."""
    log = tmp_path / f"{name}.log"
    script = tmp_path / f"{name}_probes.py"
    script.write_text(PROBES.format(log=str(log)))
    proc, port = start(script)
    _notes(log, ["early", "running", ""])
    assert asyncio.run(_echo(port, WORDS)) == WORDS
    notes = _notes(log, ["early", "websocket_end", ""])
    assert stop(proc) == 0
    return notes, proc


def test_addons_added_and_removed_at_run_time_get_the_hooks_mitmproxy_would_give_them(
    tmp_path, processes, backend
) -> None:
    ours, _ = _probe_run(lambda s: _record_with(processes, backend, tmp_path, s), tmp_path, "rec")
    theirs, _ = _probe_run(lambda s: _mitmdump_with(processes, backend, s), tmp_path, "bare")
    assert ours == theirs
    late = [detail for who, hook, detail in ours if who == "late"]
    assert late[-1] == "client leave" and "server one" in late
    mid = [detail for who, hook, detail in ours if (who, hook) == ("mid", "websocket_message")]
    assert mid[0] == "client add" and mid[-1] == "server four"


def test_an_addon_that_raises_is_logged_and_every_frame_is_still_recorded(
    tmp_path, processes, backend
) -> None:
    notes, proc = _probe_run(
        lambda s: _record_with(processes, backend, tmp_path, s), tmp_path, "rec"
    )
    early = [detail for who, hook, detail in notes if (who, hook) == ("early", "websocket_message")]
    assert early.count("client boom") == early.count("server boom") == 1
    assert "Addon error: the probe fails on boom" in read_log(proc)
    messages = [r for r in read_capture(tmp_path / "capture") if isinstance(r, Message)]
    words = [json.loads(m.payload)["payload"].get("word") for m in messages]
    assert words == [None] + [w for w in WORDS for _ in "client, server".split(", ")]


V1 = (
    NOTE
    + """
note("v1", "loaded")


def websocket_message(flow):
    note("v1", "websocket_message", word(flow))
"""
)

V2 = (
    NOTE
    + """
note("v2", "loaded")


class Counter:
    def websocket_message(self, flow):
        note("v2", "websocket_message", word(flow))

    def websocket_end(self, flow):
        note("v2", "websocket_end")


addons = [Counter()]
"""
)


async def _echo_across_a_reload(port: int, script: Path, log: Path) -> None:
    async with connect(f"ws://127.0.0.1:{port}/ws?user_id=reload", proxy=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "echo", "payload": {"word": "before"}}))
        await ws.recv()
        script.write_text(V2.format(log=str(log)))
        later = time.time() + 5  # past the first version's mtime, whatever the clock's grain
        os.utime(script, (later, later))
        await asyncio.to_thread(_notes, log, ["v2", "loaded", ""])
        await ws.send(json.dumps({"type": "echo", "payload": {"word": "after"}}))
        await ws.recv()


def test_a_script_rewritten_while_recording_gets_its_new_hooks_and_the_old_ones_stop(
    tmp_path, processes, backend
) -> None:
    log, script = tmp_path / "reload.log", tmp_path / "reloaded.py"
    script.write_text(V1.format(log=str(log)))
    proc, port = _record_with(processes, backend, tmp_path, script)
    _notes(log, ["v1", "loaded", ""])
    asyncio.run(_echo_across_a_reload(port, script, log))
    notes = _notes(log, ["v2", "websocket_end", ""])
    assert stop(proc) == 0
    assert notes == [
        ["v1", "loaded", ""],
        ["v1", "websocket_message", "server None"],  # the welcome
        ["v1", "websocket_message", "client before"],
        ["v1", "websocket_message", "server before"],
        ["v2", "loaded", ""],
        ["v2", "websocket_message", "client after"],
        ["v2", "websocket_message", "server after"],
        ["v2", "websocket_end", ""],
    ]
    messages = [r for r in read_capture(tmp_path / "capture") if isinstance(r, Message)]
    assert len(messages) == 5
