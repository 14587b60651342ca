"""Tool calls answered by a later request (pipeline/handoff.py), on records built by hand: a
result that arrives before its run's stream is seen to end, a run with two calls answered one
at a time or only in part, and live verdicts that wait for the answer instead of failing first."""

from __future__ import annotations

import json

from streams import Sse
from test_sse_anthropic import answer, ask, reply, start, stop, text, tool_use

from wstape.analyzer.api import analyze_records
from wstape.analyzer.live import LiveVerdict, Watch
from wstape.analyzer.pipeline.assembly_rules import IDLE_S
from wstape.analyzer.profile import load_profile
from wstape.recorder.capture import Close, Message, Open

PROFILE = load_profile("anthropic")
T0 = 1000.0


def opened(conn: str, ts: float) -> Open:
    return Open(conn, ts, "http://api/v1/messages", "/v1/messages", None, None, None,
                transport="sse", method="POST", status=200)  # fmt: skip


def request(conn: str, ts: float, body: dict) -> list:
    return [opened(conn, ts), Message(conn, ts, True, True, json.dumps(body).encode())]


def stream(conn: str, ts: float, events: list[Sse], end: bool = True) -> list:
    out = [Message(conn, ts + 0.1 + i * 0.05, False, True, e.data.encode(), event=e.event)
           for i, e in enumerate(events)]  # fmt: skip
    if end:
        out.append(Close(conn, ts + 0.1 + len(events) * 0.05, None, "", "server", end="complete"))
    return out


def two_calls(msg_id: str) -> list[Sse]:
    return [start(msg_id), *tool_use(0, "toolu_a"), *tool_use(1, "toolu_b"), *stop("tool_use")]


def results(*call_ids: str) -> dict:
    body = answer("weather?", call_ids[0])
    body["messages"][-1]["content"] = [
        {"type": "tool_result", "tool_use_id": c, "content": "ok"} for c in call_ids
    ]
    return body


def by_conn(report) -> dict:
    return {v.run.connections[0]: v for v in report}


def test_a_result_that_comes_before_its_stream_is_seen_to_end_still_pairs() -> None:
    calls = stream("call", T0, [start("msg_1"), *tool_use(0, "toolu_a"), *stop("tool_use")])
    *events, close = calls
    # The client answered as soon as it read message_stop; the stream's end came after.
    records = [*request("call", T0, ask("weather?")), *events,
               *request("next", close.ts - 0.01, answer("weather?", "toolu_a")), close,
               *stream("next", close.ts, reply("msg_2"))]  # fmt: skip
    verdicts = by_conn(analyze_records(records, PROFILE))
    assert verdicts["call"].passed and verdicts["next"].passed
    assert verdicts["call"].tools[0].duration_s is not None


def test_two_calls_answered_by_one_request_pair_both() -> None:
    records = [*request("call", T0, ask("weather?")), *stream("call", T0, two_calls("msg_1")),
               *request("next", T0 + 2, results("toolu_a", "toolu_b")),
               *stream("next", T0 + 2, reply("msg_2"))]  # fmt: skip
    verdict = by_conn(analyze_records(records, PROFILE))["call"]
    assert verdict.passed
    assert [t.execution_id for t in verdict.tools] == ["toolu_a", "toolu_b"]
    assert all(t.duration_s is not None for t in verdict.tools)


def test_a_call_left_unanswered_fails_once_its_wait_runs_out() -> None:
    later = T0 + IDLE_S + 10
    records = [*request("call", T0, ask("weather?")), *stream("call", T0, two_calls("msg_1")),
               *request("next", T0 + 2, results("toolu_a")),
               *stream("next", T0 + 2, reply("msg_2")),
               *request("later", later, ask("hi")),
               *stream("later", later, reply("msg_3"))]  # fmt: skip
    verdict = by_conn(analyze_records(records, PROFILE))["call"]
    assert verdict.codes == ("unpaired_tool",)
    assert "toolu_b" in verdict.failures[0].message and "toolu_a" not in verdict.failures[0].message
    durations = {t.execution_id: t.duration_s for t in verdict.tools}
    assert durations["toolu_a"] is not None and durations["toolu_b"] is None


def test_a_run_that_failed_hands_nothing_on() -> None:
    # max_tokens cut the tool call short: no client runs it, it is unpaired at once.
    records = [*request("call", T0, ask("weather?")),
               *stream("call", T0, [start("msg_1"), *text(0, "Hm"), *tool_use(1, "toolu_a"),
                                    *stop("max_tokens")])]  # fmt: skip
    verdict = by_conn(analyze_records(records, PROFILE))["call"]
    assert verdict.outcome.value == "error" and verdict.codes == ("unpaired_tool",)


def test_live_verdicts_wait_for_the_answer_instead_of_failing_first() -> None:
    told: list[LiveVerdict] = []
    watch = Watch(PROFILE, told.append)
    records = [*request("call", T0, ask("weather?")),
               *stream("call", T0, [start("msg_1"), *tool_use(0, "toolu_a"), *stop("tool_use")]),
               *request("next", T0 + 3, answer("weather?", "toolu_a")),
               *stream("next", T0 + 3, reply("msg_2"))]  # fmt: skip
    for record in records:
        watch.feed(record)
        watch.tick(record.ts)
    report = watch.finish()
    assert [(t.verdict.run.run_id, t.verdict.passed, t.was) for t in told] == [
        ("msg_1", True, None),
        ("msg_2", True, None),
    ]
    assert report.passed
