"""Real recordings for the plot, compare and HTML tests: the demo backend behind the real recorder
(mitmdump), a few users chatting, each release recorded once per test session and shared."""

from __future__ import annotations

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from wstape.demo.loopback import free_port
from wstape.demo.players import play
from wstape.demo.session import demo_backend
from wstape.recorder.launch import RecordConfig, RecorderProcess

FAST = ("--think-delay", "0.01", "--tool-delay", "0.05", "--ping-interval", "0")
RELEASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (backend options, scenarios each user cycles through)
    "base": (FAST, ("good",) * 3),
    "base-again": (FAST, ("good",) * 3),  # the same build, recorded a second time
    "slow-tools": ((*FAST, "--tool-delay", "0.6"), ("good",) * 3),
    "dropped-thinking": ((*FAST, "--drop-event", "agent_thinking"), ("good",) * 3),
    "mixed": (FAST, ("good", "missing_event", "tool_error", "unpaired_tool")),
    # The same events, but the agent goes quiet for 0.5 s after planning, with no tool running.
    "long-silences": ((*FAST, "--silence-delay", "0.5"), ("silent",) * 3),
}
USERS = 4


def record(
    out: Path,
    backend_args: tuple[str, ...],
    scenarios: tuple[str, ...],
    extra: tuple[str, ...] = (),
) -> Path:
    """Records USERS users, each sending one message per scenario, through a real recorder;
    `extra` are more mitmproxy options (KEY=VALUE)."""
    with demo_backend(*backend_args) as port:
        config = RecordConfig(
            out=out, upstream=f"http://127.0.0.1:{port}", listen_port=free_port(), extra=extra
        )
        recorder = RecorderProcess(config).start()
        try:
            url = f"ws://127.0.0.1:{config.listen_port}/ws"
            # A thread of its own: the caller may run an event loop (Playwright's sync API does).
            with ThreadPoolExecutor(1) as pool:
                chats = pool.submit(lambda: asyncio.run(play(url, USERS, scenarios, timeout=20)))
                transcripts = chats.result()
        finally:
            recorder.stop()
    errors = [t.error for t in transcripts if t.error]
    assert not errors, errors
    return out


def recorded(factory: pytest.TempPathFactory, name: str) -> Path:
    """The capture of release `name`, recorded on first use in this test session."""
    out = factory.getbasetemp() / "releases" / name
    if not out.exists():
        # Recorded aside and renamed when complete: a failed recording is never reused.
        partial = out.with_name(f"{name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        backend_args, scenarios = RELEASES[name]
        record(partial, backend_args, scenarios)
        partial.rename(out)
    return out
