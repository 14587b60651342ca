"""HTTP streams written as a capture the way the recorder writes them (capture format 2): an open
with its transport, method and status, the request body as one client message, each server-sent
event as one server message with its `event` name, and a close with how the stream ended. The
wstape CLI judges such captures in tests/test_sse_*.py."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wstape.recorder.capture import CaptureWriter, Open

T0 = 1_700_000_000.0


@dataclass(frozen=True)
class Pause:
    """In a stream's events: the server takes this long before its next event."""

    seconds: float


@dataclass(frozen=True)
class Sse:
    """One server-sent event: its data, and the `event:` name when the stream gives one."""

    data: str
    event: str | None = None


class Streams:
    """A capture of HTTP streams, one POST after another on the capture's clock."""

    def __init__(self, out: Path, host: str = "http://127.0.0.1:8000") -> None:
        self.out = out
        self.host = host
        self.writer = CaptureWriter(out)
        self.ts = T0

    def post(
        self,
        name: str,
        path: str,
        body: dict | str,
        events: Iterable[Sse | Pause],
        first: float = 0.1,
        every: float = 0.05,
        end: str | None = "complete",
        after: float = 0.5,
    ) -> str:
        """One request and its stream, on connection `name`: the body `after` seconds past the
        previous stream, the response's headers and first event `first` seconds later, the
        others `every` apart. With `end` None the stream is still open when the capture ends."""
        conn = name
        asked = self.ts + after
        self.ts = asked + first
        self.writer.open(Open(
            conn, self.ts, self.host + path, path, None, "127.0.0.1:50000", "127.0.0.1:8000",
            (("content-type", "application/json"),), (("content-type", "text/event-stream"),),
            transport="sse", method="POST", status=200,
        ))  # fmt: skip
        data = body if isinstance(body, str) else json.dumps(body)
        self.writer.message(conn, asked, True, True, data.encode())
        gap = 0.0
        for item in events:
            if isinstance(item, Pause):
                gap += item.seconds
                continue
            self.ts += gap
            gap = every
            self.writer.event(conn, self.ts, item.data.encode(), event=item.event)
        if end is not None:
            self.ts += 0.01
            closed_by = {"complete": "server", "reset": "server", "abort": "client"}[end]
            self.writer.close(conn, self.ts, None, "", closed_by, end=end)
        return conn

    def wait(self, seconds: float) -> None:
        self.ts += seconds

    def done(self) -> Path:
        self.writer.close_all()
        return self.out


def wstape(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wstape", *args], capture_output=True, text=True, timeout=120
    )


def analyze(capture: Path, *args: str) -> tuple[int, dict]:
    """`wstape analyze CAPTURE --json -`: its exit code and its JSON report."""
    result = wstape("analyze", str(capture), "--json", "-", *args)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def verdicts(report: dict) -> dict[str, tuple[str, str, list[str]]]:
    """Each run's (status, outcome, failure codes) by its connection: one request each."""
    return {run["connections"][0]: (run["status"], run["outcome"],
                                    [f["code"] for f in run["failures"]])
            for run in report["runs"]}  # fmt: skip
