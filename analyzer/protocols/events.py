"""Frames → events: each recorded WebSocket message classified into one canonical kind with its
ids, whichever envelope the backend used; pure, and total over hostile input."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from wstape.analyzer.profile import DEFAULT_PROFILE, ID_FIELDS, Canonical, Paths, Profile

__all__ = ["Canonical", "Event", "Frame", "to_event", "CHAT_KINDS", "SERVER_KINDS"]

MAX_ID_CHARS = 200
MAX_TEXT_CHARS = 200
# Frames are untrusted: terminal escapes and characters XML or UTF-8 cannot carry are dropped
# from anything the analyzer prints or writes.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# Kinds that belong to a chat run; the rest never joins one.
SERVER_KINDS = frozenset(
    {
        Canonical.AGENT_STARTED, Canonical.AGENT_THINKING, Canonical.TOOL_EXECUTING,
        Canonical.TOOL_COMPLETED, Canonical.TOOL_ERROR, Canonical.PARTIAL_RESULT,
        Canonical.AGENT_COMPLETED, Canonical.ERROR,
    }
)  # fmt: skip
CHAT_KINDS = SERVER_KINDS | {Canonical.USER_MESSAGE, Canonical.RESUME}


@dataclass(frozen=True, slots=True)
class Frame:
    """One WebSocket message as recorded; `wstape.recorder.capture.Message` has the same fields."""

    connection: str
    ts: float
    from_client: bool
    is_text: bool
    payload: bytes


@dataclass(frozen=True, slots=True)
class Event:
    """A frame as the analyzer understands it.

    `type` is the backend's own name (the inner `event` of a system_message); `canonical` is what
    it means. For frames that are not JSON objects, `text` says why.
    """

    connection: str
    ts: float
    from_client: bool
    is_text: bool
    size: int
    canonical: Canonical
    type: str = ""
    envelope: str = ""  # "payload", "flat", "system_message", or "" when not a JSON object
    run_id: str | None = None
    thread_id: str | None = None
    user_id: str | None = None
    tool_name: str | None = None
    execution_id: str | None = None
    failed: bool = False
    text: str = ""

    @property
    def direction(self) -> str:
        return "client" if self.from_client else "server"


def to_event(frame: Frame, profile: Profile = DEFAULT_PROFILE) -> Event:
    """Classifies one frame; never raises, whatever the payload holds."""
    base = (frame.connection, frame.ts, frame.from_client, frame.is_text, len(frame.payload))
    if not frame.is_text:
        return Event(*base, Canonical.BINARY)
    try:
        obj = json.loads(frame.payload.decode("utf-8"))
    except UnicodeDecodeError:
        return Event(*base, Canonical.NOT_JSON, text="text frame is not valid UTF-8")
    except RecursionError:
        return Event(*base, Canonical.NOT_JSON, text="JSON nested too deeply to read")
    except ValueError:
        return Event(*base, Canonical.NOT_JSON, text=_snippet(frame.payload))
    if not isinstance(obj, dict):
        return Event(*base, Canonical.NOT_OBJECT, text=f"JSON {type(obj).__name__}, not an object")
    return _from_object(base, obj, profile)


def _from_object(base: tuple, obj: dict, profile: Profile) -> Event:
    raw, envelope = _type_of(obj, profile)
    if raw is None:
        return Event(*base, Canonical.UNKNOWN, envelope=envelope, text="JSON object without a type")
    raw = _clean(raw[:MAX_ID_CHARS])
    canonical = profile.kind_of(raw)
    fields = _fields(obj, profile.containers)
    paths = profile.paths
    ids = _ids(fields, paths)
    if canonical is Canonical.CONTROL:
        # Pings are most of a capture; nothing in their text matters to a verdict.
        return new_event(*base, canonical, raw, envelope, *ids, False, "")
    failed = canonical is Canonical.ERROR or canonical is Canonical.TOOL_ERROR
    if not failed:
        status = _first_text(fields, paths["status"])
        failed = status is not None and status.lower() in profile.error_statuses
    text = _first_text(fields, paths["text"]) or ""
    tool_name = ids[3]
    if tool_name:
        text = f"{tool_name}: {text}" if text else tool_name
    return new_event(*base, canonical, raw, envelope, *ids, failed, _clip(text, MAX_TEXT_CHARS))


class _EventSlots:
    """Event's slot layout without `frozen`: filling these slots and then setting
    `__class__ = Event` builds a real, equal, immutable Event in about a third of the time of
    the frozen __init__ (one object.__setattr__ per field, fifteen fields, every frame); the
    same device as wstape.recorder.capture's Message."""

    __slots__ = Event.__slots__


def new_event(
    connection: str, ts: float, from_client: bool, is_text: bool, size: int,
    canonical: Canonical, type: str, envelope: str, run_id: str | None,
    thread_id: str | None, user_id: str | None, tool_name: str | None,
    execution_id: str | None, failed: bool, text: str,
) -> Event:  # fmt: skip
    """Event(...) with every field given, positionally, the fast way (see _EventSlots)."""
    e = object.__new__(_EventSlots)
    e.connection, e.ts, e.from_client, e.is_text, e.size = (
        connection,
        ts,
        from_client,
        is_text,
        size,
    )
    e.canonical, e.type, e.envelope, e.failed, e.text = canonical, type, envelope, failed, text
    e.run_id, e.thread_id, e.user_id = run_id, thread_id, user_id
    e.tool_name, e.execution_id = tool_name, execution_id
    e.__class__ = Event
    return e  # type: ignore[return-value]


def _type_of(obj: dict, profile: Profile) -> tuple[str | None, str]:
    raw = _scalar(_first(obj, profile.type))
    containers = profile.containers
    nested = bool(containers) and type(obj.get(containers[0])) is dict
    envelope = "payload" if nested else "flat"
    if raw in profile.system_types:
        inner = _scalar(_first(obj, profile.event))
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


def _lookup(fields: dict, head: str, rest: tuple[str, ...]) -> object:
    value = fields.get(head)
    for part in rest:
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value


def _ids(fields: dict, paths: Mapping[str, Paths]) -> list[str | None]:
    """Each of ID_FIELDS: the first of its paths that holds a non-empty string or a number.

    One loop rather than a call per field and per path: this runs for every frame.
    """
    ids: list[str | None] = []
    get = fields.get
    for name in ID_FIELDS:
        found = None
        for head, rest in paths[name]:
            value = _lookup(fields, head, rest) if rest else get(head)
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
                found = _UNPRINTABLE.sub("", found)
            break
        ids.append(found)
    return ids


def _first_text(fields: dict, paths: Paths) -> str | None:
    get = fields.get
    for head, rest in paths:
        value = _lookup(fields, head, rest) if rest else get(head)
        if value is None:
            continue
        if type(value) is dict:
            # An error object usually says it best in its own `message`.
            value = value.get("message")
        text = _scalar(value)
        if text:
            return text
    return None


def _scalar(value: object) -> str | None:
    """Strings and numbers as text; containers, booleans and null are no id."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _clean(text: str) -> str:
    return _UNPRINTABLE.sub("", text) if not text.isprintable() else text


def _clip(text: str, limit: int) -> str:
    text = _clean(" ".join(text[: limit * 2].split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _snippet(payload: bytes) -> str:
    shown = payload[:60].decode("utf-8", "replace")
    return f"not JSON: {_clip(shown, 60)!r}"
