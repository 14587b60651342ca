"""What a shard keeps of its verdicts as it gives them: every one, packed at once (codec.py), or
for a bounded report only those that can still be among the summary's rows; and, for the rare
run that received a leak from a run named by its number, where that number is, so that the
main process can give it the number it has in the whole capture."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from wstape.analyzer.parallel.codec import pack_verdict
from wstape.analyzer.parallel.results import Relabel
from wstape.analyzer.pipeline.verdicts import Verdict


class Kept:
    """Verdicts given at a position (a record's): `add` them in the order the shard gives them,
    then `packed()`. With `rows`, only the earliest-starting `rows` failed and `rows` passed
    ones are kept (of those starting together, the first given), as api's summary rows keep
    them; their runs' events travel only when `events`, or when the run received a leak."""

    def __init__(self, events: bool, rows: int | None) -> None:
        self.events, self.rows = events, rows
        self.every: list[tuple[int, tuple]] = []
        self.received: dict[int, Verdict] = {}  # by index in `every`: runs that received leaks
        self.heaps: dict[bool, list[tuple[float, int, int, Verdict]]] = {True: [], False: []}
        self.given = 0
        # Every leak sent, by when and where: (ordinal, run id, user) of the run it came from.
        self.leakers: dict[tuple[float, str], list[tuple[int, str | None, str | None]]] = {}

    def add(self, position: int, verdicts: list[Verdict]) -> None:
        for verdict in verdicts:
            self.given += 1
            self.note_leaks(verdict)
            if self.rows is None:
                received = any(leak.received for leak in verdict.run.leaks)
                if received:
                    self.received[len(self.every)] = verdict
                self.every.append((position, pack_verdict(verdict, self.events or received)))
                continue
            heap = self.heaps[verdict.failed]
            item = (-verdict.run.started, -self.given, position, verdict)
            if len(heap) < self.rows:
                heapq.heappush(heap, item)
            else:
                heapq.heappushpop(heap, item)

    def note_leaks(self, verdict: Verdict) -> None:
        run = verdict.run
        for leak in run.leaks:
            if not leak.received:
                where = self.leakers.setdefault((leak.ts, leak.connection), [])
                where.append((run.ordinal, run.run_id, run.user_id))

    def packed(self) -> tuple[list[tuple[int, tuple]], dict[int, tuple[Relabel, ...]]]:
        """(position, packed verdict) in the order given, and the leaks to renumber by index."""
        if self.rows is None:
            kept, received = self.every, self.received
        else:
            items = sorted((item for heap in self.heaps.values() for item in heap), key=_given)
            received = {n: item[3] for n, item in enumerate(items) if _received(item[3])}
            kept = [
                (position, pack_verdict(verdict, self.events or n in received))
                for n, (_, _, position, verdict) in enumerate(items)
            ]
        relabels = {}
        for index, verdict in received.items():
            found = tuple(self._relabels(verdict))
            if found:
                relabels[index] = found
        return kept, relabels

    def _relabels(self, verdict: Verdict) -> Iterator[Relabel]:
        for number, leak in enumerate(verdict.run.leaks):
            if leak.received:
                for ordinal, run_id, user in self.leakers.get((leak.ts, leak.connection), ()):
                    found = _relabel(number, leak.message, ordinal, run_id, user)
                    if found is not None:
                        yield found
                        break


def _given(item: tuple) -> int:
    return -item[1]


def _received(verdict: Verdict) -> bool:
    return any(leak.received for leak in verdict.run.leaks)


def _relabel(
    number: int, message: str, ordinal: int, run_id: str | None, user: str | None
) -> Relabel | None:
    """Where the number of the run (`ordinal`) that sent leak `number` is in its message, if
    the message names that run by its number."""
    # The receiver's message ends "of run {label}{owner}" (runs.py _leak): the label ends
    # " run {ordinal}" when the run had no id then, and the owner is "" or " (user {id})".
    for owner in ([f" (user {user})"] if user else []) + [""]:
        suffix = f" run {ordinal}{owner}"
        if message.endswith(suffix) and not (
            run_id and message.endswith(f"of run {run_id}{owner}")
        ):
            at = len(message) - len(suffix) + len(" run ")
            return Relabel(number, ordinal, at, at + len(str(ordinal)))
    return None
