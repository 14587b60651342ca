"""What recording costs the traffic: echo throughput, round-trip latency and the proxy's
CPU time per frame through mitmdump with the wstape addon, against bare mitmdump (same
mode, no addon) and a direct connection to the backend, in alternating rounds of one run.

Wall-clock figures move with whatever else the machine runs; the proxy's own CPU time
per frame hardly does, so the addon's cost is judged on both."""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import connect

from bench import procs
from bench.table import print_table
from demo.loopback import free_port

# A frame the size and shape of a typical agent event; the backend echoes it verbatim.
FRAME = json.dumps(
    {"type": "echo", "payload": {"run_id": "run-0123456789", "tool_name": "search",
                                 "text": "the agent is thinking about the answer " * 3}}
)  # fmt: skip
TARGET_ADDON_COST = 0.05
DIRECT, BARE, NOOP, ADDON = (
    "direct to backend", "bare mitmdump", "mitmdump + no-op addon", "mitmdump + wstape",
)  # fmt: skip


@dataclass(frozen=True)
class Plan:
    rounds: int
    connections: int
    frames: int  # per connection, pipelined
    window: int  # frames in flight per connection
    round_trips: int  # sequential, for latency


FULL = Plan(rounds=9, connections=4, frames=3000, window=64, round_trips=1000)
QUICK = Plan(rounds=2, connections=2, frames=1500, window=64, round_trips=400)


@dataclass
class Samples:
    fps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # the proxy's CPU time per frame
    p50_us: list[float] = field(default_factory=list)
    p99_us: list[float] = field(default_factory=list)


async def _pipelined(url: str, frames: int, window: int) -> None:
    async with connect(url, proxy=None, max_size=None) as ws:
        await ws.recv()  # the welcome
        room = asyncio.Semaphore(window)

        async def read() -> None:
            for _ in range(frames):
                await ws.recv()
                room.release()

        reader = asyncio.create_task(read())
        for _ in range(frames):
            await room.acquire()
            await ws.send(FRAME)
        await reader


async def throughput(url: str, plan: Plan, pid: int | None) -> tuple[float, float]:
    """Frames relayed per second (both directions counted, all connections at once), and
    the CPU microseconds process `pid` spent per frame meanwhile (nan without a pid)."""
    cpu = procs.cpu_seconds(pid) if pid else 0.0
    start = time.perf_counter()
    await asyncio.gather(
        *(_pipelined(url, plan.frames, plan.window) for _ in range(plan.connections))
    )
    elapsed = time.perf_counter() - start
    frames = 2 * plan.connections * plan.frames
    cpu_us = (procs.cpu_seconds(pid) - cpu) / frames * 1e6 if pid else float("nan")
    return frames / elapsed, cpu_us


async def latency(url: str, plan: Plan) -> tuple[float, float]:
    """Median and 99th percentile of one echo's round trip, in microseconds."""
    async with connect(url, proxy=None, max_size=None) as ws:
        await ws.recv()
        times = []
        for _ in range(plan.round_trips):
            start = time.perf_counter()
            await ws.send(FRAME)
            await ws.recv()
            times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times), statistics.quantiles(times, n=100)[98]


def run(plan: Plan) -> None:
    backend, bare, noop, addon = (free_port() for _ in range(4))
    with tempfile.TemporaryDirectory(prefix="wstape-bench-") as tmp, procs.cpus_apart() as cpus:
        capture = Path(tmp) / "capture"
        proxy, rest = cpus
        with (
            procs.running(procs.backend(backend), backend, rest),
            procs.running(procs.mitmdump(backend, bare), bare, proxy) as bare_proc,
            procs.running(procs.mitmdump(backend, noop, *procs.noop()), noop, proxy) as noop_proc,
            procs.running(
                procs.mitmdump(backend, addon, *procs.wstape(capture)), addon, proxy
            ) as addon_proc,
        ):
            targets = {
                DIRECT: (backend, None),
                BARE: (bare, bare_proc.pid),
                NOOP: (noop, noop_proc.pid),
                ADDON: (addon, addon_proc.pid),
            }
            results = asyncio.run(_rounds(targets, plan))
    _report(results, plan, pinned=proxy is not None)
    _report_hook(statistics.median(results[BARE].cpu_us))


