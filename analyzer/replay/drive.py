"""Replay, the I/O around plan.py: drives a Plan against a live server with the websockets
asyncio client, one task per recorded connection, and records what the new server answers with
the capture writer, so the replayed capture is analyzed and compared like any other."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl as ssl_module
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from wstape.analyzer.api import resolve_profile
from wstape.analyzer.profile import Profile
from wstape.analyzer.replay.plan import ConnectionPlan, Plan, Wait, plan_replay, replay_url
from wstape.analyzer.replay.records import describe, describe_close, open_record
from wstape.analyzer.replay.state import ConnectionResult, Conversation, IdMap, ReplayResult
from wstape.recorder import __version__
from wstape.recorder.capture import SEGMENT_SUFFIX, CaptureWriter, read_capture
from wstape.recorder.redact import redact_url

PathLike = str | os.PathLike
CLOSE_TIMEOUT = 2.0  # for the closing handshake; a server that never answers is a dropped one


class ReplayError(ValueError):
    """Replay cannot start: a bad target URL or an output folder that already holds a capture."""


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """How to replay: pacing, limits, and the fresh credentials the recording had redacted."""

    speed: float = 1.0  # 2 halves every recorded gap; waits for replies are never scaled
    as_fast_as_possible: bool = False  # no gaps at all; replies are still waited for
    concurrency: int = 0  # open connections at most; 0: as many as the recording had
    reply_timeout: float = 10.0  # how much later than recorded a reply may come
    open_timeout: float = 10.0
    headers: tuple[tuple[str, str], ...] = ()  # replace recorded headers of the same name
    token: str | None = None  # sent as `Authorization: Bearer TOKEN`
    query: tuple[tuple[str, str], ...] = ()  # replace recorded query parameters of that name
    subprotocols: tuple[str, ...] | None = None  # None: offer what the recorded client offered
    ssl: ssl_module.SSLContext | None = None

    def scaled(self, seconds: float) -> float:
        return 0.0 if self.as_fast_as_possible else seconds / self.speed


def check_target(target: str) -> None:
    parts = urlsplit(target)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ReplayError(f"the target must be a ws:// or wss:// URL with a host, not {target!r}")


def check_out(out: Path) -> None:
    if out.is_dir() and any(p.suffix == SEGMENT_SUFFIX for p in out.iterdir()):
        raise ReplayError(f"{out}: already holds a capture; replay into a new folder")
    if out.exists() and not out.is_dir():
        raise ReplayError(f"{out}: exists and is not a folder")


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


@dataclass(eq=False)
class _Live:
    """One open replay connection: its socket, conversation, counters, and a condition that
    wakes whoever waits for the next frame or for the close."""

    ws: ClientConnection
    conv: Conversation
    writer: CaptureWriter
    connection: str
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    sent: int = 0
    answered: int = 0
    timeouts: int = 0
    closing: bool = False  # the replay started the close, not the server

    async def read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for data in self.ws:
                payload, is_text = (data.encode(), True) if isinstance(data, str) else (data, False)
                self.writer.message(self.connection, time.time(), False, is_text, payload)
                answer = self.conv.receive(is_text, payload, loop.time())
                if answer is not None and await self.send(answer, True):
                    self.answered += 1
                async with self.changed:
                    self.changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.conv.close(loop.time())
            async with self.changed:
                self.changed.notify_all()

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

    async def until(self, wait: Wait, reply_timeout: float) -> float | None:
        """Waits for what `wait` names; its loop time, or None when closed or timed out."""
        conv = self.conv
        try:
            async with self.changed:
                await asyncio.wait_for(
                    self.changed.wait_for(lambda: conv.closed or conv.met_at(wait) is not None),
                    wait.expect_s + reply_timeout,
                )
        except TimeoutError:
            self.timeouts += 1
        return conv.met_at(wait)

    async def until_closed(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with self.changed:
                await asyncio.wait_for(self.changed.wait_for(lambda: self.conv.closed), timeout)
        return self.conv.closed


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

    async def run(self) -> list[ConnectionResult]:
        loop = asyncio.get_running_loop()
        self.t0 = loop.time()
        flusher = asyncio.create_task(self._flush_often())
        try:
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
                return await self._open_and_converse(plan)
        finally:
            self.ended[plan.connection] = loop.time()
            self.done[plan.connection].set()

    async def _open_and_converse(self, plan: ConnectionPlan) -> ConnectionResult:
        options = self.options
        url = replay_url(self.target, plan.path, options.query)
        shown = redact_url(url)
        notes = tuple(f"recorded {what} redacted, not replayed" for what in plan.dropped)
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
                await _sleep_until(met + options.scaled(send.gap_s))
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
            await _sleep_until(met + self.options.scaled(ending.gap_s))
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
        headers = {name.lower(): (name, value) for name, value in plan.headers}
        extra = list(options.headers)
        if options.token is not None:
            extra.append(("Authorization", f"Bearer {options.token}"))
        headers.update({name.lower(): (name, value) for name, value in extra})
        subprotocols = plan.subprotocols if options.subprotocols is None else options.subprotocols
        args = {
            "additional_headers": list(headers.values()),
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


async def _sleep_until(when: float) -> None:
    delay = when - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)
