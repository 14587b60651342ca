"""Reading the values of a parsed TOML profile, for analyzer/profile.py's own keys and for each
protocol's options; a bad value is a ProfileError that names its key."""

from __future__ import annotations

from collections.abc import Mapping

from wstape.analyzer.protocols.events import Canonical


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the key."""


def table(data: Mapping, key: str) -> Mapping:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ProfileError(f"[{key}] must be a table")
    return value


def string(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ProfileError(f"{key} must be a string")
    return value


def strings(data: Mapping, key: str, prefix: str = "") -> tuple[str, ...]:
    value = data[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(f"{prefix}{key} must be a list of strings")
    return tuple(value)


def kind(value: object, key: str) -> Canonical:
    try:
        return Canonical(string(value, key))
    except ValueError:
        kinds = ", ".join(k.value for k in Canonical)
        raise ProfileError(f"{key}: {value!r} is not one of {kinds}") from None
