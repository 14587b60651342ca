"""One demo session end to end: the demo backend, the recorder in front of it, and
a few concurrent users chatting through it. What `wstape demo` runs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from demo.players import Transcript, chat, user_message
from recorder.launch import RecordConfig, Recorder

DEMO_SCENARIOS = ("good", "tool_error", "good", "missing_event", "late_event")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo backend exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the demo backend did not listen on port {port} in {timeout}s")


@contextlib.contextmanager
def demo_backend(*args: str):
    """Runs `python -m demo.backend` on a free loopback port; yields its port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo.backend", "--host", "127.0.0.1", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def one_run_per_user(url: str, scenarios: tuple[str, ...]) -> list[Transcript]:
    """User i asks one question that plays scenarios[i], all users at once."""
    chats = [
        chat(url, f"user-{i}", [user_message(scenario, 1)])
        for i, scenario in enumerate(scenarios, 1)
    ]
    return list(await asyncio.gather(*chats))


@dataclass(frozen=True)
class DemoResult:
    out: Path
    transcripts: list[Transcript]
    frames_recorded: int


def run_demo(
    out: Path, scenarios: tuple[str, ...] = DEMO_SCENARIOS, backend_args: tuple[str, ...] = ()
) -> DemoResult:
    """Backend + recorder + one user per scenario, concurrently; returns when all
    users are done and the recorder has flushed and closed the capture."""
    with demo_backend("--ping-interval", "0.5", *backend_args) as backend_port:
        cfg = RecordConfig(
            out=out.resolve(),
            upstream=f"http://127.0.0.1:{backend_port}",
            listen_port=free_port(),
        )
        recorder = Recorder(cfg).start()
        try:
            url = f"ws://127.0.0.1:{cfg.listen_port}/ws"
            transcripts = asyncio.run(one_run_per_user(url, scenarios))
        finally:
            recorder.stop()
    return DemoResult(out, transcripts, recorder.last_status.get("frames", 0))
