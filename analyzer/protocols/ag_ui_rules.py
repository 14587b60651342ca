"""AG-UI's own rules on one run, by ag-ui-validate (the `ag-ui` extra; MIT, no dependencies of its
own): each run's server events are handed to it as the AG-UI events they were, with the fields
its sequence rules read, and its findings come back with their stable rule ids (AGUI001…)."""

# Why this package and not rules of our own: on AG-UI 1.0 streams built with ag-ui-protocol it
# is right on every rule the analyzer needs (a run from RUN_STARTED to RUN_FINISHED | RUN_ERROR
# with nothing after but a new RUN_STARTED, text messages and tool calls START → … → END by
# their ids, RUN_FINISHED with one still open), and it checks about 240,000 events/s, four times
# the analyzer's own speed, so judging a run with it costs little.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from wstape.analyzer.protocols.events import Event, Finding

# The field each type's sub-span id (Event.execution_id) came from, by the type's first word.
_SPAN_FIELD: Mapping[str, str] = MappingProxyType(
    {"TEXT": "messageId", "REASONING": "messageId", "TOOL": "toolCallId", "STEP": "stepName",
     "SUBAGENT": "subagentRunId"}
)  # fmt: skip
# Rules on what the analyzer does not keep of an event (its text, arguments, state, framing,
# schema): the events handed over have only the fields of the sequence rules.
_OFF = (
    "AGUI105", "AGUI204", "AGUI208", "AGUI301", "AGUI302", "AGUI303", "AGUI304", "AGUI305",
    "AGUI501", "AGUI502", "AGUI503", "AGUI504", "AGUI505", "AGUI506", "AGUI507", "AGUI508",
    "AGUI901", "AGUI902", "AGUI903",
)  # fmt: skip
_SEVERITY = {"error": True, "warning": False}  # info findings are not shown
MISSING = Finding(
    "AGUI", "AG-UI's own rules were not checked: pip install 'wstape[ag-ui]'", error=False
)


def as_ag_ui(event: Event) -> dict:
    """The AG-UI event as its sequence rules see it."""
    out: dict = {"type": event.type}
    if event.type in ("RUN_STARTED", "RUN_FINISHED"):
        out["runId"], out["threadId"] = event.run_id, event.thread_id
    span = _SPAN_FIELD.get(event.type.partition("_")[0])
    if span and event.execution_id:
        out[span] = event.execution_id
    return out


def check_run(events: Sequence[Event], ended: bool) -> tuple[Finding, ...]:
    """The findings of ag-ui-validate on one run's server events. For a run that never ended,
    what was still open at its end is not reported: the run fails no_completion for that."""
    try:
        from ag_ui_validate import ValidatorOptions, create_validator
    except ImportError:
        return (MISSING,)
    validator = create_validator(ValidatorOptions(severity_overrides=dict.fromkeys(_OFF, "off")))
    found = []
    for event in events:
        found += validator.feed(as_ag_ui(event))
    found += validator.finalize()
    return tuple(
        Finding(d.rule, d.message, _SEVERITY[d.severity])
        for d in found
        if d.severity in _SEVERITY and (ended or d.event_index >= 0)
    )
