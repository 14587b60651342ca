"""wstape's own wire protocol: one JSON object per text frame, in any of three dialects, each
frame one Event; pure, and total over hostile input.

The dialects: the event type with its fields in a `payload` (or `data`) object, the same with
the fields flat beside the type, and a `system_message` whose `event` names the agent event.
Each backend type has a canonical meaning (DEFAULT_TYPES, with the seed product's aliases), and
a profile renames what another backend calls things with these keys (every one optional):

    control_prefixes = ["handshake_"]  # types starting with these are control traffic

    [fields]                       # each a list of names, the first one present wins
    type = ["type"]                # the event type
    system_types = ["system_message"]  # envelope types that carry the event in `event`
    event = ["event"]              # where such an envelope names the event
    containers = ["payload", "data"]   # objects searched for ids after the top level
    run_id = ["run_id"]            # likewise thread_id, user_id, tool_name, execution_id
    status = ["result.status", "status"]  # dotted paths; a status in error_statuses is a failure
    error_statuses = ["error", "failed", "failure"]
    text = ["content", "thought", "message", "error", "result.summary", "status"]  # timeline
    user_query = ["user_id"]       # query parameters of the WebSocket URL that name the user

    [types]                        # backend type = canonical kind; extends the default table
    "run.begin" = "agent_started"  # kinds: the values of events.Canonical; "control" ignores one
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import msgspec

from wstape.analyzer.protocols import options
from wstape.analyzer.protocols.event_batch import (
    BATCH_TYPES,
    ENVELOPE,
    TIMESTAMP_FIELDS,
    in_order,
    inner_items,
    own_timestamp,
)
from wstape.analyzer.protocols.events import (
    EVENT_FIELDS,
    ID_FIELDS,
    MAX_ID_CHARS,
    UNPRINTABLE,
    Canonical,
    Event,
    Frame,
    clean,
    clip,
    event_values,
    new_event,
)
from wstape.analyzer.protocols.json_quick import (
    Layout,
    Paths,
    first_text,
    layout,
    lookup,
    quick_event,
    scalar,
)

C = Canonical
DEFAULT_TYPES: Mapping[str, Canonical] = MappingProxyType(
    {
        "user_message": C.USER_MESSAGE, "chat": C.USER_MESSAGE, "start_agent": C.USER_MESSAGE,
        "resume": C.RESUME,
        "agent_started": C.AGENT_STARTED,
        "agent_thinking": C.AGENT_THINKING,
        "tool_executing": C.TOOL_EXECUTING,
        "tool_completed": C.TOOL_COMPLETED,
        "tool_error": C.TOOL_ERROR,
        "partial_result": C.PARTIAL_RESULT, "stream_chunk": C.PARTIAL_RESULT,
        "agent_completed": C.AGENT_COMPLETED, "final_report": C.AGENT_COMPLETED,
        "agent_response": C.AGENT_COMPLETED,
        "agent_error": C.ERROR, "execution_error": C.ERROR, "error": C.ERROR,
        "error_message": C.ERROR,
        # The seed product's newer names.
        "agent_start": C.AGENT_STARTED, "agent_progress": C.AGENT_THINKING,
        "tool_execute": C.TOOL_EXECUTING, "tool_complete": C.TOOL_COMPLETED,
        "agent_response_chunk": C.PARTIAL_RESULT, "agent_complete": C.AGENT_COMPLETED,
        "agent_response_complete": C.AGENT_COMPLETED,
        "ping": C.CONTROL, "pong": C.CONTROL, "heartbeat": C.CONTROL,
        "heartbeat_ack": C.CONTROL, "ack": C.CONTROL, "connection_established": C.CONTROL,
        "agent_update": C.CONTROL, "echo": C.CONTROL, "system_message": C.CONTROL,
    }
)  # fmt: skip
PING_TYPES = frozenset({"ping", "heartbeat"})  # the server's app-level keepalives
ANSWER_TYPES = frozenset({"pong", "heartbeat_ack"})  # a client's answers to them
DEFAULT_ANSWERS: Mapping[str, bytes] = MappingProxyType(
    {"ping": b'{"type": "pong"}', "heartbeat": b'{"type": "heartbeat_ack"}'}
)
MINTED_IDS = ("run_id", "thread_id", "execution_id")

_FIELD_KEYS = (
    "type", "system_types", "event", "containers", *ID_FIELDS, "status", "error_statuses",
    "text", "user_query",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class JsonDialects:
    """The protocol with a profile's renames; its decoders read frames with these names."""

    name: ClassVar[str] = "wstape-json"
    profile_keys: ClassVar[frozenset[str]] = frozenset({"control_prefixes", "fields", "types"})
    stateless: ClassVar[bool] = True
    minted_ids: ClassVar[tuple[str, ...]] = MINTED_IDS
    ping_answers: ClassVar[Mapping[str, bytes]] = DEFAULT_ANSWERS

    types: Mapping[str, Canonical] = field(default_factory=lambda: DEFAULT_TYPES)
    control_prefixes: tuple[str, ...] = ("handshake_",)
    type: tuple[str, ...] = ("type",)
    system_types: tuple[str, ...] = ("system_message",)
    event: tuple[str, ...] = ("event",)
    containers: tuple[str, ...] = ("payload", "data")
    run_id: tuple[str, ...] = ("run_id",)
    thread_id: tuple[str, ...] = ("thread_id",)
    user_id: tuple[str, ...] = ("user_id",)
    tool_name: tuple[str, ...] = ("tool_name",)
    execution_id: tuple[str, ...] = ("execution_id",)
    status: tuple[str, ...] = ("result.status", "status")
    error_statuses: tuple[str, ...] = ("error", "failed", "failure")
    text: tuple[str, ...] = (
        "content", "thought", "message", "error", "result.error", "result.summary", "summary",
        "result.status", "status",
    )  # fmt: skip
    user_query: tuple[str, ...] = ("user_id",)
    # Field names split at dots once, here, rather than for every frame.
    paths: Mapping[str, Paths] = field(init=False, repr=False, compare=False)
    # What the quick reader reads with these names, or None when they need the general reader.
    quick: Layout | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = {name: getattr(self, name) for name in (*ID_FIELDS, "status", "text")}
        split = {key: tuple(_split(n) for n in value) for key, value in names.items()}
        object.__setattr__(self, "paths", MappingProxyType(split))
        quick = layout(
            self.type, self.containers, split, ID_FIELDS, types=dict(self.types),
            control_prefixes=self.control_prefixes, error_statuses=self.error_statuses,
            general=frozenset(self.system_types) | BATCH_TYPES,
        )  # fmt: skip
        object.__setattr__(self, "quick", quick)

    def __reduce__(self) -> tuple:
        # Read-only mappings do not pickle: parallel workers get plain values and rebuild.
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        return _rebuild, ({**values, "types": dict(self.types)},)

    @classmethod
    def from_profile(cls, data: Mapping[str, Any]) -> JsonDialects:
        changes: dict[str, Any] = {}
        if "control_prefixes" in data:
            changes["control_prefixes"] = options.strings(data, "control_prefixes")
        fields_table = options.table(data, "fields")
        unknown = set(fields_table) - set(_FIELD_KEYS)
        if unknown:
            raise options.ProfileError(f"unknown keys in [fields]: {sorted(unknown)}")
        changes.update({key: options.strings(fields_table, key, "fields.") for key in fields_table})
        types = dict(DEFAULT_TYPES)
        for raw, value in options.table(data, "types").items():
            types[raw] = options.kind(value, f"types.{raw}")
        return cls(types=MappingProxyType(types), **changes)

    def decoder(self) -> JsonDecoder:
        return JsonDecoder(self)

    def kind_of(self, event_type: str) -> Canonical:
        found = self.types.get(event_type)
        if found is not None:
            return found
        if event_type.startswith(self.control_prefixes):
            return Canonical.CONTROL
        return Canonical.UNKNOWN

    def is_ping(self, event: Event) -> bool:
        return event.canonical is Canonical.CONTROL and event.type in PING_TYPES

    def answers_ping(self, event: Event) -> bool:
        return event.canonical is Canonical.CONTROL and event.type in ANSWER_TYPES


