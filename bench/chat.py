"""Synthetic agent-chat captures for the analyzer benchmark: many clients chatting at once, each
run the demo backend's seven-event script in its `{"type", "payload": {run_id, ...}}` envelope,
with pings, so the analyzer does what it does on a real recording, only more of it."""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wstape.recorder.capture import CaptureWriter, Open

START_TS = 1_800_000_000.0
PING_EVERY_S = 5.0  # as the demo backend pings
GAP_S = 2.0  # a user reads the answer before asking again
Frame = tuple[float, int, bool, bytes]  # ts, connection number, from_client, payload


@dataclass(frozen=True)
class Shape:
    connections: int  # clients connected at once, each chatting run after run
    runs: int  # in all, spread evenly over the connections
    gap_s: float = GAP_S  # a user's pause between runs, on average


def _dump(kind: str, body: dict) -> bytes:
    return json.dumps({"type": kind, "payload": body}).encode()


def _run(rng: random.Random, conn: int, n: int, ts: float) -> tuple[list[Frame], float]:
    """One run's frames from the user's message on; mostly good, some failing as the demo's
    scenarios do (a tool error, a missing event, a slow tool), so verdicts have work to do."""
    ids = {"run_id": f"run-{conn}-{n}", "thread_id": f"thread-{conn}", "user_id": f"user-{conn}",
           "agent_name": "demo-agent"}  # fmt: skip
    tool = {"tool_name": "search", "execution_id": f"exec-{conn}-{n}"}
    roll = rng.random()
    question = "please look this up " * rng.randint(1, 6)
    script: list[tuple[float, bool, bytes]] = [
        (0.0, True, _dump("user_message", {"content": question, "scenario": "good"})),
        (0.3, False, _dump("agent_started", ids)),
    ]
    thinks = not 0.92 < roll <= 0.95  # a few runs never think aloud: missing_events
    if thinks:
        thought = {**ids, "thought": "planning " * rng.randint(1, 9)}
        script.append((0.05, False, _dump("agent_thinking", thought)))
    script += [
        (0.05, False, _dump("tool_executing", {**ids, **tool, "args": {"query": question[:40]}})),
        (0.05, False, _dump("partial_result", {**ids, "content": "found 3 results " * 4})),
    ]
    tool_s = 10.5 if roll < 0.02 else 0.2
    if roll > 0.95:
        result = {"status": "error", "error": "search backend unavailable"}
        script.append((tool_s, False, _dump("tool_completed", {**ids, **tool, "result": result})))
        script.append((0.05, False, _dump("agent_error", {**ids, "error": "tool search failed"})))
        done = {"status": "error", "summary": "the tool failed"}
    else:
        result = {"status": "success", "hits": 3}
        script.append((tool_s, False, _dump("tool_completed", {**ids, **tool, "result": result})))
        done = {"status": "success", "summary": "done " * rng.randint(1, 20)}
    if thinks:
        script.append((0.05, False, _dump("agent_thinking", {**ids, "thought": "summarising"})))
    script.append((0.05, False, _dump("agent_completed", {**ids, "result": done})))
    frames = []
    for delay, from_client, payload in script:
        ts += delay
        frames.append((ts, conn, from_client, payload))
    return frames, ts


def _connection(rng: random.Random, conn: int, runs: int, gap_s: float) -> Iterator[Frame]:
    """One client's frames in time order: a welcome, its runs, and pings answered by pongs."""
    ts = START_TS + rng.random()
    welcome = {"user_id": f"user-{conn}", "connection_id": f"conn-{conn}"}
    yield ts, conn, False, _dump("connection_established", welcome)
    next_ping = ts + PING_EVERY_S
    for n in range(runs):
        frames, ts = _run(rng, conn, n, ts + gap_s * rng.uniform(0.5, 1.5))
        while next_ping < ts:
            yield next_ping, conn, False, _dump("ping", {"ts": next_ping})
            yield next_ping + 0.001, conn, True, b'{"type": "pong"}'
            next_ping += PING_EVERY_S
        yield from frames


def frames(shape: Shape, seed: int = 7) -> Iterator[Frame]:
    """Every frame of the capture, all connections interleaved in time order."""
    rng = random.Random(seed)
    per_conn, extra = divmod(shape.runs, shape.connections)
    streams = [
        list(_connection(rng, conn, per_conn + (conn < extra), shape.gap_s))
        for conn in range(shape.connections)
    ]
    return heapq.merge(*streams)


def write_capture(
    directory: Path, shape: Shape, segment_bytes: int = 16 * 2**20
) -> tuple[int, int]:
    """A wstape capture of `shape`; returns (frames, payload bytes)."""
    writer = CaptureWriter(directory, segment_bytes=segment_bytes)
    for conn in range(shape.connections):
        path = f"/ws?user_id=user-{conn}"
        writer.open(Open(f"conn-{conn}", START_TS, f"ws://h{path}", path, None, "127.0.0.1:1",
                         "127.0.0.1:2"))  # fmt: skip
    count = payload_bytes = 0
    ts = START_TS
    for ts, conn, from_client, payload in frames(shape):
        writer.message(f"conn-{conn}", ts, from_client, True, payload)
        count += 1
        payload_bytes += len(payload)
    for conn in range(shape.connections):
        writer.close(f"conn-{conn}", ts + 1.0, 1000, "", "client")
    writer.close_all()
    return count, payload_bytes


def write_flows(file: Path, shape: Shape) -> int:
    """The same session as a mitmproxy flow file (`mitmdump -w`), one flow per connection;
    returns the frames written."""
    from mitmproxy import io as mitmproxy_io
    from mitmproxy.test import tflow
    from mitmproxy.websocket import WebSocketMessage
    from wsproto.frame_protocol import Opcode

    flows = {}
    for conn in range(shape.connections):
        flow = tflow.twebsocketflow(messages=False)
        flow.id = f"conn-{conn}"
        flow.request.path = f"/ws?user_id=user-{conn}"
        flow.request.timestamp_start = flow.response.timestamp_end = START_TS
        flow.websocket.messages = []
        flows[conn] = flow
    count = 0
    last = START_TS
    for last, conn, from_client, payload in frames(shape):
        message = WebSocketMessage(Opcode.TEXT, from_client, payload, last)
        flows[conn].websocket.messages.append(message)
        count += 1
    with open(file, "wb") as out:
        writer = mitmproxy_io.FlowWriter(out)
        for flow in flows.values():
            flow.websocket.timestamp_end = last + 1.0
            flow.websocket.closed_by_client = True
            writer.add(flow)
    return count
