"""The wire protocols the analyzer knows, by the name a profile's `protocol` key gives: adding
one is a module that implements events.WireProtocol and one line in PROTOCOLS."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from types import MappingProxyType

from wstape.analyzer.protocols import ag_ui, anthropic, openai_realtime, openai_responses, vercel_ai
from wstape.analyzer.protocols.ag_ui import AgUi
from wstape.analyzer.protocols.anthropic import Anthropic
from wstape.analyzer.protocols.events import WireProtocol
from wstape.analyzer.protocols.json_dialects import JsonDialects
from wstape.analyzer.protocols.openai_realtime import OpenAIRealtime
from wstape.analyzer.protocols.openai_responses import OpenAIResponses
from wstape.analyzer.protocols.options import ProfileError
from wstape.analyzer.protocols.vercel_ai import VercelAI

PROTOCOLS: Mapping[str, type[WireProtocol]] = MappingProxyType(
    {
        JsonDialects.name: JsonDialects,
        AgUi.name: AgUi,
        OpenAIRealtime.name: OpenAIRealtime,
        OpenAIResponses.name: OpenAIResponses,
        Anthropic.name: Anthropic,
        VercelAI.name: VercelAI,
    }
)
# What a profile that names no protocol gets, and what sniffing a capture falls back to.
DEFAULT = JsonDialects.name
# How a protocol is told from a capture's first frames: a test of one text frame's JSON object
# (and whether the client sent it). The first protocol that any of the first SNIFF_FRAMES
# frames passes is the capture's; none, and it is the default. The Responses API goes before
# Realtime, which shares its `response.*` names.
SNIFFERS: Mapping[str, Callable[[Mapping, bool], bool]] = MappingProxyType(
    {
        AgUi.name: ag_ui.sniff,
        OpenAIResponses.name: openai_responses.sniff,
        OpenAIRealtime.name: openai_realtime.sniff,
        Anthropic.name: anthropic.sniff,
        VercelAI.name: vercel_ai.sniff,
    }
)
SNIFF_FRAMES = 20
DEFAULT_PROTOCOL: WireProtocol = PROTOCOLS[DEFAULT]()


def protocol_class(name: str | None) -> type[WireProtocol]:
    """The protocol a profile names (None: the default); ProfileError for a name not known."""
    found = PROTOCOLS.get(DEFAULT if name is None else name)
    if found is None:
        raise ProfileError(f"protocol: {name!r} is not one of {', '.join(PROTOCOLS)}")
    return found


def sniff(frames: Iterable[tuple[bytes, bool]]) -> str:
    """The protocol a capture speaks, from its first text frames as (payload, from the client)."""
    objects = []
    for payload, from_client in islice(frames, SNIFF_FRAMES):
        try:
            obj = json.loads(payload)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            objects.append((obj, from_client))
    for name, test in SNIFFERS.items():
        if any(test(obj, from_client) for obj, from_client in objects):
            return name
    return DEFAULT
