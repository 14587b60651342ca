"""Starts and supervises `mitmdump` with the wstape addon, for `wstape record`,
`wstape demo` and the tests. Plain Python: mitmproxy runs in its own process."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from wstape.recorder.status import parse_status

ADDON = Path(__file__).resolve().parent / "addon.py"


class LaunchError(Exception):
    """The recorder could not be started; the message says why."""


@dataclass(frozen=True)
class RecordConfig:
    """What `wstape record` asks of mitmdump."""

    out: Path
    upstream: str | None = None  # reverse mode when set, else a regular (forward) proxy
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    certs: Path | None = None  # PEM with certificate and key served to clients
    confdir: Path | None = None  # mitmproxy's CA lives here (mitmproxy-ca-cert.pem)
    upstream_ca: Path | None = None  # trust this CA for the upstream's certificate
    insecure: bool = False  # do not verify the upstream's certificate at all
    redact: bool = True
    redact_fields: tuple[str, ...] = ()  # more JSON field names redacted from payloads
    redact_patterns: tuple[str, ...] = ()  # more regular expressions redacted from payloads
    segment_mb: int = 64
    flush_ms: int = 100
    status: bool = True
    extra: tuple[str, ...] = field(default_factory=tuple)  # more `--set KEY=VALUE`


def parse_listen(value: str) -> tuple[str, int]:
    """'HOST:PORT' or 'PORT' → (host, port)."""
    host, _, port = value.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"{value!r} is not HOST:PORT") from None
    if not 0 < number < 65536:
        raise ValueError(f"port {number} is out of range")
    return (host.strip("[]") or "127.0.0.1"), number


def check_upstream(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s):// or ws(s):// URL of the backend")
    return f"{scheme}://{parts.netloc}"


def find_mitmdump() -> str:
    beside = Path(sys.executable).parent / "mitmdump"
    if beside.exists():
        return str(beside)
    found = shutil.which("mitmdump")
    if not found:
        raise LaunchError("mitmdump not found: install wstape with its dependencies (pip)")
    return found


def mitmdump_args(cfg: RecordConfig) -> list[str]:
    if cfg.upstream:
        mode = f"reverse:{check_upstream(cfg.upstream)}@{cfg.listen_host}:{cfg.listen_port}"
    else:
        mode = f"regular@{cfg.listen_host}:{cfg.listen_port}"
    args = [
        # mitmdump with the addon built in (recorder/dump.py): the same command line as
        # `mitmdump -s recorder/addon.py`, without what a script layer costs every frame.
        sys.executable, "-m", "wstape.recorder.dump",
        "--mode", mode,
        "--set", f"wstape_dir={cfg.out}",
        "--set", f"wstape_redact={'true' if cfg.redact else 'false'}",
        "--set", f"wstape_segment_mb={cfg.segment_mb}",
        "--set", f"wstape_flush_ms={cfg.flush_ms}",
        "--set", f"wstape_status={'true' if cfg.status else 'false'}",
        # Our own status line replaces mitmdump's line per flow.
        "--set", "flow_detail=0",
    ]  # fmt: skip
    for name in cfg.redact_fields:
        args += ["--set", f"wstape_redact_fields={name}"]
    for pattern in cfg.redact_patterns:
        args += ["--set", f"wstape_redact_patterns={pattern}"]
    if cfg.certs:
        args += ["--certs", f"*={cfg.certs}"]
    if cfg.confdir:
        args += ["--set", f"confdir={cfg.confdir}"]
    if cfg.upstream_ca:
        args += ["--set", f"ssl_verify_upstream_trusted_ca={cfg.upstream_ca}"]
    if cfg.insecure:
        args += ["--set", "ssl_insecure=true"]
    for item in cfg.extra:
        args += ["--set", item]
    return args


def _telling(line: str) -> bool:
    """A line that says why mitmdump stopped; not mitmproxy's closing "Error logged during
    startup, exiting...", which follows the line that does."""
    return bool(line.strip()) and not line.startswith("Error logged during startup")


@dataclass
class RecorderProcess:
    """A running mitmdump with the addon. Output lines go to `on_line`, status
    counters to `on_status`; stop() asks for a clean shutdown (flush, close)."""

    cfg: RecordConfig
    on_line: Callable[[str], None] = lambda line: None
    on_status: Callable[[dict[str, int]], None] = lambda counters: None
    proc: subprocess.Popen | None = None
    last_status: dict[str, int] = field(default_factory=dict)
    tail: list[str] = field(default_factory=list)  # the last lines mitmdump printed
    _reader: threading.Thread | None = None
    _listening: threading.Event = field(default_factory=threading.Event)

    def start(self, timeout: float = 30.0) -> RecorderProcess:
        self.proc = subprocess.Popen(
            mitmdump_args(self.cfg),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            # Own process group: a Ctrl-C reaches us, and we decide how mitmdump stops.
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait_listening(timeout)
        return self

    def _read(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            counters = parse_status(line)
            if counters is not None:
                self.last_status = counters
                self.on_status(counters)
                continue
            if "listening at" in line:
                self._listening.set()
            self.tail = [*self.tail[-9:], line]
            self.on_line(line)

    def _wait_listening(self, timeout: float) -> None:
        """Waits for mitmdump's own 'listening at' line: a TCP probe could be answered
        by whatever else holds the port."""
        assert self.proc
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None:
                self._join_reader()
                last = next((line for line in reversed(self.tail) if _telling(line)), "")
                raise LaunchError(f"mitmdump exited with code {self.proc.returncode}: {last}")
            if time.monotonic() > deadline:
                self.stop()
                where = f"{self.cfg.listen_host}:{self.cfg.listen_port}"
                raise LaunchError(f"mitmdump did not listen on {where} in {timeout:.0f}s")

    def wait(self) -> int:
        assert self.proc
        code = self.proc.wait()
        self._join_reader()
        return code

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM → mitmdump shuts down, the addon flushes and closes the capture."""
        assert self.proc
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._join_reader()
        return self.proc.returncode

    def kill(self) -> None:
        assert self.proc
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        self._join_reader()

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(5)

    def __enter__(self) -> RecorderProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
