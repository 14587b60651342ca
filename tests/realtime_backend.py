"""A small OpenAI Realtime backend for the tests: a real WebSocket server whose events are built
from the `openai` package's own models. The text of the user's message names what its turn does:
happy, tool, failed, error, never, slow or late.

    python tests/realtime_backend.py --port 9000 [--slow-s 1.2]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json

from openai.types.realtime import (
    ConversationItemAdded,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemUserMessage,
    RealtimeError,
    RealtimeErrorEvent,
    RealtimeResponse,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseTextDeltaEvent,
)
from openai.types.realtime.realtime_response_status import Error, RealtimeResponseStatus
from websockets.asyncio.server import ServerConnection, serve

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):04d}"


class Session:
    """One connection: the user's last message, and the Responses it plays."""

    def __init__(self, ws: ServerConnection, slow_s: float) -> None:
        self.ws, self.slow_s = ws, slow_s
        self.scenario = "happy"
        self.calls: dict[str, str] = {}  # call id → the scenario waiting for its output

    async def send(self, event) -> None:
        await self.ws.send(event.model_dump_json(exclude_none=True))

    async def on(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "conversation.item.create":
            item = message["item"]
            if item.get("type") == "message":
                self.scenario = item["content"][0]["text"]
                user = RealtimeConversationItemUserMessage.model_validate(item)
                await self.send(ConversationItemAdded(
                    event_id=new_id("event"), type="conversation.item.added",
                    item=user.model_copy(update={"id": new_id("item")}),
                ))  # fmt: skip
            elif item.get("type") == "function_call_output":
                output = RealtimeConversationItemFunctionCallOutput.model_validate(item)
                await self.send(ConversationItemAdded(
                    event_id=new_id("event"), type="conversation.item.added",
                    item=output.model_copy(update={"id": new_id("item")}),
                ))  # fmt: skip
        elif kind == "response.create":
            answering = bool(self.calls)
            self.calls.clear()
            await self.respond("answer" if answering else self.scenario, message.get("event_id"))

    async def respond(self, scenario: str, asked_by: str | None) -> None:
        if scenario == "error":
            error = RealtimeError(
                type="invalid_request_error",
                code="bad_request",
                message="the model is not available",
                event_id=asked_by,
            )
            await self.send(RealtimeErrorEvent(event_id=new_id("event"), type="error", error=error))
            return
        if scenario == "slow":
            await asyncio.sleep(self.slow_s)
        rid = new_id("resp")
        await self.send(ResponseCreatedEvent(
            event_id=new_id("event"), type="response.created",
            response=RealtimeResponse(id=rid, object="realtime.response", status="in_progress",
                                      output=[]),
        ))  # fmt: skip
        if scenario == "failed":
            status = RealtimeResponseStatus(
                type="failed", error=Error(type="server_error", code="overloaded")
            )
            await self.done(rid, "failed", [], status)
            return
        if scenario == "tool":
            await self.call(rid)
            return
        message = await self.text(rid)
        if scenario == "never":
            return  # the Response never ends
        await self.done(rid, "completed", [message])
        if scenario == "late":
            await asyncio.sleep(0.05)
            await self.delta(rid, message.id or "", "one more thing")

    async def call(self, rid: str) -> None:
        call_id, item_id = new_id("call"), new_id("item")
        item = RealtimeConversationItemFunctionCall(
            id=item_id, type="function_call", call_id=call_id, name="lookup",
            arguments='{"city": "Paris"}', status="completed",
        )  # fmt: skip
        await self.send(ResponseOutputItemAddedEvent(
            event_id=new_id("event"), type="response.output_item.added", response_id=rid,
            output_index=0, item=item.model_copy(update={"status": "in_progress"}),
        ))  # fmt: skip
        await self.send(ResponseFunctionCallArgumentsDoneEvent(
            event_id=new_id("event"), type="response.function_call_arguments.done",
            response_id=rid, item_id=item_id, output_index=0, call_id=call_id, name="lookup",
            arguments=item.arguments,
        ))  # fmt: skip
        self.calls[call_id] = "answer"
        await self.done(rid, "completed", [item])

    async def text(self, rid: str) -> RealtimeConversationItemAssistantMessage:
        item = RealtimeConversationItemAssistantMessage(
            id=new_id("item"), type="message", role="assistant", status="completed",
            content=[{"type": "output_text", "text": "It is sunny."}],
        )  # fmt: skip
        await self.send(ResponseOutputItemAddedEvent(
            event_id=new_id("event"), type="response.output_item.added", response_id=rid,
            output_index=0, item=item.model_copy(update={"status": "in_progress", "content": []}),
        ))  # fmt: skip
        for word in ("It ", "is ", "sunny."):
            await asyncio.sleep(0.02)
            await self.delta(rid, item.id or "", word)
        return item

    async def delta(self, rid: str, item_id: str, text: str) -> None:
        await self.send(ResponseTextDeltaEvent(
            event_id=new_id("event"), type="response.output_text.delta", response_id=rid,
            item_id=item_id, output_index=0, content_index=0, delta=text,
        ))  # fmt: skip

    async def done(
        self, rid: str, status: str, output: list, details: RealtimeResponseStatus | None = None
    ) -> None:
        await self.send(ResponseDoneEvent(
            event_id=new_id("event"), type="response.done",
            response=RealtimeResponse(id=rid, object="realtime.response", status=status,
                                      output=output, status_details=details),
        ))  # fmt: skip


async def main(port: int, slow_s: float) -> None:
    async def handler(ws: ServerConnection) -> None:
        session = Session(ws, slow_s)
        async for raw in ws:
            await session.on(json.loads(raw))

    async with serve(handler, "127.0.0.1", port):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slow-s", type=float, default=1.2)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.slow_s))
