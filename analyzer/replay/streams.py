"""Replay of HTTP streams (SSE, NDJSON): re-sends one recorded request with httpx, reads the new
build's streamed answer through the recorder's own parsers (recorder/transports/event_stream.py)
and records it as the recorder would: an Open, the request body, each event stamped when it
arrived, a Close saying how the stream ended. drive.py runs one per recorded stream."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace

import httpx

from wstape.analyzer.profile import Profile
from wstape.analyzer.replay.handshake import replay_url
from wstape.analyzer.replay.options import (
    ReplayOptions,
    dropped_notes,
    request_headers,
    target_for,
)
from wstape.analyzer.replay.plan import ConnectionPlan
from wstape.analyzer.replay.records import describe_http, stream_open
from wstape.analyzer.replay.state import ConnectionResult, Conversation, IdMap
from wstape.analyzer.replay.waits import Waiting, sleep_until
from wstape.analyzer.reports.visible import visible
from wstape.recorder.capture import CaptureWriter
from wstape.recorder.redact import redact_url
from wstape.recorder.redact_payload import redactor
from wstape.recorder.transports.event_stream import (
    NdjsonParser,
    SseParser,
    StreamEvent,
    stream_kind,
)

REFUSED_BODY_BYTES = 64 * 1024  # read of a refused answer's body, for the report
REFUSED_BODY_CHARS = 200  # shown of it
STOPPED = "replay stopped while the connection was open"
# How a stream ended → who ended it (the capture's closed_by) and the summary's words.
ENDS = {
    "complete": ("server", "ended complete"),
    "reset": ("server", "cut short by the server (reset)"),
    "abort": ("client", "aborted by the replay"),
}


def http_client(options: ReplayOptions) -> httpx.AsyncClient:
    """The one HTTP client of a replay. No read timeout: a stream may be silent for long, and
    the plan's waits bound it; no proxy from the environment: the target is the server to test."""
    return httpx.AsyncClient(
        verify=options.ssl or ssl.create_default_context(),
        timeout=httpx.Timeout(options.open_timeout, read=None),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
        trust_env=False,
        follow_redirects=False,
    )


class _Stream(Waiting):
    """One replayed stream being read: every event is recorded as it comes and counted by the
    conversation, which wakes whoever waits for the next event or for the end."""

    def __init__(
        self,
        conv: Conversation,
        writer: CaptureWriter,
        connection: str,
        response: httpx.Response,
        parser: SseParser | NdjsonParser,
    ) -> None:
        super().__init__(conv)
        self.writer = writer
        self.connection = connection
        self.response = response
        self.parser = parser
        self.sse = isinstance(parser, SseParser)
        self.end: str | None = None  # "complete", "reset" or "abort" once it has ended
        self.reason = ""

    async def read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for chunk in self.response.aiter_bytes():
                ts, now = time.time(), loop.time()
                for event in self.parser.feed(chunk):
                    self._record(event, ts, now)
                await self.notify()
            for event in self.parser.end():
                self._record(event, time.time(), loop.time())
            self.end = "complete"
        except httpx.HTTPError as exc:
            self.end, self.reason = "reset", str(exc) or type(exc).__name__
        finally:
            self.conv.close(loop.time())
            await self.notify()

    def _record(self, event: StreamEvent, ts: float, now: float) -> None:
        if self.sse:
            self.writer.event(
                self.connection, ts, event.data, event.event, event.event_id, event.retry
            )
        else:
            self.writer.message(self.connection, ts, False, True, event.data)
        self.conv.receive(True, event.data, now, event)


