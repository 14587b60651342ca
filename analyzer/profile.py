"""How one backend is judged: the wire protocol it speaks with that protocol's options, the
events a completed run must carry, and the timing targets; loaded from a TOML file, the default
fits the demo backend.

Every key is optional; a file only says where its backend differs from the default.

    name = "acme"                  # shown in reports
    protocol = "wstape-json"       # the wire protocol (protocols/registry.py); the default
    require_tools = true           # a completed run without tool events fails missing_events
    required = ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
                "agent_completed"]  # replaces the required events of a completed run: the
                                    # canonical kinds, or any event type the backend sends

    [targets]                      # seconds; the CLI's --max-* options override these
    max_first_event_s = 2.0
    max_tool_s = 10.0
    max_total_s = 30.0
    max_silence_s = 15.0           # the longest silence between events, tool time left out
    max_first_text_s = 5.0         # first text the user reads; no target unless set

The other keys are the protocol's own options; for wstape-json, control_prefixes, [fields]
and [types] rename what the backend calls things (protocols/json_dialects.py says how).

The profiles shipped in profiles/ are known by name (`--profile ag-ui`), and a file may start
from one with `extends = "ag-ui"`: its keys replace the built-in's, its tables add to them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources

from wstape.analyzer.protocols.events import TOOL_KINDS, Canonical, WireProtocol
from wstape.analyzer.protocols.options import ProfileError, string, strings, table
from wstape.analyzer.protocols.registry import DEFAULT_PROTOCOL, protocol_class

__all__ = [
    "DEFAULT_PROFILE", "Profile", "ProfileError", "Targets", "builtin_names", "builtin_text",
    "load_profile", "profile_for_protocol",
]  # fmt: skip

C = Canonical
DEFAULT_REQUIRED = (
    C.AGENT_STARTED, C.AGENT_THINKING, C.TOOL_EXECUTING, C.TOOL_COMPLETED, C.AGENT_COMPLETED,
)  # fmt: skip
_OWN_KEYS = frozenset({"name", "protocol", "require_tools", "required", "targets", "extends"})
_BUILT_IN = resources.files("wstape.analyzer.profiles")
_NOT_BUILT_IN = frozenset({"example"})  # a sample to copy, not a backend's profile


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
    protocol: WireProtocol = field(default_factory=lambda: DEFAULT_PROTOCOL)
    required: tuple[Canonical, ...] = DEFAULT_REQUIRED
    require_tools: bool = True
    targets: Targets = field(default_factory=Targets)
    # The product's own events a completed run must carry, by the backend's type name
    # (Event.type): `required` names that are no canonical kind, and `--require`.
    required_events: tuple[str, ...] = ()

    @property
    def user_query(self) -> tuple[str, ...]:
        """Query parameters of a connection's URL that name its user."""
        return self.protocol.user_query

    @property
    def required_completed(self) -> tuple[Canonical, ...]:
        """The events a completed run must have, after `require_tools` is applied."""
        if self.require_tools:
            return self.required
        return tuple(kind for kind in self.required if kind not in TOOL_KINDS)

    def with_required(self, names: Iterable[str]) -> Profile:
        """This profile with these events also required of a completed run (`--require`)."""
        kinds, events = _split_required(names)
        required = self.required + tuple(k for k in kinds if k not in self.required)
        added = tuple(e for e in events if e not in self.required_events)
        return replace(self, required=required, required_events=self.required_events + added)

    def with_targets(self, **targets: float | None) -> Profile:
        """This profile with the given targets replaced; None keeps the profile's value."""
        given = {name: float(value) for name, value in targets.items() if value is not None}
        unknown = set(given) - {f.name for f in fields(Targets)}
        if unknown:
            raise TypeError(f"unknown timing targets: {', '.join(sorted(unknown))}")
        return replace(self, targets=replace(self.targets, **given))


DEFAULT_PROFILE = Profile()


