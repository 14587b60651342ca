"""One shard of an input judged from decoding to verdicts, in a worker process, on a Dask worker
or in the main process. It reads every record of the input; it decodes and judges the
connections it owns (owners.py), and the others' records only move its run assembler's clock,
as they move it in one process (opens and closes as they are, a message as its time), so that
runs are handed back at the same records. That holds when every message decodes to at least one
event, each at the message's time, and a decoder holds nothing back for the connection's end:
the shard checks it on every message it decodes and gives up at the first that breaks it
(Result.shardable), and the main process then judges the input alone.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

from wstape.analyzer.parallel.codec import dumps, loads
from wstape.analyzer.parallel.kept import Kept
from wstape.analyzer.parallel.links import Links
from wstape.analyzer.parallel.owners import Owners, Shard
from wstape.analyzer.parallel.results import Result
from wstape.analyzer.profile import Profile
from wstape.analyzer.protocols.events import Decoders, Event
from wstape.analyzer.sources.reading import read_records
from wstape.recorder.capture import CaptureError, Message, Open

if TYPE_CHECKING:
    from wstape.analyzer.api import Analysis


class Untimed(Exception):
    """A decoder's events broke the timing the split relies on."""


def judge_shard(shard: Shard, profile: bytes, make: type, events: bool, rows: int | None) -> bytes:
    """The task a worker runs: `profile` pickled (codec.dumps), `make` the Analysis class; the
    Result comes back pickled. See `judge`."""
    return dumps(judge(shard, loads(profile), make, events, rows, remote=True))


def judge(
    shard: Shard, profile: Profile, make: type, events: bool, rows: int | None, remote: bool
) -> Result:
    """The shard's Result: its verdicts with their runs' events when `events`, every one or,
    with `rows`, only those that can be among that many failed and passed summary rows; pickled
    as they come when they go to another process (`remote`)."""
    kept = Kept(events, rows, remote)
    work = _Judge(shard, profile, make(profile, shard.path, True, False), kept)
    try:
        work.read()
    except Untimed:
        return _untimed(shard)
    return work.result()


class _Judge:
    """The record loop and what it notes on the way."""

    def __init__(self, shard: Shard, profile: Profile, analysis: Analysis, kept: Kept) -> None:
        self.shard = shard
        self.analysis = analysis
        self.owners = Owners(shard, profile.protocol.user_query)
        self.decoders = Decoders(profile.protocol)
        self.new_decoder = profile.protocol.decoder
        self.kept = kept
        self.created = array("q")
        self.frame_order: list[tuple[int, str]] = []
        self.stray_order: list[tuple[int, str]] = []
        self.links = Links()
        self.warnings: list[tuple[int, str]] = []
        self.error: tuple[int, str] | None = None
        self.position = 0

    def read(self) -> None:
        def warn(message: str) -> None:
            self.warnings.append((self.position, message))

        try:
            end = self._loop(read_records(self.shard.path, warn))
        except CaptureError as exc:
            self.error = (self.position, str(exc))
            for verdict in self.analysis.finish():  # never given, but their leaks were received
                self.kept.note_leaks(verdict)
        else:
            self.kept.add(self.position, self.analysis.finish(end))

    def _loop(self, records: Iterator) -> float | None:
        """Takes every record; returns the last one's time."""
        analysis, owners, decoders, give = self.analysis, self.owners, self.decoders, self.kept.add
        feed, tick, link = analysis.feed, analysis.tick, self.links.link
        assigned, mine, load = owners.assigned, owners.mine, owners.load
        runs, threads = self.links.runs, self.links.threads
        frames, strays, created = analysis.frames, analysis.counts().strays, self.created
        assembler, kinds, types = analysis.assembler, 0, 0
        due, last = assembler.due, None
        for record in records:
            kind, last = type(record), record.ts
            if kind is not Message:
                self._other(record, kind)
                due = assembler.due
                continue
            conn = record.connection
            index = assigned.get(conn)
            if index is None:
                index, events = self._first(record)
            else:
                events = decoders[conn].feed(record) if conn in mine else None
            load[index] += 1
            if events is None:  # another shard's: only its time
                if last >= due:
                    verdicts = tick(last)
                    due = assembler.due
                    if verdicts:
                        give(self.position, verdicts)
                self.position += 1
                continue
            ts = last
            if not events:
                raise Untimed
            for event in events:
                if event.ts != ts:
                    raise Untimed
                verdicts = feed(event)
                if verdicts:
                    give(self.position, verdicts)
                key = event.run_id
                if key is not None and runs.setdefault(key, conn) is not conn:
                    link(conn, runs[key])
                key = event.thread_id
                if key is not None and threads.setdefault(key, conn) is not conn:
                    link(conn, threads[key])
            due = assembler.due
            opened = assembler.opened
            if opened != len(created):  # opened at this record
                created.extend([self.position] * (opened - len(created)))
            if len(frames) != kinds or len(strays) != types:
                kinds, types = self._firsts()
            self.position += 1
        return last

    def _other(self, record, kind: type) -> None:
        """An open, close or error: every shard takes it as one process does."""
        if kind is Open:
            self.owners.open(record)
        elif record.connection in self.owners.mine:
            if self.decoders.end(record.connection, record.ts):
                raise Untimed  # events held back for the connection's end
        verdicts = self.analysis.feed(record)
        if verdicts:
            self.kept.add(self.position, verdicts)
        self.position += 1

    def _first(self, message: Message) -> tuple[int, tuple[Event, ...] | None]:
        """A connection's first message: its shard is told from what it decodes to (every
        shard decodes it, with a decoder of its own); its events when the shard is this one."""
        decoder = self.new_decoder()
        events = decoder.feed(message)
        index = self.owners.first(message.connection, events)
        if message.connection not in self.owners.mine:
            return index, None
        self.decoders[message.connection] = decoder
        return index, events

    def _firsts(self) -> tuple[int, int]:
        """Notes the kinds of frames and types of strays counted for the first time; returns
        how many of each there are now."""
        position, frames = self.position, self.analysis.frames
        strays = self.analysis.counts().strays
        kinds, types = len(self.frame_order), len(self.stray_order)
        self.frame_order += [(position, kind) for kind in list(frames)[kinds:]]
        self.stray_order += [(position, name) for name in list(strays)[types:]]
        return len(frames), len(strays)

    def result(self) -> Result:
        verdicts, chunks, relabels = self.kept.done()
        keys, key_groups, groups = self.links.groups()
        return Result(
            self.shard.index, verdicts, self.created, self.analysis.counts(), self.frame_order,
            self.stray_order, keys, key_groups, groups, frozenset(self.owners.mine),
            self.warnings, self.error, self.position, chunks, relabels,
        )  # fmt: skip


def _untimed(shard: Shard) -> Result:
    return Result(shard.index, [], array("q"), None, [], [], array("q"), array("q"), [],
                  frozenset(), [], None, 0, [], shardable=False)  # type: ignore[arg-type]  # fmt: skip
