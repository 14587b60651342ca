"""A recorder for a test: `Recording` runs `wstape record`'s mitmdump in front of a backend, says
where the test's client connects, and judges what it has recorded so far, failing the test with
each failed run's report. The pytest plugin's `wstape_recorder` fixture hands these out
(wstape/pytest_plugin.py); a script can use one as a context manager."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from wstape.analyzer.api import PathLike, analyze
from wstape.analyzer.profile import Profile
from wstape.analyzer.reports.report import Report
from wstape.analyzer.reports.text import render_run
from wstape.recorder.capture import Message, read_capture
from wstape.recorder.launch import RecordConfig, RecorderProcess, check_upstream

# The recorder reports its frame count once a second (recorder/addon.py, STATUS_EVERY_S); a
# report read this long after analyze() was called was surely counted after it.
_STATUS_LAG_S = 0.2
_CATCH_UP_S = 10.0  # the longest analyze() waits for the capture to hold what the client saw


class Recording:
    """A recorder in front of `upstream` (http(s):// or ws(s)://, with the path clients use),
    writing the capture to `capture`. `url` is where the client connects instead: ws://, same
    path and query. `analyze()` and `assert_passed()` judge the runs recorded so far under
    `profile` and the timing targets given (max_first_event_s, max_tool_s, max_total_s)."""

    def __init__(
        self,
        upstream: str,
        capture: PathLike,
        profile: Profile | PathLike | None = None,
        upstream_ca: PathLike | None = None,
        insecure: bool = False,
        **targets: float,
    ) -> None:
        self.upstream = upstream
        self.capture = Path(capture)
        self.profile = profile
        self.targets = targets
        self.note = ""  # said under a failed assert_passed(), e.g. where the capture is kept
        self._port = _free_port()
        config = RecordConfig(
            out=self.capture, upstream=check_upstream(upstream), listen_port=self._port,
            upstream_ca=Path(upstream_ca) if upstream_ca else None, insecure=insecure,
        )  # fmt: skip
        self._status = threading.Condition()
        self._counted: tuple[float, int] = (float("-inf"), 0)  # (when read, frames)
        self._process = RecorderProcess(config, on_status=self._on_status)

    @property
    def url(self) -> str:
        parts = urlsplit(self.upstream)
        return urlunsplit(("ws", f"127.0.0.1:{self._port}", parts.path, parts.query, ""))

    def start(self) -> Recording:
        self._process.start()
        return self

    def stop(self) -> None:
        """Stops the recorder; the capture is flushed and closed."""
        if self._process.proc is not None and self._process.proc.poll() is None:
            self._process.stop()

    def __enter__(self) -> Recording:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def analyze(self) -> Report:
        """The Report of every run recorded so far: every frame the client has seen by this
        call is in it (the capture is read once the recorder has written them)."""
        self._catch_up()
        return analyze(self.capture, self.profile, warn=_ignore, **self.targets)

    def assert_passed(self) -> Report:
        """Raises AssertionError naming each failed run, its codes and its timeline, unless
        every run recorded so far passed; returns the Report."""
        __tracebackhide__ = True  # pytest shows the test's own line, not this one
        report = self.analyze()
        if not report.passed:
            raise AssertionError(failure_message(report, self.note))
        return report

    def _on_status(self, counters: dict[str, int]) -> None:
        with self._status:
            self._counted = (time.monotonic(), counters.get("frames", 0))
            self._status.notify_all()

    def _catch_up(self) -> None:
        """Waits for a frame count the recorder reported after this call, then for the
        capture to hold that many messages: the recorder sees each frame before the client
        does, and writes it within its flush interval."""
        if not self._running():
            return  # stopped: the capture is closed and whole
        asked = time.monotonic()
        deadline = asked + _CATCH_UP_S

        def counted_since() -> bool:
            return self._counted[0] >= asked + _STATUS_LAG_S

        with self._status:
            while not self._status.wait_for(counted_since, 0.25):
                if not self._running() or time.monotonic() > deadline:
                    break
            frames = self._counted[1]
        while _messages(self.capture) < frames and time.monotonic() < deadline:
            time.sleep(0.02)

    def _running(self) -> bool:
        return self._process.proc is not None and self._process.proc.poll() is None


def failure_message(report: Report, note: str = "") -> str:
    """What a failed assert_passed() says: a line naming the failed runs and their codes, then
    each one's report with its timeline, as `wstape analyze` prints it."""
    tally = report.tally
    if not tally.runs:
        head = "wstape: no chat run was recorded: nothing was checked"
        return head + (f"\n{note}" if note else "")
    failed = [f"{v.run.label} ({', '.join(v.codes)})" for v in report.failed]
    lines = [f"wstape: {tally.failed} of {tally.runs} runs failed: {'; '.join(failed)}", ""]
    lines += [render_run(verdict) + "\n" for verdict in report.failed]
    if note:
        lines.append(note)
    return "\n".join(lines)


def _messages(capture: Path) -> int:
    if not capture.exists():
        return 0
    return sum(type(r) is Message for r in read_capture(capture, warn=_ignore))


def _ignore(message: str) -> None:
    """A record cut short at the end of a capture being written is expected: not a warning."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