class StreamReplay:
    """Replays recorded HTTP streams against one target through one httpx client."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        target: str,
        writer: CaptureWriter,
        options: ReplayOptions,
        ids: IdMap,
        answers: Mapping[str, bytes],
        profile: Profile,
    ) -> None:
        self.client = client
        self.target = target
        self.writer = writer
        self.options = options
        self.ids = ids
        self.answers = answers
        self.profile = profile

    async def replay(self, plan: ConnectionPlan) -> ConnectionResult:
        """Sends the recorded request, records the answer, and ends the stream as recorded."""
        options = self.options
        url = replay_url(target_for(self.target, plan.transport), plan.path, options.query)
        shown = redact_url(url)
        notes = dropped_notes(plan, options)
        body, missing = self.ids.rewrite(plan.sends[0]) if plan.sends else (b"", ())
        if missing:
            notes += (
                f"sent recorded ids the new server never minted again: {', '.join(missing[:3])}",
            )
        headers = request_headers(plan, options)
        if plan.user_agent:
            headers.append(("User-Agent", plan.user_agent))
        request = self.client.build_request(
            plan.method or "GET", url, headers=headers, content=body if plan.sends else None
        )
        sent_at = time.time()
        try:
            async with asyncio.timeout(options.open_timeout):
                response = await self.client.send(request, stream=True)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            error = f"cannot connect to {shown}: {describe_http(exc, options.open_timeout)}"
            return ConnectionResult(
                plan.connection,
                None,
                shown,
                unsent=len(plan.sends),
                error=error,
                notes=notes,
                transport=plan.transport,
            )
        try:
            return await self._answer(plan, request, response, sent_at, shown, notes)
        finally:
            await response.aclose()

    async def _answer(
        self,
        plan: ConnectionPlan,
        request: httpx.Request,
        response: httpx.Response,
        sent_at: float,
        url: str,
        notes: tuple[str, ...],
    ) -> ConnectionResult:
        """Records the answer: its open and the request body, then the stream, or why it is
        not one."""
        kind = stream_kind(response.headers.get("content-type"))
        transport = kind[0] if kind else plan.transport
        connection = str(uuid.uuid4())
        self.writer.open(stream_open(connection, time.time(), request, response, transport))
        if plan.sends:
            self.writer.message(connection, sent_at, True, plan.sends[0].is_text, request.content)
        result = ConnectionResult(plan.connection, connection, url, sent=len(plan.sends[:1]),
                                  notes=notes, transport=transport)  # fmt: skip
        closed = False
        try:
            refused = _refused(response, kind is not None)
            if kind is None or refused is not None:
                excerpt = await self._excerpt(response)
                self.writer.close(connection, time.time(), None, "", "server", "complete")
                error = f"the server at {url} answered {refused}{excerpt}"
                ended = f"HTTP {response.status_code}, {ENDS['complete'][1]}"
                result = replace(result, error=error, ended=ended)
            else:
                result = await self._read(plan, result, response, kind[1]())
            closed = True
            return result
        finally:
            if not closed:  # stopped mid-answer (Ctrl-C): the capture says so
                self.writer.error(connection, time.time(), STOPPED)

    async def _read(
        self,
        plan: ConnectionPlan,
        result: ConnectionResult,
        response: httpx.Response,
        parser: SseParser | NdjsonParser,
    ) -> ConnectionResult:
        """Reads and records the stream until it ends as recorded, then its close."""
        loop = asyncio.get_running_loop()
        conv = Conversation(plan, self.ids, self.answers, loop.time(), self.profile)
        stream = _Stream(conv, self.writer, result.connection, response, parser)
        reader = asyncio.create_task(stream.read())
        try:
            note = await self._end(plan, stream, reader)
        finally:
            reader.cancel()  # nothing to cancel unless the replay was stopped
        end = stream.end or "abort"
        closed_by, words = ENDS[end]
        self.writer.close(result.connection, time.time(), None, stream.reason, closed_by, end)
        error = None
        if end == "reset" and plan.ending.end != "reset":
            error = f"the server at {result.url} cut the stream short ({stream.reason})"
        notes = result.notes + ((note,) if note else ())
        if stream.timeouts:
            notes += (f"{stream.timeouts} waits for an event gave up (--reply-timeout)",)
        return replace(result, received=conv.received, timeouts=stream.timeouts, error=error,
                       notes=notes, ended=f"HTTP {response.status_code} {result.transport}, "
                       f"{words}")  # fmt: skip

    async def _end(self, plan: ConnectionPlan, stream: _Stream, reader: asyncio.Task) -> str | None:
        """Reads until the server ends the stream, where it did in the recording; where the
        recorded client aborted it, aborts after the event it had last seen and the gap."""
        loop = asyncio.get_running_loop()
        ending, timeout = plan.ending, self.options.reply_timeout
        met = await stream.until(ending.wait, timeout)
        note = None
        if ending.by_server:
            deadline = (loop.time() if met is None else met) + ending.gap_s + timeout
            if not await stream.until_closed(deadline - loop.time()):
                note = (
                    f"the server did not end the stream as recorded ({ending.recorded}); "
                    "the replay aborted it"
                )
        elif met is not None:
            await sleep_until(met + self.options.scaled(ending.gap_s))
        if not stream.conv.closed:
            stream.end = "abort"
            reader.cancel()
        await asyncio.wait([reader])
        return note

    async def _excerpt(self, response: httpx.Response) -> str:
        """The start of a refused answer's body, one line, secrets redacted; "" when empty."""
        data = b""
        try:
            async with asyncio.timeout(self.options.reply_timeout):
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) >= REFUSED_BODY_BYTES:
                        break
        except (httpx.HTTPError, TimeoutError):
            pass
        text = redactor()(data[:REFUSED_BODY_BYTES], True).decode("utf-8", "replace")
        text = visible(re.sub(r"\s+", " ", text).strip())
        if len(text) > REFUSED_BODY_CHARS:
            text = text[:REFUSED_BODY_CHARS] + "…"
        return f": {text}" if text else ""


def _refused(response: httpx.Response, is_stream: bool) -> str | None:
    """Why an answer is not a stream to replay into, in the report's words; None when it is."""
    status = response.status_code
    if not 200 <= status < 300:
        return f"HTTP {status} {response.reason_phrase}".rstrip()
    if not is_stream:
        shown = response.headers.get("content-type") or "no Content-Type"
        return (
            f"HTTP {status} with {shown}, not a stream (text/event-stream or application/x-ndjson)"
        )
    return None
