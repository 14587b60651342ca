"""The OpenAI Responses API over SSE, its events built with the `openai` package's own models
(openai.types.responses) and written as the recorder writes HTTP streams (tests/streams.py),
judged by the real `wstape analyze` with `--profile openai-responses` and sniffed (not taken for
Realtime, which shares the response.* names): one POST one run, each broken stream failing with
its own code, and a function call answered by the next request paired across the two."""

from __future__ import annotations

from pathlib import Path

import pytest
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionToolCall,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseReasoningItem,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseTextDeltaEvent,
    ResponseWebSearchCallCompletedEvent,
    ResponseWebSearchCallInProgressEvent,
)
from streams import Sse, Streams, analyze, verdicts

PATH = "/v1/responses"


class Stream:
    """One Response's events, numbered as the API numbers them."""

    def __init__(self, response_id: str) -> None:
        self.id = response_id
        self.seq = -1
        self.output: list = []

    def _n(self) -> int:
        self.seq += 1
        return self.seq

    def response(self, status: str, **more) -> Response:
        return Response(
            id=self.id, created_at=1_700_000_000, model="gpt-5", object="response",
            output=self.output, parallel_tool_calls=True, tool_choice="auto", tools=[],
            status=status, **more,
        )  # fmt: skip

    def created(self) -> list[Sse]:
        return [
            sse(ResponseCreatedEvent(type="response.created", sequence_number=self._n(),
                                     response=self.response("in_progress"))),
            sse(ResponseInProgressEvent(type="response.in_progress", sequence_number=self._n(),
                                        response=self.response("in_progress"))),
        ]  # fmt: skip

    def reasoning(self) -> list[Sse]:
        item = ResponseReasoningItem(id=f"rs_{self.id}", summary=[], type="reasoning")
        return [
            sse(ResponseOutputItemAddedEvent(type="response.output_item.added", item=item,
                                             output_index=0, sequence_number=self._n())),
            sse(ResponseReasoningSummaryTextDeltaEvent(
                type="response.reasoning_summary_text.delta", delta="Looking it up",
                item_id=item.id, output_index=0, summary_index=0, sequence_number=self._n())),
        ]  # fmt: skip

    def text(self, *words: str) -> list[Sse]:
        item = ResponseOutputMessage(id=f"msg_{self.id}", content=[], role="assistant",
                                     status="in_progress", type="message")  # fmt: skip
        added = ResponseOutputItemAddedEvent(type="response.output_item.added", item=item,
                                             output_index=1, sequence_number=self._n())  # fmt: skip
        return [sse(added)] + [
            sse(ResponseTextDeltaEvent(type="response.output_text.delta", delta=word,
                                       item_id=item.id, output_index=1, content_index=0,
                                       logprobs=[], sequence_number=self._n()))
            for word in words
        ]  # fmt: skip

    def call(self, call_id: str) -> list[Sse]:
        item = ResponseFunctionToolCall(id=f"fc_{call_id}", call_id=call_id, name="get_weather",
                                        arguments="", type="function_call")  # fmt: skip
        done = item.model_copy(update={"arguments": '{"city": "Paris"}', "status": "completed"})
        self.output.append(done)
        return [
            sse(ResponseOutputItemAddedEvent(type="response.output_item.added", item=item,
                                             output_index=0, sequence_number=self._n())),
            sse(ResponseFunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta", delta='{"city": "Paris"}',
                item_id=item.id, output_index=0, sequence_number=self._n())),
            sse(ResponseOutputItemDoneEvent(type="response.output_item.done", item=done,
                                            output_index=0, sequence_number=self._n())),
        ]  # fmt: skip

    def search(self, finish: bool = True) -> list[Sse]:
        item_id = f"ws_{self.id}"
        events = [sse(ResponseWebSearchCallInProgressEvent(
            type="response.web_search_call.in_progress", item_id=item_id, output_index=0,
            sequence_number=self._n()))]  # fmt: skip
        if finish:
            events.append(sse(ResponseWebSearchCallCompletedEvent(
                type="response.web_search_call.completed", item_id=item_id, output_index=0,
                sequence_number=self._n())))  # fmt: skip
        return events

    def completed(self) -> list[Sse]:
        return [sse(ResponseCompletedEvent(type="response.completed", sequence_number=self._n(),
                                           response=self.response("completed")))]  # fmt: skip

    def failed(self) -> list[Sse]:
        error = {"code": "server_error", "message": "The model failed"}
        response = self.response("failed", error=error)
        return [sse(ResponseFailedEvent(type="response.failed", response=response,
                                        sequence_number=self._n()))]  # fmt: skip

    def incomplete(self) -> list[Sse]:
        details = {"reason": "max_output_tokens"}
        response = self.response("incomplete", incomplete_details=details)
        return [sse(ResponseIncompleteEvent(type="response.incomplete", response=response,
                                            sequence_number=self._n()))]  # fmt: skip

    def error(self) -> list[Sse]:
        return [sse(ResponseErrorEvent(type="error", message="Rate limit reached", code=None,
                                       param=None, sequence_number=self._n()))]  # fmt: skip


def sse(event) -> Sse:
    return Sse(event.model_dump_json(exclude_none=True), event.type)


