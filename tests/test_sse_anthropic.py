"""Anthropic's Messages API over SSE, its events built with the `anthropic` package's own models
and written as the recorder writes HTTP streams (tests/streams.py), judged by the real
`wstape analyze` with `--profile anthropic` and sniffed: one POST one run, each broken stream
failing with its own code, and a tool_use answered by the next request's tool_result paired
across the two requests."""

from __future__ import annotations

from pathlib import Path

import pytest
from anthropic.types import (
    ErrorResponse,
    InputJSONDelta,
    Message,
    MessageDeltaUsage,
    OverloadedError,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
    Usage,
)
from anthropic.types.raw_message_delta_event import Delta
from streams import Pause, Sse, Streams, analyze, verdicts

PATH = "/v1/messages"
PING = Sse('{"type": "ping"}', "ping")


def sse(event) -> Sse:
    return Sse(event.model_dump_json(), event.type)


def start(msg_id: str) -> Sse:
    message = Message(
        id=msg_id, type="message", role="assistant", content=[], model="claude-sonnet-4-5",
        stop_reason=None, stop_sequence=None, usage=Usage(input_tokens=12, output_tokens=1),
    )  # fmt: skip
    return sse(RawMessageStartEvent(type="message_start", message=message))


def block(index: int, content, deltas: list) -> list[Sse]:
    return [
        sse(RawContentBlockStartEvent(type="content_block_start", index=index,
                                      content_block=content)),
        *(sse(RawContentBlockDeltaEvent(type="content_block_delta", index=index, delta=d))
          for d in deltas),
        sse(RawContentBlockStopEvent(type="content_block_stop", index=index)),
    ]  # fmt: skip


def thinking(index: int) -> list[Sse]:
    content = ThinkingBlock(type="thinking", thinking="", signature="")
    return block(index, content, [ThinkingDelta(type="thinking_delta", thinking="Let me see")])


def text(index: int, *words: str) -> list[Sse]:
    content = TextBlock(type="text", text="")
    return block(index, content, [TextDelta(type="text_delta", text=w) for w in words])


def tool_use(index: int, call_id: str) -> list[Sse]:
    content = ToolUseBlock(type="tool_use", id=call_id, name="get_weather", input={})
    return block(index, content, [InputJSONDelta(type="input_json_delta",
                                                 partial_json='{"city": "Paris"}')])  # fmt: skip


def stop(reason: str = "end_turn") -> list[Sse]:
    delta = RawMessageDeltaEvent(
        type="message_delta", delta=Delta(stop_reason=reason, stop_sequence=None),
        usage=MessageDeltaUsage(output_tokens=20),
    )  # fmt: skip
    return [sse(delta), sse(RawMessageStopEvent(type="message_stop"))]


def ask(question: str) -> dict:
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": True,
            "messages": [{"role": "user", "content": question}]}  # fmt: skip


def answer(question: str, call_id: str) -> dict:
    """The request after a tool_use: the history, then the tool's result."""
    body = ask(question)
    body["messages"] += [
        {"role": "assistant", "content": [{"type": "tool_use", "id": call_id,
                                           "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id,
                                      "content": "sunny, 21 C"}]},
    ]  # fmt: skip
    return body


def reply(msg_id: str) -> list[Sse]:
    return [start(msg_id), *thinking(0), PING, *text(1, "It is ", "sunny."), *stop()]


def overloaded() -> Sse:
    error = ErrorResponse(type="error", error=OverloadedError(type="overloaded_error",
                                                              message="Overloaded"))  # fmt: skip
    return Sse(error.model_dump_json(exclude_none=True), "error")


@pytest.fixture(scope="module")
def every_case(tmp_path_factory) -> Path:
    streams = Streams(tmp_path_factory.mktemp("anthropic") / "capture")
    streams.post("happy", PATH, ask("hi"), reply("msg_happy"))
    calls = [start("msg_call"), *text(0, "Checking."), *tool_use(1, "toolu_paris"),
             *stop("tool_use")]  # fmt: skip
    streams.post("tool-call", PATH, ask("weather?"), calls)
    streams.post("tool-answer", PATH, answer("weather?", "toolu_paris"), reply("msg_answer"),
                 after=0.8)  # fmt: skip
    streams.post("missing-start", PATH, ask("hi"), reply("msg_x")[1:])
    streams.post("cut", PATH, ask("hi"), reply("msg_cut")[:7], end="reset")
    streams.post("slow-first", PATH, ask("hi"), reply("msg_slow"), first=3.0)
    streams.post("overloaded", PATH, ask("hi"), [start("msg_err"), *text(0, "Hm")[:2],
                                                 overloaded()])  # fmt: skip
    delta = TextDelta(type="text_delta", text="late")
    late = sse(RawContentBlockDeltaEvent(type="content_block_delta", index=1, delta=delta))
    streams.post("after-end", PATH, ask("hi"), [*reply("msg_late"), late])
    streams.post("slow-tool", PATH, ask("weather?"), [start("msg_call2"),
                 *tool_use(0, "toolu_slow"), *stop("tool_use")])  # fmt: skip
    streams.post("slow-answer", PATH, answer("weather?", "toolu_slow"), reply("msg_slow_answer"),
                 after=12.0)  # fmt: skip
    streams.post("never-answered", PATH, ask("weather?"), [start("msg_lost"),
                 *tool_use(0, "toolu_lost"), *stop("tool_use")])  # fmt: skip
    streams.wait(700.0)  # the client never comes back with toolu_lost's result
    streams.post("later", PATH, ask("hi"), reply("msg_later"))
    streams.post("in-flight", PATH, ask("hi"), [start("msg_open"), *text(0, "Wri")[:2],
                 Pause(0.2)], end=None)  # fmt: skip
    return streams.done()


