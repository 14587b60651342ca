"""What an exchange being replayed waits on: a condition woken at each frame or event the new
server sends and at the end, over the Conversation (state.py) that says when each of the plan's
waits is met. drive.py's WebSocket connections and streams.py's HTTP streams both wait this way."""

from __future__ import annotations

import asyncio
import contextlib

from wstape.analyzer.replay.plan import Wait
from wstape.analyzer.replay.state import Conversation


class Waiting:
    """One exchange's conversation and the condition that wakes whoever waits on it."""

    def __init__(self, conv: Conversation) -> None:
        self.conv = conv
        self.changed = asyncio.Condition()
        self.timeouts = 0  # waits that gave up

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

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


async def sleep_until(when: float) -> None:
    """Sleeps until the event loop's clock reads `when` (no time when it already has)."""
    delay = when - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)
