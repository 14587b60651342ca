"""How one backend speaks: which fields hold the event type and the ids, which event types mean
what, and the timing targets; loaded from a TOML file, the default fits the demo backend.

Every key is optional; a file only says where its backend differs from the default.

    name = "acme"                  # shown in reports
    require_tools = true           # a completed run without tool events fails missing_events
    required = ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
                "agent_completed"]  # replaces the required events of a completed run

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

    control_prefixes = ["handshake_"]  # types starting with these are control traffic

    [types]                        # backend type = canonical kind; extends the default table
    "run.begin" = "agent_started"  # kinds: the values of Canonical below; "control" ignores one

    [targets]                      # seconds; the CLI's --max-* options override these
    max_first_event_s = 2.0
    max_tool_s = 10.0
    max_total_s = 30.0
    max_silence_s = 15.0           # the longest silence between events, tool time left out
    max_first_text_s = 5.0         # first text the user reads; no target unless set
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from types import MappingProxyType


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
    CONTROL = "control"
    UNKNOWN = "unknown"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    BINARY = "binary"


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
        "ping": C.CONTROL, "pong": C.CONTROL, "heartbeat": C.CONTROL,
        "heartbeat_ack": C.CONTROL, "ack": C.CONTROL, "connection_established": C.CONTROL,
        "agent_update": C.CONTROL, "echo": C.CONTROL, "system_message": C.CONTROL,
    }
)  # fmt: skip

DEFAULT_REQUIRED = (
    C.AGENT_STARTED, C.AGENT_THINKING, C.TOOL_EXECUTING, C.TOOL_COMPLETED, C.AGENT_COMPLETED,
)  # fmt: skip
TOOL_KINDS = frozenset({C.TOOL_EXECUTING, C.TOOL_COMPLETED})
ID_FIELDS = ("run_id", "thread_id", "user_id", "tool_name", "execution_id")


Paths = tuple[tuple[str, tuple[str, ...]], ...]  # (first name, the rest of the dotted path)


def _split(name: str) -> tuple[str, tuple[str, ...]]:
    head, *rest = name.split(".")
    return head, tuple(rest)


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Targets:
    """Timing targets in seconds; a run fails when it takes longer. None: no such target."""

    max_first_event_s: float = 2.0
    max_tool_s: float = 10.0
    max_total_s: float = 30.0
    max_silence_s: float = 15.0  # the seed product's own backend validator flags longer gaps
    max_first_text_s: float | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    name: str = "default"
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
    required: tuple[Canonical, ...] = DEFAULT_REQUIRED
    require_tools: bool = True
    targets: Targets = field(default_factory=Targets)
    # Field names split at dots once, here, rather than for every frame.
    paths: Mapping[str, Paths] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = {name: getattr(self, name) for name in (*ID_FIELDS, "status", "text")}
        split = {key: tuple(_split(n) for n in value) for key, value in names.items()}
        object.__setattr__(self, "paths", MappingProxyType(split))

    def kind_of(self, event_type: str) -> Canonical:
        kind = self.types.get(event_type)
        if kind is not None:
            return kind
        if event_type.startswith(self.control_prefixes):
            return Canonical.CONTROL
        return Canonical.UNKNOWN

    @property
    def required_completed(self) -> tuple[Canonical, ...]:
        """The events a completed run must have, after `require_tools` is applied."""
        if self.require_tools:
            return self.required
        return tuple(kind for kind in self.required if kind not in TOOL_KINDS)

    def with_targets(self, **targets: float | None) -> Profile:
        """This profile with the given targets replaced; None keeps the profile's value."""
        given = {name: float(value) for name, value in targets.items() if value is not None}
        unknown = set(given) - {f.name for f in fields(Targets)}
        if unknown:
            raise TypeError(f"unknown timing targets: {', '.join(sorted(unknown))}")
        return replace(self, targets=replace(self.targets, **given))


DEFAULT_PROFILE = Profile()
_FIELD_KEYS = (
    "type", "system_types", "event", "containers", *ID_FIELDS, "status", "error_statuses",
    "text", "user_query",
)  # fmt: skip


def load_profile(path: str | os.PathLike) -> Profile:
    """Reads a TOML profile; raises ProfileError naming the file and what is wrong."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    try:
        return profile_from_dict(data)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def profile_from_dict(data: Mapping) -> Profile:
    """A profile from already parsed TOML (the same keys as a file)."""
    unknown = set(data) - {
        "name", "require_tools", "required", "control_prefixes", "fields", "types", "targets",
    }  # fmt: skip
    if unknown:
        raise ProfileError(f"unknown keys {sorted(unknown)}")
    changes: dict = {}
    if "name" in data:
        changes["name"] = _string(data["name"], "name")
    if "require_tools" in data:
        if not isinstance(data["require_tools"], bool):
            raise ProfileError("require_tools must be true or false")
        changes["require_tools"] = data["require_tools"]
    if "control_prefixes" in data:
        changes["control_prefixes"] = _strings(data, "control_prefixes")
    if "required" in data:
        changes["required"] = tuple(_kind(v, "required") for v in _strings(data, "required"))
    changes.update(_fields(_table(data, "fields")))
    changes.update(_types(_table(data, "types")))
    changes["targets"] = _targets(_table(data, "targets"))
    return replace(DEFAULT_PROFILE, **changes)


def _fields(table: Mapping) -> dict:
    unknown = set(table) - set(_FIELD_KEYS)
    if unknown:
        raise ProfileError(f"unknown keys in [fields]: {sorted(unknown)}")
    return {key: _strings(table, key, "fields.") for key in table}


def _types(table: Mapping) -> dict:
    types = dict(DEFAULT_TYPES)
    for raw, value in table.items():
        types[raw] = _kind(value, f"types.{raw}")
    return {"types": MappingProxyType(types)}


def _targets(table: Mapping) -> Targets:
    names = {f.name for f in fields(Targets)}
    unknown = set(table) - names
    if unknown:
        raise ProfileError(f"unknown keys in [targets]: {sorted(unknown)}")
    values = {}
    for name, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ProfileError(f"targets.{name} must be a positive number of seconds")
        values[name] = float(value)
    return Targets(**values)


def _table(data: Mapping, key: str) -> Mapping:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ProfileError(f"[{key}] must be a table")
    return value


def _string(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ProfileError(f"{key} must be a string")
    return value


def _strings(table: Mapping, key: str, prefix: str = "") -> tuple[str, ...]:
    value = table[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(f"{prefix}{key} must be a list of strings")
    return tuple(value)


def _kind(value: object, key: str) -> Canonical:
    try:
        return Canonical(_string(value, key))
    except ValueError:
        kinds = ", ".join(k.value for k in Canonical)
        raise ProfileError(f"{key}: {value!r} is not one of {kinds}") from None
