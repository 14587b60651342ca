"""The status line's format: the recorder's counters as one 'wstape-status k=v ...' log line,
written inside mitmdump by the StatusLine addon (recorder/addon.py) and read back by the process
that launched it (recorder/launch.py, for `wstape record`). Plain Python: the launcher imports it
where mitmproxy need not be importable."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

STATUS_PREFIX = "wstape-status "


def status_line(counters: Mapping[str, int]) -> str:
    """{'connections': 2, 'open': 1} → 'wstape-status connections=2 open=1'."""
    return STATUS_PREFIX + " ".join(f"{name}={value}" for name, value in counters.items())


def parse_status(line: str) -> dict[str, int] | None:
    """The counters of a 'wstape-status k=v ...' log line, or None for other lines."""
    start = line.find(STATUS_PREFIX)
    if start < 0:
        return None
    counters = {}
    for item in line[start + len(STATUS_PREFIX) :].split():
        key, _, value = item.partition("=")
        with contextlib.suppress(ValueError):
            counters[key] = int(value)
    return counters
