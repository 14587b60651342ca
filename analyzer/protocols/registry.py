"""The wire protocols the analyzer knows, by the name a profile's `protocol` key gives: adding
one is a module that implements events.WireProtocol and one line in PROTOCOLS."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wstape.analyzer.protocols.events import WireProtocol
from wstape.analyzer.protocols.json_dialects import JsonDialects
from wstape.analyzer.protocols.openai_realtime import OpenAIRealtime
from wstape.analyzer.protocols.options import ProfileError

PROTOCOLS: Mapping[str, type[WireProtocol]] = MappingProxyType(
    {
        JsonDialects.name: JsonDialects,
        OpenAIRealtime.name: OpenAIRealtime,
    }
)
# What a profile that names no protocol gets. Sniffing the first frames of a capture belongs
# here, once there is more than one protocol to tell apart.
DEFAULT = JsonDialects.name
DEFAULT_PROTOCOL: WireProtocol = PROTOCOLS[DEFAULT]()


def protocol_class(name: str | None) -> type[WireProtocol]:
    """The protocol a profile names (None: the default); ProfileError for a name not known."""
    found = PROTOCOLS.get(DEFAULT if name is None else name)
    if found is None:
        raise ProfileError(f"protocol: {name!r} is not one of {', '.join(PROTOCOLS)}")
    return found
