"""How verdicts travel from a shard to the main process: pickled in batches, each record rebuilt
on arrival by a constructor that skips its frozen __init__, and renumbered there with the run's
number in the whole capture. Pickling the frozen dataclasses the default way cost about 50 µs a
verdict each way (their __getstate__ and __setstate__ run in Python), more than judging the run;
a batch's memo writes each enum member, connection and event type once, and is let go with it
(a memo holds every object it has written)."""

from __future__ import annotations

import io
import pickle
import sys
from collections.abc import Callable
from dataclasses import fields
from types import MappingProxyType
from typing import Any

from wstape.analyzer.pipeline.model import Leak, Run
from wstape.analyzer.pipeline.verdicts import Failure, Tool, Verdict
from wstape.analyzer.protocols.events import Event, event_values, new_event

# Events travel as plain tuples in EVENT_FIELDS order.
pack_event: Callable[[Event], tuple] = event_values


def unpack_event(values: tuple) -> Event:
    return new_event(*values)


def _constructor(cls: type, name: str) -> Callable[..., Any]:
    """A positional constructor of a frozen slotted dataclass that skips its frozen __init__
    (one object.__setattr__ per field), filling a slotted twin and setting its class as
    events.py does; every field must be given. Named `name` in this module, for pickle."""
    names = [f.name for f in fields(cls)]
    twin = type(f"_{cls.__name__}Slots", (), {"__slots__": cls.__slots__})
    source = "\n".join(
        [
            f"def {name}({', '.join(names)}):",
            "    _o_ = _new_(_twin_)",
            *(f"    _o_.{field} = {field}" for field in names),
            "    _o_.__class__ = _cls_",
            "    return _o_",
        ]
    )
    namespace: dict[str, Any] = {"_new_": object.__new__, "_twin_": twin, "_cls_": cls}
    exec(source, namespace)  # the source is made of field names only
    made = namespace[name]
    made.__module__, made.__qualname__ = __name__, name
    return made


new_run = _constructor(Run, "new_run")
new_verdict = _constructor(Verdict, "new_verdict")
new_leak = _constructor(Leak, "new_leak")
new_failure = _constructor(Failure, "new_failure")
new_tool = _constructor(Tool, "new_tool")


def renumbered(verdict: Verdict, ordinal: int, events: bool = True) -> Verdict:
    """The verdict about its run numbered `ordinal`, without the run's events unless `events`."""
    r = verdict.run
    if r.ordinal == ordinal and (events or not r.events):
        return verdict
    run = new_run(ordinal, r.run_id, r.thread_id, r.user_id, r.connections,
                  r.events if events else (), r.started, r.user_message_ts, r.leaks, r.end,
                  r.cut_at)  # fmt: skip
    v = verdict
    return new_verdict(run, v.outcome, v.failures, v.warnings, v.required, v.first_event_s,
                       v.total_s, v.tools, v.event_counts, v.coverage, v.longest_silence,
                       v.first_text_s, v.stream, v.burst)  # fmt: skip


def proxy(values: dict) -> MappingProxyType:
    return MappingProxyType(values)


class Packer(pickle.Pickler):
    """Pickles verdicts (and anything else) into `out`; their runs' events go with them when
    `events`, else only for the runs in `with_events` (by id)."""

    def __init__(self, out: io.BytesIO, events: bool = True, with_events=frozenset()) -> None:
        super().__init__(out, pickle.HIGHEST_PROTOCOL)
        self.events, self.with_events = events, with_events

    def reducer_override(self, obj: object) -> Any:
        reduce = _REDUCE.get(type(obj))
        return NotImplemented if reduce is None else reduce(self, obj)


def _run(packer: Packer, r: Run) -> tuple:
    events = r.events if packer.events or id(r) in packer.with_events else ()
    return new_run, (r.ordinal, r.run_id, r.thread_id, r.user_id, r.connections, events,
                     r.started, r.user_message_ts, r.leaks, r.end, r.cut_at)  # fmt: skip


def _verdict(packer: Packer, v: Verdict) -> tuple:
    return new_verdict, (v.run, v.outcome, v.failures, v.warnings, v.required, v.first_event_s,
                         v.total_s, v.tools, v.event_counts, v.coverage, v.longest_silence,
                         v.first_text_s, v.stream, v.burst)  # fmt: skip


_intern = sys.intern
_REDUCE: dict[type, Callable[[Packer, Any], tuple]] = {
    Verdict: _verdict,
    Run: _run,
    Leak: lambda _, k: (new_leak, (k.ts, k.connection, k.message, k.received)),
    Failure: lambda _, f: (new_failure, (f.code, f.message)),
    Tool: lambda _, t: (new_tool, (t.name, t.execution_id, t.started, t.duration_s)),
    Event: lambda _, e: (new_event, event_values(e)),
    # Read-only mappings do not pickle. Event types as keys are interned: the memo then writes
    # each once.
    MappingProxyType: lambda _, m: (
        proxy,
        ({_intern(k) if type(k) is str else k: n for k, n in m.items()},),
    ),
}


def dumps(value: object, events: bool = True, with_events=frozenset()) -> bytes:
    """`value` pickled by a Packer: verdicts and read-only mappings as above."""
    out = io.BytesIO()
    Packer(out, events, with_events).dump(value)
    return out.getvalue()


loads = pickle.loads
