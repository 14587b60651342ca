"""A progress bar on stderr for long reads (many captures, big segments), and nothing at all when
stderr is not a terminal, so pipes, files and CI logs stay clean.

Two shapes: `track(items, ...)` wraps a sequential loop; `progress(total, ...)` yields an
`advance(amount)` callable for work that finishes out of order (a pool of workers reporting back).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TextIO, TypeVar

import click

T = TypeVar("T")
Advance = Callable[..., None]  # advance(amount, name=None): `name` shows beside the bar


def wanted(stream: TextIO | None = None) -> bool:
    """True when a bar would be seen: the stream (stderr) is a terminal and TERM is not dumb."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


@contextlib.contextmanager
def progress(
    total: int, label: str, enabled: bool = True, stream: TextIO | None = None
) -> Iterator[Advance]:
    """Yields `advance(amount, name=None)`; draws a bar of `total` units on stderr while inside,
    or nothing when `enabled` is false or stderr is not a terminal (where click would print the
    label anyway). Call `advance` from this thread, in any order (as pool workers finish)."""
    stream = stream or sys.stderr
    if not (enabled and wanted(stream) and total > 0):
        yield _nothing
        return
    with click.progressbar(
        length=total,
        label=label,
        file=stream,
        show_eta=True,
        show_percent=True,
        width=30,
        item_show_func=lambda name: name,
    ) as bar:
        yield bar.update


def _nothing(amount: int, name: str | None = None) -> None:
    return None


def track(
    items: Sequence[T],
    label: str,
    weight: Callable[[T], int] = lambda item: 1,
    enabled: bool = True,
    stream: TextIO | None = None,
    name: Callable[[T], str] = str,
) -> Iterator[T]:
    """Yields each item; the bar moves by `weight(item)` once the loop body for it is done
    (bytes of a capture, say, so one big capture among small ones moves it as much as it costs)
    and names the item that was done last.
    """
    weights = [max(int(weight(item)), 0) for item in items]
    with progress(sum(weights), label, enabled, stream) as advance:
        for item, amount in zip(items, weights, strict=True):
            yield item
            advance(amount, name(item))


def capture_bytes(path: str | os.PathLike) -> int:
    """The size of a capture's segment files, for weighing it in a bar; 1 if unreadable, so the
    reader, not the bar, reports what is wrong with it."""
    from wstape.recorder.capture import CaptureError, segment_files

    try:
        return sum(p.stat().st_size for p in segment_files(path)) or 1
    except (CaptureError, OSError):
        return 1


def tracked_paths(paths: Iterable[str], label: str, enabled: bool = True) -> Iterator[str]:
    """`track` over capture paths, weighed by their bytes."""
    return track(list(paths), label, capture_bytes, enabled)
