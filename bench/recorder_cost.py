"""What the addon costs mitmdump, or saves it, measured with every variant running at once.

Run one after the other, the same mitmdump's CPU time per frame moved by +-10-15 % between
rounds on this VM (the machine's own speed drifts), more than the cost being measured. So here
several fresh instances of each variant (bare mitmdump, a no-op script addon, the wstape addon
as a script, `wstape record`'s mitmdump with the addon built in and hooks sent only to the
addons that implement them, and the same under mitmproxy's own dispatch) share one core at
once, each driven by its own connections, and each instance's CPU time per frame (schedstat,
connection closes included) is compared within the round: a slow second slows them all alike.
Instance k of every variant gets PYTHONHASHSEED=k, so dict layouts pair up too. On one core
mitmdump is CPU-bound, so its throughput is the inverse of its CPU time per frame, and the
throughput of a variant against bare mitmdump's is bare's CPU per frame / the variant's.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from bench import procs, recorder_dispatch
from bench.table import print_table
from wstape.demo.loopback import free_port

BARE, NOOP, SCRIPT, BUILTIN, OLD = (
    "bare mitmdump", "mitmdump -s noop_addon.py", "mitmdump -s recorder/addon.py",
    "wstape record (wstape.recorder.dump)", "wstape record, mitmproxy's dispatch",
)  # fmt: skip
TARGET, GOAL = 1.5, 2.0  # wstape record's throughput over bare mitmdump's (issue 19)


@dataclass(frozen=True)
class Plan:
    instances: int  # fresh processes per variant
    rounds: int
    seconds: float  # every instance driven at once for this long per round
    connections: int  # per instance and round
    window: int  # frames in flight per connection


FULL = Plan(instances=3, rounds=12, seconds=3.0, connections=2, window=32)
QUICK = Plan(instances=2, rounds=4, seconds=2.0, connections=2, window=32)


def _commands(backend: int, capture: Path) -> dict[str, Callable[[int, int], list[str]]]:
    return {
        BARE: lambda port, k: procs.mitmdump(backend, port),
        NOOP: lambda port, k: procs.mitmdump(backend, port, *procs.noop()),
        SCRIPT: lambda port, k: procs.mitmdump(backend, port, *procs.wstape(capture / f"s{k}")),
        BUILTIN: lambda port, k: procs.wstape_record(backend, port, capture / f"b{k}"),
        OLD: lambda port, k: recorder_dispatch.old_dispatch(backend, port, capture / f"o{k}"),
    }


async def echo_sockets(
    stack: contextlib.AsyncExitStack, port: int, count: int
) -> list[ClientConnection]:
    """`count` connections to the echo backend through `port`, each past its welcome frame,
    closed when `stack` closes."""
    url = f"ws://127.0.0.1:{port}/ws?user_id=bench"
    sockets = [
        await stack.enter_async_context(connect(url, proxy=None, max_size=None))
        for _ in range(count)
    ]
    for ws in sockets:
        await ws.recv()  # the welcome
    return sockets


async def _pump(sockets: list[ClientConnection], until: float, window: int, frame: str) -> int:
    """Echoes `frame` over every socket, `window` in flight, until `until`; frames relayed."""
    loop = asyncio.get_running_loop()

    async def one(ws: ClientConnection) -> int:
        room = asyncio.Semaphore(window)
        sent = 0

        async def read() -> None:
            while True:
                await ws.recv()
                room.release()

        reader = asyncio.create_task(read())
        while loop.time() < until:
            await room.acquire()
            await ws.send(frame)
            sent += 1
        for _ in range(window):  # every slot back: every echo is in
            await room.acquire()
        reader.cancel()
        return 2 * sent

    return sum(await asyncio.gather(*(one(ws) for ws in sockets)))


async def _round(instances: dict[str, list[tuple[int, int]]], plan: Plan, frame: str) -> dict:
    """One round: every instance driven at once; (variant, k) → CPU µs per frame."""
    async with contextlib.AsyncExitStack() as stack:
        sockets = {}
        for name, ports in instances.items():
            for k, (port, _) in enumerate(ports):
                sockets[name, k] = await echo_sockets(stack, port, plan.connections)
        pids = {(name, k): pid for name, ports in instances.items()
                for k, (_, pid) in enumerate(ports)}  # fmt: skip
        cpu = {key: procs.cpu_seconds(pid) for key, pid in pids.items()}
        until = asyncio.get_running_loop().time() + plan.seconds
        relayed = await asyncio.gather(
            *(_pump(sockets[key], until, plan.window, frame) for key in pids)
        )
    await asyncio.sleep(0.3)  # the closes, which free each connection's messages
    return {
        key: (procs.cpu_seconds(pid) - cpu[key]) / frames * 1e6
        for (key, pid), frames in zip(pids.items(), relayed, strict=True)
    }


def run(plan: Plan, frame: str) -> None:
    backend = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="wstape-bench-") as tmp,
        procs.cpus_apart() as (proxy_cpus, rest),
        contextlib.ExitStack() as stack,
    ):
        stack.enter_context(procs.running(procs.backend(backend), backend, rest))
        instances: dict[str, list[tuple[int, int]]] = {}
        for name, command in _commands(backend, Path(tmp)).items():
            instances[name] = []
            for k in range(plan.instances):
                port = free_port()
                proc = stack.enter_context(
                    procs.running(command(port, k), port, proxy_cpus, {"PYTHONHASHSEED": str(k)})
                )
                instances[name].append((port, proc.pid))
        rounds = [asyncio.run(_round(instances, plan, frame)) for _ in range(1 + plan.rounds)]
    _report(rounds[1:], plan, pinned=proxy_cpus is not None)  # the first round warms up


def _report(rounds: list[dict], plan: Plan, pinned: bool) -> None:
    names = [BARE, NOOP, SCRIPT, BUILTIN, OLD]
    k_all = range(plan.instances)
    where = "on one core of their own" if pinned else "on this machine's one CPU"
    print(
        f"recorder at once: {plan.instances} fresh instances of each of {len(names)} variants, "
        f"all {len(names) * plan.instances} {where} at once, each echoing over "
        f"{plan.connections} connections ({plan.window} in flight) for {plan.seconds:g} s per "
        f"round; {plan.rounds} rounds after one warm-up; CPU time per frame from schedstat"
    )

    def mean(row: dict, name: str) -> float:
        return statistics.fmean(row[name, k] for k in k_all)

    rows, speed = [], {}
    for name in names:
        ratios = [mean(row, name) / mean(row, BARE) for row in rounds]
        q1, median, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
        speed[name] = 1 / median
        per_frame = statistics.median(mean(row, name) for row in rounds)
        rows.append([name, f"{per_frame:,.1f}", f"{median:.3f}", f"{q1:.3f}-{q3:.3f}",
                     f"{speed[name]:.2f}x"])  # fmt: skip
    print_table(
        ["variant", "CPU µs/frame", "vs bare", "middle half of rounds", "frames/s vs bare"], rows
    )
    # The noise floor: the same bare mitmdump, instance against instance.
    spread = [statistics.median(row[BARE, k] / mean(row, BARE) for row in rounds) for k in k_all]
    print(
        f"bare mitmdump instance against the mean of its {plan.instances}: "
        f"{', '.join(f'{s:.3f}' for s in spread)} (the noise floor of one instance)"
    )
    verdict = "met" if speed[BUILTIN] >= TARGET else "MISSED"
    if plan.rounds < 10:
        verdict += ", indicative only: too few rounds"
    print(
        f"target: wstape record relays at least {TARGET}x bare mitmdump's frames/s (goal "
        f"{GOAL}x): {verdict} ({speed[BUILTIN]:.2f}x; {speed[BUILTIN] / speed[OLD]:.2f}x the "
        f"same recorder under mitmproxy's dispatch, which relays {speed[OLD]:.2f}x; the addon "
        f"as a -s script {speed[SCRIPT]:.2f}x, any script addon (no-op) {speed[NOOP]:.2f}x)\n"
    )
