"""The run assembler's sweep asks only the runs that are due (pipeline/schedule.py), and hands back
exactly what a sweep over every run in flight would, at the same records and in the same order:
over 100,000 seeded events with opens, closes, reopened connections, reconnects, leaks and
quiet spells long enough to make the assembler forget."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from wstape.analyzer.pipeline.runs import RunAssembler
from wstape.analyzer.pipeline.schedule import Schedule
from wstape.analyzer.protocols.events import Canonical, Event

KINDS = [*Canonical]
CONNECTIONS = [f"c{n}" for n in range(6)]
GAPS_S = [0.01, 0.2, 1.0, 3.0, 7.0, 65.0, 200.0, 700.0, 1300.0]
GAP_WEIGHTS = [30, 30, 20, 10, 5, 3, 1, 0.5, 0.2]


class EveryRun(Schedule):
    """The sweep as it was before the schedule: every run in flight, oldest first."""

    def due(self, now, active):
        return list(active.values())


def records(seed: int, count: int) -> Iterator[tuple]:
    rng = random.Random(seed)
    ts = 1_800_000_000.0
    for _ in range(count):
        ts += rng.choices(GAPS_S, GAP_WEIGHTS)[0]
        conn = rng.choice(CONNECTIONS)
        roll = rng.random()
        if roll < 0.03:
            yield "open", conn, ts, f"/ws?user_id=u{rng.randint(0, 3)}"
        elif roll < 0.06:
            yield "close", conn, ts, rng.choice(["closed", "dropped"])
        else:
            kind = rng.choice(KINDS)
            run_id = rng.choice([None, None, f"r{rng.randint(0, 12)}"])
            thread = rng.choice([None, f"t{rng.randint(0, 3)}"])
            user = rng.choice([None, None, f"u{rng.randint(0, 3)}"])
            tool = rng.choice([None, "search"])
            yield "event", Event(conn, ts, rng.random() < 0.2, True, 10, kind.value, kind,
                                 "payload", run_id, thread, user, tool, None)  # fmt: skip


def feed(assembler: RunAssembler, record: tuple) -> list:
    what, *rest = record
    if what == "open":
        return assembler.open(*rest)
    if what == "close":
        return assembler.close(*rest)
    return assembler.add(rest[0])


@pytest.mark.parametrize("seed", range(5))
def test_the_scheduled_sweep_hands_back_what_a_full_sweep_would(seed: int) -> None:
    scheduled, reference = RunAssembler(), RunAssembler()
    reference._schedule = EveryRun()  # the one difference between the two
    handed_back = 0
    for record in records(seed, 20_000):
        got = feed(scheduled, record)
        assert got == feed(reference, record), record
        handed_back += len(got)
    assert scheduled.finish() == reference.finish()
    assert (scheduled.strays, scheduled.late) == (reference.strays, reference.late)
    assert handed_back > 1_000  # runs ended on the way, not only at the finish
