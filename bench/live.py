"""What `wstape record --live` costs the recorder: echo throughput through `wstape record` with
and without `--live`, in alternating rounds, each whole process tree (the command, its live view
and its mitmdump) held to one core: the worst case, where following and judging the capture
competes with mitmdump for that core."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import procs, recorder_cost
from bench.recorder import FRAME, throughput
from bench.recorder import Plan as RecorderPlan
from bench.table import print_table
from wstape.demo.loopback import free_port

PLAIN, LIVE = "wstape record", "wstape record --live"


@dataclass(frozen=True)
class Plan:
    rounds: int
    connections: int
    frames: int  # per connection and round, pipelined
    window: int


FULL = Plan(rounds=10, connections=4, frames=750, window=64)
QUICK = Plan(rounds=3, connections=2, frames=500, window=64)


def _record(backend: int, port: int, capture: Path, *live: str) -> list[str]:
    return [sys.executable, "-m", "wstape", "record", "--upstream", f"http://127.0.0.1:{backend}",
            "--listen", f"127.0.0.1:{port}", "--out", str(capture), *live]  # fmt: skip


def run(plan: Plan) -> None:
    backend, plain, live = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="wstape-bench-") as tmp, procs.cpus_apart() as cpus:
        proxy, rest = cpus
        with (
            procs.running(procs.backend(backend), backend, rest),
            procs.running(_record(backend, plain, Path(tmp) / "plain"), plain, proxy) as p,
            procs.running(_record(backend, live, Path(tmp) / "live", "--live"), live, proxy) as q,
        ):
            targets = {PLAIN: (plain, p.pid), LIVE: (live, q.pid)}
            fps, cpu = asyncio.run(_rounds(targets, plan))
    ratios = [b / a for a, b in zip(fps[PLAIN], fps[LIVE], strict=True)]
    q1, median, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    print(
        f"live verdicts: echo of a {len(FRAME)}-byte text frame through `wstape record` with and "
        f"without --live, {plan.rounds} alternating rounds after one warm-up, each "
        f"{plan.connections} fresh connections x {plan.frames} frames pipelined "
        f"({plan.window} in flight); "
        + (
            "each recorder's whole process tree on one core, client and backend on the other"
            if proxy
            else "all on this machine's one CPU"
        )
    )
    print_table(
        ["path", "frames/s", "vs without --live", "wstape process CPU µs/frame"],
        [[name, f"{statistics.median(fps[name]):,.0f}",
          f"{median if name == LIVE else 1:.3f}",
          f"{statistics.median(cpu[name]):,.1f}"] for name in (PLAIN, LIVE)],
    )  # fmt: skip
    print(
        f"--live keeps {median:.1%} of the recorder's throughput (middle half of rounds "
        f"{q1:.1%} to {q3:.1%}); the live view's own work is the difference in the wstape "
        "process's CPU (following, decoding and judging every frame)\n"
    )


async def _rounds(
    targets: dict[str, tuple[int, int]], plan: Plan
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    fps: dict[str, list[float]] = {name: [] for name in targets}
    cpu: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    echo = RecorderPlan(0, plan.connections, plan.frames, plan.window, 0, recorder_cost.QUICK)
    for round_no in range(1 + plan.rounds):  # the first round warms up and is dropped
        for name in names:
            port, pid = targets[name]
            before = procs.cpu_seconds(pid)
            async with contextlib.AsyncExitStack() as stack:
                sockets = await recorder_cost.echo_sockets(stack, port, plan.connections)
                rate = await throughput(sockets, echo)
            await asyncio.sleep(0.5)  # the live view catches up with the round's last flush
            frames = plan.connections * (1 + 2 * plan.frames)
            if round_no:
                fps[name].append(rate)
                cpu[name].append((procs.cpu_seconds(pid) - before) / frames * 1e6)
        names = names[1:] + names[:1]
    return fps, cpu
