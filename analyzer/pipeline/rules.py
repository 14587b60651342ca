"""Runs → verdicts: judges each run against the seven-event promise (presence, order, tool
pairing, completion, timing, what the user's screen showed, isolation) and names every failure
with a stable code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType

from wstape.analyzer.pipeline.assembly_rules import ENDS, RunState, ending
from wstape.analyzer.pipeline.runs import Run
from wstape.analyzer.pipeline.screen import Burst, Screen, screen
from wstape.analyzer.pipeline.verdicts import (
    UNFINISHED,
    Code,
    Failure,
    Outcome,
    Tool,
    Verdict,
    new_verdict,
)
from wstape.analyzer.profile import DEFAULT_PROFILE, Profile
from wstape.analyzer.protocols.events import (
    SERVER_KINDS,
    Canonical,
    Event,
    Finding,
    positional_new,
)

C = Canonical
TOOL_ENDS = frozenset({C.TOOL_COMPLETED, C.TOOL_ERROR})
MAX_DETAILS = 3  # per failure message; the timeline shows the rest


SERVER_KINDS_ORDER = (
    C.AGENT_STARTED, C.AGENT_THINKING, C.TOOL_EXECUTING, C.TOOL_COMPLETED, C.TOOL_ERROR,
    C.PARTIAL_RESULT, C.AGENT_COMPLETED, C.ERROR,
)  # fmt: skip
# The members judging reads, as module globals: an enum class attribute costs a lookup through
# its metaclass each time, and a run is judged with dozens of them.
_STARTED, _EXECUTING, _COMPLETED = C.AGENT_STARTED, C.TOOL_EXECUTING, C.TOOL_COMPLETED
_PARTIAL, _UNKNOWN = C.PARTIAL_RESULT, C.UNKNOWN
_INCOMPLETE, _ERROR, _CUT_SHORT = Outcome.INCOMPLETE, Outcome.ERROR, Outcome.CUT_SHORT
_DONE, _FAILED, _ENDS = Outcome.COMPLETED, RunState.FAILED, dict(ENDS)
_new_tool = positional_new(Tool)


def _read(events: tuple[Event, ...]) -> tuple[list[Event], dict, Counter[str], list[str], float]:
    """One pass over a run's events: the backend's events of the seven kinds, how many of each
    kind, how many of each type (by the backend's name, in order of first arrival), the types
    the profile does not know, and when the last event came."""
    server: list[Event] = []
    kinds: dict[Canonical, int] = {}
    counts: Counter[str] = Counter()
    unknown: list[str] = []
    last = float("-inf")
    for event in events:
        canonical = event.canonical
        key = event.type or canonical._value_  # the enum's .value property costs 100 ns
        counts[key] = counts.get(key, 0) + 1
        if event.ts > last:
            last = event.ts
        if canonical in SERVER_KINDS:
            if not event.from_client:
                server.append(event)
                kinds[canonical] = kinds.get(canonical, 0) + 1
        elif canonical is _UNKNOWN:
            unknown.append(event.type or "(no type)")
    return server, kinds, counts, unknown, last


def judge(run: Run, profile: Profile = DEFAULT_PROFILE) -> Verdict:
    """The verdict on one run under the profile's required events and timing targets."""
    server, kinds, counts, unknown, last = _read(run.events)
    outcome, terminal = _outcome(server)
    if outcome is _INCOMPLETE and _cut_short(run, last, profile):
        outcome = _CUT_SHORT
    # Completed, and cut by the recording's end while the client ran its tools (handoff.py).
    handed = outcome is _DONE and run.cut_at is not None and _cut_short(run, last, profile)
    # A run that failed gracefully owes its user only a start and the error; a completed one
    # owes the five events, tools included unless the profile says `require_tools = false`
    # (the original suite required them; a backend that answers without tools opts out).
    required = (_STARTED,) if outcome is _ERROR else profile.required_completed
    ends = [*server, *run.answers] if run.answers else server
    tools, tool_failures = _pair_tools(ends, _CUT_SHORT if handed else outcome)
    end = server[terminal].ts if terminal is not None else last
    message_ts = run.user_message_ts
    first = server[0].ts - message_ts if server and message_ts is not None else None
    total = end - run.started
    shown = server[: terminal + 1] if terminal is not None else server
    spans = [(t.started, t.started + t.duration_s) for t in tools if t.duration_s is not None]
    seen = screen(shown, spans, run.started, run.user_message_ts)
    findings = _protocol_rules(run, outcome, profile)
    failures = [
        *_missing(kinds, outcome, required, _own_required(run, outcome, profile)),
        *_incomplete(run, server, outcome),
        *_order(run, server, terminal, kinds),
        *tool_failures,
        *_timing(run, first, total, tools, profile, seen.burst),
        *_screen(seen, profile),
        *_isolation(run),
        *(Failure(Code.PROTOCOL, f"{f.rule}: {f.message}") for f in findings if f.error),
    ]
    warnings = _warnings(run, kinds, unknown, profile)
    if findings:
        warnings += [f"{f.rule}: {f.message}" for f in findings if not f.error]
    return new_verdict(run, _CUT_SHORT if handed else outcome,
                       _merge(failures) if failures else (), tuple(warnings), required, first,
                       total, tuple(tools), MappingProxyType(counts), _coverage(kinds, required),
                       seen.longest_silence, seen.first_text_s, seen.stream,
                       seen.burst)  # fmt: skip


_PROTOCOL_KINDS = SERVER_KINDS | {C.TIMELINE}


def _protocol_rules(run: Run, outcome: Outcome, profile: Profile) -> tuple[Finding, ...]:
    """The protocol's own rules on the run's server events, for a protocol that has some."""
    check = getattr(profile.protocol, "check", None)
    if check is None:
        return ()
    events = [e for e in run.events if not e.from_client and e.canonical in _PROTOCOL_KINDS]
    return tuple(check(events, outcome not in UNFINISHED))


def _coverage(counts: dict[Canonical, int], required: tuple) -> Mapping[Canonical, int]:
    # The kinds seen, the required ones and partial_result, in the order reports list them.
    return MappingProxyType({k: counts.get(k, 0) for k in SERVER_KINDS_ORDER
                             if k in counts or k in required or k is _PARTIAL})  # fmt: skip


def _outcome(server: list[Event]) -> tuple[Outcome, int | None]:
    """The outcome and the index of the event that ended the run (assembly_rules.ending), if
    one did. An error on the way, or an ending error, makes it a graceful failure."""
    end = ending([e.canonical for e in server])
    if end is None:
        return _INCOMPLETE, None
    ended_failed = _ENDS[server[end].canonical] is _FAILED
    failed = ended_failed or any(e.failed for e in server[: end + 1])
    return (_ERROR if failed else _DONE), end


def _cut_short(run: Run, last: float, profile: Profile) -> bool:
    """In flight when the recording ended (its last event at `last`), and not quiet for longer
    than a whole run may take (a run that went quiet that long had stopped before the cut: it
    fails no_completion)."""
    if run.cut_at is None:
        return False
    return run.cut_at - last <= profile.targets.max_total_s


def _own_required(run: Run, outcome: Outcome, profile: Profile) -> list[str]:
    """The product's own required events (by the backend's name) a completed run lacks."""
    if not profile.required_events or outcome is not Outcome.COMPLETED:
        return []
    seen = {e.type for e in run.events if not e.from_client}
    return [name for name in profile.required_events if name not in seen]


def _missing(
    kinds: dict[Canonical, int], outcome: Outcome, required: tuple, own: list[str]
) -> list[Failure]:
    # A run that never ended is judged on that alone: what it would have sent is unknown.
    if outcome in UNFINISHED:
        return []
    missing = [kind.value for kind in required if kind not in kinds] + own
    if not missing:
        return []
    names = ", ".join(repr(name) for name in missing)
    return [Failure(Code.MISSING_EVENTS, f"Missing required events: {{{names}}}")]


def _incomplete(run: Run, server: list[Event], outcome: Outcome) -> list[Failure]:
    if outcome is not _INCOMPLETE:
        return []
    end = f" ({run.end})" if run.end else ""
    if not server:
        return [Failure(Code.NO_COMPLETION, f"No event arrived after the user's message{end}")]
    last = server[-1]
    at = last.ts - run.started
    message = f"Run never completed: last event {last.type} at {at:.3f}s{end}"
    return [Failure(Code.NO_COMPLETION, message)]


def _order(
    run: Run, server: list[Event], terminal: int | None, counts: dict[Canonical, int]
) -> list[Failure]:
    problems = []
    # Only a run whose first event was not its start can have events before it.
    if _STARTED in counts and server[0].canonical is not _STARTED:
        start = next(i for i, e in enumerate(server) if e.canonical is _STARTED)
        problems += [f"{e.type} came before agent_started" for e in server[:start]]
    if terminal is not None and terminal + 1 < len(server):
        done = server[terminal]
        problems += [
            f"{e.type} at {e.ts - run.started:.3f}s came after {done.type} "
            f"at {done.ts - run.started:.3f}s"
            for e in server[terminal + 1 :]
        ]
    return [Failure(Code.ORDER, problem) for problem in problems]


def _pair_tools(server: list[Event], outcome: Outcome) -> tuple[list[Tool], list[Failure]]:
    """Pairs each tool end with its start: by execution_id, else tool_name, else in order."""
    starts = [(i, e) for i, e in enumerate(server) if e.canonical is _EXECUTING]
    if not starts and not any(e.canonical in TOOL_ENDS for e in server):
        return [], []  # a run without tools, as many are
    matched: dict[int, Event] = {}
    failures = []
    for index, end in enumerate(server):
        if end.canonical not in TOOL_ENDS:
            continue
        found = _match(starts, matched, end)
        if found is None:
            message = f"{end.type} of {_tool_name(end)} has no tool_executing"
            failures.append(Failure(Code.UNPAIRED_TOOL, message))
            continue
        matched[found] = end
        if found > index:
            message = f"{end.type} of {_tool_name(end)} came before its tool_executing"
            failures.append(Failure(Code.ORDER, message))
    tools = []
    for index, start in starts:
        done = matched.get(index)
        duration = done.ts - start.ts if done is not None else None
        tools.append(_new_tool(start.tool_name, start.execution_id, start.ts, duration))
        # A run cut off mid-tool fails no_completion (or was cut short by the recording's end);
        # its open tool is not a second failure.
        if done is None and outcome not in UNFINISHED:
            message = f"tool_executing of {_tool_name(start)} never completed"
            failures.append(Failure(Code.UNPAIRED_TOOL, message))
    return tools, failures


def _match(starts: list, matched: dict, end: Event) -> int | None:
    """The first start not yet matched with the end's execution_id, else its tool_name, else
    any (starts are in order, so an earlier one before a later)."""
    if end.execution_id:
        key, value = "execution_id", end.execution_id
    elif end.tool_name:
        key, value = "tool_name", end.tool_name
    else:
        return next((i for i, _ in starts if i not in matched), None)
    return next((i for i, s in starts if i not in matched and getattr(s, key) == value), None)


def _tool_name(event: Event) -> str:
    name = event.tool_name or "a tool"
    return f"{name} ({event.execution_id})" if event.execution_id else name


def _timing(
    run: Run,
    first: float | None,
    total: float,
    tools: list[Tool],
    profile: Profile,
    burst: Burst | None,
) -> list[Failure]:
    targets = profile.targets
    failures = []
    if first is not None and first > targets.max_first_event_s:
        message = f"First event after {first:.3f}s (target {targets.max_first_event_s:g}s)"
        if burst is not None and burst.start == 0:
            message += f"; {burst.describe()}"
        failures.append(Failure(Code.SLOW_FIRST_EVENT, message))
    for tool in tools:
        if tool.duration_s is not None and tool.duration_s > targets.max_tool_s:
            name = tool.name or "a tool"
            message = f"Tool {name} took {tool.duration_s:.3f}s (target {targets.max_tool_s:g}s)"
            failures.append(Failure(Code.SLOW_TOOL, message))
    if total > targets.max_total_s:
        message = f"Run took {total:.3f}s (target {targets.max_total_s:g}s)"
        failures.append(Failure(Code.SLOW_TOTAL, message))
    return failures


def _screen(seen: Screen, profile: Profile) -> list[Failure]:
    """A silence past its target, named by where it was; a first text later than its target."""
    targets = profile.targets
    failures = []
    silence = seen.longest_silence
    if silence is not None and silence.seconds > targets.max_silence_s:
        message = (
            f"Nothing new for {silence.seconds:.3f}s, from {silence.after} at "
            f"{silence.at_s:.3f}s to {silence.before} (target {targets.max_silence_s:g}s)"
        )
        burst = seen.burst
        if burst is not None and burst.start == 1:  # the wait before the burst is the silence
            message += f"; {burst.describe()}"
        failures.append(Failure(Code.LONG_SILENCE, message))
    most, first_text = targets.max_first_text_s, seen.first_text_s
    if most is not None and first_text is not None and first_text > most:
        message = f"First text after {first_text:.3f}s (target {most:g}s)"
        failures.append(Failure(Code.SLOW_FIRST_TEXT, message))
    return failures


def _isolation(run: Run) -> list[Failure]:
    return [
        Failure(Code.ISOLATION, f"at {leak.ts - run.started:.3f}s, {leak.message}")
        for leak in run.leaks
        if not leak.received
    ]


def _merge(failures: list[Failure]) -> tuple[Failure, ...]:
    """One failure per code, in the order codes first failed, details capped."""
    if not failures:
        return ()
    by_code: dict[Code, list[str]] = {}
    for failure in failures:
        by_code.setdefault(failure.code, []).append(failure.message)
    merged = []
    for code, messages in by_code.items():
        shown = "; ".join(messages[:MAX_DETAILS])
        more = len(messages) - MAX_DETAILS
        text = HEADINGS.get(code, "") + shown + (f"; and {more} more" if more > 0 else "")
        merged.append(Failure(code, text))
    return tuple(merged)


HEADINGS = {
    Code.ORDER: "Invalid event sequence: ",
    Code.UNPAIRED_TOOL: "Unpaired tool events: ",
    Code.ISOLATION: "Event delivered to the wrong connection: ",
    Code.PROTOCOL: "Broke the protocol's rules: ",
}


def _warnings(
    run: Run, kinds: dict[Canonical, int], unknown: list[str], profile: Profile
) -> list[str]:
    warnings = []
    # Counted only when there are any: most runs have none, and a Counter costs a run's judging
    # a measurable share.
    for name, count in Counter(unknown).items() if unknown else ():
        if name in profile.required_events:
            continue  # judged: the profile requires it
        warnings.append(f"unknown event type {name!r} ×{count} (not judged; see --profile)")
    if not profile.require_tools and not (kinds.get(_EXECUTING) or kinds.get(_COMPLETED)):
        warnings.append("no tool events (tools are not required by this profile)")
    for leak in run.leaks:
        if leak.received:
            at = leak.ts - run.started
            warnings.append(f"at {at:.3f}s this run's connection {leak.message}")
    started = kinds.get(_STARTED, 0)
    if started > 1:
        warnings.append(f"agent_started arrived {started} times")
    return warnings
