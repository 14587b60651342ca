"""AG-UI over SSE, as its standard HttpAgent speaks it: each run one POST of a RunAgentInput whose
response is a `text/event-stream` of `data: {event}`, framed by ag-ui-protocol's own
EventEncoder, written as the recorder writes HTTP streams (tests/streams.py). The `ag-ui`
protocol judges it unchanged, with `--profile ag-ui` and sniffed."""

from __future__ import annotations

from pathlib import Path

import pytest
from ag_ui.core import (
    BaseEvent,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
)
from ag_ui.encoder import EventEncoder
from streams import Sse, Streams, analyze, verdicts
from test_ag_ui import body, user_input

PATH = "/agent"
ENCODER = EventEncoder()


def framed(event: BaseEvent) -> Sse:
    """The event as EventEncoder puts it on the wire, and its data as the recorder keeps it."""
    wire = ENCODER.encode(event)
    assert wire.startswith("data: ") and wire.endswith("\n\n")
    return Sse(wire.removeprefix("data: ").removesuffix("\n\n"))


def run(run_id: str, events: list[BaseEvent], start: bool = True, finish: bool = True):
    started = [RunStartedEvent(thread_id="t1", run_id=run_id)] if start else []
    finished = [RunFinishedEvent(thread_id="t1", run_id=run_id)] if finish else []
    return [framed(e) for e in [*started, *events, *finished]]


@pytest.fixture(scope="module")
def every_case(tmp_path_factory) -> Path:
    streams = Streams(tmp_path_factory.mktemp("agui-sse") / "capture")

    def post(run_id: str, events: list[Sse], **how) -> None:
        streams.post(run_id, PATH, user_input(run_id).decode(), events, **how)

    post("happy-1", run("happy-1", body("1")))
    post("happy-2", run("happy-2", body("2")))
    post("missing-start", run("missing-start", body("3"), start=False))
    post("unpaired-tool", run("unpaired-tool", body("4")[:4] + body("4")[7:]))
    post("slow-first", run("slow-first", body("5")), first=3.0)
    error = RunErrorEvent(message="quota")
    post("graceful-error", run("graceful-error", [*body("6")[:3], error], finish=False))
    late = framed(TextMessageContentEvent(message_id="msg-7", delta="late"))
    post("after-end", [*run("after-end", body("7")), late])
    post("cut", run("cut", body("8")[:3], finish=False), end="reset")
    post("in-flight", run("in-flight", body("9")[:3], finish=False), end=None)
    return streams.done()


EXPECTED = {
    "happy-1": ("passed", "completed", []),
    "happy-2": ("passed", "completed", []),
    "missing-start": ("failed", "completed", ["missing_events", "protocol"]),
    "unpaired-tool": ("failed", "completed", ["unpaired_tool", "protocol"]),
    "slow-first": ("failed", "completed", ["slow_first_event"]),
    "graceful-error": ("passed", "error", []),
    "after-end": ("failed", "completed", ["order", "protocol"]),
    "cut": ("failed", "incomplete", ["no_completion"]),
    "in-flight": ("cut_short", "cut_short", []),
}


@pytest.mark.parametrize("profile", [["--profile", "ag-ui"], []], ids=["profile", "sniffed"])
def test_every_ag_ui_stream_over_sse_is_judged_as_over_websocket(every_case: Path, profile) -> None:
    code, report = analyze(every_case, *profile)
    assert verdicts(report) == EXPECTED
    summary = report["summary"]
    assert summary["profile"] == {"name": "ag-ui", "protocol": "ag-ui", "detected": not profile}
    assert code == 1
    assert not summary["warnings"]
    runs = {run["connections"][0]: run for run in report["runs"]}
    assert runs["happy-1"]["run_id"] == "happy-1"
    assert runs["slow-first"]["first_event_s"] == pytest.approx(3.0)
    assert "was reset before its stream ended" in runs["cut"]["failures"][0]["message"]
