"""When each run in flight is next worth asking whether it is over: the assembler's sweep visits
only the runs that are due, not every run in flight (most linger a minute after they end, so a
sweep over all of them asked each one a dozen times)."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Generic, TypeVar

R = TypeVar("R")


class Schedule(Generic[R]):
    """Runs by the earliest capture time at which they may be over, and by the connections they
    use. A run's time only has to be no later than its real one: it may be entered again, earlier,
    whenever something brings its end nearer (runs.py says when), and a run taken out too early
    is asked and entered again. Runs are keyed by their ordinal."""

    __slots__ = ("_heap", "_on")

    def __init__(self) -> None:
        # Times and ordinals only: an entry outlives its run, and must not hold on to its events.
        self._heap: list[tuple[float, int]] = []
        self._on: dict[str, dict[int, R]] = {}  # connection → the runs in flight that use it

    def enter(self, at: float, ordinal: int) -> None:
        heapq.heappush(self._heap, (at, ordinal))

    def due(self, now: float, active: Mapping[int, R]) -> list[R]:
        """The runs still in `active` entered for before `now`, each once, oldest run first (the
        order a sweep over every run in flight would find them in); they leave the schedule."""
        heap = self._heap
        found = set()
        while heap and heap[0][0] < now:
            ordinal = heapq.heappop(heap)[1]
            if ordinal in active:
                found.add(ordinal)
        return [active[ordinal] for ordinal in sorted(found)]

    def uses(self, connection: str, ordinal: int, run: R) -> None:
        self._on.setdefault(connection, {})[ordinal] = run

    def on(self, connection: str) -> list[R]:
        """The runs in flight that use this connection."""
        return list(self._on.get(connection, {}).values())

    def drop(self, connections: list[str], ordinal: int) -> None:
        """A run handed back: no connection holds it any more (its entries lapse)."""
        for connection in connections:
            runs = self._on.get(connection)
            if runs is not None:
                runs.pop(ordinal, None)
                if not runs:
                    del self._on[connection]
