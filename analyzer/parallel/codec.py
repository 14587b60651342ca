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
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from wstape.analyzer.pipeline.model import Leak, Run
from wstape.analyzer.pipeline.verdicts import Failure, Tool, Verdict
from wstape.analyzer.protocols.events import Event, event_values, new_event, positional_new

# Events travel as plain tuples in EVENT_FIELDS order.
pack_event: Callable[[Event], tuple] = event_values


def unpack_event(values: tuple) -> Event:
    return new_event(*values)


def _named(cls: type, name: str) -> Callable[..., Any]:
    """events.positional_new for `cls`, named `name` in this module, so that pickle finds it."""
    made = positional_new(cls)
    made.__module__, made.__name__, made.__qualname__ = __name__, name, name
    return made


new_event_ = _named(Event, "new_event_")
new_run = _named(Run, "new_run")
new_verdict = _named(Verdict, "new_verdict")
new_leak = _named(Leak, "new_leak")
new_failure = _named(Failure, "new_failure")
new_tool = _named(Tool, "new_tool")
# The field values of each, in the constructors' order.
run_values = attrgetter(*(f.name for f in fields(Run)))
verdict_values = attrgetter(*(f.name for f in fields(Verdict)))
_ORDINAL, _EVENTS = 0, [f.name for f in fields(Run)].index("events")


def renumbered(verdict: Verdict, ordinal: int, events: bool = True) -> Verdict:
    """The verdict about its run numbered `ordinal`, without the run's events unless `events`."""
    run = verdict.run
    if run.ordinal == ordinal and (events or not run.events):
        return verdict
    values = list(run_values(run))
    values[_ORDINAL] = ordinal
    if not events:
        values[_EVENTS] = ()
    return new_verdict(new_run(*values), *verdict_values(verdict)[1:])


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


def _run(packer: Packer, run: Run) -> tuple:
    values = run_values(run)
    if packer.events or id(run) in packer.with_events:
        return new_run, values
    return new_run, (*values[:_EVENTS], (), *values[_EVENTS + 1 :])


def _verdict(packer: Packer, verdict: Verdict) -> tuple:
    return new_verdict, verdict_values(verdict)


_intern = sys.intern
_REDUCE: dict[type, Callable[[Packer, Any], tuple]] = {
    Verdict: _verdict,
    Run: _run,
    Leak: lambda _, k: (new_leak, (k.ts, k.connection, k.message, k.received)),
    Failure: lambda _, f: (new_failure, (f.code, f.message)),
    Tool: lambda _, t: (new_tool, (t.name, t.execution_id, t.started, t.duration_s)),
    Event: lambda _, e: (new_event_, event_values(e)),
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