def _rebuild(values: dict) -> JsonDialects:
    return JsonDialects(**{**values, "types": MappingProxyType(values["types"])})


def _split(name: str) -> tuple[str, tuple[str, ...]]:
    head, *rest = name.split(".")
    return head, tuple(rest)


class JsonDecoder:
    """One connection's decoder: a frame is one event, or an event_batch many (event_batch.py);
    it holds nothing between frames. msgspec parses each frame and the quick reader reads the
    usual object (json_quick.py); anything either declines, json.loads and the general reader
    take, so the events are those json.loads and the general reader alone would give (with
    `quick` false it does only that: the reference tests/test_json_quick.py holds it to)."""

    __slots__ = ("_quick", "dialects", "quick")

    def __init__(self, dialects: JsonDialects, quick: bool = True) -> None:
        self.dialects = dialects
        self.quick = quick
        self._quick = dialects.quick

    def feed(self, frame: Frame) -> tuple[Event, ...]:
        """Classifies one frame; never raises, whatever the payload holds."""
        if not frame.is_text:
            return (new_event(frame.connection, frame.ts, frame.from_client, False,
                              len(frame.payload), "", C.BINARY, "", None, None, None, None, None,
                              False, ""),)  # fmt: skip
        if not self.quick:
            return self._general(frame, _UNREAD)
        try:
            obj = _parse(frame.payload)
        except (msgspec.DecodeError, RecursionError):
            # What msgspec refuses json.loads may still read (NaN, 1e400, a lone surrogate
            # escape), or say why not in its own words.
            return self._general(frame, _UNREAD)
        quick = self._quick
        if quick is not None and type(obj) is dict:
            event = quick_event(quick, frame, obj)
            if event is not None:
                return (event,)
        return self._general(frame, obj)

    def _general(self, frame: Frame, obj: object) -> tuple[Event, ...]:
        base = (frame.connection, frame.ts, frame.from_client, frame.is_text, len(frame.payload))
        if obj is _UNREAD:
            try:
                obj = json.loads(frame.payload.decode("utf-8"))
            except UnicodeDecodeError:
                return (Event(*base, "", C.NOT_JSON, text="text frame is not valid UTF-8"),)
            except RecursionError:
                return (Event(*base, "", C.NOT_JSON, text="JSON nested too deeply to read"),)
            except ValueError:
                return (Event(*base, "", C.NOT_JSON, text=_snippet(frame.payload)),)
        if not isinstance(obj, dict):
            why = f"JSON {type(obj).__name__}, not an object"
            return (Event(*base, "", C.NOT_OBJECT, text=why),)
        kind = _first(obj, self.dialects.type)  # may be a list, which no set can hold
        if "events" in obj and isinstance(kind, str) and kind in BATCH_TYPES:
            return _batch(base, obj, self.dialects)
        return (_from_object(base, obj, self.dialects),)

    def end(self, ts: float) -> tuple[()]:
        return ()


