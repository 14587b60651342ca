"""The processes a benchmark drives: the demo backend and mitmdump, with or without the
wstape addon, on free loopback ports; each started, waited for and always stopped."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from wstape.demo.loopback import stop, wait_port
from wstape.recorder.launch import ADDON, find_mitmdump

ROOT = Path(__file__).resolve().parent.parent


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (psutil is not a dependency)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time all threads of a process have run so far, in nanoseconds' precision
    (/proc/PID/task/*/schedstat): /proc/PID/stat counts 10 ms ticks, too coarse for the
    second or so one proxy runs in a round."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat") as stat:
            total += int(stat.read().split()[0])
    return total / 1e9


@contextlib.contextmanager
def running(
    args: list[str], port: int, cpus: set[int] | None = None, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """The process, once it listens on `port`; with `cpus`, held to those CPUs; `env` adds
    to this process's environment."""
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    proc = subprocess.Popen(
        args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, preexec_fn=pin, env={**os.environ, **(env or {})},
    )  # fmt: skip
    try:
        wait_port(port, proc)
        yield proc
    finally:
        stop(proc, timeout=20)


def backend(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "wstape.demo.backend",
        "--port",
        str(port),
        "--ping-interval",
        "0",
    ]


NOOP_ADDON = Path(__file__).resolve().parent / "noop_addon.py"


def _proxy_args(upstream_port: int, port: int) -> list[str]:
    return [
        "--mode", f"reverse:http://127.0.0.1:{upstream_port}@127.0.0.1:{port}",
        "--set", "flow_detail=0",
    ]  # fmt: skip


def mitmdump(upstream_port: int, port: int, *addon: str) -> list[str]:
    """Reverse-proxy mitmdump in the same mode with the same options for every variant;
    `addon` adds its arguments (see `wstape` and `noop`), none for bare mitmdump."""
    return [find_mitmdump(), *_proxy_args(upstream_port, port), *addon]


def wstape(capture: Path) -> list[str]:
    """The addon as users load it into their own mitmdump: a script."""
    return ["-s", str(ADDON), "--set", f"wstape_dir={capture}"]


def wstape_record(upstream_port: int, port: int, capture: Path, redact: bool = True) -> list[str]:
    """The recorder as `wstape record` runs it: mitmdump with the addon built in."""
    return [sys.executable, "-m", "wstape.recorder.dump", *_proxy_args(upstream_port, port),
            "--set", f"wstape_dir={capture}",
            "--set", f"wstape_redact={'true' if redact else 'false'}"]  # fmt: skip


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