def ask(question: str) -> dict:
    return {"model": "gpt-5", "input": question, "stream": True,
            "tools": [{"type": "function", "name": "get_weather", "parameters": {}}]}  # fmt: skip


def answer(previous: str, call_id: str) -> dict:
    """The request after a function call: the call's output, continuing the Response."""
    return {"model": "gpt-5", "stream": True, "previous_response_id": previous,
            "input": [{"type": "function_call_output", "call_id": call_id,
                       "output": '{"weather": "sunny"}'}]}  # fmt: skip


def happy(response_id: str) -> list[Sse]:
    s = Stream(response_id)
    return [*s.created(), *s.reasoning(), *s.text("It is ", "sunny."), *s.completed()]


def calls(response_id: str, call_id: str) -> list[Sse]:
    s = Stream(response_id)
    return [*s.created(), *s.call(call_id), *s.completed()]


@pytest.fixture(scope="module")
def every_case(tmp_path_factory) -> Path:
    streams = Streams(tmp_path_factory.mktemp("responses") / "capture")
    streams.post("happy", PATH, ask("weather?"), happy("resp_happy"))
    streams.post("tool-call", PATH, ask("weather?"), calls("resp_call", "call_paris"))
    streams.post("tool-answer", PATH, answer("resp_call", "call_paris"), happy("resp_answer"))
    s = Stream("resp_search")
    streams.post("web-search", PATH, ask("news?"), [*s.created(), *s.search(), *s.completed()])
    s = Stream("resp_lost_search")
    streams.post("search-unpaired", PATH, ask("news?"),
                 [*s.created(), *s.search(finish=False), *s.completed()])  # fmt: skip
    streams.post("missing-start", PATH, ask("hi"), happy("resp_x")[2:])
    streams.post("cut", PATH, ask("hi"), happy("resp_cut")[:5], end="reset")
    streams.post("slow-first", PATH, ask("hi"), happy("resp_slow"), first=3.0)
    s = Stream("resp_failed")
    streams.post("failed", PATH, ask("hi"), [*s.created(), *s.text("Hm"), *s.failed()])
    s = Stream("resp_error")
    streams.post("error-event", PATH, ask("hi"), [*s.created(), *s.error()])
    s = Stream("resp_incomplete")
    streams.post("incomplete", PATH, ask("hi"), [*s.created(), *s.text("Hm"), *s.incomplete()])
    s = Stream("resp_late")
    streams.post("after-end", PATH, ask("hi"), [*s.created(), *s.completed(), *s.text("late")])
    streams.post("never-answered", PATH, ask("weather?"), calls("resp_lost", "call_lost"))
    streams.wait(700.0)  # the client never comes back with call_lost's output
    streams.post("later", PATH, ask("hi"), happy("resp_later"))
    streams.post("in-flight", PATH, ask("hi"), happy("resp_open")[:6], end=None)
    return streams.done()


EXPECTED = {
    "happy": ("passed", "completed", []),
    "tool-call": ("passed", "completed", []),  # its output came in the next request
    "tool-answer": ("passed", "completed", []),
    "web-search": ("passed", "completed", []),  # a hosted tool, paired within its Response
    "search-unpaired": ("failed", "completed", ["unpaired_tool"]),
    "missing-start": ("failed", "completed", ["missing_events"]),
    "cut": ("failed", "incomplete", ["no_completion"]),
    "slow-first": ("failed", "completed", ["slow_first_event"]),
    "failed": ("passed", "error", []),  # graceful failures: the user was told
    "error-event": ("passed", "error", []),
    "incomplete": ("passed", "error", []),
    "after-end": ("failed", "completed", ["order"]),
    "never-answered": ("failed", "completed", ["unpaired_tool"]),
    "later": ("passed", "completed", []),
    "in-flight": ("cut_short", "cut_short", []),
}


@pytest.mark.parametrize(
    "profile", [["--profile", "openai-responses"], []], ids=["profile", "sniffed"]
)
def test_every_responses_stream_is_judged_as_a_reviewer_would(every_case: Path, profile) -> None:
    code, report = analyze(every_case, *profile)
    assert verdicts(report) == EXPECTED
    summary = report["summary"]
    assert summary["profile"] == {"name": "openai-responses", "protocol": "openai-responses",
                                  "detected": not profile}  # fmt: skip
    assert code == 1
    assert not summary["warnings"]


def test_a_function_call_is_timed_to_the_request_that_answers_it(every_case: Path) -> None:
    _, report = analyze(every_case)
    runs = {run["run_id"]: run for run in report["runs"]}
    (tool,) = runs["resp_call"]["tools"]
    assert (tool["name"], tool["execution_id"]) == ("get_weather", "call_paris")
    # From the call's item to the next request: the arguments, the item's end and
    # response.completed (0.05 s apart), the stream's end, and the 0.5 s the client took.
    assert tool["duration_s"] == pytest.approx(3 * 0.05 + 0.01 + 0.5, abs=0.001)
    (search,) = runs["resp_search"]["tools"]
    assert (search["name"], search["duration_s"]) == ("web_search", 0.05)
    assert runs["resp_answer"]["events"]["function_call_output"] == 1
    assert runs["resp_failed"]["failures"] == [] and runs["resp_failed"]["outcome"] == "error"
