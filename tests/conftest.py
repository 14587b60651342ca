"""Fixtures that start real processes on free loopback ports: the demo backend and
the recorder (mitmdump with the wstape addon). Each waits until its process
listens, yields its address, and always terminates it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import settings

from wstape.demo.loopback import free_port, stop

ROOT = Path(__file__).resolve().parent.parent

# The property tests scale their examples from the loaded profile, so `make test` keeps
# hypothesis' default one and `make fuzz` (--hypothesis-profile=fuzz) runs each of them
# 50 times as long; print_blob makes any failure found there reproducible by hand.
settings.register_profile(
    "fuzz", max_examples=50 * settings.get_profile("default").max_examples, print_blob=True
)


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}: {read_log(proc)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s: {read_log(proc)}")


def read_log(proc: subprocess.Popen) -> str:
    log = getattr(proc, "log_path", None)
    return Path(log).read_text(errors="replace")[-4000:] if log else ""


@dataclass
class Processes:
    """Starts processes with their output in a log file and ends them all at teardown."""

    log_dir: Path
    started: list[subprocess.Popen] = field(default_factory=list)

    def start(
        self, args: list[str], name: str, env: dict | None = None, cwd: Path = ROOT
    ) -> subprocess.Popen:
        log_path = self.log_dir / f"{name}-{len(self.started)}.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, **(env or {})},
        )
        log.close()
        proc.log_path = log_path  # type: ignore[attr-defined]
        self.started.append(proc)
        return proc

    def record(
        self, upstream: str, out: Path, *extra: str, name: str = "record", umask: int | None = None
    ) -> tuple[subprocess.Popen, int]:
        """`wstape record` as a user runs it, in front of `upstream`, on a free port (under
        `umask` when given); returns the process and the port once it listens."""
        port = free_port()
        command = [sys.executable, "-m", "wstape", "record", "--upstream", upstream,
                   "--listen", f"127.0.0.1:{port}", "--out", str(out), *extra]  # fmt: skip
        if umask is not None:
            command = ["sh", "-c", f'umask {umask:03o}; exec "$@"', "sh", *command]
        proc = self.start(command, name)
        wait_listening(port, proc)
        return proc, port

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            stop(proc)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


@dataclass
class Backend:
    port: int
    proc: subprocess.Popen
    scheme: str = "ws"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"{'https' if self.scheme == 'wss' else 'http'}://127.0.0.1:{self.port}"


@pytest.fixture
def start_backend(processes: Processes) -> Callable[..., Backend]:
    """Starts `python -m wstape.demo.backend` with extra CLI arguments on a free port."""

    def start(*args: str) -> Backend:
        port = free_port()
        proc = processes.start(
            [sys.executable, "-m", "wstape.demo.backend", "--host", "127.0.0.1",
             "--port", str(port),
             *args],
            "backend",
        )  # fmt: skip
        wait_listening(port, proc)
        scheme = "wss" if "--certfile" in args else "ws"
        return Backend(port, proc, scheme)

    return start


@pytest.fixture
def backend(start_backend: Callable[..., Backend]) -> Backend:
    return start_backend()


@pytest.fixture
def start_recorder(tmp_path: Path) -> Iterator[Callable[..., RunningRecorder]]:
    """Starts mitmdump with the wstape addon in front of `upstream`; the capture
    goes to tmp_path/capture unless `out` is given. Stopped cleanly at teardown."""
    from wstape.recorder.launch import RecordConfig, RecorderProcess

    running: list[RecorderProcess] = []

    def start(upstream: str | None, out: Path | None = None, **cfg) -> RunningRecorder:
        lines: list[str] = []
        config = RecordConfig(
            out=out or tmp_path / "capture", upstream=upstream, listen_port=free_port(), **cfg
        )
        recorder = RecorderProcess(config, on_line=lines.append)
        running.append(recorder)
        recorder.start()
        return RunningRecorder(recorder, config.out, config.listen_port, lines)

    yield start
    for recorder in running:
        if recorder.proc and recorder.proc.poll() is None:
            recorder.stop()


@dataclass
class RunningRecorder:
    recorder: object
    out: Path
    port: int
    lines: list[str]

    def url(self, scheme: str = "ws", path: str = "/ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def stop(self) -> int:
        return self.recorder.stop()
