"""The recorder's memory on an endless session: one connection, 200,000 frames through
a real mitmdump with the addon. mitmproxy keeps every message on the flow unless the
addon trims them; with the trim, mitmdump's resident memory must stay flat."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from wstape.recorder.capture import Message, read_capture

ECHOES = 100_000  # each echo is two frames through the recorder: 200,000 in all
CHECKPOINTS = (10_000, 25_000, 50_000, 75_000, 100_000)
# Big enough that an untrimmed flow (about 250 bytes of bookkeeping per message on top
# of the payload) grows by ~90 MiB between the first and last checkpoint; small enough
# that mitmproxy's per-message cost, not the bytes, sets the pace.
PAYLOAD = bytes(range(256))
WINDOW = 256  # frames in flight: pipelined, but never an unbounded send buffer
GROWTH_BOUND_MIB = 32


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (psutil is not a dependency)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def echo_and_measure(url: str, pid: int) -> dict[int, float]:
    """Sends ECHOES binary frames with WINDOW in flight; at each checkpoint waits until
    every echo is back (so mitmdump has relayed and recorded them all) and reads RSS.
    Returns frames through the recorder → mitmdump's RSS in MiB."""
    rss: dict[int, float] = {}
    async with connect(url, proxy=None, max_size=None) as ws:
        await ws.recv()  # the welcome
        room = asyncio.Semaphore(WINDOW)
        received = 0

        async def read_until(count: int) -> None:
            nonlocal received
            while received < count:
                assert await ws.recv() == PAYLOAD
                received += 1
                room.release()

        sent = 0
        for checkpoint in CHECKPOINTS:
            reader = asyncio.create_task(read_until(checkpoint))
            while sent < checkpoint:
                await room.acquire()
                await ws.send(PAYLOAD)
                sent += 1
            await asyncio.wait_for(reader, 60)
            rss[2 * checkpoint] = rss_mib(pid)
    return rss


@pytest.mark.timeout(240)
def test_memory_stays_flat_over_two_hundred_thousand_frames(start_backend, start_recorder) -> None:
    backend = start_backend("--ping-interval", "0")
    rec = start_recorder(f"http://127.0.0.1:{backend.port}")
    pid = rec.recorder.proc.pid

    rss = asyncio.run(echo_and_measure(rec.url(path="/ws?user_id=endless"), pid))
    assert rec.stop() == 0

    series = ", ".join(f"{frames:,} frames: {mib:.1f} MiB" for frames, mib in rss.items())
    growth = rss[2 * CHECKPOINTS[-1]] - rss[2 * CHECKPOINTS[0]]
    assert growth < GROWTH_BOUND_MIB, f"mitmdump grew {growth:.1f} MiB ({series})"
    print(f"mitmdump RSS: {series}; growth {growth:+.1f} MiB")

    recorded = sum(1 for r in read_capture(Path(rec.out)) if isinstance(r, Message))
    assert recorded == 2 * ECHOES + 1  # every frame, and the welcome
