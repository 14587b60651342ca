"""The Vercel AI SDK's UI message stream over SSE, as useChat reads it: `data: {part}` events
ending with `data: [DONE]`. The SDK has no Python package, so its parts are built by hand from
its schema (packages/ai/src/ui-message-stream/ui-message-chunks.ts), written as the recorder
writes HTTP streams (tests/streams.py), and judged by the real `wstape analyze` with
`--profile vercel-ai` and sniffed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streams import Sse, Streams, analyze, verdicts

PATH = "/api/chat"
DONE = Sse("[DONE]")


def part(type_: str, **fields) -> Sse:
    return Sse(json.dumps({"type": type_, **fields}, separators=(",", ":")))


def chat(question: str, n: int) -> dict:
    """useChat's request: the chat's id and its UIMessages, the user's last."""
    message = {"id": f"u{n}", "role": "user", "parts": [{"type": "text", "text": question}]}
    return {"id": "chat-1", "messages": [message], "trigger": "submit-message"}


def answered(question: str, n: int, call_id: str) -> dict:
    """The chat posted again once the client ran a tool: its part holds the output."""
    body = chat(question, n)
    tool = {"type": "tool-getLocation", "toolCallId": call_id, "state": "output-available",
            "input": {}, "output": "Paris"}  # fmt: skip
    body["messages"].append({"id": f"a{n}", "role": "assistant", "parts": [tool]})
    return body


def text(n: int, *words: str) -> list[Sse]:
    return [part("text-start", id=f"t{n}"),
            *(part("text-delta", id=f"t{n}", delta=w) for w in words),
            part("text-end", id=f"t{n}")]  # fmt: skip


def reasoning(n: int) -> list[Sse]:
    return [part("reasoning-start", id=f"r{n}"),
            part("reasoning-delta", id=f"r{n}", delta="Checking the forecast"),
            part("reasoning-end", id=f"r{n}")]  # fmt: skip


def tool(call_id: str, output: bool = True) -> list[Sse]:
    name = "getWeather"
    parts = [part("tool-input-start", toolCallId=call_id, toolName=name),
             part("tool-input-delta", toolCallId=call_id, inputTextDelta='{"city":"Paris"}'),
             part("tool-input-available", toolCallId=call_id, toolName=name,
                  input={"city": "Paris"})]  # fmt: skip
    if output:
        parts.append(part("tool-output-available", toolCallId=call_id, output={"sky": "sunny"}))
    return parts


def message(n: int, *body: Sse, finish: bool = True) -> list[Sse]:
    start = [part("start", messageId=f"msg-{n}"), part("start-step")]
    end = [part("finish-step"), part("finish", finishReason="stop"), DONE] if finish else []
    return [*start, *body, *end]


@pytest.fixture(scope="module")
def every_case(tmp_path_factory) -> Path:
    streams = Streams(tmp_path_factory.mktemp("vercel") / "capture")
    streams.post(
        "happy",
        PATH,
        chat("weather?", 1),
        message(1, *reasoning(1), *tool("call-1"), *text(1, "It is ", "sunny.")),
    )
    streams.post("missing-start", PATH, chat("hi", 2), message(2, *text(2, "Hi"))[1:])
    streams.post("unpaired-tool", PATH, chat("weather?", 3),
                 message(3, *tool("call-3")[:1], *text(3, "Sunny")))  # fmt: skip
    streams.post("cut", PATH, chat("hi", 4), message(4, *text(4, "It ", "is"))[:4], end="reset")
    streams.post("slow-first", PATH, chat("hi", 5), message(5, *text(5, "Hi")), first=3.0)
    streams.post("error", PATH, chat("hi", 6),
                 message(6, *text(6, "Hm"), part("error", errorText="Rate limited"),
                         finish=False) + [DONE])  # fmt: skip
    streams.post("abort", PATH, chat("hi", 7), [*message(7, *text(7, "Wri"), finish=False),
                                                part("abort"), DONE], end="abort")  # fmt: skip
    streams.post("after-end", PATH, chat("hi", 8),
                 message(8, *text(8, "Hi"))[:-1] + [part("text-delta", id="t8", delta="!"),
                                                    DONE])  # fmt: skip
    # A tool with no execute on the server: the client runs it and posts the chat again.
    streams.post("client-tool", PATH, chat("where am I?", 9),
                 message(9, part("tool-input-available", toolCallId="call-9",
                                 toolName="getLocation", input={})))  # fmt: skip
    streams.post("client-answer", PATH, answered("where am I?", 9, "call-9"),
                 message(10, *text(10, "You are in Paris.")))  # fmt: skip
    streams.post("in-flight", PATH, chat("hi", 11), message(11, *text(11, "Wri"))[:5], end=None)
    return streams.done()


EXPECTED = {
    "happy": ("passed", "completed", []),
    "missing-start": ("failed", "completed", ["missing_events"]),
    "unpaired-tool": ("failed", "completed", ["unpaired_tool"]),
    "cut": ("failed", "incomplete", ["no_completion"]),
    "slow-first": ("failed", "completed", ["slow_first_event"]),
    "error": ("passed", "error", []),  # graceful: the user was told
    "abort": ("passed", "error", []),  # the user stopped it
    "after-end": ("failed", "completed", ["order"]),
    "client-tool": ("passed", "completed", []),  # its output came with the next request
    "client-answer": ("passed", "completed", []),
    "in-flight": ("cut_short", "cut_short", []),
}


@pytest.mark.parametrize("profile", [["--profile", "vercel-ai"], []], ids=["profile", "sniffed"])
def test_every_ui_message_stream_is_judged_as_a_reviewer_would(every_case: Path, profile) -> None:
    code, report = analyze(every_case, *profile)
    assert verdicts(report) == EXPECTED
    summary = report["summary"]
    assert summary["profile"] == {"name": "vercel-ai", "protocol": "vercel-ai",
                                  "detected": not profile}  # fmt: skip
    assert code == 1
    # [DONE] ends a stream: control traffic, not a frame that is not JSON.
    assert not summary["warnings"]
    assert summary["frames"]["control"] == 9


def test_tools_and_text_of_a_ui_message_stream(every_case: Path) -> None:
    _, report = analyze(every_case)
    runs = {run["connections"][0]: run for run in report["runs"]}
    (tool_run,) = runs["happy"]["tools"]
    assert (tool_run["name"], tool_run["execution_id"]) == ("getWeather", "call-1")
    assert tool_run["duration_s"] == pytest.approx(0.15)  # input-start → output-available
    assert runs["happy"]["run_id"] == "msg-1"
    assert runs["happy"]["stream"]["events"] == 2  # the two text-deltas
    (client_tool,) = runs["client-tool"]["tools"]
    assert client_tool["name"] == "getLocation" and client_tool["duration_s"] > 0.5