EXPECTED = {
    "happy": ("passed", "completed", []),
    "tool-call": ("passed", "completed", []),  # its tool_result came in the next request
    "tool-answer": ("passed", "completed", []),
    "missing-start": ("failed", "completed", ["missing_events"]),
    "cut": ("failed", "incomplete", ["no_completion"]),
    "slow-first": ("failed", "completed", ["slow_first_event"]),
    "overloaded": ("passed", "error", []),  # a graceful failure: the user was told
    "after-end": ("failed", "completed", ["order"]),
    "slow-tool": ("failed", "completed", ["slow_tool"]),
    "slow-answer": ("passed", "completed", []),
    "never-answered": ("failed", "completed", ["unpaired_tool"]),
    "later": ("passed", "completed", []),
    "in-flight": ("cut_short", "cut_short", []),
}


@pytest.mark.parametrize("profile", [["--profile", "anthropic"], []], ids=["profile", "sniffed"])
def test_every_anthropic_stream_is_judged_as_a_reviewer_would(every_case: Path, profile) -> None:
    code, report = analyze(every_case, *profile)
    assert verdicts(report) == EXPECTED
    summary = report["summary"]
    assert summary["profile"] == {"name": "anthropic", "protocol": "anthropic",
                                  "detected": not profile}  # fmt: skip
    assert code == 1
    assert not summary["warnings"]  # pings are control, every other event is its run's


def test_a_tool_answered_by_the_next_request_is_timed_to_that_request(every_case: Path) -> None:
    _, report = analyze(every_case)
    runs = {run["connections"][0]: run for run in report["runs"]}
    (tool,) = runs["tool-call"]["tools"]
    assert (tool["name"], tool["execution_id"]) == ("get_weather", "toolu_paris")
    # From the tool_use block to the request carrying its result: the stream's four last
    # events (0.05 s apart), its end, and the 0.8 s the client took.
    assert tool["duration_s"] == pytest.approx(4 * 0.05 + 0.01 + 0.8, abs=0.001)
    assert runs["tool-call"]["run_id"] == "msg_call"
    lost = runs["never-answered"]["failures"][0]["message"]
    assert "get_weather (toolu_lost) never completed" in lost


def test_the_failures_say_what_happened(every_case: Path) -> None:
    _, report = analyze(every_case)
    runs = {run["connections"][0]: run for run in report["runs"]}
    (cut,) = runs["cut"]["failures"]
    assert "was reset before its stream ended" in cut["message"]
    assert runs["cut"]["events"]["text_delta"] == 1  # named by the delta's own type
    assert "content_block_delta" not in runs["cut"]["events"]
    assert runs["overloaded"]["events"]["error"] == 1
    assert runs["happy"]["first_text_s"] is not None


@pytest.fixture
def waiting_for_the_client(tmp_path: Path) -> Streams:
    streams = Streams(tmp_path / "capture")
    streams.post("tool-call", PATH, ask("weather?"), [start("msg_call"),
                 *tool_use(0, "toolu_paris"), *stop("tool_use")])  # fmt: skip
    return streams


def test_a_recording_that_ends_while_the_client_runs_a_tool_cuts_the_run_short(
    waiting_for_the_client: Streams,
) -> None:
    code, report = analyze(waiting_for_the_client.done())
    assert verdicts(report) == {"tool-call": ("cut_short", "cut_short", [])}
    assert code == 0  # neither passed nor failed: nothing failed


def test_a_client_that_had_long_stopped_when_the_recording_ended_left_its_tool_unpaired(
    waiting_for_the_client: Streams,
) -> None:
    waiting_for_the_client.wait(60.0)  # past the run's 30 s target, another chat goes on
    waiting_for_the_client.post("other", PATH, ask("hi"), reply("msg_other"))
    code, report = analyze(waiting_for_the_client.done(), "--profile", "anthropic")
    assert verdicts(report)["tool-call"] == ("failed", "completed", ["unpaired_tool"])
    assert code == 1
