"""How verdicts travel from a shard to the main process: as tuples of plain values, rebuilt on
arrival with the run's number in the whole capture. Pickling the frozen dataclasses themselves
cost about 50 µs a verdict each way (their __getstate__ and __setstate__ run in Python), more
than judging the run; tuples pickle in C, and the records are rebuilt the way events.py builds
events, by filling a slotted twin and setting its class."""

from __future__ import annotations

import copyreg
import io
import pickle
from collections.abc import Callable
from dataclasses import fields
from types import MappingProxyType
from typing import Any

from wstape.analyzer.pipeline.model import Leak, Run
from wstape.analyzer.pipeline.screen import Burst, Silence, Stream
from wstape.analyzer.pipeline.verdicts import Failure, Tool, Verdict
from wstape.analyzer.protocols.events import event_values, new_event

# Events travel as plain tuples in EVENT_FIELDS order; pickle memoizes the Canonical members, so
# each is written once per message.
pack_event: Callable[[Any], tuple] = event_values


def unpack_event(values: tuple) -> Any:
    return new_event(*values)


def _constructor(cls: type) -> Callable[..., Any]:
    """A positional constructor of a frozen slotted dataclass that skips its frozen __init__
    (one object.__setattr__ per field); every field must be given."""
    names = [f.name for f in fields(cls)]
    twin = type(f"_{cls.__name__}Slots", (), {"__slots__": cls.__slots__})
    source = "\n".join(
        [
            f"def new({', '.join(names)}):",
            "    _o_ = _new_(_twin_)",
            *(f"    _o_.{name} = {name}" for name in names),
            "    _o_.__class__ = _cls_",
            "    return _o_",
        ]
    )
    namespace: dict[str, Any] = {"_new_": object.__new__, "_twin_": twin, "_cls_": cls}
    exec(source, namespace)  # the source is made of field names only
    return namespace["new"]


_new_run, _new_verdict = _constructor(Run), _constructor(Verdict)
_new_leak, _new_failure, _new_tool = _constructor(Leak), _constructor(Failure), _constructor(Tool)
_tuple_new = tuple.__new__


def pack_verdict(verdict: Verdict, events: bool) -> tuple:
    """A verdict as nested tuples, its run's events with it only when `events`."""
    run = verdict.run
    leaks = run.leaks
    if leaks:
        leaks = tuple([(k.ts, k.connection, k.message, k.received) for k in leaks])
    packed_run = (
        run.ordinal, run.run_id, run.thread_id, run.user_id, run.connections,
        tuple(map(event_values, run.events)) if events else (), run.started,
        run.user_message_ts, leaks, run.end, run.cut_at,
    )  # fmt: skip
    failures, tools = verdict.failures, verdict.tools
    silence, stream, burst = verdict.longest_silence, verdict.stream, verdict.burst
    return (
        packed_run, verdict.outcome,
        tuple([(f.code, f.message) for f in failures]) if failures else (),
        verdict.warnings, verdict.required, verdict.first_event_s, verdict.total_s,
        tuple([(t.name, t.execution_id, t.started, t.duration_s) for t in tools]) if tools else (),
        tuple(verdict.event_counts.items()), tuple(verdict.coverage.items()),
        silence and tuple(silence), verdict.first_text_s, stream and tuple(stream),
        burst and tuple(burst),
    )  # fmt: skip


def unpack_run(packed: tuple, ordinal: int, leaks: tuple[Leak, ...] | None = None) -> Run:
    """The run of a packed verdict, numbered `ordinal`, with `leaks` in place of its own."""
    _, run_id, thread_id, user_id, connections, events, started, message_ts, own, end, cut = packed
    if leaks is None:
        leaks = tuple([_new_leak(*leak) for leak in own]) if own else ()
    if events:
        events = tuple([new_event(*values) for values in events])
    return _new_run(ordinal, run_id, thread_id, user_id, connections, events, started,
                    message_ts, leaks, end, cut)  # fmt: skip


def unpack_verdict(packed: tuple, run: Run) -> Verdict:
    """A packed verdict, about `run` (unpack_run)."""
    (_, outcome, failures, warnings, required, first, total, tools, counts, coverage, silence,
     first_text, stream, burst) = packed  # fmt: skip
    return _new_verdict(
        run, outcome, tuple([_new_failure(*failure) for failure in failures]), warnings,
        required, first, total, tuple([_new_tool(*tool) for tool in tools]),
        MappingProxyType(dict(counts)), MappingProxyType(dict(coverage)),
        None if silence is None else _tuple_new(Silence, silence), first_text,
        None if stream is None else _tuple_new(Stream, stream),
        None if burst is None else _tuple_new(Burst, burst),
    )  # fmt: skip


def _proxy(values: dict) -> MappingProxyType:
    return MappingProxyType(values)


_REDUCERS = {**copyreg.dispatch_table, MappingProxyType: lambda m: (_proxy, (dict(m),))}


def dumps(value: object) -> bytes:
    """`value` pickled, read-only mappings (which pickle refuses) as plain ones."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _REDUCERS
    pickler.dump(value)
    return out.getvalue()


loads = pickle.loads
