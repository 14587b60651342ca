"""The analysis split over processes or a Dask cluster, with a result identical to judging
everything in one process.

Each input is split by connection into shards (owners.py), and each shard is judged whole, from
decoding to verdicts (shard.py), in its own process: this one runs the first, local worker
processes or Dask workers the others. A shard sends back its verdicts and counts, never frames;
this process numbers the runs, puts the verdicts back in one process's order and adds up the
counts (merge.py), in time that follows the runs, not the frames. Runs that crossed shards (a
run id or thread carried on connections of two shards: a leak to another user's connection, a
reconnect placed apart) are judged again, together, in a second pass that leaves them out of the
first one's shards. A decoder whose events break the shards' shared clock, or a protocol whose
runs hand tool calls to a later request (pipeline/handoff.py), sends the input to one process.

One case is not proven the same: the run assembler forgets the ids of runs it handed back
after 10 to 20 minutes of capture, or sooner once more than 50,000 wait to be forgotten
(runs.py); a shard counts only its own, so above about 80 runs with ids a second it may
remember an id one process has forgotten, and tell an event for that run, minutes late,
apart from a new run differently.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from wstape.analyzer.parallel.codec import dumps, loads, pack_event, unpack_event
from wstape.analyzer.parallel.merge import crossed, replay
from wstape.analyzer.parallel.owners import Shard
from wstape.analyzer.parallel.results import Counts, Result
from wstape.analyzer.parallel.shard import judge, judge_shard
from wstape.analyzer.pipeline.verdicts import Verdict
from wstape.analyzer.profile import Profile
from wstape.analyzer.progress import capture_bytes
from wstape.analyzer.progress import progress as bar
from wstape.analyzer.progress import wanted as bar_wanted
from wstape.analyzer.sources.reading import PathLike, Warn, read_records

if TYPE_CHECKING:
    from wstape.analyzer.api import Analysis

__all__ = ["ClusterError", "Counts", "default_workers", "judging", "pack_event", "unpack_event"]

DASK_CONNECT_S = 10.0  # how long an unreachable scheduler is waited for
THREADS_GONE_S = 0.1  # how long a closed pool's threads are given to leave
Judge = Callable[["Analysis", PathLike, Warn], Iterator[Verdict]]


class ClusterError(Exception):
    """The Dask scheduler could not be reached or used; the message says which and why."""


def default_workers() -> int:
    """One process per CPU: this one judges a shard too, and puts the verdicts together in time
    that follows the runs (docs/benchmarks.md)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def judging(
    paths: Iterable[PathLike],
    profile: Profile,
    workers: int = 1,
    dask: str | None = None,
    progress: bool | str = False,
    events: bool = True,
    rows: int | None = None,
) -> Iterator[Judge]:
    """Yields `judge(analysis, path, warn)`, which judges one of `paths` into `analysis` and
    yields its verdicts in order, on `workers` processes (this one included) or on the Dask
    cluster whose scheduler is at `dask`, else here. The shards send back their runs' events
    only when `events` (a caller streams or keeps them), and with `rows` only the verdicts
    that can be among that many failed and passed summary rows (a bounded report). With
    `progress` (true or a label), a bar on a terminal's stderr moves by each input's bytes.

    Raises ClusterError when the Dask scheduler cannot be reached.
    """
    paths = list(paths)
    show = bool(progress) and bar_wanted()
    label = progress if isinstance(progress, str) else "analyzing"
    sizes = {os.fspath(path): capture_bytes(path) for path in paths} if show else {}
    with bar(sum(sizes.values()), label, show) as advance:
        if dask is None and workers <= 1:
            runner = None
        else:
            runner = _Runner(workers, dask, profile, events, rows)

        def judge_path(analysis: Analysis, path: PathLike, warn: Warn) -> Iterator[Verdict]:
            if runner is None:
                yield from _serially(analysis, path, warn)
            else:
                yield from _sharded(runner, analysis, path, warn)
            advance(sizes.get(os.fspath(path), 0), os.fspath(path))

        try:
            yield judge_path
        finally:
            if runner is not None:
                runner.close()


def _serially(analysis: Analysis, path: PathLike, warn: Warn) -> Iterator[Verdict]:
    for record in read_records(path, warn):
        yield from analysis.feed(record)
    yield from analysis.finish()


