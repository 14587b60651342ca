"""The JSON dialects' quick reader: one frame's object read into its Event in one pass, for the
objects nearly every frame is (a string type under its one name, at most one container object
beside the fields, each id under one name). Anything else it hands back (None) to
json_dialects' general reader, which gives the same Event; tests/test_json_quick.py holds the
two equal over fuzzed frames. Also the field readers both share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from wstape.analyzer.protocols.events import (
    MAX_ID_CHARS,
    UNPRINTABLE,
    Canonical,
    Event,
    Frame,
    clip,
    new_event,
)

Paths = tuple[tuple[str, tuple[str, ...]], ...]  # (first name, the rest of the dotted path)
_CONTROL, _UNKNOWN = Canonical.CONTROL, Canonical.UNKNOWN
_ERROR, _TOOL_ERROR = Canonical.ERROR, Canonical.TOOL_ERROR


@dataclass(frozen=True, slots=True)
class Layout:
    """What the quick reader reads, from a JsonDialects whose fields it can read this way."""

    type_name: str
    containers: tuple[str, ...]
    ids: tuple[str, ...]  # the one name of each of ID_FIELDS, in order
    status: Paths
    text: Paths
    types: dict[str, Canonical]  # a plain dict: a mapping proxy's get costs more, every frame
    control_prefixes: tuple[str, ...]
    error_statuses: tuple[str, ...]
    general: frozenset[str]  # types the general reader takes (envelopes, batches)
    # The first names of the status and text paths: an object with none of them has neither,
    # as most events have no status and many no text (one test instead of a lookup per path).
    status_heads: frozenset[str] = frozenset()
    text_heads: frozenset[str] = frozenset()


def layout(
    type_names: tuple[str, ...],
    containers: tuple[str, ...],
    paths: Mapping[str, Paths],
    id_fields: tuple[str, ...],
    **rest,
) -> Layout | None:
    """The quick reader's Layout for these field names, or None when it cannot read them: more
    than one name for the type or an id, a dotted id, or a field named like the type or a
    container (the quick reader looks fields up beside those, not among them)."""
    ids = [paths[name] for name in id_fields]
    if len(type_names) != 1 or any(len(p) != 1 or p[0][1] for p in ids):
        return None
    looked_up = {head for key in (*id_fields, "status", "text") for head, _ in paths[key]}
    if looked_up & {*type_names, *containers}:
        return None
    status, text = paths["status"], paths["text"]
    return Layout(type_names[0], containers, tuple(p[0][0] for p in ids), status, text, **rest,
                  status_heads=frozenset(head for head, _ in status),
                  text_heads=frozenset(head for head, _ in text))  # fmt: skip


def quick_event(found: Layout, frame: Frame, obj: dict) -> Event | None:
    """The frame's Event, as the general reader would give it; None when it is for that one."""
    raw = obj.get(found.type_name)
    if type(raw) is not str or raw in found.general:
        return None
    fields = _fields(obj, found.containers)
    if fields is None:
        return None  # two containers: the general reader merges them
    envelope = (
        "payload" if fields is not obj and type(obj.get(found.containers[0])) is dict else "flat"
    )
    if len(raw) > MAX_ID_CHARS:
        raw = raw[:MAX_ID_CHARS]
    if not raw.isprintable():
        raw = UNPRINTABLE.sub("", raw)
    canonical = found.types.get(raw)
    if canonical is None:
        canonical = _CONTROL if raw.startswith(found.control_prefixes) else _UNKNOWN
    get = fields.get
    run, thread, user, tool, execution = found.ids
    run_id, thread_id, user_id = ident(get(run)), ident(get(thread)), ident(get(user))
    tool_name, execution_id = ident(get(tool)), ident(get(execution))
    if canonical is _CONTROL:
        # Pings are most of a capture; nothing in their text matters to a verdict.
        return new_event(frame.connection, frame.ts, frame.from_client, True, len(frame.payload),
                         raw, canonical, envelope, run_id, thread_id, user_id, tool_name,
                         execution_id, False, "")  # fmt: skip
    failed = canonical is _ERROR or canonical is _TOOL_ERROR
    if not failed and not found.status_heads.isdisjoint(fields):
        status = first_text(fields, found.status)
        failed = status is not None and status.lower() in found.error_statuses
    text = "" if found.text_heads.isdisjoint(fields) else first_text(fields, found.text) or ""
    if tool_name:
        text = f"{tool_name}: {text}" if text else tool_name
    return new_event(frame.connection, frame.ts, frame.from_client, True, len(frame.payload), raw,
                     canonical, envelope, run_id, thread_id, user_id, tool_name, execution_id,
                     failed, clip(text))  # fmt: skip


def _fields(obj: dict, containers: tuple[str, ...]) -> dict | None:
    """The fields of an object with at most one container object: the object's own win over its
    container's; None for more than one container."""
    inner = None
    for name in containers:
        value = obj.get(name)
        if type(value) is dict:
            if inner is not None:
                return None
            inner = value
    if inner is None:
        return obj
    # Only the type and the container beside it need no merge: neither is looked up.
    return inner if len(obj) == 2 else inner | obj


def ident(value: object) -> str | None:
    """An id from one field: a non-empty string or a number, clipped and cleaned."""
    if value is None:
        return None
    kind = type(value)
    if kind is str:
        if not value:
            return None
    elif kind is int or kind is float:  # not bool, whose type is bool
        value = str(value)
    else:
        return None
    found = value[:MAX_ID_CHARS]  # type: ignore[index]
    return found if found.isprintable() else UNPRINTABLE.sub("", found)


def lookup(fields: dict, head: str, rest: tuple[str, ...]) -> object:
    value = fields.get(head)
    for part in rest:
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value


def first_text(fields: dict, paths: Paths) -> str | None:
    """The first of `paths` that holds text: a non-empty string, a number, or the same in an
    object's `message` (an error object usually says it best there)."""
    get = fields.get
    for head, rest in paths:
        value = get(head)
        if value is None:
            continue
        for part in rest:
            value = value.get(part) if type(value) is dict else None
        if type(value) is dict:
            value = value.get("message")
        kind = type(value)
        if kind is str:
            if value:
                return value  # type: ignore[return-value]
        elif kind is int or kind is float:
            return str(value)
    return None


def scalar(value: object) -> str | None:
    """Strings and numbers as text; containers, booleans and null are no id."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None
