"""The seed product's `event_batch` frames taken apart: one frame holds many events, as a list or
as a map of type → list, and they are put back in the order they happened. json_dialects.py
decodes each inner event as it decodes a frame, and uses what is here to order them.

    {"type": "event_batch", "user_id": "u1", "batch_id": "b7", "batch_size": 3,
     "timestamp": "2026-03-01T12:00:00.250Z",
     "events": [{"type": "agent_thinking", "timestamp": 1772366400.1, ...}, ...]}
     # or "events": {"agent_thinking": [{...}, ...], "partial_result": [{...}]}

Every inner event arrived with its frame, so each one's Event.ts is the frame's arrival time (the
moment the user saw it, on the recorder's clock, as for an unbatched event); its own timestamp,
on the backend's clock, only orders it within the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType

from wstape.analyzer.protocols.events import Canonical, Event

C = Canonical
BATCH_TYPES = frozenset({"event_batch"})
ENVELOPE = "event_batch"
TIMESTAMP_FIELDS = ("timestamp", "ts", "created_at")

# A map of type → list loses the order across types. Without timestamps to restore it, the
# events are put in the order of a run's phases, so that the batching alone never reads as an
# order failure (a completion before the thinking it came after).
PHASE: Mapping[Canonical, int] = MappingProxyType(
    {
        C.USER_MESSAGE: 0, C.RESUME: 0, C.AGENT_STARTED: 1, C.AGENT_THINKING: 2,
        C.TOOL_EXECUTING: 3, C.PARTIAL_RESULT: 4, C.TOOL_COMPLETED: 5, C.TOOL_ERROR: 5,
        C.ERROR: 6, C.AGENT_COMPLETED: 7,
    }
)  # fmt: skip
_MIDDLE = 4  # kinds without a phase (the product's own, unknown) sit among the agent's work
_MS_EPOCH = 1e11  # a number above this is milliseconds since the epoch, not seconds


def inner_items(events: object) -> tuple[list[dict], bool] | None:
    """The batch's events as objects, each with its type, and whether they came as a map
    (their order across types lost); None when `events` is neither a list nor a map."""
    if isinstance(events, list):
        return [item for item in events if isinstance(item, dict)], False
    if not isinstance(events, dict):
        return None
    items = []
    for name, group in events.items():
        group = group if isinstance(group, list) else [group]
        items += [{"type": name, **item} for item in group if isinstance(item, dict)]
    return items, True


def timestamp(value: object) -> float | None:
    """Epoch seconds from a float or int (seconds or milliseconds) or an ISO 8601 string; None
    when it is neither (a naive ISO time is taken as UTC: only the order within a batch uses it)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
        return (
            seconds / 1000 if seconds > _MS_EPOCH else seconds if math.isfinite(seconds) else None
        )
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def own_timestamp(item: dict, containers: Sequence[str]) -> float | None:
    """The inner event's own time: a timestamp field beside its type or in its containers."""
    for fields in (item, *(item.get(name) for name in containers)):
        if isinstance(fields, dict):
            for name in TIMESTAMP_FIELDS:
                if name in fields:
                    return timestamp(fields[name])
    return None


def in_order(
    decoded: list[tuple[float | None, Event]], from_map: bool, restamp: Callable[..., Event]
) -> tuple[Event, ...]:
    """The batch's events in the order they happened: by their own timestamps when every one
    has one (phase breaking ties of a map), else a map's by phase and a list's as it came.
    `restamp(event, first)` gives each its place in the batch (envelope, size)."""
    if all(stamp is not None for stamp, _ in decoded):
        if from_map:
            decoded = sorted(decoded, key=lambda p: (p[0], PHASE.get(p[1].canonical, _MIDDLE)))
        else:
            decoded = sorted(decoded, key=lambda p: p[0])
    elif from_map:
        decoded = sorted(decoded, key=lambda p: PHASE.get(p[1].canonical, _MIDDLE))
    return tuple(restamp(event, i == 0) for i, (_, event) in enumerate(decoded))