_UNREAD = object()  # a frame msgspec could not parse
# Where both parse a frame they give the same value: what JSON allows msgspec reads as
# json.loads does (duplicate keys, big integers, escapes), and it refuses the rest.
_parse = msgspec.json.Decoder().decode


def _from_object(base: tuple, obj: dict, dialects: JsonDialects) -> Event:
    raw, envelope = _type_of(obj, dialects)
    if raw is None:
        return Event(*base, "", C.UNKNOWN, envelope=envelope, text="JSON object without a type")
    raw = clean(raw[:MAX_ID_CHARS])
    canonical = dialects.kind_of(raw)
    fields = _fields(obj, dialects.containers)
    paths = dialects.paths
    ids = _ids(fields, paths)
    if canonical is Canonical.CONTROL:
        # Pings are most of a capture; nothing in their text matters to a verdict.
        return new_event(*base, raw, canonical, envelope, *ids, False, "")
    failed = canonical is Canonical.ERROR or canonical is Canonical.TOOL_ERROR
    if not failed:
        status = first_text(fields, paths["status"])
        failed = status is not None and status.lower() in dialects.error_statuses
    text = first_text(fields, paths["text"]) or ""
    tool_name = ids[3]
    if tool_name:
        text = f"{tool_name}: {text}" if text else tool_name
    return new_event(*base, raw, canonical, envelope, *ids, failed, clip(text))


