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

The other keys are the protocol's own options; for wstape-json, control_prefixes, [fields]
and [types] rename what the backend calls things (protocols/json_dialects.py says how).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace

from wstape.analyzer.protocols.events import TOOL_KINDS, Canonical, WireProtocol
from wstape.analyzer.protocols.options import ProfileError, string, strings, table
from wstape.analyzer.protocols.registry import DEFAULT_PROTOCOL, protocol_class

__all__ = ["DEFAULT_PROFILE", "Profile", "ProfileError", "Targets", "load_profile"]

C = Canonical
DEFAULT_REQUIRED = (
    C.AGENT_STARTED, C.AGENT_THINKING, C.TOOL_EXECUTING, C.TOOL_COMPLETED, C.AGENT_COMPLETED,
)  # fmt: skip
_OWN_KEYS = frozenset({"name", "protocol", "require_tools", "required", "targets"})


@dataclass(frozen=True, slots=True)
class Targets:
    """Timing targets in seconds; a run fails when it takes longer."""

    max_first_event_s: float = 2.0
    max_tool_s: float = 10.0
    max_total_s: float = 30.0


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
