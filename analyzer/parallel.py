"""The analysis split over processes or a Dask cluster, with a result identical to reading
everything in one process.

Workers do the expensive part, one part (a capture segment, a flow or HAR file) each: reading it
and decoding every message into its Events, with a decoder per connection. The main process
stitches the parts back exactly as `sources.reading.read_records` orders them (a session's
segments in order, re-declared connections once, sessions merged by time) and feeds one
Analysis, so runs that span segments or connections are assembled by the same code, from the
same sequence, as without workers. Warnings and errors of a part are replayed at the position
its reader raised them.
"""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass

import msgpack

from wstape.analyzer.profile import Profile
from wstape.analyzer.progress import capture_bytes
from wstape.analyzer.progress import progress as bar
from wstape.analyzer.progress import wanted as bar_wanted
from wstape.analyzer.protocols.events import (
    Decoders,
    Event,
    WireProtocol,
    event_values,
    new_event,
)
from wstape.analyzer.sources.reading import (
    Kind,
    Part,
    PathLike,
    Warn,
    parts,
    read_part,
    read_records,
)
from wstape.recorder.capture import CaptureError, CaptureWarning, Close, Error, Message, Open

Item = Open | Event | Close | Error
Reader = Callable[[PathLike, Warn], Iterator]
HEADER_BYTES = 4096  # a segment's header record fits well within this
DASK_CONNECT_S = 10.0  # how long an unreachable scheduler is waited for


class ClusterError(Exception):
    """The Dask scheduler could not be reached or used; the message says which and why."""


def default_workers() -> int:
    """One process per CPU but one: this process still stitches and judges every run (about
    40% of the work), and on two CPUs a worker beside it measured slower than none
    (docs/benchmarks.md), so there the default reads in this process."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus - 1)


# ---------------------------------------------------------------- in the worker


@dataclass(frozen=True, slots=True)
class Decoded:
    """One part as its reader gave it: items in order (events packed as tuples), warnings with
    the number of items yielded before each, and the error that ended the read, if one did."""

    items: tuple[Item | tuple, ...]
    warnings: tuple[tuple[int, str], ...]
    error: str | None


def decode_part(part: Part, protocol: WireProtocol) -> Decoded:
    """Reads one part and decodes its messages; runs in a worker process or on a Dask worker.

    A connection's decoder here sees only this part's frames: the protocol is `stateless`.
    """
    items: list[Item | tuple] = []
    warnings: list[tuple[int, str]] = []
    decoders = Decoders(protocol)
    error = None
    try:
        for record in read_part(part, lambda message: warnings.append((len(items), message))):
            _compact(record, decoders, items)
    except CaptureError as exc:
        error = str(exc)
    return Decoded(tuple(items), tuple(warnings), error)


def _compact(record, decoders: Decoders, items: list[Item | tuple]) -> None:
    if isinstance(record, Message):
        items += map(pack_event, decoders[record.connection].feed(record))
    elif isinstance(record, Open):
        # The analysis needs only these; handshake headers stay on the worker.
        path = record.path or record.url
        items.append(Open(record.connection, record.ts, "", path, None, None, None))
    else:  # a Close or an Error: what the connection's decoder held comes first
        items += map(pack_event, decoders.end(record.connection, record.ts))
        items.append(record)


# Events travel as plain tuples in EVENT_FIELDS order: pickling a slotted dataclass per event
# cost the main process more than decoding the segment itself. (Pickle memoizes the Canonical
# members, so each is written once per part.)
pack_event: Callable[[Event], tuple] = event_values


def unpack_event(values: tuple) -> Event:
    # The main process builds every event again: the frozen __init__ was a third of its work.
    return new_event(*values)


# ---------------------------------------------------------------- in the main process


@contextlib.contextmanager
def reader(
    paths: Iterable[PathLike],
    profile: Profile,
    workers: int = 1,
    dask: str | None = None,
    progress: bool | str = False,
) -> Iterator[Reader]:
    """A `read_records` for `paths` that decodes their parts on `workers` local processes,
    or on the Dask cluster whose scheduler is at `dask`; plain `read_records` when there is
    nothing to split. The records come out in the same order either way. With `progress` (true
    or a label), a bar on a terminal's stderr moves by each file's bytes as it is read. A
    protocol that is not `stateless` is read in this process: its decoders must see every
    frame of their connection, not one part's.

    Raises ClusterError when the Dask scheduler cannot be reached.
    """
    paths = list(paths)
    show = bool(progress) and bar_wanted()
    label = progress if isinstance(progress, str) else "analyzing"
    if (dask is None and workers <= 1) or not profile.protocol.stateless:
        with _serial(paths, show, label) as read:
            yield read
        return
    plans, work, order = _plan(paths)
    if dask is None and len(work) <= 1:
        # One part: a pool would only add its start-up time.
        with _serial(paths, show, label) as read:
            yield read
        return
    sizes = [_size(part.file) for part in work] if show else [0] * len(work)
    with (
        _executor(workers, dask, len(work)) as (executor, slots),
        bar(sum(sizes), label, show) as advance,
    ):
        scheduler = _Scheduler(executor, work, order, profile.protocol, ahead=2 * slots)
        scheduler.on_done = lambda key: advance(sizes[key], os.path.basename(work[key].file))

        def read(path: PathLike, warn: Warn = None) -> Iterator:
            waiting = plans.get(os.fspath(path))
            if not waiting:
                return read_records(path, warn)  # not planned: read it here
            return _stitch(waiting.pop(0), scheduler, warn)

        try:
            yield read
        finally:
            scheduler.cancel()


@contextlib.contextmanager
def _serial(paths: list[PathLike], show: bool, label: str) -> Iterator[Reader]:
    """read_records, moving the bar by a path's bytes once it has been read."""
    if not show:
        yield read_records
        return
    sizes = {os.fspath(path): capture_bytes(path) for path in paths}
    with bar(sum(sizes.values()), label, show) as advance:

        def read(path: PathLike, warn: Warn = None) -> Iterator:
            yield from read_records(path, warn)
            advance(sizes.get(os.fspath(path), 0), os.fspath(path))

        yield read


