"""What the protocols of agent streams over HTTP share (the OpenAI Responses API, Anthropic's
Messages API, the Vercel AI SDK's UI message stream): one POST is one run. Its request body, one
client message, is the user's message (and the tool results it carries); each event of its
response stream is one server message. StreamDecoder reads them, and each protocol module gives
it its tables.

A run is named by the id its stream's first server event gives (the Response's, the Message's);
every later event carries it. A stream whose first event names none stays unnamed throughout,
so that an event naming the run later cannot split it: its run is the one request on its
connection, found by position."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from wstape.analyzer.protocols.events import (
    MAX_ID_CHARS,
    Canonical,
    Event,
    Frame,
    clean,
    clip,
    new_event,
)

C = Canonical
Base = tuple  # (connection, ts, from_client, is_text, size): the fields every event starts with


def text_of(value: object) -> str | None:
    """A string field as an id or a name: cleaned, capped, None when empty or not a string."""
    return clean(value[:MAX_ID_CHARS]) if isinstance(value, str) and value else None


def dict_of(obj: Mapping, key: str) -> dict:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def list_of(obj: Mapping, key: str) -> list:
    value = obj.get(key)
    return value if isinstance(value, list) else []


def joined_text(content: object, kinds: frozenset[str]) -> str:
    """The text of a message's content: a string, or its parts of these types, joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") in kinds]
    return " ".join(t for t in texts if isinstance(t, str))


def compact(value: object) -> str:
    """A tool's output as a line of text for the timeline."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)[:400]
    except (TypeError, ValueError, RecursionError):
        return ""


class StreamDecoder:
    """One HTTP stream's decoder. A subclass says how its protocol names a run (`run_name`),
    reads the request body (`request`) and each server event (the `SERVER` table, by type,
    else `other`); `TERMINATORS` are data that end a stream and are not JSON (`[DONE]`)."""

    ENVELOPE: ClassVar[str] = ""
    TERMINATORS: ClassVar[frozenset[bytes]] = frozenset()
    SERVER: ClassVar[Mapping[str, Callable[..., Event]]] = {}
    KINDS: ClassVar[Mapping[str, Canonical]] = {}  # the types `mapped` reads, and their kind

    __slots__ = ("named", "run_id")

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.named = False  # the stream's first server event was read: the run's id is known

    def feed(self, frame: Frame) -> tuple[Event, ...]:
        base = (frame.connection, frame.ts, frame.from_client, frame.is_text, len(frame.payload))
        if not frame.is_text:
            return (Event(*base, "", C.BINARY, self.ENVELOPE),)
        payload = frame.payload.strip()
        if payload in self.TERMINATORS:
            return (self.event(base, payload.decode("ascii"), C.CONTROL),)
        if not payload and frame.from_client:
            return (self.event(base, "", C.CONTROL, text="empty request body"),)
        try:
            obj = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, RecursionError, ValueError):
            text = f"not {self.ENVELOPE} JSON"
            return (Event(*base, "", C.NOT_JSON, self.ENVELOPE, text=text),)
        if not isinstance(obj, dict):
            return (Event(*base, "", C.NOT_OBJECT, self.ENVELOPE, text="JSON, not an object"),)
        if frame.from_client:
            return self.request(base, obj)
        kind = text_of(obj.get("type")) or ""
        if not self.named:
            self.named, self.run_id = True, self.run_name(kind, obj)
        read = self.SERVER.get(kind)
        return (read(self, base, kind, obj) if read else self.other(base, kind, obj),)

    def end(self, ts: float) -> tuple[()]:
        return ()

    def event(
        self,
        base: Base,
        kind: str,
        canonical: Canonical,
        *,
        tool: str | None = None,
        call: str | None = None,
        failed: bool = False,
        text: str = "",
    ) -> Event:
        run = None if base[2] else self.run_id
        return new_event(*base, kind, canonical, self.ENVELOPE, run, None, None, tool, call,
                         failed, clip(text))  # fmt: skip

    # ------------------------------------------------------------ what a protocol gives

    def run_name(self, kind: str, obj: dict) -> str | None:
        """The run's id, from the stream's first server event."""
        return None

    def request(self, base: Base, obj: dict) -> tuple[Event, ...]:
        """The request body: the user's message, then the tool results it carries."""
        return (self.event(base, "request", C.USER_MESSAGE),)

    def other(self, base: Base, kind: str, obj: dict) -> Event:
        """A server event of a type the SERVER table does not name."""
        return self.event(base, kind, C.UNKNOWN)

    def mapped(self, base: Base, kind: str, obj: dict) -> Event:
        """A server event that KINDS maps onto one kind, whatever it holds."""
        return self.event(base, kind, self.KINDS[kind])


@dataclass(frozen=True, slots=True)
class StreamProtocol:
    """What such a protocol answers the run assembler and replay; a subclass names itself, its
    decoder, and the event types of tool calls that a later request answers (handoff.py)."""

    name: ClassVar[str]
    DECODER: ClassVar[type[StreamDecoder]]
    profile_keys: ClassVar[frozenset[str]] = frozenset()
    stateless: ClassVar[bool] = False  # a decoder keeps the run's id and its open blocks
    user_query: ClassVar[tuple[str, ...]] = ()
    minted_ids: ClassVar[tuple[str, ...]] = ("run_id", "execution_id")
    ping_answers: ClassVar[Mapping[str, bytes]] = MappingProxyType({})
    PINGS: ClassVar[frozenset[str]] = frozenset()
    # Tool calls the client runs: the types of the server's events that hand one to the client,
    # and those of the client's events that carry its result in a later request, by call id.
    hands_off: ClassVar[frozenset[str]] = frozenset()
    answers: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_profile(cls, data: Mapping[str, Any]) -> StreamProtocol:
        return cls()

    def decoder(self) -> StreamDecoder:
        return self.DECODER()

    def is_ping(self, event: Event) -> bool:
        return not event.from_client and event.type in self.PINGS

    def answers_ping(self, event: Event) -> bool:
        return False
