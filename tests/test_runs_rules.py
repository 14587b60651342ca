"""Runs and verdicts from hand-written chats, in each of the three wire envelopes: what a user
of `wstape analyze` sees for good, broken, slow, leaking and reconnecting runs."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wstape import Code, Outcome, analyze_records, validate
from wstape.analyzer.pipeline.rules import Verdict
from wstape.analyzer.pipeline.runs import Run
from wstape.analyzer.profile import DEFAULT_PROFILE, Profile
from wstape.analyzer.reports.report import Report
from wstape.recorder.capture import CaptureWriter, Close, Message, Open, Record

ENVELOPES = ("payload", "flat", "system_message")
T0 = 1_700_000_000.0


def wire(envelope: str, event: str, ids: dict, fields: dict) -> bytes:
    """One server event as the demo backend wraps it, in one of the three envelopes."""
    if envelope == "flat":
        return json.dumps({"type": event, **ids, "data": fields}).encode()
    body = {**ids, "agent_name": "demo_agent", **fields}
    if envelope == "system_message":
        return json.dumps({"type": "system_message", "event": event, "payload": body}).encode()
    return json.dumps({"type": event, "payload": body}).encode()


# One good run, as (seconds after the user's message, event type, fields).
GOOD = (
    (0.10, "agent_started", {}),
    (0.20, "agent_thinking", {"thought": "planning"}),
    (0.30, "tool_executing", {"tool_name": "search", "execution_id": "exec-1"}),
    (0.40, "partial_result", {"content": "found 3 results"}),
    (0.60, "tool_completed", {"tool_name": "search", "execution_id": "exec-1",
                              "result": {"status": "success"}}),
    (0.70, "agent_thinking", {"thought": "summarising"}),
    (0.80, "agent_completed", {"result": {"status": "success"}}),
)  # fmt: skip


@dataclass
class Chat:
    """Capture records written by hand: connections open, users talk, the backend answers."""

    envelope: str = "payload"
    records: list[Record] = field(default_factory=list)

    def connect(self, conn: str, user: str, at: float = 0.0) -> Chat:
        path = f"/ws?user_id={user}"
        self.records.append(Open(conn, T0 + at, f"ws://backend{path}", path, None, None, None))
        welcome = {"type": "connection_established", "payload": {"user_id": user}}
        return self.raw(conn, at, json.dumps(welcome).encode(), from_client=False)

    def raw(self, conn: str, at: float, payload: bytes, from_client=True, is_text=True) -> Chat:
        self.records.append(Message(conn, T0 + at, from_client, is_text, payload))
        return self

    def say(self, conn: str, at: float, content: str = "hello", **payload) -> Chat:
        message = {"type": "user_message", "payload": {"content": content, **payload}}
        return self.raw(conn, at, json.dumps(message).encode())

    def send(self, conn: str, at: float, event: str, ids: dict, **fields) -> Chat:
        return self.raw(conn, at, wire(self.envelope, event, ids, fields), from_client=False)

    def play(self, conn: str, at: float, ids: dict, steps=GOOD) -> Chat:
        for offset, event, fields in steps:
            self.send(conn, at + offset, event, ids, **fields)
        return self

    def run(self, conn: str, user: str, run_id: str, at: float = 1.0, steps=GOOD) -> Chat:
        ids = {"run_id": run_id, "thread_id": f"thread-{run_id}", "user_id": user}
        return self.say(conn, at).play(conn, at, ids, steps)

    def close(self, conn: str, at: float, code: int | None = 1000) -> Chat:
        self.records.append(Close(conn, T0 + at, code, "", "client"))
        return self

    def report(self, profile: Profile = DEFAULT_PROFILE) -> Report:
        return analyze_records(self.records, profile)

    def write(self, directory: Path) -> Path:
        writer = CaptureWriter(directory)
        for record in self.records:
            writer.write(record)
        writer.close_all()
        return directory


def ids(run_id: str, user: str) -> dict:
    return {"run_id": run_id, "thread_id": f"thread-{run_id}", "user_id": user}


def replace_step(steps, event: str, new=None, index: int = 0):
    """The steps with the `index`-th step of type `event` replaced (or dropped when new=None)."""
    out, seen = [], 0
    for step in steps:
        if step[1] == event:
            seen += 1
            if seen - 1 == index:
                if new is not None:
                    out.append(new)
                continue
        out.append(step)
    return tuple(out)


def only(report: Report):
    assert len(report.verdicts) == 1, [v.run.label for v in report.verdicts]
    return report.verdicts[0]


@pytest.fixture(params=ENVELOPES)
def chat(request) -> Chat:
    return Chat(request.param).connect("c1", "alice")


def test_good_run_passes(chat: Chat) -> None:
    verdict = only(chat.run("c1", "alice", "run-1").close("c1", 5).report())
    assert verdict.passed, verdict.failures
    assert verdict.outcome is Outcome.COMPLETED
    assert verdict.run.run_id == "run-1"
    assert verdict.run.user_id == "alice"
    assert verdict.first_event_s == pytest.approx(0.1)
    assert verdict.total_s == pytest.approx(0.8)
    assert [t.duration_s for t in verdict.tools] == [pytest.approx(0.3)]


def test_missing_thinking_fails_missing_events(chat: Chat) -> None:
    steps = tuple(s for s in GOOD if s[1] != "agent_thinking")
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5).report())
    assert verdict.codes == ("missing_events",)
    assert "agent_thinking" in verdict.failures[0].message


def test_tool_that_never_completes_fails_unpaired_tool(chat: Chat) -> None:
    steps = replace_step(GOOD, "tool_completed")
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5).report())
    assert "unpaired_tool" in verdict.codes
    assert verdict.outcome is Outcome.COMPLETED


def test_run_that_stops_fails_no_completion(chat: Chat) -> None:
    steps = GOOD[:3]
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 2, None).report())
    assert verdict.codes == ("no_completion",)
    assert verdict.outcome is Outcome.INCOMPLETE
    assert "dropped" in verdict.failures[0].message


def test_user_message_without_answer_fails_no_completion(chat: Chat) -> None:
    verdict = only(chat.say("c1", 1.0).close("c1", 9).report())
    assert verdict.codes == ("no_completion",)
    assert verdict.first_event_s is None


def test_slow_first_event_fails_run(chat: Chat) -> None:
    steps = tuple((offset + 2.5, event, fields) for offset, event, fields in GOOD)
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 9).report())
    assert verdict.codes == ("slow_first_event",)
    assert verdict.first_event_s == pytest.approx(2.6)


def test_slow_tool_fails_run(chat: Chat) -> None:
    steps = tuple((o + (10.5 if o >= 0.6 else 0), e, f) for o, e, f in GOOD)
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 20).report())
    assert verdict.codes == ("slow_tool",)
    assert "search" in verdict.failures[0].message


def test_slow_run_fails_slow_total(chat: Chat) -> None:
    # Slow but never silent for long (that is long_silence): still thinking every 10 s.
    thinking = tuple((10.0 * i, "agent_thinking", {"thought": "still at it"}) for i in (1, 2, 3))
    steps = (*GOOD[:-1], *thinking, (31.8, *GOOD[-1][1:]))
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 40).report())
    assert verdict.codes == ("slow_total",)


def test_targets_are_configurable(chat: Chat) -> None:
    report = (
        chat.run("c1", "alice", "run-1")
        .close("c1", 5)
        .report(DEFAULT_PROFILE.with_targets(max_first_event_s=0.05, max_tool_s=0.1))
    )
    assert only(report).codes == ("slow_first_event", "slow_tool")


def test_event_after_completion_fails_order(chat: Chat) -> None:
    steps = (*GOOD, (0.9, "agent_thinking", {"thought": "one more thing"}))
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5).report())
    assert verdict.codes == ("order",)
    assert "after agent_completed" in verdict.failures[0].message


def test_event_before_agent_started_fails_order(chat: Chat) -> None:
    steps = ((0.05, "agent_thinking", {"thought": "eager"}), *GOOD)
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5).report())
    assert verdict.codes == ("order",)


def test_tool_completed_before_its_start_fails_order(chat: Chat) -> None:
    steps = tuple((0.25 if e == "tool_completed" else o, e, f) for o, e, f in GOOD)
    steps = tuple(sorted(steps, key=lambda s: s[0]))
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5).report())
    assert verdict.codes == ("order",)


def test_cross_user_leak_fails_isolation(chat: Chat) -> None:
    chat.connect("c2", "bob", 0.5)
    chat.run("c1", "alice", "run-a", at=1.0)
    chat.run("c2", "bob", "run-b", at=1.05)
    # The backend sends alice's partial result to every open connection.
    chat.send("c2", 1.45, "partial_result", ids("run-a", "alice"), content="alice's secret")
    report = chat.close("c1", 5).close("c2", 5).report()
    by_id = {v.run.run_id: v for v in report.verdicts}
    assert by_id["run-a"].codes == ("isolation",)
    assert "bob" in by_id["run-a"].failures[0].message
    assert by_id["run-b"].passed  # bob's own run is fine; the leak is counted once, on alice's
    assert any("got partial_result of run run-a (user alice)" in w for w in by_id["run-b"].warnings)
    assert by_id["run-a"].event_counts["partial_result"] == 1  # the leak is not alice's event


def test_a_slim_verdict_keeps_everything_but_the_timeline(chat: Chat) -> None:
    # Verdict.slim builds its Run by position, for speed: a field added to Run or Verdict
    # without slim following it would be lost or land in the wrong place.
    chat.connect("c2", "bob", 0.5)
    chat.run("c1", "alice", "run-a", at=1.0, steps=GOOD[:4])
    chat.send("c2", 1.45, "partial_result", ids("run-a", "alice"), content="leaked")
    verdict = chat.close("c1", 5).close("c2", 5).report().verdicts[0]
    assert verdict.run.leaks and verdict.run.end and verdict.tools and not verdict.passed
    slim = verdict.slim()
    assert slim.run.events == () and verdict.run.events
    for name in (f.name for f in dataclasses.fields(Run) if f.name != "events"):
        assert getattr(slim.run, name) == getattr(verdict.run, name), name
    for name in (f.name for f in dataclasses.fields(Verdict) if f.name != "run"):
        assert getattr(slim, name) == getattr(verdict, name), name


def test_concurrent_runs_on_two_connections_both_pass(chat: Chat) -> None:
    chat.connect("c2", "bob", 0.5)
    chat.run("c1", "alice", "run-a", at=1.0)
    chat.run("c2", "bob", "run-b", at=1.05)
    report = chat.close("c1", 5).close("c2", 5).report()
    assert [(v.run.run_id, v.passed) for v in report.verdicts] == [
        ("run-a", True), ("run-b", True),
    ]  # fmt: skip


def test_tool_failure_with_error_event_passes_with_outcome_error(chat: Chat) -> None:
    failed = {"tool_name": "search", "execution_id": "exec-1", "result": {"status": "error"}}
    steps = replace_step(GOOD, "tool_completed", (0.6, "tool_completed", failed))
    steps = replace_step(steps, "agent_thinking", (0.7, "agent_error", {"error": "tool failed"}), 1)
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5).report())
    assert verdict.passed, verdict.failures
    assert verdict.outcome is Outcome.ERROR


def test_terminal_error_without_completion_passes_with_outcome_error(chat: Chat) -> None:
    steps = (*GOOD[:2], (0.3, "agent_error", {"error": "model unavailable"}))
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5).report())
    assert verdict.passed, verdict.failures
    assert verdict.outcome is Outcome.ERROR


def test_reconnect_mid_run_is_one_run_over_two_connections(chat: Chat) -> None:
    run = ids("run-1", "alice")
    chat.say("c1", 1.0).play("c1", 1.0, run, GOOD[:3]).close("c1", 1.35, 1012)
    chat.connect("c2", "alice", 1.5)
    resume = {"type": "resume", "payload": {"run_id": "run-1", "thread_id": "thread-run-1"}}
    chat.raw("c2", 1.55, json.dumps(resume).encode())
    chat.play("c2", 1.0, run, GOOD[4:]).close("c2", 5)
    verdict = only(chat.report())
    assert verdict.run.connections == ("c1", "c2")
    assert verdict.passed, verdict.failures


def test_reconnect_without_resume_is_one_run(chat: Chat) -> None:
    run = ids("run-1", "alice")
    chat.say("c1", 1.0).play("c1", 1.0, run, GOOD[:3]).close("c1", 1.35, None)
    chat.connect("c2", "alice", 1.5).play("c2", 1.0, run, GOOD[4:]).close("c2", 5)
    verdict = only(chat.report())
    assert verdict.run.connections == ("c1", "c2")
    assert verdict.passed, verdict.failures


def test_run_on_second_open_connection_of_same_user_fails_isolation(chat: Chat) -> None:
    chat.connect("c2", "alice", 0.5)
    chat.run("c1", "alice", "run-1")
    chat.send("c2", 1.45, "partial_result", ids("run-1", "alice"), content="twice")
    verdict = only(chat.close("c1", 5).close("c2", 5).report())
    assert verdict.codes == ("isolation",)


def test_run_without_tools_fails_missing_events_by_default(chat: Chat) -> None:
    steps = tuple(s for s in GOOD if not s[1].startswith("tool_"))
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5).report())
    assert verdict.codes == ("missing_events",)
    relaxed = Profile(require_tools=False)
    verdict = only(analyze_records(verdict.run and chat.records, relaxed))
    assert verdict.passed
    assert any("no tool events" in w for w in verdict.warnings)


def test_tools_pair_by_name_without_execution_id(chat: Chat) -> None:
    steps = tuple((o, e, {k: v for k, v in f.items() if k != "execution_id"}) for o, e, f in GOOD)
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5).report())
    assert verdict.passed, verdict.failures
    assert verdict.tools[0].execution_id is None


def test_two_runs_in_one_thread_are_two_runs(chat: Chat) -> None:
    first, second = ids("run-1", "alice"), {**ids("run-2", "alice"), "thread_id": "thread-run-1"}
    chat.say("c1", 1.0).play("c1", 1.0, first).say("c1", 3.0).play("c1", 3.0, second)
    report = chat.close("c1", 6).report()
    assert [(v.run.run_id, v.passed) for v in report.verdicts] == [
        ("run-1", True), ("run-2", True),
    ]  # fmt: skip
    assert report.verdicts[1].first_event_s == pytest.approx(0.1)


def test_runs_without_any_ids_are_told_apart_by_connection_and_order() -> None:
    chat = Chat("flat").connect("c1", "alice")
    for at in (1.0, 3.0):
        chat.say("c1", at).play("c1", at, {})
    report = chat.close("c1", 6).report()
    assert [v.passed for v in report.verdicts] == [True, True]
    assert [v.run.label for v in report.verdicts] == ["c1 run 1", "c1 run 2"]


def test_runs_keyed_by_thread_when_backend_sends_no_run_id(chat: Chat) -> None:
    chat.connect("c2", "bob", 0.5)
    chat.say("c1", 1.0).play("c1", 1.0, {"thread_id": "t-a", "user_id": "alice"})
    chat.say("c2", 1.02).play("c2", 1.02, {"thread_id": "t-b", "user_id": "bob"})
    report = chat.close("c1", 5).close("c2", 5).report()
    assert [(v.run.thread_id, v.passed) for v in report.verdicts] == [("t-a", True), ("t-b", True)]


def test_error_reply_without_ids_joins_no_run(chat: Chat) -> None:
    chat.run("c1", "alice", "run-1").raw("c1", 3.0, b"not json")
    chat.raw("c1", 3.01, b'{"type": "error", "payload": {"error": "invalid JSON"}}', False)
    report = chat.close("c1", 5).report()
    assert only(report).passed
    assert any("belong to no run: error" in w for w in report.warnings)


def test_run_still_open_when_capture_ends_is_cut_short(chat: Chat) -> None:
    # Issue 15: the end of the recording is not the product's failure (tests/test_cut_short.py).
    verdict = only(chat.run("c1", "alice", "run-1", steps=GOOD[:4]).report())
    assert verdict.outcome is Outcome.CUT_SHORT and verdict.codes == ()
    assert "capture ended" in verdict.run.end


def test_validate_judges_a_capture_for_a_users_test_suite(tmp_path: Path) -> None:
    capture = Chat().connect("c1", "alice").run("c1", "alice", "run-1").close("c1", 5)
    report = validate(capture.write(tmp_path / "capture"))
    assert report.passed, report.text()
    strict = validate(tmp_path / "capture", max_first_event_s=0.01)
    assert not strict.passed
    assert not strict  # so `assert validate(path)` fails when a run failed
    assert [v.codes for v in strict] == [("slow_first_event",)]


KINDS = ["user_message", "resume", "agent_started", "agent_thinking", "tool_executing",
         "tool_completed", "tool_error", "partial_result", "agent_completed", "agent_error",
         "error", "ping", "galaxy_brain"]  # fmt: skip
frame_steps = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3"]),
        st.sampled_from(KINDS),
        st.sampled_from([None, "run-1", "run-2"]),
        st.sampled_from([None, "t-1", "t-2"]),
        st.sampled_from([None, "alice", "bob"]),
        st.sampled_from([None, "exec-1", "exec-2"]),
        st.sampled_from(ENVELOPES),
        st.floats(0, 100),
        st.sampled_from(["frame", "close", "open"]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=frame_steps)
def test_any_sequence_of_frames_gets_verdicts_without_raising(steps) -> None:
    chat, opened, now = Chat(), set(), 0.0
    for conn, kind, run_id, thread, user, exec_id, envelope, gap, what in steps:
        now += gap
        if conn not in opened or what == "open":
            chat.connect(conn, user or "anonymous", now)
            opened.add(conn)
        if what == "close":
            chat.close(conn, now, None if gap > 50 else 1000)
            opened.discard(conn)
            continue
        found = {k: v for k, v in (("run_id", run_id), ("thread_id", thread), ("user_id", user))
                 if v}  # fmt: skip
        if kind in ("user_message", "resume"):
            chat.raw(conn, now, json.dumps({"type": kind, "payload": found}).encode())
        else:
            chat.envelope = envelope
            chat.send(conn, now, kind, found, execution_id=exec_id, tool_name="search")
    report = chat.report()
    for verdict in report.verdicts:
        assert verdict.outcome in Outcome
        assert all(failure.code in Code for failure in verdict.failures)
        assert verdict.failed == bool(verdict.failures)
        # Neither passed nor failed: only a run the end of the recording cut short.
        assert verdict.passed == (not verdict.failures and not verdict.cut_short)
    assert report.text() and report.to_json()["version"] == 1


def test_client_minted_run_ids_keep_concurrent_runs_apart(chat: Chat) -> None:
    chat.say("c1", 1.0, run_id="run-x").say("c1", 1.01, run_id="run-y")
    chat.play("c1", 1.01, ids("run-y", "alice")).play("c1", 1.0, ids("run-x", "alice"), GOOD[:2])
    report = chat.close("c1", 5).report()
    by_id = {v.run.run_id: v for v in report.verdicts}
    assert by_id["run-y"].passed and by_id["run-y"].first_event_s == pytest.approx(0.1)
    assert by_id["run-x"].codes == ("no_completion",)


def test_backend_id_replaces_the_one_the_client_proposed(chat: Chat) -> None:
    chat.say("c1", 1.0, run_id="client-1").play("c1", 1.0, ids("server-1", "alice"))
    verdict = only(chat.close("c1", 5).report())
    assert verdict.passed, verdict.failures
    assert verdict.run.run_id == "server-1"
    assert verdict.first_event_s == pytest.approx(0.1)
