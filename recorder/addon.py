"""The mitmproxy addon that records every WebSocket connection into a wstape capture.

Load it with `mitmdump -s recorder/addon.py --set wstape_dir=captures/NAME`, or let
`wstape record` do it. Hooks hand off to the plain-Python CaptureWriter; the
addon never breaks traffic: an error is logged once, loudly, and the connection
goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from pathlib import Path

from mitmproxy import ctx, exceptions, http

try:
    from wstape.recorder import __version__
    from wstape.recorder.capture import SEGMENT_DELETED, CaptureWriter, Open
    from wstape.recorder.handshake import open_record
except ImportError:  # loaded by a mitmdump whose Python lacks wstape: use this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from wstape.recorder import __version__
    from wstape.recorder.capture import SEGMENT_DELETED, CaptureWriter, Open
    from wstape.recorder.handshake import open_record

log = logging.getLogger("wstape")
STATUS_PREFIX = "wstape-status "


class Recorder:
    """Writes each WebSocket open, message, close and error to the capture folder."""

    def __init__(self) -> None:
        self.writer: CaptureWriter | None = None
        self.failed: str | None = None
        self.trim = True
        self.frames = 0
        self.frames_lost = 0
        self.bug_logged = False
        self.bytes = 0
        self.connections = 0
        self._ticker: asyncio.Task | None = None

    def load(self, loader) -> None:
        loader.add_option(
            "wstape_dir", str | None, None,
            "Folder to record WebSocket traffic into (created if missing). "
            "Recording is off until this is set.",
        )  # fmt: skip
        loader.add_option(
            "wstape_redact", bool, True,
            "Redact handshake secrets (Authorization, Cookie, token-like query "
            "parameters, JWT subprotocols) before they reach disk. Turn off only "
            "for captures that never leave your machine.",
        )  # fmt: skip
        loader.add_option(
            "wstape_segment_mb", int, 64,
            "Start a new segment file once the current one reaches this many MiB.",
        )  # fmt: skip
        loader.add_option(
            "wstape_flush_ms", int, 100,
            "Write buffered records to disk at least this often (milliseconds); "
            "a killed recorder loses at most this much.",
        )  # fmt: skip
        loader.add_option(
            "wstape_trim", bool, True,
            "Drop each message from the flow once it is written, so memory stays "
            "flat on endless sessions. Ignored while -w or hardump need whole flows.",
        )  # fmt: skip
        loader.add_option(
            "wstape_status", bool, False,
            "Log a 'wstape-status' line every second (used by `wstape record`).",
        )  # fmt: skip

    def configure(self, updated: set[str]) -> None:
        if "wstape_segment_mb" in updated and ctx.options.wstape_segment_mb < 1:
            raise exceptions.OptionsError("wstape_segment_mb must be at least 1")
        if "wstape_flush_ms" in updated and not 1 <= ctx.options.wstape_flush_ms <= 60_000:
            raise exceptions.OptionsError("wstape_flush_ms must be between 1 and 60000")
        self.trim = ctx.options.wstape_trim and not (
            ctx.options.save_stream_file or getattr(ctx.options, "hardump", "")
        )
        if "wstape_dir" in updated:
            self._close_writer()
            if ctx.options.wstape_dir:
                self._open_writer(Path(ctx.options.wstape_dir))
        elif self.writer and updated & {"wstape_segment_mb", "wstape_flush_ms"}:
            self.writer.segment_bytes = ctx.options.wstape_segment_mb * 1024 * 1024
            self.writer.flush_interval = ctx.options.wstape_flush_ms / 1000

    def _open_writer(self, directory: Path) -> None:
        try:
            self.writer = CaptureWriter(
                directory,
                recorder_version=__version__,
                segment_bytes=ctx.options.wstape_segment_mb * 1024 * 1024,
                flush_interval=ctx.options.wstape_flush_ms / 1000,
            )
        except OSError as exc:
            raise exceptions.OptionsError(
                f"wstape_dir: cannot write captures to {directory}: {exc.strerror or exc}"
            ) from None
        self.failed = None
        log.info(f"wstape: recording WebSocket traffic into {self.writer.segment_path}")

    def running(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        """Flushes an idle tail to disk and reports progress, once per interval."""
        last_status = 0.0
        while True:
            interval = ctx.options.wstape_flush_ms / 1000
            await asyncio.sleep(interval)
            self._guard(lambda w: w.flush())
            now = time.monotonic()
            if ctx.options.wstape_status and now - last_status >= 1.0:
                last_status = now
                self._log_status()

    def _log_status(self) -> None:
        open_now = self.writer.open_connections if self.writer else 0
        log.info(
            f"{STATUS_PREFIX}connections={self.connections} open={open_now} "
            f"frames={self.frames} bytes={self.bytes} lost={self.frames_lost}"
        )

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        self.connections += 1
        self._guard(lambda w: w.open(self._open_record(flow)))

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        assert flow.websocket is not None
        message = flow.websocket.messages[-1]
        self.frames += 1
        self.bytes += len(message.content)
        # The hot path: every frame of every connection passes here, so no closure
        # and no _guard call, just the same handling inline.
        writer = self.writer
        if writer is not None:
            try:
                writer.message(
                    flow.id, message.timestamp, message.from_client, message.is_text,
                    message.content,
                )  # fmt: skip
            except Exception as exc:
                self._handle(exc)
        elif self.failed:
            self.frames_lost += 1
        if self.trim:
            # Keep the last message: addons after this one (the dumper) read messages[-1].
            del flow.websocket.messages[:-1]

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        ws = flow.websocket
        assert ws is not None
        ts = ws.timestamp_end or time.time()
        if flow.error:
            self._guard(lambda w: w.error(flow.id, ts, flow.error.msg))
            return
        closed_by = {True: "client", False: "server"}.get(ws.closed_by_client)
        self._guard(lambda w: w.close(flow.id, ts, ws.close_code, ws.close_reason or "", closed_by))

    def done(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if ctx.options.wstape_status:
            self._log_status()
        self._close_writer()

    def _close_writer(self) -> None:
        writer, self.writer = self.writer, None
        if writer is None:
            return
        now = time.time()
        # Connections mitmproxy never ended (shutdown mid-chat) get an error record,
        # so a reader can tell "recorder stopped" from "chat went silent".
        for connection in writer.open_connection_ids():
            with contextlib.suppress(OSError, KeyError):
                writer.error(connection, now, "recorder stopped while the connection was open")
        try:
            writer.close_all()
        except OSError as exc:
            self._fail(exc, writer)

    def _open_record(self, flow: http.HTTPFlow) -> Open:
        response = flow.response
        ts = (response.timestamp_end if response else None) or time.time()
        return open_record(flow, flow.id, ts, ctx.options.wstape_redact)

    def _guard(self, action) -> None:
        """Runs a writer action; on failure, logs once and keeps traffic flowing."""
        if self.writer is not None:
            try:
                action(self.writer)
            except Exception as exc:
                self._handle(exc)

    def _handle(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self._fail(exc)
        elif isinstance(exc, KeyError):
            pass  # a connection that opened before recording started
        elif not self.bug_logged:  # an addon bug must never cost the user their traffic
            self.bug_logged = True
            log.error(
                "wstape: recording an event failed; traffic continues (further failures "
                "like this are not logged)",
                exc_info=exc,
            )

    def _fail(self, exc: OSError, writer: CaptureWriter | None = None) -> None:
        """Recording stops for good: one error line, and the frames not on disk are
        counted as lost (the status line shows them)."""
        writer = writer or self.writer
        self.writer = None
        # os.open names the file it could not create (a new segment); os.write does not.
        where = exc.filename or (writer.segment_path if writer else None) or "capture"
        self.failed = f"{where}: {exc.strerror or exc}"
        kept = ", everything written so far stays readable"
        if exc.strerror == SEGMENT_DELETED:
            kept = ""
        log.error(
            f"wstape: cannot write the capture ({self.failed}); recording stopped, "
            f"traffic continues{kept}"
        )
        if writer is not None:
            self.frames_lost += writer.abandon()


addons = [Recorder()]
