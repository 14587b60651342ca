"""Clients that play chat users against the demo backend (directly or through the recorder) and
keep a byte-exact transcript of what each user sent and received, per connection."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import ssl as ssl_module
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

CONTROL = frozenset({"connection_established", "ping", "pong"})
Message = dict | bytes | str


@dataclass(frozen=True, slots=True)
class Frame:
    direction: Literal["client", "server"]
    kind: Literal["text", "binary"]
    payload: bytes

    def json(self) -> Any:
        """The text frame parsed as JSON, or None for binary or non-JSON frames."""
        if self.kind != "text":
            return None
        try:
            return json.loads(self.payload)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Transcript:
    user_id: str
    connections: list[list[Frame]] = field(default_factory=list)
    close_codes: list[int | None] = field(default_factory=list)
    error: str | None = None

    def server_events(self) -> list[dict]:
        """JSON objects the server sent, over all connections, in order, control frames too."""
        frames = (f for conn in self.connections for f in conn if f.direction == "server")
        return [obj for f in frames if isinstance(obj := f.json(), dict)]

    def event_types(self) -> list[str]:
        """Agent event types received (unwrapped from `system_message`), without control frames."""
        return [t for t, _ in map(event_of, self.server_events()) if t and t not in CONTROL]


def event_of(obj: dict) -> tuple[str | None, dict]:
    """An event's type and its fields, whichever of the three envelopes it came in."""
    kind = obj.get("event") if obj.get("type") == "system_message" else obj.get("type")
    inner = obj.get("payload") if isinstance(obj.get("payload"), dict) else obj.get("data")
    fields = {k: v for k, v in obj.items() if k not in ("type", "event", "payload", "data")}
    if isinstance(inner, dict):
        fields.update(inner)
    return (kind if isinstance(kind, str) else None), fields


@dataclass(frozen=True, slots=True)
class Options:
    url: str
    headers: dict[str, str] | None
    subprotocols: list[str] | None
    ssl: ssl_module.SSLContext | None
    timeout: float
    answer_pings: bool


