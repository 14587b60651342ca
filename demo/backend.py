"""The demo agent backend: a real WebSocket server at /ws that plays the scenario scripts of
scenarios.py, so the recorder and the analyzer have live traffic to watch, good and broken."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from wstape.demo.scenarios import (
    BATCH_FORMS,
    BATCHED,
    ENVELOPES,
    SCENARIOS,
    Disconnect,
    Emit,
    Envelope,
    RunIds,
    Step,
    Timing,
    batch,
    mint,
    script,
    with_extra,
    wrap,
)


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8000
    ping_interval: float = 5.0
    timing: Timing = field(default_factory=Timing)
    drop: frozenset[str] = frozenset()
    scenario: str = "good"
    envelope: Envelope = "payload"
    certfile: str | None = None
    keyfile: str | None = None
    buffer: bool = False  # hold each run's events and send them at once when it ends
    protocol: str = "wstape-json"  # what the agent speaks: a key of HANDLERS
    extra: tuple[str, ...] = ()  # the product's own events, sent after agent_started
    batch: str | None = None  # send thinking and partial results in event_batch frames: list|map


@dataclass(frozen=True, slots=True)
class Paused:
    """The rest of a run whose connection the server closed, waiting for the user's `resume`."""

    ids: RunIds
    steps: list[Step]


def error_frame(message: str) -> str:
    return json.dumps({"type": "error", "payload": {"error": message}})


def run_timing(base: Timing, scenario: str, payload: dict[str, Any]) -> Timing:
    """The backend's timing with the message's own `tool_delay`/`first_delay` applied."""
    timing = base
    if isinstance(payload.get("tool_delay"), int | float):
        delay = float(payload["tool_delay"])
        if scenario == "slow_tool":
            timing = replace(timing, slow_tool_delay=delay)
        else:
            timing = replace(timing, tool_delay=delay)
    if isinstance(payload.get("first_delay"), int | float):
        timing = replace(timing, first_delay=float(payload["first_delay"]))
    if isinstance(payload.get("silence_delay"), int | float):
        timing = replace(timing, silence_delay=float(payload["silence_delay"]))
    return timing


def health(connection: ServerConnection, request: Request) -> Response | None:
    path = urlsplit(request.path).path
    if path == "/ws":
        return None
    if path == "/ws/health":
        return connection.respond(200, "ok")
    return connection.respond(404, "not found")


def first_subprotocol(connection: ServerConnection, offered: Sequence[str]) -> str | None:
    # Real backends echo the token-bearing subprotocol back; the recorder must redact both sides.
    return offered[0] if offered else None


