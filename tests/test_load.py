"""The recorder under load: 200 clients at once through a real mitmdump with the addon,
in front of the real demo backend. Every frame each client saw must be in the capture,
in the order that client saw it, and no connection may be broken on the way."""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from wsclient import Seen

from wstape.recorder.capture import Close, Error, Message, Open, read_capture

CLIENTS = 200
LARGE_EVERY = 50  # four clients also send a frame of a few MiB


def _frame(data: str | bytes) -> tuple[str, bytes]:
    return ("text", data.encode()) if isinstance(data, str) else ("binary", bytes(data))


def frames_for(n: int) -> list[str | bytes]:
    """A client's mixed traffic, all of it echoed by the backend: JSON text (some of
    it non-ASCII), binary of many sizes including empty, and for a few a large frame."""
    rng = random.Random(n)
    items: list[str | bytes] = []
    for i in range(12):
        shape = i % 4
        if shape == 0:
            items.append(json.dumps({"type": "echo", "payload": {"n": n, "i": i}}))
        elif shape == 1:  # sizes either side of WebSocket's 7- and 16-bit length forms
            items.append(rng.randbytes(rng.choice([0, 1, 125, 126, 65535, 65536, 70_000])))
        elif shape == 2:
            items.append(json.dumps({"type": "echo", "text": "héllo ✓ " * rng.randint(1, 300)}))
        else:
            items.append(bytes([n % 256]) * rng.randint(1, 4000))
    if n % LARGE_EVERY == 0:
        items.insert(6, rng.randbytes(3 * 1024 * 1024 + n))
    return items


async def chat(url: str, items: list[str | bytes], everyone_open: asyncio.Barrier) -> Seen:
    """Opens, waits until all clients are open, sends `items` without pausing while
    logging every frame received, and closes once every echo is back."""
    seen = Seen()
    async with connect(url, proxy=None, max_size=None, open_timeout=60) as ws:
        seen.received.append(_frame(await ws.recv()))  # the welcome
        await everyone_open.wait()

        async def read() -> None:
            while len(seen.received) < len(items) + 1:
                seen.received.append(_frame(await ws.recv()))

        reader = asyncio.create_task(read())
        for item in items:
            seen.sent.append(_frame(item))
            await ws.send(item)
        await reader
    seen.close_code = ws.close_code
    return seen


async def all_clients(url: str) -> list[Seen]:
    everyone_open = asyncio.Barrier(CLIENTS)

    async def one(n: int) -> Seen:
        # Stagger the handshakes a little, as real users arrive: it keeps mitmdump's
        # and the backend's accept queues (100 by default) from overflowing into
        # one-second SYN retries, which would only slow the test down.
        await asyncio.sleep(n * 0.005)
        return await chat(f"{url}?user_id=load-{n}", frames_for(n), everyone_open)

    return await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(CLIENTS))), 90)


def recorded_by_user(capture: Path) -> tuple[dict[str, dict[str, list]], list, list]:
    users: dict[str, str] = {}
    opens = []
    frames: dict[str, dict[str, list]] = defaultdict(lambda: {"client": [], "server": []})
    ends = []
    for record in read_capture(capture):
        if isinstance(record, Open):
            users[record.connection] = record.path.split("user_id=")[1]
            opens.append(record)
        elif isinstance(record, Message):
            frames[users[record.connection]][record.direction].append((record.kind, record.payload))
        elif isinstance(record, Close | Error):
            ends.append(record)
    return frames, opens, ends


@pytest.mark.timeout(150)
def test_two_hundred_concurrent_clients_lose_no_frame_and_no_connection(
    start_backend, start_recorder
) -> None:
    backend = start_backend("--ping-interval", "0")
    rec = start_recorder(f"http://127.0.0.1:{backend.port}")

    seen = asyncio.run(all_clients(rec.url()))
    assert rec.stop() == 0

    # Nobody was cut off: each client closed normally and saw every echo.
    assert [client.close_code for client in seen] == [1000] * CLIENTS
    for n, client in enumerate(seen):
        assert client.received[1:] == client.sent, f"client {n} lost or reordered an echo"

    frames, opens, ends = recorded_by_user(rec.out)
    assert len(opens) == len(frames) == CLIENTS
    # All two hundred were open at once: the last handshake came before the first close.
    assert max(o.ts for o in opens) < min(e.ts for e in ends)
    for n, client in enumerate(seen):
        recorded = frames[f"load-{n}"]
        assert recorded["client"] == client.sent, f"capture of client {n}'s frames differs"
        assert recorded["server"] == client.received, f"capture of client {n}'s echoes differs"
    assert len(ends) == CLIENTS
    assert all(isinstance(end, Close) and end.code == 1000 for end in ends), ends[:3]
    assert not [line for line in rec.lines if "wstape" in line and "error" in line.lower()]
