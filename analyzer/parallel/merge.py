"""The main process's share of a split analysis, in proportion to runs, not frames: which runs
crossed shards (to be judged again together), the number of each run in the whole capture, and
the shards' verdicts, warnings and counts put back in the order one process gives them."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import heapq
import itertools
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from wstape.analyzer.parallel.codec import loads, renumbered
from wstape.analyzer.parallel.results import Counts, Result
from wstape.analyzer.pipeline.model import Leak
from wstape.analyzer.pipeline.rules import judge
from wstape.analyzer.pipeline.verdicts import Verdict
from wstape.analyzer.profile import Profile
from wstape.analyzer.protocols.events import Canonical
from wstape.recorder.capture import CaptureError

if TYPE_CHECKING:
    from wstape.analyzer.api import Analysis


def crossed(results: list[Result]) -> list[frozenset[str]]:
    """The connections whose runs crossed shards, in groups that must be judged together: the
    groups (shard.py _Links) of different shards that carried a same run id or thread, joined."""
    seen: set[int] = set()
    shared: set[int] = set()
    for result in results:
        keys = set(result.keys)
        shared |= seen & keys
        seen |= keys
    if not shared:
        return []  # the usual case, decided by set operations in C
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(node: tuple[int, int]) -> tuple[int, int]:
        while parent[node] != node:
            node = parent[node]
        return node

    first: dict[int, tuple[int, int]] = {}
    for index, result in enumerate(results):
        for key, group in zip(result.keys, result.key_groups, strict=True):
            if key in shared:
                node = (index, group)
                parent.setdefault(node, node)
                root, other = find(first.setdefault(key, node)), find(node)
                if root != other:
                    parent[other] = root
    together: dict[tuple[int, int], set[str]] = {}
    for node in parent:
        index, group = node
        together.setdefault(find(node), set()).update(results[index].groups[group])
    return [frozenset(conns) for conns in together.values()]


class Numbering:
    """Each run's number in the whole capture (Run.ordinal, which names runs without an id):
    runs are numbered in the order they were opened, and each shard knows where it opened its
    own; no two shards open a run at the same record, which only one of them decodes."""

    def __init__(self, results: list[Result]) -> None:
        self.created = [result.created for result in results]

    def __call__(self, shard: int, ordinal: int) -> int:
        created = self.created
        at = created[shard][ordinal - 1]
        others = sum(bisect_left(c, at) for i, c in enumerate(created) if i != shard)
        return ordinal + others


def replay(results: list[Result], analysis: Analysis, profile: Profile, warn) -> Iterator[Verdict]:
    """The shards' verdicts and the reader's warnings in one process's order, into `analysis`
    (its `take` and `absorb`), the verdicts yielded as they come; then the reader's error, if it
    raised one."""
    number = Numbering(results)
    streams = [_verdicts(i, result, number) for i, result in enumerate(results)]
    notes = ((at, 0, n, message) for n, (at, message) in enumerate(results[0].warnings))
    with _collector_paused():
        for _, ordinal, index, item in heapq.merge(notes, *streams):
            if ordinal == 0:
                warn(item)
                continue
            verdict = _rebuilt(item, ordinal, results[index], number, index, profile)
            analysis.take(verdict)
            yield verdict
    analysis.absorb(merged_counts(results))
    error = results[0].error
    if error is not None:
        raise CaptureError(error[1])


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while verdicts are rebuilt: they hold no cycles, and
    each of its full passes walked every verdict rebuilt so far (half the time of the rebuild)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _verdicts(index: int, result: Result, number: Numbering) -> Iterator[tuple]:
    # (position, ordinal) orders verdicts as one process gives them: by the record that handed
    # their runs back, and within it in the order the runs were opened.
    given = result.verdicts
    if result.chunks:
        given = itertools.chain.from_iterable(map(loads, result.chunks))
    for at, (position, verdict) in enumerate(given):
        yield position, number(index, verdict.run.ordinal), index, (at, verdict)


def _rebuilt(
    item: tuple, ordinal: int, result: Result, number: Numbering, index: int, profile: Profile
) -> Verdict:
    at, verdict = item
    relabels = result.relabels.get(at)
    if not relabels:
        return renumbered(verdict, ordinal)
    # A leak received from a run named by its number: renumbered, and the run judged again,
    # since its warnings quote the leak.
    leaks = list(verdict.run.leaks)
    for relabel in relabels:
        leak = leaks[relabel.leak]
        renumbered_as = str(number(index, relabel.ordinal))
        message = leak.message[: relabel.at] + renumbered_as + leak.message[relabel.end :]
        leaks[relabel.leak] = Leak(leak.ts, leak.connection, message, leak.received)
    run = renumbered(verdict, ordinal).run
    return judge(dataclasses.replace(run, leaks=tuple(leaks)), profile)


def merged_counts(results: list[Result]) -> Counts:
    """The shards' counts added up, each kind of frame and type of stray in the order one
    process first counted it."""
    frames: Counter[str] = Counter()
    strays: Counter[str] = Counter()
    first = {}
    for _, index, _, kind in sorted(
        (position, index, n, kind)
        for index, result in enumerate(results)
        for n, (position, kind) in enumerate(result.frame_order)
    ):
        if kind not in frames:
            frames[kind] = 0
            first[Canonical(kind)] = results[index].counts.first[Canonical(kind)]
    for *_, name in sorted(
        (position, index, n, name)
        for index, result in enumerate(results)
        for n, (position, name) in enumerate(result.stray_order)
    ):
        strays.setdefault(name, 0)
    outcomes: Counter = Counter()
    codes: Counter = Counter()
    late = passed = cut_short = bursts = 0
    for result in results:
        counts = result.counts
        frames.update(counts.frames)
        strays.update(counts.strays)
        late += counts.late
        passed += counts.passed
        cut_short += counts.cut_short
        bursts += counts.bursts
        outcomes.update(counts.outcomes)
        codes.update(counts.codes)
    connections = results[0].counts.connections
    return Counts(frames, first, strays, late, connections, passed, cut_short, outcomes, codes,
                  bursts)  # fmt: skip
