"""The processes a benchmark drives: the demo backend and mitmdump, with or without the
wstape addon, on free loopback ports; each started, waited for and always stopped."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from demo.loopback import stop, wait_port
from recorder.launch import ADDON, find_mitmdump

ROOT = Path(__file__).resolve().parent.parent


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (psutil is not a dependency)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def running(args: list[str], port: int, cpus: set[int] | None = None) -> Iterator[subprocess.Popen]:
    """The process, once it listens on `port`; with `cpus`, held to those CPUs."""
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    proc = subprocess.Popen(
        args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, preexec_fn=pin,
    )  # fmt: skip
    try:
        wait_port(port, proc)
        yield proc
    finally:
        stop(proc, timeout=20)


def backend(port: int) -> list[str]:
    return [sys.executable, "-m", "demo.backend", "--port", str(port), "--ping-interval", "0"]


NOOP_ADDON = Path(__file__).resolve().parent / "noop_addon.py"


def mitmdump(upstream_port: int, port: int, *addon: str) -> list[str]:
    """Reverse-proxy mitmdump in the same mode with the same options for every variant;
    `addon` adds its arguments (see `wstape` and `noop`), none for bare mitmdump."""
    return [
        find_mitmdump(),
        "--mode", f"reverse:http://127.0.0.1:{upstream_port}@127.0.0.1:{port}",
        "--set", "flow_detail=0",
        *addon,
    ]  # fmt: skip


def wstape(capture: Path) -> list[str]:
    return ["-s", str(ADDON), "--set", f"wstape_dir={capture}"]


def noop() -> list[str]:
    return ["-s", str(NOOP_ADDON)]


@contextlib.contextmanager
def cpus_apart() -> Iterator[tuple[set[int] | None, set[int] | None]]:
    """(the proxy's CPUs, everyone else's): the last CPU for the process under test, the
    others for this process and the backend, so the client and the backend never take
    the proxy's core and a proxy's throughput is its own. (None, None) on one CPU. This
    process is held to its share until the block ends."""
    mine = os.sched_getaffinity(0)
    if len(mine) < 2:
        yield None, None
        return
    proxy = {max(mine)}
    rest = mine - proxy
    os.sched_setaffinity(0, rest)
    try:
        yield proxy, rest
    finally:
        os.sched_setaffinity(0, mine)
