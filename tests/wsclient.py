"""A test client that logs every frame it sends and receives, byte for byte, so a
test can hold the capture against what the client really saw."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl as ssl_module
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


@dataclass
class Seen:
    sent: list[tuple[str, bytes]] = field(default_factory=list)  # (kind, payload)
    received: list[tuple[str, bytes]] = field(default_factory=list)
    subprotocol: str | None = None
    close_code: int | None = None

    def received_json(self) -> list[dict]:
        return [json.loads(p) for kind, p in self.received if kind == "text"]


def _frame(data: str | bytes) -> tuple[str, bytes]:
    return ("text", data.encode()) if isinstance(data, str) else ("binary", bytes(data))


async def converse(
    url: str,
    items: list[str | bytes | dict],
    *,
    done_when=None,
    settle: float = 0.3,
    ssl: ssl_module.SSLContext | None = None,
    headers: dict | None = None,
    subprotocols: list[str] | None = None,
    timeout: float = 20.0,
    proxy: str | None = None,
) -> Seen:
    """Sends `items` in order (dicts as JSON) while logging everything received;
    after the last item, waits until `done_when(seen)` is true (or `settle`
    seconds of quiet), then closes normally."""
    seen = Seen()
    async with connect(
        url,
        ssl=ssl,
        additional_headers=headers,
        proxy=proxy,
        subprotocols=subprotocols,
        max_size=None,
        open_timeout=timeout,
    ) as ws:
        seen.subprotocol = ws.subprotocol

        async def reader() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for message in ws:
                    seen.received.append(_frame(message))

        task = asyncio.create_task(reader())
        for item in items:
            data = json.dumps(item) if isinstance(item, dict) else item
            seen.sent.append(_frame(data))
            await ws.send(data)
            await asyncio.sleep(0.01)
        deadline = asyncio.get_running_loop().time() + timeout
        while done_when is not None and not done_when(seen):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"never done: received {len(seen.received)} frames")
            await asyncio.sleep(0.02)
        await asyncio.sleep(settle)
        await ws.close()
        await task
        seen.close_code = ws.close_code
    return seen


def has_event(event_type: str):
    return lambda seen: any(m.get("type") == event_type for m in seen.received_json())