async def _rounds(targets: dict[str, tuple[int, int | None]], plan: Plan) -> dict[str, Samples]:
    results = {name: Samples() for name in targets}
    names = list(targets)
    for round_no in range(1 + plan.rounds):  # the first round warms up and is dropped
        for name in names:
            port, pid = targets[name]
            url = f"ws://127.0.0.1:{port}/ws?user_id=bench"
            fps, cpu_us = await throughput(url, plan, pid)
            p50, p99 = await latency(url, plan)
            if round_no:
                samples = results[name]
                samples.fps.append(fps)
                samples.cpu_us.append(cpu_us)
                samples.p50_us.append(p50)
                samples.p99_us.append(p99)
        names = names[1:] + names[:1]  # rotate, so no target always runs first
    return results


def _report(results: dict[str, Samples], plan: Plan, pinned: bool) -> None:
    """Each ratio is the median over rounds of that round's own ratio: targets measured
    seconds apart share the machine's load of the moment, which drifts between rounds."""
    bare = results[BARE]
    rows = []
    for name, samples in results.items():
        cpu = ["-", "-"]
        if name != DIRECT:
            cpu = [f"{_median(samples.cpu_us):,.0f}", f"{_ratio(samples.cpu_us, bare.cpu_us):.3f}"]
        rows.append([
            name, f"{_median(samples.fps):,.0f}", f"{_ratio(samples.fps, bare.fps):.3f}", *cpu,
            f"{_median(samples.p50_us):,.0f}", f"{_median(samples.p99_us):,.0f}",
            f"{_ratio(samples.p50_us, bare.p50_us):.3f}",
        ])  # fmt: skip
    print(
        f"recorder: echo of a {len(FRAME)}-byte text frame through each path; throughput: "
        f"{plan.connections} connections x {plan.frames} frames pipelined ({plan.window} in "
        f"flight), both directions counted; latency: {plan.round_trips} sequential round "
        f"trips; {plan.rounds} alternating rounds after one warm-up: medians, and ratios as "
        f"the median of each round's own ratio"
    )
    print(
        "CPUs: each mitmdump on a core of its own, the client and the backend on the others"
        if pinned
        else "CPUs: one, shared by the client, the backend and the proxy"
    )
    print_table(
        ["path", "frames/s", "vs bare", "proxy CPU µs/frame", "vs bare", "p50 µs", "p99 µs",
         "p50 vs bare"],
        rows,
    )  # fmt: skip
    for name in (NOOP, ADDON):
        lost = [1 - a / b for a, b in zip(results[name].fps, bare.fps, strict=True)]
        q1, _, q3 = statistics.quantiles(lost, n=4, method="inclusive")
        print(
            f"{name}: throughput {-_median(lost):+.1%} vs bare, middle half of rounds "
            f"{-q3:+.1%} to {-q1:+.1%} (rounds: {', '.join(f'{-x:+.1%}' for x in lost)})"
        )
    cost = 1 - _ratio(results[ADDON].fps, bare.fps)
    verdict = "met" if cost <= TARGET_ADDON_COST else "MISSED"
    if plan.rounds < 5:
        verdict += ", indicative only: too few rounds"
    print(
        f"target: the addon costs <= {TARGET_ADDON_COST:.0%} of bare mitmdump's throughput: "
        f"{verdict} ({cost:+.1%})"
    )


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _ratio(values: list[float], baseline: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(values, baseline, strict=True))


def _report_hook(bare_cpu_us: float, messages: int = 200_000) -> None:
    """The addon's own work per message, timed in this process with stand-in flows: what
    the addon adds beyond mitmproxy's dispatch, free of the noise of four processes."""
    from types import SimpleNamespace

    from recorder.addon import Recorder
    from recorder.capture import CaptureWriter, Open

    with tempfile.TemporaryDirectory(prefix="wstape-bench-") as tmp:
        addon = Recorder()
        addon.writer = CaptureWriter(Path(tmp))
        addon.writer.open(Open("flow", 1.0, "ws://h/ws", "/ws", None, None, None))
        message = SimpleNamespace(content=FRAME.encode(), timestamp=1.5, from_client=True,
                                  is_text=True)  # fmt: skip
        flow = SimpleNamespace(id="flow", websocket=SimpleNamespace(messages=[]))
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(messages):
                flow.websocket.messages.append(message)
                addon.websocket_message(flow)
            best = min(best, (time.perf_counter() - start) / messages * 1e6)
        addon.writer.close_all()
    print(
        f"the addon's own websocket_message (writer included): {best:.2f} µs per message, "
        f"{best / bare_cpu_us:.1%} of bare mitmdump's {bare_cpu_us:.0f} µs of CPU per frame\n"
    )
