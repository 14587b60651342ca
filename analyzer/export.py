"""Frames out of a capture as JSON lines: the stable, documented way to see what a
capture holds (docs/capture-format.md lists the fields)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import IO

from recorder.capture import Message


def frame_object(message: Message) -> dict:
    """One recorded message as the export's JSON object."""
    obj: dict = {
        "connection": message.connection,
        "ts": message.ts,
        "direction": message.direction,
        "kind": message.kind,
        "text": None,
        "size": len(message.payload),
    }
    if message.is_text:
        try:
            obj["text"] = message.payload.decode("utf-8")
            return obj
        except UnicodeDecodeError:
            pass  # not valid UTF-8: carried as data, so nothing is lost
    obj["data"] = base64.b64encode(message.payload).decode("ascii")
    return obj


def jsonl_lines(messages: Iterable[Message]) -> Iterator[str]:
    for message in messages:
        yield json.dumps(frame_object(message), ensure_ascii=False) + "\n"


def write_jsonl(messages: Iterable[Message], out: IO[str]) -> int:
    count = 0
    for line in jsonl_lines(messages):
        out.write(line)
        count += 1
    return count