def _size(file: str) -> int:
    try:
        return os.path.getsize(file)
    except OSError:
        return 0  # the worker reports what is wrong with it


@dataclass
class _Plan:
    """One input path: its parts and their keys in the scheduler, or why it cannot be read
    (raised when the path's turn comes, as the serial reader would)."""

    keys: list[int]
    parts: list[Part]
    error: CaptureError | None = None


def _plan(paths: Iterable[PathLike]) -> tuple[dict[str, list[_Plan]], list[Part], list[int]]:
    """Each path's plan, every part (by key), and the keys in the order they will be read."""
    plans: dict[str, list[_Plan]] = {}
    work: list[Part] = []
    order: list[int] = []
    for path in paths:
        try:
            found = parts(path)
        except CaptureError as exc:
            plan = _Plan([], [], exc)
        else:
            plan = _Plan(list(range(len(work), len(work) + len(found))), found)
            work += found
            # Sessions are merged by time, so a segment is wanted at about its start time.
            order += sorted(plan.keys, key=lambda key: _started(work[key]))
        plans.setdefault(os.fspath(path), []).append(plan)
    return plans, work, order


def _started(part: Part) -> float:
    """When a segment was started (its header's `created`); -inf when that cannot be told, so
    the worker gets to report what is wrong with it first."""
    if part.kind is not Kind.WSTAPE:
        return float("-inf")
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=HEADER_BYTES)
    try:
        with open(part.file, "rb") as file:
            unpacker.feed(file.read(HEADER_BYTES))
        head = next(unpacker, None)
    except (OSError, ValueError, msgpack.UnpackException):
        return float("-inf")
    body = head[1] if type(head) is list and len(head) == 2 else None
    created = body.get("created") if type(body) is dict else None
    return float(created) if type(created) is float else float("-inf")


