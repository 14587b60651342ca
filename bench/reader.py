"""How fast captures read back: `wstape.recorder.capture.read_capture` and `wstape.load` against
a raw `msgpack.Unpacker` decode of the same files, and what the format costs on disk."""

from __future__ import annotations

import json
import random
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgpack

from bench.table import print_table
from wstape.recorder.capture import (
    READ_CHUNK,
    CaptureWriter,
    Message,
    Open,
    read_capture,
    segment_files,
)

RAW, WSTAPE, ANALYZER = (
    "raw msgpack.Unpacker", "wstape.recorder.capture.read_capture", "wstape.load (DataFrame)",
)  # fmt: skip
EVENTS = ("agent_thinking", "tool_executing", "tool_completed", "partial_result", "ping")


@dataclass(frozen=True)
class Plan:
    rounds: int  # best of this many timings per reader
    frames: int
    connections: int


FULL = Plan(rounds=3, frames=400_000, connections=100)
QUICK = Plan(rounds=2, frames=60_000, connections=20)


def _payload(rng: random.Random, conn: int, i: int) -> tuple[bool, bool, bytes]:
    """(from_client, is_text, payload) shaped like an agent chat: mostly JSON events of a
    few hundred bytes, some user messages, a little binary."""
    roll = rng.random()
    if roll < 0.05:
        return True, True, json.dumps({"type": "user_message", "payload": {
            "content": "please look this up " * rng.randint(1, 5)}}).encode()  # fmt: skip
    if roll < 0.07:
        return False, False, rng.randbytes(rng.choice([16, 512, 4096]))
    event = EVENTS[i % len(EVENTS)]
    body = {"run_id": f"run-{conn}", "thread_id": f"thread-{conn}", "user_id": f"user-{conn}",
            "text": "the agent is working on it " * rng.randint(1, 12)}  # fmt: skip
    return False, True, json.dumps({"type": event, "payload": body}).encode()


def write_capture(directory: Path, plan: Plan) -> int:
    """A synthetic capture of `plan.frames` messages over several segments; returns the
    payload bytes written."""
    rng = random.Random(7)
    writer = CaptureWriter(directory, segment_bytes=16 * 1024 * 1024)
    ts = 1_800_000_000.0
    for conn in range(plan.connections):
        writer.open(Open(f"conn-{conn}", ts, "ws://h/ws", f"/ws?user_id=user-{conn}", None,
                         "127.0.0.1:1", "127.0.0.1:2"))  # fmt: skip
    payload_bytes = 0
    for i in range(plan.frames):
        ts += 0.000_137
        conn = rng.randrange(plan.connections)
        from_client, is_text, payload = _payload(rng, conn, i)
        payload_bytes += len(payload)
        writer.message(f"conn-{conn}", ts, from_client, is_text, payload)
    for conn in range(plan.connections):
        writer.close(f"conn-{conn}", ts, 1000, "", "client")
    writer.close_all()
    return payload_bytes


def raw_decode(directory: Path) -> int:
    """The floor: every value decoded by msgpack, nothing checked or typed."""
    count = 0
    for file in segment_files(directory):
        with open(file, "rb") as stream:
            for _ in msgpack.Unpacker(stream, read_size=READ_CHUNK, raw=False):
                count += 1
    return count


def wstape_reader(directory: Path) -> int:
    return sum(1 for record in read_capture(directory) if isinstance(record, Message))


def _analyzer_load() -> Callable[[Path], int] | str:
    try:
        from wstape import load
    except Exception as exc:  # the analyzer may be mid-change; say so instead of failing
        return f"wstape.load not importable ({type(exc).__name__}: {exc})"
    return lambda directory: len(load(directory))


def run(plan: Plan) -> None:
    with tempfile.TemporaryDirectory(prefix="wstape-bench-") as tmp:
        directory = Path(tmp) / "capture"
        payload_bytes = write_capture(directory, plan)
        files = segment_files(directory)
        disk_bytes = sum(file.stat().st_size for file in files)
        readers = {RAW: raw_decode, WSTAPE: wstape_reader, ANALYZER: _analyzer_load()}
        results: dict[str, float | str] = {
            name: read if isinstance(read, str) else float("inf") for name, read in readers.items()
        }
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a clean capture must read without a warning
            # Alternating rounds, best of each: the least disturbed run of every reader.
            for _ in range(plan.rounds):
                for name, read in readers.items():
                    if not isinstance(read, str):
                        start = time.perf_counter()
                        read(directory)
                        results[name] = min(results[name], time.perf_counter() - start)
    _report(plan, results, payload_bytes, disk_bytes, len(files))


def _report(
    plan: Plan, results: dict[str, float | str], payload_bytes: int, disk_bytes: int, files: int
) -> None:
    raw_time = results[RAW]
    print(
        f"reader: {plan.frames:,} messages over {plan.connections} connections in {files} "
        f"segment files ({disk_bytes / 2**20:,.1f} MiB); best of {plan.rounds} alternating "
        f"runs each"
    )
    rows, notes = [], []
    for name, seconds in results.items():
        if isinstance(seconds, str):
            rows.append([name, "-", "-", "-"])
            notes.append(seconds)
            continue
        rows.append([name, f"{plan.frames / seconds:,.0f}", f"{seconds:.3f}",
                     f"{raw_time / seconds:.3f}"])  # fmt: skip
    print_table(["reader", "frames/s", "seconds", "vs raw"], rows)
    for note in notes:
        print(note)
    # No target of its own: the target (>= 1/3 of raw decode) is the analyzer's, whose first
    # stage this is (bench/analyzer.py); a reader under 1/3 shows how far off that target is.
    share = raw_time / results[WSTAPE]
    print(f"read_capture runs at {share:.2f} of raw decode speed (checks and types each record)")
    overhead = (disk_bytes - payload_bytes) / plan.frames
    print(
        f"size on disk: {disk_bytes:,} bytes for {payload_bytes:,} payload bytes "
        f"({disk_bytes / payload_bytes:.3f}x, {overhead:.1f} bytes of framing per message)\n"
    )
