"""A wire protocol whose frames hold several events or none, and one whose decoder holds events
until its connection ends: every event reaches its run, its verdict and the DataFrame, in one
process and with worker processes, through the one decoder interface and nothing else."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_runs_rules import GOOD, T0, Chat, ids

from wstape import analyze, load
from wstape.analyzer.profile import Profile
from wstape.analyzer.protocols.events import Decoder, Event, Frame
from wstape.analyzer.protocols.json_dialects import JsonDialects
from wstape.analyzer.sources.reading import parts
from wstape.recorder.capture import CaptureWriter

RUNS = 6


class BatchDecoder:
    """wstape-json, except that a frame {"batch": [event, ...]} holds each of its events; with
    `hold`, they are kept until the connection ends and then given back at its end."""

    def __init__(self, inner: Decoder, hold: bool) -> None:
        self.inner = inner
        self.hold = hold
        self.held: list[Event] = []

    def feed(self, frame: Frame) -> Sequence[Event]:
        try:
            batch = json.loads(frame.payload)["batch"]
        except (ValueError, TypeError, KeyError):
            return self.inner.feed(frame)
        frames = [dataclasses.replace(frame, payload=json.dumps(item).encode()) for item in batch]
        events = [event for one in frames for event in self.inner.feed(one)]
        if self.hold:
            self.held += events
            return ()
        return events

    def end(self, ts: float) -> Sequence[Event]:
        held, self.held = self.held, []
        return [dataclasses.replace(event, ts=ts) for event in held]


@dataclass(frozen=True)
class Batches:
    """A protocol made for this test: wstape-json's frames, plus batch frames."""

    name: ClassVar[str] = "test-batches"
    profile_keys: ClassVar[frozenset[str]] = frozenset()
    stateless: ClassVar[bool] = True
    dialects: JsonDialects = field(default_factory=JsonDialects)

    @classmethod
    def from_profile(cls, data: Mapping[str, Any]) -> Batches:
        return cls(JsonDialects.from_profile(data))

    @property
    def user_query(self) -> tuple[str, ...]:
        return self.dialects.user_query

    @property
    def minted_ids(self) -> tuple[str, ...]:
        return self.dialects.minted_ids

    @property
    def ping_answers(self) -> Mapping[str, bytes]:
        return self.dialects.ping_answers

    def decoder(self) -> BatchDecoder:
        return BatchDecoder(self.dialects.decoder(), hold=not self.stateless)

    def is_ping(self, event: Event) -> bool:
        return self.dialects.is_ping(event)

    def answers_ping(self, event: Event) -> bool:
        return self.dialects.answers_ping(event)


@dataclass(frozen=True)
class HeldBatches(Batches):
    """Batches whose events come out only when their connection ends."""

    name: ClassVar[str] = "test-held-batches"
    stateless: ClassVar[bool] = False


def batch(run: dict, steps) -> bytes:
    events = [{"type": event, "payload": {**run, **fields}} for _, event, fields in steps]
    return json.dumps({"batch": events}).encode()


def batched_chat() -> tuple[Chat, int]:
    """RUNS good runs, their seven server events in three frames (one an empty batch), on
    connections that overlap; and how many events the capture holds."""
    chat = Chat()
    for n in range(RUNS):
        at, conn, user = n * 0.5, f"c{n}", f"user-{n}"
        run = ids(f"run-{n}", user)
        chat.connect(conn, user, at).say(conn, at + 0.05)
        chat.raw(conn, at + 0.2, batch(run, GOOD[:3]), from_client=False)
        chat.raw(conn, at + 0.3, json.dumps({"batch": []}).encode(), from_client=False)
        chat.raw(conn, at + 0.8, batch(run, GOOD[3:]), from_client=False)
        chat.close(conn, at + 1.5)
    chat.records.sort(key=lambda record: record.ts)
    # A connection's welcome and the user's message, then GOOD's events.
    return chat, RUNS * (2 + len(GOOD))


@pytest.fixture
def capture(tmp_path: Path) -> tuple[Path, int]:
    chat, events = batched_chat()
    out = tmp_path / "capture"
    writer = CaptureWriter(out, segment_bytes=1024, flush_bytes=256)
    for record in chat.records:
        writer.write(record)
    writer.close_all()
    assert len(parts(out)) > 2, "the capture is split, so workers=2 uses worker processes"
    return out, events


@pytest.mark.parametrize("protocol", [Batches(), HeldBatches()], ids=["batches", "held"])
@pytest.mark.parametrize("workers", [1, 2])
def test_every_event_of_a_batch_frame_reaches_its_run(capture, protocol, workers: int) -> None:
    path, events = capture
    report = analyze(path, Profile(protocol=protocol), workers=workers)
    assert len(report.verdicts) == RUNS
    for verdict in report.verdicts:
        assert verdict.passed, verdict.failures
        assert [e.type for e in verdict.run.events[1:]] == [event for _, event, _ in GOOD]
    assert sum(report.frames.values()) == events
    assert report.to_json() == analyze(path, Profile(protocol=protocol)).to_json()


def test_held_events_come_when_their_connection_ends(capture) -> None:
    path, _ = capture
    report = analyze(path, Profile(protocol=HeldBatches()))
    for n, verdict in enumerate(report.verdicts):
        closed = T0 + n * 0.5 + 1.5
        assert {e.ts for e in verdict.run.events if not e.from_client} == {closed}


@pytest.mark.parametrize("protocol", [Batches(), HeldBatches()], ids=["batches", "held"])
def test_the_dataframe_has_a_row_per_event(capture, protocol) -> None:
    path, events = capture
    frame = load(path, Profile(protocol=protocol))
    assert len(frame) == events
    server = frame[(frame.connection == "c0") & (frame.direction == "server")]
    assert list(server.type) == ["connection_established"] + [event for _, event, _ in GOOD]
    assert server.run_id.iloc[1:].eq("run-0").all()