def builtin_names() -> list[str]:
    """The names of the profiles shipped with wstape, the default first."""
    names = [f.name.removesuffix(".toml") for f in _BUILT_IN.iterdir() if f.name.endswith(".toml")]
    return sorted(set(names) - _NOT_BUILT_IN, key=lambda name: (name != "default", name))


def builtin_text(name: str) -> str:
    """A built-in profile's TOML, to copy and edit; ProfileError for a name not shipped."""
    if name not in builtin_names():
        raise ProfileError(f"no built-in profile {name!r}: one of {', '.join(builtin_names())}")
    return _BUILT_IN.joinpath(f"{name}.toml").read_text(encoding="utf-8")


def profile_for_protocol(protocol: str) -> Profile:
    """The built-in profile of a protocol: the one named after it, else the default."""
    return load_profile(protocol) if protocol in builtin_names() else DEFAULT_PROFILE


def load_profile(path: str | os.PathLike) -> Profile:
    """Reads a TOML profile, or a built-in one by name when no such file exists; raises
    ProfileError naming the file and what is wrong."""
    try:
        if not os.path.exists(path) and os.fspath(path) in builtin_names():
            data = tomllib.loads(builtin_text(os.fspath(path)))
        else:
            with open(path, "rb") as file:
                data = tomllib.load(file)
    except OSError as exc:
        known = f" (built-in profiles: {', '.join(builtin_names())})"
        raise ProfileError(f"{path}: cannot read profile: {exc.strerror or exc}{known}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    try:
        return profile_from_dict(data)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def profile_from_dict(data: Mapping) -> Profile:
    """A profile from already parsed TOML (the same keys as a file)."""
    data = _extended(data)
    named = string(data["protocol"], "protocol") if "protocol" in data else None
    protocol = protocol_class(named)
    unknown = set(data) - _OWN_KEYS - protocol.profile_keys
    if unknown:
        raise ProfileError(f"unknown keys {sorted(unknown)}")
    changes: dict = {}
    if "name" in data:
        changes["name"] = string(data["name"], "name")
    if "require_tools" in data:
        if not isinstance(data["require_tools"], bool):
            raise ProfileError("require_tools must be true or false")
        changes["require_tools"] = data["require_tools"]
    if "required" in data:
        names = strings(data, "required")
        if not all(names):
            raise ProfileError("required: an event name cannot be empty")
        changes["required"], changes["required_events"] = _split_required(names)
    changes["protocol"] = protocol.from_profile(data)
    changes["targets"] = _targets(table(data, "targets"))
    return replace(DEFAULT_PROFILE, **changes)


def _extended(data: Mapping, depth: int = 0) -> Mapping:
    """The profile's keys over those of the built-in it extends: tables merge, the rest wins."""
    if "extends" not in data:
        return data
    name = string(data["extends"], "extends")
    if depth > 8:
        raise ProfileError(f"extends: {name!r} extends itself")
    base = dict(_extended(tomllib.loads(builtin_text(name)), depth + 1))
    for key, value in data.items():
        both_tables = isinstance(value, dict) and isinstance(base.get(key), dict)
        base[key] = {**base[key], **value} if both_tables else value
    del base["extends"]
    return base


def _split_required(names: Iterable[str]) -> tuple[tuple[Canonical, ...], tuple[str, ...]]:
    """Required names as canonical kinds and the product's own event types (the rest)."""
    kinds = tuple(dict.fromkeys(Canonical(n) for n in names if n in _KINDS))
    return kinds, tuple(dict.fromkeys(n for n in names if n not in _KINDS))


_KINDS = frozenset(k.value for k in Canonical)


def _targets(values: Mapping) -> Targets:
    names = {f.name for f in fields(Targets)}
    unknown = set(values) - names
    if unknown:
        raise ProfileError(f"unknown keys in [targets]: {sorted(unknown)}")
    seconds = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ProfileError(f"targets.{name} must be a positive number of seconds")
        seconds[name] = float(value)
    return Targets(**seconds)
