"""What every wire protocol decodes to, and the interface its decoder implements: one recorded
Frame in, zero or more Events out. Runs, rules, reports, replay, parallel reading and DataFrames
depend on these records alone; a protocol's own names live in its module (registry.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

__all__ = [
    "CHAT_KINDS", "EVENT_FIELDS", "ID_FIELDS", "SERVER_KINDS", "TOOL_KINDS", "Canonical",
    "Decoder", "Decoders", "Event", "Finding", "Frame", "WireProtocol", "event_values", "new_event",
    "positional_new",
]  # fmt: skip

T = TypeVar("T")


class Canonical(StrEnum):
    """What a frame means to wstape, whatever the backend called it."""

    USER_MESSAGE = "user_message"
    RESUME = "resume"
    AGENT_STARTED = "agent_started"
    AGENT_THINKING = "agent_thinking"
    TOOL_EXECUTING = "tool_executing"
    TOOL_COMPLETED = "tool_completed"
    TOOL_ERROR = "tool_error"
    PARTIAL_RESULT = "partial_result"
    AGENT_COMPLETED = "agent_completed"
    ERROR = "error"
    # A protocol's event of a run that the promise does not count (AG-UI's TOOL_CALL_ARGS,
    # STATE_DELTA, ...): on the run's timeline and in its protocol's rules, neither required
    # nor noise.
    TIMELINE = "timeline"
    CONTROL = "control"
    UNKNOWN = "unknown"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    BINARY = "binary"


# Kinds that belong to a chat run; the rest never joins one.
SERVER_KINDS = frozenset(
    {
        Canonical.AGENT_STARTED, Canonical.AGENT_THINKING, Canonical.TOOL_EXECUTING,
        Canonical.TOOL_COMPLETED, Canonical.TOOL_ERROR, Canonical.PARTIAL_RESULT,
        Canonical.AGENT_COMPLETED, Canonical.ERROR,
    }
)  # fmt: skip
CHAT_KINDS = SERVER_KINDS | {Canonical.USER_MESSAGE, Canonical.RESUME}
TOOL_KINDS = frozenset({Canonical.TOOL_EXECUTING, Canonical.TOOL_COMPLETED})


@dataclass(frozen=True, slots=True)
class Frame:
    """One WebSocket message as recorded; `wstape.recorder.capture.Message` has the same fields."""

    connection: str
    ts: float
    from_client: bool
    is_text: bool
    payload: bytes


_ID: Mapping[str, bool] = {"id": True}  # marks the fields that name a run, thread, user or tool


@dataclass(frozen=True, slots=True)
class Event:
    """A frame as the analyzer understands it; the one declaration of its fields, in the order
    of the fast constructor, of the tuples parallel workers send and of the DataFrame columns.

    `type` is the protocol's own name for the event; `canonical` is what it means. `envelope`
    is how the protocol wrapped it ("" when it could not be read). For frames that are not
    events, `text` says why.
    """

    connection: str
    ts: float
    from_client: bool
    is_text: bool
    size: int
    type: str
    canonical: Canonical
    envelope: str = ""
    run_id: str | None = field(default=None, metadata=_ID)
    thread_id: str | None = field(default=None, metadata=_ID)
    user_id: str | None = field(default=None, metadata=_ID)
    tool_name: str | None = field(default=None, metadata=_ID)
    execution_id: str | None = field(default=None, metadata=_ID)
    failed: bool = False
    text: str = ""

    @property
    def direction(self) -> str:
        return "client" if self.from_client else "server"


EVENT_FIELDS = tuple(f.name for f in fields(Event))
ID_FIELDS = tuple(f.name for f in fields(Event) if f.metadata.get("id"))


def positional_new(cls: type[T]) -> Callable[..., T]:
    """`cls(...)` for a frozen slots dataclass, with every field given in declaration order,
    in about a third of the time of its frozen __init__ (one object.__setattr__ per field): it
    fills the slots of a plain class of the same layout and then sets `__class__ = cls`, which
    gives a real, equal, immutable instance (the reader's device for Message). For the records
    made per frame or per run: Event, Run, Verdict."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    plain = type(f"_{cls.__name__}Slots", (), {"__slots__": cls.__slots__})  # type: ignore[attr-defined]
    # Written from the field names as dataclasses writes __init__, so it follows the declaration.
    source = "\n".join(
        [
            f"def new({', '.join(names)}):",
            "    _o_ = _new_(_plain_)",
            *(f"    _o_.{name} = {name}" for name in names),
            "    _o_.__class__ = _cls_",
            "    return _o_",
        ]
    )
    compiled: dict[str, Any] = {"_new_": object.__new__, "_plain_": plain, "_cls_": cls}
    exec(source, compiled)  # the source is made of field names only
    new = compiled["new"]
    new.__doc__ = f"{cls.__name__}(...) with every field given, positionally, the fast way."
    return new


new_event: Callable[..., Event] = positional_new(Event)
# An event's values in field order: the tuple parallel workers send (attribute loads beat
# operator.attrgetter on slots).
_VALUES = f"def event_values(_e_):\n    return ({''.join(f'_e_.{n}, ' for n in EVENT_FIELDS)})"
_compiled: dict[str, Any] = {}
exec(_VALUES, _compiled)  # the source is made of field names only
event_values: Callable[[Event], tuple] = _compiled["event_values"]
event_values.__doc__ = "An event's field values as a tuple, in EVENT_FIELDS order."

MAX_ID_CHARS = 200
MAX_TEXT_CHARS = 200
# Frames are untrusted: terminal escapes and characters XML or UTF-8 cannot carry are dropped
# from anything the analyzer prints or writes.
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """`text` without the characters no report may carry."""
    return UNPRINTABLE.sub("", text) if not text.isprintable() else text


def clip(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`text` on one line, cleaned, at most `limit` characters."""
    # Most text is short, printable and singly spaced: then its clip is itself without a space
    # at either end. (The only whitespace a printable string holds is the space.)
    if len(text) <= limit and text.isprintable() and "  " not in text:
        return text.strip(" ")
    text = clean(" ".join(text[: limit * 2].split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Finding:
    """A run that breaks one of its protocol's own rules (`rule` is the rule's stable id); an
    error fails the run with code `protocol`, a warning is shown with it."""

    rule: str
    message: str
    error: bool = True


class Decoder(Protocol):
    """One connection's decoder, sans-I/O: fed its frames in order (both directions), it
    returns the events each one holds (a batch frame many, a keep-alive none), and when the
    connection ends, whatever it still held. It never raises, whatever a frame holds."""

    def feed(self, frame: Frame) -> Sequence[Event]: ...

    def end(self, ts: float) -> Sequence[Event]: ...


class WireProtocol(Protocol):
    """A wire protocol with its options from a profile: makes a decoder per connection, and
    answers what the run assembler and replay ask of its traffic. Registered in registry.py."""

    name: ClassVar[str]  # what a profile's `protocol` key says
    profile_keys: ClassVar[frozenset[str]]  # the top-level profile keys its options use
    # True when its decoders hold nothing between frames, so that the parts of a capture can
    # be decoded apart (parallel.py); false sends a capture through one decoder per connection.
    stateless: ClassVar[bool]
    user_query: tuple[str, ...]  # query parameters of a connection URL that name the user
    minted_ids: tuple[str, ...]  # Event id fields the server mints; replay rewrites them
    ping_answers: Mapping[str, bytes]  # by server ping type, what a client answers

    @classmethod
    def from_profile(cls, data: Mapping[str, Any]) -> WireProtocol:
        """The protocol with the options a parsed profile gives (raises ProfileError)."""
        ...

    def decoder(self) -> Decoder: ...

    def is_ping(self, event: Event) -> bool:
        """An app-level keepalive of the server: it comes on a timer, not in reply."""
        ...

    def answers_ping(self, event: Event) -> bool:
        """A client's answer to such a keepalive."""
        ...

    # A protocol with rules of its own also defines
    #     check(self, events: Sequence[Event], ended: bool) -> Sequence[Finding]
    # which judges one run's server events (`ended`: the run reached its end); rules.py calls it
    # when it is there.


class Decoders(dict[str, Decoder]):
    """A decoder per connection for one stream of records: `decoders[connection]` makes one at
    the connection's first frame (a plain dict lookup after that: this is on every frame), and
    `end` tells it the connection ended and drops it."""

    __slots__ = ("_new",)

    def __init__(self, protocol: WireProtocol) -> None:
        super().__init__()
        self._new = protocol.decoder

    def __missing__(self, connection: str) -> Decoder:
        decoder = self[connection] = self._new()
        return decoder

    def feed(self, frame: Frame) -> Sequence[Event]:
        return self[frame.connection].feed(frame)

    def end(self, connection: str, ts: float) -> Sequence[Event]:
        """What the connection's decoder still held; nothing when it never saw a frame."""
        decoder = self.pop(connection, None)
        return () if decoder is None else decoder.end(ts)