def _sharded(runner: _Runner, analysis: Analysis, path: PathLike, warn: Warn) -> Iterator[Verdict]:
    if getattr(runner.profile.protocol, "hands_off", None):
        # Its runs wait for tool results that a later request brings, on any connection, and
        # are judged when they come or when their wait runs out (pipeline/handoff.py): links
        # and times the shards do not share.
        yield from _serially(analysis, path, warn)
        return
    path = os.fspath(path)
    count = runner.shards
    results = runner.run(type(analysis), [Shard(path, i, count) for i in range(count)])
    if not all(result.shardable for result in results):
        yield from _serially(analysis, path, warn)
        return
    groups = crossed(results)
    if groups:
        results = runner.run(type(analysis), _second_pass(path, count, groups, results))
    yield from replay(results, analysis, runner.profile, warn or _default_warn)


def _second_pass(
    path: str, count: int, groups: list[frozenset[str]], results: list[Result]
) -> list[Shard]:
    """The first pass's shards again without the connections whose runs crossed, and those
    connections in groups judged together, spread over at most `count` shards."""
    crossing = frozenset().union(*groups)
    shards = [
        Shard(path, index, count, skip=crossing)
        for index, result in enumerate(results)
        if result.owned - crossing
    ]
    jobs: list[tuple[int, set[str]]] = []
    for group in sorted(groups, key=len, reverse=True):
        if len(jobs) < count:
            jobs.append((len(group), set(group)))
        else:
            jobs.sort(key=lambda job: job[0])
            jobs[0] = (jobs[0][0] + len(group), jobs[0][1] | group)
    return shards + [Shard(path, 0, 1, only=frozenset(conns)) for _, conns in jobs]


def _default_warn(message: str) -> None:
    import warnings

    from wstape.recorder.capture import CaptureWarning

    warnings.warn(message, CaptureWarning, stacklevel=3)


class _Runner:
    """Runs shards: the first here, the others on local processes or on a Dask cluster."""

    def __init__(
        self, workers: int, dask: str | None, profile: Profile, events: bool, rows: int | None
    ) -> None:
        self.profile, self.events, self.rows = profile, events, rows
        self._profile = dumps(profile)
        self._client = None if dask is None else _connect(dask)
        self._pool: ProcessPoolExecutor | None = None
        self._threads = 0
        if self._client is not None:
            self.shards = max(1, sum(self._client.nthreads().values()))
        else:
            self.shards = workers

    def run(self, make: type, shards: list[Shard]) -> list[Result]:
        task = (self._profile, make, self.events, self.rows)
        if self._client is not None:
            futures = [self._client.submit(judge_shard, s, *task, pure=False) for s in shards]
            return [loads(future.result()) for future in futures]
        pool = self._local_pool()
        futures = [pool.submit(judge_shard, shard, *task) for shard in shards[1:]]
        try:
            here = judge(shards[0], self.profile, make, self.events, self.rows, remote=False)
            return [here, *(loads(future.result()) for future in futures)]
        finally:
            for future in futures:
                future.cancel()

    def _local_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._threads = _threads()
            context = multiprocessing.get_context(_start_method(self._threads))
            self._pool = ProcessPoolExecutor(max(1, self.shards - 1), mp_context=context)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            # The pool's threads are joined but may take a millisecond to leave: the next pool
            # of this process would count them and not fork.
            deadline = time.monotonic() + THREADS_GONE_S
            while _threads() > self._threads and time.monotonic() < deadline:
                time.sleep(0.001)
        if self._client is not None:
            self._client.close()


def _threads() -> int:
    """This process's threads as Linux counts them (C libraries' too), or 0 elsewhere."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc: not Linux
        return 0


def _start_method(threads: int) -> str:
    """fork starts a worker in milliseconds and never imports the caller's __main__ (forkserver
    and spawn do, which needs an `if __name__ == "__main__"` guard, and import wstape again, a
    few hundred ms). But a forked copy of a process that runs other threads can deadlock on a
    lock one of them held (Python 3.12 warns): threads of C libraries too, such as the pools
    numpy and pyarrow start on import, which `threading` does not see. So fork only a process
    of one thread, as Linux counts them; else forkserver, and elsewhere the platform's own."""
    if threads == 0:
        return multiprocessing.get_start_method()
    return "fork" if threads == 1 else "forkserver"


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
