"""What a shard sends back to the main process: its verdicts (packed, codec.py) with where each
was given, what it counted beside them, and what the main process needs to number the runs,
prove that no run crossed into another shard, and replay the reader's warnings and error where
they came. Positions count the input's records as `read_records` yields them: the same in
every shard."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field

from wstape.analyzer.pipeline.verdicts import Code, Outcome, Verdict
from wstape.analyzer.protocols.events import Canonical, Event


@dataclass(frozen=True, slots=True)
class Counts:
    """What an Analysis counts beside its verdicts (api.Analysis.counts and .absorb): frames by
    kind and the first event of each kind, events that joined no run (by type) or came too late,
    connections, and the totals of its verdicts."""

    frames: Counter[str]
    first: dict[Canonical, Event]
    strays: Counter[str]
    late: int
    connections: int
    passed: int
    cut_short: int
    outcomes: Counter[Outcome]
    codes: Counter[Code]
    bursts: int


@dataclass(frozen=True, slots=True)
class Relabel:
    """A leak a run received from a run named by its number (Run.label): which of the run's
    leaks, the number of the run it came from in this shard, and where that number is in the
    leak's message, to be renumbered in the whole capture."""

    leak: int
    ordinal: int
    at: int
    end: int


@dataclass(frozen=True, slots=True)
class Result:
    """One shard's work on one input.

    `verdicts` holds (position, verdict) in the order the shard gave them, or `chunks` the same
    pickled (codec.dumps) when the shard ran in another process: every one, or when the report
    is bounded only those that can be among its summary's rows. `created` holds
    the position at which each of the shard's runs was opened, by run number. `keys` and
    `key_groups` are digests of the run ids and thread ids its events carried and the group of
    connections (`groups`) that carried each: groups of different shards sharing a key judged a
    run together in one process. `relabels` maps a verdict's index in `verdicts` to its leaks
    to renumber (its events then travel with it, to be judged again).
    """

    shard: int
    verdicts: list[tuple[int, Verdict]]
    created: array
    counts: Counts
    frame_order: list[tuple[int, str]]  # where each kind of frame was first counted
    stray_order: list[tuple[int, str]]  # where each type of stray was first counted
    keys: array
    key_groups: array
    groups: list[tuple[str, ...]]
    owned: frozenset[str]  # the connections judged here
    warnings: list[tuple[int, str]]
    error: tuple[int, str] | None
    records: int
    chunks: list[bytes]
    relabels: dict[int, tuple[Relabel, ...]] = field(default_factory=dict)
    # False when a decoder broke the timing the split relies on (shard.py): judge in one process
    shardable: bool = True