_ENVELOPE_AT, _SIZE_AT = EVENT_FIELDS.index("envelope"), EVENT_FIELDS.index("size")


def _batch(base: tuple, obj: dict, dialects: JsonDialects) -> tuple[Event, ...]:
    """An event_batch frame's events, each read as a frame of its own with the batch's ids
    beside its own, in the order they happened. The first carries the frame's size, the
    others none, so that sizes still add up to the bytes on the wire."""
    found = inner_items(obj["events"])
    if found is None:
        why = "event_batch whose events are neither a list nor a map"
        return (Event(*base, "event_batch", C.UNKNOWN, ENVELOPE, text=why),)
    items, from_map = found
    if not items:
        return (Event(*base, "event_batch", C.CONTROL, ENVELOPE),)
    skip = {"events", *dialects.type, *TIMESTAMP_FIELDS}
    shared = {key: value for key, value in obj.items() if key not in skip}
    containers = dialects.containers
    decoded = [
        (own_timestamp(item, containers), _from_object(base, {**shared, **item}, dialects))
        for item in items
    ]

    def restamp(event: Event, first: bool) -> Event:
        values = list(event_values(event))
        values[_ENVELOPE_AT], values[_SIZE_AT] = ENVELOPE, base[4] if first else 0
        return new_event(*values)

    return in_order(decoded, from_map, restamp)


def _type_of(obj: dict, dialects: JsonDialects) -> tuple[str | None, str]:
    raw = scalar(_first(obj, dialects.type))
    containers = dialects.containers
    nested = bool(containers) and type(obj.get(containers[0])) is dict
    envelope = "payload" if nested else "flat"
    if raw in dialects.system_types:
        inner = scalar(_first(obj, dialects.event))
        # A system_message without an agent event is control traffic, kept under its own name.
        return (inner, "system_message") if inner else (raw, "system_message")
    return raw, envelope


def _first(obj: dict, names: tuple[str, ...]) -> object:
    for name in names:
        if name in obj:
            return obj[name]
    return None


def _fields(obj: dict, containers: tuple[str, ...]) -> dict:
    """The object's fields and its containers' in one dict; the top level wins, then the
    containers in the profile's order. Read only: it may be `obj` itself."""
    fields = None
    for name in reversed(containers):
        inner = obj.get(name)
        if type(inner) is dict:  # json.loads makes plain dicts only
            fields = {**inner} if fields is None else fields | inner
    return obj if fields is None else fields | obj


def _ids(fields: dict, paths: Mapping[str, Paths]) -> list[str | None]:
    """Each of ID_FIELDS: the first of its paths that holds a non-empty string or a number.

    One loop rather than a call per field and per path: this runs for every frame.
    """
    ids: list[str | None] = []
    get = fields.get
    for name in ID_FIELDS:
        found = None
        for head, rest in paths[name]:
            value = lookup(fields, head, rest) if rest else get(head)
            kind = type(value)
            if kind is str:
                if not value:
                    continue
            elif kind is int or kind is float:  # not bool, whose type is bool
                value = str(value)
            else:
                continue
            found = value[:MAX_ID_CHARS]
            if not found.isprintable():
                found = UNPRINTABLE.sub("", found)
            break
        ids.append(found)
    return ids


def _snippet(payload: bytes) -> str:
    shown = payload[:60].decode("utf-8", "replace")
    return f"not JSON: {clip(shown, 60)!r}"
