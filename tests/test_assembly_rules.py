"""The rules of run assembly, read straight from their tables: what opens, joins, ends and
continues a run, and when it is handed back. Pure logic; test_runs_rules.py plays whole chats."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstape.analyzer.pipeline.assembly_rules import (
    AFTER,
    CROSSING,
    ENDED,
    FINDS,
    FOLLOWS,
    HAND_BACK,
    IDLE_S,
    JOINS,
    LINGER_S,
    OPENS,
    RECONNECT_S,
    STEPS,
    TERMINAL,
    Cross,
    RunState,
    Since,
    Step,
    Then,
    Under,
    answers,
    ending,
)
from wstape.analyzer.pipeline.runs import RunAssembler, assemble
from wstape.analyzer.protocols.events import SERVER_KINDS, Canonical, Event
from wstape.analyzer.replay import plan

C = Canonical
STATES = tuple(RunState)
# What the assembler can find under each key: a run in some state, or one of these.
UNDER_KEY = {
    "run_id": {Under.NOTHING, Under.HANDED_BACK, *STATES},
    "thread": {Under.NOTHING, *STATES},
    "position": {Under.NOTHING, Under.NAMED, *STATES},
}
OPENING = {Then.WAIT, Then.OPEN, Then.CLAIM_OR_OPEN, Then.ADOPT_OR_OPEN}


def event(kind: Canonical, conn: str = "c1", ts: float = 0.0, from_client: bool = False,
          **ids) -> Event:  # fmt: skip
    return Event(conn, ts, from_client, True, 10, type=kind.value, canonical=kind, envelope="flat",
                 **ids)  # fmt: skip


# ------------------------------------------------------------------ the tables are whole


@pytest.mark.parametrize("sender", [True, False], ids=["client", "server"])
def test_every_kind_of_frame_has_a_rule_from_either_side(sender: bool) -> None:
    assert set(STEPS[sender]) == set(Canonical)


@pytest.mark.parametrize("step", list(FINDS))
def test_every_run_an_event_can_find_has_a_row(step: Step) -> None:
    finds = FINDS[step]
    for key, situations in UNDER_KEY.items():
        assert set(getattr(finds, key)) == situations, (step, key)


def test_terminal_is_defined_once_for_runs_verdicts_and_replay() -> None:
    assert TERMINAL == {C.AGENT_COMPLETED, C.ERROR}
    assert plan.TERMINAL is TERMINAL


# ------------------------------------------------------------------ what opens a run


def test_users_message_opens_a_run_that_waits_for_the_backend() -> None:
    assert STEPS[True][C.USER_MESSAGE] is Step.OPEN
    assert OPENS.position[Under.NOTHING] == (Then.WAIT, Then.WAIT)


def test_users_message_repeating_a_run_id_joins_that_run() -> None:
    assert all(OPENS.run_id[state][0] is Then.JOIN for state in STATES)
    assert OPENS.run_id[Under.HANDED_BACK][0] is Then.WAIT


def test_backend_event_with_a_new_run_id_answers_the_waiting_message_or_opens_a_run() -> None:
    assert JOINS.run_id[Under.NOTHING] == (Then.ADOPT_OR_OPEN, Then.ADOPT_OR_OPEN)


def test_agent_started_never_joins_a_thread_run_already_answered() -> None:
    for state in (RunState.ANSWERED, RunState.FAILED, RunState.COMPLETED):
        assert JOINS.thread[state][True] is Then.CLAIM_OR_OPEN
    assert JOINS.thread[RunState.WAITING][True] is Then.JOIN


def test_without_ids_only_agent_started_opens_a_run_on_a_connection() -> None:
    assert JOINS.position[Under.NOTHING] == (Then.STRAY, Then.OPEN)


def test_unknown_types_and_resumes_never_open_a_run() -> None:
    rows = [then for key in UNDER_KEY for pair in getattr(FOLLOWS, key).values() for then in pair]
    assert not OPENING & set(rows)
    assert STEPS[False][C.UNKNOWN] is Step.FOLLOW and STEPS[True][C.RESUME] is Step.RESUME


def test_binary_and_non_json_frames_belong_to_no_run_and_are_no_strays() -> None:
    for kind in (C.BINARY, C.NOT_JSON, C.NOT_OBJECT):
        assert STEPS[True][kind] is STEPS[False][kind] is Step.SKIP


def test_only_the_servers_control_frames_name_the_connections_user() -> None:
    assert STEPS[False][C.CONTROL] is Step.NAME_USER
    assert STEPS[True][C.CONTROL] is Step.SKIP


# ------------------------------------------------------------------ what joins a run


def test_event_with_a_run_id_joins_its_run_in_any_state() -> None:
    assert all(JOINS.run_id[state] == (Then.JOIN, Then.JOIN) for state in STATES)


def test_event_for_a_run_already_judged_is_late() -> None:
    assert JOINS.run_id[Under.HANDED_BACK] == (Then.LATE, Then.LATE)


def test_event_after_a_thread_run_ended_joins_it_unless_a_message_waits() -> None:
    assert JOINS.thread[RunState.COMPLETED][False] is Then.CLAIM_OR_JOIN


def test_idless_event_joins_the_run_opened_last_on_its_connection() -> None:
    assert all(JOINS.position[state][False] is Then.JOIN for state in STATES)


def test_idless_event_after_a_named_run_ended_is_a_stray() -> None:
    # A named run in flight is found by its state: an id-less error ends it (runs by position).
    assert JOINS.position[Under.NAMED] == (Then.STRAY, Then.STRAY)


def test_message_waiting_on_another_thread_is_not_claimed() -> None:
    assert not answers("thread-1", "thread-2")
    assert answers("thread-1", "thread-1")
    assert answers(None, "thread-2") and answers("thread-1", None)


# ------------------------------------------------------------------ what ends a run


def test_completion_ends_a_run_for_good() -> None:
    assert ending([C.AGENT_STARTED, C.AGENT_COMPLETED, C.AGENT_THINKING]) == 1
    assert set(AFTER[RunState.COMPLETED].values()) == {RunState.COMPLETED}


def test_error_ends_a_run_only_as_the_backends_last_word() -> None:
    assert ending([C.AGENT_STARTED, C.ERROR]) == 1
    assert ending([C.AGENT_STARTED, C.ERROR, C.AGENT_THINKING]) is None
    assert AFTER[RunState.FAILED][C.AGENT_THINKING] is RunState.ANSWERED


def test_run_that_just_stops_has_not_ended() -> None:
    assert ending([C.AGENT_STARTED, C.TOOL_EXECUTING]) is None
    assert ending([]) is None


@given(st.lists(st.sampled_from(sorted(SERVER_KINDS))))
def test_a_run_ends_at_its_first_completion_else_at_a_last_error(kinds: list) -> None:
    first = kinds.index(C.AGENT_COMPLETED) if C.AGENT_COMPLETED in kinds else None
    last_error = len(kinds) - 1 if kinds and kinds[-1] is C.ERROR else None
    assert ending(kinds) == (first if first is not None else last_error)


def test_backends_first_event_ends_the_wait_whatever_it_is() -> None:
    assert all(AFTER[RunState.WAITING][kind] is not RunState.WAITING for kind in SERVER_KINDS)
    assert {AFTER[RunState.WAITING][kind] for kind in TERMINAL} == ENDED


# ------------------------------------------------------------------ what a reconnect continues


def test_reconnect_continues_a_run_once_its_connection_has_closed() -> None:
    assert CROSSING[False, False, False] is Cross.CONTINUE
    assert CROSSING[False, False, True] is Cross.STILL_OPEN


def test_resume_continues_a_run_while_its_old_connection_is_still_open() -> None:
    assert CROSSING[True, False, True] is Cross.CONTINUE


@pytest.mark.parametrize("resume", [True, False])
@pytest.mark.parametrize("still_open", [True, False])
def test_another_users_connection_never_continues_a_run(resume: bool, still_open: bool) -> None:
    assert CROSSING[resume, True, still_open] is Cross.OTHER_USER


# ------------------------------------------------------------------ when a run is handed back


def test_ended_run_is_judged_at_once_when_its_connections_have_closed() -> None:
    assert HAND_BACK[False, True].after_s < 0


def test_dropped_run_waits_for_a_reconnect_before_it_is_judged() -> None:
    rule = HAND_BACK[False, False]
    assert (rule.after_s, rule.since) == (RECONNECT_S, Since.LAST_CLOSE)


def test_ended_run_on_an_open_connection_lingers_for_late_events() -> None:
    rule = HAND_BACK[True, True]
    assert (rule.after_s, rule.since) == (LINGER_S, Since.LAST_EVENT)


def test_silent_run_on_an_open_connection_is_given_up_after_idle_s() -> None:
    rule = HAND_BACK[True, False]
    assert (rule.after_s, rule.since) == (IDLE_S, Since.LAST_EVENT)
    assert rule.why == f"no event for {IDLE_S:.0f}s"


# ------------------------------------------------------------------ the assembler follows them


def test_error_without_ids_ends_the_named_run_open_on_its_connection() -> None:
    runs = list(
        assemble(
            [
                event(C.USER_MESSAGE, from_client=True),
                event(C.AGENT_STARTED, ts=0.1, run_id="r1"),
                event(C.ERROR, ts=0.2),
            ]
        )
    )
    assert [len(run.events) for run in runs] == [3]
    assert runs[0].events[-1].canonical is C.ERROR


def test_error_without_ids_after_a_named_run_ended_joins_no_run() -> None:
    runs = list(
        assemble(
            [
                event(C.USER_MESSAGE, from_client=True),
                event(C.AGENT_STARTED, ts=0.1, run_id="r1"),
                event(C.AGENT_COMPLETED, ts=0.2, run_id="r1"),
                event(C.ERROR, ts=0.3),
            ]
        )
    )
    assert [len(run.events) for run in runs] == [3]


def test_two_starts_without_ids_on_one_connection_are_two_runs() -> None:
    events = [
        event(C.AGENT_STARTED),
        event(C.AGENT_COMPLETED, ts=1.0),
        event(C.AGENT_STARTED, ts=2.0),
        event(C.AGENT_COMPLETED, ts=3.0),
    ]
    assert [len(run.events) for run in assemble(events)] == [2, 2]


def test_idless_event_joins_a_run_continued_on_a_new_connection() -> None:
    assembler = RunAssembler()
    assembler.add(event(C.USER_MESSAGE, from_client=True))
    assembler.add(event(C.AGENT_STARTED, ts=0.1, run_id="r1"))
    assembler.close("c1", 0.2)
    assembler.add(event(C.AGENT_THINKING, conn="c2", ts=0.3, run_id="r1"))
    assembler.add(event(C.AGENT_COMPLETED, conn="c2", ts=0.4))
    (run,) = assembler.finish()
    assert run.connections == ("c1", "c2")
    assert [e.canonical for e in run.events][-1] is C.AGENT_COMPLETED
    assert not assembler.strays
