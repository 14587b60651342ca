"""The recorder's mitmproxy addons, one class per concern, composed in one list as mitmproxy's
own `addons/__init__.py` composes its: Recorder writes every WebSocket connection and every HTTP
event stream (SSE, NDJSON) into a wstape capture, StatusLog logs its counters for `wstape
record`. Hooks are a few lines each and hand off to plain code: the transports
(recorder/transports/) and the capture writer.

This file is the script users load: `mitmdump -s "$(wstape record --addon-path)" --set
wstape_dir=captures/NAME` (or `-s recorder/addon.py` in a checkout), in a Python where wstape is
installed. `wstape record` builds the same list into mitmdump instead (recorder/dump.py). The
addons never break traffic: an error is logged once, loudly, and the connection goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path

from mitmproxy import ctx, exceptions, http

from wstape.recorder import __version__
from wstape.recorder.capture import SEGMENT_DELETED, CaptureWriter
from wstape.recorder.redact_payload import PayloadRedactor, redactor
from wstape.recorder.status import status_line
from wstape.recorder.transports import sse, websocket
from wstape.recorder.transports.event_stream import StreamEvent

log = logging.getLogger("wstape")
STATUS_EVERY_S = 1.0


class Recorder:
    """Writes each WebSocket open, message, close and error, and each HTTP event stream's open,
    request, events and end, to the capture folder, and counts them for the status line."""

    def __init__(self) -> None:
        self.writer: CaptureWriter | None = None
        self.failed: str | None = None
        self.trim = True
        self.redact_payload: PayloadRedactor | None = None
        self.frames = 0
        self.frames_lost = 0
        self.bug_logged = False
        self.bytes = 0
        self.connections = 0
        self._ticker: asyncio.Task | None = None

    def load(self, loader) -> None:
        loader.add_option(
            "wstape_dir", str | None, None,
            "Folder to record WebSocket and HTTP event-stream traffic into (created if missing). "
            "Recording is off until this is set.",
        )  # fmt: skip
        loader.add_option(
            "wstape_redact", bool, True,
            "Redact secrets before they reach disk: in handshakes (Authorization, Cookie, "
            "token-like query parameters, credential subprotocols) and in message payloads "
            "(secret-named JSON fields, API keys, tokens, private keys, card numbers). "
            "Turn off only for captures that never leave your machine.",
        )  # fmt: skip
        loader.add_option(
            "wstape_redact_fields", Sequence[str], [],
            "More JSON field names whose values are redacted from payloads, at any depth.",
        )  # fmt: skip
        loader.add_option(
            "wstape_redact_patterns", Sequence[str], [],
            "More regular expressions whose matches are redacted from text payloads.",
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

    def configure(self, updated: set[str]) -> None:
        if "wstape_segment_mb" in updated and ctx.options.wstape_segment_mb < 1:
            raise exceptions.OptionsError("wstape_segment_mb must be at least 1")
        if "wstape_flush_ms" in updated and not 1 <= ctx.options.wstape_flush_ms <= 60_000:
            raise exceptions.OptionsError("wstape_flush_ms must be between 1 and 60000")
        self.trim = ctx.options.wstape_trim and not (
            ctx.options.save_stream_file or getattr(ctx.options, "hardump", "")
        )
        if updated & {"wstape_redact", "wstape_redact_fields", "wstape_redact_patterns"}:
            self.redact_payload = _payload_redactor()
        if "wstape_dir" in updated:
            self._close_writer()
            if ctx.options.wstape_dir:
                self._open_writer(Path(ctx.options.wstape_dir))
        elif self.writer and updated & {"wstape_segment_mb", "wstape_flush_ms"}:
            self.writer.segment_bytes = ctx.options.wstape_segment_mb * 1024 * 1024
            self.writer.flush_interval = ctx.options.wstape_flush_ms / 1000

    def _redaction(self) -> dict:
        """The redaction in force, for the capture's header."""
        if not ctx.options.wstape_redact:
            return {"handshake": False, "payload": False}
        rules = self.redact_payload.rules() if self.redact_payload else {}
        return {"handshake": True, "payload": True, **rules}

    def _open_writer(self, directory: Path) -> None:
        try:
            self.writer = CaptureWriter(
                directory,
                recorder_version=__version__,
                segment_bytes=ctx.options.wstape_segment_mb * 1024 * 1024,
                flush_interval=ctx.options.wstape_flush_ms / 1000,
                redaction=self._redaction(),
            )
        except OSError as exc:
            raise exceptions.OptionsError(
                f"wstape_dir: cannot write captures to {directory}: {exc.strerror or exc}"
            ) from None
        self.failed = None
        log.info(f"wstape: recording WebSocket traffic into {self.writer.segment_path}")

    def running(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._flush_often())

    async def _flush_often(self) -> None:
        """Flushes an idle tail to disk, once per interval."""
        while True:
            await asyncio.sleep(ctx.options.wstape_flush_ms / 1000)
            self._guard(lambda w: w.flush())

    def counters(self) -> dict[str, int]:
        """What the status line shows, in its order."""
        return {
            "connections": self.connections,
            "open": self.writer.open_connections if self.writer else 0,
            "frames": self.frames,
            "bytes": self.bytes,
            "lost": self.frames_lost,
        }

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        self.connections += 1
        self._guard(lambda w: w.open(websocket.opened(flow, ctx.options.wstape_redact)))

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
                payload = message.content
                if self.redact_payload is not None:
                    payload = self.redact_payload(payload, message.is_text)
                writer.message(
                    flow.id, message.timestamp, message.from_client, message.is_text, payload
                )
            except Exception as exc:
                self._handle(exc)
        elif self.failed:
            self.frames_lost += 1
        if self.trim:
            # Keep the last message: addons after this one (the dumper) read messages[-1].
            del flow.websocket.messages[:-1]

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self._guard(lambda w: w.write(websocket.ended(flow)))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        assert flow.response is not None
        kind = sse.stream_kind(flow.response)
        if kind is None:
            return  # not a stream: mitmproxy handles it as it would without wstape
        try:
            flow.response.stream = sse.tap(flow, kind[1](), self._stream_event, self._handle)
        except ValueError as exc:
            flow.response.stream = flow.response.stream or True  # streamed, not recorded
            log.warning(f"wstape: not recording {exc}")
            return
        self.connections += 1
        body = sse.request_message(flow)
        if self._counted(body.payload) is not None:
            self._guard(lambda w: self._stream_opened(w, flow, kind[0], body))

    def response(self, flow: http.HTTPFlow) -> None:
        if sse.tap_of(flow) is not None:
            self._guard(lambda w: w.write(sse.ended(flow)))

    def error(self, flow: http.HTTPFlow) -> None:
        if sse.tap_of(flow) is not None:
            self._guard(lambda w: w.write(sse.ended(flow)))

    def _stream_opened(self, writer, flow: http.HTTPFlow, transport: str, body) -> None:
        writer.open(sse.opened(flow, transport, ctx.options.wstape_redact))
        payload = body.payload
        if self.redact_payload is not None:
            payload = self.redact_payload(payload, body.is_text)
        writer.message(body.connection, body.ts, True, body.is_text, payload)

    def _stream_event(self, connection: str, ts: float, event: StreamEvent) -> None:
        """One event of a recorded stream, as its chunk arrives (the tap calls it)."""
        writer = self._counted(event.data)
        if writer is not None:
            try:
                data, event_id = event.data, event.event_id
                if self.redact_payload is not None:
                    data = self.redact_payload(data, True)
                    if event_id:  # rare, but an id is the client's to send back: a token fits
                        event_id = self.redact_payload(event_id.encode(), True).decode()
                writer.event(connection, ts, data, event.event, event_id, event.retry)
            except Exception as exc:
                self._handle(exc)

    def _counted(self, payload: bytes) -> CaptureWriter | None:
        """Counts a stream's message for the status line; the writer to write it with, if any."""
        self.frames += 1
        self.bytes += len(payload)
        if self.writer is None and self.failed:
            self.frames_lost += 1
        return self.writer

    def done(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
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


def _payload_redactor() -> PayloadRedactor | None:
    if not ctx.options.wstape_redact:
        return None
    try:
        return redactor(ctx.options.wstape_redact_fields, ctx.options.wstape_redact_patterns)
    except re.error as exc:
        raise exceptions.OptionsError(
            f"wstape_redact_patterns: {exc.pattern!r} is not a regular expression: {exc}"
        ) from None


class StatusLog:
    """Logs the recorder's counters as one 'wstape-status' line a second (recorder/status.py),
    which `wstape record` turns into its live line; off unless `wstape_status` is set."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._ticker: asyncio.Task | None = None

    def load(self, loader) -> None:
        loader.add_option(
            "wstape_status", bool, False,
            "Log a 'wstape-status' line every second (used by `wstape record`).",
        )  # fmt: skip

    def running(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            if ctx.options.wstape_status:
                self._log()
            await asyncio.sleep(STATUS_EVERY_S)

    def done(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if ctx.options.wstape_status:
            self._log()

    def _log(self) -> None:
        log.info(status_line(self.recorder.counters()))


def default_addons() -> list:
    """The recorder's addons, in the order mitmproxy calls them."""
    recorder = Recorder()
    # The status line first: at shutdown it reports before the recorder closes the capture,
    # so its last line still counts the connections that were open.
    return [StatusLog(recorder), recorder]


addons = default_addons()  # what `mitmdump -s` loads