class Backend:
    """Per-process state: open connections (for the leak scenario) and runs paused by a restart."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.connections: dict[ServerConnection, str] = {}
        self.paused: dict[str, Paused] = {}

    async def handler(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path).query if ws.request else "")
        user_id = query.get("user_id", ["anonymous"])[0]
        self.connections[ws] = user_id
        tasks: set[asyncio.Task] = set()

        def spawn(coro: Any) -> None:
            task = asyncio.create_task(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        try:
            welcome = {"user_id": user_id, "connection_id": mint("conn")}
            await ws.send(json.dumps({"type": "connection_established", "payload": welcome}))
            if self.config.ping_interval > 0:
                spawn(self._pings(ws))
            async for message in ws:
                await self._dispatch(ws, user_id, message, spawn)
        except ConnectionClosed:
            pass
        finally:
            del self.connections[ws]
            for task in list(tasks):
                task.cancel()

    async def _dispatch(
        self, ws: ServerConnection, user_id: str, message: str | bytes, spawn: Callable
    ) -> None:
        if isinstance(message, bytes):
            await ws.send(message)
            return
        try:
            frame = json.loads(message)
        except ValueError:
            await ws.send(error_frame("invalid JSON"))
            return
        if not isinstance(frame, dict):
            await ws.send(error_frame("expected a JSON object"))
            return
        kind = frame.get("type")
        payload = frame.get("payload") if isinstance(frame.get("payload"), dict) else {}
        if kind == "echo":
            await ws.send(message)
        elif kind == "user_message":
            await self._start_run(ws, user_id, payload, spawn)
        elif kind == "resume":
            paused = self.paused.get(str(payload.get("run_id")))
            if paused is None or paused.ids.user_id != user_id:
                await ws.send(error_frame(f"unknown run_id {payload.get('run_id')}"))
                return
            del self.paused[paused.ids.run_id]
            spawn(self._play(ws, paused.ids, paused.steps))

    async def _start_run(
        self, ws: ServerConnection, user_id: str, payload: dict[str, Any], spawn: Callable
    ) -> None:
        scenario = str(payload.get("scenario") or self.config.scenario)
        if scenario not in SCENARIOS:
            await ws.send(error_frame(f"unknown scenario {scenario}"))
            return
        tools = payload.get("tools", 1)
        timing = run_timing(self.config.timing, scenario, payload)
        steps = script(
            scenario, timing, tools=tools if isinstance(tools, int) else 1, drop=self.config.drop
        )
        extra = payload.get("extra_events", self.config.extra)
        if isinstance(extra, list | tuple) and all(isinstance(e, str) for e in extra):
            steps = with_extra(steps, tuple(extra), timing)
        thread_id = payload.get("thread_id")
        thread_id = thread_id if isinstance(thread_id, str) else mint("thread")
        ids = RunIds(mint("run"), thread_id, user_id)
        spawn(self._play(ws, ids, steps))

    async def _play(self, ws: ServerConnection, ids: RunIds, steps: list[Step]) -> None:
        # With `buffer`, events wait here and go out together, as through a buffering proxy.
        buffered: list[tuple[ServerConnection, str]] | None = [] if self.config.buffer else None
        batched: list[tuple[Emit, float]] = []  # batched events waiting for the next frame
        with contextlib.suppress(ConnectionClosed):
            for i, step in enumerate(steps):
                if step.delay > 0:
                    await asyncio.sleep(step.delay)
                if self._batches(step):
                    batched.append((step, time.time()))
                    continue
                await self._flush_batch(ws, ids, batched, buffered)
                if isinstance(step, Disconnect):
                    await self._release(buffered)
                    await self._disconnect(ws, ids, step, steps[i + 1 :])
                    return
                await self._emit(ws, ids, step, buffered)
            await self._flush_batch(ws, ids, batched, buffered)
            await self._release(buffered)

    def _batches(self, step: Step) -> bool:
        """Whether `step` waits for the next frame, as the seed product batches small events
        (a broadcast goes out on its own: it is the leak scenario's point)."""
        return bool(self.config.batch) and isinstance(step, Emit) and (
            step.event in BATCHED and not step.broadcast
        )  # fmt: skip

    async def _flush_batch(
        self, ws: ServerConnection, ids: RunIds, batched: list, buffered: list | None
    ) -> None:
        if not batched:
            return
        frame = batch(self.config.batch or "list", self.config.envelope, ids, batched)
        batched.clear()
        if buffered is not None:
            buffered.append((ws, json.dumps(frame)))
        else:
            await ws.send(json.dumps(frame))

    async def _emit(
        self, ws: ServerConnection, ids: RunIds, step: Emit, buffered: list | None = None
    ) -> None:
        text = json.dumps(wrap(self.config.envelope, step.event, ids, step.fields))
        targets = list(self.connections) if step.broadcast else [ws]
        if buffered is not None:
            buffered += [(target, text) for target in targets]
            return
        if not step.broadcast:
            await ws.send(text)
            return
        for other in targets:
            with contextlib.suppress(ConnectionClosed):
                await other.send(text)

    @staticmethod
    async def _release(buffered: list[tuple[ServerConnection, str]] | None) -> None:
        for target, text in buffered or ():
            with contextlib.suppress(ConnectionClosed):
                await target.send(text)
        if buffered:
            buffered.clear()

    async def _disconnect(
        self, ws: ServerConnection, ids: RunIds, step: Disconnect, rest: list[Step]
    ) -> None:
        if step.code is None:
            # A crash or a proxy timeout: the client sees TCP end with no close frame (1006).
            ws.transport.abort()
            return
        if rest:
            self.paused[ids.run_id] = Paused(ids, rest)
        await ws.close(step.code, step.reason)

    async def _pings(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(self.config.ping_interval)
                await ws.send(json.dumps({"type": "ping", "payload": {"ts": time.time()}}))


def _ag_ui_handler(config: Config) -> Callable:
    # ag-ui-protocol comes with the `ag-ui` extra: imported only when the demo speaks AG-UI.
    from wstape.demo.ag_ui_agent import AgUiBackend

    return AgUiBackend(config.timing).handler


# The connection handler of each protocol the demo agent speaks.
HANDLERS: dict[str, Callable[[Config], Callable]] = {
    "wstape-json": lambda config: Backend(config).handler,
    "ag-ui": _ag_ui_handler,
}


def server_ssl(config: Config) -> ssl.SSLContext | None:
    if not config.certfile:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(config.certfile, config.keyfile)
    return context


async def run(
    config: Config,
    stop: asyncio.Event | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until `stop` is set (by default: until SIGINT or SIGTERM); `on_listening` gets the
    URL, with the real port when `config.port` is 0."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    context = server_ssl(config)
    async with serve(
        HANDLERS[config.protocol](config),
        config.host,
        config.port,
        process_request=health,
        select_subprotocol=first_subprotocol,
        max_size=None,
        close_timeout=2,
        ssl=context,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"{'wss' if context else 'ws'}://{config.host}:{port}/ws"
        (on_listening or announce)(url)
        await stop.wait()


def announce(url: str) -> None:
    print(f"demo backend listening on {url}", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m wstape.demo.backend",
        description="Reference agent backend that speaks the seven events, good and broken.",
        epilog="example: python -m wstape.demo.backend --port 8000 --drop-event agent_thinking",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on")
    add("--port", type=int, default=8000, help="port to listen on (0 picks a free one)")
    add("--ping-interval", type=float, default=5.0, help="seconds between app pings; 0 disables")
    add("--think-delay", type=float, default=0.05, help="seconds between events")
    add("--tool-delay", type=float, default=0.2, help="seconds a tool runs")
    add("--slow-tool-delay", type=float, default=10.5, help="tool duration in slow_tool")
    add("--first-delay", type=float, default=2.5, help="wait before agent_started in slow_first")
    add("--silence-delay", type=float, default=16.0, help="the pause without events in silent")
    buffer_help = (
        "hold each run's events and send them all at once when it ends (a buffered stream)"
    )
    add("--buffer", action="store_true", help=buffer_help)
    drop_help = "never send this event type (repeatable)"
    add("--drop-event", action="append", default=[], metavar="TYPE", help=drop_help)
    scenario_help = "scenario of a user_message that names none"
    add("--scenario", default="good", choices=SCENARIOS, help=scenario_help)
    add("--envelope", default="payload", choices=ENVELOPES, help="how events are wrapped")
    add("--protocol", default="wstape-json", choices=HANDLERS, help="what the agent speaks")
    extra_help = "also send this event of the product's own after agent_started (repeatable)"
    add("--extra-event", action="append", default=[], metavar="TYPE", help=extra_help)
    batch_help = "send thinking and partial results in the seed product's event_batch frames"
    add("--batch", choices=BATCH_FORMS, help=batch_help + ", their events a list or a map")
    add("--certfile", help="PEM certificate: serve wss://")
    add("--keyfile", help="PEM private key of --certfile")
    args = parser.parse_args(argv)
    timing = Timing(args.think_delay, args.tool_delay, args.slow_tool_delay, args.first_delay,
                    args.silence_delay)  # fmt: skip
    return Config(
        args.host, args.port, args.ping_interval, timing, frozenset(args.drop_event),
        args.scenario, args.envelope, args.certfile, args.keyfile, args.buffer, args.protocol,
        tuple(args.extra_event), args.batch,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