def _stitch(plan: _Plan, scheduler: _Scheduler, warn: Warn) -> Iterator:
    """The parts of one input in `read_records` order; mirrors recorder.capture.read_capture."""
    if plan.error is not None:
        raise plan.error
    if plan.parts[0].kind is not Kind.WSTAPE:
        yield from _replay(scheduler, plan.keys[0], warn)
        return
    sessions: dict[str, list[int]] = {}
    for key, part in zip(plan.keys, plan.parts, strict=True):
        sessions.setdefault(part.session, []).append(key)
    streams = [_session(scheduler, keys, warn) for keys in sessions.values()]
    if len(streams) == 1:
        yield from streams[0]
    else:
        yield from heapq.merge(*streams, key=lambda item: item.ts)


def _session(scheduler: _Scheduler, keys: list[int], warn: Warn) -> Iterator:
    seen_open: set[str] = set()
    for key in keys:
        for item in _replay(scheduler, key, warn):
            if isinstance(item, Open):
                if item.connection in seen_open:
                    continue  # re-declared at a segment start; already yielded
                seen_open.add(item.connection)
            yield item


def _replay(scheduler: _Scheduler, key: int, warn: Warn) -> Iterator:
    """A part's items, with its warnings and error where its reader raised them."""
    decoded = scheduler.result(key)
    warn = warn or _default_warn
    notes = decoded.warnings
    noted = 0
    for index, item in enumerate(decoded.items):
        while noted < len(notes) and notes[noted][0] <= index:
            warn(notes[noted][1])
            noted += 1
        yield unpack_event(item) if type(item) is tuple else item
    for _, message in notes[noted:]:
        warn(message)
    if decoded.error is not None:
        raise CaptureError(decoded.error)
    scheduler.on_done(key)


def _default_warn(message: str) -> None:
    warnings.warn(message, CaptureWarning, stacklevel=3)


class _Scheduler:
    """Submits parts in reading order, a bounded number ahead of the one being read, so memory
    holds a few decoded parts at a time, not thousands."""

    def __init__(
        self,
        executor: Executor,
        work: list[Part],
        order: list[int],
        protocol: WireProtocol,
        ahead: int,
    ) -> None:
        self._executor = executor
        self._work = work
        self._order = order
        self._protocol = protocol
        self._ahead = max(ahead, 1)
        self._pending: dict[int, Future] = {}
        self._submitted: set[int] = set()
        self._next = 0  # position in `order` of the next part to submit ahead
        self.on_done: Callable[[int], None] = lambda key: None  # a part was read to its end

    def result(self, key: int) -> Decoded:
        future = self._pending.pop(key, None)
        if future is None:
            future = self._submit(key)  # wanted out of order: merged sessions
        self._fill()
        return future.result()

    def cancel(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    def _fill(self) -> None:
        while self._next < len(self._order) and len(self._pending) < self._ahead:
            key = self._order[self._next]
            if key not in self._submitted:
                self._pending[key] = self._submit(key)
            self._next += 1

    def _submit(self, key: int) -> Future:
        self._submitted.add(key)
        return self._executor.submit(decode_part, self._work[key], self._protocol)


@contextlib.contextmanager
def _executor(workers: int, dask: str | None, parts: int) -> Iterator[tuple[Executor, int]]:
    if dask is not None:
        client = _connect(dask)
        try:
            slots = sum(client.nthreads().values()) or 1
            yield client.get_executor(pure=False), slots
        finally:
            client.close()
        return
    count = max(1, min(workers, parts))
    # fork starts fast and never re-imports the caller's __main__ (forkserver does, which
    # needs an `if __name__ == "__main__"` guard), but a forked copy of a process that runs
    # other threads can deadlock on a lock one of them held: then forkserver.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context(method))
    try:
        yield pool, count
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _connect(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(
            "--dask needs dask and distributed: pip install 'wstape[dask]'"
        ) from None
    try:
        return Client(address, timeout=DASK_CONNECT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"{address}: cannot use the Dask scheduler ({exc})") from None
