"""Which shard judges each connection of a capture. Every shard reads the same records in the
same order and makes the same choices, so they agree without talking to each other.

A connection goes to the shard of its user (the URL's user query, as the run assembler reads
it) or, without one, of the first id its first message names (user, thread, run): the
connections of one user or thread, where runs continue after a reconnect, stay together. A key
seen for the first time goes to the shard with the fewest messages so far (then the fewest
keys), which balances a capture of a few long connections as well as one of many short ones.
Where runs still cross shards (a leak to another user's connection), the main process finds
out and judges them again together (parallel/merge.py): this is a heuristic, not a proof.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from wstape.analyzer.protocols.events import Event
from wstape.recorder.capture import Open


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard's share of an input: of `count` shards, the connections the rule above gives
    number `index`. A second pass names its connections instead (`only`); a re-run of the first
    pass leaves out the connections a second pass judges (`skip`), everything else as before."""

    path: str
    index: int = 0
    count: int = 1
    only: frozenset[str] | None = None
    skip: frozenset[str] = frozenset()


class Owners:
    """The rule, applied record by record: `assigned` gives each connection's shard once it
    is known (at its open, or at its first message), `mine` the connections this shard judges,
    `load` the messages of each shard so far."""

    def __init__(self, shard: Shard, user_query: Sequence[str]) -> None:
        self.shard = shard
        self.user_query = tuple(user_query)
        self.assigned: dict[str, int] = {}
        self.mine: set[str] = set()
        self.load = [0] * shard.count
        self._keys: dict[tuple[str, str], int] = {}
        self._keys_of = [0] * shard.count

    def open(self, record: Open) -> None:
        """A connection opens: placed now when its URL names its user."""
        if record.connection in self.assigned or not self.user_query:
            return
        query = parse_qs(urlsplit(record.path or record.url).query)
        for name in self.user_query:
            if query.get(name):
                self._place(record.connection, ("user", query[name][0]))
                return

    def first(self, connection: str, events: Sequence[Event]) -> int:
        """A connection not placed yet at its first message, which decoded to `events`."""
        for field in ("user_id", "thread_id", "run_id"):
            for event in events:
                value = getattr(event, field)
                if value:
                    return self._place(connection, (field, value))
        return self._place(connection, ("connection", connection))

    def _place(self, connection: str, key: tuple[str, str]) -> int:
        index = self._keys.get(key)
        if index is None:
            count = self.shard.count
            index = min(range(count), key=lambda i: (self.load[i], self._keys_of[i], i))
            self._keys[key] = index
            self._keys_of[index] += 1
        self.assigned[connection] = index
        shard = self.shard
        if shard.only is not None:
            mine = connection in shard.only
        else:
            mine = index == shard.index and connection not in shard.skip
        if mine:
            self.mine.add(connection)
        return index
