"""A capture as a pandas DataFrame, one row per event decoded from its frames, a column per
field of protocols.events.Event; pandas is imported only here, and only when `load` is called."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from operator import attrgetter
from typing import TYPE_CHECKING

from wstape.analyzer.api import detect_profile
from wstape.analyzer.profile import Profile
from wstape.analyzer.protocols.events import EVENT_FIELDS, Canonical, Decoders, Event
from wstape.analyzer.sources.reading import read_records
from wstape.recorder.capture import Close, Error, Message, Record

if TYPE_CHECKING:
    import pandas

# Event fields whose column has another name or shows their values otherwise (converted a
# chunk at a time: a call per value cost more than the rest of the row); every other field is
# a column of its own name and values.
SHOWN_AS: Mapping[str, tuple[str, Callable[[Iterable], list]]] = {
    "from_client": ("direction", lambda values: ["client" if v else "server" for v in values]),
    "is_text": ("kind", lambda values: ["text" if v else "binary" for v in values]),
    "type": ("type", lambda values: [v or None for v in values]),
    "canonical": ("canonical", lambda values: [v.value for v in values]),
    "envelope": ("envelope", lambda values: [v or None for v in values]),
    "text": ("text", lambda values: [v or None for v in values]),
}
COLUMNS = tuple(SHOWN_AS[name][0] if name in SHOWN_AS else name for name in EVENT_FIELDS)
CATEGORIES = {
    "direction": ["client", "server"],
    "kind": ["text", "binary"],
    "canonical": [kind.value for kind in Canonical],
}
CATEGORICAL = frozenset({"connection", "type", "envelope", *CATEGORIES})
DTYPES = {"ts": "float64", "size": "Int64", "failed": "boolean"}  # the others are strings
CHUNK = 10_000  # events per column update: a few MB in flight, not the whole capture


def load(
    path: str | os.PathLike,
    profile: Profile | None = None,
    warn: Callable[[str], None] | None = None,
) -> pandas.DataFrame:
    """Every event of a capture (folder or segment file, mitmproxy flow file, HAR file), in
    order; with wstape's own JSON protocol, one per frame (an event_batch frame gives its events).
    Without a profile, the capture's first frames pick one (as `analyze` does).

    Columns: connection, direction ("client"/"server"), kind ("text"/"binary"), type (the
    backend's event type), canonical (what wstape reads it as) and envelope are categories;
    ts is float64 epoch seconds; size is Int64; the ids (run_id, thread_id, user_id, tool_name,
    execution_id) and text are strings, missing as <NA>; failed is boolean.
    """
    import pandas as pd

    columns: dict[str, list] = {name: [] for name in COLUMNS}
    getters = [(SHOWN_AS.get(name, (name, None)), attrgetter(name)) for name in EVENT_FIELDS]
    protocol = (profile or detect_profile(path)).protocol
    events = _events(read_records(path, warn), Decoders(protocol))
    while chunk := list(islice(events, CHUNK)):
        for (column, shown), get in getters:
            values = map(get, chunk)
            columns[column] += values if shown is None else shown(values)
    return pd.DataFrame({name: _typed(pd, name, values) for name, values in columns.items()})


def _events(records: Iterable[Record], decoders: Decoders) -> Iterator[Event]:
    for record in records:
        if type(record) is Message:  # nearly every record: the exact type is the quick test
            yield from decoders[record.connection].feed(record)
        elif isinstance(record, Message):
            yield from decoders.feed(record)
        elif isinstance(record, Close | Error):
            yield from decoders.end(record.connection, record.ts)


def _typed(pd, name: str, values: list):
    if name in CATEGORICAL:
        return pd.Categorical(values, CATEGORIES.get(name))
    return pd.array(values, dtype=DTYPES.get(name, "string"))
