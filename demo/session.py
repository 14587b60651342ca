"""One demo session end to end: the demo backend, the recorder in front of it, and
a few concurrent users chatting through it. What `wstape demo` runs."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from wstape.demo.loopback import free_port, stop, wait_port
from wstape.demo.players import Transcript, chat, user_message
from wstape.recorder.launch import RecordConfig, RecorderProcess

# By the protocol the demo agent speaks: one user per scenario.
DEMO_SCENARIOS = {
    "wstape-json": ("good", "tool_error", "good", "missing_event", "late_event"),
    "ag-ui": ("good", "run_error", "good", "missing_start", "late_event"),
}


@contextlib.contextmanager
def demo_backend(*args: str):
    """Runs `python -m wstape.demo.backend` on a free loopback port; yields its port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wstape.demo.backend",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc, timeout=20)
        yield port
    finally:
        stop(proc, timeout=10)


async def one_run_per_user(url: str, scenarios: tuple[str, ...]) -> list[Transcript]:
    """User i asks one question that plays scenarios[i], all users at once."""
    chats = [
        chat(url, f"user-{i}", [user_message(scenario, 1)])
        for i, scenario in enumerate(scenarios, 1)
    ]
    return list(await asyncio.gather(*chats))


async def _ag_ui_users(url: str, scenarios: tuple[str, ...]) -> list[Transcript]:
    # ag-ui-protocol comes with the `ag-ui` extra: imported only when the demo speaks AG-UI.
    from wstape.demo.ag_ui_agent import one_run_per_user as ag_ui_users

    return await ag_ui_users(url, scenarios)


# The users of each protocol the demo agent speaks.
USERS = {"wstape-json": one_run_per_user, "ag-ui": _ag_ui_users}


@dataclass(frozen=True)
class DemoResult:
    out: Path
    transcripts: list[Transcript]
    frames_recorded: int


def run_demo(
    out: Path,
    scenarios: tuple[str, ...] = DEMO_SCENARIOS["wstape-json"],
    backend_args: tuple[str, ...] = (),
    protocol: str = "wstape-json",
) -> DemoResult:
    """Backend + recorder + one user per scenario, concurrently; returns when all
    users are done and the recorder has flushed and closed the capture."""
    backend_args = ("--protocol", protocol, *backend_args)
    with demo_backend("--ping-interval", "0.5", *backend_args) as backend_port:
        cfg = RecordConfig(
            out=out.resolve(),
            upstream=f"http://127.0.0.1:{backend_port}",
            listen_port=free_port(),
        )
        recorder = RecorderProcess(cfg).start()
        try:
            url = f"ws://127.0.0.1:{cfg.listen_port}/ws"
            transcripts = asyncio.run(USERS[protocol](url, scenarios))
        finally:
            recorder.stop()
    return DemoResult(out, transcripts, recorder.last_status.get("frames", 0))
