"""Replay, the I/O around plan.py: drives a Plan against a live server, one task per recorded
connection (a WebSocket through the websockets asyncio client, here; an HTTP stream through
streams.py), and records what the new server answers with the capture writer, so the replayed
capture is analyzed and compared like any other."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from wstape.analyzer.api import resolve_profile
from wstape.analyzer.profile import Profile
from wstape.analyzer.replay.handshake import replay_url
from wstape.analyzer.replay.options import (
    ReplayError,
    ReplayOptions,
    check_out,
    check_target,
    dropped_notes,
    request_headers,
    target_for,
)
from wstape.analyzer.replay.plan import ConnectionPlan, Plan, plan_replay
from wstape.analyzer.replay.records import describe, describe_close, open_record
from wstape.analyzer.replay.state import ConnectionResult, Conversation, IdMap, ReplayResult
from wstape.analyzer.replay.streams import StreamReplay, http_client
from wstape.analyzer.replay.waits import Waiting, sleep_until
from wstape.recorder import __version__
from wstape.recorder.capture import CaptureWriter, read_capture
from wstape.recorder.redact import redact_url

PathLike = str | os.PathLike
CLOSE_TIMEOUT = 2.0  # for the closing handshake; a server that never answers is a dropped one
__all__ = ["ReplayError", "ReplayOptions", "ReplayResult", "check_target", "replay"]


def replay(
    capture: PathLike,
    target: str,
    out: PathLike,
    options: ReplayOptions | None = None,
    profile: Profile | PathLike | None = None,
    warn: Callable[[str], None] | None = None,
) -> ReplayResult:
    """Replays every recorded connection of `capture` against `target` and records the new
    conversations into the capture folder `out`, which must not hold a capture yet.

    Raises ReplayError for a bad target or out, CaptureError for an unreadable
    capture; a connection that cannot be replayed is a ConnectionResult with an `error`, and
    everything replayed is on disk when this returns (or raises, even on Ctrl-C).
    """
    check_target(target)
    out = Path(out)
    check_out(out)
    resolved = resolve_profile(profile)
    plan = plan_replay(read_capture(capture, warn), resolved)
    writer = CaptureWriter(out, recorder_version=f"{__version__} (replay)")
    started = time.monotonic()
    try:
        driver = _Replay(plan, target, writer, options or ReplayOptions(), resolved)
        results = asyncio.run(driver.run())
    finally:
        writer.close_all()
    ids = MappingProxyType(dict(driver.ids.learned))
    return ReplayResult(
        os.fspath(capture), target, out, tuple(results), ids, time.monotonic() - started
    )


class _Live(Waiting):
    """One open replay connection: its socket, conversation and counters; it wakes whoever
    waits for the next frame or for the close."""

    def __init__(
        self, ws: ClientConnection, conv: Conversation, writer: CaptureWriter, connection: str
    ) -> None:
        super().__init__(conv)
        self.ws = ws
        self.writer = writer
        self.connection = connection
        self.sent = 0
        self.answered = 0
        self.closing = False  # the replay started the close, not the server

    async def read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for data in self.ws:
                payload, is_text = (data.encode(), True) if isinstance(data, str) else (data, False)
                self.writer.message(self.connection, time.time(), False, is_text, payload)
                answer = self.conv.receive(is_text, payload, loop.time())
                if answer is not None and await self.send(answer, True):
                    self.answered += 1
                await self.notify()
        except ConnectionClosed:
            pass
        finally:
            self.conv.close(loop.time())
            await self.notify()

    async def send(self, payload: bytes, is_text: bool) -> bool:
        """Sends one message and records it; False when the connection is already closed."""
        if self.conv.closed:
            return False
        ts = time.time()
        try:
            # Bytes as a text frame: byte-exact, even for text that was not valid UTF-8.
            await self.ws.send(payload, text=is_text)
        except ConnectionClosed:
            return False
        self.writer.message(self.connection, ts, True, is_text, payload)
        return True


class _Replay:
    """One replay: a task per recorded connection, started when it started in the recording
    (and not before the connection it reconnected after has ended), at most `concurrency` open."""

    def __init__(
        self,
        plan: Plan,
        target: str,
        writer: CaptureWriter,
        options: ReplayOptions,
        profile: Profile,
    ) -> None:
        self.plan = plan
        self.target = target
        self.writer = writer
        self.options = options
        self.profile = profile
        self.ids = IdMap(plan.anchors)
        self.ended: dict[str, float] = {}
        self.done = {c.connection: asyncio.Event() for c in plan.connections}
        self.slots = asyncio.Semaphore(options.concurrency or len(plan.connections) or 1)
        self.t0 = 0.0
        self.transports: dict[str, Callable[[ConnectionPlan], Awaitable[ConnectionResult]]] = {}

    async def run(self) -> list[ConnectionResult]:
        flusher = asyncio.create_task(self._flush_often())
        try:
            async with http_client(self.options) as client:
                # The recorded offsets count from here, once the client is ready.
                self.t0 = asyncio.get_running_loop().time()
                streams = StreamReplay(client, self.target, self.writer, self.options, self.ids,
                                       self.plan.answers, self.profile)  # fmt: skip
                # Which client replays a recorded exchange, by its transport.
                self.transports = {"websocket": self._open_and_converse,
                                   "sse": streams.replay, "ndjson": streams.replay}  # fmt: skip
                return list(await asyncio.gather(*map(self._connection, self.plan.connections)))
        finally:
            flusher.cancel()

    async def _flush_often(self) -> None:
        # The writer flushes as it appends; this reaches disk with an idle tail too.
        while True:
            await asyncio.sleep(self.writer.flush_interval)
            self.writer.flush()

    async def _connection(self, plan: ConnectionPlan) -> ConnectionResult:
        loop = asyncio.get_running_loop()
        try:
            start = self.t0 + self.options.scaled(plan.start_s)
            if plan.after is not None:
                await self.done[plan.after].wait()
                start = max(start, self.ended[plan.after] + self.options.scaled(plan.after_s))
            await asyncio.sleep(max(start - loop.time(), 0.0))
            async with self.slots:
                return await self.transports.get(plan.transport, _unknown)(plan)
        finally:
            self.ended[plan.connection] = loop.time()
            self.done[plan.connection].set()

    async def _open_and_converse(self, plan: ConnectionPlan) -> ConnectionResult:
        options = self.options
        url = replay_url(target_for(self.target, "websocket"), plan.path, options.query)
        shown = redact_url(url)
        notes = dropped_notes(plan, options)
        try:
            ws = await connect(url, **self._connect_args(plan))
        except (OSError, WebSocketException, TimeoutError) as exc:
            error = f"cannot connect to {shown}: {describe(exc, options.open_timeout)}"
            return ConnectionResult(
                plan.connection, None, shown, unsent=len(plan.sends), error=error, notes=notes
            )
        loop = asyncio.get_running_loop()
        connection = str(uuid.uuid4())
        self.writer.open(open_record(connection, url, ws))
        conv = Conversation(plan, self.ids, self.plan.answers, loop.time(), self.profile)
        live = _Live(ws, conv, self.writer, connection)
        reader = asyncio.create_task(live.read())
        recorded = False
        try:
            outcome = await self._converse(plan, live)
            await self._close(live, 1000, "")
            await reader
            self._record_close(live)
            recorded = True
            return _result(plan, live, shown, outcome, notes)
        finally:
            if not recorded:
                # Stopped mid-conversation (Ctrl-C): the capture says so, as the recorder's does.
                reader.cancel()
                stopped = "replay stopped while the connection was open"
                self.writer.error(connection, time.time(), stopped)
                ws.transport.abort()

    async def _converse(self, plan: ConnectionPlan, live: _Live) -> _Outcome:
        """Sends the recorded messages as their replies come in, then ends as recorded."""
        options = self.options
        outcome = _Outcome()
        for i, send in enumerate(plan.sends):
            met = await live.until(send.wait, options.reply_timeout)
            if met is not None:
                await sleep_until(met + options.scaled(send.gap_s))
            payload, missing = self.ids.rewrite(send)
            outcome.missing.extend(m for m in missing if m not in outcome.missing)
            if not await live.send(payload, send.is_text):
                outcome.unsent, outcome.cut = len(plan.sends) - i, True
                return outcome
            live.sent += 1
        await self._end(plan, live, outcome)
        return outcome

    async def _end(self, plan: ConnectionPlan, live: _Live, outcome: _Outcome) -> None:
        loop = asyncio.get_running_loop()
        ending, timeout = plan.ending, self.options.reply_timeout
        met = await live.until(ending.wait, timeout)
        if ending.by_server:
            deadline = (loop.time() if met is None else met) + ending.gap_s + timeout
            if not await live.until_closed(deadline - loop.time()):
                outcome.notes.append(
                    f"the server did not end the connection as recorded ({ending.recorded}); "
                    "the replay closed it"
                )
            return
        if met is not None:
            await sleep_until(met + self.options.scaled(ending.gap_s))
        if live.conv.closed:
            outcome.cut = True  # the recorded client closed it; here the server did first
            return
        await self._close(live, ending.code, ending.reason)

    async def _close(self, live: _Live, code: int, reason: str) -> None:
        if not live.conv.closed:
            live.closing = True
            await live.ws.close(code, reason)

    def _record_close(self, live: _Live) -> None:
        ws = live.ws
        by = "client" if live.closing else "server"
        self.writer.close(live.connection, time.time(), ws.close_code, ws.close_reason or "", by)

    def _connect_args(self, plan: ConnectionPlan) -> dict:
        options = self.options
        subprotocols = plan.subprotocols if options.subprotocols is None else options.subprotocols
        args = {
            "additional_headers": request_headers(plan, options),
            "subprotocols": list(subprotocols) or None,
            "open_timeout": options.open_timeout,
            "close_timeout": CLOSE_TIMEOUT,
            "max_size": None,
            # The target is the server to talk to; HTTPS_PROXY must not reroute the replay.
            "proxy": None,
        }
        if plan.user_agent:
            args["user_agent_header"] = plan.user_agent
        if options.ssl is not None:
            args["ssl"] = options.ssl
        return args


@dataclass(eq=False)
class _Outcome:
    unsent: int = 0
    cut: bool = False  # the server ended the connection before the recorded client did
    missing: list[str] = field(default_factory=list)  # minted ids the new server never sent
    notes: list[str] = field(default_factory=list)


def _result(
    plan: ConnectionPlan, live: _Live, url: str, outcome: _Outcome, notes: tuple[str, ...]
) -> ConnectionResult:
    ended = describe_close(live.ws.close_code, live.ws.close_reason, live.closing)
    error = None
    if outcome.cut:
        left = f", {outcome.unsent} of {len(plan.sends)} client messages not sent"
        left = left if outcome.unsent else ""
        error = f"the server at {url} ended the connection mid-replay, {ended}{left}"
    if outcome.missing:
        shown = ", ".join(outcome.missing[:3])
        notes += (f"sent recorded ids the new server never minted again: {shown}",)
    notes += tuple(outcome.notes)
    if live.timeouts:
        notes += (f"{live.timeouts} waits for a reply gave up (--reply-timeout)",)
    return ConnectionResult(
        plan.connection, live.connection, url, sent=live.sent, unsent=outcome.unsent,
        answered=live.answered, received=live.conv.received, timeouts=live.timeouts,
        ended=ended, error=error, notes=notes,
    )  # fmt: skip


async def _unknown(plan: ConnectionPlan) -> ConnectionResult:
    error = f"a {plan.transport} exchange cannot be replayed (only websocket, sse and ndjson)"
    return ConnectionResult(plan.connection, None, plan.path, unsent=len(plan.sends), error=error,
                            transport=plan.transport)  # fmt: skip
