"""The hook dispatch's part of the recorder bench (issue 19): `wstape record`'s mitmdump with
mitmproxy's own dispatch to compare with (`python -m bench.recorder_dispatch [mitmdump's
options]`, never run outside bench/), a script whose addon joins the chain at run time and
counts the frames it is given, and each dispatch timed in this process on one message.

Run as a module, this is `python -m wstape.recorder.dump` with mitmproxy's AddonManager kept:
the recorder as it was before HookDispatch, the same addons in the same chain."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

from mitmproxy import addonmanager

from bench import procs
from wstape.recorder import dump

LATE_ADDON = Path(__file__).resolve().parent / "recorder_late_addon.py"
COUNT_FILE = "WSTAPE_BENCH_LATE_COUNT"  # where the late addon writes its count at the end
OURS, THEIRS, THEIRS_NO_STATUS = (
    "HookDispatch", "mitmproxy's AddonManager", "mitmproxy's, without StatusLog",
)  # fmt: skip


class MitmproxyDispatch(dump.RecordingDumpMaster):
    dispatch = addonmanager.AddonManager


def old_dispatch(upstream_port: int, port: int, capture: Path) -> list[str]:
    """`wstape record`'s command line, run with mitmproxy's own dispatch."""
    command = procs.wstape_record(upstream_port, port, capture)
    return [*command[:2], "bench.recorder_dispatch", *command[3:]]


def with_late_addon(upstream_port: int, port: int, capture: Path) -> list[str]:
    """`wstape record`'s command line plus a script that adds an addon once mitmdump runs."""
    return [*procs.wstape_record(upstream_port, port, capture), "--set", f"scripts={LATE_ADDON}"]


def late_count(count_file: Path) -> int:
    return int(count_file.read_text())


def in_process(frame: str, rounds: int = 20, messages: int = 2_000) -> dict[str, float]:
    """CPU µs per WebSocket message of `handle_lifecycle` (the message hook, then `update`)
    through `wstape record`'s chain (no capture folder: the recorder counts and trims), under
    each dispatch, and under mitmproxy's without the status line's addon: the median of
    `rounds` alternations, in turn forwards and backwards, of `messages` each."""
    return asyncio.run(_in_process(frame.encode(), rounds, messages))


async def _in_process(content: bytes, rounds: int, messages: int) -> dict[str, float]:
    from mitmproxy import options
    from mitmproxy.proxy.layers.websocket import WebsocketMessageHook
    from mitmproxy.test import tflow

    master = dump.RecordingDumpMaster(options.Options(), with_termlog=False)
    master.options.update(flow_detail=0)
    wstape = master.addons.chain[-1]
    children = list(wstape.addons)
    flow = tflow.twebsocketflow()
    message = flow.websocket.messages[-1]
    message.content = content
    hook = WebsocketMessageHook(flow)
    variants = {
        OURS: (dump.HookDispatch, children),
        THEIRS: (addonmanager.AddonManager, children),
        THEIRS_NO_STATUS: (addonmanager.AddonManager, children[1:]),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for turn in range(rounds):
        for name in list(variants)[:: 1 if turn % 2 else -1]:
            dispatch, addons = variants[name]
            master.addons.__class__, wstape.addons = dispatch, list(addons)
            start = time.process_time()
            for _ in range(messages):
                flow.websocket.messages.append(message)
                await master.addons.handle_lifecycle(hook)
            times[name].append((time.process_time() - start) / messages * 1e6)
    await master.done()
    return {name: statistics.median(samples) for name, samples in times.items()}


def report_in_process(frame: str, bare_cpu_us: float) -> None:
    times = in_process(frame)
    ours, theirs = times[OURS], times[THEIRS]
    walk, status_log = (theirs - ours) / bare_cpu_us, theirs - times[THEIRS_NO_STATUS]
    print(
        f"hook dispatch in process, CPU per {len(frame)}-byte WebSocket message (its hook and "
        f"update, the recorder's work included; median of 20 alternations): HookDispatch "
        f"{ours:.1f} µs, mitmproxy's AddonManager {theirs:.1f} µs ({theirs / ours:.1f}x; the "
        f"difference is {walk:.0%} of bare mitmdump's {bare_cpu_us:.0f} µs of CPU per frame); "
        f"under mitmproxy's, the StatusLog addon's place in the walk: {status_log:+.2f} µs per "
        f"message\n"
    )


if __name__ == "__main__":
    dump.main(sys.argv[1:], master=MitmproxyDispatch)
