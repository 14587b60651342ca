"""What a shard keeps of its verdicts as it gives them: every one (pickled at once when it goes
to another process, codec.py), or for a bounded report only those that can still be among the
summary's rows; and, for the rare run that received a leak from a run named by its number,
where that number is, so that the main process can give it its number in the whole capture."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from wstape.analyzer.parallel.codec import dumps
from wstape.analyzer.parallel.results import Relabel
from wstape.analyzer.pipeline.verdicts import Verdict

BATCH = 256  # verdicts pickled together: a memo of each enum member and name, then let go


class Kept:
    """Verdicts given at a position (a record's): `add` them in the order the shard gives them,
    then `done()`. With `rows`, only the earliest-starting `rows` failed and `rows` passed ones
    are kept (of those starting together, the first given), as api's summary rows keep them.
    Their runs' events are kept only when `events`, or when the run received a leak. For another
    process (`remote`) they are pickled BATCH at a time as they come (codec.dumps), else kept as
    they are."""

    def __init__(self, events: bool, rows: int | None, remote: bool) -> None:
        self.events, self.rows, self.remote = events, rows, remote
        self.local: list[tuple[int, Verdict]] = []  # or a batch on its way to `chunks`
        self.chunks: list[bytes] = []
        self.count = 0
        self.received: dict[int, Verdict] = {}  # by place among those kept: runs sent leaks
        self.heaps: dict[bool, list[tuple[float, int, int, Verdict]]] = {True: [], False: []}
        self.given = 0
        # Every leak sent, by when and where: (ordinal, run id, user) of the run it came from.
        self.leakers: dict[tuple[float, str], list[tuple[int, str | None, str | None]]] = {}

    def add(self, position: int, verdicts: list[Verdict]) -> None:
        for verdict in verdicts:
            self.given += 1
            if verdict.run.leaks:
                self.note_leaks(verdict)
            if self.rows is None:
                self._keep(position, verdict)
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

    def _keep(self, position: int, verdict: Verdict) -> None:
        received = any(leak.received for leak in verdict.run.leaks)
        if received:
            self.received[self.count] = verdict
        if self.remote or self.events or received:
            self.local.append((position, verdict))
        else:
            self.local.append((position, verdict.slim()))
        self.count += 1
        if self.remote and len(self.local) == BATCH:
            self._flush()

    def _flush(self) -> None:
        keep = {id(v.run) for v in self.received.values()}
        self.chunks.append(dumps(self.local, self.events, keep))
        self.local = []

    def done(self) -> tuple[list[tuple[int, Verdict]], list[bytes], dict[int, tuple]]:
        """The verdicts kept, (position, verdict) in the order given, as they are or (remote)
        pickled in chunks, and the leaks to renumber (results.Relabel) by place among them."""
        if self.rows is not None:
            items = sorted((item for heap in self.heaps.values() for item in heap), key=_given)
            for _, _, position, verdict in items:
                self._keep(position, verdict)
        relabels = {}
        for index, verdict in self.received.items():
            found = tuple(self._relabels(verdict))
            if found:
                relabels[index] = found
        if self.remote and self.local:
            self._flush()
        return self.local, self.chunks, relabels

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