class Client:
    """One user's connections, one at a time, recording every frame both ways."""

    def __init__(self, user_id: str, options: Options) -> None:
        self.user_id = user_id
        self.options = options
        self.ws: ClientConnection | None = None
        self.connections: list[list[Frame]] = []
        self.close_codes: list[int | None] = []
        self.errors: list[str] = []

    async def open(self) -> None:
        opts = self.options
        # websockets rejects ssl=None for wss://, so only a given context is passed on.
        tls = {"ssl": opts.ssl} if opts.ssl is not None else {}
        self.ws = await connect(
            opts.url,
            additional_headers=opts.headers,
            subprotocols=opts.subprotocols,  # type: ignore[arg-type]
            max_size=None,
            open_timeout=opts.timeout,
            # The URL names the hop to talk to (backend or recorder); HTTPS_PROXY must not reroute.
            proxy=None,
            **tls,
        )
        self.connections.append([])
        self.close_codes.append(None)
        await self.read_until(lambda f: _type(f) == "connection_established", "the welcome")

    @property
    def is_open(self) -> bool:
        return self.ws is not None and self.close_codes[-1] is None

    async def send(self, data: str | bytes) -> None:
        assert self.ws is not None
        kind: Literal["text", "binary"] = "text" if isinstance(data, str) else "binary"
        payload = data.encode() if isinstance(data, str) else data
        self.connections[-1].append(Frame("client", kind, payload))
        await self.ws.send(data)

    async def recv(self, timeout: float) -> Frame | None:
        """The next server frame, or None after `timeout` s; the connection closing ends it too."""
        assert self.ws is not None
        try:
            data = await asyncio.wait_for(self.ws.recv(), max(timeout, 0.0))
        except TimeoutError:
            return None
        except ConnectionClosed:
            self.close_codes[-1] = self.ws.close_code
            return None
        frame = (
            Frame("server", "text", data.encode())
            if isinstance(data, str)
            else Frame("server", "binary", data)
        )
        self.connections[-1].append(frame)
        if self.options.answer_pings and _type(frame) == "ping":
            await self.send(json.dumps({"type": "pong"}))
        return frame

    async def read_until(
        self, done: Callable[[Frame], bool], what: str, timeout: float | None = None
    ) -> Frame | None:
        """Read until `done(frame)`; None when the connection closed or the time ran out."""
        deadline = time.monotonic() + (self.options.timeout if timeout is None else timeout)
        while self.is_open:
            left = deadline - time.monotonic()
            if left <= 0:
                self.errors.append(f"timed out waiting for {what}")
                return None
            frame = await self.recv(left)
            if frame is not None and done(frame):
                return frame
        return None

    async def linger(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.is_open and (left := deadline - time.monotonic()) > 0:
            await self.recv(left)

    async def close(self) -> None:
        if self.ws is not None and self.is_open:
            await self.ws.close(1000)
            self.close_codes[-1] = self.ws.close_code

    def transcript(self) -> Transcript:
        error = "; ".join(self.errors) or None
        return Transcript(self.user_id, self.connections, self.close_codes, error)


def _type(frame: Frame) -> str | None:
    obj = frame.json()
    return obj.get("type") if isinstance(obj, dict) else None


async def run_message(client: Client, message: dict) -> None:
    """Send a user_message and read until its run completes, following one `reconnect` (1012)."""
    message = {**message, "payload": dict(message.get("payload") or {})}
    # A thread id of our own tells our run apart from others leaking onto this connection.
    thread_id = message["payload"].setdefault("thread_id", f"thread-{secrets.token_hex(6)}")
    run: dict[str, str] = {}

    def finished(frame: Frame) -> bool:
        obj = frame.json()
        if not isinstance(obj, dict):
            return False
        kind, fields = event_of(obj)
        if fields.get("thread_id") != thread_id:
            return False
        if fields.get("run_id"):
            run.setdefault("run_id", fields["run_id"])
        return kind == "agent_completed" and fields.get("run_id") in (run.get("run_id"), None)

    await client.send(json.dumps(message))
    what = f"agent_completed of thread {thread_id}"
    while await client.read_until(finished, what) is None:
        if client.is_open or client.close_codes[-1] != 1012 or not run.get("run_id"):
            return
        await client.open()
        resume = {"run_id": run["run_id"], "thread_id": thread_id}
        await client.send(json.dumps({"type": "resume", "payload": resume}))


async def run_echo(client: Client, data: str | bytes) -> None:
    await client.send(data)
    kind = "text" if isinstance(data, str) else "binary"
    payload = data.encode() if isinstance(data, str) else data
    await client.read_until(lambda f: f.kind == kind and f.payload == payload, "the echo")


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


async def chat(
    url: str,
    user_id: str,
    messages: Sequence[Message],
    *,
    headers: dict[str, str] | None = None,
    subprotocols: list[str] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    query: dict[str, str] | None = None,
    timeout: float = 30.0,
    linger: float = 0.2,
    answer_pings: bool = True,
) -> Transcript:
    """Chat as `user_id`: user_message dicts wait for their run's agent_completed, echo dicts,
    str and bytes wait for their echo, other dicts are just sent. A connection the server ended
    is reopened for the next message. Never raises for network trouble: see Transcript.error."""
    target = with_query(url, {"user_id": user_id, **(query or {})})
    client = Client(user_id, Options(target, headers, subprotocols, ssl, timeout, answer_pings))
    try:
        for message in messages:
            if not client.is_open:
                await client.open()
            if isinstance(message, dict) and message.get("type") == "user_message":
                await run_message(client, message)
            elif isinstance(message, dict) and message.get("type") != "echo":
                await client.send(json.dumps(message))
            else:
                raw = json.dumps(message) if isinstance(message, dict) else message
                await run_echo(client, raw)
        if not client.is_open and not client.connections:
            await client.open()
        await client.linger(linger)
        await client.close()
    except (OSError, WebSocketException, TimeoutError) as exc:
        client.errors.append(f"{type(exc).__name__}: {exc}")
    return client.transcript()


def user_message(scenario: str, n: int, extra: dict | None = None) -> dict:
    payload = {"content": f"question {n} ({scenario})", "scenario": scenario, **(extra or {})}
    return {"type": "user_message", "payload": payload}


async def play(
    url: str, users: int, scenarios: Sequence[str], *, extra: dict | None = None, **chat_kwargs: Any
) -> list[Transcript]:
    """Run users `user-1`..`user-N` concurrently. Every user sends one user_message per scenario,
    one after another, user i starting at scenarios[i-1] and cycling; so with as many users as
    scenarios, at any moment each user runs a different scenario. `extra` joins each payload
    (e.g. `tools`, `tool_delay`); other keyword arguments go to `chat`."""
    order = list(scenarios)

    def messages(i: int) -> list[Message]:
        turn = order[i % len(order) :] + order[: i % len(order)] if order else []
        return [user_message(s, n, extra) for n, s in enumerate(turn, 1)]

    chats = (chat(url, f"user-{i + 1}", messages(i), **chat_kwargs) for i in range(users))
    return list(await asyncio.gather(*chats))


def summary(transcript: Transcript) -> str:
    codes = ",".join(str(c) for c in transcript.close_codes)
    line = f"{transcript.user_id} [{len(transcript.connections)} conn, close {codes}]: "
    line += " ".join(transcript.event_types()) or "(no events)"
    return line + (f"  ERROR {transcript.error}" if transcript.error else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wstape.demo.players",
        description="Play chat users against an agent backend and print what each received.",
        epilog="example: python -m wstape.demo.players --url ws://127.0.0.1:8000/ws --users 3 "
        "--scenario good --scenario tool_error",
    )
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws", help="backend or proxy URL")
    parser.add_argument("--users", type=int, default=1, help="concurrent users")
    parser.add_argument("--scenario", action="append", help="scenario to run (repeatable)")
    parser.add_argument("--tools", type=int, default=1, help="tool executions per run")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait per message")
    args = parser.parse_args(argv)
    extra = {"tools": args.tools}
    transcripts = asyncio.run(
        play(args.url, args.users, args.scenario or ["good"], extra=extra, timeout=args.timeout)
    )
    for transcript in transcripts:
        print(summary(transcript))
    return 1 if any(t.error for t in transcripts) else 0


if __name__ == "__main__":
    sys.exit(main())
