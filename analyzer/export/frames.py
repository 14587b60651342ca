"""A capture as a pandas DataFrame, one row per recorded frame with its event classification;
pandas is imported only here, and only when `load` is called."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from wstape.analyzer.profile import DEFAULT_PROFILE, ID_FIELDS, Profile
from wstape.analyzer.protocols.events import Canonical, to_event
from wstape.analyzer.sources.reading import read_messages

if TYPE_CHECKING:
    import pandas

CATEGORIES = {
    "direction": ["client", "server"],
    "kind": ["text", "binary"],
    "canonical": [kind.value for kind in Canonical],
}
COLUMNS = (
    "connection", "ts", "direction", "kind", "size", "type", "canonical", "envelope",
    *ID_FIELDS, "failed", "text",
)  # fmt: skip


def load(
    path: str | os.PathLike,
    profile: Profile | None = None,
    warn: Callable[[str], None] | None = None,
) -> pandas.DataFrame:
    """Every frame of a capture (folder or segment file, mitmproxy flow file, HAR file), in order.

    Columns: connection, direction ("client"/"server"), kind ("text"/"binary"), type (the
    backend's event type), canonical (what wstape reads it as) and envelope are categories;
    ts is float64 epoch seconds; size is Int64; the ids (run_id, thread_id, user_id, tool_name,
    execution_id) and text are strings, missing as <NA>; failed is boolean.
    """
    import pandas as pd

    profile = profile or DEFAULT_PROFILE
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    for message in read_messages(path, warn):
        event = to_event(message, profile)
        columns["connection"].append(event.connection)
        columns["ts"].append(event.ts)
        columns["direction"].append(event.direction)
        columns["kind"].append("text" if event.is_text else "binary")
        columns["size"].append(event.size)
        columns["type"].append(event.type or None)
        columns["canonical"].append(event.canonical.value)
        columns["envelope"].append(event.envelope or None)
        for name in ID_FIELDS:
            columns[name].append(getattr(event, name))
        columns["failed"].append(event.failed)
        columns["text"].append(event.text or None)
    return pd.DataFrame(
        {
            "connection": pd.Categorical(columns["connection"]),
            "ts": pd.array(columns["ts"], dtype="float64"),
            "direction": pd.Categorical(columns["direction"], CATEGORIES["direction"]),
            "kind": pd.Categorical(columns["kind"], CATEGORIES["kind"]),
            "size": pd.array(columns["size"], dtype="Int64"),
            "type": pd.Categorical(columns["type"]),
            "canonical": pd.Categorical(columns["canonical"], CATEGORIES["canonical"]),
            "envelope": pd.Categorical(columns["envelope"]),
            **{name: pd.array(columns[name], dtype="string") for name in ID_FIELDS},
            "failed": pd.array(columns["failed"], dtype="boolean"),
            "text": pd.array(columns["text"], dtype="string"),
        }
    )
