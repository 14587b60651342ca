"""The JSON dialects' quick path (msgspec parsing, json_quick's one-pass reader) gives exactly the
events of the reference path (json.loads and the general reader), frame by frame, over 130,000
seeded hostile frames: every envelope, ids of every JSON type, text in every field, batches,
system messages, malformed JSON, with the default field names and with renamed ones."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from wstape.analyzer.profile import DEFAULT_PROFILE, profile_from_dict
from wstape.analyzer.protocols.events import Frame
from wstape.analyzer.protocols.json_dialects import JsonDecoder

TYPES = [
    "user_message", "agent_started", "agent_thinking", "tool_executing", "tool_completed",
    "partial_result", "agent_completed", "agent_error", "error", "tool_error", "ping", "pong",
    "resume", "stream_chunk", "handshake_hello", "custom_thing", "system_message", "event_batch",
    "run.begin", "", "  ", "\x1bx", "a" * 250,
]  # fmt: skip
NAMES = [
    "run_id", "thread_id", "user_id", "tool_name", "execution_id", "status", "content", "thought",
    "message", "error", "summary", "result", "payload", "data", "event", "type", "timestamp",
    "events", "rid", "session", "body", "detail", "text",
]  # fmt: skip
SCALARS = [
    "r1", "", " x  y ", "error", "FAILED", "Failure", "ok", "u\x1b1", "tab\there", "é ü",
    "\u2003spaced\u00a0out", "a" * 199, "b" * 201, "c " * 150, 0, 7, -1, 2**70, 7.5, 1e20,
    True, False, None,
]  # fmt: skip
# Raw JSON that json.dumps never writes: what msgspec refuses, json.loads may read, or neither.
ODD = [
    b'{"type": "ping", "v": NaN}', b'{"type": "agent_thinking", "thought": 1e400}',
    b'{"type": "agent_error", "error": "\\ud800"}', b'{"type": "a", "type": "agent_started"}',
    b'{"type": "tool_executing", "run_id": "a", "run_id": "b"}', b"\xef\xbb\xbf{}",
    b'{"type": "x"} trailing', b"[1, 2]", b"3", b'"text"', b"null", b"{", b"", b" \n ",
    b"[" * 1200 + b"]" * 1200, b'{"a": ' * 600 + b"1" + b"}" * 600, b"\xff\xfe",
    b'{"type": "partial_result", "content": "x\\u0000y"}', b'{"type": 5}',
    b'{"type": "agent_started", "run_id": 123456789012345678901234567890}',
]  # fmt: skip


def value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 2 or roll < 0.6:
        return rng.choice(SCALARS)
    if roll < 0.85:
        return {rng.choice(NAMES): value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]


@dataclass(frozen=True)
class Spelling:
    """How a backend names things: what the profile under test reads."""

    type: str
    containers: tuple[str, str]
    fields: tuple[str, ...]  # ids, status and text, as that backend spells them


DEFAULT = Spelling("type", ("payload", "data"), ("run_id", "thread_id", "user_id", "tool_name",
                   "execution_id", "status", "content", "thought", "message", "error", "summary",
                   "result"))  # fmt: skip
RENAMED = Spelling("kind", ("body", "payload"), ("rid", "session", "user_id", "tool_name",
                   "execution_id", "text", "detail", "content"))  # fmt: skip
RENAMED_PROFILE = {
    "protocol": "wstape-json",
    "control_prefixes": ["sys."],
    "fields": {"type": ["kind"], "containers": ["body", "payload"], "run_id": ["rid"],
               "thread_id": ["session"], "text": ["text", "detail.message", "content"],
               "status": ["detail.status"]},
    "types": {"run.begin": "agent_started", "custom_thing": "agent_thinking"},
}  # fmt: skip


def event(rng: random.Random, spelling: Spelling) -> dict:
    """An object in one of the envelopes, with ids and text where a backend would put them,
    and some where it would not."""
    names = list(spelling.fields)
    body = {name: value(rng) for name in rng.sample(names, rng.randint(0, len(names)))}
    for _ in range(rng.randint(0, 2)):
        body[rng.choice(NAMES)] = value(rng)
    kind = rng.choice(TYPES) if rng.random() < 0.95 else value(rng)
    first, second = spelling.containers
    key = spelling.type
    roll = rng.random()
    if roll < 0.35:
        obj = {key: kind, first: body}
    elif roll < 0.5:
        obj = {key: kind, second: body, **({names[0]: "top"} if rng.random() < 0.5 else {})}
    elif roll < 0.55:
        obj = {key: kind, first: body, second: dict(body)}
    elif roll < 0.6:
        obj = {key: "system_message", "event": kind, first: body}
    else:
        obj = {key: kind, **body}
    if rng.random() < 0.03:
        del obj[key]
    return obj


def frames(seed: int, count: int, spelling: Spelling) -> Iterator[Frame]:
    rng = random.Random(seed)
    for n in range(count):
        roll = rng.random()
        if roll < 0.02:
            payload, is_text = rng.randbytes(rng.randint(0, 30)), rng.random() < 0.5
        elif roll < 0.05:
            payload, is_text = rng.choice(ODD), True
        elif roll < 0.08:
            items = [event(rng, spelling) for _ in range(rng.randint(0, 4))]
            events: object = items if rng.random() < 0.5 else {rng.choice(TYPES): items}
            batch = {spelling.type: "event_batch", "events": events}
            payload, is_text = json.dumps(batch).encode(), True
        else:
            text = json.dumps(event(rng, spelling), ensure_ascii=rng.random() < 0.5)
            payload, is_text = (f" {text}\n" if rng.random() < 0.05 else text).encode(), True
        yield Frame(f"c{n % 7}", 1_800_000_000.0 + n / 10, rng.random() < 0.2, is_text, payload)


@pytest.mark.parametrize(
    "profile, spelling, count",
    [(None, DEFAULT, 100_000), (RENAMED_PROFILE, RENAMED, 30_000)],
    ids=["default fields", "renamed fields"],
)
def test_the_quick_path_gives_the_reference_events(
    profile: dict | None, spelling: Spelling, count: int
) -> None:
    dialects = (DEFAULT_PROFILE if profile is None else profile_from_dict(profile)).protocol
    assert dialects.quick is not None  # both are layouts the quick reader reads
    quick, reference = JsonDecoder(dialects), JsonDecoder(dialects, quick=False)
    seen = set()
    for frame in frames(19, count, spelling):
        got = quick.feed(frame)
        assert got == reference.feed(frame), frame.payload
        seen.update((e.canonical, e.envelope) for e in got)
    # The sample reached every kind of frame, not only the quick reader's.
    assert len({canonical for canonical, _ in seen}) >= 12
    assert {envelope for _, envelope in seen} >= {"payload", "flat", "system_message"}


def test_renamed_fields_that_share_a_name_take_the_general_reader() -> None:
    layout = profile_from_dict({"fields": {"run_id": ["payload"]}}).protocol.quick
    assert layout is None  # it would look the id up beside the container, not in it
